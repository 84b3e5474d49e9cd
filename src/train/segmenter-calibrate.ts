/**
 * Calibration of a trained segmenter's decision: one offset per output channel, added to the logits before each
 * category's argmax, fitted to maximise the pooled IoU of the category's concepts on scenes the run never trained on.
 * A network trained with class-balanced weights over-predicts rare concepts (high recall, low precision); shifting
 * their logits trades the two back for IoU. The offsets are folded into the bias of the network's last convolution
 * (the head), so the calibrated segmenter is an ordinary model: same architecture, same file format.
 */
import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import { segmenterChannels, type SegmenterCategory } from '../segment/net.js';
import { segmenterBatch } from './segmenter-batch.js';

/** Options of {@link fitLogitOffsets}. */
export interface FitOffsetsOptions {
  /** Candidate changes of an offset in one move. @defaultValue −3 … 3 in steps of 0.25 */
  grid?: readonly number[];
  /** Passes over the channels. @defaultValue 3 */
  sweeps?: number;
  /** Concepts with fewer true pixels than this do not count in the objective (their IoU is noise). @defaultValue 20 */
  minPixels?: number;
}

/** The result of {@link fitLogitOffsets} for one category. */
export interface CategoryOffsets {
  /** One offset per channel; channel 0 ("none") stays 0. */
  offsets: number[];
  /** Σ pooled IoU over the counted concepts, before and after. */
  before: number;
  after: number;
  /** How many concepts count in the objective. */
  counted: number;
}

const DEFAULT_GRID = Array.from({ length: 25 }, (_, i) => -3 + i * 0.25).filter((d) => d !== 0);

/**
 * Fits one offset per channel of a category by coordinate ascent: `logits` holds `pixels × depth` values (pixel-major),
 * `truth` each pixel's true channel. The objective is the sum over concepts (channels ≥ 1 with at least `minPixels`
 * true pixels) of the pooled IoU of `argmax(logits + offsets)` (the first largest on ties, as tf.argMax); a move is
 * kept only when it raises the objective, so the result is never worse than no offsets on these pixels.
 */
export function fitLogitOffsets(logits: Float32Array, truth: Int32Array, depth: number, options: FitOffsetsOptions = {}): CategoryOffsets {
  const P = truth.length;
  if (logits.length !== P * depth) throw usageError(`fitLogitOffsets: ${logits.length} logits is not ${P} pixels × ${depth} channels`, { path: 'logits' });
  const grid = options.grid ?? DEFAULT_GRID;
  const sweeps = options.sweeps ?? 3;
  const minPixels = options.minPixels ?? 20;
  const b = new Float64Array(depth);
  const truthCount = new Float64Array(depth);
  for (let p = 0; p < P; p++) truthCount[truth[p]]++;
  const counted = Array.from({ length: depth }, (_, j) => j >= 1 && truthCount[j] >= minPixels);
  const pred = new Int32Array(P);
  const inter = new Float64Array(depth);
  const predCount = new Float64Array(depth);
  const predictAll = (): void => {
    inter.fill(0); predCount.fill(0);
    for (let p = 0; p < P; p++) {
      const o = p * depth;
      let best = 0; let top = logits[o] + b[0];
      for (let j = 1; j < depth; j++) { const v = logits[o + j] + b[j]; if (v > top) { top = v; best = j; } }
      pred[p] = best; predCount[best]++;
      if (truth[p] === best) inter[best]++;
    }
  };
  const objective = (I: Float64Array, Pc: Float64Array): number => {
    let s = 0;
    for (let j = 1; j < depth; j++) if (counted[j]) s += I[j] / (truthCount[j] + Pc[j] - I[j]);
    return s;
  };
  predictAll();
  const before = objective(inter, predCount);
  let current = before;
  const range = Math.max(...grid.map(Math.abs));
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let moved = false;
    for (let j = 1; j < depth; j++) {
      // Pixels that a move of at most ±range can flip into or out of j, with the margin that decides it, and the
      // channel they come from (into j) or go to (out of j), taking ties as argmax does (lower index first).
      const into: Array<[number, number, number]> = []; // [pixel, margin needed (δ must exceed it, or reach it when j wins ties), from]
      const out: Array<[number, number, number]> = []; // [pixel, margin, to]
      for (let p = 0; p < P; p++) {
        const o = p * depth;
        const zj = logits[o + j] + b[j];
        if (pred[p] !== j) {
          const k = pred[p];
          const gap = logits[o + k] + b[k] - zj;
          if (gap <= range) into.push([p, gap, k]);
        } else {
          let second = -1; let top = -Infinity;
          for (let c = 0; c < depth; c++) { if (c === j) continue; const v = logits[o + c] + b[c]; if (v > top) { top = v; second = c; } }
          const gap = zj - top;
          if (gap <= range) out.push([p, gap, second]);
        }
      }
      let bestDelta = 0; let bestValue = current;
      const I = new Float64Array(depth); const Pc = new Float64Array(depth);
      for (const d of grid) {
        I.set(inter); Pc.set(predCount);
        if (d > 0) {
          for (const [p, gap, k] of into) {
            // After the move j's score exceeds k's by d − gap; j wins when strictly larger, or on a tie when j < k.
            if (d - gap > 0 || (d - gap === 0 && j < k)) {
              Pc[k]--; Pc[j]++;
              if (truth[p] === k) I[k]--;
              if (truth[p] === j) I[j]++;
            }
          }
        } else {
          for (const [p, gap, k] of out) {
            if (gap + d < 0 || (gap + d === 0 && k < j)) {
              Pc[j]--; Pc[k]++;
              if (truth[p] === j) I[j]--;
              if (truth[p] === k) I[k]++;
            }
          }
        }
        const v = objective(I, Pc);
        if (v > bestValue + 1e-12) { bestValue = v; bestDelta = d; }
      }
      if (bestDelta !== 0) {
        b[j] += bestDelta;
        predictAll();
        current = objective(inter, predCount);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return { offsets: Array.from(b), before, after: current, counted: counted.filter(Boolean).length };
}

/** Options of {@link calibrateSegmenter}. */
export interface CalibrateSegmenterOptions extends FitOffsetsOptions {
  categories: readonly SegmenterCategory[];
  /** Dataset seed and first scene index of the calibration scenes (scenes the run never trained on). */
  datasetSeed: number;
  from: number;
  count: number;
  size: number;
  classes: readonly string[];
  /** Every `stride`-th pixel in each direction is kept (memory: count × (size/stride)² × channels floats). @defaultValue 2 */
  stride?: number;
  /** The layer whose bias takes the offsets: the last convolution before the (linear) upsampling. @defaultValue 'head' */
  layer?: string;
}

/** What {@link calibrateSegmenter} did, per category. */
export interface SegmenterCalibration {
  scenes: { datasetSeed: number; from: number; count: number; size: number; stride: number };
  categories: Array<{ name: string } & CategoryOffsets>;
}

/**
 * Fits per-channel logit offsets on un-augmented scenes `[from, from + count)` of `datasetSeed` and adds them to the
 * bias of `layer` (whose output, up to a linear upsampling, is the logits). Changes `model` in place.
 */
export async function calibrateSegmenter(model: tf.LayersModel, options: CalibrateSegmenterOptions): Promise<SegmenterCalibration> {
  const { categories, size, count } = options;
  const stride = options.stride ?? 2;
  const layer = model.getLayer(options.layer ?? 'head');
  const weights = layer.getWeights();
  const channels = segmenterChannels(categories);
  if (weights.length !== 2 || weights[1].shape.length !== 1 || weights[1].shape[0] !== channels) {
    throw usageError(`calibrate: layer '${layer.name}' has no bias of ${channels} channels to take the offsets`, { path: 'layer' });
  }
  const side = Math.ceil(size / stride);
  const per = side * side;
  const logits = categories.map((c) => new Float32Array(count * per * (c.concepts.length + 1)));
  const truth = categories.map(() => new Int32Array(count * per));
  const planes = categories.length;
  const batch = 25;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const data = segmenterBatch(options.datasetSeed, options.from + start, n, size, { classes: options.classes, categories, augment: false });
    const y = tf.tidy(() => model.predict(tf.tensor4d(data.images, [n, size, size, 3])) as tf.Tensor4D);
    const v = await y.data();
    y.dispose();
    for (let i = 0; i < n; i++) {
      let q = (start + i) * per;
      for (let r = 0; r < size; r += stride) {
        for (let c = 0; c < size; c += stride, q++) {
          let off = ((i * size + r) * size + c) * channels;
          categories.forEach((cat, k) => {
            const d = cat.concepts.length + 1;
            logits[k].set(v.subarray(off, off + d), q * d);
            truth[k][q] = data.targets[((i * planes + k) * size + r) * size + c];
            off += d;
          });
        }
      }
    }
  }
  const fitted = categories.map((cat, k) => ({ name: cat.name, ...fitLogitOffsets(logits[k], truth[k], cat.concepts.length + 1, options) }));
  const bias = await weights[1].data();
  const next = Float32Array.from(bias);
  let off = 0;
  for (const f of fitted) { f.offsets.forEach((o, j) => { next[off + j] += o; }); off += f.offsets.length; }
  const nb = tf.tensor1d(next);
  layer.setWeights([weights[0], nb]);
  nb.dispose();
  return { scenes: { datasetSeed: options.datasetSeed, from: options.from, count, size, stride }, categories: fitted };
}
