/**
 * Robustness curves: accuracy and attack success as a function of the budget ε, one row per (ε, arm). ε = 0 is the
 * clean row. Works for logit attacks (one arm, the attack) and for the unit attack (two arms: the steered units
 * and the random-unit control).
 */
import type * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { formatEpsilon, parseEpsilonList } from './epsilon.js';
import { checkCurve, maskingWarnings, type MaskingCheck } from './masking.js';
import { meanFinite, measureAttack } from './measure.js';
import { cleanAccuracy, targetedSuccess, untargetedSuccess, type Rate } from './metrics.js';
import { resolveTargets } from './objectives.js';
import { runAttack, type AttackSpec, type CustomAttackSpec } from './registry.js';
import type { AttackProgress, AttackResult, Labels } from './types.js';
import { labelIndices } from './_internals/labels.js';
import { disposeUnitAttack, unitAttack, type UnitAttackArm, type UnitAttackOptions, type UnitAttackResult } from './unit/index.js';

/** The budgets of the default curve: `0, 1/255, 2/255, 4/255, 8/255`. */
export const DEFAULT_EPSILONS: readonly number[] = [0, 1 / 255, 2 / 255, 4 / 255, 8 / 255];

/** One row of a curve: one arm at one ε. Rates have NaN `rate` when their denominator is 0. */
export interface CurveRow {
  epsilon: number;
  /** ε as text, e.g. `4/255`. */
  label: string;
  /** `attack` for a logit attack, `unit` / `control` for the unit attack. */
  arm: string;
  cleanAccuracy: Rate;
  robustAccuracy: Rate;
  untargetedSuccess: Rate;
  /** Null without a target. */
  targetedSuccess: Rate | null;
  /** Mean PSNR over the changed images (dB; NaN when none changed). */
  psnr: number;
  /** Largest L∞ and mean L2 distance over the images, in pixel units. */
  linfMax: number;
  l2Mean: number;
  /** Mean change of the steered units' spatial-max activation (unit attack only). */
  suppressedChange?: number;
  excitedChange?: number;
  warnings: string[];
}

/** A robustness curve: its rows and how it was made. */
export interface RobustnessCurve {
  kind: 'logit' | 'unit';
  attack: string;
  epsilons: number[];
  arms: string[];
  target: string | null;
  images: number;
  rows: CurveRow[];
  seed: number;
  seconds: number;
  /**
   * The curve's gradient-masking checks on its first arm (the attack, or the unit attack): robust accuracy rising with ε,
   * and an ε = 0 row that differs from the clean accuracy of the other runs.
   */
  checks: MaskingCheck[];
  /** The messages of the checks that fired. */
  warnings: string[];
}

function curveChecks(rows: readonly CurveRow[], arm: string): { checks: MaskingCheck[]; warnings: string[] } {
  const checks = checkCurve(rows.filter((r) => r.arm === arm).map((r) => ({
    epsilon: r.epsilon, robust: r.robustAccuracy.count, clean: r.cleanAccuracy.count, total: r.robustAccuracy.total,
  })));
  return { checks, warnings: maskingWarnings(checks) };
}

/** Options for {@link robustnessCurve}. */
export interface RobustnessCurveOptions {
  /** Budgets, as numbers or a list like `'0,1/255,2/255'`. @defaultValue {@link DEFAULT_EPSILONS} */
  epsilons?: readonly (number | string)[] | string;
  /** Called before each ε with its index. */
  onEpsilon?: (index: number, epsilon: number) => void;
  onProgress?: (progress: AttackProgress) => void;
}

/** Extra options of {@link robustnessCurve}. */
export interface LogitCurveOptions extends RobustnessCurveOptions {
  /** Sees each ε's attack result before its images are freed (e.g. to save the images of one ε). */
  onResult?: (epsilon: number, result: AttackResult) => void | Promise<void>;
}

/** Extra options of {@link unitAttackCurve}. */
export interface UnitCurveOptions extends RobustnessCurveOptions {
  onArmProgress?: UnitAttackOptions['onProgress'];
  /** Sees each ε's result before its images are freed. */
  onResult?: (epsilon: number, result: UnitAttackResult) => void | Promise<void>;
}

function epsilonsOf(e: RobustnessCurveOptions['epsilons'], norm: 'linf' | 'l2'): number[] {
  const list = e === undefined ? [...DEFAULT_EPSILONS] : parseEpsilonList(typeof e === 'string' ? e : e.map(String), { norm, path: 'epsilons' });
  if (list.length === 0) throw usageError('epsilons is empty', { path: 'epsilons' });
  return [...new Set(list)].sort((a, b) => a - b);
}

const epsLabel = (eps: number): string => (eps === 0 ? '0' : formatEpsilon(eps));

async function labelArray(labels: Labels): Promise<Int32Array> {
  const arr = 'data' in labels && typeof labels.data === 'function' ? await (labels).data() : labels as ArrayLike<number>;
  return Int32Array.from(arr);
}

/**
 * The curve of a logit attack (the spec's `epsilon` is replaced by each budget in turn).
 *
 * @example
 * const c = await robustnessCurve(clf, x, labels, { kind: 'pgd', steps: 20, objective: { kind: 'ce' } });
 */
export async function robustnessCurve(
  classifier: Classifier, x: tf.Tensor4D, labels: Labels, spec: AttackSpec | CustomAttackSpec, options: LogitCurveOptions = {},
): Promise<RobustnessCurve> {
  labels = labelIndices(classifier.classNames, labels);
  const t0 = Date.now();
  const norm = spec.norm ?? 'linf';
  const epsilons = epsilonsOf(options.epsilons, norm);
  const y = await labelArray(labels);
  const objective = 'objective' in spec ? spec.objective : undefined;
  const target = objective?.target === undefined ? null : resolveTargets(classifier, objective.target, 1)![0];
  const rows: CurveRow[] = [];
  for (const [i, eps] of epsilons.entries()) {
    options.onEpsilon?.(i, eps);
    const r = await runAttack(classifier, x, labels, {
      ...spec, epsilon: eps, ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    try {
      await options.onResult?.(eps, r);
      const m = await measureAttack(x, r, y, { target, ssim: 'never' });
      rows.push({
        epsilon: eps, label: epsLabel(eps), arm: 'attack', cleanAccuracy: m.cleanAccuracy, robustAccuracy: m.robustAccuracy,
        untargetedSuccess: m.untargetedSuccess, targetedSuccess: m.targetedSuccess,
        psnr: meanFinite(m.psnr.perImage), linfMax: m.linf.max, l2Mean: m.l2.mean, warnings: r.warnings,
      });
    } finally {
      r.adversarial.dispose();
    }
  }
  return {
    kind: 'logit', attack: spec.kind, epsilons, arms: ['attack'], target: target === null ? null : classifier.classNames[target],
    images: x.shape[0], rows, seed: spec.seed ?? 0, seconds: (Date.now() - t0) / 1000, ...curveChecks(rows, 'attack'),
  };
}

/**
 * The curve of the unit attack and its random-unit control: two rows per ε.
 *
 * @example
 * const c = await unitAttackCurve(clf, x, labels, { atlas, exciteClass: 'bedroom', suppressClass: 'ski_resort' });
 */
export async function unitAttackCurve(
  classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: Omit<UnitAttackOptions, 'epsilon' | 'onProgress'>,
  curve: UnitCurveOptions = {},
): Promise<RobustnessCurve> {
  labels = labelIndices(classifier.classNames, labels);
  const t0 = Date.now();
  const epsilons = epsilonsOf(curve.epsilons, options.norm ?? (options.attack === 'cw' ? 'l2' : 'linf'));
  const y = await labelArray(labels);
  const rows: CurveRow[] = [];
  const t = options.target ?? options.exciteClass;
  const targetIdx = t === undefined ? null : resolveTargets(classifier, t, 1, 'target')![0];
  let attack = options.attack ?? 'pgd';
  const arms = options.control === false ? ['unit'] : ['unit', 'control'];
  for (const [i, eps] of epsilons.entries()) {
    curve.onEpsilon?.(i, eps);
    if (eps === 0) {
      // The clean row: no attack, the same for every arm.
      const clean = await runAttack(classifier, x, labels, { kind: 'pgd', epsilon: 0 });
      clean.adversarial.dispose();
      const acc = cleanAccuracy(clean.cleanPredictions, y);
      for (const arm of arms) {
        rows.push({
          epsilon: 0, label: '0', arm, cleanAccuracy: acc, robustAccuracy: acc,
          untargetedSuccess: untargetedSuccess(clean.cleanPredictions, clean.predictions, y),
          targetedSuccess: targetIdx === null ? null : targetedSuccess(clean.predictions, y, targetIdx),
          psnr: Number.NaN, linfMax: 0, l2Mean: 0, suppressedChange: 0, excitedChange: 0, warnings: [],
        });
      }
      continue;
    }
    const r = await unitAttack(classifier, x, labels, {
      ...options, epsilon: eps, ...(curve.onArmProgress ? { onProgress: curve.onArmProgress } : {}),
    });
    try {
      await curve.onResult?.(eps, r);
      attack = r.attack;
      for (const a of [r.unit, r.control].filter((v): v is UnitAttackArm => v !== null)) {
        rows.push({
          epsilon: eps, label: epsLabel(eps), arm: a.arm, cleanAccuracy: r.cleanAccuracy, robustAccuracy: a.robustAccuracy,
          untargetedSuccess: a.untargetedSuccess, targetedSuccess: a.targetedSuccess, psnr: meanFinite(a.psnr.perImage),
          linfMax: a.linf.max, l2Mean: a.l2.mean, suppressedChange: a.unitEffect.suppressed.mean, excitedChange: a.unitEffect.excited.mean,
          warnings: a.warnings,
        });
      }
    } finally {
      disposeUnitAttack(r);
    }
  }
  const target = targetIdx === null ? null : classifier.classNames[targetIdx];
  return {
    kind: 'unit', attack, epsilons, arms, target, images: x.shape[0], rows, seed: options.seed ?? 0, seconds: (Date.now() - t0) / 1000,
    ...curveChecks(rows, 'unit'),
  };
}
