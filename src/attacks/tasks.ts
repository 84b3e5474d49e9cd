/**
 * The attacks' pool task: `attack` runs a registered attack on a shard of images on a worker (see
 * `runAttackSharded`). The executor imports this module when the task is first run (`parallel/builtin-tasks.ts`).
 */
import * as tf from '../tf.js';
import './index.js'; // registers the attacks and the objectives, the unit attack's included
import { runAttack } from './registry.js';
import { attackResultToData, type AttackTaskInput, type AttackTaskOutput } from './_internals/sharded.js';
import { registerPoolTask } from '../parallel/executor.js';

registerPoolTask<AttackTaskInput, AttackTaskOutput>('attack', async (ctx, input) => {
  const x = tf.tensor4d(input.x, input.shape);
  try {
    const r = await runAttack(ctx.classifier, x, input.labels, { ...input.spec, onProgress: (p) => ctx.progress(p) });
    const value = await attackResultToData(r);
    return { value, transfer: [value.adversarial.buffer as ArrayBuffer] };
  } finally {
    x.dispose();
  }
});
