/**
 * Work the benchmark times, as functions of a classifier and as pool tasks of the same name, so one worker (this
 * thread) and all workers (a pool) run the same code. Pool workers import this module through `startPool`'s
 * `modules`.
 */
import * as tf from '../src/tf.js';
import { registerPoolTask } from '../src/parallel/executor.js';
import type { Classifier } from '../src/models/types.js';
import type { RgbImage } from '../src/data/images.js';
import { fuzzClassifier, type FuzzBounds } from '../src/scenarios/fuzz.js';
import { renderScene, sceneSeed, SCENE_CLASSES } from '../src/data/scenes/index.js';
import { loadSegmenter, type Segmenter } from '../src/segment/segmenter.js';

/** Images `[count, H, W, 3]` for the per-image cases. */
export interface ImagesInput { x: Float32Array; count: number }

/** Forward passes, one image at a time (batch 1). */
export async function forwardEach(clf: Classifier, input: ImagesInput): Promise<void> {
  const [h, w] = clf.inputSize;
  for (let i = 0; i < input.count; i++) {
    const y = tf.tidy(() => clf.logits(tf.tensor4d(input.x.subarray(i * h * w * 3, (i + 1) * h * w * 3), [1, h, w, 3])));
    await y.data();
    y.dispose();
  }
}

/** Input gradients of one logit, one image at a time (batch 1), as a targeted attack step takes them. */
export async function gradientEach(clf: Classifier, input: ImagesInput): Promise<void> {
  const [h, w] = clf.inputSize;
  const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.slice(clf.logits(x as tf.Tensor4D), [0, 0], [1, 1])));
  for (let i = 0; i < input.count; i++) {
    const g = tf.tidy(() => grad(tf.tensor4d(input.x.subarray(i * h * w * 3, (i + 1) * h * w * 3), [1, h, w, 3])));
    await g.data();
    g.dispose();
  }
}

/** A corruption-fuzz job: `runs` drawn corruptions of `images` checked against the clean predictions. */
export interface FuzzInput { images: RgbImage[]; labels: Int32Array; predictions: Int32Array; runs: number; seed: number; bounds: FuzzBounds }

/** Runs a fuzz job; answers the corrupted images the model classified (drawn cases and shrinking steps). */
export async function fuzzJob(clf: Classifier, input: FuzzInput): Promise<number> {
  let checked = 0;
  const counting: Classifier = Object.create(clf) as Classifier;
  Object.defineProperty(counting, 'logits', { value: (x: tf.Tensor4D) => { checked += x.shape[0]; return clf.logits(x); } });
  await fuzzClassifier(counting, input.images, input.labels, input.predictions, { ...input.bounds, runs: input.runs, seed: input.seed, expect: 'prediction' });
  return checked;
}

/** Scenes `[from, from + count)` of dataset `seed` to segment at `size`. */
export interface SegmentInput { from: number; count: number; seed: number; size: number }

/**
 * Renders and segments scenes in batches of 50; answers the labelled pixels (a checksum that the work was done).
 * Rendering is included: it is what dissection through a segmenter does with a scene probe too.
 */
export function segmentScenes(seg: Segmenter, input: SegmentInput): number {
  const { size } = input;
  const per = size * size * 3;
  let labelled = 0;
  for (let a = input.from; a < input.from + input.count; a += 50) {
    const n = Math.min(50, input.from + input.count - a);
    const x = new Float32Array(n * per);
    for (let i = 0; i < n; i++) {
      const s = renderScene({ cls: SCENE_CLASSES[(a + i) % SCENE_CLASSES.length], seed: sceneSeed(input.seed, a + i), size });
      for (let k = 0; k < per; k++) x[i * per + k] = s.image[k] / 255;
    }
    const labels = seg.segment(x, n, size, size);
    for (const v of labels) if (v > 0) labelled++;
  }
  return labelled;
}

let workerSegmenter: Promise<Segmenter> | undefined;

registerPoolTask<SegmentInput, number>('bench-segment', async (_ctx, input) => {
  workerSegmenter ??= loadSegmenter('builtin:scenes-segmenter');
  return { value: segmentScenes(await workerSegmenter, input) };
});
registerPoolTask<ImagesInput, null>('bench-forward', async (ctx, input) => { await forwardEach(ctx.classifier, input); return { value: null }; });
registerPoolTask<ImagesInput, null>('bench-gradient', async (ctx, input) => { await gradientEach(ctx.classifier, input); return { value: null }; });
registerPoolTask<FuzzInput, number>('bench-fuzz', async (ctx, input) => ({ value: await fuzzJob(ctx.classifier, input) }));
