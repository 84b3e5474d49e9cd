/**
 * The built-in pool tasks: attacks on a shard of images, dissection's passes over a shard of the probe set, class
 * importance over a chunk of activations, and predictions. Every pool worker imports this module.
 */
import * as tf from '../tf.js';
import '../attacks/index.js'; // registers the attacks and the objectives, the unit attack's included
import { runAttack } from '../attacks/registry.js';
import { attackResultToData, type AttackTaskInput, type AttackTaskOutput } from '../attacks/_internals/sharded.js';
import { registerPoolTask } from '../engine/pool.js';
import { ablateChunk, rankChunk, type AblationChunkCounts, type AblationChunkInput, type RankChunkInput, type RankChunkSums } from '../dissection/importance.js';
import { openProbe, type ProbeSet } from '../dissection/probe.js';
import '../dissection/segmented.js'; // registers the segmented probe kind, so segmented shards open here too
import { createSketchBank } from '../dissection/_internals/sketch-bank.js';
import { iouTransfer, shardTransfer, tallyIouBatch, tallyShard, type IouCounts, type IouInput, type ShardInput, type ShardOutput } from '../dissection/_internals/shards.js';

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

/** Probe sets a worker has opened, by spec. */
const probes = new Map<string, Promise<ProbeSet>>();

registerPoolTask<ShardInput, ShardOutput>('dissect-shard', async (ctx, input) => {
  let probe = probes.get(input.probe);
  if (!probe) {
    probe = openProbe(input.probe, { inputSize: ctx.classifier.inputSize });
    probes.set(input.probe, probe);
    probe.catch(() => probes.delete(input.probe));
  }
  const bank = await createSketchBank(input.sketchK, input.seeds);
  try {
    const value = await tallyShard(ctx.classifier, await probe, input, bank, (n) => ctx.progress(n));
    return { value, transfer: shardTransfer(value) };
  } finally {
    await bank.close();
  }
});

registerPoolTask<IouInput, IouCounts>('dissect-iou', async (_ctx, input) => {
  const value = await tallyIouBatch(input);
  return { value, transfer: iouTransfer(value) };
});

registerPoolTask<RankChunkInput, RankChunkSums>('importance-rank', async (ctx, input) => {
  const value = await rankChunk(ctx.classifier, input);
  return { value, transfer: [value.dropSum.buffer as ArrayBuffer, value.logpSum.buffer as ArrayBuffer] };
});

registerPoolTask<AblationChunkInput, AblationChunkCounts>('importance-ablate', async (ctx, input) => {
  const value = await ablateChunk(ctx.classifier, input);
  return { value };
});

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
