/**
 * The executor of all parallel work (see `./executor.ts`), and its classifier pools: `startPool` starts N threads
 * that each load the model, and `withPool` makes the attacks and dissection passes inside it spread their images
 * over them. `--workers 1` (or a pool of size 1) does the work on the calling thread.
 */
import { UnitAttackError, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import type { BackendName } from '../engine/backend.js';
import { classifierPool, type PoolTask, type WorkerPool } from './executor.js';
import { classifierMismatch, type ClassifierContextSpec, type ClassifierIdentity, type PoolLoadOptions } from './classifier-tasks.js';
import { startThreads } from './threads.js';

export {
  classifierPool, contextKind, InlineExecutor, poolFor, registerContext, registerPoolTask, runOrdered, splitRange, ThreadPool, withPool,
  type ClassifierResources, type ContextKind, type ContextSpec, type Executor, type ExecutorBackend, type PoolTask, type TaskContext, type TaskEnv,
  type TaskHandler, type TaskOutput, type WorkerPool,
} from './executor.js';
export { startExecutor, startThreads, workersAvailable, type StartExecutorOptions, type StartThreadsOptions } from './threads.js';
export { checkWorkers, defaultWorkers, WORKERS_ENV_VAR } from './workers.js';
export type { PoolLoadOptions, PredictTaskInput } from './classifier-tasks.js';

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
  if (!Number.isInteger(options.workers) || options.workers < 1) throw usageError(`workers must be a positive integer, got ${String(options.workers)}`, { path: 'workers' });
  const spec: ClassifierContextSpec = { model: options.model, load: options.load ?? {} };
  const threads = await startThreads({
    context: { kind: 'classifier', spec }, workers: options.workers, what: options.model,
    ...(options.backend ? { backend: options.backend } : {}), ...(options.modules ? { modules: options.modules } : {}),
    check: (identity) => classifierMismatch(identity as ClassifierIdentity, options.classifier),
  });
  return classifierPool(threads, options.model, options.classifier);
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
    backend: 'threads',
    get size() { return workers; },
    model: options.model, classifier: options.classifier,
    limit(n: number) {
      if (started === undefined && Number.isInteger(n) && n >= 1) workers = Math.min(workers, n);
    },
    run: async <O>(task: PoolTask): Promise<O> => (await get()).run<O>(task),
    map: async <O>(tasks: readonly PoolTask[]): Promise<O[]> => (await get()).map<O>(tasks),
    async close() {
      closed = true;
      if (started) await (await started.catch(() => undefined))?.close();
    },
  };
}
