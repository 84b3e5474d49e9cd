/**
 * The processor BullMQ runs in a worker thread of its own (a sandboxed processor): the compute of a job happens off
 * the worker process's event loop, which keeps renewing the job's lock meanwhile, so a long shard is never taken
 * for stalled and done twice.
 */
import type { SandboxedJob } from 'bullmq';
import { runQueueTask } from './tasks.js';

export default async function processor(job: SandboxedJob): Promise<unknown> {
  return runQueueTask(job.name, job.data, () => job.getChildrenValues());
}
