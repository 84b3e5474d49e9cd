/**
 * `attack` over parts of its images: `attack … --shard i/N --out DIR` attacks a contiguous block of the images (in
 * their fixed order) and writes, beside its own report, `attack-part.json` (which part, of which run) and the
 * recorded attack results (`attack-part.data.gz`, see `attacks/parts.ts`); `merge DIR… --out OUT` checks the parts
 * and runs the attack command once more on every image with the attacks answered from the parts, so that OUT holds
 * what a one-process `attack` writes. `attack … --queue redis://…` does the same with queue workers computing the
 * parts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '../tf.js';
import { decodeRecords, encodeRecords, recordAttacks, replayAttacks, type AttackRecord } from '../attacks/parts.js';
import { UnitAttackError, inputError, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { lazyPool, type WorkerPool } from '../parallel/index.js';
import { partRange } from '../scenarios/parts.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { CliIO, CommandSpec, GlobalArgs } from './command.js';
import { parsePart } from './part.js';
import { mergeQueuedParts, specForWorkers } from './queue.js';
import { workersOf } from './workers.js';

export const ATTACK_PART_FILE = 'attack-part.json';
export const ATTACK_PART_DATA = 'attack-part.data.gz';
const FORMAT = 'unit-attack-attack-part';

/** Options that say where things are or where output goes, not what the result is. */
const PATHS = new Set(['model', 'image', 'images', 'atlas']);
const OUTPUT = new Set(['out', 'json', 'force', 'workers', 'shard', 'queue', 'store', 'parts']);

/** What a part file holds. */
export interface AttackPart {
  format: typeof FORMAT;
  version: 1;
  part: number;
  of: number;
  /** A hash of `settings`: the same for every part of one run. */
  run: string;
  /** Everything that decides the result: model, backend, attack options, the images and labels. */
  settings: Record<string, unknown>;
  /** The attack command's arguments (paths as given), for the merge. */
  args: Record<string, unknown>;
  /** The command line of the whole run (this part's, without `--shard`). */
  command: string;
  /** Its arguments (the merge puts its own `--out` in). */
  commandArgs: string[];
  /** This part's images: `[from, to)` of `total`. */
  images: { from: number; to: number; total: number };
  /** The recorded attack results. */
  data: { file: string; sha256: string; bytes: number; records: number };
}

/** The loaded images as the attack command has them. */
export interface PartInputs {
  x: tf.Tensor4D;
  labels: Int32Array;
  ids: string[];
  labelsFrom: string;
}

interface PartContext<I extends PartInputs> {
  argv: GlobalArgs;
  io: CliIO;
  clf: Classifier;
  backend: string;
  input: I;
  /** The attack command's option names. */
  optionKeys: readonly string[];
  /** Images the pool may split (Infinity when a dissection runs first). */
  items: number;
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * The command's arguments without the options that split the run (`--shard`, `--queue`, `--store`, `--parts`), and
 * with `--out` set to `out` when given: the command line of the whole run.
 */
export function wholeCommandArgs(args: readonly string[] = process.argv.slice(2), out?: string): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const split = /^--(shard|queue|store|parts)(=|$)/.exec(a);
    if (split) { if (split[2] === '') i++; continue; }
    const o = /^--out(=|$)/.exec(a);
    if (o && out !== undefined) {
      kept.push(o[1] === '' ? '--out' : `--out=${out}`);
      if (o[1] === '') { kept.push(out); i++; }
      continue;
    }
    kept.push(a);
  }
  return kept;
}

export const wholeCommandLine = (args?: readonly string[], out?: string): string => ['unit-attack', ...wholeCommandArgs(args, out)].join(' ');

async function fileHash(file: string): Promise<string> {
  try {
    return sha256(await fs.readFile(file));
  } catch (err) {
    throw inputError(`cannot read '${file}': ${(err as Error).message}`, { file });
  }
}

/** The settings that decide an attack's result, and the arguments a merge (or a queue worker) runs it with. */
async function settingsOf<I extends PartInputs>(c: PartContext<I>): Promise<{ settings: Record<string, unknown>; args: Record<string, unknown>; run: string }> {
  const { argv, clf, input } = c;
  const options: Record<string, unknown> = {};
  const args: Record<string, unknown> = { backend: argv.backend };
  for (const k of c.optionKeys) {
    if (OUTPUT.has(k) || argv[k] === undefined) continue;
    args[k] = argv[k];
    if (!PATHS.has(k)) options[k] = argv[k];
  }
  // A probe folder is named by its absolute path, as queue workers are given it.
  if (typeof options.probe === 'string') options.probe = specForWorkers(options.probe);
  const pixels = await input.x.data() as Float32Array;
  const h = createHash('sha256');
  h.update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  h.update(new Uint8Array(input.labels.buffer, input.labels.byteOffset, input.labels.byteLength));
  const settings: Record<string, unknown> = {
    version: await packageVersion(), model: clf.fingerprint, backend: c.backend, options,
    atlas: argv.atlas !== undefined ? await fileHash(argv.atlas as string) : null,
    images: input.ids, labelsFrom: input.labelsFrom, pixels: h.digest('hex'),
  };
  return { settings, args, run: sha256(JSON.stringify(settings)).slice(0, 24) };
}

let version: string | undefined;
async function packageVersion(): Promise<string> {
  if (version === undefined) {
    const { packageVersion: read } = await import('./main.js');
    version = read();
  }
  return version;
}

/** `name: a ≠ b` for every setting in which two runs differ (nested settings by their dotted name). */
export function attackDifferences(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const [va, vb] = [a[k], b[k]];
    if (JSON.stringify(va) === JSON.stringify(vb)) continue;
    const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (isObj(va) && isObj(vb)) { out.push(...attackDifferences(va, vb, `${prefix}${k}.`)); continue; }
    const show = (v: unknown): string => {
      const t = JSON.stringify(v) ?? '(not set)';
      return t.length > 60 ? `${t.slice(0, 57)}…` : t;
    };
    const what = k === 'pixels' ? 'the images\' pixels or labels differ' : k === 'model' ? 'the model weights differ' : `${show(va)} ≠ ${show(vb)}`;
    out.push(`${prefix}${k}: ${what}`);
  }
  return out;
}

/** The images of part `index` of `of`. */
function sliceInputs<I extends PartInputs>(input: I, from: number, to: number): I {
  return { ...input, x: input.x.slice([from, 0, 0, 0], [to - from, -1, -1, -1]), labels: input.labels.slice(from, to), ids: input.ids.slice(from, to) };
}

/** The replay a merge runs the attack command in: the parts' records and the settings they were made with. */
const replaying = new AsyncLocalStorage<{ settings: Record<string, unknown>; records: AttackRecord[][]; of: number }>();

/**
 * The attack command's step for a run in parts: a part (`--shard`), a merge's replay, or a run on the queue. Returns
 * the exit code, or `undefined` when the run is none of these (the command attacks as usual).
 */
export async function attackInParts<I extends PartInputs>(c: PartContext<I>, attack: (input: I) => Promise<number>): Promise<number | undefined> {
  const replay = replaying.getStore();
  if (replay) {
    const { settings } = await settingsOf(c);
    const diff = attackDifferences(replay.settings, settings);
    if (diff.length > 0) {
      throw usageError(`the merge does not see the run the parts made (${diff.join('; ')})`, {
        path: 'dirs', hint: 'merge where the model, the images and the atlas are the same files as the parts had (same paths, same contents), with the same backend and version',
      });
    }
    return replayAttacks(replay.records, () => attack(c.input));
  }
  if (c.argv.queue !== undefined) return attackOnQueue(c, attack);
  if (c.argv.shard === undefined) return undefined;
  const { index, of } = parsePart(c.argv.shard);
  const { settings, args, run } = await settingsOf(c);
  const total = c.input.x.shape[0];
  const [from, to] = partRange(total, index, of);
  const out = c.argv.out as string;
  c.argv.commandLine = wholeCommandLine();
  let code = 0;
  let records: AttackRecord[] = [];
  if (to > from) {
    const part = sliceInputs(c.input, from, to);
    const workers = Math.min(workersOf(c.argv, c.io), Math.max(1, Math.min(c.items, to - from)));
    const pool: WorkerPool | undefined = workers > 1 ? lazyPool({ model: c.argv.model as string, classifier: c.clf, workers }) : undefined;
    try {
      const r = await recordAttacks(pool, () => attack(part));
      code = r.value;
      records = r.records;
    } finally {
      part.x.dispose();
      await pool?.close();
    }
  } else {
    await fs.mkdir(out, { recursive: true });
  }
  const bytes = encodeRecords(records);
  await writeAtomic(path.join(out, ATTACK_PART_DATA), bytes);
  const file: AttackPart = {
    format: FORMAT, version: 1, part: index, of, run, settings, args, command: c.argv.commandLine as string, commandArgs: wholeCommandArgs(),
    images: { from, to, total }, data: { file: ATTACK_PART_DATA, sha256: sha256(bytes), bytes: bytes.byteLength, records: records.length },
  };
  await writeJsonAtomic(path.join(out, ATTACK_PART_FILE), file);
  c.io.err(`part ${index}/${of}: images ${from}–${to - 1} of ${total}${to > from ? '' : ' (none: more parts than images)'}; when every part is done: unit-attack merge DIR… --out OUT`);
  return code;
}

/** One part's folder read and checked: its part file, and its records matching their checksum. */
export interface ReadAttackPart { dir: string; file: string; part: AttackPart; records: AttackRecord[] }

/** Reads one part's folder; an input error (exit code 2) naming the file when it is missing, torn or changed. */
export async function readAttackPart(dir: string): Promise<ReadAttackPart> {
  const file = path.join(dir, ATTACK_PART_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read the part file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, hint: 'merge the --out folders of `unit-attack attack … --shard i/N`' });
  }
  let part: Partial<AttackPart>;
  try {
    part = JSON.parse(text) as Partial<AttackPart>;
  } catch (err) {
    throw inputError(`'${file}' is not valid JSON (${(err as Error).message})`, { file, hint: 'it was torn or changed; run that part again' });
  }
  if (part?.format !== FORMAT || typeof part.part !== 'number' || typeof part.of !== 'number' || typeof part.run !== 'string' || !part.data || !part.settings || !part.args) {
    throw inputError(`'${file}' is not an attack part file (format ${JSON.stringify(part?.format)})`, { file, hint: 'it is written by `unit-attack attack … --shard i/N --out DIR`; run that part again' });
  }
  const dataFile = path.join(dir, path.basename(part.data.file));
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(dataFile));
  } catch (err) {
    throw inputError(`the results of part ${part.part}/${part.of} ('${dataFile}') are missing: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      file: dataFile, hint: 'copy the part\'s whole --out folder, or run that part again',
    });
  }
  const sum = sha256(bytes);
  if (sum !== part.data.sha256) {
    throw inputError(`the results of part ${part.part}/${part.of} ('${dataFile}') do not match their checksum (sha256 ${sum.slice(0, 12)}…, the part file says ${part.data.sha256.slice(0, 12)}…)`, {
      file: dataFile, hint: 'the file was torn or changed after it was written; run that part again',
    });
  }
  return { dir, file, part: part as AttackPart, records: decodeRecords(bytes, dataFile) };
}

/** Reads the parts of one run and checks them: every part there once, all of the same run. Errors name what is wrong. */
export async function readAttackParts(dirs: readonly string[]): Promise<{ first: ReadAttackPart; parts: ReadAttackPart[] }> {
  const without = dirs.filter((d) => !existsSync(path.join(d, ATTACK_PART_FILE)));
  if (without.length > 0) {
    throw usageError(`${without.map((d) => `'${d}'`).join(', ')} ${without.length === 1 ? 'holds' : 'hold'} no ${ATTACK_PART_FILE}: not the part of an attack`, {
      path: 'dirs', hint: 'merge only the --out folders of `unit-attack attack … --shard i/N` (every part of one run)',
    });
  }
  const read = await Promise.all(dirs.map((d) => readAttackPart(d)));
  const first = read[0];
  if (!first) throw usageError('name the folders of the parts to merge', { path: 'dirs' });
  for (const p of read.slice(1)) {
    if (p.part.run === first.part.run && p.part.of === first.part.of) continue;
    const diff = attackDifferences(first.part.settings, p.part.settings);
    if (p.part.of !== first.part.of) diff.unshift(`parts: ${first.part.of} ≠ ${p.part.of}`);
    throw usageError(`'${first.file}' and '${p.file}' are parts of different attack runs (${diff.join('; ') || 'their run keys differ'})`, {
      path: 'dirs', file: p.file, hint: 'merge the parts of one run: every --shard i/N job of the same command with the same N',
    });
  }
  const byPart = new Map<number, ReadAttackPart>();
  for (const p of read) if (!byPart.has(p.part.part)) byPart.set(p.part.part, p);
  const of = first.part.of;
  const missing = Array.from({ length: of }, (_, i) => i).filter((i) => !byPart.has(i));
  if (missing.length > 0) {
    throw usageError(`part${missing.length === 1 ? '' : 's'} ${missing.map((i) => `${i}/${of}`).join(', ')} of the attack ${missing.length === 1 ? 'is' : 'are'} missing`, {
      path: 'dirs', hint: `run ${missing.length === 1 ? 'it' : 'them'} (unit-attack attack … --shard ${missing[0]}/${of} --out DIR) and merge every part's folder`,
    });
  }
  return { first, parts: Array.from({ length: of }, (_, i) => byPart.get(i)!) };
}

/**
 * `merge` of attack parts: checks them, then runs the attack command (`attackCommand`) on every image with its
 * attacks answered from the parts, writing to `--out` what a one-process run writes.
 */
export async function mergeAttackCommand(argv: GlobalArgs, io: CliIO, attackCommand: CommandSpec): Promise<number> {
  if (argv.baseline !== undefined || argv.tolerance !== undefined) {
    throw usageError('--baseline and --tolerance compare scenario runs; an attack\'s merge has nothing to compare them with', { path: '--baseline', hint: 'drop them' });
  }
  const { first, parts } = await readAttackParts(argv.dirs as string[]);
  return mergeAttackParts(argv, io, attackCommand, first.part, parts.map((p) => p.records));
}

async function mergeAttackParts(argv: GlobalArgs, io: CliIO, attackCommand: CommandSpec, first: AttackPart, records: AttackRecord[][]): Promise<number> {
  const merged: GlobalArgs = {
    ...first.args, _: ['attack'], backend: (first.args.backend as GlobalArgs['backend'] | undefined) ?? argv.backend, debug: argv.debug, quiet: argv.quiet,
    out: argv.out, force: argv.force ?? false, json: argv.json ?? false, workers: 1,
    commandLine: Array.isArray(first.commandArgs) ? wholeCommandLine(first.commandArgs, argv.out as string) : first.command,
  };
  return replaying.run({ settings: first.settings, records, of: first.of }, () => attackCommand.run(merged, io));
}

/** The default number of parts of a queued attack: one per 4 images, at most 256. */
const defaultParts = (images: number): number => Math.max(1, Math.min(256, Math.ceil(images / 4)));

/** `attack --queue`: the parts on queue workers, then the merge here (as `unit-attack merge` runs it). */
async function attackOnQueue<I extends PartInputs>(c: PartContext<I>, attack: (input: I) => Promise<number>): Promise<number> {
  const { argv, io } = c;
  const { settings, args, run } = await settingsOf(c);
  const total = c.input.x.shape[0];
  const of = (argv.parts as number | undefined) ?? defaultParts(total);
  // Workers elsewhere load the model, images and atlas by the paths this machine was given, made absolute.
  const remote: Record<string, unknown> = { ...args, expectRun: run };
  for (const k of ['model', 'images', 'atlas', 'probe']) if (typeof remote[k] === 'string') remote[k] = specForWorkers(remote[k]);
  if (Array.isArray(remote.image)) remote.image = (remote.image as string[]).map((f) => specForWorkers(f));
  return mergeQueuedParts(argv, io, { kind: 'attack', run: `attack-${run}-${of}`, of, args: remote }, async (dirs) => {
    const { first, parts } = await readAttackParts(dirs);
    if (first.part.run !== run) {
      throw new UnitAttackError('UA_QUEUE', `the workers attacked another run (${attackDifferences(settings, first.part.settings).join('; ') || 'key differs'})`, {
        hint: 'run the same version of unit-attack with the same files on every machine',
      });
    }
    c.argv.commandLine = wholeCommandLine();
    return replayAttacks(parts.map((p) => p.records), () => attack(c.input));
  });
}
