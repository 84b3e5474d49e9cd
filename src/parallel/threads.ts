/**
 * Starting executors: `startThreads` starts worker threads of one context (the `threads` backend) and
 * `startExecutor` picks the backend — threads when more than one is asked for and they can start here, else the
 * calling thread (`inline`), with the same context loaded here.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '../tf.js';
import { BACKEND_NAMES, type BackendName } from '../engine/backend.js';
import { UnitAttackError, usageError } from '../errors.js';
import { contextKind, InlineExecutor, ThreadPool, serializeError, type ContextSpec, type Executor, type PoolWorkerMessage, type SerializedError } from './executor.js';
import { startThread, workerScriptSource, type Worker, type WorkerScriptSource } from './thread.js';
import type { ExecutorWorkerData } from './worker.js';

/**
 * How to start the worker script (see {@link workerScriptSource}; with `besideOnly`, not the built package's copy):
 * a usage error when it cannot start here.
 */
function workerSource(besideOnly = false): WorkerScriptSource {
  const source = workerScriptSource(import.meta.url, 'parallel', 'worker', { tsx: true, built: !besideOnly });
  if (source) return source;
  throw usageError('worker threads need the compiled package (dist/parallel/worker.js)', { path: 'workers', hint: 'run `npm run build`, or pass --workers 1' });
}

/** Whether executor threads can start here (a compiled worker script, or tsx), and not turned off (`UNIT_ATTACK_WORKERS=0` inside workers). */
export function workersAvailable(): boolean {
  try {
    workerSource();
    return true;
  } catch {
    return false;
  }
}

function toUrl(m: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(m) && !/^[a-z]:[\\/]/i.test(m) ? m : pathToFileURL(path.resolve(m)).href;
}

/** Options for {@link startThreads}. */
export interface StartThreadsOptions {
  /** What every thread loads. */
  context: ContextSpec;
  /** Threads to start (≥ 1). */
  workers: number;
  /** @defaultValue the backend this thread uses, so that the threads' numbers are this thread's */
  backend?: BackendName;
  /** Modules (paths or URLs) every thread imports first, e.g. ones that register tasks, attacks or probe kinds. */
  modules?: readonly string[];
  /** Checks a thread's context identity: a reason to refuse it (e.g. other weights), or undefined. */
  check?: (identity: unknown) => string | undefined;
  /** What the threads load, for messages, e.g. `'builtin:scenes-vgg16'`. @defaultValue the context kind */
  what?: string;
  /** The threads do not keep the process alive while idle. */
  unrefWhenIdle?: boolean;
  /**
   * Start the worker script only from beside this module (compiled, or under tsx), never the built package's copy
   * (e.g. inside a test runner that transforms the sources in memory): for helper threads the work can do without.
   */
  besideOnly?: boolean;
}

/**
 * Starts `workers` threads that each load `context`, and waits until all are ready. Throws a `UA_WORKER` error when
 * one cannot start, fails to load, or fails `check`; the threads already started are stopped.
 */
export async function startThreads(options: StartThreadsOptions): Promise<ThreadPool> {
  const n = options.workers;
  if (!Number.isInteger(n) || n < 1) throw usageError(`workers must be a positive integer, got ${String(n)}`, { path: 'workers' });
  const current = tf.getBackend() as BackendName;
  const backend = options.backend ?? (BACKEND_NAMES.includes(current) ? current : 'auto');
  const source = workerSource(options.besideOnly === true);
  const modules = (options.modules ?? []).map(toUrl);
  const what = options.what ?? options.context.kind;
  const workers: Worker[] = [];
  const started = await Promise.allSettled(Array.from({ length: n }, (_, i) => new Promise<Worker>((resolve, reject) => {
    const data: ExecutorWorkerData = { context: options.context, backend, number: i + 1, modules };
    // Helper threads (scene rendering, sketches) stay off inside executor threads: the threads already fill the cores.
    const init = { workerData: data, env: { ...process.env, UNIT_ATTACK_WORKERS: '0' }, execArgv: [] as string[] };
    let w: Worker;
    try {
      w = 'file' in source ? startThread(source.file, init) : startThread(source.eval, { ...init, eval: true });
    } catch (err) {
      reject(new UnitAttackError('UA_WORKER', `cannot start worker ${i + 1}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    workers.push(w);
    const fail = (e: SerializedError | Error, why: string): void => {
      off();
      reject(new UnitAttackError('UA_WORKER', `worker ${i + 1} of ${n} could not load '${what}': ${why}${e.message}`, {
        cause: e, ...('hint' in e && e.hint !== undefined ? { hint: e.hint } : {}),
      }));
    };
    const onMessage = (m: PoolWorkerMessage): void => {
      if (m.type === 'failed') fail(m.error, m.error.code !== undefined ? `[${m.error.code}] ` : '');
      else if (m.type === 'ready') {
        off();
        const refused = options.check?.(m.identity);
        if (refused !== undefined) {
          reject(new UnitAttackError('UA_WORKER', `worker ${i + 1} loaded '${what}' with other ${refused} than the one given`, {
            hint: 'start the workers with the spec (and load options) the model on this thread was loaded with',
          }));
        } else {
          resolve(w);
        }
      }
    };
    const onError = (err: Error): void => fail(serializeError(err), 'it crashed: ');
    const onExit = (code: number): void => fail(new Error(`it exited with code ${code}`), '');
    const off = (): void => { w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit); };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  })));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(workers.map((w) => w.terminate().catch(() => undefined)));
    throw failed.reason;
  }
  return new ThreadPool(started.map((s) => (s as PromiseFulfilledResult<Worker>).value), { unrefWhenIdle: options.unrefWhenIdle === true });
}

/** Options for {@link startExecutor}. */
export interface StartExecutorOptions extends StartThreadsOptions {
  /**
   * The context's resources on this thread, for the inline backend; loaded from the spec when omitted (and disposed
   * by `close` then).
   */
  local?: object;
  /** Hears why threads were asked for but the work stays on this thread. */
  onFallback?: (reason: string) => void;
  /** Threads even for `workers: 1` (a helper thread beside this one). */
  threads?: boolean;
}

/**
 * An executor of `workers` threads of `context` when `workers` > 1 and threads start here (`UNIT_ATTACK_WORKERS=0`
 * turns them off); else, or when they fail to start (the reason goes to `onFallback`), the inline backend on this
 * thread. Either runs the same handlers, so the results are the same.
 */
export async function startExecutor(options: StartExecutorOptions): Promise<Executor> {
  if ((options.workers > 1 || options.threads === true) && process.env.UNIT_ATTACK_WORKERS !== '0') {
    try {
      return await startThreads(options);
    } catch (err) {
      options.onFallback?.((err as Error).message);
    }
  }
  if (options.local) return new InlineExecutor(options.local);
  const kind = await contextKind(options.context.kind);
  const resources = await kind.load(options.context.spec) as object;
  const inline = new InlineExecutor(resources);
  return {
    backend: 'inline', size: 1,
    run: (t) => inline.run(t),
    map: (t) => inline.map(t),
    async close() { await inline.close(); await kind.dispose?.(resources); },
  };
}
