/**
 * Pass 1 of one shard on disk: its sketches, raw activations, label maps and image ids in one checksummed file, so
 * that a dissection interrupted at shard k resumes there (the shards' sketches merge in shard order, so a resumed run
 * equals an uninterrupted one), and so that shards computed elsewhere can be merged.
 *
 * Layout: the 8 bytes `UASHARD1`, a little-endian u32 header length, the header (JSON: the run key, the shard, the
 * section lengths, the SHA-256 of the payload), then the payload: the sketches one after another, the activations
 * (float32), the label maps (uint16, padded to 4 bytes) and the class indices (int32, when the probe has classes).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UnitAttackError } from '../../errors.js';
import { writeAtomic } from '../../util/atomic.js';
import { processAlive } from '../store.js';
import type { ShardOutput } from './shards.js';

const MAGIC = 'UASHARD1';

/** What a shard file says about itself. */
export interface ShardHeader {
  /** The dissection the shard belongs to (its cache key). */
  run: string;
  shard: number;
  shards: number;
  images: number;
  sketchBytes: number[];
  actFloats: number;
  labelValues: number;
  hasClasses: boolean;
  indices: number[];
  ids: string[];
  skipped: Array<[string, string]>;
  sha256: string;
  /** What decides the dissection's result (its cache key's parts), so that shards of different runs can be told apart. */
  about?: Record<string, unknown>;
}

/** The bytes of shard `shard` of `shards` of run `run`. */
export function encodeShard(out: ShardOutput, run: string, shard: number, shards: number, about?: Record<string, unknown>): Uint8Array {
  const labelBytes = out.labels.byteLength;
  const pad = (4 - (labelBytes % 4)) % 4;
  const parts: Uint8Array[] = [
    ...out.sketches,
    bytesOf(out.acts),
    bytesOf(out.labels),
    new Uint8Array(pad),
    ...(out.classIndex ? [bytesOf(out.classIndex)] : []),
  ];
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  const header: ShardHeader = {
    run, shard, shards, images: out.indices.length, sketchBytes: out.sketches.map((s) => s.byteLength),
    actFloats: out.acts.length, labelValues: out.labels.length, hasClasses: out.classIndex !== null,
    indices: out.indices, ids: out.ids, skipped: out.skipped, sha256: hash.digest('hex'), ...(about ? { about } : {}),
  };
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.byteLength);
  return Buffer.concat([Buffer.from(MAGIC, 'latin1'), len, head, ...parts]);
}

/**
 * Reads a shard file's bytes back, checking the magic, the run, the shard and the checksum; throws a `UA_INPUT`
 * error naming `file` when one does not hold.
 */
export function decodeShard(bytes: Uint8Array, file: string, expect?: { run: string; shard: number; shards: number }): { header: ShardHeader; out: ShardOutput } {
  const bad = (why: string): UnitAttackError => new UnitAttackError('UA_INPUT', `'${file}' is not a usable shard file: ${why}`, {
    file, hint: 'delete it; the shard is computed again',
  });
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw bad('it does not start with the shard-file signature');
  const headLen = buf.readUInt32LE(8);
  if (12 + headLen > buf.byteLength) throw bad('it ends inside its header');
  let header: ShardHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headLen)) as ShardHeader;
  } catch {
    throw bad('its header is not JSON');
  }
  if (expect && (header.run !== expect.run || header.shard !== expect.shard || header.shards !== expect.shards)) {
    throw bad(`it holds shard ${header.shard + 1} of ${header.shards} of run ${header.run}, not shard ${expect.shard + 1} of ${expect.shards} of run ${expect.run}`);
  }
  const labelBytes = header.labelValues * 2;
  const sizes = [...header.sketchBytes, header.actFloats * 4, labelBytes, (4 - (labelBytes % 4)) % 4, header.hasClasses ? header.images * 4 : 0];
  const total = sizes.reduce((a, b) => a + b, 0);
  let at = 12 + headLen;
  if (buf.byteLength !== at + total) throw bad(`its payload is ${buf.byteLength - at} bytes, the header says ${total}`);
  const payload = new Uint8Array(buf.buffer, buf.byteOffset + at, total);
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) throw bad('its checksum does not match (a torn or changed file)');
  // Copy each section into its own aligned buffer (the file's offsets need not be aligned for typed arrays).
  const take = (n: number): Uint8Array => { const s = new Uint8Array(n); s.set(buf.subarray(at, at + n)); at += n; return s; };
  const sketches = header.sketchBytes.map((n) => take(n));
  const acts = new Float32Array(take(header.actFloats * 4).buffer);
  const labels = new Uint16Array(take(labelBytes).buffer);
  at += (4 - (labelBytes % 4)) % 4;
  const classIndex = header.hasClasses ? new Int32Array(take(header.images * 4).buffer) : null;
  return {
    header,
    out: { sketches, acts, labels, indices: header.indices, ids: header.ids, classIndex, skipped: header.skipped },
  };
}

/** The header of the shard file `file`, read without its payload (not checked against the checksum). */
export async function readShardHeader(file: string): Promise<ShardHeader> {
  const fh = await fs.open(file, 'r');
  try {
    const start = Buffer.alloc(12);
    await fh.read(start, 0, 12, 0);
    if (start.toString('latin1', 0, 8) !== MAGIC) {
      throw new UnitAttackError('UA_INPUT', `'${file}' is not a usable shard file: it does not start with the shard-file signature`, { file, hint: 'shard files are written by `unit-attack dissect --shard i/N`' });
    }
    const head = Buffer.alloc(start.readUInt32LE(8));
    const { bytesRead } = await fh.read(head, 0, head.byteLength, 12);
    try {
      if (bytesRead !== head.byteLength) throw new Error('short');
      return JSON.parse(head.toString('utf8')) as ShardHeader;
    } catch {
      throw new UnitAttackError('UA_INPUT', `'${file}' is not a usable shard file: its header is torn`, { file, hint: 'write it again with `unit-attack dissect --shard i/N`' });
    }
  } finally {
    await fh.close();
  }
}

/** The fields in which two dissections' `about` differ, as `field: a ≠ b` (both JSON). */
export function aboutDifferences(a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): string[] {
  const keys = [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort();
  return keys.filter((k) => JSON.stringify(a?.[k]) !== JSON.stringify(b?.[k])).map((k) => `${k}: ${JSON.stringify(a?.[k]) ?? '(none)'} ≠ ${JSON.stringify(b?.[k]) ?? '(none)'}`);
}

/**
 * The shard files (`*.shard`) of run `run` in `dirs`, for a merge: every shard of the plan must be there; files of
 * other runs are an error that says how those runs differ (from their headers' `about`). Files are checked against
 * their checksums when read.
 */
export async function openShardFiles(dirs: readonly string[], run: string, shards: number, about: Record<string, unknown>): Promise<{ read(shard: number): Promise<ShardOutput> }> {
  const files = new Map<number, string>();
  const others = new Map<string, { file: string; about?: Record<string, unknown> }>();
  let seen = 0;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      throw new UnitAttackError('UA_INPUT', `cannot read the shard folder '${dir}': ${(err as Error).message}`, { file: dir, hint: 'name the --out folders of `unit-attack dissect --shard i/N`' });
    }
    for (const n of names.filter((x) => x.endsWith('.shard')).sort()) {
      const file = path.join(dir, n);
      const h = await readShardHeader(file);
      seen++;
      if (h.run !== run || h.shards !== shards) {
        if (!others.has(h.run)) others.set(h.run, { file, ...(h.about ? { about: h.about } : {}) });
        continue;
      }
      if (!files.has(h.shard)) files.set(h.shard, file);
    }
  }
  if (seen === 0) {
    throw new UnitAttackError('UA_INPUT', `no shard files (*.shard) in ${dirs.map((d) => `'${d}'`).join(', ')}`, { hint: 'write them with `unit-attack dissect … --shard i/N --out DIR`, then merge those folders' });
  }
  if (others.size > 0) {
    const [otherRun, o] = [...others][0];
    const diff = aboutDifferences(about, o.about);
    throw new UnitAttackError('UA_INPUT', `the shard files hold more than one dissection: '${o.file}' is of run ${otherRun}, not ${run}`
      + (diff.length ? ` (${diff.join('; ')})` : ''), { file: o.file, hint: 'merge the folders of one dissection only: every --shard job of it with the same model, probe, layer and options' });
  }
  const missing = Array.from({ length: shards }, (_, s) => s).filter((s) => !files.has(s));
  if (missing.length > 0) {
    const list = missing.length > 12 ? `${missing.slice(0, 12).map((s) => s + 1).join(', ')} … (${missing.length} in all)` : missing.map((s) => s + 1).join(', ');
    throw new UnitAttackError('UA_INPUT', `${missing.length} of the ${shards} shards are missing: ${list}`, {
      hint: 'run the --shard i/N jobs that hold them (each part i of N holds a contiguous block of shards; `dissect --shard` says which), then merge again',
    });
  }
  return {
    async read(shard) {
      const file = files.get(shard)!;
      return decodeShard(await fs.readFile(file), file, { run, shard, shards }).out;
    },
  };
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Journals of this process still in progress (each left on disk for a resume when the process ends early). */
const active = new Set<ShardJournal>();

/**
 * Sentences about the dissections this process leaves unfinished (how many shards each kept, and where), for the CLI
 * to print when it exits early.
 */
export function unfinishedJournals(): string[] {
  return [...active].filter((j) => j.written > 0).map((j) =>
    `${j.written + j.resumed} of ${j.shards} shards of the dissection are kept in '${j.dir}'; the same command resumes from there`);
}

/**
 * The shard files of one dissection in progress, in `dir`: written as each shard finishes (to a temporary name,
 * flushed, then renamed, so a file is whole or absent), read back by a later run of the same dissection, and deleted
 * when the atlas is done.
 */
export class ShardJournal {
  /** Shards this run wrote, and shards it read back from an earlier run. */
  written = 0;
  resumed = 0;

  private constructor(readonly dir: string, readonly run: string, readonly shards: number) {
    active.add(this);
  }

  /**
   * The journal of run `run` (its `shards` shards) in `dir`. Temporary files of processes that stopped while writing
   * a shard are deleted; those of a process still running (the same dissection at the same time) are left.
   */
  static async open(dir: string, run: string, shards: number): Promise<ShardJournal> {
    let names: string[] = [];
    try { names = await fs.readdir(dir); } catch { /* no earlier run */ }
    for (const n of names) {
      const m = /\.tmp-(\d+)-\w+$/.exec(n);
      if (m && !processAlive(Number(m[1]))) await fs.rm(path.join(dir, n), { force: true }).catch(() => undefined);
    }
    return new ShardJournal(dir, run, shards);
  }

  file(shard: number): string {
    return path.join(this.dir, `shard-${String(shard).padStart(5, '0')}-of-${this.shards}.bin`);
  }

  /** Shard `shard` from an earlier run, or `undefined` (no file, or one that does not check out: it is deleted). */
  async read(shard: number): Promise<ShardOutput | undefined> {
    const file = this.file(shard);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch {
      return undefined;
    }
    try {
      const { out } = decodeShard(bytes, file, { run: this.run, shard, shards: this.shards });
      this.resumed++;
      return out;
    } catch {
      await fs.rm(file, { force: true });
      return undefined;
    }
  }

  /**
   * Keeps shard `shard`. A journal that cannot be written is not an error: the dissection goes on, it only cannot
   * resume (answers false then).
   */
  async write(shard: number, out: ShardOutput): Promise<boolean> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
      await writeAtomic(this.file(shard), encodeShard(out, this.run, shard, this.shards));
      this.written++;
      return true;
    } catch {
      return false;
    }
  }

  /** Deletes the shard files (the atlas is done). */
  async clear(): Promise<void> {
    active.delete(this);
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
