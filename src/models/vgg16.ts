import * as tf from '../tf.js';
import { usageError } from '../errors.js';

/** Options for {@link buildVgg16}. */
export interface Vgg16Options {
  /** Input side length in pixels (square input). @defaultValue 224 */
  inputSize?: number;
  /** Number of output classes. @defaultValue 1000 */
  numClasses?: number;
  /** Multiplier on every conv width (64…512) and the fc width (4096). @defaultValue 1 */
  widthMultiplier?: number;
  /**
   * The conv widths of the five blocks, e.g. `[8, 16, 32, 96, 96]`, in place of `widthMultiplier` × (64, 128, 256,
   * 512, 512); the fc width still takes the multiplier. @defaultValue the multiplied widths
   */
  blockWidths?: readonly number[];
  /** Width of `fc1` and `fc2` before the multiplier. @defaultValue 4096 */
  fcWidth?: number;
  /** Dropout rate after fc1 and fc2 (training only). @defaultValue 0 */
  dropout?: number;
  /** Seed for the He-normal initialisers, so a fresh model is reproducible. @defaultValue 0 */
  seed?: number;
  /** Whether `predictions` applies softmax. The adapter expects logits. @defaultValue false */
  softmax?: boolean;
}

/** Throws a usage error unless `widths` is five positive integers (see {@link Vgg16Options.blockWidths}). */
export function checkBlockWidths(widths: readonly number[]): void {
  if (!(widths.length === 5 && widths.every((w) => Number.isInteger(w) && w >= 1))) {
    throw usageError(`blockWidths must be five positive integers (the conv widths of blocks 1–5), got ${JSON.stringify(widths)}`, {
      path: 'blockWidths', hint: 'e.g. [8, 16, 32, 96, 96]',
    });
  }
}

/** The 13 conv layers of VGG-16 in order, with their full-width channel counts. */
export const VGG16_CONV_LAYERS: ReadonlyArray<readonly [name: string, channels: number]> = [
  ['block1_conv1', 64], ['block1_conv2', 64],
  ['block2_conv1', 128], ['block2_conv2', 128],
  ['block3_conv1', 256], ['block3_conv2', 256], ['block3_conv3', 256],
  ['block4_conv1', 512], ['block4_conv2', 512], ['block4_conv3', 512],
  ['block5_conv1', 512], ['block5_conv2', 512], ['block5_conv3', 512],
];

/**
 * Builds the VGG-16 topology with Keras layer names (`block1_conv1` … `block5_conv3`, `block{1..5}_pool`,
 * `flatten`, `fc1`, `fc2`, `predictions`), so that real VGG-16 weights and the small built-in model share one code path.
 * The model outputs logits unless `softmax` is set.
 *
 * @example
 * const m = buildVgg16({ inputSize: 64, numClasses: 10, widthMultiplier: 0.25 });
 */
export function buildVgg16(options: Vgg16Options = {}): tf.LayersModel {
  const o = {
    inputSize: 224, numClasses: 1000, widthMultiplier: 1, fcWidth: 4096, dropout: 0, seed: 0, softmax: false,
    ...options,
  };
  if (!Number.isInteger(o.inputSize) || o.inputSize < 32) {
    throw usageError(`inputSize must be an integer ≥ 32 (five 2×2 poolings), got ${o.inputSize}`, { path: 'inputSize' });
  }
  if (!Number.isInteger(o.numClasses) || o.numClasses < 2) {
    throw usageError(`numClasses must be an integer ≥ 2, got ${o.numClasses}`, { path: 'numClasses' });
  }
  if (!(o.widthMultiplier > 0)) {
    throw usageError(`widthMultiplier must be > 0, got ${o.widthMultiplier}`, { path: 'widthMultiplier' });
  }
  const width = (c: number): number => Math.max(1, Math.round(c * o.widthMultiplier));
  const blocks = o.blockWidths;
  if (blocks !== undefined) checkBlockWidths(blocks);
  const convWidth = (name: string, channels: number): number => (blocks === undefined ? width(channels) : blocks[Number(name[5]) - 1]);
  let seed = o.seed;
  const he = () => tf.initializers.heNormal({ seed: seed++ });

  const input = tf.input({ shape: [o.inputSize, o.inputSize, 3], name: 'input' });
  let x: tf.SymbolicTensor = input;
  for (const [name, channels] of VGG16_CONV_LAYERS) {
    x = tf.layers.conv2d({
      name, filters: convWidth(name, channels), kernelSize: 3, padding: 'same', activation: 'relu',
      kernelInitializer: he(), biasInitializer: 'zeros',
    }).apply(x) as tf.SymbolicTensor;
    if (name.endsWith('conv2') && (name.startsWith('block1') || name.startsWith('block2'))
      || name.endsWith('conv3')) {
      const block = name.slice(0, 6);
      x = tf.layers.maxPooling2d({ name: `${block}_pool`, poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
    }
  }
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  const fc = width(o.fcWidth);
  x = tf.layers.dense({ name: 'fc1', units: fc, activation: 'relu', kernelInitializer: he() }).apply(x) as tf.SymbolicTensor;
  if (o.dropout > 0) x = tf.layers.dropout({ name: 'fc1_dropout', rate: o.dropout, seed: seed++ }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'fc2', units: fc, activation: 'relu', kernelInitializer: he() }).apply(x) as tf.SymbolicTensor;
  if (o.dropout > 0) x = tf.layers.dropout({ name: 'fc2_dropout', rate: o.dropout, seed: seed++ }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({
    name: 'predictions', units: o.numClasses, activation: o.softmax ? 'softmax' : 'linear',
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
  }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'vgg16' });
}
