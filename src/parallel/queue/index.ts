/** Work through a BullMQ queue on Redis: the coordinator of a queued dissection and the worker (`docs/scale.md`). */
export { runDissectionOnQueue, jobId, type QueuedDissection, type QueuedShards } from './coordinator.js';
export { startQueueWorker, type QueueWorker, type QueueWorkerOptions, type QueueWorkerEvent } from './worker.js';
export { parseQueueUrl, QUEUE_NAME, type QueueUrl } from './connect.js';
export { parseStore, type StoreSpec, type StoredShard } from './store.js';
