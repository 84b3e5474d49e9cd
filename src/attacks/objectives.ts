import * as tf from '../tf.js';
import { nearestNames, usageError } from '../errors.js';
import { findClass } from '../models/classes.js';
import type { Classifier } from '../models/types.js';
import { checkNumber } from './_internals/validate.js';
import { classMargin, crossEntropy, oneHot } from './_internals/logits.js';
import { unitObjective } from './unit/objective.js';

import type { UnitObjectiveSpec } from './unit/objective.js';

export { classMargin, crossEntropy };
export type { UnitObjectiveSpec };

/**
 * What counts as success for an image, and so when it may stop early:
 * `untargeted` → prediction ≠ label; `targeted` → prediction = target; `none` → the objective has no
 * success criterion (no early stop; results then report prediction ≠ label as success).
 */
export type Goal = 'untargeted' | 'targeted' | 'none';

/** Per-image data an objective needs, as plain arrays so that a batch can be cut to the images still running. */
export interface ObjectiveContext {
  /** True class of each image. */
  labels: Int32Array;
  /** Target class of each image, for targeted objectives; else null. */
  targets: Int32Array | null;
}

/** A per-image loss to **maximise**, differentiable in the pixel-space input `x`. Returns `[N]`. */
export type ObjectiveFn = (classifier: Classifier, x: tf.Tensor4D, ctx: ObjectiveContext) => tf.Tensor1D;

/** A resolved objective, ready for an optimizer. */
export interface Objective {
  /** The spec kind it was built from, e.g. `margin`. */
  readonly kind: string;
  /** Display name, e.g. `margin (targeted)` or `unit block5_conv3 −4 +4 (mean)`. */
  readonly name: string;
  readonly goal: Goal;
  /** The per-image loss to maximise. */
  readonly loss: ObjectiveFn;
  /**
   * The same loss computed from logits alone, for objectives that only depend on logits. Score-based
   * attacks (Square) need it.
   */
  readonly fromLogits?: (logits: tf.Tensor2D, ctx: ObjectiveContext) => tf.Tensor1D;
}

/** A target class: an index or a class name; one for all images or one per image. */
export type TargetSpec = number | string | readonly (number | string)[];

/** Cross-entropy: untargeted maximises CE of the true label; targeted maximises −CE of the target. */
export interface CrossEntropyObjectiveSpec {
  kind: 'ce';
  /** When set, the objective is targeted. */
  target?: TargetSpec;
}

/**
 * Carlini–Wagner style logit margin. Untargeted: `max_{j≠y} z_j − z_y`; targeted: `z_t − max_{j≠t} z_j`.
 * Positive exactly when the attack succeeds, and it does not saturate like softmax cross-entropy.
 */
export interface MarginObjectiveSpec {
  kind: 'margin';
  target?: TargetSpec;
  /** Cap the margin at κ (no gain beyond it). @defaultValue Infinity */
  confidence?: number;
}

/**
 * The Difference of Logits Ratio of Croce & Hein (2020), with the logits sorted as z_π1 ≥ z_π2 ≥ …:
 * untargeted `−(z_y − max_{j≠y} z_j) / (z_π1 − z_π3)`; targeted `−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)`.
 * Like the margin it is positive exactly when the attack succeeds, and dividing by a spread of the logits makes it
 * unchanged when the logits are shifted or scaled, so a model cannot hide behind large or saturated logits. Needs at
 * least 3 classes (4 when targeted).
 */
export interface DlrObjectiveSpec {
  kind: 'dlr';
  target?: TargetSpec;
}

export type BuiltinObjectiveSpec = CrossEntropyObjectiveSpec | MarginObjectiveSpec | DlrObjectiveSpec | UnitObjectiveSpec;

/** Any objective spec: a built-in one or one added with {@link registerObjective}. */
export type ObjectiveSpec = BuiltinObjectiveSpec | { kind: string; target?: TargetSpec; [key: string]: unknown };

/** Builds an {@link Objective} for a classifier from a spec of one kind. */
export type ObjectiveFactory = (classifier: Classifier, spec: ObjectiveSpec, path: string) => Objective;

const objectiveRegistry = new Map<string, ObjectiveFactory>();

/** Adds an objective kind, so that attack specs and scenario files can name it. */
export function registerObjective(kind: string, factory: ObjectiveFactory): void {
  if (typeof kind !== 'string' || kind === '') throw usageError('objective kind must be a non-empty string', { path: 'kind' });
  objectiveRegistry.set(kind, factory);
}

/** The registered objective kinds. */
export function objectiveKinds(): string[] {
  return [...objectiveRegistry.keys()];
}

/**
 * Resolves an objective spec against a classifier (checking layer, units and options).
 *
 * @example
 * const obj = buildObjective(clf, { kind: 'unit', layer: 'block5_conv3', suppress: [3, 7], excite: [12] });
 */
export function buildObjective(classifier: Classifier, spec: ObjectiveSpec, path = 'objective'): Objective {
  if (spec === null || typeof spec !== 'object') {
    throw usageError(`${path} must be an object like { kind: 'margin' }, got ${String(spec)}`, { path });
  }
  const factory = objectiveRegistry.get(spec.kind);
  if (!factory) {
    throw usageError(`${path}.kind '${String(spec.kind)}' is not a known objective`, {
      path: `${path}.kind`, hint: `use one of: ${objectiveKinds().join(', ')}`,
    });
  }
  return factory(classifier, spec, path);
}

/**
 * Resolves target classes (indices or names) to one index per image, or null when `target` is unset.
 * Unknown classes are a usage error that lists the valid ones.
 */
export function resolveTargets(classifier: Classifier, target: TargetSpec | undefined, n: number, path = 'objective.target'): Int32Array | null {
  if (target === undefined) return null;
  const names = classifier.classNames;
  const one = (t: number | string, p: string): number => {
    if (typeof t === 'number') {
      if (Number.isInteger(t) && t >= 0 && t < names.length) return t;
      throw usageError(`${p}: class index ${t} is out of range; the model has ${names.length} classes (0…${names.length - 1})`, { path: p });
    }
    if (typeof t === 'string') {
      const i = findClass(names, t);
      if (i >= 0) return i;
      const list = names.length <= 30 ? names.join(', ') : `${nearestNames(t, names, 5).join(', ')} … (${names.length} classes)`;
      throw usageError(`${p}: unknown target class '${t}'`, { path: p, hint: `valid classes: ${list}` });
    }
    throw usageError(`${p} must be a class name or index, got ${String(t)}`, { path: p });
  };
  if (Array.isArray(target)) {
    const list = target as readonly (number | string)[];
    if (list.length !== n) {
      throw usageError(`${path} has ${list.length} entries for ${n} images`, { path, hint: 'give one target for all images or one per image' });
    }
    return Int32Array.from(list, (t, i) => one(t, `${path}[${i}]`));
  }
  return new Int32Array(n).fill(one(target as number | string, path));
}

// ---------------------------------------------------------------------------------------------------------------
// Logit losses

function requireTargets(ctx: ObjectiveContext, name: string): Int32Array {
  if (!ctx.targets) throw usageError(`the ${name} objective is targeted but no targets were given`, { path: 'objective.target' });
  return ctx.targets;
}

/** The logit part of a CE / margin objective, from logits. */
function logitLoss(kind: 'ce' | 'margin', targeted: boolean, confidence: number) {
  return (logits: tf.Tensor2D, ctx: ObjectiveContext): tf.Tensor1D => tf.tidy(() => {
    let v: tf.Tensor1D;
    if (kind === 'ce') {
      v = targeted ? tf.neg(crossEntropy(logits, requireTargets(ctx, 'ce'))) : crossEntropy(logits, ctx.labels);
    } else {
      v = targeted ? classMargin(logits, requireTargets(ctx, 'margin')) : tf.neg(classMargin(logits, ctx.labels));
    }
    return Number.isFinite(confidence) ? tf.minimum(v, confidence) : v;
  });
}

registerObjective('ce', (_classifier, spec) => {
  const targeted = spec.target !== undefined;
  const fromLogits = logitLoss('ce', targeted, Number.POSITIVE_INFINITY);
  return {
    kind: 'ce',
    name: `cross-entropy (${targeted ? 'targeted' : 'untargeted'})`,
    goal: targeted ? 'targeted' : 'untargeted',
    fromLogits,
    loss: (classifier, x, ctx) => tf.tidy(() => fromLogits(classifier.logits(x), ctx)),
  };
});

registerObjective('margin', (_classifier, spec, path) => {
  const s = spec as MarginObjectiveSpec;
  const confidence = s.confidence === undefined ? Number.POSITIVE_INFINITY
    : checkNumber(s.confidence, `${path}.confidence`, { min: 0 });
  const targeted = spec.target !== undefined;
  const fromLogits = logitLoss('margin', targeted, confidence);
  return {
    kind: 'margin',
    name: `margin (${targeted ? 'targeted' : 'untargeted'})`,
    goal: targeted ? 'targeted' : 'untargeted',
    fromLogits,
    loss: (classifier, x, ctx) => tf.tidy(() => fromLogits(classifier.logits(x), ctx)),
  };
});

/**
 * The `k` largest logits of each row, largest first, each as `[N]`. Written with argMax and one-hot products rather
 * than `tf.topk`, which has no gradient in TensorFlow.js: the gradient reaches the logits through the products.
 */
function largestLogits(logits: tf.Tensor2D, k: number): tf.Tensor1D[] {
  return tf.tidy(() => {
    const c = logits.shape[1];
    const out: tf.Tensor1D[] = [];
    let rest: tf.Tensor2D = logits;
    for (let i = 0; i < k; i++) {
      const oh = tf.oneHot(tf.argMax(rest, 1), c).toFloat();
      out.push(tf.sum(tf.mul(logits, oh), 1));
      rest = tf.sub(rest, tf.mul(oh, 1e9));
    }
    return out;
  });
}

/**
 * Per-image DLR loss (to maximise; see {@link DlrObjectiveSpec}). `targets` null → untargeted. Needs at least 3 classes
 * (4 with targets).
 */
export function dlrLoss(logits: tf.Tensor2D, labels: Int32Array, targets: Int32Array | null): tf.Tensor1D {
  return tf.tidy(() => {
    if (targets === null) {
      const [z1, , z3] = largestLogits(logits, 3);
      return tf.div<tf.Tensor1D>(tf.neg(classMargin(logits, labels)), tf.add(tf.sub(z1, z3), 1e-12));
    }
    const [z1, , z3, z4] = largestLogits(logits, 4);
    const k = logits.shape[1];
    const zy = tf.sum(tf.mul(logits, oneHot(labels, k)), 1);
    const zt = tf.sum(tf.mul(logits, oneHot(targets, k)), 1);
    return tf.div<tf.Tensor1D>(tf.sub(zt, zy), tf.add(tf.sub(z1, tf.div(tf.add(z3, z4), 2)), 1e-12));
  });
}

/** The fewest classes the DLR loss is defined for: 3 untargeted (π3), 4 targeted (π4). */
export function dlrMinClasses(targeted: boolean): number {
  return targeted ? 4 : 3;
}

/**
 * A DLR objective. `goal` is normally the loss's own (targeted when `targeted`); APGD-T uses the targeted loss with
 * the untargeted goal, since it aims at a target only to find any misclassification.
 */
export function dlrObjective(targeted: boolean, goal: Goal = targeted ? 'targeted' : 'untargeted'): Objective {
  const fromLogits = (logits: tf.Tensor2D, ctx: ObjectiveContext): tf.Tensor1D =>
    dlrLoss(logits, ctx.labels, targeted ? requireTargets(ctx, 'dlr') : null);
  return {
    kind: 'dlr',
    name: `DLR (${targeted ? 'targeted' : 'untargeted'})`,
    goal,
    fromLogits,
    loss: (classifier, x, ctx) => tf.tidy(() => fromLogits(classifier.logits(x), ctx)),
  };
}

registerObjective('dlr', (classifier, spec, path) => {
  const targeted = spec.target !== undefined;
  const need = dlrMinClasses(targeted);
  const k = classifier.classNames.length;
  if (k < need) {
    throw usageError(`${path}: the ${targeted ? 'targeted ' : ''}DLR loss needs at least ${need} classes, but model '${classifier.name}' has ${k}`, {
      path: `${path}.kind`, hint: "use objective kind 'ce' or 'margin' for this model",
    });
  }
  return dlrObjective(targeted);
});

registerObjective('unit', unitObjective);

/** Cuts a context down to the images at `idx`. */
export function subsetContext(ctx: ObjectiveContext, idx: readonly number[]): ObjectiveContext {
  return {
    labels: Int32Array.from(idx, (i) => ctx.labels[i]),
    targets: ctx.targets ? Int32Array.from(idx, (i) => ctx.targets![i]) : null,
  };
}

/**
 * Per-image success of predictions under a goal: targeted → prediction = target; otherwise prediction ≠ label
 * (for goal `none` this is what results report, but it never stops an image early).
 */
export function successOf(goal: Goal, predictions: ArrayLike<number>, ctx: ObjectiveContext): boolean[] {
  return Array.from({ length: predictions.length }, (_, i) =>
    goal === 'targeted' ? predictions[i] === ctx.targets![i] : predictions[i] !== ctx.labels[i]);
}
