/**
 * Class importance of units, as in the PNAS paper: zero one unit at a time and rank the units of each class by how
 * much that hurts the class; then ablate a class's top-N units (or keep only them) and measure accuracy.
 *
 * The layer's activations are computed once; every edited pass runs only the rest of the network, from the layer
 * on (`run(null, { overrides })`), with many edits stacked along the batch axis. Inside `withPool` with a pool on
 * the classifier, the chunks of images go to the pool's workers, with the same result.
 */
import * as tf from '../tf.js';
import { poolFor, runOrdered } from '../parallel/executor.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';

/**
 * How a unit's importance to a class is measured on images of that class:
 * `logprob` — mean drop of the class's log-probability when the unit is zeroed (default; ranks well even on a
 * confident model, where single ablations rarely flip a prediction); `accuracy` — drop of accuracy (the PNAS code),
 * ties broken by the log-probability drop.
 */
export type ImportanceMetric = 'logprob' | 'accuracy';

/** Activations of the layer for some images, with their classes (indices into the classifier's classes). */
export interface ActivationChunk {
  /** `[n, ...layerShape]`, row-major. */
  acts: Float32Array;
  labels: Int32Array;
  n: number;
}

/** Something that can be read several times as activation chunks (e.g. a file on disk). */
export type ChunkSource = () => AsyncIterable<ActivationChunk>;

/** Units ranked for one class. */
export interface ClassImportance {
  /** Units, most important first. */
  ranking: number[];
  /** Mean drop of the metric for `ranking[i]`, same order. */
  drops: number[];
  /** Images of the class the ranking was measured on. */
  count: number;
}

/** Accuracy as more of a class's top units are ablated (or kept alone). */
export interface AblationCurve {
  /** 1 … topN. */
  N: number[];
  /** Accuracy on the class with its top-N units zeroed. */
  ablateAccuracy: number[];
  /** Accuracy on the class with every unit but its top-N zeroed. */
  keepAccuracy: number[];
  /** Mean accuracy of the other classes (per class, then averaged) with the class's top-N units zeroed. */
  othersAccuracy: number[];
  /** Accuracy on the class with no edit. */
  baseAccuracy: number;
  /** Mean accuracy of the other classes with no edit. */
  baseOthersAccuracy: number;
  /** Held-out images of the class. */
  count: number;
}

/** Options for {@link rankUnits}. */
export interface RankUnitsOptions {
  /** @defaultValue `logprob` */
  metric?: ImportanceMetric;
  /** Largest number of activation values stacked into one pass. @defaultValue 4 194 304 */
  maxElements?: number;
  /** Called after each chunk with images done. */
  onProgress?: (done: number) => void;
}

/** Options for {@link ablationCurves}. */
export interface AblationOptions {
  /** Largest N. @defaultValue 20 (at most the number of units) */
  topN?: number;
  /** @defaultValue 4 194 304 */
  maxElements?: number;
  /** Called after each chunk with images done. */
  onProgress?: (done: number) => void;
}

const DEFAULT_MAX_ELEMENTS = 1 << 22;

/** Shape of a layer's activations per image, values per image, and units (channels). */
export interface LayerGeom { shape: number[]; per: number; units: number }

export function layerGeom(classifier: Classifier, layer: string): LayerGeom {
  const info = classifier.layer(layer);
  const per = info.shape.reduce((a, b) => a * b, 1);
  return { shape: info.shape, per, units: info.shape[info.shape.length - 1] };
}

/**
 * `G` copies of the activations `acts` (`n` images, channels last), copy g with the units where `masks[g·units + u]`
 * is 0 zeroed. Built in JavaScript: a copy plus a few strided writes per mask is several times faster than a
 * broadcast multiply on the wasm backend.
 */
export function maskedCopies(acts: Float32Array, units: number, masks: Uint8Array, G: number): Float32Array {
  const block = acts.length;
  const out = new Float32Array(G * block);
  for (let g = 0; g < G; g++) {
    const m = masks.subarray(g * units, (g + 1) * units);
    let zeros = 0;
    for (let u = 0; u < units; u++) if (m[u] === 0) zeros++;
    const base = g * block;
    if (zeros * 2 <= units) {
      out.set(acts, base);
      if (zeros > 0) for (let u = 0; u < units; u++) if (m[u] === 0) for (let i = base + u; i < base + block; i += units) out[i] = 0;
    } else {
      for (let u = 0; u < units; u++) if (m[u] !== 0) for (let i = u; i < block; i += units) out[base + i] = acts[i];
    }
  }
  return out;
}

/**
 * Runs the rest of the network from `layer` on `acts` (`n` images) under each of `masks` (`[G, units]`, 1 keeps a
 * unit, 0 zeroes it) and returns, per (mask, image), the log-probability of the image's class and whether the
 * prediction is right.
 */
export async function maskedPass(
  classifier: Classifier, layer: string, geom: LayerGeom, acts: Float32Array, labels: Int32Array, masks: Uint8Array, G: number,
): Promise<{ logp: Float32Array; correct: Uint8Array }> {
  const n = labels.length;
  const K = classifier.classNames.length;
  const rows = maskedCopies(acts, geom.units, masks, G);
  const [lp, pred] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
    const x = tf.tensor(rows, [G * n, ...geom.shape]);
    const logits = classifier.run(null, { overrides: { [layer]: x } }).logits;
    const logsm = tf.logSoftmax(logits);
    const y = tf.tile(tf.tensor1d(labels, 'int32'), [G]);
    const picked = tf.sum(tf.mul(logsm, tf.oneHot(y, K)), 1);
    return [picked, tf.argMax(logits, 1)];
  });
  const [lpv, pv] = await Promise.all([lp.data(), pred.data()]);
  lp.dispose(); pred.dispose();
  const correct = new Uint8Array(G * n);
  for (let g = 0; g < G; g++) for (let i = 0; i < n; i++) correct[g * n + i] = pv[g * n + i] === labels[i] ? 1 : 0;
  return { logp: lpv as Float32Array, correct };
}

export function checkChunk(c: ActivationChunk, geom: LayerGeom, K: number): void {
  if (c.acts.length !== c.n * geom.per || c.labels.length !== c.n) {
    throw usageError(`an activation chunk of ${c.n} images must hold ${c.n}×${geom.per} values and ${c.n} labels`, { path: 'chunks' });
  }
  for (const y of c.labels) if (!(y >= 0 && y < K)) throw usageError(`class index ${y} is out of range 0…${K - 1}`, { path: 'labels' });
}

/**
 * Ranks the units of `layer` for every class that has images in `chunks`, by the mean drop of the metric on
 * images of that class when the unit alone is zeroed.
 *
 * @example
 * const ranks = await rankUnits(clf, 'block5_conv3', () => chunksOf(trainActs, trainLabels));
 * ranks.ski_resort.ranking.slice(0, 8); // the 8 units ski_resort depends on most
 */
export async function rankUnits(classifier: Classifier, layer: string, chunks: ChunkSource, options: RankUnitsOptions = {}): Promise<Record<string, ClassImportance>> {
  const metric = options.metric ?? 'logprob';
  if (metric !== 'logprob' && metric !== 'accuracy') throw usageError(`metric must be 'logprob' or 'accuracy', got '${String(metric)}'`, { path: 'metric' });
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const geom = layerGeom(classifier, layer);
  const K = classifier.classNames.length;
  const U = geom.units;
  const dropSum = new Float64Array(K * U);
  const logpSum = new Float64Array(K * U);
  const count = new Float64Array(K);
  let done = 0;
  // Each chunk's sums are added to the totals in chunk order, so a pool's workers give the same numbers.
  const add = (part: RankChunkSums, c: ActivationChunk): void => {
    for (let i = 0; i < dropSum.length; i++) { dropSum[i] += part.dropSum[i]; logpSum[i] += part.logpSum[i]; }
    for (const y of c.labels) count[y]++;
    done += c.n;
    options.onProgress?.(done);
  };
  const pool = poolFor(classifier);
  const source = nonEmpty(chunks(), geom, K);
  if (pool) {
    await runOrdered(source, pool.size * 2, (c) => pool.run<RankChunkSums>({
      kind: 'importance-rank', input: { layer, chunk: c, metric, maxElements } satisfies RankChunkInput,
      transfer: [c.acts.buffer as ArrayBuffer], label: `class importance on ${c.n} probe images`,
    }), add);
  } else {
    for await (const c of source) add(await rankChunk(classifier, { layer, chunk: c, metric, maxElements }), c);
  }
  const out: Record<string, ClassImportance> = {};
  for (let y = 0; y < K; y++) {
    if (count[y] === 0) continue;
    const mean = Array.from({ length: U }, (_, u) => dropSum[y * U + u] / count[y]);
    // Ties (common with `accuracy`: most single ablations flip no image) go to the larger log-probability drop.
    const tie = Array.from({ length: U }, (_, u) => logpSum[y * U + u]);
    const ranking = mean.map((_, u) => u).sort((a, b) => mean[b] - mean[a] || tie[b] - tie[a] || a - b);
    out[classifier.classNames[y]] = { ranking, drops: ranking.map((u) => mean[u]), count: count[y] };
  }
  return out;
}

/**
 * For each ranked class: accuracy on held-out images as its top-N units are zeroed (and the other classes' mean
 * accuracy), and with only its top-N units kept, for N = 1 … topN.
 */
export async function ablationCurves(
  classifier: Classifier, layer: string, chunks: ChunkSource, rankings: Readonly<Record<string, ClassImportance>>, options: AblationOptions = {},
): Promise<Record<string, AblationCurve>> {
  const geom = layerGeom(classifier, layer);
  const U = geom.units;
  const K = classifier.classNames.length;
  const topN = Math.min(options.topN ?? 20, U);
  if (!Number.isInteger(topN) || topN < 1) throw usageError(`topN must be a positive integer, got ${String(options.topN)}`, { path: 'topN' });
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const classes = Object.keys(rankings).map((name) => {
    const y = classifier.classNames.indexOf(name);
    if (y < 0) throw usageError(`the ranking names a class '${name}' the model does not have`, { path: 'rankings' });
    return { name, y, ranking: rankings[name].ranking };
  });
  const count = new Float64Array(K);
  const baseCorrect = new Float64Array(K);
  // ablCorrect[c][N-1][d]: correct predictions on class d with class c's top-N zeroed.
  const ablCorrect = classes.map(() => new Float64Array(topN * K));
  const keepCorrect = classes.map(() => new Float64Array(topN));
  let done = 0;
  // Counts of correct predictions: they add up exactly in any order.
  const add = (part: AblationChunkCounts, c: ActivationChunk): void => {
    for (let i = 0; i < K; i++) { count[i] += part.count[i]; baseCorrect[i] += part.baseCorrect[i]; }
    part.ablCorrect.forEach((a, ci) => { for (let i = 0; i < a.length; i++) ablCorrect[ci][i] += a[i]; });
    part.keepCorrect.forEach((a, ci) => { for (let i = 0; i < a.length; i++) keepCorrect[ci][i] += a[i]; });
    done += c.n;
    options.onProgress?.(done);
  };
  const input = (c: ActivationChunk): AblationChunkInput => ({ layer, chunk: c, classes, topN, maxElements });
  const pool = poolFor(classifier);
  const source = nonEmpty(chunks(), geom, K);
  if (pool) {
    await runOrdered(source, pool.size * 2, (c) => pool.run<AblationChunkCounts>({
      kind: 'importance-ablate', input: input(c), transfer: [c.acts.buffer as ArrayBuffer], label: `ablation curves on ${c.n} probe images`,
    }), add);
  } else {
    for await (const c of source) add(await ablateChunk(classifier, input(c)), c);
  }
  const acc = (correct: number, y: number): number => (count[y] > 0 ? correct / count[y] : NaN);
  const out: Record<string, AblationCurve> = {};
  for (const [ci, cls] of classes.entries()) {
    if (count[cls.y] === 0) continue;
    const others = [...count.keys()].filter((d) => d !== cls.y && count[d] > 0);
    const mean = (xs: number[]): number => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
    const Ns = Array.from({ length: topN }, (_, i) => i + 1);
    out[cls.name] = {
      N: Ns,
      ablateAccuracy: Ns.map((N) => acc(ablCorrect[ci][(N - 1) * K + cls.y], cls.y)),
      keepAccuracy: Ns.map((N) => acc(keepCorrect[ci][N - 1], cls.y)),
      othersAccuracy: Ns.map((N) => mean(others.map((d) => acc(ablCorrect[ci][(N - 1) * K + d], d)))),
      baseAccuracy: acc(baseCorrect[cls.y], cls.y),
      baseOthersAccuracy: mean(others.map((d) => acc(baseCorrect[d], d))),
      count: count[cls.y],
    };
  }
  return out;
}

/** The chunks of `source` that hold images, each checked. */
async function* nonEmpty(source: AsyncIterable<ActivationChunk>, geom: LayerGeom, K: number): AsyncGenerator<ActivationChunk> {
  for await (const c of source) {
    checkChunk(c, geom, K);
    if (c.n > 0) yield c;
  }
}

/** One chunk of {@link rankUnits}' work (also a pool task). */
export interface RankChunkInput { layer: string; chunk: ActivationChunk; metric: ImportanceMetric; maxElements: number }

/**
 * Per (class, unit), the sums over a chunk's images of the metric's drop and of the log-probability drop (the
 * tie-break) when the unit is zeroed.
 */
export interface RankChunkSums { dropSum: Float64Array; logpSum: Float64Array }

/** The drops of one chunk of images, every unit zeroed in turn. */
export async function rankChunk(classifier: Classifier, input: RankChunkInput): Promise<RankChunkSums> {
  const { layer, chunk: c, metric, maxElements } = input;
  const geom = layerGeom(classifier, layer);
  const K = classifier.classNames.length;
  const U = geom.units;
  const dropSum = new Float64Array(K * U);
  const logpSum = new Float64Array(K * U);
  const base = await maskedPass(classifier, layer, geom, c.acts, c.labels, new Uint8Array(U).fill(1), 1);
  const G = Math.max(1, Math.min(U, Math.floor(maxElements / (c.n * geom.per))));
  for (let u0 = 0; u0 < U; u0 += G) {
    const g = Math.min(G, U - u0);
    const masks = new Uint8Array(g * U).fill(1);
    for (let j = 0; j < g; j++) masks[j * U + u0 + j] = 0;
    const r = await maskedPass(classifier, layer, geom, c.acts, c.labels, masks, g);
    for (let j = 0; j < g; j++) {
      const u = u0 + j;
      for (let i = 0; i < c.n; i++) {
        const y = c.labels[i];
        const dl = base.logp[i] - r.logp[j * c.n + i];
        dropSum[y * U + u] += metric === 'logprob' ? dl : base.correct[i] - r.correct[j * c.n + i];
        logpSum[y * U + u] += dl;
      }
    }
  }
  return { dropSum, logpSum };
}

/** One chunk of {@link ablationCurves}' work (also a pool task). */
export interface AblationChunkInput {
  layer: string;
  chunk: ActivationChunk;
  classes: Array<{ name: string; y: number; ranking: number[] }>;
  topN: number;
  maxElements: number;
}

/** Counts of one chunk: images and correct predictions per class, with each class's top-N units zeroed or kept. */
export interface AblationChunkCounts { count: Float64Array; baseCorrect: Float64Array; ablCorrect: Float64Array[]; keepCorrect: Float64Array[] }

/** The ablation counts of one chunk of images. */
export async function ablateChunk(classifier: Classifier, input: AblationChunkInput): Promise<AblationChunkCounts> {
  const { layer, chunk: c, classes, topN, maxElements } = input;
  const geom = layerGeom(classifier, layer);
  const U = geom.units;
  const K = classifier.classNames.length;
  const count = new Float64Array(K);
  const baseCorrect = new Float64Array(K);
  const ablCorrect = classes.map(() => new Float64Array(topN * K));
  const keepCorrect = classes.map(() => new Float64Array(topN));
  const maskSet = (ranking: number[], op: 'zero' | 'keep'): Uint8Array => {
    const m = new Uint8Array(topN * U).fill(op === 'zero' ? 1 : 0);
    for (let N = 1; N <= topN; N++) for (let j = 0; j < N; j++) m[(N - 1) * U + ranking[j]] = op === 'zero' ? 0 : 1;
    return m;
  };
  const base = await maskedPass(classifier, layer, geom, c.acts, c.labels, new Uint8Array(U).fill(1), 1);
  for (let i = 0; i < c.n; i++) { count[c.labels[i]]++; baseCorrect[c.labels[i]] += base.correct[i]; }
  for (const [ci, cls] of classes.entries()) {
    const zeroMasks = maskSet(cls.ranking, 'zero');
    // Ablate: every image (the other classes' accuracy counts too), masks for N = 1 … topN in groups.
    await forGroups(topN, c.n, geom.per, maxElements, async (N0, g) => {
      const r = await maskedPass(classifier, layer, geom, c.acts, c.labels, zeroMasks.subarray(N0 * U, (N0 + g) * U), g);
      for (let j = 0; j < g; j++) for (let i = 0; i < c.n; i++) ablCorrect[ci][(N0 + j) * K + c.labels[i]] += r.correct[j * c.n + i];
    });
    // Keep: only the class's own images.
    const own = [...c.labels.keys()].filter((i) => c.labels[i] === cls.y);
    if (own.length === 0) continue;
    const keepMasks = maskSet(cls.ranking, 'keep');
    const ownLabels = new Int32Array(own.length).fill(cls.y);
    const ownActs = new Float32Array(own.length * geom.per);
    own.forEach((i, k) => ownActs.set(c.acts.subarray(i * geom.per, (i + 1) * geom.per), k * geom.per));
    await forGroups(topN, own.length, geom.per, maxElements, async (N0, g) => {
      const r = await maskedPass(classifier, layer, geom, ownActs, ownLabels, keepMasks.subarray(N0 * U, (N0 + g) * U), g);
      for (let j = 0; j < g; j++) for (let i = 0; i < own.length; i++) keepCorrect[ci][N0 + j] += r.correct[j * own.length + i];
    });
  }
  return { count, baseCorrect, ablCorrect, keepCorrect };
}

async function forGroups(total: number, n: number, per: number, maxElements: number, fn: (start: number, size: number) => Promise<void>): Promise<void> {
  const G = Math.max(1, Math.min(total, Math.floor(maxElements / (n * per))));
  for (let s = 0; s < total; s += G) await fn(s, Math.min(G, total - s));
}

/** Activation chunks of in-memory images, for {@link rankUnits} and {@link ablationCurves}. */
export function chunksOf(classifier: Classifier, layer: string, x: tf.Tensor4D, labels: ArrayLike<number>, chunkSize = 64): ChunkSource {
  return async function* () {
    const n = x.shape[0];
    for (let s = 0; s < n; s += chunkSize) {
      const e = Math.min(n, s + chunkSize);
      const a = tf.tidy(() => classifier.activations(tf.slice(x, [s, 0, 0, 0], [e - s, -1, -1, -1]), layer));
      const acts = (await a.data()) as Float32Array;
      a.dispose();
      yield { acts, labels: Int32Array.from({ length: e - s }, (_, i) => labels[s + i]), n: e - s };
    }
  };
}

/** Options for {@link classImportance}. */
export interface ClassImportanceOptions {
  /** @defaultValue the classifier's default layer */
  layer?: string;
  /** @defaultValue `logprob` */
  metric?: ImportanceMetric;
  /** @defaultValue 20 */
  topN?: number;
}

/**
 * Class importance on in-memory images: ranks units on `train` and, when `heldOut` is given, measures the
 * ablation curves on it. Labels are class indices of the classifier.
 */
export async function classImportance(
  classifier: Classifier,
  train: { x: tf.Tensor4D; y: ArrayLike<number> },
  heldOut?: { x: tf.Tensor4D; y: ArrayLike<number> },
  options: ClassImportanceOptions = {},
): Promise<{ importance: Record<string, ClassImportance>; ablation: Record<string, AblationCurve> }> {
  const layer = options.layer ?? classifier.defaultLayer;
  const importance = await rankUnits(classifier, layer, chunksOf(classifier, layer, train.x, train.y), { metric: options.metric ?? 'logprob' });
  const ablation = heldOut
    ? await ablationCurves(classifier, layer, chunksOf(classifier, layer, heldOut.x, heldOut.y), importance, { topN: options.topN ?? 20 })
    : {};
  return { importance, ablation };
}
