/**
 * Executor threads for generator experiments: each loads the generator and the segmenter by their specs (the
 * `generator` context of `./tasks.ts`) and runs the `gan-edit-batch` task on the batches it is sent. Ablation spreads
 * its batches over them; answers are added up in batch order, so the result is the same with any number of threads.
 * The threads compute on this thread's backend.
 */
import { startThreads, workersAvailable, type Executor } from '../parallel/index.js';
import type { GeneratorContextSpec, GeneratorIdentity } from './tasks.js';

/** Threads that hold a generator and a segmenter (no classifier). */
export type GanPool = Executor;

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
 * Starts `workers` generator threads and waits until each has loaded both models. `{ reason }` instead of a pool when
 * threads cannot start here or one fails to load or loads other weights: the caller then works on its own thread.
 *
 * @example
 * const { pool } = await startGanPool({ generator: g.name, segmenter: seg.name, fingerprints: { generator: g.fingerprint, segmenter: seg.fingerprint }, workers: 2 });
 * try { await ablateConcept(g, seg, { concept: 'tree', pool }); } finally { await pool?.close(); }
 */
export async function startGanPool(options: StartGanPoolOptions): Promise<{ pool?: GanPool; reason?: string }> {
  if (process.env.UNIT_ATTACK_WORKERS === '0' || !workersAvailable()) return { reason: 'worker threads cannot start here (they need the compiled package or tsx)' };
  const spec: GeneratorContextSpec = { generator: options.generator, segmenter: options.segmenter };
  try {
    const pool = await startThreads({
      context: { kind: 'generator', spec }, workers: options.workers, what: `${options.generator}' and '${options.segmenter}`,
      check: (identity) => {
        const f = identity as GeneratorIdentity;
        return f.generator !== options.fingerprints.generator ? `generator weights (fingerprint ${f.generator})`
          : f.segmenter !== options.fingerprints.segmenter ? `segmenter weights (fingerprint ${f.segmenter})` : undefined;
      },
    });
    return { pool };
  } catch (err) {
    return { reason: `a generator worker could not start: ${(err as Error).message}` };
  }
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
