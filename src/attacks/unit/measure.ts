/** Measuring one arm of the unit attack, and the PNAS unit-effect measurement on any clean / adversarial pair. */
import * as tf from '../../tf.js';
import { usageError } from '../../errors.js';
import type { Classifier } from '../../models/types.js';
import { checkInt } from '../_internals/validate.js';
import { measureAttack } from '../measure.js';
import { unitEffect, type UnitEffect } from '../metrics.js';
import type { AttackResult } from '../types.js';
import type { Resolved } from './options.js';
import type { UnitAttackArm } from './types.js';

/** One arm to run: its units and seed. */
export interface ArmSpec { arm: 'unit' | 'control'; suppress: number[]; excite: number[]; seed: number }

export async function labelsArray(labels: ArrayLike<number> | tf.Tensor1D, n: number): Promise<Int32Array> {
  const arr = labels instanceof tf.Tensor ? await labels.data() : labels;
  if (arr.length !== n) throw usageError(`labels has ${arr.length} entries for ${n} images`, { path: 'labels' });
  return Int32Array.from(arr);
}

/** Measures one arm on the 8-bit images: the attack's measurement, the unit effect, and warnings when nothing moved. */
export async function measureArm(
  classifier: Classifier, o: Resolved, side: ArmSpec, result: AttackResult, x: tf.Tensor4D, labels: Int32Array, target: number | null,
): Promise<UnitAttackArm> {
  const m = await measureAttack(x, result, labels, { target });
  // Units that never fired on the probe set have a zero scale; their changes are left unscaled.
  const measureScale = o.scale ? Float32Array.from(o.scale, (v) => (v > 0 && Number.isFinite(v) ? v : 1)) : null;
  const effect = await measureUnitEffect(classifier, o.layer, x, result.adversarial, side.suppress, side.excite, {
    confidence: o.confidence, seed: side.seed, ...(measureScale ? { unitScale: measureScale } : {}),
  });
  const warnings = [...result.warnings];
  const moved = Math.max(Math.abs(effect.suppressed.mean || 0), Math.abs(effect.excited.mean || 0));
  if (moved < 1e-6 && m.linf.max > 0) {
    warnings.push(`${side.arm}: the steered units did not move (mean change ${moved.toExponential(1)}); their gradient is probably zero: `
      + "the units may be inactive on these images (try aggregate 'mean' or other units) or the layer is not differentiable");
  }
  if (m.linf.max === 0) {
    warnings.push(`${side.arm}: the attack left every image unchanged after rounding to 8 bits; ε may be below one 8-bit step (1/255) or the gradient is zero`);
  }
  return {
    arm: side.arm, suppress: side.suppress, excite: side.excite, attack: result, before: m.before, after: m.after,
    targetedSuccess: m.targetedSuccess, untargetedSuccess: m.untargetedSuccess, robustAccuracy: m.robustAccuracy,
    // SSIM is always measured here (mode 'always'), so it is never null.
    psnr: m.psnr, ssim: m.ssim!, linf: m.linf, l2: m.l2, unitEffect: effect, seed: side.seed, warnings,
  };
}

/** Options for {@link measureUnitEffect}. */
export interface MeasureUnitEffectOptions {
  /** @defaultValue 0.99 */
  confidence?: number;
  /** Seed of the bootstrap. @defaultValue 0 */
  seed?: number;
  /** Per-unit scale the changes are divided by. */
  unitScale?: Float32Array | readonly number[];
  /** Images per forward pass. @defaultValue 64 */
  batchSize?: number;
}

/**
 * The PNAS measurement on any pair of clean / adversarial images: how each unit's spatial-max activation at
 * `layer` changed, grouped as `suppress`, `excite` and all other units, with confidence intervals over images.
 *
 * @example
 * const e = await measureUnitEffect(clf, 'block5_conv3', x, pgdResult.adversarial, skiUnits, bedroomUnits);
 */
export async function measureUnitEffect(
  classifier: Classifier, layer: string, x: tf.Tensor4D, adversarial: tf.Tensor4D,
  suppress: readonly number[], excite: readonly number[], options: MeasureUnitEffectOptions = {},
): Promise<UnitEffect> {
  const batch = checkInt(options.batchSize ?? 64, 'batchSize', 1);
  const pooled = (t: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => {
    const parts: tf.Tensor2D[] = [];
    for (let i = 0; i < t.shape[0]; i += batch) {
      const a = classifier.activations(tf.slice(t, [i, 0, 0, 0], [Math.min(batch, t.shape[0] - i), -1, -1, -1]), layer);
      parts.push((a.rank === 4 ? tf.max(a, [1, 2]) : a.rank === 2 ? a : tf.reshape(a, [a.shape[0], -1])) as tf.Tensor2D);
    }
    return parts.length === 1 ? parts[0] : tf.concat(parts);
  });
  const before = pooled(x);
  const after = pooled(adversarial);
  try {
    return await unitEffect(before, after, {
      suppress, excite, confidence: options.confidence ?? 0.99, seed: options.seed ?? 0,
      ...(options.unitScale ? { unitScale: options.unitScale } : {}),
    });
  } finally {
    before.dispose(); after.dispose();
  }
}

