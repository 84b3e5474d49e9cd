/**
 * A dissection split over jobs or machines: each job computes pass 1 of its part of the fixed shard plan and writes
 * one checksummed file per shard; `dissect(…, { fromShards })` merges them into the atlas a one-process run makes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UnitAttackError, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { poolFor } from '../parallel/executor.js';
import { writeAtomic } from '../util/atomic.js';
import { cachedAtlas, type DissectOptions } from './dissect.js';
import { cacheRoot, dissectCacheFile } from './cache.js';
import { runShards } from './_internals/passes.js';
import { WORKER_PROBE_KINDS, setUpDissection } from './_internals/setup.js';
import { encodeShard } from './_internals/shard-file.js';
import { shardFileName } from './shard-name.js';
import { shardIndices, tallyShard, type ShardOutput } from './_internals/shards.js';
import type { ProbeSet } from './probe.js';

/** One part of a dissection split over several jobs. */
export interface ShardPart {
  /** This job's part, 0 … `of` − 1 (e.g. `JOB_COMPLETION_INDEX`). */
  index: number;
  /** Number of parts. */
  of: number;
  /** Folder for the shard files (may be shared by every part, and may hold earlier parts' files). */
  out: string;
}

/** What {@link dissectShards} wrote. */
export interface DissectShardsResult {
  /** The dissection's key: the shard files of every part carry it, and a merge checks it. */
  run: string;
  /** Shards in the whole plan. */
  plan: number;
  /** The shards of this part (0-based; a contiguous block of the plan, possibly empty when there are more parts than shards). */
  shards: number[];
  /** Shard files written (shards already in `out` from an earlier try of the same part are kept, not written again). */
  files: string[];
  seconds: number;
}

/**
 * Pass 1 of one part of a dissection, for a split over jobs or machines: the plan's fixed shards (four batches of
 * the probe set each) are cut into `part.of` contiguous blocks, and this job computes block `part.index` and writes
 * one checksummed file per shard to `part.out`. `dissect(…, { fromShards: [folders] })` with the same model, probe
 * and options merges them into the atlas a one-process run makes.
 *
 * @example
 * // on each of 4 machines, part = 0 … 3:
 * await dissectShards(clf, 'builtin:scenes?count=8000', { index: part, of: 4, out: 'shared/shards' });
 * // then once:
 * const { atlas } = await dissect(clf, 'builtin:scenes?count=8000', { fromShards: ['shared/shards'] });
 */
export async function dissectShards(classifier: Classifier, probeOrSpec: string | ProbeSet, part: ShardPart, options: DissectOptions = {}): Promise<DissectShardsResult> {
  const t0 = Date.now();
  if (!Number.isInteger(part.of) || part.of < 1 || !Number.isInteger(part.index) || part.index < 0 || part.index >= part.of) {
    throw usageError(`shard must be a part i of N with 0 ≤ i < N, got ${String(part.index)}/${String(part.of)}`, { path: 'shard', hint: 'e.g. 0/4, 1/4, 2/4 and 3/4 for four jobs (JOB_COMPLETION_INDEX/4 on a Kubernetes Indexed Job)' });
  }
  const { o, warn, progress, layer, shape: [h, w, C], probe, labelSize, about, key: run } = await setUpDissection(classifier, probeOrSpec, options);
  const plan = shardIndices(probe.count, o.batchSize);
  const first = Math.floor((part.index * plan.length) / part.of);
  const shards = Array.from({ length: Math.floor(((part.index + 1) * plan.length) / part.of) - first }, (_, i) => first + i);
  const total = shards.reduce((a, s) => a + plan[s].length, 0);
  try {
    await fs.mkdir(part.out, { recursive: true });
  } catch (err) {
    throw new UnitAttackError('UA_IO', `cannot create the shard folder '${part.out}': ${(err as Error).message}`, { file: part.out, path: 'out', cause: err });
  }
  const existing = new Set((await fs.readdir(part.out)).filter((n) => n.endsWith('.shard')));
  const done = (s: number): boolean => [...existing].some((n) => n.startsWith(`${run}.${String(s).padStart(5, '0')}-of-${plan.length}.`));
  const files: string[] = [];
  let seen = 0;
  const pool = poolFor(classifier);
  await runShards({
    layer, layerShape: [h, w, C], labelSize, count: probe.count, planes: probe.labelPlanes, concepts: probe.concepts, probeSpec: probe.spec,
    shard: (input, bank, onBatch) => tallyShard(classifier, probe, input, bank, onBatch),
    ...(pool && WORKER_PROBE_KINDS.has(probe.kind) ? { remote: pool } : {}),
  }, o, shards.filter((s) => !done(s)), {
    ready: () => Promise.resolve(undefined),
    async take(s: number, out: ShardOutput) {
      for (const [id, reason] of out.skipped) warn(`skipped the probe image '${id}': ${reason}`);
      const bytes = encodeShard(out, run, s, plan.length, about);
      const file = path.join(part.out, shardFileName(run, s, plan.length, bytes));
      await writeAtomic(file, bytes);
      files.push(file);
      seen += out.skipped.length;
      progress({ phase: 'activations', done: seen, total });
    },
    onBatch(n) { seen += n; progress({ phase: 'activations', done: seen, total }); },
  });
  return { run, plan: plan.length, shards, files, seconds: (Date.now() - t0) / 1000 };
}

/** The plan of a split dissection: what every part and the merge must agree on. */
export interface DissectionPlan {
  /** The dissection's key (the run of its shard files, and its cache key). */
  run: string;
  /** Shards in the plan (four batches of the probe set each). */
  plan: number;
  /** Images in the probe set. */
  count: number;
  /** True when the atlas of this dissection is already in the cache (nothing to compute). */
  cached: boolean;
}

/**
 * The key and the number of shards of a dissection, without computing any of it: a coordinator hands shard
 * `s` of `plan` to a machine as `dissectShards(…, { index: s, of: plan, out })`.
 */
export async function dissectionPlan(classifier: Classifier, probeOrSpec: string | ProbeSet, options: DissectOptions = {}): Promise<DissectionPlan> {
  const { o, probe, key } = await setUpDissection(classifier, probeOrSpec, options);
  const cacheFile = o.cache ? dissectCacheFile(key, options.cacheDir ?? cacheRoot()) : undefined;
  const cached = cacheFile !== undefined && (await cachedAtlas(cacheFile, key, classifier.fingerprint)) !== undefined;
  return { run: key, plan: shardIndices(probe.count, o.batchSize).length, count: probe.count, cached };
}
