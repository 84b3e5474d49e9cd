/**
 * GAN training checkpoints: every tensor of the run (generator, its moving average, discriminator, spectral-norm
 * vectors, both optimisers' moments and step counts) in one binary file with a JSON manifest, plus `state.json`
 * (step, time, options, loss history). A checkpoint is written into a fresh folder that then replaces the previous one
 * by renames, so a crash leaves either the old checkpoint or the new one, never a mix.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { UnitAttackError } from '../errors.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';

/** A tensor with a name, as optimisers save them. */
export interface NamedTensor { name: string; tensor: tf.Tensor }

/** A named tensor of a checkpoint. */
interface Entry { name: string; shape: number[]; dtype: 'float32' | 'int32' }

/** What a checkpoint holds besides `state.json`. */
export interface GanCheckpointTensors {
  generator: tf.Tensor[];
  ema: tf.Tensor[];
  discriminator: tf.Tensor[];
  spectral: tf.Tensor[];
  generatorOptimizer: NamedTensor[];
  discriminatorOptimizer: NamedTensor[];
}

const GROUPS = ['generator', 'ema', 'discriminator', 'spectral', 'generatorOptimizer', 'discriminatorOptimizer'] as const;

/** The checkpoint folder of a run folder, and the names its replacement passes through. */
export function checkpointPaths(out: string): { dir: string; old: string; tmp: string } {
  return { dir: path.join(out, 'checkpoint'), old: path.join(out, 'checkpoint.old'), tmp: path.join(out, `checkpoint.tmp-${process.pid}`) };
}

/** Writes a checkpoint of `tensors` and `state` into `out/checkpoint`, replacing the previous one atomically. */
export async function writeGanCheckpoint(out: string, tensors: GanCheckpointTensors, state: object): Promise<void> {
  const { dir, old, tmp } = checkpointPaths(out);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  const manifest: Record<string, Entry[]> = {};
  const chunks: Buffer[] = [];
  for (const group of GROUPS) {
    const list = tensors[group];
    manifest[group] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      const t = item instanceof tf.Tensor ? item : item.tensor;
      const name = item instanceof tf.Tensor ? String(i) : item.name;
      const data = await t.data() as Float32Array | Int32Array;
      manifest[group].push({ name, shape: t.shape, dtype: t.dtype === 'int32' ? 'int32' : 'float32' });
      chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
  }
  await writeAtomic(path.join(tmp, 'tensors.bin'), Buffer.concat(chunks));
  await writeJsonAtomic(path.join(tmp, 'tensors.json'), manifest);
  await writeJsonAtomic(path.join(tmp, 'state.json'), state);
  try {
    await fs.rm(old, { recursive: true, force: true });
    if (existsSync(dir)) await fs.rename(dir, old);
    await fs.rename(tmp, dir);
    await fs.rm(old, { recursive: true, force: true });
  } catch (err) {
    throw new UnitAttackError('UA_IO', `cannot put the checkpoint in place at '${dir}': ${(err as Error).message}`, { file: dir, cause: err });
  }
}

/** The folder of the newest whole checkpoint of a run folder (a crash between the renames leaves `checkpoint.old`). */
export function findGanCheckpoint(out: string): string | undefined {
  const { dir, old } = checkpointPaths(out);
  if (existsSync(path.join(dir, 'state.json'))) return dir;
  if (existsSync(path.join(old, 'state.json'))) return old;
  return undefined;
}

/** Reads a checkpoint folder: its state and its tensors (the caller disposes them). */
export async function readGanCheckpoint<S>(dir: string): Promise<{ state: S; tensors: GanCheckpointTensors }> {
  const state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as S;
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'tensors.json'), 'utf8')) as Record<string, Entry[]>;
  const bin = await fs.readFile(path.join(dir, 'tensors.bin'));
  const bytes = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  let off = 0;
  const read = (e: Entry): tf.Tensor => {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const values = e.dtype === 'int32' ? new Int32Array(bytes, off, n) : new Float32Array(bytes, off, n);
    off += n * 4;
    return tf.tensor(values, e.shape, e.dtype);
  };
  const plain = (g: string): tf.Tensor[] => (manifest[g] ?? []).map(read);
  const named = (g: string): NamedTensor[] => (manifest[g] ?? []).map((e) => ({ name: e.name, tensor: read(e) }));
  const tensors: GanCheckpointTensors = {
    generator: plain('generator'), ema: plain('ema'), discriminator: plain('discriminator'), spectral: plain('spectral'),
    generatorOptimizer: named('generatorOptimizer'), discriminatorOptimizer: named('discriminatorOptimizer'),
  };
  if (off !== bytes.byteLength) {
    tf.dispose([...tensors.generator, ...tensors.ema, ...tensors.discriminator, ...tensors.spectral,
      ...tensors.generatorOptimizer.map((t) => t.tensor), ...tensors.discriminatorOptimizer.map((t) => t.tensor)]);
    throw new UnitAttackError('UA_INPUT', `the checkpoint in '${dir}' is damaged: tensors.bin has ${bytes.byteLength} bytes, its manifest ${off}`, {
      file: dir, hint: 'start over with another --out, or --no-resume',
    });
  }
  return { state, tensors };
}
