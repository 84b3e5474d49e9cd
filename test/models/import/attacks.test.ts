import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildObjective } from '../../../src/attacks/objectives.js';
import { pgd } from '../../../src/attacks/pgd.js';
import { dissect } from '../../../src/dissection/dissect.js';
import { initBackend } from '../../../src/engine/backend.js';
import { importModel } from '../../../src/models/import/import.js';
import { loadClassifier } from '../../../src/models/io.js';
import type { Classifier } from '../../../src/models/types.js';
import { FIXTURES, onnxExpected, pixels } from './helpers.js';

/** The attack pipeline on imported models (loaded from their folders, as every command does), on wasm. */

const expected = onnxExpected();
let dir: string;
const models: Record<string, Classifier> = {};
const LAYERS = { resnet_like: 'layer2', mobilenet_like: 'features.3' } as const;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-import-attacks-'));
  for (const name of Object.keys(LAYERS)) {
    const f = expected.families[name];
    await importModel(path.join(FIXTURES, f.model), path.join(dir, name), { preprocess: f.preprocess });
    models[name] = await loadClassifier(path.join(dir, name));
  }
});

afterAll(async () => {
  for (const m of Object.values(models)) m.dispose();
  await fs.rm(dir, { recursive: true, force: true });
});

/** 8-bit images: the fixture's three plus seeded noise images. */
function images(n: number): tf.Tensor4D {
  return tf.tidy(() => {
    const base = pixels(expected);
    const noise = tf.div(tf.round(tf.mul(tf.randomUniform([n - 3, 32, 32, 3], 0, 1, 'float32', 5), 255)), 255);
    return tf.concat([base, noise]) as tf.Tensor4D;
  });
}

describe.each(Object.entries(LAYERS))('attacks on the imported %s', (name, layer) => {
  it('PGD succeeds on an easy case (untargeted, ε = 8/255), with no NaN and no tensor left behind', async () => {
    const clf = models[name];
    const x = images(6);
    const labels = tf.tidy(() => tf.argMax(clf.logits(x), 1).dataSync() as Int32Array);
    const before = tf.memory().numTensors;
    const r = await pgd(clf, x, labels, { epsilon: '8/255', steps: 10, seed: 3 });
    const adv = await r.adversarial.data();
    r.adversarial.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(adv.every(Number.isFinite)).toBe(true);
    expect(Array.from(r.objective).every(Number.isFinite)).toBe(true);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(5);
    expect(r.backend).toBe('wasm');
    x.dispose();
  });

  it(`the unit objective at '${layer}' (a module alias) has a finite, non-zero gradient that matches the cpu backend`, async () => {
    const clf = models[name];
    const x = images(3);
    const ctx = { labels: new Int32Array(3), targets: null };
    const grad = (): Float32Array => tf.tidy(() => {
      const o = buildObjective(clf, { kind: 'unit', layer, suppress: [0, 1], excite: [2, 3] });
      const g = tf.grad((t: tf.Tensor) => tf.sum(o.loss(clf, t as tf.Tensor4D, ctx)))(x);
      return (g.dataSync() as Float32Array).slice();
    });
    const before = tf.memory().numTensors;
    const onWasm = grad();
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
    const onCpu = grad();
    await tf.setBackend('wasm');
    expect(onWasm.every(Number.isFinite)).toBe(true);
    const scale = Math.max(...onCpu.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(Math.max(...onWasm.map((v, i) => Math.abs(v - onCpu[i]))) / scale).toBeLessThan(1e-4);
    // And PGD on that objective raises it.
    const r = await pgd(clf, x, ctx.labels, { epsilon: '4/255', steps: 5, objective: { kind: 'unit', layer, suppress: [0, 1], excite: [2, 3] }, earlyStop: false });
    const clean = tf.tidy(() => buildObjective(clf, { kind: 'unit', layer, suppress: [0, 1], excite: [2, 3] }).loss(clf, x, ctx).dataSync());
    for (let i = 0; i < 3; i++) expect(r.objective[i]).toBeGreaterThan(clean[i]);
    r.adversarial.dispose();
    x.dispose();
  });

  it('dissects a layer named by its module path on a small probe set', async () => {
    const clf = models[name];
    const before = tf.memory().numTensors;
    const { atlas } = await dissect(clf, 'builtin:scenes?count=12&seed=5', {
      layer, cache: false, importance: false, tmpDir: dir, quantile: 0.05, batchSize: 6, topImages: 2,
    });
    expect(tf.memory().numTensors).toBe(before);
    const channels = clf.layer(layer).shape[2];
    expect(atlas.units).toHaveLength(channels);
    expect(atlas.units.every((u) => Number.isFinite(u.threshold) && u.iou >= 0 && u.iou <= 1)).toBe(true);
  });
});
