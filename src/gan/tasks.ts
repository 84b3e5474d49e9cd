/**
 * The generator context of the executor (a thread that loads a generator and a segmenter by their specs, and reports
 * both fingerprints) and its task `gan-edit-batch`: generate a batch of latents under a list of edits and count each
 * concept's pixels in the segmentations (`./batch-work.ts`).
 */
import { registerContext, registerPoolTask } from '../parallel/executor.js';
import { loadSegmenter, type Segmenter } from '../segment/segmenter.js';
import { editBatchTransfer, measureEditBatch, type EditBatchInput, type EditBatchOutput } from './batch-work.js';
import { loadGenerator } from './generator.js';
import type { Generator } from './types.js';

/** The spec of a generator context. */
export interface GeneratorContextSpec { generator: string; segmenter: string }

/** A generator context's resources. */
export interface GeneratorResources { generator: Generator; segmenter: Segmenter }

/** What a generator thread reports when ready. */
export interface GeneratorIdentity { generator: string; segmenter: string }

registerContext<GeneratorContextSpec, GeneratorResources>('generator', {
  load: async (spec) => ({ generator: await loadGenerator(spec.generator), segmenter: await loadSegmenter(spec.segmenter) }),
  identity: (r): GeneratorIdentity => ({ generator: r.generator.fingerprint, segmenter: r.segmenter.fingerprint }),
  dispose: (r) => { r.generator.dispose(); r.segmenter.dispose(); },
});

registerPoolTask<EditBatchInput, EditBatchOutput, GeneratorResources>('gan-edit-batch', async (ctx, input) => {
  const value = await measureEditBatch(ctx.generator, ctx.segmenter, input, () => ctx.progress(input.count));
  return { value, transfer: editBatchTransfer(value) };
});
