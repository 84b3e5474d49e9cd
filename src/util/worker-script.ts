/**
 * The worker-script lookup moved to `parallel/thread.ts`; this re-export remains for `parallel/queue/worker.ts` until
 * it imports from there.
 */
export { compiledWorkerScript } from '../parallel/thread.js';
