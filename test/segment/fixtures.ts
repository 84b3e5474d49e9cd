/**
 * A hand-built segmenter for the colour probe of test/dissection/fixtures.ts: a 1×1 convolution whose object
 * category says `redthing` where r − g − b is large, `bluething` where b − r − g is, and "none" elsewhere.
 */
import * as tf from '../../src/tf.js';
import { fromSegmenterModel, type Segmenter } from '../../src/segment/segmenter.js';

export const COLOR_CATEGORIES = [{ name: 'object', concepts: ['redthing', 'bluething'] }];

export function colorSegmenterModel(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const conv = tf.layers.conv2d({ name: 'seg', filters: 3, kernelSize: 1 });
  const model = tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
  // Channels: none, redthing, bluething.
  const weights = [tf.tensor4d([[[[0, 10, -10], [0, -10, -10], [0, -10, 10]]]]), tf.tensor1d([0, -3, -3])];
  conv.setWeights(weights);
  tf.dispose(weights);
  return model;
}

export function colorSegmenter(): Segmenter {
  return fromSegmenterModel(colorSegmenterModel(), { categories: COLOR_CATEGORIES, ids: [[1, 2]], name: 'colors-segmenter', fingerprint: 'colors-v1' });
}
