import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeLabelPng, openProbe, probeBatches, readLabelPng, type ProbeBatch,
} from '../../src/dissection/probe.js';
import { UnitAttackError } from '../../src/errors.js';
import { SIZE, colorScene, writeColorProbe } from './fixtures.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-probe-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

async function collect(it: AsyncIterable<ProbeBatch>): Promise<ProbeBatch[]> {
  const out: ProbeBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

async function expectInputError(p: Promise<unknown>, file: string): Promise<UnitAttackError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UnitAttackError);
    const e = err as UnitAttackError;
    expect(e.code).toBe('UA_INPUT');
    expect(e.message).toContain(file);
    return e;
  }
  throw new Error('expected an input error');
}

async function writePair(folder: string, name: string, size = SIZE, labelSize = size): Promise<void> {
  await fs.mkdir(folder, { recursive: true });
  const { image, labels } = colorScene('red', 5);
  await sharp(image, { raw: { width: SIZE, height: SIZE, channels: 3 } }).resize(size, size).png().toFile(path.join(folder, `${name}.png`));
  const lab = labelSize === SIZE ? labels : new Uint16Array(labelSize * labelSize).fill(1);
  await fs.writeFile(path.join(folder, `${name}_label.png`), await encodeLabelPng(lab, labelSize, labelSize));
}

describe('builtin:scenes probe', () => {
  it('renders scenes at the input size with labels downsampled to a quarter, classes balanced', async () => {
    const probe = await openProbe('builtin:scenes?count=12&seed=3', { inputSize: [32, 32] });
    expect(probe.spec).toBe('builtin:scenes?count=12&seed=3');
    expect(probe.classNames!.length).toBeGreaterThanOrEqual(6);
    const batches = await collect(probeBatches(probe, { batchSize: 5 }));
    expect(batches.map((b) => b.count)).toEqual([5, 5, 2]);
    const b = batches[0];
    expect(b.images.length).toBe(5 * 32 * 32 * 3);
    expect(b.labels.length).toBe(5 * 2 * 8 * 8); // the visible concept, and the whole object under it
    expect(probe.labelPlanes).toBe(2);
    expect(Math.max(...b.images)).toBeLessThanOrEqual(1);
    expect(b.labels.some((l) => l > 0)).toBe(true);
    expect(b.classIndex!.every((c) => c >= 0)).toBe(true);
    expect(b.ids[0]).toMatch(/^[a-z_]+-0$/);
    // Balanced: the first block of as many scenes as classes holds each class once.
    const all = batches.flatMap((x) => [...x.classIndex!]);
    expect(new Set(all.slice(0, probe.classNames!.length)).size).toBe(probe.classNames!.length);
    // Deterministic.
    const again = await collect(probeBatches(await openProbe('builtin:scenes?seed=3&count=12', { inputSize: [32, 32] }), { batchSize: 12 }));
    expect(again[0].images.subarray(0, 100)).toEqual(b.images.subarray(0, 100));
  });

  it('rejects unknown parameters, classes and non-square inputs', async () => {
    await expect(openProbe('builtin:scenes?cout=3', { inputSize: [32, 32] })).rejects.toThrowError(/unknown parameter 'cout'/);
    await expect(openProbe('builtin:scenes?classes=ski_resrt', { inputSize: [32, 32] })).rejects.toMatchObject({ hint: expect.stringContaining('did you mean ski_resort') as unknown });
    await expect(openProbe('builtin:scenes', { inputSize: [32, 48] })).rejects.toThrowError(/square/);
    await expect(openProbe('no/such/thing', { inputSize: [32, 32] })).rejects.toThrowError(/not a probe set/);
  });
});

describe('folder probe', () => {
  it('reads images with label maps, classes from subfolders and concepts.json', async () => {
    const p = path.join(dir, 'good');
    await writeColorProbe(p, 3);
    const probe = await openProbe(p, { inputSize: [SIZE, SIZE] });
    expect(probe.count).toBe(6);
    expect(probe.classNames).toEqual(['blue_scene', 'red_scene']);
    expect(probe.concepts.map((c) => c.name)).toEqual(['redthing', 'bluething', 'ground']);
    const [b] = await collect(probeBatches(probe, { batchSize: 10, labelSize: [SIZE, SIZE] }));
    const expected = colorScene('blue', 2000);
    expect(Array.from(b.labels.subarray(0, SIZE * SIZE))).toEqual(Array.from(expected.labels));
    expect(b.images[0]).toBeCloseTo(expected.image[0] / 255, 6);
    expect(Array.from(b.classIndex!)).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('round-trips label ids above 255 through R + 256·G', async () => {
    const labels = Uint16Array.from({ length: 16 }, (_, i) => i * 300);
    const file = path.join(dir, 'big_label.png');
    await fs.writeFile(file, await encodeLabelPng(labels, 4, 4));
    expect(Array.from((await readLabelPng(file)).labels)).toEqual(Array.from(labels));
  });

  it('names the image whose label map is missing', async () => {
    const p = path.join(dir, 'missing');
    await writePair(p, 'a');
    await fs.rm(path.join(p, 'a_label.png'));
    const e = await expectInputError(openProbe(p, { inputSize: [SIZE, SIZE] }), path.join(p, 'a.png'));
    expect(e.message).toContain('a_label.png');
  });

  it('names a label map of the wrong size', async () => {
    const p = path.join(dir, 'mismatch');
    await writePair(p, 'a', SIZE, 16);
    await expectInputError(openProbe(p, { inputSize: [SIZE, SIZE] }), path.join(p, 'a_label.png'));
  });

  it('names an image of the wrong size', async () => {
    const p = path.join(dir, 'wrongsize');
    await writePair(p, 'a', 40, 40);
    await expectInputError(openProbe(p, { inputSize: [SIZE, SIZE] }), path.join(p, 'a.png'));
  });

  it('names a label map without an image, and a corrupt label map', async () => {
    const p = path.join(dir, 'orphan');
    await writePair(p, 'a');
    await fs.copyFile(path.join(p, 'a_label.png'), path.join(p, 'b_label.png'));
    await expectInputError(openProbe(p, { inputSize: [SIZE, SIZE] }), 'b_label.png');
    const q = path.join(dir, 'badlabel');
    await writePair(q, 'a');
    await fs.writeFile(path.join(q, 'a_label.png'), 'garbage');
    await expectInputError(openProbe(q, { inputSize: [SIZE, SIZE] }), path.join(q, 'a_label.png'));
  });

  it('names a bad concepts.json', async () => {
    const p = path.join(dir, 'badconcepts');
    await writePair(p, 'a');
    await fs.writeFile(path.join(p, 'concepts.json'), JSON.stringify([{ id: 1, name: 'x' }, { id: 1, name: 'y' }]));
    await expectInputError(openProbe(p, { inputSize: [SIZE, SIZE] }), 'concepts.json');
  });

  it('skips a corrupt image with a report, truncated ones too', async () => {
    const p = path.join(dir, 'corrupt');
    await writePair(p, 'a');
    await writePair(p, 'b');
    await writePair(p, 'c');
    await fs.writeFile(path.join(p, 'b.png'), 'not an image');
    const png = await fs.readFile(path.join(p, 'c.png'));
    await fs.writeFile(path.join(p, 'c.png'), png.subarray(0, Math.floor(png.length / 2)));
    const probe = await openProbe(p, { inputSize: [SIZE, SIZE] });
    const skipped: string[] = [];
    const batches = await collect(probeBatches(probe, { onSkip: (id) => skipped.push(id) }));
    expect(batches.map((b) => b.ids)).toEqual([['a.png']]);
    expect(skipped.sort()).toEqual(['b.png', 'c.png']);
  });

  it('says a folder without images holds none', async () => {
    const p = path.join(dir, 'empty');
    await fs.mkdir(p);
    await expectInputError(openProbe(p, { inputSize: [SIZE, SIZE] }), p);
  });
});
