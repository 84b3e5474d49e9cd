import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveGenerator } from '../../src/gan/save.js';
import { writeLayersModel } from '../../src/models/io.js';
import { TINY_LATENT, TINY_SIZE, TREE_CATEGORIES, tinyGeneratorModel, treeSegmenterModel } from './fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-gan-ablate-workers-'));
  await saveGenerator(tinyGeneratorModel(), path.join(dir, 'gen'), {
    latentSize: TINY_LATENT, latentDistribution: 'normal', outputRange: [-1, 1], outputSize: TINY_SIZE, layers: ['layer1', 'layer2'], defaultLayer: 'layer2',
  });
  await writeLayersModel(treeSegmenterModel(), path.join(dir, 'seg'), { format: 'unit-attack-segmenter', version: 1, categories: TREE_CATEGORIES });
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe('ablation on generator worker threads', () => {
  it('gives byte-identical results on this thread, on one worker and on two', () => {
    // Worker threads start from the TypeScript sources under tsx, so the test needs no build. The causal and greedy
    // rankings and the curves go to the workers.
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/gan/ablate-workers.script.ts'), dir], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const { inline, one, two, warnings } = JSON.parse(r.stdout) as { inline: string; one: string; two: string; warnings: string[] };
    expect(warnings).toEqual([]);
    const parsed = JSON.parse(inline) as { curves: Record<'iou' | 'causal' | 'greedy', Array<{ removed: { value: number } }>>; samples: number };
    expect(Object.keys(parsed.curves)).toEqual(['iou', 'causal', 'greedy', 'ace']);
    expect(parsed.samples).toBe(44);
    // The tiny generator's unit 0 paints every tree pixel: zeroing it removes (nearly) all of them.
    expect(parsed.curves.iou[1].removed.value).toBeGreaterThan(0.9);
    expect(one).toBe(inline);
    expect(two).toBe(inline);
  }, 180_000); // about 6 s on idle cores; far longer when a training run holds them
});
