/**
 * The unit of work of ablation (and of the causal ranking): one batch of latents generated without an edit and with
 * each of a list of edits, every image segmented and reduced to pixels per concept. It runs on the calling thread or
 * as the `gan-edit-batch` task of a generator pool's worker (`./pool.ts`), with the same numbers either way: the batch
 * (latents `from … from + count − 1`) is the same whatever thread takes it, and the caller adds the answers up in
 * batch order.
 */
import * as tf from '../tf.js';
import type { Segmenter } from '../segment/segmenter.js';
import { conceptCounts, conceptIndexOf } from './measure.js';
import type { Generator, GeneratorEdit } from './types.js';

/** One batch and the edits to measure on it (plain data: it crosses threads). */
export interface EditBatchInput {
  /** Latents `from … from + count − 1` of the stream `seed`. */
  seed: number;
  from: number;
  count: number;
  layer: string;
  /** `null` is the unedited generator. */
  edits: ReadonlyArray<GeneratorEdit | readonly GeneratorEdit[] | null>;
  /** Pixels of the first `keep` images of each generation are returned too (for example pictures). */
  keep: number;
}

/** Per edit (in the order given): pixels of each concept per image, `[count × concepts]`, image-major. */
export interface EditBatchOutput {
  counts: Float64Array[];
  /** Per edit: `[keep, height, width, 3]` pixels in [0, 1] (empty when `keep` is 0). */
  pixels: Float32Array[];
  height: number;
  width: number;
}

/** The buffers of an answer, to move rather than copy across threads. */
export function editBatchTransfer(o: EditBatchOutput): ArrayBuffer[] {
  return [...o.counts, ...o.pixels].map((a) => a.buffer as ArrayBuffer);
}

/** Generates, segments and counts one batch under each edit; `onEdit` after each generation. */
export async function measureEditBatch(g: Generator, segmenter: Segmenter, input: EditBatchInput, onEdit?: () => void): Promise<EditBatchOutput> {
  const C = segmenter.concepts.length;
  const indexOf = conceptIndexOf(segmenter);
  const z = g.latents(input.seed, input.from, input.count);
  const out: EditBatchOutput = { counts: [], pixels: [], height: 0, width: 0 };
  // The edited layer's unedited output, tapped from the unedited generation: the edited ones resume from it rather
  // than running the layers before it again (the same images).
  let prefix: tf.Tensor | undefined;
  try {
    for (const edit of input.edits) {
      const r = edit
        ? g.generate(z, { edits: { [input.layer]: edit }, resume: prefix ? { layer: input.layer, value: prefix } : undefined })
        : g.generate(z, { taps: prefix ? [] : [input.layer] });
      if (!edit && !prefix) { prefix = r.taps[input.layer]; delete r.taps[input.layer]; }
      tf.dispose(Object.values(r.taps));
      try {
        const [n, H, W] = r.images.shape;
        const data = await r.images.data() as Float32Array;
        out.height = H; out.width = W;
        out.counts.push(conceptCounts({ labels: segmenter.segment(data, n, H, W), count: n, planes: segmenter.categories.length, height: H, width: W }, indexOf, C));
        out.pixels.push(data.slice(0, Math.min(input.keep, n) * H * W * 3));
      } finally {
        r.images.dispose();
      }
      onEdit?.();
    }
  } finally {
    z.dispose();
    prefix?.dispose();
  }
  return out;
}
