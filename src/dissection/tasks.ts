/**
 * The dissection's pool tasks: its passes over a shard of the probe set (`dissect-shard`), the IoU tallies of a
 * batch (`dissect-iou`), and class importance over a chunk of activations (`importance-rank`, `importance-ablate`).
 * The executor imports this module when one of these tasks is first run (`parallel/builtin-tasks.ts`).
 */
import { registerPoolTask } from '../parallel/executor.js';
import { ablateChunk, rankChunk, type AblationChunkCounts, type AblationChunkInput, type RankChunkInput, type RankChunkSums } from './importance.js';
import { openProbe, type ProbeSet } from './probe.js';
import './segmented.js'; // registers the segmented probe kind, so segmented shards open here too
import { createSketchBank } from './_internals/sketch-bank.js';
import { iouTransfer, shardTransfer, tallyIouBatch, tallyShard, type IouCounts, type IouInput, type ShardInput, type ShardOutput } from './_internals/shards.js';

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
