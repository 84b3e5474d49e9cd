/**
 * Checks against false robustness: signs that a model's robust accuracy is high because the attacks could not see
 * its gradients (gradient masking), not because it resists them. After the flags of AutoAttack's own checks (Croce &
 * Hein 2020). Each check reports whether it fired and why; {@link maskingWarnings} turns the fired ones into warnings.
 */
import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { checkInt, checkNumber } from './_internals/validate.js';
import { formatEpsilon } from './epsilon.js';
import { classMargin } from './objectives.js';
import { roundTo8Bit } from './threat.js';
import type { Labels } from './types.js';
import { labelIndices } from './_internals/labels.js';

/** The checks, by name. */
export type MaskingCheckName =
  | 'accuracy-at-zero'
  | 'nondeterministic'
  | 'softmax-outputs'
  | 'zero-gradients'
  | 'curve-rises'
  | 'square-beats-gradients';

/** The outcome of one check. */
export interface MaskingCheck {
  check: MaskingCheckName;
  /** True when the check found a sign of gradient masking. */
  flagged: boolean;
  /** What was measured, in a sentence (with the likely cause and what to do when flagged). */
  message: string;
  /** The measured quantity the flag is about (a share, a difference, a count). */
  value: number;
}

/** Options for {@link checkGradientMasking}. */
export interface MaskingCheckOptions {
  /** Images used by the determinism and softmax checks (the first ones). @defaultValue 16 */
  sample?: number;
  /** Share of images with a zero or non-finite input gradient from which `zero-gradients` fires. @defaultValue 0.05 */
  zeroGradientShare?: number;
  /** Images per pass of the ε = 0 re-evaluation (a batch size other than the whole batch, on purpose). @defaultValue 7 */
  batch?: number;
}

/**
 * The model-level checks on a batch of clean images:
 *
 * - `accuracy-at-zero`: accuracy of the images as given (one batch) against the accuracy the attacks see at ε = 0 —
 *   the same images rounded to 8 bits and passed in smaller batches. They differ when the model is random, depends on
 *   the other images of its batch, or on detail below one 8-bit step: robust accuracy is then measured on other terms
 *   than clean accuracy.
 * - `nondeterministic`: the logits of the same images twice differ (randomness in the forward pass): a gradient attack
 *   needs `eot` (AutoAttack's `rand` version), and every figure varies from run to run.
 * - `softmax-outputs`: every row of the outputs lies in [0, 1] and sums to 1 — probabilities, not logits. The losses
 *   then take a softmax of a softmax, whose gradients vanish.
 * - `zero-gradients`: the input gradient of the logit margin is zero or not finite for a share of the images (a
 *   non-differentiable or saturated input path: rounding, thresholds, a dead ReLU): gradient attacks cannot move them.
 *
 * @example
 * const checks = await checkGradientMasking(clf, images, labels);
 * for (const w of maskingWarnings(checks)) console.warn(w);
 */
export async function checkGradientMasking(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: MaskingCheckOptions = {}): Promise<MaskingCheck[]> {
  const sample = checkInt(options.sample ?? 16, 'sample', 1);
  const share = checkNumber(options.zeroGradientShare ?? 0.05, 'zeroGradientShare', { min: 0, max: 1 });
  const batch = checkInt(options.batch ?? 7, 'batch', 1);
  if (!(x instanceof tf.Tensor) || x.rank !== 4) throw usageError('checkGradientMasking takes a batch of images [N, H, W, 3]', { path: 'x' });
  const n = x.shape[0];
  const named = labelIndices(classifier.classNames, labels);
  const y = Int32Array.from(named instanceof tf.Tensor ? await named.data() : named);
  if (y.length !== n) throw usageError(`labels has ${y.length} entries for ${n} images`, { path: 'labels' });
  return [
    await accuracyAtZero(classifier, x, y, batch),
    ...await determinismAndSoftmax(classifier, x, Math.min(sample, n)),
    await zeroGradients(classifier, x, y, share),
  ];
}

/** `accuracy-at-zero`: the images as one batch against the images rounded to 8 bits, in batches of `batch`. */
async function accuracyAtZero(classifier: Classifier, x: tf.Tensor4D, y: Int32Array, batch: number): Promise<MaskingCheck> {
  const n = x.shape[0];
  const clean = await argmaxOf(classifier, x);
  const rounded = roundTo8Bit(x, x, Number.POSITIVE_INFINITY, 'linf');
  const again = new Int32Array(n);
  try {
    for (let s = 0; s < n; s += batch) {
      const part = rounded.slice([s, 0, 0, 0], [Math.min(batch, n - s), -1, -1, -1]);
      again.set(await argmaxOf(classifier, part), s);
      part.dispose();
    }
  } finally {
    rounded.dispose();
  }
  const acc = (pred: Int32Array): number => pred.reduce((a, p, i) => a + (p === y[i] ? 1 : 0), 0);
  const [a0, a1] = [acc(clean), acc(again)];
  return a0 === a1
    ? { check: 'accuracy-at-zero', flagged: false, value: 0, message: `clean accuracy equals the accuracy at ε = 0 (${a0}/${n})` }
    : {
      check: 'accuracy-at-zero', flagged: true, value: (a1 - a0) / n,
      message: `clean accuracy (${a0}/${n}, one batch) differs from the accuracy at ε = 0 (${a1}/${n}: the images rounded to 8 bits, in batches of ${batch}): `
        + 'the model is random, depends on the other images of its batch, or on detail below one 8-bit step, so robust accuracy is measured on other terms than clean accuracy',
    };
}

/** `nondeterministic` and `softmax-outputs`, on the first `m` images. */
async function determinismAndSoftmax(classifier: Classifier, x: tf.Tensor4D, m: number): Promise<MaskingCheck[]> {
  const head = x.slice([0, 0, 0, 0], [m, -1, -1, -1]);
  const stats = tf.tidy(() => {
    const z1 = classifier.logits(head);
    const z2 = classifier.logits(head);
    const diff = tf.max(tf.abs(tf.sub(z1, z2)));
    const scale = tf.maximum(tf.max(tf.abs(z1)), 1e-12);
    const inRange = tf.logicalAnd(tf.greaterEqual(tf.min(z1), -1e-6), tf.lessEqual(tf.max(z1), 1 + 1e-6));
    const sumErr = tf.max(tf.abs(tf.sub(tf.sum(z1, 1), 1)));
    return tf.stack([diff, scale, inRange.toFloat(), sumErr]);
  });
  const [diff, scale, inRange, sumErr] = await stats.data();
  stats.dispose(); head.dispose();
  const relDiff = diff / scale;
  const determinism: MaskingCheck = relDiff > 1e-5 || !Number.isFinite(relDiff)
    ? {
      check: 'nondeterministic', flagged: true, value: diff,
      message: `the model is not deterministic: the logits of the same ${m} images differ by up to ${fmt(diff)} between two passes; `
        + "gradient attacks need expectation over transformation (autoattack version 'rand', or eot on apgd) and every figure varies from run to run",
    }
    : { check: 'nondeterministic', flagged: false, value: diff, message: `the logits of ${m} images are the same in two passes` };
  const softmax: MaskingCheck = inRange === 1 && sumErr < 1e-4
    ? {
      check: 'softmax-outputs', flagged: true, value: sumErr,
      message: `the model outputs probabilities, not logits: every output row of ${m} images is in [0, 1] and sums to 1 (within ${fmt(sumErr)}); `
        + 'the losses then take a softmax of a softmax and their gradients vanish: give the model without its final softmax',
    }
    : { check: 'softmax-outputs', flagged: false, value: sumErr, message: 'the outputs are not rows of probabilities (they look like logits)' };
  return [determinism, softmax];
}

/** `zero-gradients`, on every image (in batches of 32: a backward pass holds every activation). */
async function zeroGradients(classifier: Classifier, x: tf.Tensor4D, y: Int32Array, share: number): Promise<MaskingCheck> {
  const n = x.shape[0];
  const gs = new Float32Array(2 * n);
  for (let s = 0; s < n; s += 32) {
    const e = Math.min(n, s + 32);
    const ys = y.subarray(s, e);
    const gstats = tf.tidy(() => {
      const xs = x.slice([s, 0, 0, 0], [e - s, -1, -1, -1]);
      const g = tf.grad((xv: tf.Tensor) => tf.neg(classMargin(classifier.logits(xv as tf.Tensor4D), ys)))(xs);
      const finite = tf.all(tf.isFinite(g), [1, 2, 3]).toFloat();
      const mag = tf.max(tf.abs(tf.where(tf.isFinite(g), g, tf.zerosLike(g))), [1, 2, 3]);
      return tf.stack([finite, mag]);
    });
    const d = await gstats.data();
    gstats.dispose();
    gs.set(d.subarray(0, e - s), s);
    gs.set(d.subarray(e - s), n + s);
  }
  let zero = 0; let bad = 0;
  for (let i = 0; i < n; i++) {
    if (gs[i] === 0) bad++;
    else if (gs[n + i] === 0) zero++;
  }
  const shareBad = (zero + bad) / n;
  return zero + bad > 0 && shareBad >= share
    ? {
      check: 'zero-gradients', flagged: true, value: shareBad,
      message: `the input gradient of the logit margin is zero on ${zero} and not finite on ${bad} of ${n} images (${pct(shareBad)}): `
        + 'a layer on the input path is not differentiable or saturated (rounding, a threshold, a dead ReLU), so gradient attacks cannot move these images; '
        + 'trust a score-based attack (square) for them, or fix the input path',
    }
    : { check: 'zero-gradients', flagged: false, value: shareBad, message: `the input gradient is non-zero and finite on ${n - zero - bad} of ${n} images` };
}

/** One point of a robustness curve, as {@link checkCurve} reads it. */
export interface CurvePoint {
  epsilon: number;
  /** Images still correct after the attack at this ε. */
  robust: number;
  /** Images classified correctly before the attack, as the run at this ε measured them. */
  clean: number;
  total: number;
}

/**
 * The curve checks: `curve-rises` fires when robust accuracy is higher at a larger ε (a larger ball contains the
 * smaller one, so a working attack can only do better); `accuracy-at-zero` fires when the ε = 0 row differs from the
 * clean accuracy the runs at ε > 0 measured. Returns the `accuracy-at-zero` check only when the curve has an ε = 0 row.
 */
export function checkCurve(points: readonly CurvePoint[]): MaskingCheck[] {
  const pts = [...points].sort((a, b) => a.epsilon - b.epsilon);
  const rises: string[] = [];
  let worst = 0;
  for (let i = 0; i < pts.length; i++) {
    for (let j = i + 1; j < pts.length; j++) {
      if (pts[j].epsilon > pts[i].epsilon && pts[j].robust > pts[i].robust) {
        rises.push(`${fmtEps(pts[i].epsilon)} → ${fmtEps(pts[j].epsilon)}: ${pts[i].robust} → ${pts[j].robust} of ${pts[j].total}`);
        worst = Math.max(worst, (pts[j].robust - pts[i].robust) / Math.max(pts[j].total, 1));
      }
    }
  }
  const out: MaskingCheck[] = [rises.length > 0
    ? {
      check: 'curve-rises', flagged: true, value: worst,
      message: `robust accuracy rises with ε (${rises.slice(0, 3).join('; ')}${rises.length > 3 ? '; …' : ''}): the attack fails to use a larger budget, `
        + 'a sign of masked gradients or too few steps; try apgd-ce or autoattack, more steps or restarts',
    }
    : { check: 'curve-rises', flagged: false, value: 0, message: 'robust accuracy does not rise with ε' }];
  const zero = pts.find((p) => p.epsilon === 0);
  if (zero) {
    const other = pts.filter((p) => p.epsilon > 0 && p.clean !== zero.robust);
    out.push(other.length > 0
      ? {
        check: 'accuracy-at-zero', flagged: true, value: (other[0].clean - zero.robust) / Math.max(zero.total, 1),
        message: `accuracy at ε = 0 (${zero.robust}/${zero.total}) differs from the clean accuracy measured by the run at ε = ${fmtEps(other[0].epsilon)} (${other[0].clean}/${other[0].total}): `
          + 'the model gives different answers on the same images (random, or dependent on its batch)',
      }
      : { check: 'accuracy-at-zero', flagged: false, value: 0, message: 'accuracy at ε = 0 equals the clean accuracy of every run' });
  }
  return out;
}

/**
 * `square-beats-gradients`: fires when Square, which sees no gradients, breaks images that the gradient attacks
 * before it left standing (`squareBroke` of `squareAttacked`): their gradients misled those attacks.
 */
export function checkSquare(squareBroke: number, squareAttacked: number, total: number): MaskingCheck {
  return squareBroke > 0
    ? {
      check: 'square-beats-gradients', flagged: true, value: squareBroke / Math.max(total, 1),
      message: `Square (gradient-free) broke ${squareBroke} of the ${squareAttacked} images the gradient attacks left robust (robust accuracy −${pct(squareBroke / Math.max(total, 1))}): `
        + 'the gradients mislead the gradient attacks, so a gradient-only gate overstates robustness',
    }
    : { check: 'square-beats-gradients', flagged: false, value: 0, message: `Square broke none of the ${squareAttacked} images the gradient attacks left robust` };
}

/** The messages of the checks that fired, as warnings (prefixed `gradient masking:`). */
export function maskingWarnings(checks: readonly MaskingCheck[]): string[] {
  return checks.filter((c) => c.flagged).map((c) => `gradient masking (${c.check}): ${c.message}`);
}

async function argmaxOf(classifier: Classifier, x: tf.Tensor4D): Promise<Int32Array> {
  const p = tf.tidy(() => tf.argMax(classifier.logits(x), 1));
  const out = Int32Array.from(await p.data());
  p.dispose();
  return out;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const fmt = (v: number): string => (Math.abs(v) >= 1e-3 || v === 0 ? v.toPrecision(3) : v.toExponential(2));
const fmtEps = (e: number): string => (e === 0 ? '0' : formatEpsilon(e));
