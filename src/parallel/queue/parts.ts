/**
 * Runs split into parts on the queue: `attack --queue` and `run --queue`. The coordinator (`coordinator.ts`, the
 * same as a dissection's) enqueues a BullMQ flow — one child job per part (`attack-part`, `run-part`: the part
 * computed exactly as `--shard i/N` computes it), a `part-merge` check as their parent — waits for it with progress,
 * and reads the parts' outputs back from the store for the merge, which the command does itself. A part's output
 * travels as bytes in the store (a Redis key or a shared folder), never in job data: the job returns
 * `{ shard, uri, sha256, bytes }`. Job ids are a hash of the run and the part, so enqueueing the same run twice is
 * harmless and a coordinator started again picks up the parts done.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { inputError } from '../../errors.js';
import { writeAtomic } from '../../util/atomic.js';
import { flowJobId, runFlowOnQueue, type QueuedRunOptions } from './coordinator.js';
import { getShard, type StoreSpec } from './store.js';
import type { MergeJob } from './tasks.js';

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

/** Data of a `part-merge` job: as `dissect-merge`, the run, its number of parts, where they are stored. */
export type PartMergeJob = MergeJob;

/** A parted run to put on the queue. */
export interface QueuedParts extends QueuedRunOptions {
  kind: PartKind;
  run: string;
  of: number;
  /** The job data of part `i` beyond the run's: the command's settings. */
  args: Record<string, unknown>;
}

/** The outputs of a finished queued run, in part order. */
export interface QueuedPartsResult {
  parts: Array<{ part: number; bytes: Uint8Array }>;
  /** With `done`, removes the run's jobs and stored outputs; always disconnects. */
  finish(done: boolean): Promise<void>;
}

/** The job id of a part (or the merge) of a run: a hash of both. */
export function partJobId(run: string, part: number | 'merge'): string {
  return flowJobId('part', run, part);
}

/**
 * Runs the parts of a run on the queue's workers (`unit-attack worker --queue URL`, started before or after) and
 * returns their outputs, checked against their checksums.
 */
export async function runPartsOnQueue(d: QueuedParts): Promise<QueuedPartsResult> {
  const { kind, run, of, args, ...common } = d;
  const r = await runFlowOnQueue({
    ...common, run, parts: of, jobs: { part: PART_JOB[kind], merge: PART_MERGE_JOB, idPrefix: 'part' }, what: kind, unit: 'parts',
    data: (part): PartJob => ({ kind, run, part, of, args, store: d.store, queue: d.queue }),
    partName: (data) => {
      const { part, of: n } = data as Partial<PartJob>;
      return part !== undefined ? `part ${part}/${String(n)}` : undefined;
    },
  }, async (redis, stored) => {
    const parts: QueuedPartsResult['parts'] = [];
    for (const s of stored) parts.push({ part: s.shard, bytes: await getShard(redis, s) });
    return parts;
  });
  return { parts: r.value, finish: (done) => r.finish(done) };
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
