/**
 * How this folder starts its worker scripts: through the one worker-script lookup (`util/worker-script.ts`), from
 * this folder. `undefined` when a script cannot start here or when `UNIT_ATTACK_WORKERS=0`; callers then do the
 * work on their own thread.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { startWorkerScript } from '../../util/worker-script.js';

/** Starts the worker script `name` (without extension) of this folder, or returns undefined. */
export function startWorker(name: string, options: Pick<WorkerOptions, 'workerData' | 'env'> = {}): Worker | undefined {
  return startWorkerScript(import.meta.url, 'dissection/_internals', name, options);
}
