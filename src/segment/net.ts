/**
 * The built-in segmenter's network: a small fully convolutional encoder–decoder (U-Net-like, with a stride-2 stem
 * and skip connections) that predicts one softmax per concept category at half the input resolution and upsamples
 * its logits bilinearly to the input size. It takes any input whose sides are multiples of 32 (64×64 and 96×96 for
 * the scene world and the generator).
 */
import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import { CATEGORIES, CONCEPTS } from '../data/scenes/index.js';

/** One category of a segmenter's output: channel 0 of its slice is "none", channels 1… its concepts in order. */
export interface SegmenterCategory {
  readonly name: string;
  readonly concepts: readonly string[];
}

/** The scene world's concepts grouped by category (object, part, material), in concept-id order. */
export const SCENE_SEGMENTER_CATEGORIES: readonly SegmenterCategory[] = Object.freeze(
  CATEGORIES.map((name) => Object.freeze({ name, concepts: Object.freeze(CONCEPTS.filter((c) => c.category === name).map((c) => c.name)) })),
);

/** Total output channels of a segmenter with these categories (each category has a "none" channel). */
export function segmenterChannels(categories: readonly SegmenterCategory[]): number {
  return categories.reduce((n, c) => n + c.concepts.length + 1, 0);
}

/** Options for {@link buildSegmenterNet}. */
export interface SegmenterNetOptions {
  /** Encoder widths, one per resolution level (level 1 at half the input size). @defaultValue [16, 32, 64, 96, 128] */
  encoderWidths?: readonly number[];
  /** Decoder widths, from the coarsest level up to half resolution (one fewer than the encoder). @defaultValue [96, 64, 48, 24] */
  decoderWidths?: readonly number[];
  /** @defaultValue the scene world's categories */
  categories?: readonly SegmenterCategory[];
  /** Seed of the He-normal initialisers. @defaultValue 0 */
  seed?: number;
}

/** The side lengths a network with `levels` encoder levels takes must be multiples of this. */
export function segmenterMultiple(levels: number): number {
  return 2 ** levels;
}

/**
 * Builds the segmenter network. Layers: `enc{k}_conv{1,2}` (level k at 1/2^k of the input), `dec{k}_up`,
 * `dec{k}_concat`, `dec{k}_conv`, `head` (logits at half resolution) and `logits` (bilinear ×2). Output: `[N, H, W,
 * channels]` logits; softmax over each category's slice.
 *
 * @example
 * const net = buildSegmenterNet({ seed: 1 });
 * net.predict(tf.zeros([1, 96, 96, 3])).shape; // [1, 96, 96, 55]
 */
export function buildSegmenterNet(options: SegmenterNetOptions = {}): tf.LayersModel {
  const enc = [...(options.encoderWidths ?? [16, 32, 64, 96, 128])];
  const dec = [...(options.decoderWidths ?? [96, 64, 48, 24])];
  const categories = options.categories ?? SCENE_SEGMENTER_CATEGORIES;
  const seed = options.seed ?? 0;
  if (enc.length < 2 || !enc.every((w) => Number.isInteger(w) && w >= 1)) {
    throw usageError(`encoderWidths must be at least two positive integers, got ${JSON.stringify(enc)}`, { path: 'encoderWidths' });
  }
  if (dec.length !== enc.length - 1 || !dec.every((w) => Number.isInteger(w) && w >= 1)) {
    throw usageError(`decoderWidths must be ${enc.length - 1} positive integers (one per decoder level down to half resolution), got ${JSON.stringify(dec)}`, { path: 'decoderWidths' });
  }
  let k = 0;
  const init = (): ReturnType<typeof tf.initializers.heNormal> => tf.initializers.heNormal({ seed: seed * 1000 + k++ });
  const conv = (x: tf.SymbolicTensor, filters: number, name: string, strides = 1): tf.SymbolicTensor =>
    tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: 'same', activation: 'relu', kernelInitializer: init(), name }).apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: [null, null, 3], name: 'image' });
  let x: tf.SymbolicTensor = input;
  const skips: tf.SymbolicTensor[] = [];
  enc.forEach((w, i) => {
    const level = i + 1;
    if (i > 0) x = tf.layers.maxPooling2d({ poolSize: 2, name: `enc${level}_pool` }).apply(x) as tf.SymbolicTensor;
    x = conv(x, w, `enc${level}_conv1`, i === 0 ? 2 : 1);
    x = conv(x, w, `enc${level}_conv2`);
    skips.push(x);
  });
  dec.forEach((w, i) => {
    const level = enc.length - 1 - i;
    x = tf.layers.upSampling2d({ size: [2, 2], name: `dec${level}_up` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.concatenate({ name: `dec${level}_concat` }).apply([x, skips[level - 1]]) as tf.SymbolicTensor;
    x = conv(x, w, `dec${level}_conv`);
  });
  x = tf.layers.conv2d({ filters: segmenterChannels(categories), kernelSize: 1, kernelInitializer: init(), name: 'head' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear', name: 'logits' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'scenes_segmenter' });
}
