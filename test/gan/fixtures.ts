/**
 * A hand-built tiny generator whose unit 0 of `layer2` (an 8×8 map) paints a green "tree" where it fires on a blue
 * "sky", and a hand-built segmenter that tells the two colours apart.
 *
 * Generator: latent [N, 4] → `layer1` (dense to 4×4×2, ReLU) → nearest ×2 → `layer2` (1×1 conv, identity, ReLU;
 * 8×8×2) → nearest ×2 → `output_conv` (1×1 to RGB) → `output` (tanh, range [-1, 1]), 16×16 images. Unit 0 of
 * `layer2` adds (−4, +4, −4) to the RGB logits, which start at (−1, −1, +1): sky where it is silent, tree where it
 * exceeds ~0.5. Unit 1 paints nothing.
 */
import * as tf from '../../src/tf.js';
import { fromSegmenterModel, type Segmenter } from '../../src/segment/segmenter.js';

export const TINY_LATENT = 4;
export const TINY_SIZE = 16;

/** A deterministic weight pattern in [-1, 1]. */
function pattern(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * 2 - 1;
  });
}

export function tinyGeneratorModel(): tf.LayersModel {
  const z = tf.input({ shape: [TINY_LATENT], name: 'latent' });
  const dense = tf.layers.dense({ units: 32, name: 'layer1_dense' });
  let x = dense.apply(z) as tf.SymbolicTensor;
  x = tf.layers.reshape({ targetShape: [4, 4, 2], name: 'layer1_reshape' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'layer1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [2, 2], name: 'layer2_up' }).apply(x) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'layer2' });
  x = conv.apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [2, 2], name: 'output_up' }).apply(x) as tf.SymbolicTensor;
  const toRgb = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'output_conv' });
  x = toRgb.apply(x) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'tanh', name: 'output' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: z, outputs: out, name: 'tiny_generator' });
  // Unit 0 (channel 0 of every cell) fires on about a fifth of the cells; unit 1 on about half.
  const bias = Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? -1 : 0));
  const w = [
    tf.tensor2d(pattern(TINY_LATENT * 32, 7), [TINY_LATENT, 32]), tf.tensor1d(bias),
    tf.tensor4d([1, 0, 0, 1], [1, 1, 2, 2]), tf.tensor1d([0, 0]),
    tf.tensor4d([-4, 4, -4, 0, 0, 0], [1, 1, 2, 3]), tf.tensor1d([-1, -1, 1]),
  ];
  dense.setWeights(w.slice(0, 2));
  conv.setWeights(w.slice(2, 4));
  toRgb.setWeights(w.slice(4, 6));
  tf.dispose(w);
  return model;
}

export const TREE_CATEGORIES = [{ name: 'object', concepts: ['tree', 'sky'] }];

/** A 1×1 conv on pixels: `tree` where g − r − b is large, `sky` where b − r − g is, none elsewhere. */
export function treeSegmenter(): Segmenter {
  return fromSegmenterModel(treeSegmenterModel(), { categories: TREE_CATEGORIES, ids: [[1, 2]], name: 'tree-segmenter', fingerprint: 'tree-v1' });
}

/** The model of {@link treeSegmenter}. */
export function treeSegmenterModel(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const conv = tf.layers.conv2d({ name: 'seg', filters: 3, kernelSize: 1 });
  const model = tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
  // Channels: none, tree, sky; rows: r, g, b.
  const weights = [tf.tensor4d([[[[0, -10, -10], [0, 10, -10], [0, -10, 10]]]]), tf.tensor1d([0, -2, -2])];
  conv.setWeights(weights);
  tf.dispose(weights);
  return model;
}

/** The same rule in plain JavaScript on pixels in [0, 1]: 1 tree, 2 sky, 0 none. */
export function treeLabel(r: number, g: number, b: number): number {
  const tree = 10 * (g - r - b) - 2; const sky = 10 * (b - r - g) - 2;
  if (tree > 0 && tree >= sky) return 1;
  if (sky > 0) return 2;
  return 0;
}
