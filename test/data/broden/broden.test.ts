import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnitAttackError } from '../../../src/errors.js';
import {
  encodeLabelRgb, loadBrodenItem, parseCsv, readBrodenDataset, sceneLabelNumber, writeBrodenDataset,
} from '../../../src/data/broden/index.js';
import { CONCEPTS, SCENE_CLASSES, conceptId, renderScene, sampleScenes } from '../../../src/data/scenes/index.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ua-broden-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function caught(p: Promise<unknown>): Promise<UnitAttackError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UnitAttackError);
    return e as UnitAttackError;
  }
  throw new Error('expected a rejection');
}

const png = (data: Uint8Array, w: number, h: number, channels: 1 | 3 = 3): Promise<Buffer> =>
  sharp(data, { raw: { width: w, height: h, channels } }).png().toBuffer();

describe('writeBrodenDataset / readBrodenDataset', () => {
  it('round-trips images and label maps byte for byte', async () => {
    const dir = join(root, 'round-trip');
    const res = await writeBrodenDataset(dir, { count: 14, seed: 3, size: 32 });
    expect(res).toMatchObject({ count: 14, size: 32, seed: 3 });
    const ds = await readBrodenDataset(dir);
    expect(ds.items).toHaveLength(14);
    const specs = sampleScenes({ count: 14, seed: 3, size: 32 });
    for (const [k, item] of ds.items.entries()) {
      const scene = renderScene(specs[k]);
      expect(item.class).toBe(scene.cls);
      expect(item.imageLabels).toEqual([{ category: 'scene', label: sceneLabelNumber(scene.classIndex) }]);
      const loaded = await loadBrodenItem(item);
      expect(loaded).toMatchObject({ width: 32, height: 32, labelWidth: 32, labelHeight: 32 });
      expect(Buffer.from(loaded.image).equals(Buffer.from(scene.image)), item.image).toBe(true);
      expect(Buffer.from(loaded.labels.buffer).equals(Buffer.from(scene.labels.buffer)), item.image).toBe(true);
      // one label image per category present, holding only that category's concepts
      for (const layer of loaded.layers) {
        for (const id of new Set(layer.labels)) if (id !== 0) expect(CONCEPTS[id - 1].category).toBe(layer.category);
      }
    }
    expect(new Set(ds.items.map((i) => i.split))).toEqual(new Set(['train', 'val']));
  });

  it('writes Broden label and category lists that the reader understands', async () => {
    const dir = join(root, 'lists');
    await writeBrodenDataset(dir, { count: 12, seed: 0, size: 16 });
    const ds = await readBrodenDataset(dir);
    expect(ds.concepts.slice(0, CONCEPTS.length).map((c) => [c.id, c.name, c.category])).toEqual(CONCEPTS.map((c) => [c.id, c.name, c.category]));
    const scenes = ds.concepts.slice(CONCEPTS.length);
    expect(scenes.map((c) => c.name)).toEqual([...SCENE_CLASSES]);
    expect(scenes.every((c) => c.category === 'scene')).toBe(true);
    expect(ds.categories.map((c) => c.name)).toEqual(['object', 'part', 'material', 'scene']);
    const sky = ds.concepts.find((c) => c.name === 'sky')!;
    expect(sky.frequency).toBeGreaterThan(0);
    expect(sky.categories).toEqual({ object: sky.frequency });
    const header = parseCsv(await readFile(join(dir, 'index.csv'), 'utf8'))[0];
    expect(header).toEqual(['image', 'split', 'ih', 'iw', 'sh', 'sw', 'color', 'object', 'part', 'material', 'scene', 'texture']);
    for (const f of ['c_object.csv', 'c_part.csv', 'c_material.csv', 'c_scene.csv', 'scene.csv', 'meta.json']) expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it('rejects bad options before writing anything, naming the option', async () => {
    const dir = join(root, 'bad');
    expect((await caught(writeBrodenDataset(dir, { count: 0, seed: 1 }))).path).toBe('count');
    expect((await caught(writeBrodenDataset(dir, { count: 2, seed: 1, size: -4 }))).path).toBe('size');
    expect((await caught(writeBrodenDataset(dir, { count: 2, seed: 1.5 }))).path).toBe('seed');
    expect((await caught(writeBrodenDataset(dir, { count: 2, seed: 1, valFraction: 2 }))).path).toBe('valFraction');
    expect((await caught(writeBrodenDataset(dir, { count: 2, seed: 1, classes: ['nowhere'] }))).message).toContain('nowhere');
    expect(existsSync(dir)).toBe(false);
    expect((await readdir(root)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('refuses an unwritable or non-empty folder and leaves nothing behind', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    const e1 = await caught(writeBrodenDataset(join(file, 'sub', 'ds'), { count: 2, seed: 1, size: 8 }));
    expect(e1.code).toBe('UA_USAGE');
    expect(e1.path).toBe('dir');
    const full = join(root, 'full');
    await mkdir(full);
    await writeFile(join(full, 'keep.txt'), 'keep');
    const e2 = await caught(writeBrodenDataset(full, { count: 2, seed: 1, size: 8 }));
    expect(e2.path).toBe('dir');
    expect(await readdir(full)).toEqual(['keep.txt']);
    if (process.getuid?.() !== 0) {
      const locked = join(root, 'locked');
      await mkdir(locked);
      await chmod(locked, 0o500);
      const e3 = await caught(writeBrodenDataset(join(locked, 'ds'), { count: 2, seed: 1, size: 8 }));
      expect(e3.path).toBe('dir');
      expect(await readdir(locked)).toEqual([]);
      await chmod(locked, 0o700);
    }
    expect((await readdir(root)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('writes into an existing empty folder', async () => {
    const dir = join(root, 'empty');
    await mkdir(dir);
    await writeBrodenDataset(dir, { count: 1, seed: 1, size: 8 });
    expect((await readBrodenDataset(dir)).items).toHaveLength(1);
  });
});

describe('readBrodenDataset on the real Broden layout', () => {
  let dir: string;
  beforeAll(async () => {
    // A miniature of Broden: half-resolution label images, several images in one column, scalar scene labels.
    dir = join(root, 'real');
    await mkdir(join(dir, 'images', 'ade20k'), { recursive: true });
    const [w, h, sw, sh] = [8, 6, 4, 3];
    const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 7) % 256);
    await writeFile(join(dir, 'images', 'ade20k', 'a.jpg'), await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg().toBuffer());
    const obj1 = new Uint16Array(sw * sh).fill(300); // code 300 = R 44, G 1
    const obj2 = new Uint16Array(sw * sh);
    obj2[0] = 5;
    const part = new Uint16Array(sw * sh);
    part[1] = 7;
    await writeFile(join(dir, 'images', 'ade20k', 'a_object.png'), await png(encodeLabelRgb(obj1), sw, sh));
    await writeFile(join(dir, 'images', 'ade20k', 'a_object2.png'), await png(encodeLabelRgb(obj2), sw, sh));
    await writeFile(join(dir, 'images', 'ade20k', 'a_part.png'), await png(encodeLabelRgb(part), sw, sh));
    await writeFile(join(dir, 'index.csv'), [
      'image,split,ih,iw,sh,sw,color,object,part,material,scene,texture',
      `ade20k/a.jpg,train,${h},${w},${sh},${sw},,ade20k/a_object.png;ade20k/a_object2.png,ade20k/a_part.png,,19;20,`,
      `ade20k/missing.jpg,val,${h},${w},${sh},${sw},,,,,,`,
    ].join('\n') + '\n');
    await writeFile(join(dir, 'label.csv'), [
      'number,name,category,frequency,coverage,syns',
      '5,wall,object(2),2,1.5,',
      '7,"window, pane",part(1);object(4),5,0.2,windowpane;glass',
      '19,bedroom,scene(1),1,1.0,',
      '300,snow,material(3),3,0.7,',
    ].join('\n') + '\n');
  });

  it('reads labels with multi-category entries and quoted names', async () => {
    const ds = await readBrodenDataset(dir);
    const win = ds.concepts.find((c) => c.id === 7)!;
    expect(win).toMatchObject({ name: 'window, pane', category: 'object', categories: { part: 1, object: 4 }, syns: ['windowpane', 'glass'] });
    expect(ds.categories.map((c) => c.name)).toEqual(['color', 'object', 'part', 'material', 'scene', 'texture']);
  });

  it('lists several label images per column and scalar whole-image labels', async () => {
    const ds = await readBrodenDataset(dir);
    const item = ds.items[0];
    expect(item.labelPaths.map((l) => [l.category, l.path.split('/').pop()])).toEqual([
      ['object', 'a_object.png'], ['object', 'a_object2.png'], ['part', 'a_part.png'],
    ]);
    expect(item.imageLabels).toEqual([{ category: 'scene', label: 19 }, { category: 'scene', label: 20 }]);
    const loaded = await loadBrodenItem(item);
    expect(loaded).toMatchObject({ width: 8, height: 6, labelWidth: 4, labelHeight: 3 });
    expect(loaded.layers).toHaveLength(3);
    expect(loaded.layers[0].labels[5]).toBe(300);
    expect(Array.from(loaded.labels.slice(0, 3))).toEqual([5, 7, 300]);
  });

  it('names the missing image file', async () => {
    const ds = await readBrodenDataset(dir);
    const e = await caught(loadBrodenItem(ds.items[1]));
    expect(e.code).toBe('UA_INPUT');
    expect(e.file).toContain('missing.jpg');
  });

  it('names a label image whose size disagrees with index.csv', async () => {
    const ds = await readBrodenDataset(dir);
    const item = { ...ds.items[0], labelHeight: 6, labelWidth: 8 };
    const e = await caught(loadBrodenItem(item));
    expect(e.code).toBe('UA_INPUT');
    expect(e.file).toContain('a_object.png');
  });

  it('names a missing label file and a folder without an index', async () => {
    const ds = await readBrodenDataset(dir);
    const item = { ...ds.items[0], labelPaths: [{ category: 'object', path: join(dir, 'images', 'nope.png') }] };
    expect((await caught(loadBrodenItem(item))).file).toContain('nope.png');
    const e = await caught(readBrodenDataset(join(root, 'no-such-folder')));
    expect(e.code).toBe('UA_INPUT');
    await mkdir(join(root, 'no-index'), { recursive: true });
    expect((await caught(readBrodenDataset(join(root, 'no-index')))).file).toContain('index.csv');
  });
});

describe('label encoding', () => {
  it('stores a label number as R + 256·G with B = 0', () => {
    const rgb = encodeLabelRgb(Uint16Array.from([0, 1, 255, 256, 300, conceptId('snow')]));
    expect(Array.from(rgb)).toEqual([0, 0, 0, 1, 0, 0, 255, 0, 0, 0, 1, 0, 44, 1, 0, conceptId('snow'), 0, 0]);
  });
});
