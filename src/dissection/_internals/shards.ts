/**
 * Dissection's passes over the probe set cut into fixed shards (a few batches each), so that they can run on the
 * workers of a pool or one after another on this thread with the same result:
 *
 * - pass 1 ({@link tallyShard}): a shard's images through the model; each unit's upsampled values go into fresh
 *   quantile sketches seeded for that shard; the shard answers its serialized sketches and the raw activations.
 *   The caller merges the sketches shard after shard in shard order ({@link mergeShardSketches}), so the thresholds
 *   do not depend on how many workers ran the shards;
 * - pass 2 ({@link tallyIouBatch}): one stored batch's IoU counts, which add up exactly in any order.
 */
import * as tf from '../../tf.js';
import type { Classifier } from '../../models/types.js';
import { IouTally, LevelTally, type LevelCounts } from '../iou.js';
import { probeBatches, type ProbeSet } from '../probe.js';
import { QuantileSketch } from '../quantile.js';
import { upsampleActivations } from '../upsample.js';
import type { SketchBank } from './sketch-bank.js';

/** Batches per shard of pass 1. */
export const SHARD_BATCHES = 4;

/** The probe indices `0 … count−1` cut into shards of `batchSize · SHARD_BATCHES` images. */
export function shardIndices(count: number, batchSize: number): number[][] {
  const size = batchSize * SHARD_BATCHES;
  const out: number[][] = [];
  for (let a = 0; a < count; a += size) out.push(Array.from({ length: Math.min(size, count - a) }, (_, i) => a + i));
  return out;
}

/** The seeds of shard `shard`'s sketches, one per unit. */
export function shardSeeds(seed: number, shard: number, units: number): number[] {
  return Array.from({ length: units }, (_, u) => ((seed * 1000003 + u) ^ Math.imul(shard + 1, 0x9e3779b1)) | 0);
}

/** What pass 1 of one shard needs besides the model and the probe set. */
export interface ShardInput {
  /** The probe set's spec (workers open it themselves). */
  probe: string;
  indices: number[];
  layer: string;
  labelSize: [number, number];
  batchSize: number;
  sketchK: number;
  seeds: number[];
}

/** What pass 1 of one shard answers. */
export interface ShardOutput {
  /** One serialized sketch per unit. */
  sketches: Uint8Array[];
  /** Raw activations `[count, h, w, C]` of the images read, in probe order. */
  acts: Float32Array;
  /** Label maps `[count, planes, labelH, labelW]`. */
  labels: Uint16Array;
  indices: number[];
  ids: string[];
  /** Class index in the probe set per image (−1: none); `null` when the set has no classes. */
  classIndex: Int32Array | null;
  /** Corrupt images skipped: `[id, reason]`. */
  skipped: Array<[string, string]>;
}

/** One batch of pass 1: a layer's activations and the label maps of the same images. */
export interface LayerBatch {
  /** Raw activations `[n, h, w, C]`; {@link tallyBatches} disposes it. */
  acts: tf.Tensor4D;
  /** Label maps `[n, planes, labelH, labelW]`. */
  labels: Uint16Array;
  indices: number[];
  ids: string[];
  /** Class index per image, when the source has classes. */
  classIndex?: ArrayLike<number>;
}

/**
 * Pass 1 over one shard. `bank` must hold fresh sketches seeded with `input.seeds`; it is left holding the shard's
 * values. `onBatch` hears the number of images of each batch done.
 */
export async function tallyShard(
  classifier: Classifier, probe: ProbeSet, input: ShardInput, bank: SketchBank, onBatch?: (images: number) => void,
): Promise<ShardOutput> {
  const [H, W] = classifier.inputSize;
  const skipped: Array<[string, string]> = [];
  async function* batches(): AsyncGenerator<LayerBatch> {
    for await (const batch of probeBatches(probe, {
      batchSize: input.batchSize, labelSize: input.labelSize, indices: input.indices,
      onSkip: (id, reason) => { skipped.push([id, reason]); },
    })) {
      const x = tf.tensor4d(batch.images, [batch.count, H, W, 3]);
      let acts: tf.Tensor4D;
      try {
        acts = tf.tidy(() => classifier.activations(x, input.layer) as tf.Tensor4D);
      } finally {
        x.dispose();
      }
      yield { acts, labels: batch.labels, indices: batch.indices, ids: batch.ids, ...(batch.classIndex ? { classIndex: batch.classIndex } : {}) };
    }
  }
  const out = await tallyBatches(batches(), input.labelSize, bank, onBatch, probe.classNames !== undefined);
  return { ...out, skipped };
}

/**
 * Pass 1 over any source of batches (a classifier on a probe set, a generator on its latents): each unit's upsampled
 * values go to `bank`; the raw activations and label maps are gathered for the caller to store.
 */
export async function tallyBatches(
  batches: AsyncIterable<LayerBatch>, labelSize: readonly [number, number], bank: SketchBank, onBatch?: (images: number) => void, withClasses = false,
): Promise<ShardOutput> {
  const lp = labelSize[0] * labelSize[1];
  const acts: Float32Array[] = []; const labels: Uint16Array[] = [];
  const indices: number[] = []; const ids: string[] = []; const classIndex: number[] = [];
  for await (const batch of batches) {
    const a = batch.acts;
    const n = a.shape[0];
    let raw: Float32Array; let up: Float32Array;
    try {
      const upT = tf.tidy(() => tf.transpose(upsampleActivations(a, labelSize), [3, 0, 1, 2]));
      try {
        [raw, up] = (await Promise.all([a.data(), upT.data()])) as [Float32Array, Float32Array];
      } finally {
        upT.dispose();
      }
    } finally {
      a.dispose();
    }
    await bank.update(up, n * lp); // may transfer `up` to the sketch worker: not used below
    acts.push(raw); labels.push(batch.labels);
    indices.push(...batch.indices); ids.push(...batch.ids);
    if (batch.classIndex) classIndex.push(...Array.from(batch.classIndex));
    onBatch?.(n);
  }
  return {
    sketches: await bank.serialize(), acts: concat(acts, Float32Array), labels: concat(labels, Uint16Array), indices, ids,
    classIndex: withClasses ? Int32Array.from(classIndex) : null, skipped: [],
  };
}

function concat<T extends Float32Array | Uint16Array>(parts: T[], Ctor: { new (n: number): T }): T {
  const out = new Ctor(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** The buffers of a {@link ShardOutput} to move rather than copy across threads. */
export function shardTransfer(out: ShardOutput): ArrayBuffer[] {
  return [out.acts.buffer as ArrayBuffer, out.labels.buffer as ArrayBuffer, ...out.sketches.map((s) => s.buffer as ArrayBuffer)];
}

/** Merges one shard's serialized sketches into `totals` (created from the first shard). */
export function mergeShardSketches(totals: QuantileSketch[] | undefined, shard: readonly Uint8Array[]): QuantileSketch[] {
  if (!totals) return shard.map((b) => QuantileSketch.deserialize(b));
  shard.forEach((b, u) => totals[u].merge(QuantileSketch.deserialize(b)));
  return totals;
}

/** What pass 2 of one stored batch needs. */
export interface IouInput {
  acts: Float32Array;
  labels: Uint16Array;
  count: number;
  layerShape: [number, number, number];
  labelSize: [number, number];
  planes: number;
  thresholds: Float32Array;
  labelValues: number;
  /** With the IQR threshold: `[C, G]` levels per unit for a {@link LevelTally} as well. */
  levels?: Float32Array;
  grid?: number;
}

/** The IoU counts of one batch, as plain data. */
export interface IouCounts {
  activeCount: Float64Array; labelCount: Float64Array; intersection: Float64Array; pixels: number;
  /** The {@link LevelTally} counts, with levels. */
  levels?: LevelCounts;
}

/** Pass 2 of one stored batch: upsample, threshold and count. */
export async function tallyIouBatch(input: IouInput): Promise<IouCounts> {
  const [h, w, C] = input.layerShape;
  const upT = tf.tidy(() => tf.transpose(upsampleActivations(tf.tensor4d(input.acts, [input.count, h, w, C]), input.labelSize), [3, 0, 1, 2]));
  let up: Float32Array;
  try {
    up = (await upT.data()) as Float32Array;
  } finally {
    upT.dispose();
  }
  const lp = input.labelSize[0] * input.labelSize[1];
  const tally = new IouTally(C, input.labelValues);
  tally.add(up, input.thresholds, input.labels, input.count, input.planes, lp);
  let levels: LevelCounts | undefined;
  if (input.levels && input.grid) {
    const lt = new LevelTally(C, input.labelValues, input.levels, input.grid);
    lt.add(up, input.labels, input.count, input.planes, lp);
    levels = lt.counts();
  }
  return { activeCount: tally.activeCount, labelCount: tally.labelCount, intersection: tally.intersection, pixels: tally.pixels, ...(levels ? { levels } : {}) };
}

/** The buffers of {@link IouCounts} to move rather than copy across threads. */
export function iouTransfer(c: IouCounts): ArrayBuffer[] {
  const b = [c.activeCount, c.labelCount, c.intersection, ...(c.levels ? [c.levels.bins, c.levels.binInter, c.levels.labelCount] : [])];
  return b.map((x) => x.buffer as ArrayBuffer);
}

/** Adds a batch's counts to `tally` (and its level counts to `levels`). */
export function addIouCounts(tally: IouTally, c: IouCounts, levels?: LevelTally): void {
  if (levels && c.levels) levels.addCounts(c.levels);
  const part = new IouTally(tally.units, tally.labelValues);
  part.activeCount.set(c.activeCount); part.labelCount.set(c.labelCount); part.intersection.set(c.intersection);
  part.pixels = c.pixels;
  tally.merge(part);
}
