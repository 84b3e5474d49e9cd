import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { writeModelCard } from '../../src/train/model-card.js';
import { splitBatch } from '../../src/train/shard.js';
import { trainScenesModel, type TrainOptions } from '../../src/train/train.js';
import { relError } from '../helpers.js';

/** A tiny model and world: 32×32 scenes of two classes, VGG-16 at width 1/16. */
const tiny = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  out, seed: 3, epochs: 1, scenesPerEpoch: 48, batchSize: 8, learningRate: 2e-3, inputSize: 32, widthMultiplier: 1 / 16,
  fcWidth: 512, checkpointEvery: 2, evalCount: 8, evalSeed: 99, classes: ['ski_resort', 'bedroom'], ...extra,
});

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'ua-train-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function weightsOf(options: TrainOptions): Promise<{ values: Float32Array; losses: number[] }> {
  const r = await trainScenesModel(options);
  const values = Float32Array.from(r.model.getWeights().flatMap((w) => Array.from(w.dataSync())));
  r.model.dispose();
  return { values, losses: r.lossHistory.map((h) => h.loss) };
}

describe('trainScenesModel', () => {
  it('a short run on a tiny model lowers the loss, and leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const r = await trainScenesModel(tiny(path.join(dir, 'short'), { epochs: 4, scenesPerEpoch: 64 }));
    const losses = r.lossHistory.map((h) => h.loss);
    expect(losses).toHaveLength(32);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    // two classes: chance is ln 2 ≈ 0.69
    expect(mean(losses.slice(0, 4))).toBeGreaterThan(0.5);
    expect(mean(losses.slice(-8))).toBeLessThan(0.8 * mean(losses.slice(0, 4)));
    expect(r.evaluation?.count).toBe(8);
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an interrupted run resumed from its checkpoint ends with the same weights as an uninterrupted one', async () => {
    const whole = await weightsOf(tiny(path.join(dir, 'whole')));
    const out = path.join(dir, 'resumed');
    const first = await trainScenesModel(tiny(out, { maxSteps: 4 }));
    expect(first.finished).toBe(false);
    first.model.dispose();
    const resumed = await weightsOf(tiny(out));
    expect(resumed.losses).toEqual(whole.losses);
    expect(relError(resumed.values, whole.values)).toBe(0);
  });

  it('data-parallel training over 2 threads follows the one-thread run (up to the order of float sums)', async () => {
    const one = await weightsOf(tiny(path.join(dir, 'one')));
    const before = tf.memory().numTensors;
    const two = await weightsOf(tiny(path.join(dir, 'two'), { workers: 2 }));
    expect(tf.memory().numTensors).toBe(before);
    expect(two.losses).toHaveLength(one.losses.length);
    for (let i = 0; i < one.losses.length; i++) expect(two.losses[i]).toBeCloseTo(one.losses[i], 4);
    expect(relError(two.values, one.values)).toBeLessThan(1e-4);
  });

  it('a run started in one thread resumes with 2 workers and records where it changed', async () => {
    const out = path.join(dir, 'switch');
    (await trainScenesModel(tiny(out, { maxSteps: 2 }))).model.dispose();
    const r = await trainScenesModel(tiny(out, { workers: 3 }));
    expect(r.segments).toEqual([{ fromStep: 0, epochs: 1 }, { fromStep: 2, epochs: 1, workers: 3 }]);
    const whole = await weightsOf(tiny(path.join(dir, 'switch-ref')));
    const values = Float32Array.from(r.model.getWeights().flatMap((w) => Array.from(w.dataSync())));
    r.model.dispose();
    expect(relError(values, whole.values)).toBeLessThan(1e-4);
  });

  it('trains per-block conv widths in every thread, records them in the model card, and resumes only with the same widths', async () => {
    const out = path.join(dir, 'blocks');
    const widths = [2, 3, 4, 5, 6];
    const r = await trainScenesModel(tiny(out, { blockWidths: widths, workers: 2, maxSteps: 2 }));
    const filters = r.model.layers.filter((l) => l.name.endsWith('_conv3') || l.name === 'block1_conv1' || l.name === 'block2_conv2')
      .map((l) => [l.name, (l.getWeights()[0].shape as number[])[3]]);
    expect(filters).toEqual([['block1_conv1', 2], ['block2_conv2', 3], ['block3_conv3', 4], ['block4_conv3', 5], ['block5_conv3', 6]]);
    // fc keeps the multiplier: 512 / 16
    expect(r.model.getLayer('fc1').getWeights()[0].shape).toEqual([6, 32]);
    await writeModelCard(out, r, await initBackend({ backend: 'wasm' }));
    r.model.dispose();
    const card = readFileSync(path.join(out, 'MODEL_CARD.md'), 'utf8');
    expect(card).toContain('--block-widths 2,3,4,5,6');
    expect(card).toContain('- Conv widths 2, 3, 4, 5, 6 (blocks 1–5); fc 32');
    expect((JSON.parse(readFileSync(path.join(out, 'evaluation.json'), 'utf8')) as { recipe: { blockWidths: number[] } }).recipe.blockWidths).toEqual(widths);
    await expect(trainScenesModel(tiny(out, { blockWidths: [2, 3, 4, 5, 7] }))).rejects.toThrow(/blockWidths = \[2,3,4,5,6\], not \[2,3,4,5,7\]/);
    await expect(trainScenesModel(tiny(out))).rejects.toThrow(/blockWidths = \[2,3,4,5,6\], not null/);
    await expect(trainScenesModel(tiny(path.join(dir, 'bad-blocks'), { blockWidths: [2, 3, 4] }))).rejects.toThrow(/blockWidths must be five positive integers/);
    expect(existsSync(path.join(dir, 'bad-blocks'))).toBe(false);
  });

  it('rejects a worker count that is not a positive integer', async () => {
    await expect(trainScenesModel(tiny(path.join(dir, 'bad'), { workers: 0 }))).rejects.toThrow(/workers must be a positive integer/);
  });
});

describe('splitBatch', () => {
  it('covers the batch with contiguous shards that differ in size by at most one', () => {
    for (let batch = 1; batch <= 40; batch++) {
      for (let parts = 1; parts <= 6; parts++) {
        const shards = splitBatch(batch, parts);
        expect(shards).toHaveLength(Math.min(batch, parts));
        let next = 0;
        for (const s of shards) {
          expect(s.offset).toBe(next);
          expect(s.count).toBeGreaterThan(0);
          next += s.count;
        }
        expect(next).toBe(batch);
        const counts = shards.map((s) => s.count);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('with a unit, covers the batch with shards of whole units (the last may hold the rest), balanced by units', () => {
    for (let batch = 1; batch <= 40; batch++) {
      for (let parts = 1; parts <= 6; parts++) {
        for (const unit of [2, 3, 4]) {
          const shards = splitBatch(batch, parts, unit);
          expect(shards).toHaveLength(Math.min(parts, Math.ceil(batch / unit)));
          let next = 0;
          shards.forEach((s, k) => {
            expect(s.offset).toBe(next);
            expect(s.count).toBeGreaterThan(0);
            if (k < shards.length - 1) expect(s.count % unit).toBe(0);
            next += s.count;
          });
          expect(next).toBe(batch);
          const units = shards.map((s) => Math.ceil(s.count / unit));
          expect(Math.max(...units) - Math.min(...units)).toBeLessThanOrEqual(1);
        }
      }
    }
    expect(splitBatch(32, 2, 4)).toEqual([{ offset: 0, count: 16 }, { offset: 16, count: 16 }]);
    expect(splitBatch(8, 3, 4)).toEqual([{ offset: 0, count: 4 }, { offset: 4, count: 4 }]);
  });
});
