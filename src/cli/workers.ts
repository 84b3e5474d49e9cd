/**
 * The `--workers N` option of the commands that work on many images, and the pool it starts.
 */
import * as tf from '../tf.js';
import type { Options } from 'yargs';
import type { WorkerPool } from '../parallel/executor.js';
import type { Classifier } from '../models/types.js';
import { checkWorkers, defaultWorkers, lazyPool, withPool, workersAvailable, WORKERS_ENV_VAR } from '../parallel/index.js';
import type { CliIO, GlobalArgs } from './command.js';

/** The option as yargs data. No yargs default: the default depends on the machine (see {@link workersOf}). */
export const workersOption: Options = {
  type: 'number',
  describe: 'worker threads for the images (default: the cores, or $UNIT_ATTACK_WORKERS; 1 with tfjs-node); 1 works on the main thread only',
};

/** Checks `--workers` when given (a usage error for 0, negatives and fractions). */
export function checkWorkersArg(argv: GlobalArgs): void {
  if (argv.workers !== undefined) checkWorkers(argv.workers);
}

/** The number of workers asked for (or the default), printing the warning for more than the cores. */
export function workersOf(argv: GlobalArgs, io: CliIO): number {
  // Native TensorFlow (tfjs-node) computes on every core by itself: more copies of the model would only compete.
  if (argv.workers === undefined) {
    if (!workersAvailable() || tf.getBackend() === 'tensorflow') return 1;
    const env = process.env[WORKERS_ENV_VAR];
    if (env !== undefined && env.trim() !== '') {
      if (env.trim() === '0') return 1; // documented: 0 keeps everything on the main thread
      const { workers, warning } = checkWorkers(env.trim(), WORKERS_ENV_VAR);
      if (warning) io.err(`warning: ${warning}`);
      return workers;
    }
    return defaultWorkers();
  }
  const { workers, warning } = checkWorkers(argv.workers);
  if (warning) io.err(`warning: ${warning}`);
  return workers;
}

/**
 * Runs `fn` with a pool of `--workers` threads on `clf` (loaded from `--model`); the threads start on the first task
 * that needs them. At most `items` workers: more would have nothing to do.
 */
export async function withWorkers<T>(argv: GlobalArgs, io: CliIO, clf: Classifier, items: number, fn: () => Promise<T>): Promise<T> {
  const workers = Math.min(workersOf(argv, io), Math.max(1, items));
  const pool: WorkerPool | undefined = workers > 1 ? lazyPool({ model: argv.model as string, classifier: clf, workers }) : undefined;
  try {
    return await withPool(pool, fn);
  } finally {
    await pool?.close();
  }
}
