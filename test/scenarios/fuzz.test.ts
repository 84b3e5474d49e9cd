import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../../src/data/images.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadClassifier } from '../../src/models/io.js';
import type { Classifier } from '../../src/models/types.js';
import { corrupt, describeCorruption } from '../../src/scenarios/corruptions.js';
import { fuzzClassifier, probabilityMargins } from '../../src/scenarios/fuzz.js';
import { saveColourModel, tempDir } from './helpers.js';

function flat(size: number, rgb: [number, number, number], noise = 0): RgbImage {
  const data = new Uint8Array(size * size * 3);
  let s = 1;
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) { s = (s * 16807) % 2147483647; data[i * 3 + c] = Math.max(0, Math.min(255, rgb[c] + Math.round(((s / 2147483647) * 2 - 1) * noise))); }
  }
  return { data, width: size, height: size };
}

const maxDiff = (a: RgbImage, b: RgbImage): number => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);

describe('corruptions', () => {
  const img = flat(12, [100, 150, 200], 30);

  it('should be the identity at every zero value', async () => {
    const same = await corrupt(img, { shift: [0, 0], blur: 0, contrast: 0, brightness: 0, noise: { amplitude: 0, seed: 9 }, jpeg: 100 });
    expect(Buffer.from(same.data).equals(Buffer.from(img.data))).toBe(true);
    expect(describeCorruption({ shift: [0, 0], jpeg: 100 })).toBe('none');
  });

  it('should keep additive noise within its amplitude (plus 8-bit rounding) and replay it from its seed', async () => {
    await fc.assert(fc.asyncProperty(fc.double({ min: 0, max: 16 / 255, noNaN: true }), fc.nat(), async (amplitude, seed) => {
      const a = await corrupt(img, { noise: { amplitude, seed } });
      const b = await corrupt(img, { noise: { amplitude, seed } });
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
      expect(maxDiff(a, img)).toBeLessThanOrEqual(Math.ceil(amplitude * 255 + 0.5));
    }), { numRuns: 40, seed: 5 });
  });

  it('should shift with repeated edges, blur towards the local mean, and brighten uniformly', async () => {
    const ramp: RgbImage = { data: Uint8Array.from({ length: 4 * 1 * 3 }, (_, i) => Math.floor(i / 3) * 10), width: 4, height: 1 };
    expect(Array.from((await corrupt(ramp, { shift: [1, 0] })).data.filter((_, i) => i % 3 === 0))).toEqual([0, 0, 10, 20]);
    expect(Array.from((await corrupt(ramp, { shift: [-2, 0] })).data.filter((_, i) => i % 3 === 0))).toEqual([20, 30, 30, 30]);
    const blurred = await corrupt(img, { blur: 2 });
    expect(maxDiff(blurred, flat(12, [100, 150, 200]))).toBeLessThan(maxDiff(img, flat(12, [100, 150, 200])));
    const bright = await corrupt(flat(4, [100, 100, 100]), { brightness: 10 / 255 });
    expect(new Set(bright.data)).toEqual(new Set([110]));
  });

  it('should compress with JPEG deterministically, and lose more at lower quality', async () => {
    const a = await corrupt(img, { jpeg: 20 });
    const b = await corrupt(img, { jpeg: 20 });
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const mean = (x: RgbImage): number => x.data.reduce((s, v, i) => s + Math.abs(v - img.data[i]), 0) / x.data.length;
    expect(mean(a)).toBeGreaterThan(mean(await corrupt(img, { jpeg: 95 })));
  });
});

describe('fuzzClassifier', () => {
  let clf: Classifier;
  const images = [flat(16, [160, 100, 100], 4), flat(16, [100, 160, 100], 4), flat(16, [100, 100, 160], 4), flat(16, [120, 140, 120], 4), flat(16, [200, 205, 200], 2)];
  const labels = [0, 1, 2, 1, 1];
  const clean = [0, 1, 2, 1, 1];

  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
    clf = await loadClassifier(await saveColourModel(tempDir('ua-fuzz-')));
  });
  afterAll(() => clf.dispose());

  it('holds when the corruptions cannot change the dominant colour, and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const r = await fuzzClassifier(clf, images, labels, clean, { runs: 40, seed: 1, noise: 8 / 255, contrast: 0.3, shift: 3, blur: 1 });
    expect(r).toMatchObject({ holds: 1, runs: 40, seed: 1, eligible: 5, replayed: false });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('shrinks a failure to the mildest corruption that breaks the label, and replays it from seed and path', async () => {
    // Brightening a nearly white image saturates every channel: the tie makes the model answer `red` (class 0).
    const r = await fuzzClassifier(clf, images, labels, clean, { runs: 200, seed: 4, brightness: 0.3, noise: 2 / 255 });
    expect(r.holds).toBe(0);
    const cx = r.counterexample!;
    expect(cx.index).toBe(4);
    expect(cx.predicted).not.toBe(cx.expected);
    expect(cx.corruption.brightness!).toBeGreaterThan(0.15);
    // Shrunk: the noise is gone (amplitude 0), only brightness is needed.
    expect(cx.corruption.noise!.amplitude).toBe(0);
    const again = await fuzzClassifier(clf, images, labels, clean, { runs: 200, seed: cx.seed, path: cx.path, brightness: 0.3, noise: 2 / 255 });
    expect(again.replayed).toBe(true);
    expect(again.counterexample!.corruption).toEqual(cx.corruption);
    expect(Buffer.from(again.counterexample!.image.data).equals(Buffer.from(cx.image.data))).toBe(true);
  });

  it('checks the label only on images the model gets right, and reports NaN when there are none', async () => {
    const r = await fuzzClassifier(clf, images, [2, 2, 0, 0, 0], clean, { runs: 5, seed: 1, shift: 1 });
    expect(r.eligible).toBe(0);
    expect(r.holds).toBeNaN();
    expect(r.warnings[0]).toContain('no label to hold');
    const p = await fuzzClassifier(clf, images, [2, 2, 0, 0, 0], clean, { runs: 5, seed: 1, shift: 1, expect: 'prediction' });
    expect(p).toMatchObject({ holds: 1, eligible: 5 });
  });

  it('computes each image\'s probability margin as softmax(20 · channel means) says', async () => {
    const margins = await probabilityMargins(clf, images);
    images.forEach((img, k) => {
      const mean = [0, 1, 2].map((c) => img.data.reduce((a, v, i) => (i % 3 === c ? a + v / 255 : a), 0) / (img.width * img.height));
      const e = mean.map((m) => Math.exp(20 * m));
      const p = e.map((v) => v / e.reduce((a, b) => a + b, 0)).sort((a, b) => b - a);
      expect(margins[k]).toBeCloseTo(p[0] - p[1], 4);
    });
  });

  it('with minMargin, leaves out images on the decision boundary (the nearly white one) and says so', async () => {
    const r = await fuzzClassifier(clf, images, labels, clean, { runs: 200, seed: 4, brightness: 0.3, noise: 2 / 255, minMargin: 0.3 });
    expect(r.eligible).toBe(4);
    expect(r.holds).toBe(1);
    expect(r.warnings.join()).toMatch(/1 of 5 images left out/);
    await expect(fuzzClassifier(clf, images, labels, clean, { minMargin: 1, shift: 1 })).rejects.toThrow(/minMargin/);
  });

  it('rejects a malformed path and mismatched lengths as usage errors', async () => {
    await expect(fuzzClassifier(clf, images, labels, clean, { path: 'a:b', shift: 1 })).rejects.toThrow(/path/);
    await expect(fuzzClassifier(clf, images, [1], clean, { shift: 1 })).rejects.toThrow(/one label/);
  });
});
