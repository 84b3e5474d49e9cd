/**
 * Worker threads for generator experiments: each loads the generator and the segmenter by their specs and runs the
 * `gan-edit-batch` task (`./batch-work.ts`) on the batches it is sent, in the worker pool's message protocol
 * (`ThreadPool` of `../engine/pool.ts`). Ablation spreads its batches over them; answers are added up in batch
 * order, so the result is the same with any number of threads. The threads compute on this thread's backend.
 */
import * as tf from '../tf.js';
import { BACKEND_NAMES, type BackendName } from '../engine/backend.js';
import { ThreadPool } from '../engine/pool.js';
import { startWorkerScript, type Worker, type WorkerStartOptions } from '../parallel/thread.js';

/** A pool of generator workers (its threads hold a generator and a segmenter, no classifier). */
export type GanPool = ThreadPool<undefined>;

/** What a generator worker is started with. */
export interface GanWorkerData { generator: string; segmenter: string; backend: BackendName }

/** Starts `./worker` through the one worker-script lookup (see `startWorkerScript`); undefined when it cannot start here. */
function startGanWorker(options: WorkerStartOptions): Worker | undefined {
  return startWorkerScript(import.meta.url, 'gan', 'worker', options);
}

/** Options for {@link startGanPool}. */
export interface StartGanPoolOptions {
  /** Specs the workers load. */
  generator: string;
  segmenter: string;
  /** Fingerprints the workers' copies must have (those of the models on this thread). */
  fingerprints: { generator: string; segmenter: string };
  /** Threads to start (≥ 1). */
  workers: number;
}

/**
 * Starts `workers` generator workers and waits until each has loaded both models. `{ reason }` instead of a pool when
 * threads cannot start here or one fails to load or loads other weights: the caller then works on its own thread.
 *
 * @example
 * const { pool } = await startGanPool({ generator: g.name, segmenter: seg.name, fingerprints: { generator: g.fingerprint, segmenter: seg.fingerprint }, workers: 2 });
 * try { await ablateConcept(g, seg, { concept: 'tree', pool }); } finally { await pool?.close(); }
 */
export async function startGanPool(options: StartGanPoolOptions): Promise<{ pool?: GanPool; reason?: string }> {
  const current = tf.getBackend() as BackendName;
  const data: GanWorkerData = { generator: options.generator, segmenter: options.segmenter, backend: BACKEND_NAMES.includes(current) ? current : 'auto' };
  const started: Worker[] = [];
  for (let i = 0; i < options.workers; i++) {
    // Helper threads stay off inside these workers: they already fill the cores.
    const w = startGanWorker({ workerData: data, env: { ...process.env, UNIT_ATTACK_WORKERS: '0' } });
    if (!w) break;
    started.push(w);
  }
  if (started.length < options.workers) {
    await Promise.all(started.map((w) => w.terminate()));
    return { reason: 'worker threads cannot start here (they need the compiled package or tsx)' };
  }
  const ready = await Promise.all(started.map((w) => new Promise<string>((resolve) => {
    const done = (why: string): void => { w.off('message', onMessage); w.off('error', onError); w.off('exit', onExit); resolve(why); };
    const onMessage = (m: { type: string; fingerprints?: { generator: string; segmenter: string }; error?: { message: string } }): void => {
      if (m.type === 'ready') {
        const f = m.fingerprints;
        done(f?.generator !== options.fingerprints.generator ? `it loaded '${options.generator}' with other weights (fingerprint ${f?.generator ?? '?'})`
          : f.segmenter !== options.fingerprints.segmenter ? `it loaded '${options.segmenter}' with other weights (fingerprint ${f.segmenter})` : '');
      } else if (m.type === 'failed') done(m.error?.message ?? 'it failed to load');
    };
    const onError = (err: Error): void => done(err.message);
    const onExit = (code: number): void => done(`it exited with code ${code}`);
    w.on('message', onMessage); w.on('error', onError); w.on('exit', onExit);
  })));
  const failed = ready.find((r) => r !== '');
  if (failed !== undefined) {
    await Promise.all(started.map((w) => w.terminate()));
    return { reason: `a generator worker could not start: ${failed}` };
  }
  return { pool: new ThreadPool(started, options.generator, undefined) };
}

/** Options of the experiments that spread batches over generator workers. */
export interface GanWorkerOptions {
  /**
   * Threads that generate and segment the batches, each loading the generator and the segmenter by their names (their
   * specs); 1 works on this thread. @defaultValue 1
   */
  workers?: number;
  /** A pool already started (see {@link startGanPool}); the caller closes it. Takes precedence over `workers`. */
  pool?: GanPool;
  /** Called when workers were asked for but the work stays on this thread, with the reason. */
  onWarning?: (message: string) => void;
}

/**
 * The pool an experiment uses: the one given, or one of `workers` threads (no more than `batches`) started here and
 * closed by `close`, or none (the work stays on this thread; the reason goes to `onWarning` when threads were asked for).
 */
export async function ganPool(
  g: { name: string; fingerprint: string }, segmenter: { name: string; fingerprint: string }, options: GanWorkerOptions, batches: number,
): Promise<{ pool?: GanPool; close: () => Promise<void> }> {
  if (options.pool) return { pool: options.pool, close: () => Promise.resolve() };
  const n = Math.min(options.workers ?? 1, batches);
  if (!(n > 1)) return { close: () => Promise.resolve() };
  const { pool, reason } = await startGanPool({
    generator: g.name, segmenter: segmenter.name, fingerprints: { generator: g.fingerprint, segmenter: segmenter.fingerprint }, workers: n,
  });
  if (!pool) {
    options.onWarning?.(`the generator workers could not start (${reason ?? 'unknown reason'}); working on this thread`);
    return { close: () => Promise.resolve() };
  }
  return { pool, close: () => pool.close() };
}
