import * as tf from '../../tf.js';
import { UnitAttackError, usageError } from '../../errors.js';
import type { Classifier } from '../../models/types.js';
import { parseEpsilon } from '../epsilon.js';
import {
  buildObjective, resolveTargets, successOf, type Objective, type ObjectiveContext, type ObjectiveSpec,
} from '../objectives.js';
import { l2ForPsnr, perImage, perImageL2, type Norm } from '../threat.js';
import type { AttackOptionsBase, AttackResult, Labels } from '../types.js';
import { labelIndices } from './labels.js';
import { checkChoice, checkSeed } from './validate.js';

/** Everything an optimizer needs once the entry has checked the inputs. */
export interface Prepared {
  classifier: Classifier;
  x0: tf.Tensor4D;
  n: number;
  ctx: ObjectiveContext;
  objective: Objective;
  norm: Norm;
  epsilon: number;
  /** L2 cap from a PSNR floor (`minPsnr`); Infinity without one. */
  maxL2: number;
  minPsnr?: number;
  seed: number;
  gradientCheck: 'warn' | 'throw';
  cleanPredictions: Int32Array;
  queries: Int32Array;
  warnings: string[];
}

/** Checks the images, labels and the options shared by every attack, and predicts the clean images. */
export async function prepare(
  attack: string, classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: AttackOptionsBase,
  defaults: { objective: ObjectiveSpec; norms?: readonly Norm[]; epsilonOptional?: boolean; allowZeroEpsilon?: boolean; minPsnr?: boolean },
): Promise<Prepared> {
  if (!(x instanceof tf.Tensor) || x.rank !== 4) {
    throw usageError(`${attack}: x must be a 4-D tensor [N, H, W, 3], got ${x instanceof tf.Tensor ? `rank ${x.rank}` : typeof x}`, { path: 'x' });
  }
  const [h, w] = classifier.inputSize;
  if (x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== 3) {
    throw usageError(`${attack}: model '${classifier.name}' takes images [N, ${h}, ${w}, 3], got ${JSON.stringify(x.shape)}`, { path: 'x' });
  }
  if (x.dtype !== 'float32') throw usageError(`${attack}: x must be float32 pixels in [0, 1], got ${x.dtype}`, { path: 'x' });
  const n = x.shape[0];
  if (n === 0) throw usageError(`${attack}: x holds no images`, { path: 'x' });
  const range = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]));
  const [lo, hi] = await range.data();
  range.dispose();
  if (!(lo >= 0 && hi <= 1)) {
    throw usageError(`${attack}: x must be pixel-space images in [0, 1], got values in [${lo}, ${hi}]`, {
      path: 'x', hint: 'pass images before the model\'s preprocessing; the classifier applies it',
    });
  }
  const labelArr = await readLabels(labelIndices(classifier.classNames, labels), n, classifier.classNames.length);

  const norm = checkChoice(options.norm ?? 'linf', 'norm', defaults.norms ?? ['linf', 'l2']);
  let epsilon: number;
  if (options.epsilon === undefined) epsilon = defaults.epsilonOptional ? Number.POSITIVE_INFINITY : norm === 'linf' ? 8 / 255 : 0.5;
  else if (defaults.allowZeroEpsilon && Number(options.epsilon) === 0) epsilon = 0;
  else epsilon = parseEpsilon(options.epsilon, { path: 'epsilon', norm });
  const minPsnr = options.minPsnr;
  let maxL2 = Number.POSITIVE_INFINITY;
  if (minPsnr !== undefined) {
    if (!defaults.minPsnr) {
      throw usageError(`${attack}: minPsnr is supported by fgsm, pgd and the unit attack, not ${attack}`, { path: 'minPsnr', hint: 'drop minPsnr, or use pgd' });
    }
    if (typeof minPsnr !== 'number' || !Number.isFinite(minPsnr) || minPsnr <= 0) {
      throw usageError(`minPsnr must be a positive number of dB, got ${String(minPsnr)}`, { path: 'minPsnr', hint: 'e.g. 35 (a perturbation of about ±4.5/255 on every pixel)' });
    }
    maxL2 = l2ForPsnr(minPsnr, h * w * 3);
  }
  const seed = checkSeed(options.seed ?? 0);
  const gradientCheck = checkChoice(options.gradientCheck ?? 'warn', 'gradientCheck', ['warn', 'throw'] as const);
  const spec = options.objective ?? defaults.objective;
  const objective = buildObjective(classifier, spec);
  const targets = resolveTargets(classifier, spec.target, n);
  const ctx: ObjectiveContext = { labels: labelArr, targets };
  const cleanPredictions = await predict(classifier, x);
  return {
    classifier, x0: x, n, ctx, objective, norm, epsilon, maxL2, ...(minPsnr !== undefined ? { minPsnr } : {}), seed, gradientCheck, cleanPredictions,
    queries: new Int32Array(n).fill(1), warnings: [],
  };
}

async function readLabels(labels: ArrayLike<number> | tf.Tensor1D, n: number, numClasses: number): Promise<Int32Array> {
  let arr: ArrayLike<number>;
  if (labels instanceof tf.Tensor) arr = await labels.data();
  else if (labels && typeof (labels).length === 'number') arr = labels;
  else throw usageError('labels must be an array of class indices or names, one per image', { path: 'labels' });
  if (arr.length !== n) {
    throw usageError(`labels has ${arr.length} entries for ${n} images`, { path: 'labels', hint: 'give one class index per image' });
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = arr[i];
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw usageError(`labels[${i}] = ${v} is not a class index of this model (0…${numClasses - 1})`, { path: `labels[${i}]` });
    }
    out[i] = v;
  }
  return out;
}

/** Predicted class per image. */
export async function predict(classifier: Classifier, x: tf.Tensor4D): Promise<Int32Array> {
  const p = tf.tidy(() => tf.argMax(classifier.logits(x), 1));
  const out = Int32Array.from(await p.data());
  p.dispose();
  return out;
}

/** Predictions and objective values of (rounded) images, with as few passes as the objective allows. */
export async function evaluate(
  classifier: Classifier, objective: Objective, x: tf.Tensor4D, ctx: ObjectiveContext,
): Promise<{ predictions: Int32Array; objective: Float32Array; passes: number }> {
  const fromLogits = objective.fromLogits;
  let passes: number;
  const [pred, val] = tf.tidy<[tf.Tensor, tf.Tensor1D]>(() => {
    if (fromLogits) {
      passes = 1;
      const logits = classifier.logits(x);
      return [tf.argMax(logits, 1), fromLogits(logits, ctx)];
    }
    passes = 2;
    return [tf.argMax(classifier.logits(x), 1), objective.loss(classifier, x, ctx)];
  });
  const predictions = Int32Array.from(await pred.data());
  const values = Float32Array.from(await val.data());
  pred.dispose(); val.dispose();
  return { predictions, objective: values, passes: passes! };
}

/** Per-image objective values and the input gradient of their sum (each image's gradient is its own). */
export function valueAndGrad(
  classifier: Classifier, objective: Objective, x: tf.Tensor4D, ctx: ObjectiveContext,
): { value: tf.Tensor1D; grad: tf.Tensor4D } {
  return tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad((xv: tf.Tensor4D) => objective.loss(classifier, xv, ctx))(x);
    return { value: value, grad: grad };
  });
}

/** Replaces NaN gradient entries by zero, so one bad image cannot poison the step of the others. */
export function sanitize(grad: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.where(tf.isNaN(grad), tf.zerosLike(grad), grad));
}

/**
 * Checks the first gradient of an attack. Images whose gradient is NaN or identically zero are reported
 * with the likely cause; when every image is affected the result is a warning or a `UA_NUMERIC` error.
 */
export async function checkFirstGradient(p: Prepared, attack: string, x: tf.Tensor4D, grad: tf.Tensor4D, idx: readonly number[]): Promise<void> {
  const stats = tf.tidy(() => tf.stack([
    tf.max(tf.abs(tf.where(tf.isNaN(grad), tf.zerosLike(grad), grad)), [1, 2, 3]),
    tf.any(tf.isNaN(grad), [1, 2, 3]).toFloat(),
  ]));
  const s = await stats.data();
  stats.dispose();
  const m = idx.length;
  const nan: number[] = []; const zero: number[] = [];
  for (let k = 0; k < m; k++) {
    if (s[m + k] > 0) nan.push(idx[k]);
    else if (s[k] === 0) zero.push(idx[k]);
  }
  if (nan.length === 0 && zero.length === 0) return;
  const messages: string[] = [];
  if (nan.length > 0) {
    messages.push(`${attack}: the input gradient is NaN for ${nan.length} of ${m} images (${sample(nan)}); ` +
      'the model produces NaN or Inf on them: check the preprocessing and the weights. Their gradient is treated as zero.');
  }
  if (zero.length > 0) messages.push(`${attack}: the input gradient is zero for ${zero.length} of ${m} images (${sample(zero)}); ${await zeroCause(p, x, idx, zero)}`);
  if (nan.length + zero.length === m && p.gradientCheck === 'throw') {
    throw new UnitAttackError('UA_NUMERIC', messages.join(' '), { path: 'objective', hint: 'see the likely cause above; set gradientCheck: \'warn\' to run anyway' });
  }
  p.warnings.push(...messages);
}

function sample(list: number[]): string {
  return `image${list.length > 1 ? 's' : ''} ${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''}`;
}

async function zeroCause(p: Prepared, x: tf.Tensor4D, idx: readonly number[], zero: number[]): Promise<string> {
  const kind = p.objective.kind;
  if (kind === 'ce') {
    const maxProb = tf.tidy(() => tf.max(tf.softmax(p.classifier.logits(x)), 1));
    const probs = await maxProb.data();
    maxProb.dispose();
    const saturated = zero.filter((i) => 1 - probs[idx.indexOf(i)] < 1e-6).length;
    if (saturated > 0) {
      return `the softmax is saturated on ${saturated} of them (top probability rounds to 1 in float32), so the ` +
        "cross-entropy gradient underflows: use the margin objective (objective: { kind: 'margin' })";
    }
  }
  if (kind === 'unit') {
    return 'the steered units may be inactive (zero after ReLU) on these images, so no gradient reaches them: ' +
      "choose units that fire on these images or use aggregate: 'mean'; otherwise a layer on the path is not differentiable";
  }
  return 'a layer on the path from the input is not differentiable (rounding, argmax, a lookup, a stop-gradient) or the ' +
    'model blocks gradients; use a score-based attack (square) for such models';
}

/** Rows `idx` of a batch. */
export function gatherRows<T extends tf.Tensor>(t: T, idx: readonly number[]): T {
  return tf.tidy(() => tf.gather<T>(t, tf.tensor1d(idx as number[], 'int32')));
}

/** A copy of `full` with rows `idx` replaced by `rows` (in the order of `idx`). */
export function mergeRows(full: tf.Tensor4D, idx: readonly number[], rows: tf.Tensor4D): tf.Tensor4D {
  const n = full.shape[0];
  return tf.tidy(() => {
    if (idx.length === n && idx.every((v, i) => v === i)) return rows.clone();
    const taken = new Set(idx);
    const others = Array.from({ length: n }, (_, i) => i).filter((i) => !taken.has(i));
    const combined = others.length > 0 ? tf.concat([rows, gatherRows(full, others)]) : rows;
    const where = new Int32Array(n);
    idx.forEach((img, k) => { where[img] = k; });
    others.forEach((img, k) => { where[img] = idx.length + k; });
    return tf.gather(combined, tf.tensor1d(where, 'int32'));
  });
}

/**
 * One ascent step of size `alpha` along the gradient's steepest direction for the norm: the sign for L∞,
 * the per-image unit vector for L2 (images with a zero gradient do not move).
 */
export function ascentStep(x: tf.Tensor4D, grad: tf.Tensor4D, alpha: number | tf.Tensor1D, norm: Norm): tf.Tensor4D {
  return tf.tidy(() => {
    const a = typeof alpha === 'number' ? alpha : perImage(alpha);
    if (norm === 'linf') return tf.add(x, tf.mul(tf.sign(grad), a));
    const n = perImageL2(grad);
    const unit = tf.div(grad, perImage(tf.maximum<tf.Tensor1D>(n, 1e-20)));
    return tf.add(x, tf.mul(unit, a));
  });
}

/** Assembles the result; takes ownership of `adversarial`. */
export async function finish(
  attack: string, p: Prepared, adversarial: tf.Tensor4D, steps: Int32Array, details?: Record<string, unknown>,
): Promise<AttackResult> {
  const ev = await evaluate(p.classifier, p.objective, adversarial, p.ctx);
  for (let i = 0; i < p.n; i++) p.queries[i] += ev.passes;
  const result: AttackResult = {
    attack,
    adversarial,
    success: successOf(p.objective.goal, ev.predictions, p.ctx),
    predictions: ev.predictions,
    cleanPredictions: p.cleanPredictions,
    objective: ev.objective,
    steps,
    queries: p.queries,
    norm: p.norm,
    epsilon: p.epsilon,
    ...(p.minPsnr !== undefined ? { minPsnr: p.minPsnr } : {}),
    goal: p.objective.goal,
    objectiveName: p.objective.name,
    seed: p.seed,
    backend: tf.getBackend(),
    tfjsVersion: tf.version_core,
    warnings: p.warnings,
  };
  if (details) result.details = details;
  return result;
}

/** A boolean tensor of `shape` that is true on the rows (images) flagged in `rows`. */
export function rowMask(rows: readonly boolean[], shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    const v = tf.tensor(rows.map((b) => (b ? 1 : 0)), [rows.length, ...shape.slice(1).map(() => 1)], 'float32');
    return tf.greater(tf.tile(v, [1, ...shape.slice(1)]), 0.5);
  });
}
