import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissectGenerator, generatedSpec, parseGeneratedSpec } from '../../src/dissection/generated.js';
import { iouCeiling } from '../../src/dissection/iou.js';
import { openProbe } from '../../src/dissection/probe.js';
import { upsampleActivations } from '../../src/dissection/upsample.js';
import { initBackend } from '../../src/engine/backend.js';
import { generatorFromModel } from '../../src/gan/generator.js';
import { saveGenerator } from '../../src/gan/save.js';
import { fromSegmenterModel } from '../../src/segment/segmenter.js';
import { TINY_LATENT, TINY_SIZE, tinyGeneratorModel, treeSegmenter } from './fixtures.js';

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-gan-dissect-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const SAMPLES = 48;
const base = { samples: SAMPLES, seed: 3, labelSize: [TINY_SIZE, TINY_SIZE] as const, batchSize: 16, cache: false, sketchK: 4096 };

/** Unit u's pooled counts recomputed by brute force at `threshold`: |A|, |M_tree| and |A ∩ M_tree| over the samples. */
function bruteCounts(u: number, threshold: number): { active: number; tree: number; both: number; pixels: number } {
  const g = generatorFromModel(tinyGeneratorModel());
  // In the dissection's batches of 16: a batch of another size may round the dense layer's sums otherwise, and a
  // plateau of the upsampled map at the threshold then moves in or out as a whole.
  const parts = [0, 16, 32].map((from) => {
    const zb = g.latents(3, from, 16);
    const rb = g.generate(zb, { taps: ['layer2'] });
    zb.dispose();
    return rb;
  });
  const z = tf.zeros([1]);
  const r = { images: tf.concat(parts.map((p) => p.images)), taps: { layer2: tf.concat(parts.map((p) => p.taps.layer2)) } };
  tf.dispose(parts.flatMap((p) => [p.images, p.taps.layer2]));
  // The same bilinear upsampling as dissection (values on plateaus must compare equal to the threshold).
  const upT = tf.tidy(() => tf.gather(upsampleActivations(r.taps.layer2 as tf.Tensor4D, [TINY_SIZE, TINY_SIZE]), [u], 3));
  const ups = upT.dataSync();
  // The segmenter's labels (its rule is treeLabel, but float32 and float64 may part at a boundary pixel).
  const seg = treeSegmenter();
  const labels = seg.segment(r.images.dataSync() as Float32Array, SAMPLES, TINY_SIZE, TINY_SIZE);
  seg.dispose();
  tf.dispose([z, r.images, r.taps.layer2, upT]);
  g.dispose();
  let active = 0; let tree = 0; let both = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const up = ups.subarray(i * TINY_SIZE * TINY_SIZE, (i + 1) * TINY_SIZE * TINY_SIZE);
    for (let p = 0; p < TINY_SIZE * TINY_SIZE; p++) {
      const isTree = labels[i * TINY_SIZE * TINY_SIZE + p] === 1;
      const on = up[p] > threshold;
      if (on) active++;
      if (isTree) tree++;
      if (on && isTree) both++;
    }
  }
  return { active, tree, both, pixels: SAMPLES * TINY_SIZE * TINY_SIZE };
}

describe('generator dissection', () => {
  it('labels the tree-painting unit tree, with the IoU and its ceiling of a brute-force recount, and leaves no tensors', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { name: 'tiny' });
    const seg = treeSegmenter();
    const before = tf.memory().numTensors;
    const { atlas } = await dissectGenerator(g, { ...base, segmenter: seg, quantile: 0.1, tmpDir: dir });
    expect(tf.memory().numTensors).toBe(before);
    const u0 = atlas.units[0];
    expect(u0.concept).toBe('tree');
    expect(atlas.units[1].concept).not.toBe('tree');
    // The atlas keeps unit thresholds to 7 digits: a plateau of the upsampled map at the threshold may land on either
    // side of the rounded value, so the recount is close, not exact (the IQR test below compares exactly).
    const c = bruteCounts(0, u0.threshold);
    expect(atlas.probe.concepts.find((x) => x.name === 'tree')?.pixels).toBe(c.tree);
    expect(Math.abs(u0.iou - c.both / (c.active + c.tree - c.both))).toBeLessThan(2e-3);
    expect(Math.abs(u0.ceiling! - iouCeiling(c.active, c.tree))).toBeLessThan(2e-3);
    expect(u0.iou).toBeLessThanOrEqual(u0.ceiling! + 1e-9);
    // The threshold is the unit's top-10% level: about 10% of its upsampled pixels are above it.
    expect(Math.abs(c.active / c.pixels - 0.1)).toBeLessThan(0.01);
    expect(atlas.classes).toEqual([]);
    expect(atlas.importanceNote).toMatch(/does not apply to a generator/);
    expect(atlas.generator).toEqual({ latentSize: TINY_LATENT, seed: 3, outputRange: [-1, 1] });
    expect(atlas.units[0].topImages[0].id).toMatch(/^sample-\d{5}$/);
    expect(Object.keys(u0.levels ?? {})).toEqual(['0.99', '0.995', '0.999']);
    seg.dispose();
    g.dispose();
  });

  it('with the IQR threshold, picks a level per concept whose IoU beats the fixed top-1% one', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { name: 'tiny' });
    const seg = treeSegmenter();
    const fixed = await dissectGenerator(g, { ...base, segmenter: seg, quantile: 0.01, tmpDir: dir });
    const iqr = await dissectGenerator(g, { ...base, segmenter: seg, quantile: 0.01, threshold: 'iqr', tmpDir: dir });
    const u0 = iqr.atlas.units[0];
    expect(u0.concept).toBe('tree');
    expect(iqr.atlas.params.threshold).toBe('iqr');
    const tree = u0.topConcepts.find((t) => t.concept === 'tree')!;
    expect(tree.iou).toBeGreaterThan(fixed.atlas.units[0].iou);
    expect(tree.level).toBeGreaterThan(0.01);
    // Its IoU is the brute-force IoU at its own level.
    const c = bruteCounts(0, Math.fround(tree.threshold!)); // 9 digits: the float32 level exactly
    expect(tree.iou).toBeCloseTo(c.both / (c.active + c.tree - c.both), 4);
    expect(tree.ceiling).toBeCloseTo(iouCeiling(c.active, c.tree), 4);
    seg.dispose();
    g.dispose();
  });

  it('does not depend on the batch size, and a second run comes from the cache', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { name: 'tiny' });
    const seg = treeSegmenter();
    const cacheDir = path.join(dir, 'cache');
    const a = await dissectGenerator(g, { ...base, segmenter: seg, quantile: 0.1, batchSize: 16, cache: true, cacheDir, tmpDir: dir });
    const b = await dissectGenerator(g, { ...base, segmenter: seg, quantile: 0.1, batchSize: 16, cache: true, cacheDir, tmpDir: dir });
    expect(a.cached).toBe(false);
    expect(b.cached).toBe(true);
    const strip = (x: typeof a.atlas): unknown => x.units.map((u) => [u.threshold, u.iou, u.concept, u.topImages.map((t) => t.index)]);
    expect(strip(b.atlas)).toEqual(strip(a.atlas));
    const c = await dissectGenerator(g, { ...base, segmenter: seg, quantile: 0.1, batchSize: 12, tmpDir: dir });
    expect(c.atlas.units.map((u) => [u.iou, u.concept])).toEqual(a.atlas.units.map((u) => [u.iou, u.concept]));
    seg.dispose();
    g.dispose();
  });

  it('rejects samples < 1, a layer without a spatial map, and a segmenter without concepts, naming the option', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { name: 'tiny' });
    const seg = treeSegmenter();
    await expect(dissectGenerator(g, { ...base, segmenter: seg, samples: 0 })).rejects.toMatchObject({ code: 'UA_USAGE', path: 'samples' });
    await expect(dissectGenerator(g, { ...base, segmenter: seg, layer: 'layer1_dense' })).rejects.toMatchObject({ code: 'UA_LAYER', path: 'layer', hint: expect.stringMatching(/layer2 \(8×8\)/) as unknown });
    await expect(dissectGenerator(g, { ...base, segmenter: seg, layer: 'layer9' })).rejects.toMatchObject({ code: 'UA_LAYER' });
    const input = tf.input({ shape: [null, null, 3] });
    const empty = fromSegmenterModel(tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(input) as tf.SymbolicTensor }), { categories: [{ name: 'object', concepts: [] }], name: 'empty' });
    await expect(dissectGenerator(g, { ...base, segmenter: empty })).rejects.toMatchObject({ code: 'UA_USAGE', path: 'segmenter' });
    empty.dispose();
    seg.dispose();
    g.dispose();
  });

  it('reopens the samples from the probe spec generated:<generator>?seed=S&count=N', async () => {
    const folder = path.join(dir, 'tiny-folder');
    await saveGenerator(tinyGeneratorModel(), folder, { latentSize: TINY_LATENT, latentDistribution: 'normal', outputRange: [-1, 1], outputSize: TINY_SIZE, layers: ['layer1', 'layer2'], defaultLayer: 'layer2' });
    const spec = generatedSpec(folder, 3, 10);
    expect(parseGeneratedSpec(spec)).toEqual({ generator: folder, seed: 3, count: 10 });
    const probe = await openProbe(spec, { inputSize: [TINY_SIZE, TINY_SIZE] });
    expect(probe.count).toBe(10);
    const item = await probe.load(4);
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(3, 4, 1);
    const { images } = g.generate(z);
    const px = images.dataSync();
    expect(Array.from(item!.image)).toEqual(Array.from(px, (v) => Math.round(v * 255)));
    expect(item!.id).toBe('sample-00004');
    tf.dispose([z, images]);
    g.dispose();
    let err: unknown;
    try { parseGeneratedSpec('generated:foo'); } catch (e) { err = e; }
    expect(err).toMatchObject({ path: 'probe', hint: expect.stringMatching(/generated:<generator>\?seed=S&count=N/) as unknown });
  });
});
