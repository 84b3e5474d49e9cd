/**
 * One shard of a segmenter training batch: the summed loss of `count` augmented scenes and its gradient, flattened
 * in the model's weight order (the segmenter's counterpart of `shardGradient`, run by the main thread and the
 * training workers alike).
 */
import * as tf from '../tf.js';
import { SCENE_CLASSES } from '../data/scenes/index.js';
import { SCENE_SEGMENTER_CATEGORIES, type SegmenterCategory } from '../segment/net.js';
import { segmenterBatch, segmenterLossSum, type SegmenterFocus } from './segmenter-batch.js';
import { flatGrads, type ShardGradient } from './shard.js';

/** What every shard of a run shares. */
export interface SegmenterShardContext {
  datasetSeed: number;
  classes?: readonly string[];
  categories?: readonly SegmenterCategory[];
  /** Cross-entropy weights per channel of each category (`balanceWeights`); none: every pixel counts the same. */
  weights?: readonly (readonly number[])[];
  /** Scenes drawn more often for some concepts. */
  focus?: SegmenterFocus;
  /** Channels (per category) whose Lovász–Jaccard loss joins the loss (`segmenterLossSum`). */
  lovasz?: readonly (readonly number[])[];
  /** Images pooled per Lovász term (`segmenterLossSum`); shards start at multiples of it. @defaultValue 1 */
  lovaszPool?: number;
}

/**
 * The summed loss of scenes `[from, from+count)` at side `size` and its gradient. `correct` is the summed share of
 * pixels whose object-category label is right, so `correct / count` is the mean pixel accuracy.
 */
export function segmenterShardGradient(
  model: tf.LayersModel, vars: readonly tf.Variable[], ctx: SegmenterShardContext, from: number, count: number, size: number,
): ShardGradient {
  const categories = ctx.categories ?? SCENE_SEGMENTER_CATEGORIES;
  const batch = segmenterBatch(ctx.datasetSeed, from, count, size, { classes: ctx.classes ?? SCENE_CLASSES, categories, ...(ctx.focus ? { focus: ctx.focus } : {}) });
  const x = tf.tensor4d(batch.images, [count, size, size, 3]);
  let correct = 0;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor4D;
    correct = pixelAccuracySum(logits, batch.targets, categories);
    return segmenterLossSum(logits, batch.targets, categories, ctx.weights, ctx.lovasz, ctx.lovaszPool);
  }, vars as tf.Variable[]);
  const flat = flatGrads(vars, grads);
  const lossSum = value.dataSync()[0];
  tf.dispose([x, value, ...Object.values(grads)]);
  return { grads: flat, lossSum, correct };
}

/** Σ over images of the share of pixels whose first category's argmax matches the target. */
function pixelAccuracySum(logits: tf.Tensor4D, targets: Int32Array, categories: readonly SegmenterCategory[]): number {
  return tf.tidy(() => {
    const [N, H, W] = logits.shape;
    const n = H * W;
    const depth = categories[0].concepts.length + 1;
    const pred = tf.argMax(tf.slice(logits, [0, 0, 0, 0], [N, H, W, depth]), -1).dataSync();
    let sum = 0;
    for (let b = 0; b < N; b++) {
      let hit = 0;
      for (let i = 0; i < n; i++) if (pred[b * n + i] === targets[b * categories.length * n + i]) hit++;
      sum += hit / n;
    }
    return sum;
  });
}
