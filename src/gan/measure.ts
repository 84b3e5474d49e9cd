/**
 * Measuring a generator's samples with a segmenter: the concept the user names, resolved against the segmenter's
 * concepts; label maps of a batch of generated images; pixels per concept per image; and the paired ratio tally
 * that turns per-latent pixel counts before and after an edit into "the portion of the concept's pixels removed"
 * with a confidence interval. Everything here keeps counts, never images, so memory does not grow with the sample
 * count.
 */
import type * as tf from '../tf.js';
import { normalQuantile } from '../attacks/metrics.js';
import { usageError, nearestNames } from '../errors.js';
import type { Segmenter } from '../segment/segmenter.js';

/** A concept of a segmenter, with where it is in the label maps. */
export interface ResolvedConcept {
  name: string;
  category: string;
  /** Its value in the label maps. */
  id: number;
  /** Its index in `segmenter.concepts`. */
  index: number;
  /** The label plane (category index) that holds it. */
  plane: number;
}

/**
 * The segmenter's concept `name`; a `UA_USAGE` error at `path` listing the segmenter's concepts when it has none
 * of that name.
 */
export function resolveConcept(segmenter: Segmenter, name: string, path = 'concept'): ResolvedConcept {
  const index = segmenter.concepts.findIndex((c) => c.name === name);
  if (index < 0) {
    const names = segmenter.concepts.map((c) => c.name);
    throw usageError(`the segmenter '${segmenter.name}' does not label the concept '${name}'`, {
      path,
      hint: `choose one of its concepts (nearest: ${nearestNames(name, names, 3).join(', ')}; all: ${names.join(', ')}), or a segmenter that labels '${name}'`,
    });
  }
  const c = segmenter.concepts[index];
  const plane = segmenter.categories.findIndex((k) => k.name === c.category);
  return { name: c.name, category: c.category, id: c.id, index, plane };
}

/**
 * Where a concept's logit is in the segmenter's output: its category's channels are `first … first + width − 1` (the
 * first of them "none of this category"), and the concept's own channel is `first + offset`.
 */
export function conceptChannel(segmenter: Segmenter, concept: ResolvedConcept): { first: number; width: number; offset: number } {
  let first = 0;
  for (let k = 0; k < concept.plane; k++) first += 1 + segmenter.categories[k].concepts.length;
  const cat = segmenter.categories[concept.plane];
  return { first, width: 1 + cat.concepts.length, offset: 1 + cat.concepts.indexOf(concept.name) };
}

/** Label maps of a batch: `labels[(image · planes + plane) · pixels + pixel]` concept ids (0 = none). */
export interface LabelBatch {
  labels: Uint16Array;
  count: number;
  planes: number;
  height: number;
  width: number;
}

/** Segments pixel-space images `[N, H, W, 3]` (the tensor is not disposed). */
export async function segmentBatch(segmenter: Segmenter, images: tf.Tensor4D): Promise<LabelBatch> {
  const [count, height, width] = images.shape;
  const data = await images.data() as Float32Array;
  return { labels: segmenter.segment(data, count, height, width), count, planes: segmenter.categories.length, height, width };
}

/** Maps label values to concept indices (−1 for values that are no concept). */
export function conceptIndexOf(segmenter: Segmenter): Int32Array {
  const max = segmenter.concepts.reduce((m, c) => Math.max(m, c.id), 0);
  const out = new Int32Array(max + 1).fill(-1);
  segmenter.concepts.forEach((c, i) => { out[c.id] = i; });
  return out;
}

/** Pixels of each concept in each image: `[count × concepts]`, image-major. */
export function conceptCounts(batch: LabelBatch, indexOf: Int32Array, concepts: number): Float64Array {
  const { labels, count, planes, height, width } = batch;
  const n = height * width;
  const out = new Float64Array(count * concepts);
  for (let b = 0; b < count; b++) {
    const row = b * concepts;
    for (let p = 0; p < planes; p++) {
      const off = (b * planes + p) * n;
      for (let i = 0; i < n; i++) {
        const l = labels[off + i];
        if (l !== 0 && l < indexOf.length) {
          const k = indexOf[l];
          if (k >= 0) out[row + k]++;
        }
      }
    }
  }
  return out;
}

/** A ratio with its interval, as reported. */
export interface RatioEstimate {
  /** Σ(before − after) / Σ before: the portion removed (negative when the edit added pixels). NaN when Σ before is 0. */
  value: number;
  /** Standard error of `value` (delta method). */
  se: number;
  /** `[low, high]` at `level`. */
  interval: [number, number];
  level: number;
  /** Pairs tallied. */
  count: number;
  /** Mean concept pixels per image before and after. */
  meanBefore: number;
  meanAfter: number;
}

/**
 * Pairs `(before, after)` of one concept's pixel count per latent, kept as five running sums, so the tally is the
 * same size for 10 samples or 10 million. Estimates the pooled portion removed `R = Σd / Σb` (d = b − a), the
 * ratio of two means, with the delta-method (linearisation) standard error of a ratio estimator:
 * `se² = Σ(dᵢ − R·bᵢ)² / (n (n − 1) b̄²)`, expanded into the sums. The interval is `R ± z·se` (z = 2.576 at 99%),
 * the interval the PNAS figure draws (2.58 standard errors).
 */
export class PairedRatioTally {
  n = 0;
  sumB = 0;
  sumD = 0;
  sumBB = 0;
  sumDD = 0;
  sumBD = 0;

  /** Adds one latent's pair. */
  add(before: number, after: number): void {
    const d = before - after;
    this.n++;
    this.sumB += before; this.sumD += d;
    this.sumBB += before * before; this.sumDD += d * d; this.sumBD += before * d;
  }

  /** Adds another tally (shards merge exactly). */
  merge(other: PairedRatioTally): this {
    this.n += other.n; this.sumB += other.sumB; this.sumD += other.sumD;
    this.sumBB += other.sumBB; this.sumDD += other.sumDD; this.sumBD += other.sumBD;
    return this;
  }

  /** The estimate at confidence `level` (default 0.99). */
  estimate(level = 0.99): RatioEstimate {
    if (!(level > 0 && level < 1)) throw usageError(`level must be in (0, 1), got ${level}`, { path: 'level' });
    const { n, sumB, sumD } = this;
    const meanBefore = n > 0 ? sumB / n : Number.NaN;
    const meanAfter = n > 0 ? (sumB - sumD) / n : Number.NaN;
    if (n === 0 || sumB <= 0) {
      return { value: Number.NaN, se: Number.NaN, interval: [Number.NaN, Number.NaN], level, count: n, meanBefore, meanAfter };
    }
    const r = sumD / sumB;
    // Σ(d − R b)² = Σd² − 2R Σbd + R² Σb²; clamp the rounding error of the expansion at 0.
    const ss = Math.max(0, this.sumDD - 2 * r * this.sumBD + r * r * this.sumBB);
    const bBar = sumB / n;
    const se = n > 1 ? Math.sqrt(ss / (n * (n - 1))) / bBar : Number.NaN;
    const z = normalQuantile(1 - (1 - level) / 2);
    return { value: r, se, interval: [r - z * se, r + z * se], level, count: n, meanBefore, meanAfter };
  }
}

/** Mean and spread of a few numbers (the draws of a random control). */
export interface Spread {
  mean: number;
  /** Sample standard deviation (NaN for fewer than 2 values). */
  sd: number;
  min: number;
  max: number;
}

/** {@link Spread} of `values` (NaNs left out). */
export function spreadOf(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { mean: Number.NaN, sd: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : Number.NaN;
  return { mean, sd, min: Math.min(...v), max: Math.max(...v) };
}

/** Checks a sample count option: a positive integer. */
export function checkSamples(value: number, field: string, path = field): number {
  if (!Number.isInteger(value) || value < 1) {
    throw usageError(`${field} must be a positive integer, got ${String(value)}`, { path, hint: `e.g. ${field}: 2000` });
  }
  return value;
}
