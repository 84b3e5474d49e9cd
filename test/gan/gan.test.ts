import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { buildGenerator, createDiscriminator, discriminate, generatorOutputSize, minibatchStd, spectralVectors } from '../../src/gan/net.js';
import { loadGeneratorModel, saveGenerator } from '../../src/gan/save.js';
import { resolveTrainGanOptions, trainGan, type TrainGanOptions } from '../../src/train/gan.js';
import { trainGanOptionsOf } from '../../src/cli/commands/train-gan.js';
import type { GlobalArgs } from '../../src/cli/command.js';
import { ganShardGradient, type GanShardContext } from '../../src/train/gan-shard.js';
import { relError } from '../helpers.js';

/** A tiny GAN: 8×8 images, 8 units per layer, one discriminator level. */
const TINY = { latentSize: 8, generatorWidths: [8, 8, 8, 8], discriminatorWidths: [8] } as const;
const tiny = (out: string, extra: Partial<TrainGanOptions> = {}): TrainGanOptions => ({
  out, seed: 5, steps: 6, batchSize: 4, checkpointEvery: 2, instanceNoise: 0.1, instanceNoiseSteps: 4, ...TINY, ...extra,
});

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'ua-gan-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every weight of the run's moving-average and trained generators, and its loss history; disposes the models. */
async function runOf(options: TrainGanOptions): Promise<{ ema: Float32Array; generator: Float32Array; history: unknown[] }> {
  const r = await trainGan(options);
  const flat = (m: tf.LayersModel): Float32Array => Float32Array.from(m.getWeights().flatMap((w) => Array.from(w.dataSync())));
  const out = { ema: flat(r.ema), generator: flat(r.generator), history: r.history };
  r.ema.dispose();
  r.generator.dispose();
  return out;
}

describe('GAN networks', () => {
  it('the generator maps latents to images in [-1, 1] with an 8×8 layer4, and its layers are named layer1…layerN', () => {
    const g = buildGenerator({ latentSize: 8, widths: [4, 4, 6, 6, 4, 4], seed: 1 });
    const y = tf.tidy(() => g.predict(tf.randomNormal([2, 8], 0, 1, 'float32', 1)) as tf.Tensor);
    expect(y.shape).toEqual([2, 16, 16, 3]);
    const v = y.dataSync();
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
    y.dispose();
    expect(g.getLayer('layer4').outputShape).toEqual([null, 8, 8, 6]);
    expect(g.layers.filter((l) => /^layer\d+$/.test(l.name)).map((l) => l.name)).toEqual(['layer1', 'layer2', 'layer3', 'layer4', 'layer5', 'layer6']);
    expect(generatorOutputSize([128, 128, 128, 128, 64, 64, 32, 32, 16, 16])).toBe(64);
    g.dispose();
  });

  it('a saved generator loads back (pixel norm included) and gives the same outputs', async () => {
    const g = buildGenerator({ latentSize: 8, widths: [4, 4, 4, 4], seed: 2 });
    const folder = path.join(dir, 'saved');
    await saveGenerator(g, folder, { latentSize: 8, latentDistribution: 'normal', outputRange: [-1, 1], outputSize: 8, layers: ['layer1', 'layer2', 'layer3', 'layer4'], defaultLayer: 'layer4' });
    const { model, sidecar } = await loadGeneratorModel(folder);
    expect(sidecar.latentSize).toBe(8);
    const z = tf.randomNormal([3, 8], 0, 1, 'float32', 3);
    const a = tf.tidy(() => (g.predict(z) as tf.Tensor).dataSync());
    const b = tf.tidy(() => (model.predict(z) as tf.Tensor).dataSync());
    expect(relError(b, a)).toBe(0);
    tf.dispose([z]);
    g.dispose();
    model.dispose();
  });

  it('one step gives finite, non-zero gradients for both players and leaves no tensors behind', () => {
    const generator = buildGenerator({ latentSize: 8, widths: [8, 8, 8, 8], seed: 1 });
    const discriminator = createDiscriminator({ imageSize: 8, widths: [8], seed: 1 });
    const ctx: GanShardContext = { seed: 1, classes: ['field'], latentSize: 8, imageSize: 8, instanceNoise: 0.1, noiseUntil: 10 };
    const before = tf.memory().numTensors;
    for (const phase of ['discriminator', 'generator'] as const) {
      const r = ganShardGradient({ generator, discriminator }, ctx, phase, 0, 0, 4);
      expect(Number.isFinite(r.lossSum)).toBe(true);
      expect(r.grads.every(Number.isFinite)).toBe(true);
      expect(r.grads.some((g) => g !== 0)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    generator.dispose();
    discriminator.dispose();
  });
});

describe('minibatch standard deviation', () => {
  it('equals a brute-force count: per group, the mean over features of the population deviation across the group', () => {
    const [n, h, w, c] = [6, 2, 2, 3];
    const values = Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i * 1.7) * 3 + (i % 5));
    const x = tf.tensor4d(values, [n, h, w, c]);
    const before = tf.memory().numTensors;
    const y = minibatchStd(x, 3);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(y.shape).toEqual([n, h, w, c + 1]);
    const out = y.dataSync();
    for (let g = 0; g < 2; g++) {
      let sum = 0;
      for (let f = 0; f < h * w * c; f++) {
        const xs = [0, 1, 2].map((k) => values[(g * 3 + k) * h * w * c + f]);
        const m = xs.reduce((a, b) => a + b, 0) / 3;
        sum += Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / 3 + 1e-8);
      }
      const want = sum / (h * w * c);
      for (let k = 0; k < 3; k++) {
        for (let cell = 0; cell < h * w; cell++) {
          const img = g * 3 + k;
          expect(out[(img * h * w + cell) * (c + 1) + c]).toBeCloseTo(want, 4);
          for (let ch = 0; ch < c; ch++) expect(out[(img * h * w + cell) * (c + 1) + ch]).toBe(Math.fround(values[(img * h * w + cell) * c + ch]));
        }
      }
    }
    tf.dispose([x, y]);
  });

  it('a discriminator with it scores an image by its own group only, and sees how varied the group is', () => {
    const d = createDiscriminator({ imageSize: 8, widths: [8], seed: 3, minibatchStdGroup: 2 });
    const plain = createDiscriminator({ imageSize: 8, widths: [8], seed: 3 });
    expect(d.weights[2].shape).toEqual([3, 3, 4 + 1, 8]);
    expect(plain.weights[2].shape).toEqual([3, 3, 4, 8]);
    const img = (seed: number): tf.Tensor4D => tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', seed);
    const [a, b, c, e] = [img(1), img(2), img(3), img(4)];
    const vectors = spectralVectors(d);
    const score = (xs: tf.Tensor4D[]): Float32Array => tf.tidy(() => discriminate(d, tf.concat(xs, 0), vectors).dataSync() as Float32Array);
    const ab = score([a, b, c, e]);
    const abOther = score([a, b, e, a]);
    expect(Array.from(abOther.slice(0, 2))).toEqual(Array.from(ab.slice(0, 2)));
    const aa = score([a, a, c, e]);
    expect(Math.abs(aa[0] - ab[0])).toBeGreaterThan(1e-6);
    // Two parts (real, generated) of two images each: a group of 2 stays inside each part.
    const parts = tf.tidy(() => discriminate(d, tf.concat([a, b, c, e], 0), vectors, 2).dataSync());
    expect(Array.from(parts)).toEqual(Array.from(ab));
    tf.dispose([a, b, c, e, ...vectors.flatMap(({ u, v }) => [u, v])]);
    d.dispose();
    plain.dispose();
  });
});

describe('trainGan', () => {
  it('the same seed replays exactly, and a run leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const a = await runOf(tiny(path.join(dir, 'a'), { steps: 3 }));
    expect(tf.memory().numTensors).toBe(before);
    const b = await runOf(tiny(path.join(dir, 'b'), { steps: 3 }));
    expect(b.history).toEqual(a.history);
    expect(relError(b.ema, a.ema)).toBe(0);
    const c = await runOf(tiny(path.join(dir, 'c'), { steps: 3, seed: 6 }));
    expect(relError(c.ema, a.ema)).toBeGreaterThan(0);
  });

  it('an interrupted run resumed from its checkpoint ends with the same weights as an uninterrupted one', async () => {
    const whole = await runOf(tiny(path.join(dir, 'whole')));
    const out = path.join(dir, 'resumed');
    const first = await runOf(tiny(out, { maxSteps: 3 }));
    expect(first.history).toHaveLength(3);
    const resumed = await runOf(tiny(out));
    expect(resumed.history).toEqual(whole.history);
    // tfjs's Adam restores its bias corrections as β^t by pow, where a run multiplies them step by step: ≤ 1 ulp.
    expect(relError(resumed.ema, whole.ema)).toBeLessThan(1e-6);
    expect(relError(resumed.generator, whole.generator)).toBeLessThan(1e-6);
  });

  it('maxSteps 0 hands the checkpoint\'s generator to onCheckpoint without training, and needs a checkpoint', async () => {
    const out = path.join(dir, 'export');
    const trained = await runOf(tiny(out, { maxSteps: 2 }));
    const before = tf.memory().numTensors;
    const seen: Array<{ step: number; ema: Float32Array }> = [];
    const r = await trainGan(tiny(out, { maxSteps: 0 }), {
      onCheckpoint(step, ema) { seen.push({ step, ema: Float32Array.from(ema.getWeights().flatMap((w) => Array.from(w.dataSync()))) }); },
      onStep() { throw new Error('no step may run'); },
    });
    expect(r.steps).toBe(2);
    expect(r.finished).toBe(false);
    expect(r.history).toEqual(trained.history);
    expect(seen.map((s) => s.step)).toEqual([2]);
    expect(relError(seen[0].ema, trained.ema)).toBe(0);
    r.ema.dispose(); r.generator.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // The checkpoint is left as it was: resuming goes on from step 2.
    expect((await runOf(tiny(out, { maxSteps: 1 }))).history).toHaveLength(3);
    const empty = path.join(dir, 'export-none');
    await expect(trainGan(tiny(empty, { maxSteps: 0 }))).rejects.toMatchObject({ code: 'UA_USAGE', path: '--max-steps' });
    expect(existsSync(empty)).toBe(false);
    await expect(trainGan(tiny(out, { maxSteps: 0, resume: false }))).rejects.toMatchObject({ code: 'UA_USAGE', path: '--max-steps' });
    expect(() => resolveTrainGanOptions(tiny(out, { maxSteps: -1 }))).toThrow(expect.objectContaining({ path: 'maxSteps' }) as Error);
  });

  it('a crash between the checkpoint renames resumes from the previous checkpoint', async () => {
    const out = path.join(dir, 'crashed');
    await runOf(tiny(out, { maxSteps: 2 }));
    renameSync(path.join(out, 'checkpoint'), path.join(out, 'checkpoint.old'));
    const resumed = await runOf(tiny(out, { maxSteps: 1 }));
    expect(resumed.history).toHaveLength(3);
    expect(existsSync(path.join(out, 'checkpoint.old'))).toBe(false);
  });

  it('a checkpoint made with other options is refused, naming the option', async () => {
    const out = path.join(dir, 'refused');
    await runOf(tiny(out, { maxSteps: 1 }));
    await expect(trainGan(tiny(out, { batchSize: 8 }))).rejects.toMatchObject({ code: 'UA_USAGE', path: '--batch' });
  });

  it('a checkpoint from before the minibatch deviation channel resumes with it off, and is refused with it on', async () => {
    const out = path.join(dir, 'before-mbstd');
    await runOf(tiny(out, { maxSteps: 1, minibatchStdGroup: 0 }));
    const file = path.join(out, 'checkpoint', 'state.json');
    const state = JSON.parse(readFileSync(file, 'utf8')) as { options: Record<string, unknown> };
    delete state.options.minibatchStdGroup;
    writeFileSync(file, JSON.stringify(state));
    await expect(trainGan(tiny(out))).rejects.toMatchObject({ code: 'UA_USAGE', path: '--minibatch-std-group' });
    const resumed = await runOf(tiny(out, { maxSteps: 1, minibatchStdGroup: 0 }));
    expect(resumed.history).toHaveLength(2);
  });

  it('data-parallel training over 2 threads follows the one-thread run (up to the order of float sums)', async () => {
    const one = await runOf(tiny(path.join(dir, 'one'), { steps: 2, batchSize: 8 }));
    const before = tf.memory().numTensors;
    // Batch 8 in groups of 4 (the default minibatch deviation group): one group per thread.
    const two = await runOf(tiny(path.join(dir, 'two'), { steps: 2, workers: 2, batchSize: 8 }));
    expect(tf.memory().numTensors).toBe(before);
    const first = (h: unknown[]): { dLoss: number; gLoss: number } => h[0] as { dLoss: number; gLoss: number };
    expect(first(two.history).dLoss).toBeCloseTo(first(one.history).dLoss, 4);
    expect(relError(two.ema, one.ema)).toBeLessThan(1e-2);
  });
});

describe('train-gan options', () => {
  const argv = (extra: Record<string, unknown>): GlobalArgs => ({
    backend: 'wasm', debug: false, quiet: true, out: 'x', seed: 1, steps: 10, batch: 4, 'learning-rate': 2e-4, 'latent-size': 8,
    classes: 'field', 'instance-noise': 0.1, 'instance-noise-steps': 10, 'ema-decay': 0.999, 'checkpoint-every': 5, resume: true, workers: 1, ...extra,
  });

  it('bad values are usage errors that name the flag', () => {
    expect(() => trainGanOptionsOf(argv({ steps: 0 }))).toThrow(expect.objectContaining({ code: 'UA_USAGE', path: '--steps' }) as Error);
    expect(() => trainGanOptionsOf(argv({ workers: 1.5 }))).toThrow(expect.objectContaining({ path: '--workers' }) as Error);
    expect(() => trainGanOptionsOf(argv({ 'max-steps': -1 }))).toThrow(expect.objectContaining({ path: '--max-steps' }) as Error);
    expect(() => trainGanOptionsOf(argv({ 'max-steps': 0.5 }))).toThrow(expect.objectContaining({ path: '--max-steps' }) as Error);
    expect(trainGanOptionsOf(argv({ 'max-steps': 0 })).maxSteps).toBe(0);
    expect(() => trainGanOptionsOf(argv({ 'generator-widths': '8,x' }))).toThrow(expect.objectContaining({ path: '--generator-widths' }) as Error);
    expect(() => resolveTrainGanOptions({ ...trainGanOptionsOf(argv({})), generatorWidths: [8, 8, 8] })).toThrow(expect.objectContaining({ path: 'generatorWidths' }) as Error);
    expect(() => resolveTrainGanOptions({ ...trainGanOptionsOf(argv({ classes: 'field,nowhere' })) })).toThrow(expect.objectContaining({ path: 'classes' }) as Error);
    expect(() => resolveTrainGanOptions(trainGanOptionsOf(argv({ batch: 6, 'minibatch-std-group': 4 })))).toThrow(expect.objectContaining({ path: 'minibatchStdGroup' }) as Error);
    expect(() => resolveTrainGanOptions(trainGanOptionsOf(argv({ 'minibatch-std-group': 1.5 })))).toThrow(expect.objectContaining({ path: 'minibatchStdGroup' }) as Error);
  });

  it('good values become the options of trainGan', () => {
    const o = resolveTrainGanOptions(trainGanOptionsOf(argv({ 'generator-widths': '8,8,8,8', 'd-learning-rate': 4e-4 })));
    expect(o).toMatchObject({ batchSize: 4, generatorWidths: [8, 8, 8, 8], discriminatorWidths: [32], learningRate: 2e-4, discriminatorLearningRate: 4e-4, classes: ['field'] });
  });
});
