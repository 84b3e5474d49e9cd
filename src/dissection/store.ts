/**
 * A temporary file of pass-1 results: each batch's raw layer activations (small: e.g. 6×6×128 floats per image) and
 * label maps, appended in order and read back in pass 2 and for class importance. Keeping them on disk instead of in
 * memory keeps peak memory flat as the probe set grows.
 */
import { promises as fs, readdirSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UnitAttackError } from '../errors.js';

/** One stored batch. */
export interface StoredBatch {
  /** Raw activations `[count, h, w, C]`. */
  acts: Float32Array;
  /** Label maps `[count, planes, labelH, labelW]`. */
  labels: Uint16Array;
  /** Probe indices. */
  indices: number[];
  count: number;
}

interface Entry { offset: number; count: number; indices: number[]; actBytes: number; labelBytes: number }

const PREFIX = 'unit-attack-acts-';

/** Activation files this thread has open, and the folders it made them in. */
const openFiles = new Set<string>();
const usedDirs = new Set<string>();
let exitHookInstalled = false;

/** Deletes this thread's open activation files; runs on `exit` (also emitted after an uncaught exception). */
function removeOpenFiles(): void {
  for (const f of openFiles) rmSync(f, { force: true });
  openFiles.clear();
}

/**
 * Deletes every activation file of this process (`unit-attack-acts-<pid>-…`, worker threads' included: they share
 * the process id) in the temp folder and the folders used, synchronously. For the main thread's exit hook only
 * (the CLI installs it): a worker calling it would delete files the main thread still uses.
 */
export function removeProcessActivationFiles(): void {
  const mine = `${PREFIX}${process.pid}-`;
  for (const dir of new Set([os.tmpdir(), ...usedDirs])) {
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const n of names) if (n.startsWith(mine)) rmSync(path.join(dir, n), { force: true });
  }
}

/** True when a process with this id runs on this machine. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes activation files left in `dir` by processes that no longer run (killed with SIGKILL, or a machine that
 * lost power). Answers how many it removed.
 */
export async function removeStaleActivationFiles(dir: string = os.tmpdir()): Promise<number> {
  let names: string[];
  try { names = await fs.readdir(dir); } catch { return 0; }
  let removed = 0;
  for (const n of names) {
    const m = n.startsWith(PREFIX) ? /^(\d+)-/.exec(n.slice(PREFIX.length)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    await fs.rm(path.join(dir, n), { force: true }).then(() => { removed++; }, () => undefined);
  }
  return removed;
}

/** An append-then-read file of activation batches, deleted by {@link ActivationStore.close}. */
export class ActivationStore {
  private readonly entries: Entry[] = [];
  private size = 0;

  private constructor(readonly file: string, private readonly fh: FileHandle, readonly actsPerImage: number, readonly labelsPerImage: number) {}

  /** Creates the file in `dir` (default: the OS temp folder). */
  static async create(actsPerImage: number, labelsPerImage: number, dir: string = os.tmpdir()): Promise<ActivationStore> {
    await removeStaleActivationFiles(dir);
    usedDirs.add(path.resolve(dir));
    if (!exitHookInstalled) {
      process.on('exit', removeOpenFiles);
      exitHookInstalled = true;
    }
    const file = path.join(dir, `${PREFIX}${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.bin`);
    try {
      const fh = await fs.open(file, 'w+');
      openFiles.add(file);
      return new ActivationStore(file, fh, actsPerImage, labelsPerImage);
    } catch (err) {
      throw new UnitAttackError('UA_IO', `cannot create the temporary file '${file}': ${(err as Error).message}`, {
        file, cause: err, hint: 'set the temporary folder with the tmpDir option (or TMPDIR)',
      });
    }
  }

  /** Number of images stored. */
  get images(): number {
    return this.entries.reduce((a, e) => a + e.count, 0);
  }

  /** Bytes written. */
  get bytes(): number {
    return this.size;
  }

  async append(acts: Float32Array, labels: Uint16Array, indices: readonly number[]): Promise<void> {
    const count = indices.length;
    if (acts.length !== count * this.actsPerImage || labels.length !== count * this.labelsPerImage) {
      throw new UnitAttackError('UA_INTERNAL', 'a stored batch has the wrong size');
    }
    const actBytes = acts.byteLength;
    const labelBytes = labels.byteLength;
    const padded = actBytes + labelBytes + ((4 - (labelBytes % 4)) % 4);
    const offset = this.size;
    await this.write(new Uint8Array(acts.buffer, acts.byteOffset, actBytes), offset);
    await this.write(new Uint8Array(labels.buffer, labels.byteOffset, labelBytes), offset + actBytes);
    this.entries.push({ offset, count, indices: [...indices], actBytes, labelBytes });
    this.size += padded;
  }

  /** Reads the batches back in the order they were written. */
  async *batches(): AsyncGenerator<StoredBatch> {
    for (const e of this.entries) {
      const buf = new ArrayBuffer(e.actBytes + e.labelBytes + ((4 - (e.labelBytes % 4)) % 4));
      await this.read(new Uint8Array(buf), e.offset);
      yield {
        acts: new Float32Array(buf, 0, e.actBytes / 4),
        labels: new Uint16Array(buf, e.actBytes, e.labelBytes / 2),
        indices: e.indices, count: e.count,
      };
    }
  }

  /**
   * Reads the activations of the images whose probe index passes `keep`, regrouped into chunks of up to
   * `chunkSize` images.
   */
  async *chunks(keep: (index: number) => boolean, chunkSize: number): AsyncGenerator<{ acts: Float32Array; indices: number[] }> {
    const per = this.actsPerImage;
    let acts = new Float32Array(chunkSize * per);
    let indices: number[] = [];
    for await (const b of this.batches()) {
      for (let i = 0; i < b.count; i++) {
        if (!keep(b.indices[i])) continue;
        acts.set(b.acts.subarray(i * per, (i + 1) * per), indices.length * per);
        indices.push(b.indices[i]);
        if (indices.length === chunkSize) {
          yield { acts, indices };
          acts = new Float32Array(chunkSize * per);
          indices = [];
        }
      }
    }
    if (indices.length > 0) yield { acts: acts.subarray(0, indices.length * per), indices };
  }

  /** Closes and deletes the file. */
  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.file, { force: true });
    openFiles.delete(this.file);
  }

  private async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < data.byteLength) {
        const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, position + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw new UnitAttackError('UA_IO', `cannot write the temporary file '${this.file}': ${(err as Error).message}`, { file: this.file, cause: err });
    }
  }

  private async read(into: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < into.byteLength) {
      const { bytesRead } = await this.fh.read(into, done, into.byteLength - done, position + done);
      if (bytesRead === 0) throw new UnitAttackError('UA_IO', `the temporary file '${this.file}' ended early`, { file: this.file });
      done += bytesRead;
    }
  }
}
