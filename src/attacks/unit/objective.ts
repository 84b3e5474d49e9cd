/**
 * The unit objective (objective kind `unit`): raise a set of units of one layer and lower another, each unit's map
 * reduced over space, scaled and shaped, optionally plus a targeted class term. The unit attack optimises it; any
 * gradient attack can be given it as `objective: { kind: 'unit', … }`.
 */
import * as tf from '../../tf.js';
import { usageError } from '../../errors.js';
import type { Classifier } from '../../models/types.js';
import { classMargin, crossEntropy } from '../_internals/logits.js';
import { checkChoice, checkNumber, checkUnits } from '../_internals/validate.js';
import type { Objective, ObjectiveContext, ObjectiveSpec, TargetSpec } from '../objectives.js';

/** How the per-unit terms of the objective are shaped before they are averaged. */
export type UnitShaping =
  /** `a/s`: the plain unit objective. */
  | 'linear'
  /** `min(a/s, cap)` for excited units: a unit already `cap` × its scale is not pushed further. */
  | 'capped'
  /** `log(δ + a/s)`: equal *relative* changes count the same, so weak units are not left behind. */
  | 'log';

/**
 * The unit objective: `mean_e shape(agg(a_e)/s_e) − mean_s shape(agg(a_s)/s_s)` over the excite units `e` and the
 * suppress units `s` of `layer`, where `agg` reduces each unit's map over space and `s_u` is an optional per-unit
 * scale. Optionally plus `classWeight` × a targeted class term. Differentiable on every backend (wasm included).
 */
export interface UnitObjectiveSpec {
  kind: 'unit';
  /** The layer whose units are steered. */
  layer: string;
  /** Units to lower. @defaultValue [] */
  suppress?: readonly number[];
  /** Units to raise. @defaultValue [] */
  excite?: readonly number[];
  /**
   * How each unit's map is reduced over spatial positions: the mean, the max, or `typical`, a weighted sum with
   * `spatialWeights`. @defaultValue `'mean'`
   */
  aggregate?: 'mean' | 'max' | 'typical';
  /** With `aggregate: 'typical'`: weights `[h·w, U]` (position major) that sum to 1 per unit. */
  spatialWeights?: Float32Array;
  /**
   * A per-unit scale (length = units of `layer`), e.g. each unit's dissection threshold, so that units with
   * large activations do not dominate the mean. @defaultValue all ones
   */
  unitScale?: Float32Array | readonly number[];
  /** How each unit's term is shaped. @defaultValue `'linear'` */
  shaping?: UnitShaping;
  /** Cap of `capped` shaping (units of the scale). @defaultValue 2 */
  cap?: number;
  /** Weight of the targeted class term. The pure unit attack never sees the target. @defaultValue 0 */
  classWeight?: number;
  /** The class term's loss. @defaultValue `'ce'` */
  classLoss?: 'ce' | 'margin';
  /**
   * Target class. With `classWeight` 0 it is used only to stop images early (prediction = target) and to
   * score success; without a target the unit objective has no early stop.
   */
  target?: TargetSpec;
}

const LOG_DELTA = 0.05;

/** The checked fields of a unit objective spec. */
interface UnitTerms {
  layer: string;
  numUnits: number;
  suppress: number[];
  excite: number[];
  aggregate: 'mean' | 'max' | 'typical';
  spatialWeights: Float32Array | undefined;
  scale: Float32Array | null;
  shaping: UnitShaping;
  cap: number;
  classWeight: number;
  classLoss: 'ce' | 'margin';
}

function checkScale(s: UnitObjectiveSpec, path: string, numUnits: number, steered: readonly number[]): Float32Array | null {
  if (s.unitScale === undefined) return null;
  if (s.unitScale.length !== numUnits) {
    throw usageError(`${path}.unitScale has ${s.unitScale.length} entries; layer '${s.layer}' has ${numUnits} units`, { path: `${path}.unitScale` });
  }
  const scale = Float32Array.from(s.unitScale);
  for (const u of steered) {
    if (!(scale[u] > 0) || !Number.isFinite(scale[u])) {
      throw usageError(`${path}.unitScale[${u}] must be a positive number, got ${scale[u]}`, {
        path: `${path}.unitScale`, hint: 'use each unit\'s typical activation (e.g. its dissection threshold); dead units cannot be scaled',
      });
    }
  }
  return scale;
}

function checkSpec(classifier: Classifier, s: UnitObjectiveSpec, path: string): UnitTerms {
  if (typeof s.layer !== 'string') {
    throw usageError(`${path}.layer must name a layer of the model`, { path: `${path}.layer`, hint: `e.g. '${classifier.defaultLayer}'` });
  }
  const info = classifier.layer(s.layer);
  const numUnits = info.shape[info.shape.length - 1];
  const suppress = checkUnits(s.suppress ?? [], `${path}.suppress`, numUnits, s.layer);
  const excite = checkUnits(s.excite ?? [], `${path}.excite`, numUnits, s.layer);
  if (suppress.length + excite.length === 0) throw usageError(`${path} needs at least one unit in suppress or excite`, { path: `${path}.suppress` });
  const both = suppress.filter((u) => excite.includes(u));
  if (both.length > 0) throw usageError(`${path}: units ${both.join(', ')} are both suppressed and excited`, { path: `${path}.excite` });
  const aggregate = checkChoice(s.aggregate ?? 'mean', `${path}.aggregate`, ['mean', 'max', 'typical'] as const);
  if (aggregate === 'typical' && !(s.spatialWeights instanceof Float32Array && s.spatialWeights.length === info.shape[0] * info.shape[1] * numUnits)) {
    throw usageError(`${path}.spatialWeights must hold ${info.shape[0]}×${info.shape[1]}×${numUnits} weights for aggregate 'typical'`, { path: `${path}.spatialWeights` });
  }
  const classWeight = checkNumber(s.classWeight ?? 0, `${path}.classWeight`, { min: 0 });
  if (classWeight > 0 && s.target === undefined) {
    throw usageError(`${path}.classWeight is ${classWeight} but no target is set`, { path: `${path}.target`, hint: 'set target, or classWeight 0 for the pure unit attack' });
  }
  return {
    layer: s.layer, numUnits, suppress, excite, aggregate, spatialWeights: s.spatialWeights, scale: checkScale(s, path, numUnits, [...suppress, ...excite]),
    shaping: checkChoice(s.shaping ?? 'linear', `${path}.shaping`, ['linear', 'capped', 'log'] as const),
    cap: checkNumber(s.cap ?? 2, `${path}.cap`, { min: 0, minExclusive: true }),
    classWeight, classLoss: checkChoice(s.classLoss ?? 'ce', `${path}.classLoss`, ['ce', 'margin'] as const),
  };
}

/** Each unit's map reduced over space → `[N, U]`. */
function pooledUnits(act: tf.Tensor, t: UnitTerms): tf.Tensor2D {
  const spatial = Array.from({ length: act.rank - 2 }, (_, i) => i + 1);
  if (spatial.length === 0) return act as tf.Tensor2D;
  if (t.aggregate === 'typical') return tf.sum(tf.mul(act, tf.tensor(t.spatialWeights!, act.shape.slice(1))), spatial);
  return t.aggregate === 'mean' ? tf.mean(act, spatial) : tf.max(act, spatial);
}

/**
 * Per image, the mean over `units` of shape(pooled_u / s_u) → `[N]`. The units are picked by a product with a scaled
 * one-hot matrix, not by gather: gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks.
 */
function unitTerm(pooled: tf.Tensor2D, units: number[], up: boolean, t: UnitTerms): tf.Tensor1D {
  return tf.tidy(() => {
    const m = new Float32Array(t.numUnits * units.length);
    units.forEach((u, k) => { m[u * units.length + k] = 1 / (t.scale ? t.scale[u] : 1); });
    let a: tf.Tensor2D = tf.matMul(pooled, tf.tensor2d(m, [t.numUnits, units.length]));
    if (t.shaping === 'log') a = tf.log(tf.add(tf.relu(a), LOG_DELTA));
    else if (t.shaping === 'capped' && up) a = tf.minimum(a, t.cap);
    return tf.mean<tf.Tensor1D>(a, 1);
  });
}

/** The targeted class term (to maximise): −CE or the margin of the target. */
function classTerm(logits: tf.Tensor2D, ctx: ObjectiveContext, loss: 'ce' | 'margin'): tf.Tensor1D {
  if (!ctx.targets) throw usageError('the unit objective\'s class term is targeted but no targets were given', { path: 'objective.target' });
  return loss === 'ce' ? tf.neg(crossEntropy(logits, ctx.targets)) : classMargin(logits, ctx.targets);
}

/** Builds the unit objective (registered as objective kind `unit`). */
export function unitObjective(classifier: Classifier, spec: ObjectiveSpec, path: string): Objective {
  const s = spec as UnitObjectiveSpec;
  const t = checkSpec(classifier, s, path);
  const shaped = s.shaping !== undefined ? `, ${t.shaping}` : '';
  return {
    kind: 'unit',
    name: `unit ${t.layer} −${t.suppress.length} +${t.excite.length} (${t.aggregate}${shaped}${t.classWeight > 0 ? `, class ×${t.classWeight}` : ''})`,
    goal: s.target !== undefined ? 'targeted' : 'none',
    loss: (clf, x, ctx) => tf.tidy(() => {
      const r = clf.run(x, { taps: [t.layer] });
      const pooled = pooledUnits(r.taps[t.layer], t);
      let v: tf.Tensor1D = tf.zeros([x.shape[0]]);
      if (t.excite.length > 0) v = tf.add(v, unitTerm(pooled, t.excite, true, t));
      if (t.suppress.length > 0) v = tf.sub(v, unitTerm(pooled, t.suppress, false, t));
      if (t.classWeight > 0) v = tf.add(v, tf.mul(classTerm(r.logits, ctx, t.classLoss), t.classWeight));
      return v;
    }),
  };
}
