import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect } from '../../src/dissection/dissect.js';
import { encodeLabelPng, openProbe } from '../../src/dissection/probe.js';
import { openImageFolder, openSegmentedProbe, segmentedSpec, withSegmenter } from '../../src/dissection/segmented.js';
import { writeLayersModel } from '../../src/models/io.js';
import { colorModel, colorScene, SIZE } from './fixtures.js';
import { COLOR_CATEGORIES, colorSegmenter, colorSegmenterModel } from '../segment/fixtures.js';

let dir: string;
let exactDir: string;
let plainDir: string;
let segDir: string;
const PER_CLASS = 16;

/** Writes the colour probe: images only (plain), or with label maps holding just the two squares (exact). */
async function writeProbe(target: string, withLabels: boolean): Promise<void> {
  if (withLabels) await fs.writeFile(path.join(target, 'concepts.json'), JSON.stringify([{ id: 1, name: 'redthing', category: 'object' }, { id: 2, name: 'bluething', category: 'object' }]));
  for (const kind of ['red', 'blue'] as const) {
    const sub = path.join(target, `${kind}_scene`);
    await fs.mkdir(sub, { recursive: true });
    for (let i = 0; i < PER_CLASS; i++) {
      const { image, labels } = colorScene(kind, (kind === 'red' ? 1000 : 2000) + i);
      const name = `img${String(i).padStart(3, '0')}`;
      await sharp(image, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(sub, `${name}.png`));
      if (withLabels) {
        // The equivalent exact masks: the squares, without the ground strip a colour cannot tell.
        const squares = labels.map((v) => (v === 3 ? 0 : v));
        await fs.writeFile(path.join(sub, `${name}_label.png`), await encodeLabelPng(squares, SIZE, SIZE));
      }
    }
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-segmented-'));
  exactDir = path.join(dir, 'exact'); plainDir = path.join(dir, 'plain'); segDir = path.join(dir, 'segmenter');
  await fs.mkdir(exactDir); await fs.mkdir(plainDir);
  await writeProbe(exactDir, true);
  await writeProbe(plainDir, false);
  await writeLayersModel(colorSegmenterModel(), segDir, { format: 'unit-attack-segmenter', version: 1, categories: COLOR_CATEGORIES });
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('dissection through a segmenter', () => {
  it('equals dissection with the equivalent exact masks, and leaves no tensors behind', async () => {
    const clf = colorModel();
    const exact = await dissect(clf, exactDir, { quantile: 0.05, cache: false, batchSize: 8, tmpDir: dir });
    const before = tf.memory().numTensors;
    const seg = colorSegmenter();
    const probe = withSegmenter(await openImageFolder(plainDir, { inputSize: clf.inputSize }), seg, 'colors-segmenter');
    const through = await dissect(clf, probe, { quantile: 0.05, cache: false, batchSize: 8, tmpDir: dir });
    seg.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(through.atlas.probe.segmenter).toEqual({ name: 'colors-segmenter', fingerprint: 'colors-v1' });
    expect(through.atlas.probe.used).toBe(2 * PER_CLASS);
    expect(through.atlas.probe.concepts.map((c) => [c.name, c.pixels])).toEqual(exact.atlas.probe.concepts.map((c) => [c.name, c.pixels]));
    expect(through.atlas.units.map((u) => [u.threshold, u.concept, u.iou, u.topConcepts])).toEqual(
      exact.atlas.units.map((u) => [u.threshold, u.concept, u.iou, u.topConcepts]));
    expect(through.atlas.units[0].concept).toBe('redthing');
    expect(through.atlas.classImportance.red_scene.ranking).toEqual(exact.atlas.classImportance.red_scene.ranking);
    clf.dispose();
  });

  it('opens a segmenter folder from a spec, and records the segmenter in the cache key', async () => {
    const clf = colorModel();
    const probe = await openProbe(segmentedSpec(segDir, plainDir), { inputSize: clf.inputSize });
    expect(probe.kind).toBe('segmented');
    expect(probe.labelPlanes).toBe(1);
    expect(probe.concepts.map((c) => c.name)).toEqual(['redthing', 'bluething']);
    const cacheDir = path.join(dir, 'cache');
    const a = await dissect(clf, plainDir, { segmenter: segDir, quantile: 0.05, batchSize: 8, tmpDir: dir, cacheDir, importance: false });
    const b = await dissect(clf, plainDir, { segmenter: segDir, quantile: 0.05, batchSize: 8, tmpDir: dir, cacheDir, importance: false });
    expect(a.cached).toBe(false);
    expect(b.cached).toBe(true);
    expect(a.atlas.probe.spec).toBe(segmentedSpec(segDir, path.resolve(plainDir)));
    // Another segmenter (other weights) is another cache entry.
    const other = path.join(dir, 'segmenter2');
    const m = colorSegmenterModel();
    m.getLayer('seg').setWeights([tf.tensor4d([[[[0, 9, -10], [0, -10, -10], [0, -10, 10]]]]), tf.tensor1d([0, -3, -3])]);
    await writeLayersModel(m, other, { format: 'unit-attack-segmenter', version: 1, categories: COLOR_CATEGORIES });
    const c = await dissect(clf, plainDir, { segmenter: other, quantile: 0.05, batchSize: 8, tmpDir: dir, cacheDir, importance: false });
    expect(c.cached).toBe(false);
    clf.dispose();
  });

  it('skips a corrupt image with its name, resizes images of another size and says so', async () => {
    const clf = colorModel();
    const odd = path.join(dir, 'odd');
    await fs.cp(plainDir, odd, { recursive: true });
    await fs.writeFile(path.join(odd, 'red_scene', 'broken.png'), 'not a PNG');
    const { image } = colorScene('blue', 7);
    await sharp(image, { raw: { width: SIZE, height: SIZE, channels: 3 } }).resize(48, 40).png().toFile(path.join(odd, 'blue_scene', 'big.png'));
    const warnings: string[] = [];
    const r = await dissect(clf, odd, { segmenter: segDir, quantile: 0.05, batchSize: 8, tmpDir: dir, cache: false, importance: false, onWarning: (w) => warnings.push(w) });
    expect(r.atlas.skippedIds).toEqual([path.join('red_scene', 'broken.png')]);
    expect(r.atlas.probe.used).toBe(2 * PER_CLASS + 1);
    expect(warnings.some((w) => /1 of the 34 images .* are not 32×32: they are resized/.test(w))).toBe(true);
    expect(warnings.some((w) => w.includes('broken.png'))).toBe(true);
    clf.dispose();
  });

  it('names the folder when it holds no images, and asks for a segmenter when a probe has no label maps', async () => {
    const empty = path.join(dir, 'empty');
    await fs.mkdir(empty, { recursive: true });
    await expect(openSegmentedProbe(empty, segDir, { inputSize: [SIZE, SIZE] })).rejects.toThrow(/'.*empty' holds no images/);
    const clf = colorModel();
    await expect(dissect(clf, await openImageFolder(plainDir, { inputSize: clf.inputSize }), { cache: false })).rejects.toThrow(/has no label maps/);
    clf.dispose();
  });
});
