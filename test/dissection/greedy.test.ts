import * as tf from '../../src/tf.js';
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

/**
 * The same greedy choice computed directly: every candidate set zeroed by a tf mask and the whole network rerun; a
 * candidate scores the drop of the class's mean log-probability minus λ times the drop on the other images.
 */
function bruteGreedy(
  clf: Classifier, own: { x: tf.Tensor4D; y: number }, others: { x: tf.Tensor4D; y: number[] } | null, layer: string,
  pool: number[], depth: number, lambda = 0, metric: 'logprob' | 'accuracy' = 'logprob',
): number[] {
  const U = clf.layer(layer).shape.at(-1)!;
  // mean log-probability of the true class, or accuracy, with the units `zeroed`
  const mean = (x: tf.Tensor4D, y: number[], zeroed: number[], m: 'logprob' | 'accuracy'): number => tf.tidy(() => {
    const mask = tf.tensor1d(Array.from({ length: U }, (_, u) => (zeroed.includes(u) ? 0 : 1)));
    const logits = clf.run(null, { overrides: { [layer]: tf.mul(clf.activations(x, layer), mask) } }).logits;
    if (m === 'accuracy') return tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(y, 'int32')), 'float32')).dataSync()[0];
    return tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(y, clf.classNames.length)), 1)).dataSync()[0];
  });
  const ownY = Array.from({ length: own.x.shape[0] }, () => own.y);
  const score = (zeroed: number[], m: 'logprob' | 'accuracy'): number =>
    -mean(own.x, ownY, zeroed, m) + (others && lambda > 0 ? lambda * mean(others.x, others.y, zeroed, m) : 0);
  const chosen: number[] = [];
  for (let k = 0; k < depth; k++) {
    const rest = pool.filter((u) => !chosen.includes(u));
    // lexicographic: the metric's score, then (for accuracy) the log-probability drop of the class alone
    let best = rest[0]; let bestScore = -Infinity; let bestTie = -Infinity;
    for (const u of rest) {
      const v = score([...chosen, u], metric);
      const tie = -mean(own.x, ownY, [...chosen, u], 'logprob');
      if (v > bestScore + 1e-6 || (Math.abs(v - bestScore) <= 1e-6 && tie > bestTie + 1e-6)) { bestScore = v; bestTie = tie; best = u; }
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

  it('makes the same choices as a brute-force greedy search on a random model, with and without specificity', async () => {
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
    const tops: string[] = [];
    for (const lambda of [0, 1.5]) {
      const greedy = await greedyRanking(clf, 'conv', chunks, single, { depth: 4, candidates: 6, maxElements: 300, specificity: lambda });
      tops.push(JSON.stringify(Object.values(greedy).map((r) => r.ranking.slice(0, 4))));
      for (const [y, name] of ['a', 'b', 'c'].entries()) {
        const pick = (keep: (l: number) => boolean): number[] => labels.flatMap((l, i) => (keep(l) ? [i] : []));
        const ownX = tf.gather(x, pick((l) => l === y));
        const otherIdx = pick((l) => l !== y);
        const otherX = tf.gather(x, otherIdx);
        const expected = bruteGreedy(clf, { x: ownX, y }, { x: otherX, y: otherIdx.map((i) => labels[i]) }, 'conv', single[name].ranking.slice(0, 6), 4, lambda);
        expect(greedy[name].ranking.slice(0, 4)).toEqual(expected);
        tf.dispose([ownX, otherX]);
        expect([...greedy[name].ranking].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      }
    }
    expect(tops[1]).not.toBe(tops[0]); // the specificity term changed some choice
    x.dispose();
    model.dispose();
  });

  it('ranks by accuracy with log-probability tie-breaks, as a brute-force search does', async () => {
    const input = tf.input({ shape: [5, 5, 3] });
    const conv = tf.layers.conv2d({ name: 'conv', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 21 }) });
    const out = tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 22 }) });
    const model = tf.model({ inputs: input, outputs: out.apply(tf.layers.flatten().apply(conv.apply(input))) as tf.SymbolicTensor });
    const clf = fromLayersModel(model, { classNames: ['a', 'b'] });
    const x = tf.randomUniform<tf.Rank.R4>([16, 5, 5, 3], 0, 1, 'float32', 5);
    // every image labelled with the class the model predicts, so accuracy starts at 1 and each step can only flip
    const labels = Array.from(tf.tidy(() => tf.argMax(clf.logits(x), 1)).dataSync());
    const chunks = chunksOf(clf, 'conv', x, labels, 6);
    const single = await rankUnits(clf, 'conv', chunks, { metric: 'accuracy' });
    const before = tf.memory().numTensors;
    const greedy = await greedyRanking(clf, 'conv', chunks, single, { depth: 5, candidates: 8, metric: 'accuracy' });
    expect(tf.memory().numTensors).toBe(before);
    let flips = 0;
    for (const [y, name] of ['a', 'b'].entries()) {
      const own = labels.flatMap((l, i) => (l === y ? [i] : []));
      if (own.length === 0) continue;
      const ownX = tf.gather(x, own);
      expect(greedy[name].ranking.slice(0, 5)).toEqual(bruteGreedy(clf, { x: ownX, y }, null, 'conv', single[name].ranking.slice(0, 8), 5, 0, 'accuracy'));
      flips += greedy[name].drops.slice(0, 5).reduce((a, b) => a + b, 0);
      ownX.dispose();
    }
    expect(flips).toBeGreaterThan(0); // some step flipped images, so accuracy (not only the tie-break) chose
    await expect(greedyRanking(clf, 'conv', chunks, single, { metric: 'margin' as 'accuracy' })).rejects.toThrow(/metric must be 'logprob' or 'accuracy'/);
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
