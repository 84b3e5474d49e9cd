import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromLayersModel } from '../../src/models/classifier.js';
import { buildVgg16 } from '../../src/models/vgg16.js';
import { UnitAttackError } from '../../src/errors.js';
import { expectNoLeak, relError } from '../helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

function branchModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const a = tf.layers.conv2d({ name: 'a', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  const b1 = tf.layers.conv2d({ name: 'b1', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(a) as tf.SymbolicTensor;
  const b2 = tf.layers.conv2d({ name: 'b2', filters: 4, kernelSize: 1, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(a) as tf.SymbolicTensor;
  const merged = tf.layers.add({ name: 'merge' }).apply([b1, b2]) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(merged) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function seqModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ name: 'c1', inputShape: [8, 8, 3], filters: 5, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ name: 'logits', units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }));
  return m;
}

const x = (): tf.Tensor4D => tf.randomUniform<tf.Rank.R4>([2, 8, 8, 3], 0, 1, 'float32', 7);

describe('fromLayersModel', () => {
  it('gives the same logits as predict, for a functional model with a branch and a merge', () => {
    const m = branchModel();
    const clf = fromLayersModel(m, { classNames: ['a', 'b', 'c'] });
    const input = x();
    const expected = (m.predict(input) as tf.Tensor).dataSync();
    const got = clf.logits(input).dataSync();
    expect(relError(got, expected)).toBeLessThan(1e-6);
    expect(clf.defaultLayer).toBe('merge');
    expect(clf.layers.map((l) => l.name)).toEqual(['a', 'b1', 'b2', 'merge', 'gap', 'out']);
  });

  it('gives the same logits as predict for a Sequential model and taps its layers', () => {
    const m = seqModel();
    const clf = fromLayersModel(m);
    const input = x();
    expect(relError(clf.logits(input).dataSync(), (m.predict(input) as tf.Tensor).dataSync())).toBeLessThan(1e-6);
    const act = clf.activations(input, 'c1');
    expect(act.shape).toEqual([2, 6, 6, 5]);
    expect(clf.classNames).toEqual(['class_0', 'class_1']);
  });

  it('zeroing unit u changes only channel u at that layer and nothing before it', () => {
    const clf = fromLayersModel(branchModel());
    const input = x();
    const plain = clf.run(input, { taps: ['a', 'b1'] });
    const edited = clf.run(input, { taps: ['a', 'b1'], edits: { b1: { op: 'zero', units: [2] } } });
    expect(relError(edited.taps.a.dataSync(), plain.taps.a.dataSync())).toBe(0);
    const p = plain.taps.b1.arraySync() as number[][][][];
    const e = edited.taps.b1.arraySync() as number[][][][];
    let otherDiff = 0; let unitMax = 0;
    for (let n = 0; n < 2; n++) for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) for (let c = 0; c < 4; c++) {
      if (c === 2) { expect(e[n][i][j][c]).toBe(0); unitMax = Math.max(unitMax, p[n][i][j][c]); }
      else otherDiff = Math.max(otherDiff, Math.abs(e[n][i][j][c] - p[n][i][j][c]));
    }
    expect(otherDiff).toBe(0);
    expect(unitMax).toBeGreaterThan(0); // the edit had something to remove
    expect(relError(edited.logits.dataSync(), plain.logits.dataSync())).toBeGreaterThan(0);
  });

  it('withEdits, keep, scale and set behave as y = x·mul + add', () => {
    const clf = fromLayersModel(branchModel());
    const input = x();
    const base = clf.activations(input, 'a').arraySync() as number[][][][];
    const keep = clf.withEdits('a', { op: 'keep', units: [1] }).activations(input, 'a').arraySync() as number[][][][];
    const scale = clf.run(input, { taps: ['a'], edits: { a: { op: 'scale', units: [0], factor: 3 } } }).taps.a.arraySync() as number[][][][];
    const set = clf.run(input, { taps: ['a'], edits: { a: { op: 'set', units: [3], value: 0.5 } } }).taps.a.arraySync() as number[][][][];
    for (let c = 0; c < 4; c++) {
      expect(keep[0][1][1][c]).toBeCloseTo(c === 1 ? base[0][1][1][c] : 0, 6);
      expect(scale[0][1][1][c]).toBeCloseTo(c === 0 ? 3 * base[0][1][1][c] : base[0][1][1][c], 5);
      expect(set[0][1][1][c]).toBeCloseTo(c === 3 ? 0.5 : base[0][1][1][c], 6);
    }
  });

  it('overriding a layer with its own output reproduces the logits, without the input', () => {
    const clf = fromLayersModel(seqModel());
    const input = x();
    const act = clf.activations(input, 'c1');
    const direct = clf.logits(input).dataSync();
    const fromOverride = clf.run(null, { overrides: { c1: act } }).logits.dataSync();
    expect(relError(fromOverride, direct)).toBeLessThan(1e-6);
  });

  it('lets gradients flow to the input through taps', () => {
    const clf = fromLayersModel(branchModel());
    const g = tf.grad((inp: tf.Tensor) => tf.sum(clf.activations(inp as tf.Tensor4D, 'merge')))(x());
    expect(tf.sum(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
  });

  it('names the nearest layers when a layer is unknown', () => {
    const clf = fromLayersModel(buildVgg16({ inputSize: 32, numClasses: 3, widthMultiplier: 1 / 16, fcWidth: 64 }));
    expect(() => clf.activations(tf.zeros([1, 32, 32, 3]), 'block5_conv4')).toThrowError(/block5_conv\d/);
    try { clf.layer('blok5_conv3'); } catch (e) {
      expect(e).toBeInstanceOf(UnitAttackError);
      expect((e as UnitAttackError).code).toBe('UA_LAYER');
      expect((e as UnitAttackError).hint).toContain('block5_conv3');
    }
    expect(clf.defaultLayer).toBe('block5_conv3');
  });

  it('rejects inputs of the wrong size with the expected shape in the message', () => {
    const clf = fromLayersModel(seqModel());
    expect(() => clf.logits(tf.zeros([1, 9, 9, 3]))).toThrowError(/\[N, 8, 8, 3\]/);
  });

  it('leaves no tensors behind', async () => {
    const clf = fromLayersModel(branchModel());
    const input = x();
    await expectNoLeak(() => clf.logits(input));
    await expectNoLeak(() => clf.run(input, { taps: ['a', 'gap'], edits: { b2: { op: 'zero', units: [0, 1] } } }));
    await expectNoLeak(() => clf.activations(input, 'b1'));
    await expectNoLeak(() => clf.withEdits('a', { op: 'zero', units: [0] }).logits(input));
    input.dispose();
  });
});
