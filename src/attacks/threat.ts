import * as tf from '../tf.js';
import { usageError } from '../errors.js';

/** The norm of the threat model: an L∞ or L2 ball around the clean image, intersected with the [0, 1] box. */
export type Norm = 'linf' | 'l2';

export const NORMS: readonly Norm[] = ['linf', 'l2'];

/** A threat model: the set of images an attack may return. */
export interface ThreatModel {
  norm: Norm;
  /** Radius of the ball in pixel units. */
  epsilon: number;
}

// Slack for float32 comparisons, in pixel units (≈ 1/400 of an 8-bit step).
const TOL = 1e-5;

/** Per-image L2 norm of a batch `[N, …]` → `[N]`. */
export function perImageL2(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sqrt<tf.Tensor1D>(tf.sum(tf.square(t), axesAfterBatch(t))));
}

/** Per-image L∞ norm of a batch `[N, …]` → `[N]`. */
export function perImageLinf(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.max<tf.Tensor1D>(tf.abs(t), axesAfterBatch(t)));
}

export function axesAfterBatch(t: tf.Tensor): number[] {
  return Array.from({ length: t.rank - 1 }, (_, i) => i + 1);
}

/** Reshapes a per-image vector `[N]` so it broadcasts against `[N, H, W, C]`. */
export function perImage(v: tf.Tensor1D): tf.Tensor4D {
  return v.reshape([-1, 1, 1, 1]);
}

/**
 * The largest L2 norm (pixel units) of a perturbation of `numel` values whose PSNR (peak 1) is at least `psnr` dB:
 * PSNR = 10·log10(numel / ‖δ‖²), so ‖δ‖ ≤ √(numel · 10^(−psnr/10)).
 *
 * @example
 * l2ForPsnr(35, 96 * 96 * 3); // 2.96: the L2 budget of a 96×96 RGB image at 35 dB
 */
export function l2ForPsnr(psnr: number, numel: number): number {
  return Math.sqrt(numel * 10 ** (-psnr / 10));
}

const BISECTION_STEPS = 30;

/**
 * Projects `xAdv` onto the threat model around `x0`: the `norm` ball of radius `eps`, then the [0, 1] box.
 * For L2 the perturbation is rescaled per image and then clipped; clipping moves every pixel toward `x0`
 * (which is inside the box), so the result stays inside the ball.
 *
 * With a finite `maxL2` an L∞ ball is also cut by the L2 ball of that radius (a PSNR floor, see {@link l2ForPsnr}).
 * The projection onto that intersection is exact: with δ = xAdv − x0 and the per-pixel box [lo, hi] of the L∞ ball
 * and [0, 1], the nearest point is `x0 + clip(s·δ, lo, hi)` for the largest s ∈ [0, 1] whose norm is ≤ maxL2 (the
 * Lagrange condition of the ball constraint, s = 1/(1+μ)); s is found per image by bisection. For L2 the two radii
 * simply combine to the smaller.
 *
 * @example
 * const x = project(xAdv, x0, 8 / 255, 'linf');
 * const y = project(xAdv, x0, 8 / 255, 'linf', l2ForPsnr(35, 96 * 96 * 3)); // also PSNR ≥ 35 dB
 */
export function project(xAdv: tf.Tensor4D, x0: tf.Tensor4D, eps: number, norm: Norm, maxL2 = Number.POSITIVE_INFINITY): tf.Tensor4D {
  return tf.tidy(() => {
    if (norm === 'linf') {
      const lo = tf.maximum(tf.sub(x0, eps), 0);
      const hi = tf.minimum(tf.add(x0, eps), 1);
      const boxed = tf.minimum<tf.Tensor4D>(tf.maximum(xAdv, lo), hi);
      if (!Number.isFinite(maxL2)) return boxed;
      const dLo = tf.sub(lo, x0); const dHi = tf.sub(hi, x0);
      const d = tf.sub(xAdv, x0);
      const normAt = (s: tf.Tensor1D): tf.Tensor1D => perImageL2(tf.minimum(tf.maximum(tf.mul(d, perImage(s)), dLo), dHi));
      const inside = tf.lessEqual(perImageL2(tf.sub(boxed, x0)), maxL2);
      let sLo = tf.zeros<tf.Rank.R1>([x0.shape[0]]);
      let sHi = tf.ones<tf.Rank.R1>([x0.shape[0]]);
      for (let i = 0; i < BISECTION_STEPS; i++) {
        const mid = tf.div<tf.Tensor1D>(tf.add(sLo, sHi), 2);
        const ok = tf.lessEqual(normAt(mid), maxL2);
        sLo = tf.where(ok, mid, sLo);
        sHi = tf.where(ok, sHi, mid);
      }
      const s = tf.where<tf.Tensor1D>(inside, tf.onesLike(sLo), sLo);
      return tf.add<tf.Tensor4D>(x0, tf.minimum(tf.maximum(tf.mul(d, perImage(s)), dLo), dHi));
    }
    const radius = Math.min(eps, maxL2);
    const d = tf.sub(xAdv, x0);
    const n = perImageL2(d);
    const factor = tf.minimum(1, tf.div(radius, tf.maximum(n, 1e-12)));
    return tf.clipByValue(tf.add(x0, tf.mul(d, perImage(factor as tf.Tensor1D))), 0, 1);
  });
}

/** Broadcasts a per-image boolean `[N]` to a full `[N, H, W, C]` mask. */
function tileRows(flags: tf.Tensor, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => tf.greater(tf.tile(perImage(flags.toFloat() as tf.Tensor1D), [1, ...shape.slice(1)]), 0.5));
}

/** Rounds each pixel of `x0 + d` toward `x0` onto the 8-bit grid, so that `|result − x0| ≤ |d|` pixel-wise. */
function truncateToward(x0: tf.Tensor4D, d: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const steps = tf.floor(tf.add(tf.mul(tf.abs(d), 255), 1e-4));
    return canonical(tf.add(x0, tf.mul(tf.sign(d), tf.div(steps, 255))));
  });
}

/**
 * `x0 + k/255` and `j/255` can differ in the last float bit for the same level; snap values within a
 * thousandth of a level to `round(255·v)/255` so that rounding is idempotent. Off-grid values stay as they are.
 */
function canonical(v: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const s = tf.mul(v, 255);
    const r = tf.round(s);
    return tf.where(tf.less(tf.abs(tf.sub(s, r)), 1e-3), tf.div(r, 255), v) as tf.Tensor4D;
  });
}

function roundNearest(x: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue<tf.Tensor4D>(tf.div(tf.round(tf.mul(x, 255)), 255), 0, 1));
}

/**
 * Rounds adversarial images to 8 bits (multiples of 1/255) while keeping them inside the threat model, so
 * that the PNG written to disk is the image that fools the model. `x` is first projected onto the threat model.
 *
 * - L∞: each pixel is rounded to the nearest level; a pixel that would leave the ball is rounded toward
 *   `x0` instead.
 * - L2: nearest rounding when the rounded perturbation stays within ε. Otherwise every pixel is first
 *   rounded toward `x0` (which cannot increase the norm), and then the pixels that nearest rounding would
 *   round away from `x0` are, in order of how close they are to the next level, rounded away while the
 *   norm stays within ε.
 *
 * An infinite `eps` (an uncapped minimal-norm attack) means plain nearest rounding.
 * `x0` is assumed to be 8-bit itself (it was read from an image file). If it is not, the result still lies
 * inside the ball and the box, but pixels rounded toward `x0` may be off the 8-bit grid.
 */
export function roundTo8Bit(x: tf.Tensor4D, x0: tf.Tensor4D, eps: number, norm: Norm, maxL2 = Number.POSITIVE_INFINITY): tf.Tensor4D {
  return tf.tidy(() => {
    if (!Number.isFinite(eps)) return roundNearest(x);
    const xp = project(x, x0, eps, norm, maxL2);
    const r = roundNearest(xp);
    const d = tf.sub<tf.Tensor4D>(xp, x0);
    if (norm === 'linf') {
      const outside = tf.greater(tf.abs(tf.sub(r, x0)), eps + TOL);
      const rounded = tf.where(outside, truncateToward(x0, d), r);
      if (!Number.isFinite(maxL2)) return rounded;
      // Over the L2 cap after rounding: the greedy L2 rounding, never past the L∞ radius.
      const over = tf.greater(perImageL2(tf.sub(rounded, x0)), maxL2 * (1 + 1e-6));
      return tf.where(tileRows(over, x.shape), greedyL2(x0, d, maxL2, Math.floor(eps * 255 + 1e-4)), rounded);
    }
    const radius = Math.min(eps, maxL2);
    const n = perImageL2(tf.sub(r, x0));
    const bad = tf.greater(n, radius * (1 + 1e-6));
    return tf.where(tileRows(bad, x.shape), greedyL2(x0, d, radius), r);
  });
}

/**
 * The L2 fallback of {@link roundTo8Bit}: start from the perturbation rounded toward `x0`, then round away
 * from `x0` the pixels with the largest fractional part above ½, while ‖δ‖ ≤ ε. Works in units of 8-bit
 * steps, where norms² are integers. With `maxSteps` no pixel is rounded past that many steps (an L∞ radius).
 */
function greedyL2(x0: tf.Tensor4D, d: tf.Tensor4D, eps: number, maxSteps = Number.POSITIVE_INFINITY): tf.Tensor4D {
  return tf.tidy(() => {
    const n = d.shape[0];
    const size = d.size / n;
    const a = tf.reshape(tf.mul(tf.abs(d), 255), [n, size]);
    const t = tf.floor(tf.add(a, 1e-4));
    // A pixel that may not grow gets fraction −1: it sorts last and is never rounded away.
    const frac = Number.isFinite(maxSteps) ? tf.where(tf.less(t, maxSteps), tf.sub(a, t), tf.fill([n, size], -1)) : tf.sub(a, t);
    const base = tf.sum(tf.square(t), 1, true);
    const { values: sortedFrac, indices: order } = tf.topk(frac, size, true);
    const cost = gatherPerRow(tf.add(tf.mul(t, 2), 1), order);
    const budget = (eps * 255) ** 2 * (1 - 1e-6);
    // Both conditions are monotone along the sorted order, so the allowed pixels form a prefix.
    const allowSorted = tf.logicalAnd(tf.lessEqual(tf.add(base, tf.cumsum(cost, 1)), budget), tf.greater(sortedFrac, 0.5)).toFloat();
    const inverse = tf.topk(tf.neg(order.toFloat()), size, true).indices;
    const up = gatherPerRow(allowSorted, inverse);
    const steps = tf.reshape(tf.add(t, up), d.shape);
    return canonical(tf.clipByValue(tf.add(x0, tf.mul(tf.sign(d), tf.div(steps, 255))), 0, 1));
  });
}

/**
 * `out[r][j] = v[r][idx[r][j]]` for `[n, size]` tensors. Written as one gather from the flattened values with row
 * offsets added, because `tf.gather(v, idx, 1, 1)` (batchDims = 1) returns wrong rows past the first on the wasm
 * backend of tfjs 4.22.
 */
function gatherPerRow(v: tf.Tensor, idx: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, size] = v.shape as [number, number];
    const offsets = tf.mul(tf.range(0, n, 1, 'int32').reshape([n, 1]), tf.scalar(size, 'int32'));
    const flat = tf.add(idx.toInt(), offsets).reshape([n * size]);
    return tf.reshape<tf.Rank.R2>(tf.gather(v.reshape([n * size]), flat), [n, size]);
  });
}

/** Checks a threat model's fields and returns it. */
export function checkThreat(norm: unknown, epsilon: unknown, path = ''): ThreatModel {
  const p = (k: string): string => (path ? `${path}.${k}` : k);
  if (norm !== 'linf' && norm !== 'l2') {
    throw usageError(`${p('norm')} must be 'linf' or 'l2', got ${JSON.stringify(norm)}`, { path: p('norm') });
  }
  const ok = typeof epsilon === 'number' && epsilon > 0 && Number.isFinite(epsilon) && (norm === 'l2' || epsilon <= 1);
  if (!ok) {
    const range = norm === 'linf' ? '(0, 1]' : '(0, ∞)';
    throw usageError(`${p('epsilon')} must be in ${range} pixel units for ${norm === 'linf' ? 'L∞' : 'L2'}, got ${String(epsilon)}`, {
      path: p('epsilon'), hint: "ε is in pixel units on [0, 1] images, e.g. '4/255'",
    });
  }
  return { norm, epsilon };
}
