/** Checking the unit attack's options and resolving them, with the unit sets, into what the runner needs. */
import { type Atlas } from '../../dissection/atlas.js';
import { usageError } from '../../errors.js';
import type { Classifier } from '../../models/types.js';
import { checkChoice, checkInt, checkNumber, checkSeed } from '../_internals/validate.js';
import { parseEpsilon } from '../epsilon.js';
import { resolveTargets } from '../objectives.js';
import type { Norm } from '../threat.js';
import type { UnitShaping } from './objective.js';
import { resolveSide, steeringLists } from './selection.js';
import type { SideSelection, UnitAttackOptions } from './types.js';

/** The gradient attacks that can optimise the unit objective. */
export const ATTACKS_WITH_GRADIENTS = ['pgd', 'fgsm', 'cw'];

/** The unit attack's options, checked and with defaults. */
export interface Resolved {
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

type LayerInfo = ReturnType<Classifier['layer']>;

/** Step 1: the steered layer, and that the atlas (if any) describes it. */
function resolveLayer(classifier: Classifier, options: UnitAttackOptions, warnings: string[]): { atlas: Atlas | undefined; layer: string; info: LayerInfo; numUnits: number } {
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
  return { atlas, layer, info, numUnits };
}

type OptimizerOptions = Pick<Resolved, 'attack' | 'norm' | 'epsilon' | 'minPsnr' | 'steps' | 'stepSize' | 'schedule' | 'restarts' | 'randomStart'>;

/** Step 2: the optimizer and its budget. */
function resolveOptimizer(options: UnitAttackOptions): OptimizerOptions {
  const attack = options.attack ?? 'pgd';
  if (!ATTACKS_WITH_GRADIENTS.includes(attack)) {
    throw usageError(`the unit attack needs a gradient attack; '${attack}' ${attack === 'square' ? 'only sees logits' : 'is not one of them'}`, {
      path: 'attack', hint: `use one of: ${ATTACKS_WITH_GRADIENTS.join(', ')}`,
    });
  }
  const norm = checkChoice(options.norm ?? (attack === 'cw' ? 'l2' : 'linf'), 'norm', ['linf', 'l2'] as const);
  const epsilon = parseEpsilon(options.epsilon ?? (norm === 'linf' ? 4 / 255 : 0.5), { path: 'epsilon', norm });
  const minPsnr = options.minPsnr === undefined ? undefined : checkNumber(options.minPsnr, 'minPsnr', { min: 0, minExclusive: true });
  if (minPsnr !== undefined && attack === 'cw') throw usageError('minPsnr is supported with pgd and fgsm, not cw', { path: 'minPsnr', hint: "use attack 'pgd', or cap cw through epsilon" });
  return {
    attack, norm, epsilon, minPsnr,
    steps: checkInt(options.steps ?? 50, 'steps', 1),
    stepSize: options.stepSize === undefined ? undefined : checkNumber(options.stepSize, 'stepSize', { min: 0, minExclusive: true }),
    schedule: checkChoice(options.schedule ?? 'cosine', 'schedule', ['constant', 'cosine'] as const),
    restarts: checkInt(options.restarts ?? 1, 'restarts', 1),
    randomStart: options.randomStart ?? true,
  };
}

type ObjectiveOptions = Pick<Resolved, 'aggregate' | 'shaping' | 'cap' | 'classWeight' | 'seed' | 'confidence' | 'stopAtTarget' | 'control'>;

/** Step 3: the shape of the objective, the seed and the control. */
function resolveObjectiveOptions(options: UnitAttackOptions): ObjectiveOptions {
  const aggregate = checkChoice(options.aggregate ?? 'mean', 'aggregate', ['mean', 'max', 'typical'] as const);
  const shaping = checkChoice(options.shaping ?? 'linear', 'shaping', ['linear', 'capped', 'log'] as const);
  const cap = checkNumber(options.cap ?? 2, 'cap', { min: 0, minExclusive: true });
  const classWeight = checkNumber(options.classWeight ?? 0, 'classWeight', { min: 0 });
  const seed = checkSeed(options.seed ?? 0);
  const confidence = checkNumber(options.confidence ?? 0.99, 'confidence', { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const stopAtTarget = options.stopAtTarget ?? false;
  if (typeof stopAtTarget !== 'boolean') throw usageError(`stopAtTarget must be true or false, got ${String(stopAtTarget)}`, { path: 'stopAtTarget' });
  return { aggregate, shaping, cap, classWeight, seed, confidence, stopAtTarget, control: options.control ?? true };
}

/** Step 4: the units of each side, disjoint, and few enough to leave room for a random control. */
function resolveUnits(
  options: UnitAttackOptions, atlas: Atlas | undefined, layer: string, numUnits: number, control: boolean,
): { suppress: SideSelection; excite: SideSelection } {
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
  return { suppress, excite };
}

/** Step 5: the target class (measured only, unless the attack may use it) and what needs one. */
function resolveTarget(classifier: Classifier, options: UnitAttackOptions, o: ObjectiveOptions & { attack: string }): string | number | undefined {
  const target = options.target ?? options.exciteClass;
  if (target !== undefined) resolveTargets(classifier, target, 1, 'target');
  if (o.classWeight > 0 && target === undefined) {
    throw usageError(`classWeight is ${o.classWeight} but no target is set`, { path: 'target', hint: 'set target, or classWeight 0 for the pure unit attack' });
  }
  if (o.stopAtTarget && target === undefined) throw usageError('stopAtTarget needs a target', { path: 'target' });
  if (o.attack === 'cw' && target === undefined) {
    throw usageError('cw stops at a success criterion, so the unit attack with cw needs a target', { path: 'target', hint: 'set target, or use pgd' });
  }
  return target;
}

/** Step 6: the per-unit scale of the objective. */
function resolveScale(
  options: UnitAttackOptions, atlas: Atlas | undefined, layer: string, numUnits: number, steered: readonly number[],
): Pick<Resolved, 'scale' | 'unitScaleKind'> {
  const us = options.unitScale ?? (atlas ? 'threshold' : 'none');
  if (us === 'none') return { scale: null, unitScaleKind: 'none' };
  if (us === 'threshold') {
    if (!atlas) throw usageError("unitScale 'threshold' needs an atlas", { path: 'unitScale', hint: "pass atlas, or unitScale: 'none'" });
    // A unit that barely fires has a tiny threshold, and dividing by it would let that unit dominate the
    // objective: thresholds are floored at a tenth of the layer's median.
    const positive = atlas.units.map((u) => u.threshold).filter((t) => t > 0).sort((a, b) => a - b);
    const floor = positive.length > 0 ? 0.1 * positive[Math.floor(positive.length / 2)] : 0;
    const scale = Float32Array.from(atlas.units, (u) => (u.threshold > 0 ? Math.max(u.threshold, floor) : 0));
    const dead = steered.filter((u) => !(scale[u] > 0));
    if (dead.length > 0) {
      throw usageError(`units ${dead.join(', ')} have a dissection threshold of 0 (they never fire on the probe set), so they cannot be scaled or steered`, {
        path: 'unitScale', hint: "choose other units, or unitScale: 'none'",
      });
    }
    return { scale, unitScaleKind: 'threshold' };
  }
  if (typeof us === 'string') throw usageError(`unitScale must be 'threshold', 'none' or one number per unit, got ${JSON.stringify(us)}`, { path: 'unitScale' });
  if (us.length !== numUnits) throw usageError(`unitScale has ${us.length} entries; layer '${layer}' has ${numUnits} units`, { path: 'unitScale' });
  return { scale: Float32Array.from(us), unitScaleKind: 'custom' };
}

/** Step 7: the spatial weights of `aggregate: 'typical'`. */
function resolveSpatialWeights(
  options: UnitAttackOptions, aggregate: Resolved['aggregate'], atlas: Atlas | undefined, layer: string, info: LayerInfo, numUnits: number,
): Float32Array | null {
  if (aggregate !== 'typical') {
    if (options.spatialWeights !== undefined) throw usageError(`spatialWeights are used only with aggregate 'typical', not '${aggregate}'`, { path: 'spatialWeights' });
    return null;
  }
  if (!info.spatial) throw usageError(`aggregate 'typical' needs a layer with spatial maps; '${layer}' has none`, { path: 'aggregate' });
  const hw = info.shape[0] * info.shape[1];
  if (options.spatialWeights !== undefined) {
    if (options.spatialWeights.length !== hw * numUnits) {
      throw usageError(`spatialWeights has ${options.spatialWeights.length} numbers; layer '${layer}' needs ${info.shape[0]}×${info.shape[1]}×${numUnits}`, { path: 'spatialWeights' });
    }
    return normaliseWeights(Float32Array.from(options.spatialWeights), hw, numUnits);
  }
  if (!atlas) throw usageError("aggregate 'typical' needs an atlas (it weighs each unit's map by where it fires on its top images) or spatialWeights", { path: 'aggregate' });
  return typicalWeights(atlas, hw, numUnits);
}

/** Checks every option (naming the culprit) and resolves the unit sets, in the steps above. */
export function resolveOptions(classifier: Classifier, options: UnitAttackOptions): Resolved {
  if (options === null || typeof options !== 'object') throw usageError('unitAttack needs options naming the units to steer', { path: 'options' });
  const warnings: string[] = [];
  const { atlas, layer, info, numUnits } = resolveLayer(classifier, options, warnings);
  const optimizer = resolveOptimizer(options);
  const objective = resolveObjectiveOptions(options);
  const { suppress, excite } = resolveUnits(options, atlas, layer, numUnits, objective.control);
  const target = resolveTarget(classifier, options, { ...objective, attack: optimizer.attack });
  const { scale, unitScaleKind } = resolveScale(options, atlas, layer, numUnits, [...suppress.units, ...excite.units]);
  const spatialWeights = resolveSpatialWeights(options, objective.aggregate, atlas, layer, info, numUnits);
  return { layer, numUnits, suppress, excite, target, ...optimizer, ...objective, spatialWeights, scale, unitScaleKind, warnings };
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

