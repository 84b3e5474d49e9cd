import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { greedyRanking } from '../../src/dissection/greedy.js';
import { chunksOf, rankUnits } from '../../src/dissection/importance.js';
import { fromLayersModel } from '../../src/models/classifier.js';
import type { Classifier } from '../../src/models/types.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

/**
 * Four units, all 1 on the test images. Class A's logit is 2·relu(u0 + u1 − 0.5) + 1.2·u2 + 1.0·u3 (class B's is 0):
 * u0 and u1 carry the same evidence (zeroing one leaves the other), so alone each drops the logit by 2, but once
 * one of them is zeroed the other adds only 1, less than u2's 1.2.
 */
function redundantModel(): Classifier {
  const input = tf.input({ shape: [1, 1, 3] });
  const feat = tf.layers.conv2d({ name: 'feat', filters: 4, kernelSize: 1, useBias: false });
  const flat = tf.layers.flatten().apply(feat.apply(input)) as tf.SymbolicTensor;
  const h = tf.layers.dense({ name: 'h', units: 1, activation: 'relu' });
  const direct = tf.layers.dense({ name: 'direct', units: 1, useBias: false });
  const both = tf.layers.concatenate().apply([h.apply(flat) as tf.SymbolicTensor, direct.apply(flat) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'out', units: 2, useBias: false });
  const model = tf.model({ inputs: input, outputs: out.apply(both) as tf.SymbolicTensor });
  feat.setWeights([tf.tensor4d([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 3, 4])]); // every unit copies channel 0
  h.setWeights([tf.tensor2d([[1], [1], [0], [0]]), tf.tensor1d([-0.5])]);
  direct.setWeights([tf.tensor2d([[0], [0], [1.2], [1.0]])]);
  out.setWeights([tf.tensor2d([[2, 0], [1, 0]])]);
  return fromLayersModel(model, { classNames: ['A', 'B'] });
}

/** The same greedy choice computed directly: every candidate set zeroed by a tf mask, the whole network rerun. */
function bruteGreedy(clf: Classifier, x: tf.Tensor4D, y: number, layer: string, pool: number[], depth: number): number[] {
  const U = clf.layer(layer).shape.at(-1)!;
  const meanLogp = (zeroed: number[]): number => tf.tidy(() => {
    const mask = tf.tensor1d(Array.from({ length: U }, (_, u) => (zeroed.includes(u) ? 0 : 1)));
    const acts = tf.mul(clf.activations(x, layer), mask);
    const logits = clf.run(null, { overrides: { [layer]: acts } }).logits;
    return tf.mean(tf.gather(tf.logSoftmax(logits), [y], 1)).dataSync()[0];
  });
  const chosen: number[] = [];
  for (let k = 0; k < depth; k++) {
    const rest = pool.filter((u) => !chosen.includes(u));
    let best = rest[0]; let bestLp = Infinity;
    for (const u of rest) {
      const lp = meanLogp([...chosen, u]);
      if (lp < bestLp) { bestLp = lp; best = u; }
    }
    chosen.push(best);
  }
  return chosen;
}

describe('greedyRanking', () => {
  it('sees redundancy that single-unit ablation misses (hand-worked case)', async () => {
    const clf = redundantModel();
    const x = tf.ones<tf.Rank.R4>([3, 1, 1, 3]);
    const chunks = chunksOf(clf, 'feat', x, [0, 0, 0]);
    const single = await rankUnits(clf, 'feat', chunks);
    expect(single.A.ranking).toEqual([0, 1, 2, 3]);
    const before = tf.memory().numTensors;
    const greedy = await greedyRanking(clf, 'feat', chunks, single, { depth: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(greedy.A.ranking).toEqual([0, 2, 1, 3]);
    // logit z of A: 5.2 → 3.2 (u0) → 2.0 (u2) → 1.0 (u1) → 0 (u3); drop of log σ(z) at each step
    const logSig = (z: number): number => -Math.log1p(Math.exp(-z));
    const zs = [5.2, 3.2, 2.0, 1.0, 0];
    for (let k = 0; k < 4; k++) expect(greedy.A.drops[k]).toBeCloseTo(logSig(zs[k]) - logSig(zs[k + 1]), 5);
    x.dispose();
  });

  it('makes the same choices as a brute-force greedy search on a random model', async () => {
    const input = tf.input({ shape: [6, 6, 3] });
    const conv = tf.layers.conv2d({ name: 'conv', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }) });
    const hidden = tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }) });
    const out = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }) });
    const model = tf.model({ inputs: input, outputs: out.apply(hidden.apply(tf.layers.flatten().apply(conv.apply(input)))) as tf.SymbolicTensor });
    const clf = fromLayersModel(model, { classNames: ['a', 'b', 'c'] });
    const x = tf.randomUniform<tf.Rank.R4>([12, 6, 6, 3], 0, 1, 'float32', 4);
    const labels = Array.from({ length: 12 }, (_, i) => i % 3);
    const chunks = chunksOf(clf, 'conv', x, labels, 5);
    const single = await rankUnits(clf, 'conv', chunks);
    const greedy = await greedyRanking(clf, 'conv', chunks, single, { depth: 4, candidates: 6, maxElements: 300 });
    for (const [y, name] of ['a', 'b', 'c'].entries()) {
      const own = tf.gather(x, labels.flatMap((l, i) => (l === y ? [i] : [])));
      expect(greedy[name].ranking.slice(0, 4)).toEqual(bruteGreedy(clf, own, y, 'conv', single[name].ranking.slice(0, 6), 4));
      own.dispose();
      expect([...greedy[name].ranking].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
    x.dispose();
    model.dispose();
  });

  it('rejects a class without a single-unit ranking and bad sizes', async () => {
    const clf = redundantModel();
    const x = tf.ones<tf.Rank.R4>([2, 1, 1, 3]);
    const chunks = chunksOf(clf, 'feat', x, [0, 0]);
    const single = await rankUnits(clf, 'feat', chunks);
    await expect(greedyRanking(clf, 'feat', chunks, single, { classes: ['B'] })).rejects.toThrow(/no single-unit ranking for class 'B'.*/);
    await expect(greedyRanking(clf, 'feat', chunks, single, { depth: 0 })).rejects.toThrow(/depth must be a positive integer/);
    x.dispose();
  });
});
