/**
 * One shard of a training batch: the summed loss of `count` scenes and its gradient with respect to every
 * trainable weight, flattened in the model's weight order. The main thread and the training workers run the same
 * function, so a batch split over workers gives the gradient of the whole batch (the sum of the shards' sums).
 */
import * as tf from '../tf.js';
import { sceneBatch } from '../data/scenes/batch.js';

/** What {@link shardGradient} returns: plain numbers and one flat array, so it crosses threads cheaply. */
export interface ShardGradient {
  /** Σ over the shard of d(loss)/d(weights), in `trainableVariables(model)` order, concatenated. */
  grads: Float32Array;
  /** Σ of the shard's per-scene cross-entropy losses. */
  lossSum: number;
  /** How many scenes of the shard the model classified correctly (before the update). */
  correct: number;
}

/** The model's trainable variables, in the order every thread flattens them. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Total number of values of `vars`. */
export function sizeOf(vars: readonly tf.Variable[]): number {
  return vars.reduce((n, v) => n + v.size, 0);
}

/**
 * The shards of one step, this thread's first and then the workers' in order: a failed worker fails the step. Adds
 * every worker's gradients into `own.grads` in that fixed order, so the sum does not depend on which answers first.
 */
export function gatherShards<T extends { grads: Float32Array }>(own: T, settled: ReadonlyArray<PromiseSettledResult<T>>): T[] {
  const parts = [own];
  for (const r of settled) {
    if (r.status === 'rejected') throw r.reason;
    parts.push(r.value);
  }
  const sum = own.grads;
  for (const part of parts.slice(1)) for (let i = 0; i < sum.length; i++) sum[i] += part.grads[i];
  return parts;
}

/** The gradients of `vars`, flattened in their order into one array (the layout every thread shares). */
export function flatGrads(vars: readonly tf.Variable[], grads: tf.NamedTensorMap): Float32Array {
  const flat = new Float32Array(sizeOf(vars));
  let off = 0;
  for (const v of vars) {
    const g = grads[v.name];
    if (g === undefined) throw new Error(`no gradient for weight '${v.name}'`);
    flat.set(g.dataSync(), off);
    off += v.size;
  }
  return flat;
}

/** Copies every variable's values into one array. */
export function flattenVariables(vars: readonly tf.Variable[]): Float32Array {
  const out = new Float32Array(sizeOf(vars));
  let off = 0;
  for (const v of vars) {
    out.set(v.dataSync(), off);
    off += v.size;
  }
  return out;
}

/** Sets every variable from one flat array (the inverse of {@link flattenVariables}). */
export function assignVariables(vars: readonly tf.Variable[], flat: Float32Array): void {
  if (flat.length !== sizeOf(vars)) throw new Error(`expected ${sizeOf(vars)} weight values, got ${flat.length}`);
  let off = 0;
  for (const v of vars) {
    const t = tf.tensor(flat.subarray(off, off + v.size), v.shape, 'float32');
    v.assign(t);
    t.dispose();
    off += v.size;
  }
}

/** The summed loss of scenes `[from, from+count)` of dataset `datasetSeed` and its gradient. */
export function shardGradient(
  model: tf.LayersModel, vars: readonly tf.Variable[], classes: readonly string[], datasetSeed: number,
  from: number, count: number, size: number,
): ShardGradient {
  const { x, y } = sceneBatch(classes, datasetSeed, from, count, size);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), classes.length));
  let correct = 0;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
    correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1)), 'float32')).dataSync()[0]);
    return tf.losses.softmaxCrossEntropy(labels, logits, undefined, undefined, tf.Reduction.SUM);
  }, vars as tf.Variable[]);
  const flat = flatGrads(vars, grads);
  const lossSum = value.dataSync()[0];
  tf.dispose([x, labels, value, ...Object.values(grads)]);
  return { grads: flat, lossSum, correct };
}

/**
 * Splits `batchSize` scenes into `parts` contiguous shards, the first ones one larger when it does not divide. With
 * `unit` > 1 every shard but the last holds a multiple of `unit` scenes (it splits `unit`-sized blocks), so groups of
 * `unit` consecutive scenes never straddle two shards; there may then be fewer shards than `parts`.
 */
export function splitBatch(batchSize: number, parts: number, unit = 1): Array<{ offset: number; count: number }> {
  const blocks = Math.ceil(batchSize / unit);
  const n = Math.min(parts, blocks);
  const base = Math.floor(blocks / n);
  const extra = blocks % n;
  const shards: Array<{ offset: number; count: number }> = [];
  let offset = 0;
  for (let k = 0; k < n; k++) {
    const count = Math.min((base + (k < extra ? 1 : 0)) * unit, batchSize - offset);
    shards.push({ offset, count });
    offset += count;
  }
  return shards;
}
