import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAtlas, type Atlas } from '../../src/dissection/atlas.js';
import { saveGenerator } from '../../src/gan/save.js';
import { writeLayersModel } from '../../src/models/io.js';
import { TINY_LATENT, TINY_SIZE, TREE_CATEGORIES, tinyGeneratorModel, treeSegmenterModel } from './fixtures.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/unit-attack.js');

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-gan-workers-'));
  await saveGenerator(tinyGeneratorModel(), path.join(dir, 'gen'), {
    latentSize: TINY_LATENT, latentDistribution: 'normal', outputRange: [-1, 1], outputSize: TINY_SIZE, layers: ['layer1', 'layer2'], defaultLayer: 'layer2',
  });
  await writeLayersModel(treeSegmenterModel(), path.join(dir, 'seg'), { format: 'unit-attack-segmenter', version: 1, categories: TREE_CATEGORIES });
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

/** `unit-attack dissect` of the tiny generator in a process of its own (the sample workers run the compiled dist/). */
async function dissectWith(workers: number): Promise<Atlas> {
  const out = path.join(dir, `out-${workers}`);
  const r = spawnSync(process.execPath, [BIN, 'dissect', '--backend', 'wasm', '--model', path.join(dir, 'gen'), '--segmenter', path.join(dir, 'seg'),
    '--samples', '160', '--batch-size', '8', '--quantile', '0.1', '--workers', String(workers), '--no-cache', '--no-strips', '--quiet', '--out', out], { encoding: 'utf8' });
  expect(r.stderr).not.toMatch(/could not start/);
  expect(r.status).toBe(0);
  return parseAtlas(JSON.parse(await fs.readFile(path.join(out, 'atlas.json'), 'utf8')));
}

describe('generator dissection on worker threads', () => {
  it('gives the atlas of one thread with two sample workers', async () => {
    const [one, two] = [await dissectWith(1), await dissectWith(2)];
    expect(one.units[0].concept).toBe('tree');
    const view = (a: Atlas): unknown => a.units.map((u) => [u.threshold, u.iou, u.ceiling, u.concept, u.topImages.map((t) => t.index)]);
    expect(view(two)).toEqual(view(one));
    expect(two.probe.concepts).toEqual(one.probe.concepts);
  });
});
