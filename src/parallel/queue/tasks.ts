/**
 * The jobs a queue worker runs, by name, each with pure JSON data: `dissect-shard` computes one shard of a
 * dissection's fixed plan and puts its tallies in the store; `dissect-merge` (the parent of a run's shards) checks
 * that every shard is there, whole, and of this run, and returns the list the coordinator merges.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis as RedisClient } from 'ioredis';
import { UnitAttackError, isUserError } from '../../errors.js';
import type { DissectOptions } from '../../dissection/dissect.js';
import { dissectShards } from '../../dissection/split.js';
import { initBackend } from '../../engine/backend.js';
import { loadClassifier } from '../../models/io.js';
import type { Classifier } from '../../models/types.js';
import { connectRedis, parseQueueUrl } from './connect.js';
import { getShard, putShard, sha256, type StoreSpec, type StoredShard } from './store.js';
import type { PartJob } from './parts.js';

/** The options of a dissection that travel in a job (JSON; everything that decides the atlas). */
export type QueuedDissectOptions = Pick<DissectOptions, 'layer' | 'quantile' | 'iouThreshold' | 'topN' | 'topImages' | 'metric' | 'trainFraction' | 'batchSize'
  | 'seed' | 'importance' | 'ranking' | 'threshold' | 'segmenter' | 'rankingClasses'>;

/** Data of a `dissect-shard` job. */
export interface DissectShardJob {
  run: string;
  plan: number;
  shard: number;
  model: string;
  probe: string;
  options: QueuedDissectOptions;
  store: StoreSpec;
  queue: string;
}

/** Data of a merge check (`dissect-merge`, `part-merge`): the run, its number of parts, where they are stored. */
export interface MergeJob {
  run: string;
  plan: number;
  store: StoreSpec;
  queue: string;
}

/** Data of a `dissect-merge` job. */
export type DissectMergeJob = MergeJob;

/** A failure that retrying cannot mend (bad input, a different version of unit-attack): BullMQ fails it at once. */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnrecoverableError'; // BullMQ's marker for "do not retry", also across a sandbox
  }
}

/** The job's error as BullMQ should see it: a user error (bad input) fails once, with its hint. */
export function jobError(err: unknown): Error {
  if (isUserError(err) && err.code !== 'UA_IO' && err.code !== 'UA_QUEUE' && err.code !== 'UA_WORKER') {
    return new PermanentJobError(`${err.message}${err.hint ? ` (${err.hint})` : ''}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

let loaded: { spec: string; classifier: Classifier } | undefined;
const redisClients = new Map<string, Promise<RedisClient>>();

/** The classifier of a job, kept across the jobs of one worker thread. */
async function classifierFor(spec: string): Promise<Classifier> {
  if (loaded?.spec === spec) return loaded.classifier;
  loaded?.classifier.dispose();
  loaded = undefined;
  await initBackend({ backend: 'auto' });
  loaded = { spec, classifier: await loadClassifier(spec) };
  return loaded.classifier;
}

/** A Redis client for the store of the queue at `url`, kept across the jobs of one worker thread. */
export function redisFor(url: string): Promise<RedisClient> {
  let c = redisClients.get(url);
  if (!c) {
    c = connectRedis(parseQueueUrl(url), 8000, true);
    c.catch(() => redisClients.delete(url));
    redisClients.set(url, c);
  }
  return c;
}

/** The file of shard `shard` of `run` in `dir`, if one is there. */
async function shardFileIn(dir: string, run: string, shard: number, plan: number): Promise<string | undefined> {
  const prefix = `${run}.${String(shard).padStart(5, '0')}-of-${plan}.`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const name = names.find((n) => n.startsWith(prefix) && n.endsWith('.shard'));
  return name === undefined ? undefined : path.join(dir, name);
}

/** Runs a `dissect-shard` job: computes the shard (unless the shared folder has it) and stores its tallies. */
export async function runDissectShard(job: DissectShardJob): Promise<StoredShard> {
  const clf = await classifierFor(job.model);
  const out = job.store.kind === 'dir' ? job.store.dir : await fs.mkdtemp(path.join(os.tmpdir(), 'unit-attack-shard-'));
  try {
    const r = await dissectShards(clf, job.probe, { index: job.shard, of: job.plan, out }, { ...job.options, cache: false });
    if (r.run !== job.run || r.plan !== job.plan) {
      throw new PermanentJobError(`this worker computes a different dissection (key ${r.run}, ${r.plan} shards) than the coordinator asked for (key ${job.run}, ${job.plan} shards): `
        + 'the worker and the coordinator differ in unit-attack version, model files or probe files; run the same version with the same files on every machine');
    }
    const file = await shardFileIn(out, job.run, job.shard, job.plan);
    if (!file) throw new UnitAttackError('UA_INTERNAL', `shard ${job.shard + 1} of ${job.plan} wrote no file to '${out}'`);
    const bytes = await fs.readFile(file);
    if (job.store.kind === 'dir') return putShardInPlace(job.shard, file, bytes);
    return await putShard(job.store, await redisFor(job.queue), job.run, job.shard, bytes, path.basename(file));
  } finally {
    if (job.store.kind === 'redis') await fs.rm(out, { recursive: true, force: true });
  }
}

/** A shard already written to the shared folder by `dissectShards` (atomically), described for the merge. */
function putShardInPlace(shard: number, file: string, bytes: Uint8Array): StoredShard {
  return { shard, uri: pathToFileURL(file).href, sha256: sha256(bytes), bytes: bytes.byteLength };
}

/**
 * Runs a merge check (`dissect-merge`, `part-merge`) over the values of its children: every shard of the plan present
 * once, readable and matching its checksum. Returns them in shard order.
 */
export async function runDissectMerge(job: MergeJob, children: Record<string, unknown>): Promise<StoredShard[]> {
  const byShard = new Map<number, StoredShard>();
  for (const v of Object.values(children)) {
    const s = v as StoredShard;
    if (typeof s?.shard === 'number' && typeof s.uri === 'string' && typeof s.sha256 === 'string') byShard.set(s.shard, s);
  }
  const missing = Array.from({ length: job.plan }, (_, i) => i).filter((i) => !byShard.has(i));
  if (missing.length > 0) {
    throw new UnitAttackError('UA_QUEUE', `the merge of ${job.run} lacks shards ${missing.slice(0, 10).map((i) => i + 1).join(', ')}${missing.length > 10 ? ' …' : ''} of ${job.plan}`);
  }
  const redis = job.store.kind === 'redis' ? await redisFor(job.queue) : undefined;
  const list = [...byShard.values()].sort((a, b) => a.shard - b.shard);
  for (const s of list) await getShard(redis, s); // throws when gone or changed
  return list;
}

/** Runs a queued job by name. */
export async function runQueueTask(name: string, data: unknown, children: () => Promise<Record<string, unknown>>): Promise<unknown> {
  try {
    if (name === 'dissect-shard') return await runDissectShard(data as DissectShardJob);
    if (name === 'dissect-merge' || name === 'part-merge') return await runDissectMerge(data as MergeJob, await children());
    // The parts of a queued attack or scenario run, computed by the commands themselves (loaded only for these jobs).
    if (name === 'attack-part' || name === 'run-part') return await (await import('../../cli/part-jobs.js')).runPartJob(data as PartJob);
    throw new PermanentJobError(`this worker does not know the job '${name}': run the same version of unit-attack on every machine`);
  } catch (err) {
    throw jobError(err);
  }
}
