import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import { Prng } from '../util/random.js';
import { checkInt, checkNumber, checkSeed } from './_internals/validate.js';

/**
 * A per-image metric and its aggregates. Aggregates are taken over the finite values (PSNR is +∞ for an
 * unchanged image); `finite` says how many there were, and aggregates are NaN when there are none.
 */
export interface MetricSummary {
  perImage: number[];
  mean: number;
  median: number;
  min: number;
  max: number;
  finite: number;
}

/** Summarises per-image values (see {@link MetricSummary}). */
export function summarize(values: ArrayLike<number>): MetricSummary {
  const perImage = Array.from(values);
  const fin = perImage.filter(Number.isFinite).sort((a, b) => a - b);
  const k = fin.length;
  return {
    perImage,
    mean: k > 0 ? fin.reduce((a, b) => a + b, 0) / k : Number.NaN,
    median: k === 0 ? Number.NaN : k % 2 === 1 ? fin[(k - 1) / 2] : (fin[k / 2 - 1] + fin[k / 2]) / 2,
    min: k > 0 ? fin[0] : Number.NaN,
    max: k > 0 ? fin[k - 1] : Number.NaN,
    finite: k,
  };
}

function checkPair(x: tf.Tensor, x0: tf.Tensor, what: string): void {
  if (!(x instanceof tf.Tensor) || !(x0 instanceof tf.Tensor) || x.rank !== 4 || x0.rank !== 4) {
    throw usageError(`${what} takes two image batches [N, H, W, C]`, { path: 'x' });
  }
  if (x.shape.some((d, i) => d !== x0.shape[i])) {
    throw usageError(`${what}: image batches differ in shape: ${JSON.stringify(x.shape)} vs ${JSON.stringify(x0.shape)}`, { path: 'x0' });
  }
}

async function perImageValues(t: tf.Tensor): Promise<number[]> {
  const out = Array.from(await t.data());
  t.dispose();
  return out;
}

/** Per-image L∞ distance `max |x − x0|` in pixel units. */
export async function linf(x: tf.Tensor4D, x0: tf.Tensor4D): Promise<MetricSummary> {
  checkPair(x, x0, 'linf');
  return summarize(await perImageValues(tf.tidy(() => tf.max(tf.abs(tf.sub(x, x0)), [1, 2, 3]))));
}

/** Per-image L2 distance `‖x − x0‖₂` in pixel units. */
export async function l2(x: tf.Tensor4D, x0: tf.Tensor4D): Promise<MetricSummary> {
  checkPair(x, x0, 'l2');
  return summarize(await perImageValues(tf.tidy(() => tf.sqrt(tf.sum(tf.square(tf.sub(x, x0)), [1, 2, 3])))));
}

/** Per-image PSNR in dB with peak 1: `10 log10(1 / MSE)`; +∞ for identical images. */
export async function psnr(x: tf.Tensor4D, x0: tf.Tensor4D): Promise<MetricSummary> {
  checkPair(x, x0, 'psnr');
  const mse = await perImageValues(tf.tidy(() => tf.mean(tf.square(tf.sub(x, x0)), [1, 2, 3])));
  return summarize(mse.map((m) => (m === 0 ? Number.POSITIVE_INFINITY : -10 * Math.log10(m))));
}

/** The normalised 1-D Gaussian window of SSIM (radius ⌊3.5σ + 0.5⌋, as scipy's `gaussian_filter`). */
export function gaussianWindow(sigma = 1.5, truncate = 3.5): Float64Array {
  const r = Math.floor(truncate * sigma + 0.5);
  const g = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) { g[i + r] = Math.exp(-0.5 * (i * i) / (sigma * sigma)); sum += g[i + r]; }
  for (let i = 0; i < g.length; i++) g[i] /= sum;
  return g;
}

/**
 * Per-image SSIM (Wang et al. 2004) with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, data
 * range 1, population (not sample) covariances, computed per channel over the 'valid' window positions and
 * averaged over channels and positions — the same number as scikit-image's
 * `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
 * channel_axis=-1)`. Images must be at least 11×11.
 */
export async function ssim(x: tf.Tensor4D, x0: tf.Tensor4D): Promise<MetricSummary> {
  checkPair(x, x0, 'ssim');
  const g = gaussianWindow();
  const k = g.length;
  const [, h, w, c] = x.shape;
  if (h < k || w < k) throw usageError(`ssim needs images of at least ${k}×${k}, got ${h}×${w}`, { path: 'x' });
  const [C1, C2] = [0.01 ** 2, 0.03 ** 2];
  const values = tf.tidy(() => {
    const k2 = new Float32Array(k * k * c);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let ch = 0; ch < c; ch++) k2[(i * k + j) * c + ch] = g[i] * g[j];
    const filt = tf.tensor4d(k2, [k, k, c, 1]);
    const f = (t: tf.Tensor4D): tf.Tensor4D => tf.depthwiseConv2d(t, filt, 1, 'valid');
    // Centre the data on 0.5 so that the variance terms E[x²] − E[x]² lose less to float32 cancellation.
    const a = tf.sub<tf.Tensor4D>(x, 0.5);
    const b = tf.sub<tf.Tensor4D>(x0, 0.5);
    const ua = f(a); const ub = f(b);
    const va = tf.sub(f(tf.mul(a, a)), tf.mul(ua, ua));
    const vb = tf.sub(f(tf.mul(b, b)), tf.mul(ub, ub));
    const cov = tf.sub(f(tf.mul(a, b)), tf.mul(ua, ub));
    const mx = tf.add(ua, 0.5); const my = tf.add(ub, 0.5);
    const num = tf.mul(tf.add(tf.mul(tf.mul(mx, my), 2), C1), tf.add(tf.mul(cov, 2), C2));
    const den = tf.mul(tf.add(tf.add(tf.square(mx), tf.square(my)), C1), tf.add(tf.add(va, vb), C2));
    return tf.mean(tf.div(num, den), [1, 2, 3]);
  });
  return summarize(await perImageValues(values));
}

// ---------------------------------------------------------------------------------------------------------------
// Success rates, as DESIGN.md defines them.

/** A rate with its numerator and denominator; `rate` is NaN when the denominator is 0. */
export interface Rate {
  rate: number;
  count: number;
  total: number;
}

const rate = (count: number, total: number): Rate => ({ rate: total > 0 ? count / total : Number.NaN, count, total });

/** A two-sided confidence interval of a rate. */
export interface RateInterval {
  lower: number;
  upper: number;
  count: number;
  total: number;
  /** The confidence level, e.g. 0.95. */
  level: number;
}

/**
 * The Wilson score interval of `count` successes in `total` trials (95% by default): unlike the normal
 * approximation it stays inside [0, 1] and is sensible at 0 and `total` successes and for small samples. NaN bounds
 * when `total` is 0.
 */
export function wilsonInterval(count: number, total: number, level = 0.95): RateInterval {
  if (!(Number.isInteger(count) && Number.isInteger(total) && count >= 0 && total >= 0 && count <= total)) {
    throw usageError(`wilsonInterval needs 0 ≤ count ≤ total (integers), got ${count} of ${total}`, { path: 'count' });
  }
  if (!(level > 0 && level < 1)) throw usageError(`level must be in (0, 1), got ${level}`, { path: 'level' });
  if (total === 0) return { lower: Number.NaN, upper: Number.NaN, count, total, level };
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = count / total;
  const z2n = (z * z) / total;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / total + z2n / (4 * total));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half), count, total, level };
}


function checkLengths(what: string, arrays: Record<string, ArrayLike<number>>): number {
  const entries = Object.entries(arrays);
  const n = entries[0][1].length;
  for (const [name, a] of entries) {
    if (a.length !== n) throw usageError(`${what}: ${name} has ${a.length} entries, expected ${n}`, { path: name });
  }
  return n;
}

/** Clean accuracy: images the model classifies correctly / all images. */
export function cleanAccuracy(cleanPredictions: ArrayLike<number>, labels: ArrayLike<number>): Rate {
  const n = checkLengths('cleanAccuracy', { cleanPredictions, labels });
  let ok = 0;
  for (let i = 0; i < n; i++) if (cleanPredictions[i] === labels[i]) ok++;
  return rate(ok, n);
}

/**
 * Robust accuracy: images still correct after the attack / all images. Clean mistakes count as not robust
 * (as AutoAttack and RobustBench count them).
 */
export function robustAccuracy(cleanPredictions: ArrayLike<number>, adversarialPredictions: ArrayLike<number>, labels: ArrayLike<number>): Rate {
  const n = checkLengths('robustAccuracy', { cleanPredictions, adversarialPredictions, labels });
  let ok = 0;
  for (let i = 0; i < n; i++) if (cleanPredictions[i] === labels[i] && adversarialPredictions[i] === labels[i]) ok++;
  return rate(ok, n);
}

/** Untargeted success: originally-correct images whose prediction changed / originally-correct images. */
export function untargetedSuccess(cleanPredictions: ArrayLike<number>, adversarialPredictions: ArrayLike<number>, labels: ArrayLike<number>): Rate {
  const n = checkLengths('untargetedSuccess', { cleanPredictions, adversarialPredictions, labels });
  let total = 0; let ok = 0;
  for (let i = 0; i < n; i++) {
    if (cleanPredictions[i] !== labels[i]) continue;
    total++;
    if (adversarialPredictions[i] !== cleanPredictions[i]) ok++;
  }
  return rate(ok, total);
}

/** Targeted success: images predicted as the target / images whose true class is not already the target. */
export function targetedSuccess(adversarialPredictions: ArrayLike<number>, labels: ArrayLike<number>, targets: ArrayLike<number> | number): Rate {
  const t = typeof targets === 'number' ? new Array<number>(labels.length).fill(targets) : targets;
  const n = checkLengths('targetedSuccess', { adversarialPredictions, labels, targets: t });
  let total = 0; let ok = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === t[i]) continue;
    total++;
    if (adversarialPredictions[i] === t[i]) ok++;
  }
  return rate(ok, total);
}

// ---------------------------------------------------------------------------------------------------------------
// Unit effect (the PNAS measurement).

/** Options for {@link unitEffect}. */
export interface UnitEffectOptions {
  /** Units the attack meant to lower. */
  suppress: readonly number[];
  /** Units the attack meant to raise. */
  excite: readonly number[];
  /** Confidence level of the intervals. @defaultValue 0.99 */
  confidence?: number;
  /** `normal`: mean ± z·s/√N over images; `bootstrap`: percentile bootstrap over images (seeded). @defaultValue `'bootstrap'` */
  interval?: 'normal' | 'bootstrap';
  /** Bootstrap resamples. @defaultValue 2000 */
  resamples?: number;
  /** Seed of the bootstrap. @defaultValue 0 */
  seed?: number;
  /** Divide each unit's change by this per-unit scale (e.g. its dissection threshold). @defaultValue none */
  unitScale?: Float32Array | readonly number[];
}

/** The change of one group of units: mean over images and units, with a confidence interval over images. */
export interface GroupEffect {
  units: number[];
  mean: number;
  /** Lower and upper bound; NaN when there are fewer than 2 images or no units. */
  ci: [number, number];
  /** Per image, the mean change over the group's units. */
  perImage: number[];
}

export interface UnitEffect {
  /** Per unit, the mean change of its spatial-max activation over images. */
  perUnit: Float32Array;
  suppressed: GroupEffect;
  excited: GroupEffect;
  /** All other units of the layer. */
  other: GroupEffect;
  confidence: number;
  interval: 'normal' | 'bootstrap';
  seed: number;
}

/**
 * Change of each unit's spatial-max activation from `before` to `after` (`[N, H, W, U]` or `[N, U]`),
 * grouped as suppressed / excited / other units, each with its mean and a confidence interval that
 * treats images as the independent samples.
 */
export async function unitEffect(before: tf.Tensor, after: tf.Tensor, options: UnitEffectOptions): Promise<UnitEffect> {
  if (before.rank !== after.rank || before.shape.some((d, i) => d !== after.shape[i]) || (before.rank !== 4 && before.rank !== 2)) {
    throw usageError(`unitEffect takes two activations of one shape, [N, H, W, U] or [N, U]; got ${JSON.stringify(before.shape)} and ${JSON.stringify(after.shape)}`, { path: 'after' });
  }
  const confidence = checkNumber(options.confidence ?? 0.99, 'confidence', { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const interval = options.interval ?? 'bootstrap';
  if (interval !== 'normal' && interval !== 'bootstrap') throw usageError(`interval must be 'normal' or 'bootstrap', got ${String(interval)}`, { path: 'interval' });
  const resamples = checkInt(options.resamples ?? 2000, 'resamples', 10);
  const seed = checkSeed(options.seed ?? 0);
  const n = before.shape[0];
  const u = before.shape[before.rank - 1];
  for (const [name, list] of [['suppress', options.suppress], ['excite', options.excite]] as const) {
    for (const k of list) {
      if (!Number.isInteger(k) || k < 0 || k >= u) throw usageError(`${name} has unit ${k}, but the layer has ${u} units`, { path: name });
    }
  }
  if (options.unitScale !== undefined && options.unitScale.length !== u) {
    throw usageError(`unitScale has ${options.unitScale.length} entries for ${u} units`, { path: 'unitScale' });
  }
  const diffT = tf.tidy(() => {
    const pool = (t: tf.Tensor): tf.Tensor => (t.rank === 4 ? tf.max(t, [1, 2]) : t);
    return tf.sub(pool(after), pool(before));
  });
  const diff = await diffT.data();
  diffT.dispose();
  const scale = options.unitScale;
  const d = (i: number, k: number): number => diff[i * u + k] / (scale ? scale[k] : 1);
  const perUnit = new Float32Array(u);
  for (let k = 0; k < u; k++) { let s = 0; for (let i = 0; i < n; i++) s += d(i, k); perUnit[k] = s / n; }
  const inGroup = new Set([...options.suppress, ...options.excite]);
  const others = Array.from({ length: u }, (_, k) => k).filter((k) => !inGroup.has(k));
  const rng = new Prng(seed);
  const group = (units: readonly number[]): GroupEffect => {
    const perImage = Array.from({ length: n }, (_, i) => (units.length === 0 ? Number.NaN : units.reduce((s, k) => s + d(i, k), 0) / units.length));
    const mean = perImage.reduce((a, b) => a + b, 0) / n;
    let ci: [number, number] = [Number.NaN, Number.NaN];
    if (units.length > 0 && n >= 2) ci = interval === 'normal' ? normalInterval(perImage, confidence) : bootstrapInterval(perImage, confidence, resamples, rng);
    return { units: [...units], mean, ci, perImage };
  };
  return {
    perUnit, suppressed: group(options.suppress), excited: group(options.excite), other: group(others),
    confidence, interval, seed,
  };
}

function normalInterval(v: number[], confidence: number): [number, number] {
  const n = v.length;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = normalQuantile(0.5 + confidence / 2) * sd / Math.sqrt(n);
  return [mean - half, mean + half];
}

function bootstrapInterval(v: number[], confidence: number, resamples: number, rng: Prng): [number, number] {
  const n = v.length;
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += v[rng.int(n)];
    means[b] = s / n;
  }
  means.sort();
  const q = (p: number): number => {
    const pos = p * (resamples - 1);
    const lo = Math.floor(pos); const hi = Math.ceil(pos);
    return means[lo] + (means[hi] - means[lo]) * (pos - lo);
  };
  const a = (1 - confidence) / 2;
  return [q(a), q(1 - a)];
}

/** The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? Number.NEGATIVE_INFINITY : p === 1 ? Number.POSITIVE_INFINITY : Number.NaN;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lowP = 0.02425;
  let q: number;
  if (p < lowP) {
    q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lowP) {
    q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}
