import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import type { UnitAttackError } from '../../src/errors.js';
import { generatorFromModel, latentStream, loadGenerator } from '../../src/gan/generator.js';
import { buildGenerator } from '../../src/gan/net.js';
import { layersGraph, runLayersGraph } from '../../src/models/layers-graph.js';
import { saveGenerator } from '../../src/gan/save.js';
import type { GeneratorEdit } from '../../src/gan/types.js';
import { relError } from '../helpers.js';
import { TINY_LATENT, TINY_SIZE, tinyGeneratorModel, treeLabel } from './fixtures.js';

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-generator-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const SIDE = { latentSize: TINY_LATENT, latentDistribution: 'normal' as const, outputRange: [-1, 1] as [number, number], outputSize: TINY_SIZE, layers: ['layer1', 'layer2'], defaultLayer: 'layer2' };

/**
 * The tiny generator's images recomputed in plain JavaScript from its `layer2` map `[n, 8, 8, 2]` (already edited):
 * nearest ×2, the 1×1 conv to RGB, tanh, mapped to [0, 1].
 */
function imagesFrom(layer2: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * TINY_SIZE * TINY_SIZE * 3);
  const W = [[-4, 4, -4], [0, 0, 0]]; const B = [-1, -1, 1];
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < TINY_SIZE; y++) {
      for (let x = 0; x < TINY_SIZE; x++) {
        const a = (((i * 8 + (y >> 1)) * 8) + (x >> 1)) * 2;
        for (let c = 0; c < 3; c++) {
          const v = B[c] + W[0][c] * layer2[a] + W[1][c] * layer2[a + 1];
          out[((i * TINY_SIZE + y) * TINY_SIZE + x) * 3 + c] = (Math.tanh(v) + 1) / 2;
        }
      }
    }
  }
  return out;
}

/** Applies an edit to a `[n, 8, 8, 2]` map in plain JavaScript. */
function editBy(map: Float32Array, n: number, e: GeneratorEdit): Float32Array {
  const out = map.slice();
  const inRegion = (y: number, x: number): boolean => !e.region || (y >= e.region.rows[0] && y < e.region.rows[1] && x >= e.region.cols[0] && x < e.region.cols[1]);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        if (!inRegion(y, x)) continue;
        for (let u = 0; u < 2; u++) {
          const k = ((i * 8 + y) * 8 + x) * 2 + u;
          const j = e.units.indexOf(u);
          if (e.op === 'zero' && j >= 0) out[k] = 0;
          else if (e.op === 'keep' && j < 0) out[k] = 0;
          else if (e.op === 'scale' && j >= 0) out[k] *= e.factor;
          else if (e.op === 'set' && j >= 0) out[k] = typeof e.value === 'number' ? e.value : e.value[j];
        }
      }
    }
  }
  return out;
}

describe('latent streams', () => {
  it('latent i depends only on (seed, i): any cut of the stream gives the same vectors', () => {
    const all = latentStream(3, 0, 10, 5);
    expect(Array.from(latentStream(3, 4, 3, 5))).toEqual(Array.from(all.subarray(20, 35)));
    expect(Array.from(latentStream(3, 9, 1, 5))).toEqual(Array.from(all.subarray(45, 50)));
    expect(Array.from(latentStream(4, 0, 1, 5))).not.toEqual(Array.from(all.subarray(0, 5)));
  });

  it('draws standard normals (odd sizes too)', () => {
    const v = latentStream(1, 0, 2000, 7);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
    expect(v.every(Number.isFinite)).toBe(true);
  });

  it('the adapter returns them as a tensor [count, latentSize]', () => {
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(2, 5, 3);
    expect(z.shape).toEqual([3, TINY_LATENT]);
    expect(Array.from(z.dataSync())).toEqual(Array.from(latentStream(2, 5, 3, TINY_LATENT)));
    z.dispose();
    g.dispose();
  });
});

describe('the generator adapter', () => {
  it('describes the model: latent size, output side, layers, the 8×8 default layer', () => {
    const g = generatorFromModel(tinyGeneratorModel(), { layers: ['layer1', 'layer2'] });
    expect(g.latentSize).toBe(TINY_LATENT);
    expect(g.outputSize).toBe(TINY_SIZE);
    expect(g.outputRange).toEqual([-1, 1]);
    expect(g.layers.map((l) => [l.name, l.shape])).toEqual([['layer1', [4, 4, 2]], ['layer2', [8, 8, 2]]]);
    expect(g.defaultLayer).toBe('layer2');
    g.dispose();
  });

  it('generates images in [0, 1] equal to the model output mapped from [-1, 1], with taps, and leaks no tensors', () => {
    const model = tinyGeneratorModel();
    const g = generatorFromModel(model);
    const z = g.latents(1, 0, 6);
    const before = tf.memory().numTensors;
    const r = g.generate(z, { taps: ['layer2'] });
    expect(r.images.shape).toEqual([6, TINY_SIZE, TINY_SIZE, 3]);
    const ref = tf.tidy(() => tf.div(tf.add(model.predict(z) as tf.Tensor, 1), 2).dataSync());
    expect(relError(r.images.dataSync(), ref)).toBeLessThan(1e-6);
    expect(relError(r.images.dataSync(), imagesFrom(r.taps.layer2.dataSync() as Float32Array, 6))).toBeLessThan(1e-5);
    tf.dispose([r.images, r.taps.layer2]);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    g.dispose();
  });

  it('paints trees where unit 0 fires: zeroing unit 0 leaves no tree pixel', () => {
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(1, 0, 16);
    const count = (edits?: Record<string, GeneratorEdit>): number => {
      const r = g.generate(z, edits ? { edits } : {});
      const px = r.images.dataSync();
      r.images.dispose();
      let n = 0;
      for (let i = 0; i < px.length; i += 3) if (treeLabel(px[i], px[i + 1], px[i + 2]) === 1) n++;
      return n;
    };
    expect(count()).toBeGreaterThan(100);
    expect(count({ layer2: { op: 'zero', units: [0] } })).toBe(0);
    expect(count({ layer2: { op: 'zero', units: [1] } })).toBe(count());
    z.dispose();
    g.dispose();
  });

  const edits: Array<[string, GeneratorEdit]> = [
    ['zero', { op: 'zero', units: [0] }],
    ['scale', { op: 'scale', units: [0, 1], factor: 0.5 }],
    ['keep', { op: 'keep', units: [1] }],
    ['set (one value)', { op: 'set', units: [0], value: 2 }],
    ['set (per unit) in a region', { op: 'set', units: [1, 0], value: [0.3, 1.5], region: { rows: [2, 5], cols: [1, 3] } }],
    ['zero in one cell', { op: 'zero', units: [0, 1], region: { rows: [7, 8], cols: [0, 1] } }],
  ];
  for (const [what, edit] of edits) {
    it(`a ${what} edit gives the images recomputed by hand from the edited map`, () => {
      const g = generatorFromModel(tinyGeneratorModel());
      const z = g.latents(4, 0, 5);
      const plain = g.generate(z, { taps: ['layer2'] });
      const map = plain.taps.layer2.dataSync() as Float32Array;
      const before = tf.memory().numTensors;
      const r = g.generate(z, { edits: { layer2: edit }, taps: ['layer2'] });
      const expected = editBy(map, 5, edit);
      expect(relError(r.taps.layer2.dataSync(), expected)).toBeLessThan(1e-6);
      expect(relError(r.images.dataSync(), imagesFrom(expected, 5))).toBeLessThan(1e-5);
      tf.dispose([r.images, r.taps.layer2]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([plain.images, plain.taps.layer2, z]);
      g.dispose();
    });
  }

  it('applies several edits of one layer in order', () => {
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(4, 0, 3);
    const a: GeneratorEdit = { op: 'set', units: [0], value: 3 };
    const b: GeneratorEdit = { op: 'zero', units: [0], region: { rows: [0, 4], cols: [0, 8] } };
    const plain = g.generate(z, { taps: ['layer2'] });
    const r = g.generate(z, { edits: { layer2: [a, b] }, taps: ['layer2'] });
    const expected = editBy(editBy(plain.taps.layer2.dataSync() as Float32Array, 3, a), 3, b);
    expect(relError(r.taps.layer2.dataSync(), expected)).toBeLessThan(1e-6);
    tf.dispose([plain.images, plain.taps.layer2, r.images, r.taps.layer2, z]);
    g.dispose();
  });

  it('resumes from a layer\'s output: the same images as a full run, the layers before it not needed', () => {
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(6, 0, 4);
    const plain = g.generate(z, { taps: ['layer1', 'layer2'] });
    const edit: GeneratorEdit = { op: 'set', units: [1], value: 2, region: { rows: [1, 4], cols: [2, 6] } };
    const before = tf.memory().numTensors;
    const full = g.generate(z, { edits: { layer2: edit } });
    const fromLayer2 = g.generate(z, { edits: { layer2: edit }, resume: { layer: 'layer2', value: plain.taps.layer2 } });
    const fromLayer1 = g.generate(z, { edits: { layer2: edit }, resume: { layer: 'layer1', value: plain.taps.layer1 } });
    expect(Array.from(fromLayer2.images.dataSync())).toEqual(Array.from(full.images.dataSync()));
    expect(Array.from(fromLayer1.images.dataSync())).toEqual(Array.from(full.images.dataSync()));
    expect(relError(full.images.dataSync(), imagesFrom(editBy(plain.taps.layer2.dataSync() as Float32Array, 4, edit), 4))).toBeLessThan(1e-5);
    // Zeros in place of the latents: nothing before layer2 is read.
    const zeros = tf.zeros<tf.Rank.R2>([4, TINY_LATENT]);
    const noLatents = g.generate(zeros, { resume: { layer: 'layer2', value: plain.taps.layer2 } });
    expect(Array.from(noLatents.images.dataSync())).toEqual(Array.from(plain.images.dataSync()));
    // An unedited tap of the resumed layer is a copy the caller disposes on its own.
    const tapped = g.generate(z, { taps: ['layer2'], resume: { layer: 'layer2', value: plain.taps.layer2 } });
    expect(tapped.taps.layer2).not.toBe(plain.taps.layer2);
    expect(Array.from(tapped.taps.layer2.dataSync())).toEqual(Array.from(plain.taps.layer2.dataSync()));
    tf.dispose([full.images, fromLayer2.images, fromLayer1.images, zeros, noLatents.images, tapped.images, tapped.taps.layer2]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([plain.images, plain.taps.layer1, plain.taps.layer2, z]);
    g.dispose();
  });

  it('refuses a resume value of the wrong shape, and edits or taps before the resumed layer', () => {
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(6, 0, 3);
    const plain = g.generate(z, { taps: ['layer2'] });
    const before = tf.memory().numTensors;
    const other = g.latents(6, 0, 2);
    const shortBatch = g.generate(other, { taps: ['layer2'] });
    expect(() => g.generate(z, { resume: { layer: 'layer2', value: shortBatch.taps.layer2 } })).toThrow(/resume\.value for layer 'layer2' .* must be \[3,8,8,2\]/);
    expect(() => g.generate(z, { edits: { layer1: { op: 'zero', units: [0] } }, resume: { layer: 'layer2', value: plain.taps.layer2 } })).toThrow(/'layer1' \(before it\) cannot be edited or tapped/);
    expect(() => g.generate(z, { taps: ['layer1'], resume: { layer: 'layer2', value: plain.taps.layer2 } })).toThrow(/cannot be edited or tapped/);
    tf.dispose([other, shortBatch.images, shortBatch.taps.layer2]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([plain.images, plain.taps.layer2, z]);
    g.dispose();
  });

  it('rejects an unknown layer (listing the nearest), units out of range, a region outside the map, a wrong latent shape', () => {
    const g = generatorFromModel(tinyGeneratorModel());
    const z = g.latents(1, 0, 2);
    const err = (f: () => unknown): UnitAttackError => {
      try { f(); } catch (e) { return e as UnitAttackError; }
      throw new Error('no error');
    };
    const before = tf.memory().numTensors;
    const e1 = err(() => g.generate(z, { taps: ['layer3'] }));
    expect(e1.code).toBe('UA_LAYER');
    expect(e1.hint).toMatch(/layer2|layer1/);
    const e2 = err(() => g.generate(z, { edits: { layer2: { op: 'zero', units: [2] } } }));
    expect(e2.code).toBe('UA_USAGE');
    expect(e2.message).toMatch(/unit 2 is out of range .* 2 units \(0…1\)/);
    const e3 = err(() => g.generate(z, { edits: { layer2: { op: 'zero', units: [0], region: { rows: [6, 9], cols: [0, 1] } } } }));
    expect(e3.path).toBe('region');
    expect(e3.message).toMatch(/not inside the 8×8 map/);
    const e4 = err(() => g.generate(z, { edits: { layer2: { op: 'set', units: [0, 1], value: [1] } } }));
    expect(e4.path).toBe('value');
    const e5 = err(() => g.generate(tf.zeros<tf.Rank.R2>([2, 3])));
    expect(e5.path).toBe('z');
    expect(tf.memory().numTensors).toBe(before + 1); // the zeros of the last call
    z.dispose();
    g.dispose();
  });

  it('runs each convolution with its leaky ReLU as one op: the same images, taps and edits of the convolution honoured', () => {
    const model = buildGenerator({ latentSize: 8, widths: [6, 6, 5, 5, 4, 4], seed: 3 });
    const graph = layersGraph(model);
    // Every convolution but the 1×1 output one (followed by tanh) pairs with its leaky ReLU.
    expect([...graph.fusible].map(([c, r]) => `${c.outboundLayer.name}>${r.outboundLayer.name}`))
      .toEqual(['layer2_conv>layer2', 'layer3_conv>layer3', 'layer4_conv>layer4', 'layer5_conv>layer5', 'layer6_conv>layer6']);
    const g = generatorFromModel(model, { outputRange: [-1, 1] });
    const z = g.latents(4, 0, 3);
    const unfused = (o: { taps?: string[]; edit?: (layer: string, t: tf.Tensor) => tf.Tensor } = {}): Float32Array => tf.tidy(() =>
      // An edit callback without `edited` turns fusion off: the layers run one by one, as predict runs them.
      runLayersGraph(graph, z, { taps: o.taps, edit: o.edit ?? ((_l, t) => t) }).output.dataSync() as Float32Array);
    const predicted = tf.tidy(() => (model.predict(z) as tf.Tensor).dataSync() as Float32Array);
    const before = tf.memory().numTensors;
    const plain = g.generate(z);
    expect(relError(plain.images.dataSync() as Float32Array, predicted.map((v) => (v + 1) / 2))).toBeLessThan(1e-6);
    expect(relError(plain.images.dataSync() as Float32Array, unfused().map((v) => (v + 1) / 2))).toBeLessThan(1e-6);
    // Tapping a convolution gives its pre-activation output, and the images are unchanged.
    const tapped = g.generate(z, { taps: ['layer3_conv', 'layer3'] });
    const conv = tapped.taps.layer3_conv.dataSync() as Float32Array;
    expect(Math.min(...conv)).toBeLessThan(0); // before the leaky ReLU, some values are negative
    const act = tapped.taps.layer3.dataSync() as Float32Array;
    expect(relError(act, conv.map((v) => (v > 0 ? v : 0.2 * v)))).toBeLessThan(1e-6);
    expect(relError(tapped.images.dataSync() as Float32Array, plain.images.dataSync() as Float32Array)).toBe(0);
    // Editing a convolution edits what its leaky ReLU sees.
    const edited = g.generate(z, { edits: { layer3_conv: { op: 'zero', units: [0, 1] } }, taps: ['layer3'] });
    const relu = edited.taps.layer3.dataSync() as Float32Array;
    for (let i = 0; i < relu.length; i += 5) expect(Math.abs(relu[i]) + Math.abs(relu[i + 1])).toBe(0);
    const byHand = unfused({ edit: (layer, t) => (layer === 'layer3_conv' ? tf.mul(t, tf.tensor1d([0, 0, 1, 1, 1])) : t) });
    expect(relError(edited.images.dataSync() as Float32Array, byHand.map((v) => (v + 1) / 2))).toBeLessThan(1e-6);
    tf.dispose([plain.images, tapped.images, edited.images, ...Object.values(tapped.taps), ...Object.values(edited.taps)]);
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    g.dispose();
  });

  it('fingerprints topology and weights, not auto-generated layer names', () => {
    const build = (w: number): tf.LayersModel => {
      const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 12, kernelInitializer: tf.initializers.constant({ value: w }) }), tf.layers.reshape({ targetShape: [2, 2, 3], name: 'map' })] });
      return m;
    };
    const a = build(0.5); const b = build(0.5); const c = build(0.25);
    expect(a.layers[0].name).not.toBe(b.layers[0].name);
    const [ga, gb, gc] = [a, b, c].map((m) => generatorFromModel(m));
    expect(ga.fingerprint).toBe(gb.fingerprint);
    expect(ga.fingerprint).not.toBe(gc.fingerprint);
    [ga, gb, gc].forEach((g) => g.dispose());
  });
});

describe('loading generators', () => {
  it('loads a generator folder (and its model.json) with the same images and fingerprint', async () => {
    const model = tinyGeneratorModel();
    const folder = path.join(dir, 'tiny');
    await saveGenerator(model, folder, SIDE);
    const a = generatorFromModel(model, { layers: SIDE.layers });
    const b = await loadGenerator(folder);
    const c = await loadGenerator(path.join(folder, 'model.json'));
    expect(b.defaultLayer).toBe('layer2');
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(c.fingerprint).toBe(a.fingerprint);
    const z = a.latents(1, 0, 3);
    const ia = a.generate(z).images; const ib = b.generate(z).images;
    expect(relError(ib.dataSync(), ia.dataSync())).toBe(0);
    tf.dispose([z, ia, ib]);
    [a, b, c].forEach((g) => g.dispose());
  });

  it('refuses a sidecar whose output range the samples leave, or whose latent size is wrong, naming the field', async () => {
    const folder = path.join(dir, 'bad-range');
    await saveGenerator(tinyGeneratorModel(), folder, { ...SIDE, outputRange: [0, 0.5] });
    await expect(loadGenerator(folder)).rejects.toMatchObject({ code: 'UA_MODEL', path: 'outputRange', message: expect.stringMatching(/outside the "outputRange" \[0, 0\.5\]/) as unknown });
    const folder2 = path.join(dir, 'bad-latent');
    await saveGenerator(tinyGeneratorModel(), folder2, { ...SIDE, latentSize: 8 });
    await expect(loadGenerator(folder2)).rejects.toMatchObject({ code: 'UA_MODEL', path: 'latentSize' });
    const folder3 = path.join(dir, 'bad-layer');
    await saveGenerator(tinyGeneratorModel(), folder3, { ...SIDE, layers: ['layer1', 'layer22'] });
    await expect(loadGenerator(folder3)).rejects.toMatchObject({ code: 'UA_LAYER', hint: expect.stringMatching(/layer2/) as unknown });
    await expect(loadGenerator(path.join(dir, 'nothing'))).rejects.toMatchObject({ code: 'UA_MODEL', path: 'model' });
    await expect(loadGenerator('builtin:no-such-gan')).rejects.toMatchObject({ code: 'UA_MODEL', hint: expect.stringMatching(/builtin:scenes-gan/) as unknown });
  });

  it('loads builtin:scenes-gan: 64×64 scenes, layer4 an 8×8 map by default, no tensors left behind', async () => {
    const before = tf.memory().numTensors;
    const g = await loadGenerator('builtin:scenes-gan');
    expect(g.outputSize).toBe(64);
    expect(g.defaultLayer).toBe('layer4');
    expect(g.layer('layer4').shape.slice(0, 2)).toEqual([8, 8]);
    const z = g.latents(1, 0, 2);
    const r = g.generate(z, { taps: ['layer4'] });
    expect(r.images.shape).toEqual([2, 64, 64, 3]);
    const px = r.images.dataSync();
    expect(Math.min(...px)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...px)).toBeLessThanOrEqual(1);
    tf.dispose([z, r.images, r.taps.layer4]);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
