/**
 * Measuring an attack: predictions before and after, success, accuracy, norms and image quality of the adversarial
 * images against the clean ones. The one measurement the CLI, the scenario runner, the curves and the unit attack share.
 */
import type * as tf from '../tf.js';
import {
  cleanAccuracy, gaussianWindow, l2, linf, psnr, robustAccuracy, ssim, targetedSuccess, untargetedSuccess, type MetricSummary, type Rate,
} from './metrics.js';

/** The images and predictions an attack produced (an `AttackResult` has them). */
export interface AttackedImages {
  /** The 8-bit adversarial images. */
  adversarial: tf.Tensor4D;
  /** Predictions on the clean images. */
  cleanPredictions: Int32Array;
  /** Predictions on the adversarial images. */
  predictions: Int32Array;
}

/** Options for {@link measureAttack}. */
export interface MeasureAttackOptions {
  /** The target class index; null or unset for no targeted success. */
  target?: number | null;
  /**
   * SSIM: `always` (a usage error on images smaller than its window), `when-possible` (null with a warning on
   * smaller images) or `never` (null). @defaultValue `'always'`
   */
  ssim?: 'always' | 'when-possible' | 'never';
}

/** Everything {@link measureAttack} measured. */
export interface AttackMeasurement {
  before: Int32Array;
  after: Int32Array;
  cleanAccuracy: Rate;
  robustAccuracy: Rate;
  untargetedSuccess: Rate;
  /** Null without a target. */
  targetedSuccess: Rate | null;
  psnr: MetricSummary;
  /** Null when not measured (see {@link MeasureAttackOptions.ssim}). */
  ssim: MetricSummary | null;
  linf: MetricSummary;
  l2: MetricSummary;
  warnings: string[];
}

/**
 * Measures an attack on `x` with true `labels`.
 *
 * @example
 * const r = await pgd(clf, x, labels, { epsilon: '4/255' });
 * const m = await measureAttack(x, r, Int32Array.from(labels));
 */
export async function measureAttack(
  x: tf.Tensor4D, attacked: AttackedImages, labels: Int32Array, options: MeasureAttackOptions = {},
): Promise<AttackMeasurement> {
  const { adversarial: adv, cleanPredictions: before, predictions: after } = attacked;
  const target = options.target ?? null;
  const warnings: string[] = [];
  const [, h, w] = x.shape;
  const k = gaussianWindow().length;
  let s: MetricSummary | null = null;
  const mode = options.ssim ?? 'always';
  if (mode === 'always' || (mode === 'when-possible' && h >= k && w >= k)) s = await ssim(adv, x);
  else if (mode === 'when-possible') warnings.push(`ssim needs images of at least ${k}×${k}; the model takes ${h}×${w}`);
  return {
    before, after,
    cleanAccuracy: cleanAccuracy(before, labels), robustAccuracy: robustAccuracy(before, after, labels),
    untargetedSuccess: untargetedSuccess(before, after, labels),
    targetedSuccess: target === null ? null : targetedSuccess(after, labels, target),
    psnr: await psnr(adv, x), ssim: s, linf: await linf(adv, x), l2: await l2(adv, x), warnings,
  };
}

/** The mean of the finite values (NaN when there are none), e.g. the mean PSNR over the images that changed. */
export function meanFinite(values: readonly number[]): number {
  const f = values.filter(Number.isFinite);
  return f.length > 0 ? f.reduce((a, b) => a + b, 0) / f.length : Number.NaN;
}
