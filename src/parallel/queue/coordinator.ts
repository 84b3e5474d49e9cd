/**
 * The coordinator of every queued run — a dissection's shards (`dissect --queue`) and the parts of an attack or a
 * scenario run (`attack --queue`, `run --queue`, see `parts.ts`): it enqueues a BullMQ flow — one child job per
 * part, a merge check as their parent — waits for it with progress, and reads the parts' outputs back from the store
 * (`{ uri, sha256, shard }` in the jobs, the bytes in Redis keys or a shared folder). Job ids come from the run's key
 * and the part, so enqueueing the same run twice is harmless, and a coordinator started again with the same command
 * picks up the parts already done.
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
import type { DissectShardJob, MergeJob, QueuedDissectOptions } from './tasks.js';

/** How a queued run waits and reports, whatever its parts compute. */
export interface QueuedRunOptions {
  /** `redis://HOST:PORT[/DB]`. */
  queue: string;
  store: StoreSpec;
  /** Tries per part before the run fails (default 3; bad input fails at once). */
  attempts?: number;
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
  /** How often the run's state is read (ms, default 500). */
  pollMs?: number;
  /** How long the coordinator waits for a Redis that went away before it gives up (ms, default 60 000). */
  reconnectMs?: number;
  /** How long clean-up waits for a part a worker still runs after the run finished (ms, default 30 000). */
  cleanupMs?: number;
}

/** A run on the queue: `parts` child jobs of one kind, and the merge check as their parent. */
export interface QueuedFlow extends QueuedRunOptions {
  /** The run's key. */
  run: string;
  parts: number;
  /** The job names of a part and of the merge, and the prefix of their ids. */
  jobs: { part: string; merge: string; idPrefix: string };
  /** The data of part `i`'s job. */
  data: (part: number) => object;
  /** A failed part named from its job data (`shard 3`, `part 2/4`), or `undefined` when the data does not say. */
  partName: (data: object) => string | undefined;
  /** What the run is (`dissection`, `attack`, `run`) and what its parts are called (`shards`, `parts`), for messages. */
  what: string;
  unit: string;
}

/** A finished queued run: its parts' outputs as `readBack` made them. */
export interface QueuedFlowResult<T> {
  value: T;
  /** Where the parts' outputs are, in part order. */
  stored: StoredShard[];
  /**
   * Disconnects; with `done` (the run's result is made) first removes the run's jobs and stored outputs. Without it
   * they stay, and the same command merges them again without computing.
   */
  finish(done: boolean): Promise<void>;
}

/** The job id of a run's part or merge: a hash of the run and the part, so the same run gets the same ids. */
export function flowJobId(prefix: string, run: string, part: number | 'merge'): string {
  return `${prefix}-${createHash('sha256').update(`${run}/${String(part)}`).digest('hex').slice(0, 24)}`;
}

function flowOf(f: QueuedFlow): FlowJob {
  const merge: MergeJob = { run: f.run, plan: f.parts, store: f.store, queue: f.queue };
  const opts = { attempts: f.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 } };
  return {
    name: f.jobs.merge, queueName: QUEUE_NAME, data: merge, opts: { ...opts, jobId: flowJobId(f.jobs.idPrefix, f.run, 'merge') },
    children: Array.from({ length: f.parts }, (_, part) => ({
      name: f.jobs.part, queueName: QUEUE_NAME, data: f.data(part), opts: { ...opts, jobId: flowJobId(f.jobs.idPrefix, f.run, part), failParentOnFailure: true },
    })),
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

/**
 * Removes a finished run's jobs. A job a worker still holds cannot be removed: a part that a second worker took again
 * after the first stalled (its lock lapsed while it ran) can outlive the run it belongs to. That part is waited for, up
 * to `ms`; `false` when it still runs then.
 */
export async function removeUnlocked(job: Pick<Job, 'remove'>, ms: number, pollMs = 200): Promise<boolean> {
  const t0 = Date.now();
  for (;;) {
    try {
      await job.remove({ removeChildren: true });
      return true;
    } catch (err) {
      if (!/locked/.test((err as Error).message)) throw err;
      if (Date.now() - t0 >= ms) return false;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

/** Why a run failed: the failed part and its error, from the merge job and its children. */
async function failureOf(f: QueuedFlow, queue: Queue, parent: Job): Promise<string> {
  const { bullmq } = await queueLibraries();
  // A child that fails its parent leaves "child bull:<queue>:<id> failed" as the parent's reason.
  const id = /child \S+:([^:\s]+) failed/.exec(parent.failedReason ?? '')?.[1];
  const child = id !== undefined ? await bullmq.Job.fromId(queue, id).catch(() => undefined) : undefined;
  if (child) {
    return `${f.partName(child.data as object) ?? `job ${id}`} failed after ${child.attemptsMade} ${child.attemptsMade === 1 ? 'try' : 'tries'}: ${child.failedReason}`;
  }
  return parent.failedReason || 'the merge check failed';
}

/** Waits for the run's merge job; re-enqueues the flow when Redis lost it (a restart without persistence). */
async function waitForRun(f: QueuedFlow, q: QueueUrl, queue: Queue, enqueue: () => Promise<void>): Promise<StoredShard[]> {
  const { bullmq } = await queueLibraries();
  const poll = f.pollMs ?? 500;
  const patience = f.reconnectMs ?? 60_000;
  let lostSince: number | undefined;
  let requeued = 0;
  let last = -1;
  for (;;) {
    try {
      const parent = await within(5000, bullmq.Job.fromId(queue, flowJobId(f.jobs.idPrefix, f.run, 'merge')));
      lostSince = undefined;
      if (!parent) {
        if (++requeued > 3) throw new UnitAttackError('UA_QUEUE', `the queue at ${q.url} keeps losing this run's jobs`, { hint: 'give Redis persistence (appendonly yes) or a server of its own' });
        f.onWarning?.(`the queue at ${q.url} no longer holds this run's jobs (was Redis restarted without persistence?); enqueueing the missing ${f.unit} again`);
        await within(10_000, enqueue());
        continue;
      }
      const state = await within(5000, parent.getState());
      if (state === 'completed') return parent.returnvalue as StoredShard[];
      if (state === 'failed') {
        throw new UnitAttackError('UA_QUEUE', `the queued ${f.what} failed: ${await failureOf(f, queue, parent)}`, { hint: 'fix the input the error names and run the same command again' });
      }
      const counts = await within(5000, parent.getDependenciesCount({ processed: true, unprocessed: true }));
      const done = counts.processed ?? 0;
      if (done !== last) { f.onProgress?.(done, f.parts); last = done; }
    } catch (err) {
      if (err instanceof UnitAttackError) throw err;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > patience) {
        throw new UnitAttackError('UA_QUEUE', `lost the queue's Redis at ${q.url} for ${Math.round(patience / 1000)} s: ${(err as Error).message}`, {
          hint: `run the same command again when Redis is back: ${f.unit} already done are not computed again`, cause: err,
        });
      }
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

/**
 * Runs a flow on the queue's workers (`unit-attack worker --queue URL`, started before or after), waits for it, and
 * reads the parts' outputs back with `readBack` (given the stored outputs in part order).
 */
export async function runFlowOnQueue<T>(f: QueuedFlow, readBack: (redis: RedisClient, stored: StoredShard[]) => Promise<T>): Promise<QueuedFlowResult<T>> {
  const q = parseQueueUrl(f.queue);
  const redis = await connectRedis(q, 8000, true);
  const { bullmq } = await queueLibraries();
  const connection = bullConnection(q);
  const queue = new bullmq.Queue(QUEUE_NAME, { connection });
  const flows = new bullmq.FlowProducer({ connection });
  const close = async (): Promise<void> => { await Promise.allSettled([queue.close(), flows.close()]); redis.disconnect(); };
  const mergeId = flowJobId(f.jobs.idPrefix, f.run, 'merge');
  try {
    const enqueue = async (): Promise<void> => { await flows.add(flowOf(f)); };
    const earlier = await bullmq.Job.fromId(queue, mergeId);
    if (earlier && (await earlier.getState()) === 'failed') {
      f.onWarning?.(`an earlier try of this run failed (${await failureOf(f, queue, earlier)}); trying again`);
      await earlier.remove({ removeChildren: true });
    }
    await enqueue();
    const stored = [...await waitForRun(f, q, queue, enqueue)].sort((a, b) => a.shard - b.shard);
    f.onProgress?.(f.parts, f.parts);
    const value = await readBack(redis, stored);
    return {
      value, stored,
      async finish(done: boolean) {
        try {
          if (!done) return;
          const parent = await bullmq.Job.fromId(queue, mergeId);
          if (parent && !(await removeUnlocked(parent, f.cleanupMs ?? 30_000))) {
            f.onWarning?.(`the run's jobs and stored ${f.unit} stay in the queue at ${q.url}: a worker still holds one of its jobs (a part taken again after its worker stalled); the result is complete, and the same command run again merges them without computing`);
            return;
          }
          await removeShards(redis, stored);
        } finally {
          await close();
        }
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A dissection to run through the queue. */
export interface QueuedDissection extends QueuedRunOptions {
  /** The model and probe as every worker will load them (builtin specs, or paths the workers see at the same place). */
  model: string;
  probe: string;
  options: QueuedDissectOptions;
  /** The dissection's key and number of shards (`dissectionPlan`). */
  run: string;
  plan: number;
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

/** The job names of a dissection's shards and merge check, and the prefix of their ids. */
const DISSECT_JOBS = { part: 'dissect-shard', merge: 'dissect-merge', idPrefix: 'dissect' };

/** The job id of a dissection's shard or merge: a hash of the run and the shard, so the same run gets the same ids. */
export function jobId(run: string, part: number | 'merge'): string {
  return flowJobId(DISSECT_JOBS.idPrefix, run, part);
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
  const { model, probe, options, run, plan, ...common } = d;
  const r = await runFlowOnQueue({
    ...common, run, parts: plan, jobs: DISSECT_JOBS, what: 'dissection', unit: 'shards',
    data: (shard): DissectShardJob => ({ run, plan, shard, model, probe, options, store: d.store, queue: d.queue }),
    partName: (data) => {
      const shard = (data as Partial<DissectShardJob>).shard;
      return shard !== undefined ? `shard ${shard + 1}` : undefined;
    },
  }, (redis, shards) => fetchShards(redis, run, plan, shards));
  return {
    dir: r.value, shards: r.stored,
    async finish(done: boolean) {
      try {
        await r.finish(done);
      } finally {
        await fs.rm(r.value, { recursive: true, force: true });
      }
    },
  };
}
