/**
 * The unit-attack experiment (Bau et al., PNAS 2020, §"adversarial attacks"): steer a few units of one layer —
 * lower a *suppress* set, raise an *excite* set — with an imperceptible perturbation, and measure how often the
 * model then predicts the class the excited units stand for. A random-unit control of the same size is always run
 * beside it, so that "predictable misclassification" is a comparison, not a single number.
 */
import * as tf from '../tf.js';
import { availableConcepts, unitsForConcepts, type Atlas } from '../dissection/atlas.js';
import { steeringRanking } from '../dissection/gradients.js';
import { nearestNames, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { subSeed } from './_internals/random.js';
import { checkChoice, checkInt, checkNumber, checkSeed, checkUnits } from './_internals/validate.js';
import { parseEpsilon } from './epsilon.js';
import {
  crossEntropy, registerObjective, resolveTargets, type ObjectiveSpec,
} from './objectives.js';
import {
  cleanAccuracy, l2, linf, psnr, robustAccuracy, ssim, targetedSuccess, unitEffect, untargetedSuccess,
  type MetricSummary, type Rate, type UnitEffect,
} from './metrics.js';
import { randomUnits } from './random-units.js';
import { runAttack } from './registry.js';
import type { Norm } from './threat.js';
import type { AttackProgress, AttackResult, Labels } from './types.js';
import { labelIndices } from './_internals/labels.js';

/** How the per-unit terms of the objective are shaped before they are averaged. */
export type UnitShaping =
  /** `a/s`: the plain unit objective (the same loss as `kind: 'unit'`). */
  | 'linear'
  /** `min(a/s, cap)` for excited units: a unit already `cap` × its scale is not pushed further. */
  | 'capped'
  /** `log(δ + a/s)`: equal *relative* changes count the same, so weak units are not left behind. */
  | 'log';

/** Which units to steer: by concept (needs an atlas), by class importance (needs an atlas) or by index, per side. */
export interface UnitSelection {
  /** Concepts whose units are lowered, e.g. `['snow', 'mountain']`. */
  suppress?: readonly string[];
  /** Concepts whose units are raised, e.g. `['bed']`. */
  excite?: readonly string[];
  /** Lower the units most important to this class, e.g. `'ski_resort'`. */
  suppressClass?: string;
  /** Raise the units most important to this class, e.g. `'bedroom'`. It is also the default `target`. */
  exciteClass?: string;
  /** Unit indices to lower. */
  suppressUnits?: readonly number[];
  /** Unit indices to raise. */
  exciteUnits?: readonly number[];
  /**
   * How `suppressClass` and `exciteClass` rank units. `gradient` — when both are given, by the atlas's class
   * gradients on the suppressed class's images: excite the units whose rise (by their dissection threshold) raises
   * the excited class's logit over the suppressed class's most, suppress the units that hold it down most;
   * `ablation` — each class's own importance ranking (the units it relies on, as in PNAS).
   * @defaultValue `ablation`
   */
  classRanking?: 'gradient' | 'ablation';
  /**
   * Units per side taken by class importance, and the cap on units per side taken by concept (best IoU first).
   * @defaultValue 10 for classes; every labelled unit for concepts
   */
  count?: number;
  /**
   * For a concept that labels no unit at the atlas's cut-off: take the units whose IoU with it (among their best
   * concepts in the atlas) is at least this instead of failing. Concepts that label units keep their labelled units.
   * @defaultValue undefined (a concept without units is an error that lists the concepts with units)
   */
  conceptIou?: number;
}

/** Options for {@link unitAttack}. */
export interface UnitAttackOptions extends UnitSelection {
  /** The atlas that maps concepts and classes to units. Needed to select by concept or class. */
  atlas?: Atlas;
  /** The steered layer. @defaultValue the atlas's layer, else the classifier's default layer */
  layer?: string;
  /**
   * The class the excited units stand for: used only to *measure* targeted success, never by the attack
   * (unless `classWeight` > 0). @defaultValue `exciteClass` when given, else none (no targeted success)
   */
  target?: string | number;
  /** A registered gradient attack: `pgd`, `fgsm` or `cw`. @defaultValue `'pgd'` */
  attack?: string;
  /** @defaultValue `4/255` (L∞), `0.5` (L2) */
  epsilon?: number | string;
  /** @defaultValue `'linf'` (`'l2'` for cw) */
  norm?: Norm;
  /** A PSNR floor in dB for every adversarial image, on top of ε (pgd and fgsm; see `AttackOptionsBase.minPsnr`). */
  minPsnr?: number;
  /** Gradient steps per restart (Adam steps per round for cw). @defaultValue 50 */
  steps?: number;
  /** PGD step size in pixel units. @defaultValue `2.5 · ε / steps` */
  stepSize?: number;
  /** PGD step-size schedule. @defaultValue `'cosine'` */
  schedule?: 'constant' | 'cosine';
  /** PGD restarts (per image the run with the best objective is kept). @defaultValue 1 */
  restarts?: number;
  /** PGD random start. @defaultValue true */
  randomStart?: boolean;
  /**
   * Spatial reduction of each unit's map: `mean`, `max`, or `typical` — a weighted mean with weights from where the
   * unit fires on its top-activating probe images (the atlas's `topImages` maps), so each unit is raised where it
   * usually fires rather than everywhere. @defaultValue `'mean'`
   */
  aggregate?: 'mean' | 'max' | 'typical';
  /**
   * With `aggregate: 'typical'`: the spatial weights to use instead of the atlas's top-image maps, `h·w·U` numbers in
   * `[h, w, U]` order (e.g. each unit's mean map on images of the class it stands for). Each unit's weights are
   * normalised to sum 1. @defaultValue from the atlas
   */
  spatialWeights?: Float32Array | readonly number[];
  /**
   * Per-unit scale of the objective: `'threshold'` divides each unit by its dissection threshold (needs the
   * atlas; floored at a tenth of the layer's median threshold), `'none'` uses raw activations, or one number per
   * unit of the layer.
   * @defaultValue `'threshold'` with an atlas, else `'none'`
   */
  unitScale?: 'threshold' | 'none' | Float32Array | readonly number[];
  /** @defaultValue `'linear'` */
  shaping?: UnitShaping;
  /** The cap of `capped` shaping, in units of the scale. @defaultValue 2 */
  cap?: number;
  /**
   * Weight of a targeted class term (cross-entropy at `target`). 0 is the pure unit attack, which never sees the
   * target. @defaultValue 0
   */
  classWeight?: number;
  /**
   * Stop an image as soon as it is predicted as `target`. Off by default, because stopping there would let the
   * target steer the pure unit attack. @defaultValue false
   */
  stopAtTarget?: boolean;
  /** Seed of the attack (random start) and of the control's units. @defaultValue 0 */
  seed?: number;
  /** Run the random-unit control. Only tests and timing switch it off. @defaultValue true */
  control?: boolean;
  /** Confidence of the unit-effect intervals. @defaultValue 0.99 */
  confidence?: number;
  /** Called after every step of either arm. */
  onProgress?: (arm: 'unit' | 'control', progress: AttackProgress) => void;
}

/** One arm of the experiment: the steered units or the random control. */
export interface UnitAttackArm {
  arm: 'unit' | 'control';
  suppress: number[];
  excite: number[];
  /** The attack's own result; `attack.adversarial` holds the 8-bit images (disposed by {@link disposeUnitAttack}). */
  attack: AttackResult;
  /** Predictions on the clean images and on the (rounded) adversarial images. */
  before: Int32Array;
  after: Int32Array;
  /** Images predicted as the target / images not of the target class; null without a target. */
  targetedSuccess: Rate | null;
  untargetedSuccess: Rate;
  robustAccuracy: Rate;
  psnr: MetricSummary;
  ssim: MetricSummary;
  linf: MetricSummary;
  l2: MetricSummary;
  /** Change of each unit's spatial-max activation (scaled like the objective), grouped. */
  unitEffect: UnitEffect;
  /** The seed the arm was attacked with. */
  seed: number;
  warnings: string[];
}

/** How the units of each side were chosen. */
export interface SideSelection {
  by: 'concept' | 'class' | 'index' | 'none';
  /** With `by: 'class'`, how the class ranked the units. */
  ranking?: 'gradient' | 'ablation';
  /** Concept names or the class name. */
  names: string[];
  units: number[];
  /** For each unit, its concept label in the atlas (null when unlabelled or without atlas). */
  concepts: (string | null)[];
}

/** Everything {@link unitAttack} measured. Dispose with {@link disposeUnitAttack}. */
export interface UnitAttackResult {
  model: string;
  layer: string;
  numUnits: number;
  selection: { suppress: SideSelection; excite: SideSelection };
  /** Target class index and name; null when none was given. */
  target: { index: number; name: string } | null;
  attack: string;
  objective: string;
  norm: Norm;
  epsilon: number;
  /** The PSNR floor the images were kept above, when one was asked for. */
  minPsnr?: number;
  steps: number;
  aggregate: 'mean' | 'max' | 'typical';
  shaping: UnitShaping;
  unitScale: 'threshold' | 'none' | 'custom';
  classWeight: number;
  labels: Int32Array;
  cleanPredictions: Int32Array;
  cleanAccuracy: Rate;
  unit: UnitAttackArm;
  /** Null only when `control: false`. */
  control: UnitAttackArm | null;
  seed: number;
  /** The seed the control units were drawn with. */
  controlSeed: number;
  backend: string;
  tfjsVersion: string;
  seconds: number;
  warnings: string[];
}

const ATTACKS_WITH_GRADIENTS = ['pgd', 'fgsm', 'cw'];

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
  const sides: Array<{ arm: 'unit' | 'control'; suppress: number[]; excite: number[]; seed: number }> = [
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

// ---------------------------------------------------------------------------------------------------------------
// Options

interface Resolved {
  layer: string;
  numUnits: number;
  suppress: SideSelection;
  excite: SideSelection;
  target: string | number | undefined;
  attack: string;
  epsilon: number;
  norm: Norm;
  minPsnr: number | undefined;
  steps: number;
  stepSize: number | undefined;
  schedule: 'constant' | 'cosine';
  restarts: number;
  randomStart: boolean;
  aggregate: 'mean' | 'max' | 'typical';
  spatialWeights: Float32Array | null;
  scale: Float32Array | null;
  unitScaleKind: 'threshold' | 'none' | 'custom';
  shaping: UnitShaping;
  cap: number;
  classWeight: number;
  stopAtTarget: boolean;
  seed: number;
  control: boolean;
  confidence: number;
  warnings: string[];
}

/** Checks every option (naming the culprit) and resolves the unit sets. */
function resolveOptions(classifier: Classifier, options: UnitAttackOptions): Resolved {
  if (options === null || typeof options !== 'object') throw usageError('unitAttack needs options naming the units to steer', { path: 'options' });
  const warnings: string[] = [];
  const atlas = options.atlas;
  const layer = options.layer ?? atlas?.layer ?? classifier.defaultLayer;
  if (atlas && layer !== atlas.layer) {
    throw usageError(`the atlas describes layer '${atlas.layer}', but the attack steers layer '${layer}'`, {
      path: 'layer', hint: `omit layer to use '${atlas.layer}', or dissect '${layer}'`,
    });
  }
  const info = classifier.layer(layer);
  const numUnits = info.shape[info.shape.length - 1];
  if (atlas) {
    if (atlas.units.length !== numUnits) {
      throw usageError(`the atlas has ${atlas.units.length} units for layer '${layer}', but the model's layer has ${numUnits}`, {
        path: 'atlas', hint: 'dissect this model again',
      });
    }
    if (atlas.fingerprint !== classifier.fingerprint && atlas.fingerprint !== '') {
      warnings.push(`the atlas was made for model ${atlas.model} (fingerprint ${atlas.fingerprint}), not this one (${classifier.fingerprint}); unit labels may not apply`);
    }
  }
  const attack = options.attack ?? 'pgd';
  if (!ATTACKS_WITH_GRADIENTS.includes(attack)) {
    throw usageError(`the unit attack needs a gradient attack; '${attack}' ${attack === 'square' ? 'only sees logits' : 'is not one of them'}`, {
      path: 'attack', hint: `use one of: ${ATTACKS_WITH_GRADIENTS.join(', ')}`,
    });
  }
  const norm = checkChoice(options.norm ?? (attack === 'cw' ? 'l2' : 'linf'), 'norm', ['linf', 'l2'] as const);
  const epsRaw = options.epsilon ?? (norm === 'linf' ? 4 / 255 : 0.5);
  const epsilon = parseEpsilon(epsRaw, { path: 'epsilon', norm });
  const minPsnr = options.minPsnr === undefined ? undefined : checkNumber(options.minPsnr, 'minPsnr', { min: 0, minExclusive: true });
  if (minPsnr !== undefined && attack === 'cw') throw usageError('minPsnr is supported with pgd and fgsm, not cw', { path: 'minPsnr', hint: "use attack 'pgd', or cap cw through epsilon" });
  const steps = checkInt(options.steps ?? 50, 'steps', 1);
  const stepSize = options.stepSize === undefined ? undefined : checkNumber(options.stepSize, 'stepSize', { min: 0, minExclusive: true });
  const schedule = checkChoice(options.schedule ?? 'cosine', 'schedule', ['constant', 'cosine'] as const);
  const restarts = checkInt(options.restarts ?? 1, 'restarts', 1);
  const randomStart = options.randomStart ?? true;
  const aggregate = checkChoice(options.aggregate ?? 'mean', 'aggregate', ['mean', 'max', 'typical'] as const);
  const shaping = checkChoice(options.shaping ?? 'linear', 'shaping', ['linear', 'capped', 'log'] as const);
  const cap = checkNumber(options.cap ?? 2, 'cap', { min: 0, minExclusive: true });
  const classWeight = checkNumber(options.classWeight ?? 0, 'classWeight', { min: 0 });
  const seed = checkSeed(options.seed ?? 0);
  const confidence = checkNumber(options.confidence ?? 0.99, 'confidence', { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const stopAtTarget = options.stopAtTarget ?? false;
  if (typeof stopAtTarget !== 'boolean') throw usageError(`stopAtTarget must be true or false, got ${String(stopAtTarget)}`, { path: 'stopAtTarget' });
  const control = options.control ?? true;

  const count = options.count === undefined ? undefined : checkInt(options.count, 'count', 1, numUnits);
  const minIou = options.conceptIou === undefined ? undefined : checkNumber(options.conceptIou, 'conceptIou', { min: 0, max: 1, minExclusive: true });
  const steer = steeringLists(options, atlas);
  const excite = resolveSide('excite', options.excite, options.exciteClass, options.exciteUnits, atlas, count, numUnits, layer, [], minIou, steer?.excite);
  const suppress = resolveSide('suppress', options.suppress, options.suppressClass, options.suppressUnits, atlas, count, numUnits, layer, excite.units, minIou, steer?.suppress);
  if (suppress.units.length + excite.units.length === 0) {
    throw usageError('the unit attack needs units to suppress or excite', {
      path: 'suppress', hint: 'name concepts (suppress: [\'snow\']), a class (exciteClass: \'bedroom\') or unit indices (exciteUnits: [3, 7])',
    });
  }
  const both = suppress.units.filter((u) => excite.units.includes(u));
  if (both.length > 0) throw usageError(`units ${both.join(', ')} are both suppressed and excited`, { path: 'exciteUnits' });
  if (control && suppress.units.length + excite.units.length > numUnits / 2) {
    throw usageError(`the attack steers ${suppress.units.length + excite.units.length} of ${numUnits} units, leaving too few for a random control of the same size`, {
      path: 'count', hint: `steer at most ${Math.floor(numUnits / 2)} units`,
    });
  }

  const target = options.target ?? options.exciteClass;
  if (target !== undefined) resolveTargets(classifier, target, 1, 'target');
  if (classWeight > 0 && target === undefined) {
    throw usageError(`classWeight is ${classWeight} but no target is set`, { path: 'target', hint: 'set target, or classWeight 0 for the pure unit attack' });
  }
  if (stopAtTarget && target === undefined) throw usageError('stopAtTarget needs a target', { path: 'target' });
  if (attack === 'cw' && target === undefined) {
    throw usageError('cw stops at a success criterion, so the unit attack with cw needs a target', { path: 'target', hint: 'set target, or use pgd' });
  }

  let scale: Float32Array | null = null;
  let unitScaleKind: Resolved['unitScaleKind'] = 'none';
  const us = options.unitScale ?? (atlas ? 'threshold' : 'none');
  if (us === 'threshold') {
    if (!atlas) throw usageError("unitScale 'threshold' needs an atlas", { path: 'unitScale', hint: "pass atlas, or unitScale: 'none'" });
    // A unit that barely fires has a tiny threshold, and dividing by it would let that unit dominate the
    // objective: thresholds are floored at a tenth of the layer's median.
    const positive = atlas.units.map((u) => u.threshold).filter((t) => t > 0).sort((a, b) => a - b);
    const floor = positive.length > 0 ? 0.1 * positive[Math.floor(positive.length / 2)] : 0;
    scale = Float32Array.from(atlas.units, (u) => (u.threshold > 0 ? Math.max(u.threshold, floor) : 0));
    unitScaleKind = 'threshold';
    const dead = [...suppress.units, ...excite.units].filter((u) => !(scale![u] > 0));
    if (dead.length > 0) {
      throw usageError(`units ${dead.join(', ')} have a dissection threshold of 0 (they never fire on the probe set), so they cannot be scaled or steered`, {
        path: 'unitScale', hint: "choose other units, or unitScale: 'none'",
      });
    }
  } else if (us !== 'none') {
    if (typeof us === 'string') throw usageError(`unitScale must be 'threshold', 'none' or one number per unit, got ${JSON.stringify(us)}`, { path: 'unitScale' });
    if (us.length !== numUnits) throw usageError(`unitScale has ${us.length} entries; layer '${layer}' has ${numUnits} units`, { path: 'unitScale' });
    scale = Float32Array.from(us);
    unitScaleKind = 'custom';
  }
  let spatialWeights: Float32Array | null = null;
  if (aggregate === 'typical') {
    if (!info.spatial) throw usageError(`aggregate 'typical' needs a layer with spatial maps; '${layer}' has none`, { path: 'aggregate' });
    const hw = info.shape[0] * info.shape[1];
    if (options.spatialWeights !== undefined) {
      if (options.spatialWeights.length !== hw * numUnits) {
        throw usageError(`spatialWeights has ${options.spatialWeights.length} numbers; layer '${layer}' needs ${info.shape[0]}×${info.shape[1]}×${numUnits}`, { path: 'spatialWeights' });
      }
      spatialWeights = normaliseWeights(Float32Array.from(options.spatialWeights), hw, numUnits);
    } else {
      if (!atlas) throw usageError("aggregate 'typical' needs an atlas (it weighs each unit's map by where it fires on its top images) or spatialWeights", { path: 'aggregate' });
      spatialWeights = typicalWeights(atlas, hw, numUnits);
    }
  } else if (options.spatialWeights !== undefined) {
    throw usageError(`spatialWeights are used only with aggregate 'typical', not '${aggregate}'`, { path: 'spatialWeights' });
  }
  return {
    layer, numUnits, suppress, excite, target, attack, spatialWeights, epsilon, norm, minPsnr, steps, stepSize, schedule, restarts, randomStart,
    aggregate, scale, unitScaleKind, shaping, cap, classWeight, stopAtTarget, seed, control, confidence, warnings,
  };
}

/**
 * The class-gradient rankings of both sides when the selection asks for them (see `classRanking`), or null for the
 * ablation rankings.
 */
function steeringLists(options: UnitAttackOptions, atlas: Atlas | undefined): { excite: number[]; suppress: number[] } | null {
  const ranking = options.classRanking === undefined ? 'ablation' : checkChoice(options.classRanking, 'classRanking', ['gradient', 'ablation'] as const);
  if (ranking === 'ablation') return null;
  const { suppressClass: from, exciteClass: to } = options;
  if (from === undefined || to === undefined || !atlas) {
    throw usageError('classRanking \'gradient\' ranks units for a pair of classes: set both suppressClass and exciteClass, with an atlas', {
      path: 'classRanking', hint: "or use classRanking 'ablation'",
    });
  }
  const g = atlas.classGradients?.[from];
  if (!g) {
    throw usageError(`the atlas has no class gradients for '${from}'`, {
      path: 'classRanking',
      hint: atlas.classGradients ? `classes with gradients: ${Object.keys(atlas.classGradients).join(', ')}` : 'the atlas predates class gradients: dissect again with this version, or use classRanking \'ablation\'',
    });
  }
  const source = atlas.classes.indexOf(from);
  const target = atlas.classes.indexOf(to);
  // A class the atlas does not know falls through to the ablation lookup, whose error names the classes it has.
  if (source < 0 || target < 0 || target === source) return null;
  return steeringRanking(g, source, target, atlas.units.map((u) => u.threshold));
}

function resolveSide(
  side: 'suppress' | 'excite', concepts: readonly string[] | undefined, cls: string | undefined, units: readonly number[] | undefined,
  atlas: Atlas | undefined, count: number | undefined, numUnits: number, layer: string, taken: readonly number[], minIou?: number,
  steered?: readonly number[],
): SideSelection {
  const Side = side === 'suppress' ? 'suppress' : 'excite';
  const given = [concepts !== undefined && concepts.length > 0, cls !== undefined, units !== undefined && units.length > 0].filter(Boolean).length;
  if (given > 1) {
    throw usageError(`choose the ${side} units one way: by concept (${Side}), by class (${Side}Class) or by index (${Side}Units)`, { path: `${Side}Class` });
  }
  const labelOf = (u: number): string | null => atlas?.units[u]?.concept ?? null;
  if (units !== undefined && units.length > 0) {
    const list = checkUnits(units, `${side}Units`, numUnits, layer);
    return { by: 'index', names: [], units: list, concepts: list.map(labelOf) };
  }
  if (concepts !== undefined && concepts.length > 0) {
    if (!atlas) throw usageError(`choosing ${side} units by concept needs an atlas`, { path: 'atlas', hint: 'pass an atlas made by `unit-attack dissect`' });
    // Per concept: the units it labels; a concept that labels none falls back to IoU ≥ conceptIou when that is set.
    const scored = new Map<number, number>();
    for (const name of concepts) {
      let found: Array<[number, number]>;
      try {
        found = unitsForConcepts(atlas, [name]).map((u) => [u, atlas.units[u].iou]);
      } catch (err) {
        if (minIou === undefined) throw err;
        found = unitsByIou(atlas, name, minIou);
      }
      for (const [u, iou] of found) scored.set(u, Math.max(iou, scored.get(u) ?? -1));
    }
    let list = [...scored.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([u]) => u).filter((u) => !taken.includes(u));
    if (count !== undefined) list = list.slice(0, count);
    return { by: 'concept', names: [...concepts], units: list, concepts: list.map(labelOf) };
  }
  if (cls !== undefined) {
    if (!atlas) throw usageError(`choosing ${side} units by class needs an atlas with class importance`, { path: 'atlas' });
    const imp = atlas.classImportance[cls];
    if (!imp) {
      const have = Object.keys(atlas.classImportance);
      throw usageError(`the atlas has no class importance for '${cls}'`, {
        path: `${Side}Class`,
        hint: have.length === 0 ? (atlas.importanceNote ?? 'dissect with a probe set whose images have classes')
          : `classes: ${have.join(', ')}` + (nearestNames(cls, have, 1)[0] ? ` (nearest: ${nearestNames(cls, have, 1)[0]})` : ''),
      });
    }
    // Units the other side already took are skipped, so each side keeps its full count.
    const list = (steered ?? imp.ranking).filter((u) => !taken.includes(u)).slice(0, count ?? 10);
    return { by: 'class', names: [cls], ranking: steered ? 'gradient' : 'ablation', units: list, concepts: list.map(labelOf) };
  }
  return { by: 'none', names: [], units: [], concepts: [] };
}

/**
 * Per unit, where it fires: the mean of its top-activating images' maps, normalised to sum 1 (`[h·w, U]`, position
 * major). Units without maps get uniform weights (the spatial mean).
 */
function typicalWeights(atlas: Atlas, hw: number, numUnits: number): Float32Array {
  const w = new Float32Array(hw * numUnits);
  for (let u = 0; u < numUnits; u++) {
    const maps = (atlas.units[u]?.topImages ?? []).map((t) => t.map).filter((m) => m.length === hw);
    const acc = new Float64Array(hw);
    for (const m of maps) for (let p = 0; p < hw; p++) acc[p] += Number.isFinite(m[p]) ? Math.max(0, m[p]) : 0;
    const sum = acc.reduce((a, b) => a + b, 0);
    for (let p = 0; p < hw; p++) w[p * numUnits + u] = sum > 0 ? acc[p] / sum : 1 / hw;
  }
  return w;
}

/** Clamps weights `[h·w, U]` at 0 and scales each unit's to sum 1 (uniform when they sum to 0). */
function normaliseWeights(w: Float32Array, hw: number, numUnits: number): Float32Array {
  for (let u = 0; u < numUnits; u++) {
    let sum = 0;
    for (let p = 0; p < hw; p++) { const v = Math.max(0, Number.isFinite(w[p * numUnits + u]) ? w[p * numUnits + u] : 0); w[p * numUnits + u] = v; sum += v; }
    for (let p = 0; p < hw; p++) w[p * numUnits + u] = sum > 0 ? w[p * numUnits + u] / sum : 1 / hw;
  }
  return w;
}

/** Units whose IoU with the concept (among their recorded best concepts) is at least `minIou`, with that IoU. */
function unitsByIou(atlas: Atlas, name: string, minIou: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const u of atlas.units) {
    const ious = [...u.topConcepts.filter((c) => c.concept === name).map((c) => c.iou),
      ...Object.values(u.perCategory).filter((c) => c.concept === name).map((c) => c.iou)];
    const iou = Math.max(-1, ...ious);
    if (iou >= minIou) out.push([u.unit, iou]);
  }
  if (out.length === 0) {
    throw usageError(`no unit of layer '${atlas.layer}' stands for the concept '${name}', not even with an IoU of ${minIou}`, {
      path: 'conceptIou', hint: `lower conceptIou, or choose other concepts; concepts with labelled units: ${availableConcepts(atlas).join(', ') || 'none'}`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Objective

/**
 * Spec of the shaped unit objective (kind `unit-shaped`), registered below: the `unit` objective with a choice of
 * shaping, and differentiable on every backend (wasm included).
 */
export interface ShapedUnitObjectiveSpec {
  kind: 'unit-shaped';
  layer: string;
  suppress?: readonly number[];
  excite?: readonly number[];
  aggregate?: 'mean' | 'max' | 'typical';
  /** With `aggregate: 'typical'`: weights `[h·w, U]` (position major) that sum to 1 per unit. */
  spatialWeights?: Float32Array;
  unitScale?: Float32Array | readonly number[];
  shaping: UnitShaping;
  /** Cap of `capped` shaping (units of the scale). @defaultValue 2 */
  cap?: number;
  classWeight?: number;
  target?: string | number;
}

const LOG_DELTA = 0.05;

registerObjective('unit-shaped', (classifier, spec, path) => {
  const s = spec as unknown as ShapedUnitObjectiveSpec;
  const info = classifier.layer(s.layer);
  const numUnits = info.shape[info.shape.length - 1];
  const suppress = checkUnits(s.suppress ?? [], `${path}.suppress`, numUnits, s.layer);
  const excite = checkUnits(s.excite ?? [], `${path}.excite`, numUnits, s.layer);
  if (suppress.length + excite.length === 0) throw usageError(`${path} needs at least one unit in suppress or excite`, { path: `${path}.suppress` });
  const aggregate = checkChoice(s.aggregate ?? 'mean', `${path}.aggregate`, ['mean', 'max', 'typical'] as const);
  if (aggregate === 'typical' && !(s.spatialWeights instanceof Float32Array && s.spatialWeights.length === info.shape[0] * info.shape[1] * numUnits)) {
    throw usageError(`${path}.spatialWeights must hold ${info.shape[0]}×${info.shape[1]}×${numUnits} weights for aggregate 'typical'`, { path: `${path}.spatialWeights` });
  }
  const shaping = checkChoice(s.shaping ?? 'linear', `${path}.shaping`, ['linear', 'capped', 'log'] as const);
  const cap = checkNumber(s.cap ?? 2, `${path}.cap`, { min: 0, minExclusive: true });
  const classWeight = checkNumber(s.classWeight ?? 0, `${path}.classWeight`, { min: 0 });
  const scale = s.unitScale === undefined ? null : Float32Array.from(s.unitScale);
  const targeted = s.target !== undefined;
  // Per image, mean over the units of shape(agg(a_u) / s_u) → [N]. The units are picked by a product with a
  // scaled one-hot matrix, not by gather: gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks.
  const picker = (units: number[]): tf.Tensor2D => {
    const m = new Float32Array(numUnits * units.length);
    units.forEach((u, k) => { m[u * units.length + k] = 1 / (scale ? scale[u] : 1); });
    return tf.tensor2d(m, [numUnits, units.length]);
  };
  const term = (pooled: tf.Tensor2D, units: number[], up: boolean): tf.Tensor1D => tf.tidy(() => {
    let a: tf.Tensor2D = tf.matMul(pooled, picker(units));
    if (shaping === 'log') a = tf.log(tf.add(tf.relu(a), LOG_DELTA));
    else if (shaping === 'capped' && up) a = tf.minimum(a, cap);
    return tf.mean<tf.Tensor1D>(a, 1);
  });
  return {
    kind: 'unit-shaped',
    name: `unit ${s.layer} −${suppress.length} +${excite.length} (${aggregate}, ${shaping}${classWeight > 0 ? `, class ×${classWeight}` : ''})`,
    goal: targeted ? 'targeted' : 'none',
    loss: (clf, x, ctx) => tf.tidy(() => {
      const r = clf.run(x, { taps: [s.layer] });
      const act = r.taps[s.layer];
      const spatial = Array.from({ length: act.rank - 2 }, (_, i) => i + 1);
      let pooled: tf.Tensor2D;
      if (spatial.length === 0) pooled = act as tf.Tensor2D;
      else if (aggregate === 'typical') pooled = tf.sum(tf.mul(act, tf.tensor(s.spatialWeights!, act.shape.slice(1))), spatial);
      else pooled = (aggregate === 'mean' ? tf.mean(act, spatial) : tf.max(act, spatial));
      let v: tf.Tensor1D = tf.zeros([x.shape[0]]);
      if (excite.length > 0) v = tf.add(v, term(pooled, excite, true));
      if (suppress.length > 0) v = tf.sub(v, term(pooled, suppress, false));
      if (classWeight > 0 && ctx.targets) v = tf.sub(v, tf.mul(crossEntropy(r.logits, ctx.targets), classWeight));
      return v;
    }),
  };
});

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
  return { kind: 'unit-shaped', shaping: o.shaping, cap: o.cap, ...common };
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement

async function labelsArray(labels: ArrayLike<number> | tf.Tensor1D, n: number): Promise<Int32Array> {
  const arr = labels instanceof tf.Tensor ? await labels.data() : labels;
  if (arr.length !== n) throw usageError(`labels has ${arr.length} entries for ${n} images`, { path: 'labels' });
  return Int32Array.from(arr);
}

async function measureArm(
  classifier: Classifier, o: Resolved, side: { arm: 'unit' | 'control'; suppress: number[]; excite: number[]; seed: number },
  result: AttackResult, x: tf.Tensor4D, labels: Int32Array, target: number | null,
): Promise<UnitAttackArm> {
  const adv = result.adversarial;
  const before = result.cleanPredictions;
  const after = result.predictions;
  const [ps, ss, li, l2v] = [await psnr(adv, x), await ssim(adv, x), await linf(adv, x), await l2(adv, x)];
  // Units that never fired on the probe set have a zero scale; their changes are left unscaled.
  const measureScale = o.scale ? Float32Array.from(o.scale, (v) => (v > 0 && Number.isFinite(v) ? v : 1)) : null;
  const effect = await measureUnitEffect(classifier, o.layer, x, adv, side.suppress, side.excite, {
    confidence: o.confidence, seed: side.seed, ...(measureScale ? { unitScale: measureScale } : {}),
  });
  const warnings = [...result.warnings];
  const ts = target === null ? null : targetedSuccess(after, labels, target);
  const moved = Math.max(Math.abs(effect.suppressed.mean || 0), Math.abs(effect.excited.mean || 0));
  if (moved < 1e-6 && li.max > 0) {
    warnings.push(`${side.arm}: the steered units did not move (mean change ${moved.toExponential(1)}); their gradient is probably zero: `
      + "the units may be inactive on these images (try aggregate 'mean' or other units) or the layer is not differentiable");
  }
  if (li.max === 0) {
    warnings.push(`${side.arm}: the attack left every image unchanged after rounding to 8 bits; ε may be below one 8-bit step (1/255) or the gradient is zero`);
  }
  return {
    arm: side.arm, suppress: side.suppress, excite: side.excite, attack: result, before, after,
    targetedSuccess: ts, untargetedSuccess: untargetedSuccess(before, after, labels),
    robustAccuracy: robustAccuracy(before, after, labels),
    psnr: ps, ssim: ss, linf: li, l2: l2v, unitEffect: effect, seed: side.seed, warnings,
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

// ---------------------------------------------------------------------------------------------------------------
// Plain-data view

/** A rate as plain data. */
export interface RateJson { rate: number | null; count: number; total: number }
const rateJson = (r: Rate | null): RateJson | null => (r === null ? null : { rate: Number.isFinite(r.rate) ? r.rate : null, count: r.count, total: r.total });
const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
const summaryJson = (m: MetricSummary): Record<string, number | null | number[]> => ({
  mean: num(m.mean), median: num(m.median), min: num(m.min), max: num(m.max), finite: m.finite,
  perImage: m.perImage.map((v) => (Number.isFinite(v) ? v : (v > 0 ? 1e9 : -1e9))),
});

/** One arm as JSON-able data (no tensors). Infinite PSNR of unchanged images is written as 1e9. */
function armToJson(a: UnitAttackArm, classNames: readonly string[]): Record<string, unknown> {
  const g = (e: UnitEffect['suppressed']): Record<string, unknown> => ({ units: e.units, mean: num(e.mean), ci: e.ci.map(num) });
  return {
    arm: a.arm, suppress: a.suppress, excite: a.excite, seed: a.seed,
    targetedSuccess: rateJson(a.targetedSuccess), untargetedSuccess: rateJson(a.untargetedSuccess), robustAccuracy: rateJson(a.robustAccuracy),
    psnr: summaryJson(a.psnr), ssim: summaryJson(a.ssim), linf: summaryJson(a.linf), l2: summaryJson(a.l2),
    unitEffect: {
      confidence: a.unitEffect.confidence, interval: a.unitEffect.interval, seed: a.unitEffect.seed,
      suppressed: g(a.unitEffect.suppressed), excited: g(a.unitEffect.excited), other: { mean: num(a.unitEffect.other.mean), ci: a.unitEffect.other.ci.map(num) },
    },
    predictions: {
      before: Array.from(a.before, (c) => classNames[c] ?? String(c)),
      after: Array.from(a.after, (c) => classNames[c] ?? String(c)),
    },
    steps: Array.from(a.attack.steps), queries: Array.from(a.attack.queries), objective: Array.from(a.attack.objective, (v) => num(v)),
    warnings: a.warnings,
  };
}

/** The whole result as JSON-able data (no tensors): every figure and the seeds that replay it. */
export function unitAttackToJson(r: UnitAttackResult, classNames: readonly string[]): Record<string, unknown> {
  return {
    kind: 'unit-attack', model: r.model, layer: r.layer, numUnits: r.numUnits,
    selection: r.selection, target: r.target, attack: r.attack, objective: r.objective, norm: r.norm, epsilon: r.epsilon,
    ...(r.minPsnr !== undefined ? { minPsnr: r.minPsnr } : {}),
    steps: r.steps, aggregate: r.aggregate, shaping: r.shaping, unitScale: r.unitScale, classWeight: r.classWeight,
    images: r.labels.length, labels: Array.from(r.labels, (c) => classNames[c] ?? String(c)), cleanAccuracy: rateJson(r.cleanAccuracy),
    unit: armToJson(r.unit, classNames), control: r.control ? armToJson(r.control, classNames) : null,
    seed: r.seed, controlSeed: r.controlSeed, backend: r.backend, tfjsVersion: r.tfjsVersion, seconds: r.seconds, warnings: r.warnings,
  };
}
