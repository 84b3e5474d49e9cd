/**
 * Runs split into parts on the queue: `attack --queue` and `run --queue`. The coordinator enqueues a BullMQ flow —
 * one child job per part (`attack-part`, `run-part`: the part computed exactly as `--shard i/N` computes it), a
 * `part-merge` check as their parent — waits for it with progress, and reads the parts' outputs back from the store
 * for the merge, which it does itself. A part's output travels as bytes in the store (a Redis key or a shared
 * folder), never in job data: the job returns `{ shard, uri, sha256, bytes }`. Job ids are a hash of the run and the
 * part, so enqueueing the same run twice is harmless and a coordinator started again picks up the parts done.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { FlowJob, Job, Queue } from 'bullmq';
import { UnitAttackError, inputError } from '../../errors.js';
import { writeAtomic } from '../../util/atomic.js';
import { QUEUE_NAME, bullConnection, connectRedis, parseQueueUrl, queueLibraries, type QueueUrl } from './connect.js';
import { getShard, removeShards, type StoreSpec, type StoredShard } from './store.js';

/** The kinds of parted runs, and the job name of their parts. */
export type PartKind = 'attack' | 'run';
export const PART_JOB: Record<PartKind, string> = { attack: 'attack-part', run: 'run-part' };
export const PART_MERGE_JOB = 'part-merge';

/** Data of an `attack-part` or `run-part` job. */
export interface PartJob {
  kind: PartKind;
  /** The run's key (a hash of everything that decides its result, with the number of parts). */
  run: string;
  part: number;
  of: number;
  /** What the part runs: the command's settings, with paths as every worker sees them. */
  args: Record<string, unknown>;
  store: StoreSpec;
  queue: string;
}

/** Data of a `part-merge` job (as `dissect-merge`: the run, its number of parts, where they are stored). */
export interface PartMergeJob {
  run: string;
  plan: number;
  store: StoreSpec;
  queue: string;
}

/** A parted run to put on the queue. */
export interface QueuedParts {
  queue: string;
  store: StoreSpec;
  kind: PartKind;
  run: string;
  of: number;
  /** The job data of part `i` beyond the run's: the command's settings. */
  args: Record<string, unknown>;
  /** Tries per part before the run fails (default 3; bad input fails at once). */
  attempts?: number;
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
  pollMs?: number;
  reconnectMs?: number;
}

/** The outputs of a finished queued run, in part order. */
export interface QueuedPartsResult {
  parts: Array<{ part: number; bytes: Uint8Array }>;
  /** With `done`, removes the run's jobs and stored outputs; always disconnects. */
  finish(done: boolean): Promise<void>;
}

/** The job id of a part (or the merge) of a run: a hash of both. */
export function partJobId(run: string, part: number | 'merge'): string {
  return `part-${createHash('sha256').update(`${run}/${String(part)}`).digest('hex').slice(0, 24)}`;
}

function flowOf(d: QueuedParts): FlowJob {
  const merge: PartMergeJob = { run: d.run, plan: d.of, store: d.store, queue: d.queue };
  const opts = { attempts: d.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 } };
  return {
    name: PART_MERGE_JOB, queueName: QUEUE_NAME, data: merge, opts: { ...opts, jobId: partJobId(d.run, 'merge') },
    children: Array.from({ length: d.of }, (_, part) => {
      const data: PartJob = { kind: d.kind, run: d.run, part, of: d.of, args: d.args, store: d.store, queue: d.queue };
      return { name: PART_JOB[d.kind], queueName: QUEUE_NAME, data, opts: { ...opts, jobId: partJobId(d.run, part), failParentOnFailure: true } };
    }),
  };
}

async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('Redis did not answer')), ms); })]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

async function failureOf(queue: Queue, parent: Job): Promise<string> {
  const { bullmq } = await queueLibraries();
  const id = /child \S+:([^:\s]+) failed/.exec(parent.failedReason ?? '')?.[1];
  const child = id !== undefined ? await bullmq.Job.fromId(queue, id).catch(() => undefined) : undefined;
  if (child) {
    const part = (child.data as Partial<PartJob>).part;
    const of = (child.data as Partial<PartJob>).of;
    return `${part !== undefined ? `part ${part}/${String(of)}` : `job ${id}`} failed after ${child.attemptsMade} ${child.attemptsMade === 1 ? 'try' : 'tries'}: ${child.failedReason}`;
  }
  return parent.failedReason || 'the merge check failed';
}

async function waitForRun(d: QueuedParts, q: QueueUrl, queue: Queue, enqueue: () => Promise<void>): Promise<StoredShard[]> {
  const { bullmq } = await queueLibraries();
  const poll = d.pollMs ?? 500;
  const patience = d.reconnectMs ?? 60_000;
  let lostSince: number | undefined;
  let requeued = 0;
  let last = -1;
  for (;;) {
    try {
      const parent = await within(5000, bullmq.Job.fromId(queue, partJobId(d.run, 'merge')));
      lostSince = undefined;
      if (!parent) {
        if (++requeued > 3) throw new UnitAttackError('UA_QUEUE', `the queue at ${q.url} keeps losing this run's jobs`, { hint: 'give Redis persistence (appendonly yes) or a server of its own' });
        d.onWarning?.(`the queue at ${q.url} no longer holds this run's jobs (was Redis restarted without persistence?); enqueueing the missing parts again`);
        await within(10_000, enqueue());
        continue;
      }
      const state = await within(5000, parent.getState());
      if (state === 'completed') return parent.returnvalue as StoredShard[];
      if (state === 'failed') {
        throw new UnitAttackError('UA_QUEUE', `the queued ${d.kind} failed: ${await failureOf(queue, parent)}`, { hint: 'fix the input the error names and run the same command again' });
      }
      const counts = await within(5000, parent.getDependenciesCount({ processed: true, unprocessed: true }));
      const done = counts.processed ?? 0;
      if (done !== last) { d.onProgress?.(done, d.of); last = done; }
    } catch (err) {
      if (err instanceof UnitAttackError) throw err;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > patience) {
        throw new UnitAttackError('UA_QUEUE', `lost the queue's Redis at ${q.url} for ${Math.round(patience / 1000)} s: ${(err as Error).message}`, {
          hint: 'run the same command again when Redis is back: parts already done are not computed again', cause: err,
        });
      }
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

/**
 * Runs the parts of a run on the queue's workers (`unit-attack worker --queue URL`, started before or after) and
 * returns their outputs, checked against their checksums.
 */
export async function runPartsOnQueue(d: QueuedParts): Promise<QueuedPartsResult> {
  const q = parseQueueUrl(d.queue);
  const redis = await connectRedis(q, 8000, true);
  const { bullmq } = await queueLibraries();
  const connection = bullConnection(q);
  const queue = new bullmq.Queue(QUEUE_NAME, { connection });
  const flows = new bullmq.FlowProducer({ connection });
  const close = async (): Promise<void> => { await Promise.allSettled([queue.close(), flows.close()]); redis.disconnect(); };
  try {
    const enqueue = async (): Promise<void> => { await flows.add(flowOf(d)); };
    const earlier = await bullmq.Job.fromId(queue, partJobId(d.run, 'merge'));
    if (earlier && (await earlier.getState()) === 'failed') {
      d.onWarning?.(`an earlier try of this run failed (${await failureOf(queue, earlier)}); trying again`);
      await earlier.remove({ removeChildren: true });
    }
    await enqueue();
    const stored = await waitForRun(d, q, queue, enqueue);
    d.onProgress?.(d.of, d.of);
    const parts: QueuedPartsResult['parts'] = [];
    for (const s of [...stored].sort((a, b) => a.shard - b.shard)) parts.push({ part: s.shard, bytes: await getShard(redis, s) });
    return {
      parts,
      async finish(done: boolean) {
        try {
          if (!done) return;
          const parent = await bullmq.Job.fromId(queue, partJobId(d.run, 'merge'));
          await parent?.remove({ removeChildren: true });
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

/** The files of a folder (recursively; or only `names`) as one gzipped archive. */
export async function packFolder(dir: string, names?: readonly string[]): Promise<Uint8Array> {
  const files: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile()) files[r] = (await fs.readFile(path.join(dir, r))).toString('base64');
    }
  };
  if (names) for (const n of names) files[n] = (await fs.readFile(path.join(dir, n))).toString('base64');
  else await walk('');
  return new Uint8Array(gzipSync(JSON.stringify({ format: 'unit-attack-part-archive', version: 1, files })));
}

/** Writes the files of a {@link packFolder} archive into `dir` (atomically, file by file). */
export async function unpackInto(bytes: Uint8Array, dir: string, what: string): Promise<void> {
  let doc: { format?: string; files?: Record<string, string> };
  try {
    doc = JSON.parse(gunzipSync(bytes).toString('utf8')) as typeof doc;
  } catch (err) {
    throw inputError(`${what} is not a readable part archive: ${(err as Error).message}`, { hint: 'run the same command again: the part is computed again', cause: err });
  }
  if (doc.format !== 'unit-attack-part-archive' || !doc.files) throw inputError(`${what} is not a part archive`, { hint: 'run the same version of unit-attack on every machine' });
  for (const [rel, b64] of Object.entries(doc.files)) {
    const file = path.resolve(dir, rel);
    if (!file.startsWith(path.resolve(dir) + path.sep)) throw inputError(`${what} names a file outside its folder: '${rel}'`);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeAtomic(file, Buffer.from(b64, 'base64'));
  }
}
