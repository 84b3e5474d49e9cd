/**
 * The built-in pool tasks. Each folder defines the tasks of its own work and this module imports them: the attacks'
 * (`attacks/tasks.ts`: an attack on a shard of images) and the dissection's (`dissection/tasks.ts`: passes over a
 * shard of the probe set, class importance over a chunk of activations); `predict` is defined here. Every pool worker
 * imports this module.
 */
import * as tf from '../tf.js';
import '../attacks/tasks.js';
import '../dissection/tasks.js';
import { registerPoolTask } from '../engine/pool.js';

/** What the `predict` task takes: pixel-space images `[n, H, W, 3]`. */
export interface PredictTaskInput { x: Float32Array; count: number }

registerPoolTask<PredictTaskInput, Float32Array>('predict', async (ctx, input) => {
  const [h, w] = ctx.classifier.inputSize;
  const p = tf.tidy(() => tf.softmax(ctx.classifier.logits(tf.tensor4d(input.x, [input.count, h, w, 3]))));
  try {
    const value = Float32Array.from(await p.data() as Float32Array);
    return { value, transfer: [value.buffer] };
  } finally {
    p.dispose();
  }
});
