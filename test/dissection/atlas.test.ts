import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ATLAS_VERSION, atlasToCsv, loadAtlas, saveAtlas, unitsForClass, unitsForConcepts,
} from '../../src/dissection/atlas.js';
import { UnitAttackError } from '../../src/errors.js';
import { sampleAtlas } from './atlas-fixture.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-atlas-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

describe('atlas files', () => {
  it('round-trip through save and load, NaN included', async () => {
    const file = path.join(dir, 'sub', 'atlas.json');
    const atlas = sampleAtlas();
    await saveAtlas(atlas, file);
    const back = await loadAtlas(file);
    expect(back).toEqual(atlas); // toEqual treats NaN as equal to NaN
    expect(back.ablation.a.othersAccuracy[0]).toBeNaN();
    const text = await fs.readFile(file, 'utf8');
    expect(text).toContain('"map": [0, 1, 2.5, null]'); // number arrays on one line
  });

  it('round-trip class gradients, and refuse ones whose shape does not match the classes and units', async () => {
    const file = path.join(dir, 'grad.json');
    const rows = (v: number): number[][] => [[v, 0, 0, 1], [0, v, 2, 0]]; // 2 classes × 4 units
    const atlas = { ...sampleAtlas(), classGradients: { a: { count: 2, gain: rows(1.5), attribution: rows(-0.25), split: 'train' as const } } };
    await saveAtlas(atlas, file);
    expect((await loadAtlas(file)).classGradients).toEqual(atlas.classGradients);
    const bad = { ...atlas, classGradients: { a: { ...atlas.classGradients.a, attribution: [[1, 2, 3, 4]] } } };
    await fs.writeFile(file, JSON.stringify(bad));
    const err = await loadAtlas(file).catch((e: unknown) => e) as UnitAttackError;
    expect(err.code).toBe('UA_INPUT');
    expect(err.path).toBe('classGradients.a.attribution');
    expect(err.message).toMatch(/must hold 2 rows .* of 4 numbers/);
  });

  it('refuse another version, naming the file and both versions', async () => {
    const file = path.join(dir, 'v2.json');
    await fs.writeFile(file, JSON.stringify({ ...sampleAtlas(), version: 2 }));
    const err = await loadAtlas(file).catch((e: unknown) => e) as UnitAttackError;
    expect(err).toBeInstanceOf(UnitAttackError);
    expect(err.code).toBe('UA_INPUT');
    expect(err.message).toContain(file);
    expect(err.message).toContain('version 2');
    expect(err.message).toContain(`version ${ATLAS_VERSION}`);
  });

  it('report schema problems with their path, and files that are not atlases', async () => {
    const bad = path.join(dir, 'bad.json');
    const a = sampleAtlas() as unknown as { units: Array<{ iou: unknown }> };
    a.units[1].iou = 'high';
    await fs.writeFile(bad, JSON.stringify(a));
    await expect(loadAtlas(bad)).rejects.toThrowError(/units\.1\.iou/);
    const other = path.join(dir, 'other.json');
    await fs.writeFile(other, '{"format": "something"}');
    await expect(loadAtlas(other)).rejects.toThrowError(/not a unit-attack atlas/);
    await expect(loadAtlas(path.join(dir, 'none.json'))).rejects.toThrowError(/cannot read/);
  });
});

describe('unit lookups', () => {
  it('give the units of concepts, best IoU first', () => {
    const atlas = sampleAtlas();
    expect(unitsForConcepts(atlas, ['tree'])).toEqual([1, 0]);
    expect(unitsForConcepts(atlas, ['house', 'tree'])).toEqual([1, 0, 3]);
    expect(unitsForConcepts(atlas, ['snow'], { perCategory: true })).toEqual([3]);
  });

  it('list the available concepts when none stands for the asked one', () => {
    try {
      unitsForConcepts(sampleAtlas(), ['trea']);
      expect.unreachable();
    } catch (err) {
      const e = err as UnitAttackError;
      expect(e.code).toBe('UA_USAGE');
      expect(e.hint).toContain('house, tree');
      expect(e.hint).toContain('nearest: tree');
    }
  });

  it('give the top units of a class, and say which classes exist', () => {
    const atlas = sampleAtlas();
    expect(unitsForClass(atlas, 'a', 2)).toEqual([2, 0]);
    expect(() => unitsForClass(atlas, 'b', 2)).toThrowError(/no class importance for 'b'/);
    expect(() => unitsForClass(atlas, 'a', 9)).toThrowError(/1…4/);
  });
});

describe('atlasToCsv', () => {
  it('writes one row per unit, per ranked unit and per ablation step', () => {
    const csv = atlasToCsv(sampleAtlas());
    const units = csv.units.trim().split('\n');
    expect(units[0]).toBe('unit,threshold,concept,category,iou,object_concept,object_iou,top_images');
    expect(units[1]).toBe('0,0.5,tree,object,0.2,tree,0.2,img-0');
    expect(units[3]).toBe('2,2.5,,,0.01,sky,0.01,img-2');
    expect(csv.importance.trim().split('\n')[1]).toBe('a,1,2,0.5,');
    expect(csv.ablation.trim().split('\n')[1]).toBe('a,1,0.5,1,,1,1');
  });
});
