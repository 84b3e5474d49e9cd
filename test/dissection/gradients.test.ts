import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { classGradients, steeringRanking } from '../../src/dissection/gradients.js';
import { chunksOf } from '../../src/dissection/importance.js';
import { fromLayersModel } from '../../src/models/classifier.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('classGradients', () => {
  it('equals the weights and weight × mean activation for a linear head (hand-worked)', async () => {
    // z_k = Σ_u W[u][k] · mean_p a_u(p) + b_k: Σ_p ∂z_k/∂a_u(p) = W[u][k]; Σ_p a_u(p)·∂z_k/∂a_u(p) = W[u][k]·mean_p a_u(p)
    const input = tf.input({ shape: [4, 4, 3] });
    const conv = tf.layers.conv2d({ name: 'feat', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) });
    const dense = tf.layers.dense({ units: 2 });
    const model = tf.model({ inputs: input, outputs: dense.apply(tf.layers.globalAveragePooling2d({}).apply(conv.apply(input))) as tf.SymbolicTensor });
    const W = [[1.5, -0.5], [-2, 0.25], [0.75, 3]];
    dense.setWeights([tf.tensor2d(W), tf.tensor1d([0.1, -0.2])]);
    const clf = fromLayersModel(model, { classNames: ['a', 'b'] });
    const x = tf.randomUniform<tf.Rank.R4>([7, 4, 4, 3], 0, 1, 'float32', 2);
    const labels = [0, 1, 0, 0, 1, 1, 0];
    const before = tf.memory().numTensors;
    const g = await classGradients(clf, 'feat', chunksOf(clf, 'feat', x, labels, 3));
    expect(tf.memory().numTensors).toBe(before);
    const acts = clf.activations(x, 'feat');
    const meanAct = tf.mean(acts, [1, 2]).arraySync() as number[][];
    acts.dispose();
    for (const [y, name] of ['a', 'b'].entries()) {
      const own = labels.flatMap((l, i) => (l === y ? [i] : []));
      expect(g[name].count).toBe(own.length);
      for (let k = 0; k < 2; k++) for (let u = 0; u < 3; u++) {
        expect(g[name].gain[k][u]).toBeCloseTo(W[u][k], 5);
        const m = own.reduce((s, i) => s + meanAct[i][u], 0) / own.length;
        expect(g[name].attribution[k][u]).toBeCloseTo(W[u][k] * m, 5);
      }
    }
    x.dispose();
    model.dispose();
  });

  it('matches central finite differences on a nonlinear head', async () => {
    const input = tf.input({ shape: [3, 3, 3] });
    const conv = tf.layers.conv2d({ name: 'feat', filters: 4, kernelSize: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) });
    const hidden = tf.layers.dense({ units: 5, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) });
    const out = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) });
    const model = tf.model({ inputs: input, outputs: out.apply(hidden.apply(tf.layers.flatten().apply(conv.apply(input)))) as tf.SymbolicTensor });
    const clf = fromLayersModel(model, { classNames: ['a', 'b', 'c'] });
    const x = tf.randomUniform<tf.Rank.R4>([6, 3, 3, 3], 0, 1, 'float32', 8);
    const labels = [2, 0, 2, 1, 2, 0];
    const g = await classGradients(clf, 'feat', chunksOf(clf, 'feat', x, labels, 4));
    const acts = clf.activations(x, 'feat') as tf.Tensor4D;
    const own = labels.flatMap((l, i) => (l === 2 ? [i] : []));
    const a = tf.gather(acts, own);
    const h = 1e-2;
    const meanLogits = (edit: tf.Tensor4D): number[] => tf.tidy(() => Array.from(tf.mean(clf.run(null, { overrides: { feat: edit } }).logits, 0).dataSync()));
    for (let u = 0; u < 4; u++) {
      const e = tf.oneHot(tf.tensor1d([u], 'int32'), 4).reshape([1, 1, 1, 4]);
      const shifted = (sign: number, byAct: boolean): number[] => tf.tidy(() => {
        const step = tf.mul(byAct ? tf.mul(a, e) : e, sign * h);
        return meanLogits(tf.add<tf.Tensor4D>(a, step));
      });
      const up = shifted(1, false);
      const down = shifted(-1, false);
      // attribution: the derivative of z_k along a_u scaled by (1 + t), at t = 0
      const sUp = shifted(1, true);
      const sDown = shifted(-1, true);
      for (let k = 0; k < 3; k++) {
        expect(g.c.gain[k][u]).toBeCloseTo((up[k] - down[k]) / (2 * h), 3);
        expect(g.c.attribution[k][u]).toBeCloseTo((sUp[k] - sDown[k]) / (2 * h), 3);
      }
      e.dispose();
    }
    tf.dispose([x, acts, a]);
    model.dispose();
  });
});

describe('steeringRanking', () => {
  it('ranks excitation by the scaled pull toward the target and suppression by the hold of the source', () => {
    // classes: 0 = source, 1 = target; units 0…3
    const g = {
      count: 4,
      gain: [[1, 0, 0.5, 0], [0, 2, 1, 0.5]],
      attribution: [[3, 0, 1, 0.2], [0.5, 1, 0, 0.2]],
    };
    // pull = (gain[1] − gain[0]) · scale = [−1, 2, 0.5, 0.5] · [1, 0.1, 1, 4] = [−1, 0.2, 0.5, 2]
    // hold = attribution[1] − attribution[0] = [−2.5, 1, −1, 0]
    const r = steeringRanking(g, 0, 1, [1, 0.1, 1, 4]);
    expect(r.excite).toEqual([3, 2, 1, 0]);
    expect(r.suppress).toEqual([0, 2, 3, 1]);
    // a unit that never fires (threshold 0 or NaN) comes last on both sides, even below negative pulls and holds
    const dead = steeringRanking(g, 0, 1, [1, 1, 0, NaN]);
    expect(dead.excite).toEqual([1, 0, 2, 3]); // pulls [−1, 2, dead, dead]
    expect(dead.suppress).toEqual([0, 1, 2, 3]); // holds [−2.5, 1, dead, dead]
  });
});
