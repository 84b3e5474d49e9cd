import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderScene, sceneSeed } from '../../src/data/scenes/index.js';
import { initBackend } from '../../src/engine/backend.js';
import { FeatureMoments, frechetDistance, momentsOf } from '../../src/gan/frechet.js';
import { loadGenerator } from '../../src/gan/generator.js';
import { measureGeneratorQuality, untrainedGenerator, type GeneratorQuality } from '../../src/gan/quality.js';
import type { Generator } from '../../src/gan/types.js';
import { loadClassifier } from '../../src/models/io.js';
import type { Classifier } from '../../src/models/types.js';
import { loadSegmenter, type Segmenter } from '../../src/segment/segmenter.js';

const CLASSES = ['field', 'mountain_lake', 'ski_resort'];
const N = 10;
const REAL_SEED = 424242;

let g: Generator; let seg: Segmenter; let clf: Classifier; let untrained: Generator;
let q: GeneratorQuality;
let leaked = 0;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  g = await loadGenerator('builtin:scenes-gan');
  seg = await loadSegmenter('builtin:scenes-segmenter');
  clf = await loadClassifier('builtin:scenes-vgg16');
  untrained = untrainedGenerator(g, 1).generator!;
  const before = tf.memory().numTensors;
  // Batches of 4 cut the 10 samples unevenly, so a batching error would show in the recounts below.
  q = await measureGeneratorQuality(g, seg, clf, { classes: CLASSES, samples: N, realSeed: REAL_SEED, untrained, batchSize: 4 });
  leaked = tf.memory().numTensors - before;
}, 60_000);
afterAll(() => { g.dispose(); seg.dispose(); clf.dispose(); untrained.dispose(); });

/** Real scene `index` of the quality sets, pixels in [0, 1]. */
function realImage(index: number): Float32Array {
  const s = renderScene({ cls: CLASSES[index % CLASSES.length], seed: sceneSeed(REAL_SEED, index), size: 64 });
  return Float32Array.from(s.image, (v) => v / 255);
}

/** fc2 features of images one at a time (a path independent of the batching under test). */
function features(images: Float32Array[]): FeatureMoments {
  const m = new FeatureMoments(192);
  for (const px of images) {
    const f = tf.tidy(() => clf.activations(tf.image.resizeBilinear(tf.tensor4d(px, [1, 64, 64, 3]), [96, 96], false, true), 'fc2').dataSync());
    m.add(f, 1);
  }
  return m;
}

describe('measureGeneratorQuality', () => {
  it('leaves no tensor behind', () => {
    expect(leaked).toBe(0);
  });

  it('gives the real scenes\' concept shares of a recount, image by image', () => {
    const names = seg.concepts.map((c) => c.name);
    const counts = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const labels = seg.segment(realImage(i), 1, 64, 64);
      for (const l of labels) if (l !== 0) counts.set(names[seg.concepts.findIndex((c) => c.id === l)], (counts.get(names[seg.concepts.findIndex((c) => c.id === l)]) ?? 0) + 1);
    }
    expect(q.concepts.map((c) => c.concept)).toEqual(['tree', 'sky', 'house', 'mountain', 'grass', 'road', 'snow']);
    for (const c of q.concepts) {
      expect(c.real).toBeCloseTo((counts.get(c.concept) ?? 0) / (N * 64 * 64), 12);
      if (c.real > 0) {
        expect(c.relative).toBeCloseTo(c.generated / c.real - 1, 12);
        expect(c.pass).toBe(Math.abs(c.relative) <= 0.3);
      }
    }
    expect(q.concepts.find((c) => c.concept === 'sky')!.real).toBeGreaterThan(0.05);
    expect(q.real.setB).toEqual([N, 2 * N - 1]);
  });

  it('gives the Fréchet distances of features taken image by image', () => {
    const real = features(Array.from({ length: N }, (_, i) => realImage(i)));
    const realB = features(Array.from({ length: N }, (_, i) => realImage(N + i)));
    const gen: Float32Array[] = [];
    for (let i = 0; i < N; i++) {
      const z = g.latents(1, i, 1);
      const r = g.generate(z);
      gen.push(r.images.dataSync() as Float32Array);
      z.dispose(); r.images.dispose();
    }
    const A = momentsOf(real);
    const fd = frechetDistance(momentsOf(features(gen)), A);
    expect(q.frechet.generatedVsReal).toBeGreaterThan(0);
    expect(Math.abs(q.frechet.generatedVsReal - fd) / fd).toBeLessThan(1e-3);
    const rr = frechetDistance(momentsOf(realB), A);
    expect(Math.abs(q.frechet.realVsReal - rr) / rr).toBeLessThan(1e-3);
    expect(q.frechet.dims).toBe(192);
  });

  it('puts the untrained generator further from the real scenes than the trained one', () => {
    expect(q.frechet.untrainedVsReal).not.toBeNull();
    expect(q.frechet.untrainedVsReal!).toBeGreaterThan(q.frechet.generatedVsReal);
  });

  it('refuses a class outside the scene world, a concept the segmenter lacks, and a single sample', async () => {
    await expect(measureGeneratorQuality(g, seg, clf, { classes: ['moon'], samples: 4 })).rejects.toThrow(/'moon' is not a scene class/);
    await expect(measureGeneratorQuality(g, seg, clf, { classes: CLASSES, samples: 4, concepts: ['dragon'] })).rejects.toMatchObject({ code: 'UA_USAGE', path: 'concepts' });
    await expect(measureGeneratorQuality(g, seg, clf, { classes: CLASSES, samples: 1 })).rejects.toMatchObject({ path: 'samples' });
  });
});

describe('untrainedGenerator', () => {
  it('rebuilds the architecture of the built-in generator with fresh weights, the same for the same seed', () => {
    const again = untrainedGenerator(g, 1).generator!;
    const other = untrainedGenerator(g, 2).generator!;
    try {
      expect(untrained.layers.map((l) => [l.name, l.shape])).toEqual(expect.arrayContaining(g.layers.filter((l) => /^layer\d+$/.test(l.name)).map((l) => [l.name, l.shape])));
      expect(again.fingerprint).toBe(untrained.fingerprint);
      expect(other.fingerprint).not.toBe(untrained.fingerprint);
      expect(untrained.fingerprint).not.toBe(g.fingerprint);
    } finally {
      again.dispose(); other.dispose();
    }
  });
});
