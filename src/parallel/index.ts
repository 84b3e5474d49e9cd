/**
 * Worker pools for batch work: `startPool` starts N threads that each load the model, and `withPool` makes the
 * attacks and dissection passes inside it spread their images over them. `--workers 1` (or a pool of size 1) does
 * the work on the calling thread.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '../tf.js';
import { BACKEND_NAMES, type BackendName } from '../engine/backend.js';
import { ThreadPool, serializeError, type PoolTask, type PoolWorkerMessage, type SerializedError, type WorkerPool } from '../engine/pool.js';
import { UnitAttackError, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { startThread, workerScriptSource, type Worker, type WorkerScriptSource } from './thread.js';
import type { PoolLoadOptions, PoolWorkerData } from './worker.js';
import './tasks.js';

export { poolFor, registerPoolTask, splitRange, withPool, type PoolTask, type TaskContext, type TaskHandler, type TaskOutput, type WorkerPool } from '../engine/pool.js';
export { checkWorkers, defaultWorkers, WORKERS_ENV_VAR } from './workers.js';
export type { PoolLoadOptions } from './worker.js';

/** Options for {@link startPool}. */
export interface StartPoolOptions {
  /** The model spec every worker loads: `builtin:NAME`, a model folder or a `model.json`. */
  model: string;
  /** The same model, loaded on this thread: work on it is what the pool takes over. */
  classifier: Classifier;
  /** Threads to start. */
  workers: number;
  /** @defaultValue the backend this thread uses */
  backend?: BackendName;
  /** Modules (paths or URLs) every worker imports first, e.g. ones that register tasks, attacks or probe kinds. */
  modules?: readonly string[];
  /** Overrides the workers load the model with, as the classifier was loaded (e.g. a scenario's preprocessing). */
  load?: PoolLoadOptions;
}

/** How to start the worker script (see {@link workerScriptSource}): a usage error when it cannot start here. */
function workerSource(): WorkerScriptSource {
  const source = workerScriptSource(import.meta.url, 'parallel', 'worker', { tsx: true });
  if (source) return source;
  throw usageError('worker threads need the compiled package (dist/parallel/worker.js)', { path: 'workers', hint: 'run `npm run build`, or pass --workers 1' });
}

/** Whether pool workers can start here (a compiled worker script, or tsx). */
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

/**
 * Starts `workers` threads that each load `model`, and waits until all are ready. Throws a `UA_WORKER` error when one
 * cannot start or loads a model other than `classifier`.
 *
 * @example
 * const clf = await loadClassifier('builtin:scenes-vgg16');
 * const pool = await startPool({ model: 'builtin:scenes-vgg16', classifier: clf, workers: 2 });
 * try { await withPool(pool, () => pgd(clf, x, labels, { epsilon: '4/255' })); } finally { await pool.close(); }
 */
export async function startPool(options: StartPoolOptions): Promise<WorkerPool> {
  const n = options.workers;
  if (!Number.isInteger(n) || n < 1) throw usageError(`workers must be a positive integer, got ${String(n)}`, { path: 'workers' });
  const current = tf.getBackend() as BackendName;
  const backend = options.backend ?? (BACKEND_NAMES.includes(current) ? current : 'auto');
  const source = workerSource();
  const modules = (options.modules ?? []).map(toUrl);
  const workers: Worker[] = [];
  const started = await Promise.allSettled(Array.from({ length: n }, (_, i) => new Promise<Worker>((resolve, reject) => {
    const data: PoolWorkerData = { model: options.model, backend, number: i + 1, modules, load: options.load ?? {} };
    // Helper threads (scene rendering, sketches) stay off inside pool workers: the pool already fills the cores.
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
      reject(new UnitAttackError('UA_WORKER', `worker ${i + 1} of ${n} could not load '${options.model}': ${why}${e.message}`, {
        cause: e, ...('hint' in e && e.hint !== undefined ? { hint: e.hint } : {}),
      }));
    };
    const onMessage = (m: PoolWorkerMessage): void => {
      if (m.type === 'failed') fail(m.error, m.error.code !== undefined ? `[${m.error.code}] ` : '');
      else if (m.type === 'ready') {
        off();
        const c = options.classifier;
        const mismatch = m.fingerprint !== c.fingerprint ? `weights (fingerprint ${m.fingerprint}, the classifier's ${c.fingerprint})`
          : JSON.stringify(m.classNames) !== JSON.stringify(c.classNames) ? 'class names'
            : JSON.stringify(m.preprocessing) !== JSON.stringify(c.preprocessing) ? 'preprocessing' : undefined;
        if (mismatch !== undefined) {
          reject(new UnitAttackError('UA_WORKER', `worker ${i + 1} loaded '${options.model}' with other ${mismatch} than the classifier given`, {
            hint: 'start the pool with the spec (and load options) the classifier was loaded with',
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
  return new ThreadPool(started.map((s) => (s as PromiseFulfilledResult<Worker>).value), options.model, options.classifier);
}

/**
 * A pool that starts its threads on its first task, so that work that turns out to need none (a cached
 * dissection, a single image) does not pay for loading the model N more times.
 */
export function lazyPool(options: StartPoolOptions): WorkerPool {
  let started: Promise<WorkerPool> | undefined;
  let closed = false;
  let workers = options.workers;
  const get = (): Promise<WorkerPool> => {
    if (closed) return Promise.reject(new UnitAttackError('UA_WORKER', 'the worker pool is closed'));
    started ??= startPool({ ...options, workers });
    return started;
  };
  return {
    get size() { return workers; },
    model: options.model, classifier: options.classifier,
    limit(n: number) {
      if (started === undefined && Number.isInteger(n) && n >= 1) workers = Math.min(workers, n);
    },
    run: async <O>(task: PoolTask) => (await get()).run<O>(task),
    map: async <O>(tasks: readonly PoolTask[]) => (await get()).map<O>(tasks),
    async close() {
      closed = true;
      if (started) await (await started.catch(() => undefined))?.close();
    },
  };
}
