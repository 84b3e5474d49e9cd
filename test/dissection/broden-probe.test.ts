import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBrodenDataset } from '../../src/data/broden/index.js';
import { dissect } from '../../src/dissection/dissect.js';
import { openProbe, probeBatches, type ProbeBatch } from '../../src/dissection/probe.js';
import { colorModel } from './fixtures.js';

let dir: string;
let broden: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-broden-probe-'));
  broden = path.join(dir, 'broden');
  await writeBrodenDataset(broden, { count: 16, seed: 5, size: 32 });
});
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

async function all(spec: string): Promise<ProbeBatch> {
  const probe = await openProbe(spec, { inputSize: [32, 32] });
  const out: ProbeBatch[] = [];
  for await (const b of probeBatches(probe, { batchSize: 100 })) out.push(b);
  return out[0];
}

describe('Broden-layout probe', () => {
  it('reads a folder written from the scene world as the same images, labels and classes', async () => {
    const probe = await openProbe(broden, { inputSize: [32, 32] });
    expect(probe.kind).toBe('broden');
    expect(probe.labelPlanes).toBeGreaterThanOrEqual(2); // object, part, material planes
    const b = await all(broden);
    const s = await all('builtin:scenes?count=16&seed=5');
    expect(b.images).toEqual(s.images);
    // Each pixel carries the same concepts: the visible one and the whole object under it (a roof's house).
    const planes = probe.labelPlanes; const P = 8 * 8;
    const concepts = (labels: Uint16Array, k: number, n: number, j: number): number[] =>
      [...new Set(Array.from({ length: k }, (_, p) => labels[(n * k + p) * P + j]).filter((v) => v !== 0))].sort((x, y) => x - y);
    let both = 0;
    for (let n = 0; n < 16; n++) for (let j = 0; j < P; j++) {
      const c = concepts(s.labels, 2, n, j);
      expect(concepts(b.labels, planes, n, j)).toEqual(c);
      if (c.length === 2) both++;
    }
    expect(both).toBeGreaterThan(0);
    const scenes = await openProbe('builtin:scenes?count=16&seed=5', { inputSize: [32, 32] });
    const names = (batch: ProbeBatch, classes: readonly string[]): string[] => [...batch.classIndex!].map((c) => classes[c]);
    expect(names(b, probe.classNames!)).toEqual(names(s, scenes.classNames!));
  });

  it('dissects to the same atlas as the built-in scenes it was written from', async () => {
    const clf = colorModel();
    const opts = { cache: false, importance: false, tmpDir: dir, quantile: 0.05 } as const;
    const a = (await dissect(clf, broden, opts)).atlas;
    const b = (await dissect(clf, 'builtin:scenes?count=16&seed=5', opts)).atlas;
    expect(a.units.map((u) => [u.concept, u.iou, u.threshold])).toEqual(b.units.map((u) => [u.concept, u.iou, u.threshold]));
    clf.dispose();
  });

  it('keeps only the asked categories, and adds whole-image labels on request', async () => {
    const objects = await openProbe(`${broden}?categories=object`, { inputSize: [32, 32] });
    expect(objects.labelPlanes).toBe(1);
    expect(objects.spec).toBe(`${broden}?categories=object`);
    const withScenes = await openProbe(`${broden}?image-labels=1`, { inputSize: [32, 32] });
    expect(withScenes.labelPlanes).toBe((await openProbe(broden, { inputSize: [32, 32] })).labelPlanes + 1);
    await expect(openProbe(`${broden}?categories=texture`, { inputSize: [32, 32] })).rejects.toThrowError(/no labels of category 'texture'/);
    await expect(openProbe(broden, { inputSize: [64, 64] })).rejects.toMatchObject({ code: 'UA_INPUT' });
  });

  it('names a missing label image, and skips an image that does not decode', async () => {
    const copy = path.join(dir, 'copy');
    await fs.cp(broden, copy, { recursive: true });
    const imgs = (await fs.readdir(path.join(copy, 'images', 'scenes'))).sort();
    const label = imgs.find((f) => f.includes('_'))!;
    const image = imgs.find((f) => !f.includes('_'))!;
    await fs.writeFile(path.join(copy, 'images', 'scenes', image), 'not a png');
    const probe = await openProbe(copy, { inputSize: [32, 32] });
    const skipped: string[] = [];
    let n = 0;
    for await (const b of probeBatches(probe, { onSkip: (id) => skipped.push(id) })) n += b.count;
    expect(skipped).toEqual([`scenes/${image}`]);
    expect(n).toBe(15);
    await fs.rm(path.join(copy, 'images', 'scenes', label));
    await expect(openProbe(copy, { inputSize: [32, 32] })).rejects.toThrowError(new RegExp(label));
  });
});

describe('the cache of a Broden-layout probe', () => {
  it('is not served when the images change while index.csv does not', async () => {
    const a = path.join(dir, 'cache-a'); const b = path.join(dir, 'cache-b');
    await writeBrodenDataset(a, { count: 8, seed: 11, size: 32 });
    await writeBrodenDataset(b, { count: 8, seed: 12, size: 32 });
    const clf = colorModel();
    const cacheDir = path.join(dir, 'cache');
    const options = { cacheDir, importance: false, quantile: 0.05, tmpDir: dir } as const;
    const first = await dissect(clf, a, options);
    expect((await dissect(clf, a, options)).cached).toBe(true);
    // Copy the other folder's images (and label maps) over the first, leaving its CSVs as they are.
    const index = await fs.readFile(path.join(a, 'index.csv'));
    await fs.cp(path.join(b, 'images'), path.join(a, 'images'), { recursive: true, force: true });
    expect(await fs.readFile(path.join(a, 'index.csv'))).toEqual(index);
    const after = await dissect(clf, a, options);
    expect(after.cached).toBe(false);
    expect(after.cacheFile).not.toBe(first.cacheFile);
    expect(after.atlas.units.map((u) => u.threshold)).not.toEqual(first.atlas.units.map((u) => u.threshold));
    clf.dispose();
  });
});
