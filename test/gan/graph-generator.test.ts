import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { loadGenerator } from '../../src/gan/generator.js';
import * as tf from '../../src/tf.js';
import { relError } from '../helpers.js';

/**
 * A generator in the TensorFlow.js graph format, written by hand: latent [N, 4] → MatMul → Reshape to 4×4×2 → Relu
 * (node `features`, the sidecar's `layer1`) → 1×1 Conv2D to RGB → Tanh, so 4×4 images in [-1, 1].
 */
const W1 = Array.from({ length: 32 }, (_, i) => Math.sin(i * 1.7) * 0.9 + (i % 2 === 0 ? 0.2 : -0.3));
const W1full = Array.from({ length: 4 * 32 }, (_, i) => W1[i % 32] * (1 + 0.25 * Math.floor(i / 32)) * (i % 3 === 0 ? -1 : 1));
const W2 = [1.5, -1, 0.5, -0.5, 1, 2]; // [1, 1, 2, 3]: row k = feature k, columns r, g, b

const dims = (...d: number[]): { dim: Array<{ size: string }> } => ({ dim: d.map((s) => ({ size: String(s) })) });
const F = { type: 'DT_FLOAT' };
const s64 = (s: string): string => Buffer.from(s).toString('base64');
const topology = {
  node: [
    { name: 'latent', op: 'Placeholder', attr: { dtype: F, shape: { shape: dims(-1, 4) } } },
    { name: 'w1', op: 'Const', attr: { dtype: F, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(4, 32) } } } },
    { name: 'mm', op: 'MatMul', input: ['latent', 'w1'], attr: { T: F, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'shape', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: dims(4) } } } },
    { name: 'rs', op: 'Reshape', input: ['mm', 'shape'], attr: { T: F, Tshape: { type: 'DT_INT32' } } },
    { name: 'features', op: 'Relu', input: ['rs'], attr: { T: F } },
    { name: 'w2', op: 'Const', attr: { dtype: F, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(1, 1, 2, 3) } } } },
    {
      name: 'conv', op: 'Conv2D', input: ['features', 'w2'],
      attr: { T: F, strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: s64('SAME') }, data_format: { s: s64('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } } },
    },
    { name: 'image', op: 'Tanh', input: ['conv'], attr: { T: F } },
  ],
  versions: { producer: 1 },
};

/** The same network in plain JavaScript from the `features` map `[n, 4, 4, 2]`: images mapped to [0, 1]. */
function imagesFrom(features: ArrayLike<number>, n: number): Float32Array {
  const out = new Float32Array(n * 16 * 3);
  for (let p = 0; p < n * 16; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = (Math.tanh(features[p * 2] * W2[c] + features[p * 2 + 1] * W2[3 + c]) + 1) / 2;
  }
  return out;
}

function featuresOf(z: ArrayLike<number>, n: number): Float32Array {
  const f = new Float32Array(n * 32);
  for (let i = 0; i < n; i++) for (let j = 0; j < 32; j++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += z[i * 4 + k] * W1full[k * 32 + j];
    f[i * 32 + j] = Math.max(0, s);
  }
  return f;
}

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-graph-gen-'));
  const weights = Buffer.concat([
    Buffer.from(new Float32Array(W1full).buffer), Buffer.from(new Int32Array([-1, 4, 4, 2]).buffer), Buffer.from(new Float32Array(W2).buffer),
  ]);
  await fs.writeFile(path.join(dir, 'weights.bin'), weights);
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify({
    format: 'graph-model', generatedBy: 'hand', convertedBy: 'hand', modelTopology: topology,
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w1', shape: [4, 32], dtype: 'float32' }, { name: 'shape', shape: [4], dtype: 'int32' }, { name: 'w2', shape: [1, 1, 2, 3], dtype: 'float32' }] }],
  }));
  await fs.writeFile(path.join(dir, 'unit-attack.json'), JSON.stringify({
    format: 'unit-attack-generator', version: 1, latentSize: 4, latentDistribution: 'normal', outputRange: [-1, 1], outputSize: 4,
    layers: ['layer1'], defaultLayer: 'layer1', nodes: { layer1: 'features' },
  }));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe('a graph-model generator', () => {
  it('maps the sidecar layer names to graph nodes: taps, images and regional edits equal a by-hand recomputation', async () => {
    const g = await loadGenerator(dir);
    expect(g.layers.map((l) => [l.name, l.shape])).toEqual([['layer1', [4, 4, 2]]]);
    expect(g.outputSize).toBe(4);
    const z = g.latents(2, 0, 3);
    const zv = z.dataSync();
    const before = tf.memory().numTensors;
    const plain = g.generate(z, { taps: ['layer1'] });
    const f = featuresOf(zv, 3);
    expect(relError(plain.taps.layer1.dataSync(), f)).toBeLessThan(1e-5);
    expect(relError(plain.images.dataSync(), imagesFrom(f, 3))).toBeLessThan(1e-5);
    const edited = g.generate(z, { taps: ['layer1'], edits: { layer1: { op: 'set', units: [0, 1], value: [2, 0], region: { rows: [1, 3], cols: [0, 2] } } } });
    const fe = f.slice();
    for (let i = 0; i < 3; i++) for (let r = 1; r < 3; r++) for (let c = 0; c < 2; c++) { fe[((i * 4 + r) * 4 + c) * 2] = 2; fe[((i * 4 + r) * 4 + c) * 2 + 1] = 0; }
    expect(relError(edited.taps.layer1.dataSync(), fe)).toBeLessThan(1e-5);
    expect(relError(edited.images.dataSync(), imagesFrom(fe, 3))).toBeLessThan(1e-5);
    // Resumed from layer1's output: the same images, edited or not, without the latents.
    const zeros = tf.zeros<tf.Rank.R2>([3, 4]);
    const resumed = g.generate(zeros, { resume: { layer: 'layer1', value: plain.taps.layer1 } });
    expect(Array.from(resumed.images.dataSync())).toEqual(Array.from(plain.images.dataSync()));
    const resumedEdit = g.generate(zeros, { taps: ['layer1'], edits: { layer1: { op: 'set', units: [0, 1], value: [2, 0], region: { rows: [1, 3], cols: [0, 2] } } }, resume: { layer: 'layer1', value: plain.taps.layer1 } });
    expect(Array.from(resumedEdit.images.dataSync())).toEqual(Array.from(edited.images.dataSync()));
    expect(relError(resumedEdit.taps.layer1.dataSync(), fe)).toBeLessThan(1e-6);
    const tapped = g.generate(zeros, { taps: ['layer1'], resume: { layer: 'layer1', value: plain.taps.layer1 } });
    expect(tapped.taps.layer1).not.toBe(plain.taps.layer1);
    tf.dispose([plain.images, plain.taps.layer1, edited.images, edited.taps.layer1, zeros, resumed.images, resumedEdit.images, resumedEdit.taps.layer1, tapped.images, tapped.taps.layer1]);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    let err: unknown;
    try { g.layer('layer2'); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'UA_LAYER', hint: expect.stringMatching(/layer1/) as unknown });
    g.dispose();
  });
});
