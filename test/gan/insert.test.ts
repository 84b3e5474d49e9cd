import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { UnitAttackError } from '../../src/errors.js';
import { cellPixels, insertConcept, insertionRatio } from '../../src/gan/insert.js';
import type { Atlas } from '../../src/dissection/atlas.js';
import { expectNoLeak } from '../helpers.js';
import { CELL, TREE, latentValues, tinyGenerator, tinySegmenter } from './tiny.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('insertConcept on a hand-built generator', () => {
  it('setting the tree unit high at a cell paints tree over exactly that cell\'s region, where there was sky', async () => {
    const g = tinyGenerator();
    const seg = tinySegmenter();
    const samples = 24;
    const { result, examples } = await expectNoLeak(() => insertConcept(g, seg, {
      concept: 'tree', units: 1, at: [1, 0], samples, rankSamples: 16, batchSize: 10,
    }), () => undefined);
    expect(result.units).toEqual([0]);
    expect(result.levels[0]).toBeGreaterThan(0.5);
    expect(result.cells).toEqual([1, 0]);
    // Brute force: the cell (1, 0) showed tree before exactly when z[2] > 0.5.
    const z = latentValues(g, 1, 0, samples);
    const treeBefore = Array.from({ length: samples }, (_, i) => Math.max(0, z[i * 8 + 2]) > 0.5).filter(Boolean).length;
    const sky = result.byContext.find((c) => c.context === 'sky')!;
    const tree = result.byContext.find((c) => c.context === 'tree');
    expect(sky.count).toBe(samples - treeBefore);
    expect(tree?.count ?? 0).toBe(treeBefore);
    expect(sky.addedInRegion.value).toBe(1);
    expect(sky.addedOverall).toBe(CELL * CELL);
    if (tree) expect(tree.addedInRegion.value).toBe(0);
    expect(result.overall.count).toBe(samples);
    expect(insertionRatio(result, ['sky'], ['tree'])).toBe(treeBefore > 0 ? Number.POSITIVE_INFINITY : Number.NaN);
    // The example's after-image is tree-green inside rows 4…7, columns 0…3, and unchanged elsewhere.
    const ex = examples.rows.find((e) => e.context === 'sky')!;
    const region = cellPixels(1, 0, 2, 2, 8, 8);
    expect(region).toEqual({ rows: [4, 8], cols: [0, 4] });
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const k = (y * 8 + x) * 3;
        const inside = y >= 4 && x < 4;
        if (inside) expect(ex.after.data[k + 1]).toBe(Math.round(TREE[1] * 255));
        else expect(ex.after.data.subarray(k, k + 3)).toEqual(ex.before.data.subarray(k, k + 3));
      }
    }
  });

  it('every cell, one at a time, when no cell is given', async () => {
    const g = tinyGenerator();
    const { result } = await insertConcept(g, tinySegmenter(), { concept: 'tree', unitList: [0], samples: 8, rankSamples: 8, quantile: 0.99 });
    expect(result.cells).toBe('all');
    expect(result.overall.count).toBe(8 * 4);
    expect(result.byCell).toHaveLength(4);
    expect(result.byCell.every((v) => v > 0 && v <= 1)).toBe(true);
  });

  it('a unit that draws nothing adds nothing', async () => {
    const { result } = await insertConcept(tinyGenerator(), tinySegmenter(), { concept: 'tree', unitList: [1], at: [0, 0], samples: 8, rankSamples: 8 });
    expect(result.overall.addedInRegion.value).toBe(0);
  });
});

describe('insertConcept bad input', () => {
  const g = tinyGenerator();
  const seg = tinySegmenter();
  const fails = async (options: Parameters<typeof insertConcept>[2], path: string, message: RegExp): Promise<void> => {
    const before = tf.memory().numTensors;
    const err = await insertConcept(g, seg, options).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).path).toBe(path);
    expect((err as UnitAttackError).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
  };
  it('--at outside the map, --units out of range, --samples < 1, an unknown concept', async () => {
    await fails({ concept: 'tree', at: [2, 0], samples: 4 }, 'at', /outside the 2×2 map of layer1/);
    await fails({ concept: 'tree', units: 4, samples: 4 }, 'units', /1…3/);
    await fails({ concept: 'tree', unitList: [7], samples: 4 }, 'units', /unit 7 is out of range/);
    await fails({ concept: 'tree', samples: 0 }, 'samples', /positive integer/);
    await fails({ concept: 'roof', samples: 4 }, 'concept', /does not label the concept 'roof'/);
    await fails({ concept: 'door', samples: 4, rankSamples: 4 }, 'concept', /no 'door' pixels/);
  });
});

describe('insertConcept with a dissection atlas', () => {
  it('takes the units\' levels at the quantile from the atlas, and its IoU order', async () => {
    const unit = (u: number, concept: string, iou: number) => ({
      unit: u, threshold: 0.1, concept, category: 'object', iou, levels: { '0.99': 1, '0.995': 2 + u, '0.999': 3 },
      perCategory: { object: { concept, iou } }, topConcepts: [{ concept, category: 'object', iou }], topImages: [],
    });
    const atlas = {
      layer: 'layer1', units: [unit(0, 'tree', 0.3), unit(1, 'sky', 0.2), unit(2, 'tree', 0.1)], params: { iouThreshold: 0.04, quantile: 0.01 },
      probe: { spec: 'generated:tiny' }, fingerprint: 'x',
    } as unknown as Atlas;
    const { result } = await insertConcept(tinyGenerator(), tinySegmenter(), { concept: 'tree', units: 2, at: [0, 0], samples: 4, rankSamples: 4, atlas });
    expect(result.units).toEqual([0, 2]);
    expect(result.levels).toEqual([2, 4]);
    expect(result.levelSource).toMatch(/atlas's levels at the 0.995 quantile/);
  });
});
