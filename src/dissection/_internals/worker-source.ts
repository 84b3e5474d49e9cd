/**
 * How this folder starts its worker scripts: through the one worker-script lookup (`parallel/thread.ts`), from
 * this folder. `undefined` when a script cannot start here or when `UNIT_ATTACK_WORKERS=0`; callers then do the
 * work on their own thread.
 */
import { startWorkerScript, type Worker, type WorkerStartOptions } from '../../parallel/thread.js';

/** Starts the worker script `name` (without extension) of this folder, or returns undefined. */
export function startWorker(name: string, options: WorkerStartOptions = {}): Worker | undefined {
  return startWorkerScript(import.meta.url, 'dissection/_internals', name, options);
}
