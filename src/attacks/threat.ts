import * as tf from '@tensorflow/tfjs';
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
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(t), axesAfterBatch(t))) as tf.Tensor1D);
}

/** Per-image L∞ norm of a batch `[N, …]` → `[N]`. */
export function perImageLinf(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.max(tf.abs(t), axesAfterBatch(t)) as tf.Tensor1D);
}

export function axesAfterBatch(t: tf.Tensor): number[] {
  return Array.from({ length: t.rank - 1 }, (_, i) => i + 1);
}

/** Reshapes a per-image vector `[N]` so it broadcasts against `[N, H, W, C]`. */
export function perImage(v: tf.Tensor1D): tf.Tensor4D {
  return v.reshape([-1, 1, 1, 1]);
}

/**
 * Projects `xAdv` onto the threat model around `x0`: the `norm` ball of radius `eps`, then the [0, 1] box.
 * For L2 the perturbation is rescaled per image and then clipped; clipping moves every pixel toward `x0`
 * (which is inside the box), so the result stays inside the ball.
 *
 * @example
 * const x = project(xAdv, x0, 8 / 255, 'linf');
 */
export function project(xAdv: tf.Tensor4D, x0: tf.Tensor4D, eps: number, norm: Norm): tf.Tensor4D {
  return tf.tidy(() => {
    if (norm === 'linf') {
      const lo = tf.maximum(tf.sub(x0, eps), 0);
      const hi = tf.minimum(tf.add(x0, eps), 1);
      return tf.minimum(tf.maximum(xAdv, lo), hi);
    }
    const d = tf.sub(xAdv, x0);
    const n = perImageL2(d);
    const factor = tf.minimum(1, tf.div(eps, tf.maximum(n, 1e-12)));
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
    return tf.add(x0, tf.mul(tf.sign(d), tf.div(steps, 255)));
  });
}

function roundNearest(x: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.div(tf.round(tf.mul(x, 255)), 255), 0, 1) as tf.Tensor4D);
}

/**
 * Rounds adversarial images to 8 bits (multiples of 1/255) while keeping them inside the threat model, so
 * that the PNG written to disk is the image that fools the model.
 *
 * - L∞: each pixel is rounded to the nearest level; a pixel that would leave the ball is rounded toward
 *   `x0` instead.
 * - L2: nearest rounding; an image whose rounded perturbation exceeds ε is shrunk (a few rescale-and-round
 *   passes) and, failing that, every pixel is rounded toward `x0`, which cannot increase the norm.
 *
 * An infinite `eps` (an uncapped minimal-norm attack) means plain nearest rounding.
 * `x0` is assumed to be 8-bit itself (it was read from an image file). If it is not, the result still lies
 * inside the ball and the box, but pixels rounded toward `x0` may be off the 8-bit grid.
 */
export function roundTo8Bit(x: tf.Tensor4D, x0: tf.Tensor4D, eps: number, norm: Norm): tf.Tensor4D {
  return tf.tidy(() => {
    const r = roundNearest(x);
    if (!Number.isFinite(eps)) return r;
    if (norm === 'linf') {
      const outside = tf.greater(tf.abs(tf.sub(r, x0)), eps + TOL);
      return tf.where(outside, truncateToward(x0, tf.sub(x, x0) as tf.Tensor4D), r);
    }
    const limit = eps * (1 + 1e-6) + TOL * 1e-2;
    const d = tf.sub(x, x0) as tf.Tensor4D;
    let best = r;
    let n = perImageL2(tf.sub(r, x0));
    let scale: tf.Tensor = tf.onesLike(n);
    // Rescale the perturbation by ε / ‖rounded‖ and round again; rarely needs more than one pass.
    for (let pass = 0; pass < 4; pass++) {
      const bad = tf.greater(n, limit);
      scale = tf.where(bad, tf.mul(scale, tf.div(eps * (1 - 1e-4), tf.maximum(n, 1e-12))), scale);
      const candidate = roundNearest(tf.add(x0, tf.mul(d, perImage(scale as tf.Tensor1D))));
      best = tf.where(tileRows(bad, x.shape), candidate, best);
      n = perImageL2(tf.sub(best, x0));
    }
    const stillBad = tf.greater(n, limit);
    const fallback = truncateToward(x0, d);
    return tf.where(tileRows(stillBad, x.shape), fallback, best);
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
