/**
 * The task of generator dissection on the executor's generator threads (the `generator` context of `gan/tasks.ts`):
 * `dissect-generated-shard`, pass 1 of a shard of a generator's samples — generate, segment, sketch. Pass 2 is the
 * shared `dissect-iou` task.
 */
import type { GeneratorResources } from '../gan/tasks.js';
import { registerPoolTask } from '../parallel/executor.js';
import { generatedBatches, parseGeneratedSpec } from './generated.js';
import { createSketchBank } from './_internals/sketch-bank.js';
import { shardTransfer, tallyBatches, type ShardInput, type ShardOutput } from './_internals/shards.js';

registerPoolTask<ShardInput, ShardOutput, GeneratorResources>('dissect-generated-shard', async (ctx, input) => {
  const { seed } = parseGeneratedSpec(input.probe);
  const bank = await createSketchBank(input.sketchK, input.seeds);
  try {
    const value = await tallyBatches(generatedBatches(ctx.generator, ctx.segmenter, seed, input), input.labelSize, bank, (n) => ctx.progress(n));
    return { value, transfer: shardTransfer(value) };
  } finally {
    await bank.close();
  }
});
