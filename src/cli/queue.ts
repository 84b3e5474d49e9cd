/**
 * `--queue URL` and `--store` of the commands that can run their shards on queue workers, and the steps that do it:
 * enqueue, wait with progress, and hand the shards (a dissection's) or parts (an attack's, a scenario run's) back for
 * the merge.
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Options } from 'yargs';
import { usageError } from '../errors.js';
import { dissectionPlan } from '../dissection/split.js';
import type { DissectOptions } from '../dissection/dissect.js';
import type { Classifier } from '../models/types.js';
import { parseQueueUrl } from '../parallel/queue/connect.js';
import { runDissectionOnQueue, type QueuedShards } from '../parallel/queue/coordinator.js';
import type { PartKind } from '../parallel/queue/parts.js';
import { parseStore } from '../parallel/queue/store.js';
import type { QueuedDissectOptions } from '../parallel/queue/tasks.js';
import type { CliIO, GlobalArgs } from './command.js';
import { startProgress } from './progress.js';

export const queueOption: Options = {
  type: 'string',
  describe: 'redis://HOST:PORT[/DB]: run the shards on queue workers (`unit-attack worker --queue URL` on any machines) and merge them here',
};

export const storeOption: Options = {
  type: 'string',
  describe: 'with --queue: where the shards\' tallies go — redis (binary keys on the queue\'s server; default) or a folder every machine mounts at the same path',
};

/** Checks `--queue` and `--store` (usage errors before anything is loaded). */
export function checkQueueArgs(argv: GlobalArgs): void {
  if (argv.queue !== undefined) parseQueueUrl(argv.queue as string, '--queue');
  if (argv.store !== undefined) {
    if (argv.queue === undefined) throw usageError('--store applies to a run on a queue', { path: '--store', hint: 'add --queue redis://HOST:PORT, or drop --store' });
    parseStore(argv.store as string);
  }
  if (argv.queue !== undefined && argv.shard !== undefined) {
    throw usageError('--queue and --shard both split the work: choose one', { path: '--queue', hint: '--queue hands the shards to queue workers; --shard i/N computes one part in this job' });
  }
}

/** A model or probe spec as a worker elsewhere loads it: builtin specs as they are, local paths made absolute. */
export function specForWorkers(spec: string): string {
  if (spec.startsWith('builtin:') || !existsSync(spec)) return spec;
  return path.resolve(spec);
}

/** The dissect options that travel to the workers (JSON). */
function queuedOptions(o: DissectOptions): QueuedDissectOptions {
  const keys = ['layer', 'quantile', 'iouThreshold', 'topN', 'topImages', 'metric', 'trainFraction', 'batchSize', 'seed', 'importance', 'ranking', 'threshold', 'segmenter', 'rankingClasses'] as const;
  const picked: QueuedDissectOptions = Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  return picked;
}

/**
 * Runs pass 1 of a classifier dissection on the queue's workers: `undefined` when the atlas is cached already
 * (nothing to enqueue), else the shards in a local folder for `dissect(…, { fromShards })`.
 */
export async function queueDissection(argv: GlobalArgs, io: CliIO, clf: Classifier, probe: string, options: DissectOptions): Promise<QueuedShards | undefined> {
  const plan = await dissectionPlan(clf, probe, options);
  if (plan.cached) return undefined;
  const bar = startProgress(io, `shards on ${String(argv.queue)}`, plan.plan, argv.quiet);
  let shown = 0;
  try {
    return await runDissectionOnQueue({
      queue: String(argv.queue), store: parseStore(argv.store as string | undefined),
      model: specForWorkers(argv.model as string), probe, options: queuedOptions(options), run: plan.run, plan: plan.plan,
      onProgress: (done) => { bar.tick(done - shown, `${done} of ${plan.plan} shards done`); shown = done; },
      onWarning: (m) => io.err(`warning: ${m}`),
    });
  } finally {
    bar.stop();
  }
}

/**
 * `attack --queue` and `run --queue`: runs the parts of a run on the queue's workers (progress as `K/N parts done` on
 * stderr), unpacks each part's output into a folder of its own, and gives the folders, in part order, to `merge`.
 * Once `merge` has made the run's result, the run's jobs and stored outputs are removed; when it fails they stay, and
 * the same command merges them again without computing.
 */
export async function mergeQueuedParts<T>(
  argv: GlobalArgs, io: CliIO, run: { kind: PartKind; run: string; of: number; args: Record<string, unknown> }, merge: (dirs: string[]) => Promise<T>,
): Promise<T> {
  const { kind, of } = run;
  const { runPartsOnQueue, unpackInto } = await import('../parallel/queue/parts.js');
  let shown = -1;
  const q = await runPartsOnQueue({
    ...run, queue: String(argv.queue), store: parseStore(argv.store as string | undefined),
    onProgress: (done) => { if (done !== shown && !argv.quiet) io.err(`${kind} on ${String(argv.queue)}: ${done}/${of} parts done`); shown = done; },
    onWarning: (m) => io.err(`warning: ${m}`),
  });
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), `unit-attack-${kind}-parts-`));
  let done = false;
  try {
    const dirs: string[] = [];
    for (const p of q.parts) {
      const d = path.join(tmp, String(p.part));
      await unpackInto(p.bytes, d, `part ${p.part}/${of} from the store`);
      dirs.push(d);
    }
    const value = await merge(dirs);
    done = true;
    return value;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
    await q.finish(done);
  }
}
