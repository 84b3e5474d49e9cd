/**
 * The unit-attack experiment (Bau et al., PNAS 2020, §"adversarial attacks"): steer a few units of one layer —
 * lower a *suppress* set, raise an *excite* set — with an imperceptible perturbation, and measure how often the
 * model then predicts the class the excited units stand for. A random-unit control of the same size is always run
 * beside it, so that "predictable misclassification" is a comparison, not a single number.
 */
import * as tf from '../../tf.js';
import type { Classifier } from '../../models/types.js';
import { subSeed } from '../../util/random.js';
import { labelIndices } from '../_internals/labels.js';
import { cleanAccuracy } from '../metrics.js';
import { resolveTargets, type ObjectiveSpec } from '../objectives.js';
import { randomUnits } from '../random-units.js';
import { runAttack } from '../registry.js';
import type { AttackProgress, Labels } from '../types.js';
import { labelsArray, measureArm, type ArmSpec } from './measure.js';
import { resolveOptions, type Resolved } from './options.js';
import type { UnitAttackArm, UnitAttackOptions, UnitAttackResult } from './types.js';

/**
 * Runs the unit attack and its random-unit control on a batch and measures both on the 8-bit images.
 *
 * @example
 * const r = await unitAttack(clf, x, labels, {
 *   atlas, suppress: ['snow', 'mountain'], excite: ['bed'], target: 'bedroom', epsilon: '4/255', steps: 50,
 * });
 * console.log(r.unit.targetedSuccess?.rate, r.control?.targetedSuccess?.rate);
 * disposeUnitAttack(r);
 */
export async function unitAttack(classifier: Classifier, x: tf.Tensor4D, trueLabels: Labels, options: UnitAttackOptions): Promise<UnitAttackResult> {
  const labels = labelIndices(classifier.classNames, trueLabels);
  const t0 = Date.now();
  const o = resolveOptions(classifier, options);
  const n = x.shape[0];
  const target = o.target === undefined ? null : resolveTargets(classifier, o.target, 1, 'target')![0];
  const arms: UnitAttackArm[] = [];
  const warnings: string[] = [...o.warnings];
  const controlSeed = subSeed(o.seed, 1000);
  const sides: ArmSpec[] = [
    { arm: 'unit', suppress: o.suppress.units, excite: o.excite.units, seed: o.seed },
  ];
  if (o.control) {
    // Units that never fire on the probe set (threshold 0) cannot be scaled or steered, so the control skips them too.
    const dead = o.scale ? [...o.scale.keys()].filter((u) => !(o.scale![u] > 0)) : [];
    const steered = [...o.suppress.units, ...o.excite.units, ...dead];
    const cs = randomUnits({ count: o.suppress.units.length, numUnits: o.numUnits, exclude: steered, seed: controlSeed });
    const ce = randomUnits({ count: o.excite.units.length, numUnits: o.numUnits, exclude: [...steered, ...cs], seed: subSeed(controlSeed, 1) });
    sides.push({ arm: 'control', suppress: cs, excite: ce, seed: o.seed });
  }
  let labelArr: Int32Array | undefined;
  for (const side of sides) {
    const spec = objectiveSpec(o, side.suppress, side.excite, target);
    const result = await runAttack(classifier, x, labels, {
      kind: o.attack, epsilon: o.epsilon, norm: o.norm, seed: side.seed, objective: spec, steps: o.steps,
      ...(o.minPsnr !== undefined ? { minPsnr: o.minPsnr } : {}),
      ...(o.attack === 'pgd' ? {
        schedule: o.schedule, restarts: o.restarts, randomStart: o.randomStart, earlyStop: o.stopAtTarget,
        ...(o.stepSize !== undefined ? { stepSize: o.stepSize } : {}),
      } : {}),
      ...(options.onProgress ? { onProgress: (p: AttackProgress) => options.onProgress!(side.arm, p) } : {}),
    });
    try {
      labelArr ??= await labelsArray(labels, n);
      arms.push(await measureArm(classifier, o, side, result, x, labelArr, target));
    } catch (err) {
      result.adversarial.dispose();
      arms.forEach((a) => a.attack.adversarial.dispose());
      throw err;
    }
  }
  const unit = arms[0];
  const control = arms[1] ?? null;
  warnings.push(...unit.warnings, ...(control?.warnings.map((w) => `control: ${w}`) ?? []));
  return {
    model: classifier.name, layer: o.layer, numUnits: o.numUnits, selection: { suppress: o.suppress, excite: o.excite },
    target: target === null ? null : { index: target, name: classifier.classNames[target] },
    attack: o.attack, objective: unit.attack.objectiveName, norm: unit.attack.norm, epsilon: unit.attack.epsilon,
    ...(o.minPsnr !== undefined ? { minPsnr: o.minPsnr } : {}), steps: o.steps,
    aggregate: o.aggregate, shaping: o.shaping, unitScale: o.unitScaleKind, classWeight: o.classWeight,
    labels: labelArr!, cleanPredictions: unit.before, cleanAccuracy: cleanAccuracy(unit.before, labelArr!),
    unit, control, seed: o.seed, controlSeed,
    backend: tf.getBackend(), tfjsVersion: tf.version_core, seconds: (Date.now() - t0) / 1000, warnings,
  };
}

/** Frees the adversarial images a {@link UnitAttackResult} holds. */
export function disposeUnitAttack(result: UnitAttackResult): void {
  result.unit.attack.adversarial.dispose();
  result.control?.attack.adversarial.dispose();
}

function objectiveSpec(o: Resolved, suppress: number[], excite: number[], target: number | null): ObjectiveSpec {
  // The target reaches the objective only when the attack may use it: a class term, early stop, or cw's success test.
  const useTarget = target !== null && (o.classWeight > 0 || o.stopAtTarget || o.attack === 'cw');
  const common = {
    layer: o.layer, suppress, excite, aggregate: o.aggregate,
    ...(o.spatialWeights ? { spatialWeights: o.spatialWeights } : {}),
    ...(o.scale ? { unitScale: o.scale } : {}),
    ...(o.classWeight > 0 ? { classWeight: o.classWeight } : {}),
    ...(useTarget ? { target } : {}),
  };
  return { kind: 'unit', shaping: o.shaping, cap: o.cap, ...common };
}

