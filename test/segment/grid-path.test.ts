/**
 * The segmenter's fast label grid (labels at the odd pixels of the half-resolution map only) on small hand-built
 * networks: the decoder's last convolution over a concatenation of a nearest ×2 upsampling and a skip map, with the
 * upsampled part read at half resolution through merged taps.
 */
import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { initBackend } from '../../src/engine/backend.js';
import { fromSegmenterModel } from '../../src/segment/segmenter.js';
import { upTaps } from '../../src/segment/decoder.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** A kernel `[k, k, in, out]` (flat, row-major) merged along both spatial axes by a 0/1 matrix, with plain loops. */
function mergeByLoops(w: Float32Array, k: number, ci: number, co: number, matrix: number[][]): Float32Array {
  const m = matrix.length;
  const out = new Float32Array(m * m * ci * co);
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
    if (!matrix[a][y] || !matrix[b][x]) continue;
    for (let i = 0; i < ci * co; i++) out[((a * m + b) * ci * co) + i] += w[((y * k + x) * ci * co) + i];
  }
  return out;
}

describe('upTaps', () => {
  it('a k×k convolution of a nearest ×2 upsampled map, read at the odd pixels, is a stride-1 convolution of the small map with merged taps', () => {
    fc.assert(fc.property(fc.constantFrom(3, 5, 7), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1000 }), (k, h, w, seed) => {
      const { matrix, before, after } = upTaps(k);
      // Every tap lands on exactly one merged tap.
      for (let t = 0; t < k; t++) expect(matrix.reduce((s: number, row: number[]) => s + row[t], 0)).toBe(1);
      const [ci, co] = [3, 2];
      const [ref, got] = tf.tidy(() => {
        const x = tf.randomNormal<tf.Rank.R4>([1, h, w, ci], 0, 1, 'float32', seed);
        const kernel = tf.randomNormal<tf.Rank.R4>([k, k, ci, co], 0, 1, 'float32', seed + 1);
        // Independently: upsample, convolve at full resolution, keep the odd pixels.
        const full = tf.conv2d(tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]), kernel, 1, 'same');
        const odd = tf.stridedSlice(full, [0, 1, 1, 0], [1, 2 * h, 2 * w, co], [1, 2, 2, 1]);
        const merged = tf.tensor4d(mergeByLoops(kernel.dataSync() as Float32Array, k, ci, co, matrix), [matrix.length, matrix.length, ci, co]);
        const small = tf.conv2d(tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]]), merged, 1, 'valid');
        return [odd.dataSync(), small.dataSync()];
      });
      expect(got.length).toBe(ref.length);
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-4 * (1 + Math.abs(ref[i])));
    }), { numRuns: 40 });
  });

  it('k = 3: taps −1 and 0 land on the small map\'s pixel o, tap +1 on o + 1 (padded after by one)', () => {
    expect(upTaps(3)).toEqual({ matrix: [[1, 1, 0], [0, 0, 1]], before: 0, after: 1 });
  });
});

const CATEGORIES = [{ name: 'object', concepts: ['a', 'b', 'c'] }, { name: 'material', concepts: ['m'] }];

/** input → stride-2 conv → pool → conv → nearest ×2 → concat with the stride-2 map → k×k conv → 1×1 head → bilinear ×2. */
function decoderNet(k: number, upFirst: boolean, seed: number): tf.LayersModel {
  let s = seed;
  const init = () => tf.initializers.randomNormal({ stddev: 0.5, seed: s++ });
  const conv = (filters: number, size: number, strides = 1, activation: 'relu' | 'linear' = 'relu'): tf.layers.Layer =>
    tf.layers.conv2d({ filters, kernelSize: size, strides, padding: 'same', activation, kernelInitializer: init(), biasInitializer: init() });
  const input = tf.input({ shape: [null, null, 3] });
  const skip = conv(4, 3, 2).apply(input) as tf.SymbolicTensor;
  const deep = conv(6, 3).apply(tf.layers.maxPooling2d({ poolSize: 2 }).apply(skip)) as tf.SymbolicTensor;
  const up = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'nearest' }).apply(deep) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ axis: -1 }).apply(upFirst ? [up, skip] : [skip, up]) as tf.SymbolicTensor;
  const last = conv(5, k).apply(cat) as tf.SymbolicTensor;
  const head = conv(6, 1, 1, 'linear').apply(last) as tf.SymbolicTensor;
  const out = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(head) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('segmentGrid through a decoder that concatenates an upsampling', () => {
  for (const [k, upFirst] of [[3, true], [3, false], [5, true]] as const) {
    it(`k = ${k}, ${upFirst ? 'upsampled part first' : 'skip map first'}: the full label maps' labels at the cells' centres, with no full-resolution concatenation`, async () => {
      const seg = fromSegmenterModel(decoderNet(k, upFirst, 40 + k), { categories: CATEGORIES, multiple: 4 });
      const size = 32; const grid = 8; const count = 3;
      const images = Float32Array.from({ length: count * size * size * 3 }, (_, i) => ((i * 2654435761) >>> 0) / 4294967296);
      const full = seg.segment(images, count, size, size);
      const planes = CATEGORIES.length;
      const centre = (i: number): number => 4 * i + 2;
      const expected: number[] = [];
      for (let b = 0; b < count; b++) for (let p = 0; p < planes; p++) for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) {
        expected.push(full[((b * planes + p) * size + centre(y)) * size + centre(x)]);
      }
      expect(new Set(expected).size, 'the labels vary').toBeGreaterThan(2);
      const before = tf.memory().numTensors;
      let got: Uint16Array | undefined;
      const profile = await tf.profile(() => { got = seg.segmentGrid!(images, count, size, size, grid, grid); });
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(got!)).toEqual(expected);
      // Neither the upsampling nor the concatenation runs: the trunk stops before them.
      const names = profile.kernelNames;
      expect(names.some((n) => /ResizeNearestNeighbor|Concat|ResizeBilinear/.test(n)), names.join(',')).toBe(false);
      seg.dispose();
    });
  }
});

describe('a layers segmenter', () => {
  it('with a second input is refused, naming what to fix', () => {
    const a = tf.input({ shape: [null, null, 3] });
    const b = tf.input({ shape: [null, null, 3] });
    const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    const out = tf.layers.conv2d({ filters: 6, kernelSize: 1 }).apply(sum) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: out });
    expect(() => fromSegmenterModel(model, { categories: CATEGORIES })).toThrow(/has 2 inputs: a segmenter must have one input/);
    model.dispose();
  });
});
