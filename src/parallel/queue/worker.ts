/**
 * `unit-attack worker --queue URL`: takes jobs from the queue and runs them on this machine's threads, one thread
 * (with its own copy of the model) per concurrent job.
 */
import os from 'node:os';
import { UnitAttackError, usageError } from '../../errors.js';
import { compiledWorkerScript } from '../thread.js';
import { QUEUE_NAME, bullConnection, connectRedis, parseQueueUrl, queueLibraries } from './connect.js';

/** What a queue worker reports. */
export type QueueWorkerEvent =
  | { type: 'active'; job: string; name: string }
  | { type: 'completed'; job: string; name: string; seconds: number }
  | { type: 'failed'; job: string; name: string; reason: string; willRetry: boolean }
  | { type: 'error'; message: string };

export interface QueueWorkerOptions {
  /** Jobs run at once, each on a thread of its own (default: the cores). */
  concurrency?: number;
  /**
   * Seconds a job's lock lasts without renewal (default 30; renewed every half of it while the job runs). A worker
   * killed mid-job gives its job back to the queue after about this long.
   */
  lockSeconds?: number;
  onEvent?: (event: QueueWorkerEvent) => void;
}

/** A running queue worker. */
export interface QueueWorker {
  /** Stops taking jobs, lets running ones finish, and disconnects. */
  close(): Promise<void>;
}

/** Starts a worker on the queue at `url` (checked and reached first: a clear error within seconds when it is not there). */
export async function startQueueWorker(url: string, options: QueueWorkerOptions = {}): Promise<QueueWorker> {
  const q = parseQueueUrl(url);
  const concurrency = options.concurrency ?? os.availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw usageError(`concurrency must be a whole number ≥ 1, got ${String(options.concurrency)}`, { path: 'concurrency' });
  const lockSeconds = options.lockSeconds ?? 30;
  if (!(lockSeconds >= 1)) throw usageError(`lockSeconds must be at least 1, got ${String(options.lockSeconds)}`, { path: 'lockSeconds' });
  const probe = await connectRedis(q);
  probe.disconnect();
  const processor = compiledWorkerScript(import.meta.url, 'parallel/queue', 'processor');
  if (!processor) throw new UnitAttackError('UA_INTERNAL', 'the queue processor (dist/parallel/queue/processor.js) is missing', { hint: 'build the package: npm run build' });
  const { bullmq } = await queueLibraries();
  const emit = options.onEvent ?? (() => undefined);
  const worker = new bullmq.Worker(QUEUE_NAME, processor, {
    connection: bullConnection(q), concurrency, useWorkerThreads: true,
    lockDuration: lockSeconds * 1000, stalledInterval: lockSeconds * 1000, maxStalledCount: 1,
  });
  worker.on('active', (job) => emit({ type: 'active', job: job.id ?? '?', name: job.name }));
  worker.on('completed', (job) => emit({ type: 'completed', job: job.id ?? '?', name: job.name, seconds: ((job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000 }));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    emit({ type: 'failed', job: job.id ?? '?', name: job.name, reason: err.message, willRetry: err.name !== 'UnrecoverableError' && job.attemptsMade < attempts });
  });
  worker.on('error', (err) => emit({ type: 'error', message: err.message }));
  await worker.waitUntilReady();
  return {
    async close() {
      // Running jobs finish first; a Redis that went away would keep that waiting for ever, so not longer than 10 s.
      let timer: NodeJS.Timeout | undefined;
      const gentle = worker.close().then(() => true);
      const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), 10_000); });
      const closed = await Promise.race([gentle, late]);
      if (timer) clearTimeout(timer);
      if (!closed) await Promise.race([worker.close(true), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    },
  };
}
