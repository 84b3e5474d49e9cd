/**
 * A hand-built tiny generator and segmenter for the ablation and insertion tests. `layer1` is a 2×2 map of three
 * units: unit 0 = relu(z[cell]), unit 1 = relu(−z[cell]) (it fires, but draws nothing), unit 2 = relu(z[4 + cell]) (a
 * second tree unit, when `second` is set; else 0). The 8×8 image is sky blue, with each 4×4 block painted tree green
 * where unit 0 + unit 2 > 0.5 at its cell. The segmenter labels a
 * pixel tree when its green channel exceeds 0.6, else sky.
 */
import * as tf from '../../src/tf.js';
import { generatorFromModel } from '../../src/gan/generator.js';
import type { Generator } from '../../src/gan/types.js';
import type { Segmenter } from '../../src/segment/segmenter.js';

export const SKY = [0.2, 0.4, 0.9] as const;
export const TREE = [0.1, 0.8, 0.1] as const;
export const SIDE = 8;
export const CELL = 4;

/**
 * The tiny generator as a tf layers model with fixed weights, wrapped by `generatorFromModel`: `layer1_dense` maps
 * the latent to the 2×2×3 map (unit 0 ← z[cell], unit 1 ← −z[cell], unit 2 ← z[4 + cell] when `second`), `layer1` is
 * its ReLU; a 1×1 conv and a ReLU capped at 1 make the step "unit 0 + unit 2 > 0.5" (10⁴ times steeper than the
 * latents' spacing), nearest upsampling ×4 and a 1×1 conv paint sky or tree.
 */
export function tinyGenerator(options: { second?: boolean } = {}): Generator {
  const second = options.second ?? false;
  const input = tf.input({ shape: [8], name: 'latent' });
  const kernel = new Float32Array(8 * 12);
  for (let c = 0; c < 4; c++) {
    kernel[c * 12 + c * 3 + 0] = 1;
    kernel[c * 12 + c * 3 + 1] = -1;
    if (second) kernel[(4 + c) * 12 + c * 3 + 2] = 1;
  }
  const dense = tf.layers.dense({ units: 12, name: 'layer1_dense', weights: [tf.tensor2d(kernel, [8, 12]), tf.zeros([12])] });
  let x = dense.apply(input) as tf.SymbolicTensor;
  x = tf.layers.reshape({ targetShape: [2, 2, 3], name: 'layer1_reshape' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'layer1' }).apply(x) as tf.SymbolicTensor;
  const steep = 1e4;
  x = tf.layers.conv2d({ filters: 1, kernelSize: 1, name: 'step_conv', weights: [tf.tensor4d([steep, 0, steep], [1, 1, 3, 1]), tf.tensor1d([-0.5 * steep])] }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 1, name: 'step' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [CELL, CELL], name: 'up' }).apply(x) as tf.SymbolicTensor;
  const paint = tf.layers.conv2d({
    filters: 3, kernelSize: 1, name: 'paint',
    weights: [tf.tensor4d(TREE.map((t, k) => t - SKY[k]), [1, 1, 1, 3]), tf.tensor1d([...SKY])],
  }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: paint, name: `tiny${second ? '-2' : ''}` });
  return generatorFromModel(model, { outputRange: [0, 1], layers: ['layer1'], defaultLayer: 'layer1' });
}

/** A segmenter that labels tree (green > 0.6) or sky; `door` is a concept it knows but never sees. */
export function tinySegmenter(): Segmenter {
  const categories = [{ name: 'object', concepts: ['sky', 'tree', 'door'] }];
  return {
    name: 'tiny-segmenter', fingerprint: 'tiny-seg', categories,
    concepts: [{ id: 1, name: 'sky', category: 'object' }, { id: 2, name: 'tree', category: 'object' }, { id: 3, name: 'door', category: 'object' }],
    multiple: 1,
    logits() { throw new Error('not used'); },
    runSize: (h, w) => [h, w],
    segment(images, count, height, width) {
      const n = height * width;
      const out = new Uint16Array(count * n);
      for (let i = 0; i < count * n; i++) out[i] = images[i * 3 + 1] > 0.6 ? 2 : 1;
      return out;
    },
    dispose() { /* nothing */ },
  };
}

/** The latents of the tiny generator as numbers, for brute-force recounts. */
export function latentValues(g: Generator, seed: number, from: number, count: number): Float32Array {
  const z = g.latents(seed, from, count);
  const v = z.dataSync() as Float32Array;
  z.dispose();
  return v;
}
