import { describe, expect, it } from 'vitest';
import {
  SCENE_CLASSES, colorHistogram, histogramBaseline, renderScene, renderScenes, sampleScenes, sceneSeed, sceneSpec, scenesToFloat32,
} from '../../../src/data/scenes/index.js';

describe('sceneSeed', () => {
  it('is a pure function of the dataset seed and the index', () => {
    expect(sceneSeed(3, 10)).toBe(sceneSeed(3, 10));
    const seeds = new Set(Array.from({ length: 1000 }, (_, i) => sceneSeed(3, i)));
    expect(seeds.size).toBe(1000);
    expect(sceneSeed(3, 10)).not.toBe(sceneSeed(4, 10));
    expect(Number.isInteger(sceneSeed(2 ** 45, 2 ** 40))).toBe(true);
  });
});

describe('sampleScenes', () => {
  it('balances classes: every block of one scene per class holds each class once', () => {
    const specs = sampleScenes({ count: SCENE_CLASSES.length * 10, seed: 9 });
    for (let b = 0; b < 10; b++) {
      const block = specs.slice(b * SCENE_CLASSES.length, (b + 1) * SCENE_CLASSES.length).map((s) => s.cls);
      expect([...block].sort()).toEqual([...SCENE_CLASSES].sort());
    }
    expect(specs.map((s) => s.cls).slice(0, 12)).not.toEqual(specs.map((s) => s.cls).slice(12, 24));
  });

  it('computes scene i on its own, so shards agree with the whole', () => {
    const all = sampleScenes({ count: 50, seed: 4, size: 32, classes: ['beach', 'bedroom', 'street'] });
    const shard = sampleScenes({ count: 20, seed: 4, size: 32, classes: ['beach', 'bedroom', 'street'], start: 30 });
    expect(shard).toEqual(all.slice(30));
    expect(sceneSpec(4, 17, { size: 32, classes: ['beach', 'bedroom', 'street'] })).toEqual(all[17]);
    expect(all[17]).toMatchObject({ index: 17, seed: sceneSeed(4, 17), size: 32 });
    expect(SCENE_CLASSES[all[17].classIndex]).toBe(all[17].cls);
  });

  it('draws classes independently when not balanced', () => {
    const specs = sampleScenes({ count: 240, seed: 1, balanced: false, size: 8 });
    const counts = new Map<string, number>();
    for (const s of specs) counts.set(s.cls, (counts.get(s.cls) ?? 0) + 1);
    expect(counts.size).toBe(SCENE_CLASSES.length);
    expect([...counts.values()].some((n) => n !== 20)).toBe(true);
  });

  it('renders specs directly', () => {
    const [spec] = sampleScenes({ count: 1, seed: 2, size: 16 });
    const [scene] = renderScenes([spec]);
    expect(Buffer.from(scene.image).equals(Buffer.from(renderScene({ cls: spec.cls, seed: spec.seed, size: 16 }).image))).toBe(true);
  });

  it('rejects bad options with a message that names the option', () => {
    expect(() => sampleScenes({ count: -1, seed: 0 })).toThrow(/'count'/);
    expect(() => sampleScenes({ count: 1.5, seed: 0 })).toThrow(/'count'/);
    expect(() => sampleScenes({ count: 1, seed: 0, size: -4 })).toThrow(/'size'/);
    expect(() => sampleScenes({ count: 1, seed: 0, classes: [] })).toThrow(/'classes'/);
    expect(() => sampleScenes({ count: 1, seed: 0, classes: ['bedrom'] })).toThrow(/bedrom/);
    expect(() => sampleScenes({ count: 1, seed: 0, classes: ['beach', 'beach'] })).toThrow(/twice/);
    expect(sampleScenes({ count: 0, seed: 0 })).toEqual([]);
  });
});

describe('scenesToFloat32', () => {
  it('packs images NHWC with values in [0, 1]', () => {
    const scenes = renderScenes(sampleScenes({ count: 3, seed: 0, size: 12 }));
    const x = scenesToFloat32(scenes);
    expect(x.length).toBe(3 * 12 * 12 * 3);
    expect(x[12 * 12 * 3 + 5]).toBeCloseTo(scenes[1].image[5] / 255, 6);
    expect(Math.max(...x)).toBeLessThanOrEqual(1);
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
    expect(() => scenesToFloat32([scenes[0], renderScene({ cls: 'beach', seed: 1, size: 8 })])).toThrow(/same size/);
  });
});

describe('histogramBaseline', () => {
  it('normalises histograms to sum to one', () => {
    const h = colorHistogram(renderScene({ cls: 'beach', seed: 1, size: 32 }).image, 4);
    expect(h.length).toBe(64);
    expect(h.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });

  it('cannot tell the classes apart from colour alone: nearest-centroid accuracy stays at most 0.70', () => {
    // 240 + 240 scenes: the binomial standard error of the accuracy is about 0.03, and the measured value
    // (≈ 0.35 with 1000/500 scenes at 96 px) is more than ten standard errors below the bound.
    const r = histogramBaseline({ trainCount: 240, testCount: 240, seed: 1, size: 48 });
    expect(r.accuracy).toBeLessThanOrEqual(0.7);
    expect(r.accuracy).toBeGreaterThan(r.chance);
    expect(Object.keys(r.perClass)).toEqual([...SCENE_CLASSES]);
  });

  it('rejects bad counts', () => {
    expect(() => histogramBaseline({ trainCount: 0 })).toThrow(/'trainCount'/);
    expect(() => histogramBaseline({ testCount: -1 })).toThrow(/'testCount'/);
  });
});
