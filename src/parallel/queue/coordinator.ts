/**
 * The coordinator of a queued dissection: it enqueues a BullMQ flow — one child job per shard of the fixed plan, the
 * merge check as their parent — waits for it with progress, and brings the shards' tallies into a local folder for
 * `dissect(…, { fromShards })`. Job ids come from the dissection's key and the shard, so enqueueing the same run
 * twice is harmless, and a coordinator started again with the same command picks up the shards already done.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FlowJob, Job, Queue } from 'bullmq';
import type { Redis as RedisClient } from 'ioredis';
import { UnitAttackError } from '../../errors.js';
import { shardFileName } from '../../dissection/shard-name.js';
import { writeAtomic } from '../../util/atomic.js';
import { QUEUE_NAME, bullConnection, connectRedis, parseQueueUrl, queueLibraries, type QueueUrl } from './connect.js';
import { getShard, removeShards, type StoreSpec, type StoredShard } from './store.js';
import type { DissectMergeJob, DissectShardJob, QueuedDissectOptions } from './tasks.js';

/** A dissection to run through the queue. */
export interface QueuedDissection {
  /** `redis://HOST:PORT[/DB]`. */
  queue: string;
  store: StoreSpec;
  /** The model and probe as every worker will load them (builtin specs, or paths the workers see at the same place). */
  model: string;
  probe: string;
  options: QueuedDissectOptions;
  /** The dissection's key and number of shards (`dissectionPlan`). */
  run: string;
  plan: number;
  /** Tries per shard before the run fails (default 3; bad input fails at once). */
  attempts?: number;
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
  /** How often the run's state is read (ms, default 500). */
  pollMs?: number;
  /** How long the coordinator waits for a Redis that went away before it gives up (ms, default 60 000). */
  reconnectMs?: number;
}

/** The shards of a finished queued run, in a local folder. */
export interface QueuedShards {
  /** A folder with exactly this run's shard files, for `dissect(…, { fromShards: [dir] })`. */
  dir: string;
  shards: StoredShard[];
  /**
   * Removes the local folder and disconnects; with `done` (the atlas is made) also the run's jobs and stored tallies
   * in Redis. Without it they stay, and the same command merges them again without computing.
   */
  finish(done: boolean): Promise<void>;
}

/** The job id of a run's shard or merge: a hash of the run and the part, so the same run gets the same ids. */
export function jobId(run: string, part: number | 'merge'): string {
  return `dissect-${createHash('sha256').update(`${run}/${String(part)}`).digest('hex').slice(0, 24)}`;
}

function flowOf(d: QueuedDissection): FlowJob {
  const merge: DissectMergeJob = { run: d.run, plan: d.plan, store: d.store, queue: d.queue };
  return {
    name: 'dissect-merge', queueName: QUEUE_NAME, data: merge, opts: { jobId: jobId(d.run, 'merge'), attempts: d.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 } },
    children: Array.from({ length: d.plan }, (_, shard) => {
      const data: DissectShardJob = { run: d.run, plan: d.plan, shard, model: d.model, probe: d.probe, options: d.options, store: d.store, queue: d.queue };
      return {
        name: 'dissect-shard', queueName: QUEUE_NAME, data,
        opts: { jobId: jobId(d.run, shard), attempts: d.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 }, failParentOnFailure: true },
      };
    }),
  };
}

/** A Redis call that gives up after `ms` (BullMQ's clients wait for ever while the server is away). */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('Redis did not answer')), ms); })]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Why a run failed: the failed shard and its error, from the merge job and its children. */
async function failureOf(queue: Queue, parent: Job): Promise<string> {
  const { bullmq } = await queueLibraries();
  // A child that fails its parent leaves "child bull:<queue>:<id> failed" as the parent's reason.
  const id = /child \S+:([^:\s]+) failed/.exec(parent.failedReason ?? '')?.[1];
  const child = id !== undefined ? await bullmq.Job.fromId(queue, id).catch(() => undefined) : undefined;
  if (child) {
    const shard = (child.data as Partial<DissectShardJob>).shard;
    return `${shard !== undefined ? `shard ${shard + 1}` : `job ${id}`} failed after ${child.attemptsMade} ${child.attemptsMade === 1 ? 'try' : 'tries'}: ${child.failedReason}`;
  }
  return parent.failedReason || 'the merge check failed';
}

/** Waits for the run's merge job; re-enqueues the flow when Redis lost it (a restart without persistence). */
async function waitForRun(d: QueuedDissection, q: QueueUrl, queue: Queue, enqueue: () => Promise<void>): Promise<StoredShard[]> {
  const { bullmq } = await queueLibraries();
  const poll = d.pollMs ?? 500;
  const patience = d.reconnectMs ?? 60_000;
  let lostSince: number | undefined;
  let requeued = 0;
  let last = -1;
  for (;;) {
    try {
      const parent = await within(5000, bullmq.Job.fromId(queue, jobId(d.run, 'merge')));
      lostSince = undefined;
      if (!parent) {
        if (++requeued > 3) throw new UnitAttackError('UA_QUEUE', `the queue at ${q.url} keeps losing this run's jobs`, { hint: 'give Redis persistence (appendonly yes) or a server of its own' });
        d.onWarning?.(`the queue at ${q.url} no longer holds this run's jobs (was Redis restarted without persistence?); enqueueing the missing shards again`);
        await within(10_000, enqueue());
        continue;
      }
      const state = await within(5000, parent.getState());
      if (state === 'completed') return parent.returnvalue as StoredShard[];
      if (state === 'failed') {
        throw new UnitAttackError('UA_QUEUE', `the queued dissection failed: ${await failureOf(queue, parent)}`, { hint: 'fix the input the error names and run the same command again' });
      }
      const counts = await within(5000, parent.getDependenciesCount({ processed: true, unprocessed: true }));
      const done = counts.processed ?? 0;
      if (done !== last) { d.onProgress?.(done, d.plan); last = done; }
    } catch (err) {
      if (err instanceof UnitAttackError) throw err;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > patience) {
        throw new UnitAttackError('UA_QUEUE', `lost the queue's Redis at ${q.url} for ${Math.round(patience / 1000)} s: ${(err as Error).message}`, {
          hint: 'run the same command again when Redis is back: shards already done are not computed again', cause: err,
        });
      }
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

/** Copies the run's verified shards into a local folder, under the names the merge expects. */
async function fetchShards(redis: RedisClient, run: string, plan: number, shards: readonly StoredShard[]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'unit-attack-merge-'));
  try {
    for (const s of shards) {
      const bytes = await getShard(redis, s);
      await writeAtomic(path.join(dir, shardFileName(run, s.shard, plan, bytes)), bytes);
    }
    return dir;
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Runs the shards of a dissection on the queue's workers and returns them in a local folder. Start workers with
 * `unit-attack worker --queue URL` (before or after).
 */
export async function runDissectionOnQueue(d: QueuedDissection): Promise<QueuedShards> {
  const q = parseQueueUrl(d.queue);
  const redis = await connectRedis(q, 8000, true);
  const { bullmq } = await queueLibraries();
  const connection = bullConnection(q);
  const queue = new bullmq.Queue(QUEUE_NAME, { connection });
  const flows = new bullmq.FlowProducer({ connection });
  const close = async (): Promise<void> => { await Promise.allSettled([queue.close(), flows.close()]); redis.disconnect(); };
  try {
    const enqueue = async (): Promise<void> => { await flows.add(flowOf(d)); };
    const earlier = await bullmq.Job.fromId(queue, jobId(d.run, 'merge'));
    if (earlier && (await earlier.getState()) === 'failed') {
      d.onWarning?.(`an earlier try of this run failed (${await failureOf(queue, earlier)}); trying again`);
      await earlier.remove({ removeChildren: true });
    }
    await enqueue();
    const shards = await waitForRun(d, q, queue, enqueue);
    d.onProgress?.(d.plan, d.plan);
    const dir = await fetchShards(redis, d.run, d.plan, shards);
    return {
      dir, shards,
      async finish(done: boolean) {
        try {
          if (!done) return;
          const parent = await bullmq.Job.fromId(queue, jobId(d.run, 'merge'));
          await parent?.remove({ removeChildren: true });
          await removeShards(redis, shards);
        } finally {
          await fs.rm(dir, { recursive: true, force: true });
          await close();
        }
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
