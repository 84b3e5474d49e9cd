import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '../../src/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { buildSegmenterNet, SCENE_SEGMENTER_CATEGORIES } from '../../src/segment/net.js';
import { calibrateSegmenter, fitLogitOffsets } from '../../src/train/segmenter-calibrate.js';
import { trainSegmenter } from '../../src/train/segmenter.js';
import { Rng } from '../../src/data/scenes/index.js';

/** Σ pooled IoU over channels ≥ 1 with ≥ minPixels true pixels of argmax(logits + offsets), counted from scratch. */
function bruteObjective(logits: Float32Array, truth: Int32Array, depth: number, offsets: readonly number[], minPixels = 20): number {
  let s = 0;
  for (let j = 1; j < depth; j++) {
    let t = 0; let i = 0; let u = 0;
    for (let p = 0; p < truth.length; p++) {
      const scores = Array.from({ length: depth }, (_, c) => logits[p * depth + c] + offsets[c]);
      const pred = scores.indexOf(Math.max(...scores));
      if (truth[p] === j) t++;
      if (truth[p] === j && pred === j) i++;
      if (truth[p] === j || pred === j) u++;
    }
    if (t >= minPixels) s += i / u;
  }
  return s;
}

/** Logits that score the true channel +2 with noise, and channel 2 (a rare concept) `shift` higher everywhere. */
function overPredicting(P: number, shift: number, seed: number): { logits: Float32Array; truth: Int32Array } {
  const rng = new Rng(seed);
  const truth = new Int32Array(P);
  const logits = new Float32Array(P * 3);
  for (let p = 0; p < P; p++) {
    const r = rng.next();
    truth[p] = r < 0.8 ? 0 : r < 0.95 ? 1 : 2;
    for (let c = 0; c < 3; c++) logits[p * 3 + c] = (truth[p] === c ? 2 : 0) + 1.2 * (rng.next() - 0.5) * 2 + (c === 2 ? shift : 0);
  }
  return { logits, truth };
}

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'ua-calibrate-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fitLogitOffsets', () => {
  it('undoes a constant over-prediction of a rare channel, and its objective is the brute-force IoU sum', () => {
    const { logits, truth } = overPredicting(3000, 1.5, 7);
    const fit = fitLogitOffsets(logits, truth, 3);
    expect(fit.before).toBeCloseTo(bruteObjective(logits, truth, 3, [0, 0, 0]), 9);
    expect(fit.after).toBeCloseTo(bruteObjective(logits, truth, 3, fit.offsets), 9);
    expect(fit.after).toBeGreaterThan(fit.before + 0.05);
    expect(fit.offsets[0]).toBe(0);
    // The shift was +1.5 on channel 2: its offset takes most of it back.
    expect(fit.offsets[2]).toBeLessThan(-0.75);
    expect(fit.counted).toBe(2);
  });

  it('ends where no single move of the grid raises the objective (checked by brute force), and never lowers it', () => {
    for (const [shift, seed] of [[0, 3], [-1, 4], [2.5, 5]] as const) {
      const { logits, truth } = overPredicting(1200, shift, seed);
      const grid = [-1, -0.5, 0.5, 1];
      const fit = fitLogitOffsets(logits, truth, 3, { grid, sweeps: 10 });
      expect(fit.after).toBeGreaterThanOrEqual(fit.before - 1e-12);
      const at = bruteObjective(logits, truth, 3, fit.offsets);
      for (let j = 1; j < 3; j++) {
        for (const d of grid) {
          const moved = [...fit.offsets]; moved[j] += d;
          expect(bruteObjective(logits, truth, 3, moved), `shift ${shift}, channel ${j}, move ${d}`).toBeLessThanOrEqual(at + 1e-9);
        }
      }
    }
  });

  it('names the mismatch of logits and pixels', () => {
    expect(() => fitLogitOffsets(new Float32Array(5), new Int32Array(2), 3)).toThrow(/5 logits is not 2 pixels × 3 channels/);
  });
});

describe('calibrateSegmenter', () => {
  it('adds the fitted offsets to the head\'s bias: every logit moves by its channel\'s offset, and no tensor is left behind', async () => {
    const net = buildSegmenterNet({ encoderWidths: [4, 8], decoderWidths: [4], seed: 3 });
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 1);
    const before = (net.predict(x) as tf.Tensor).dataSync().slice();
    const tensors = tf.memory().numTensors;
    const cal = await calibrateSegmenter(net, {
      categories: SCENE_SEGMENTER_CATEGORIES, datasetSeed: 9, from: 0, count: 4, size: 32, classes: ['street', 'bedroom'], grid: [-1, 1],
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const after = (net.predict(x) as tf.Tensor).dataSync();
    const offsets = cal.categories.flatMap((c) => c.offsets);
    expect(offsets.length).toBe(after.length / (32 * 32));
    for (let i = 0; i < after.length; i++) expect(after[i] - before[i]).toBeCloseTo(offsets[i % offsets.length], 4);
    for (const c of cal.categories) expect(c.after).toBeGreaterThanOrEqual(c.before);
    x.dispose(); net.dispose();
  });

  it('a run with --calibrate records it, and re-running the finished run calibrates the same way', async () => {
    const opts = {
      out: path.join(dir, 'cal'), seed: 5, steps: 2, batchSize: 2, learningRate: 0.01, sizes: [32], encoderWidths: [4, 8], decoderWidths: [4],
      evalCount: 2, classes: ['ski_resort', 'street'], calibrate: 3,
    };
    const a = await trainSegmenter(opts);
    expect(a.calibration?.scenes).toEqual({ datasetSeed: 5, from: 4, count: 3, size: 32, stride: 2 });
    const b = await trainSegmenter(opts);
    expect(b.calibration?.categories.map((c) => c.offsets)).toEqual(a.calibration?.categories.map((c) => c.offsets));
    expect(b.model.getLayer('head').getWeights()[1].dataSync()).toEqual(a.model.getLayer('head').getWeights()[1].dataSync());
    a.segmenter.dispose(); b.segmenter.dispose();
    await expect(trainSegmenter({ ...opts, out: path.join(dir, 'cal-bad'), calibrate: -1 })).rejects.toThrow(/calibrate must be a whole number/);
  });
});
