import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ablationCurves, chunksOf, classImportance, maskedCopies, rankUnits } from '../../src/dissection/importance.js';
import { fromLayersModel } from '../../src/models/classifier.js';
import type { Classifier } from '../../src/models/types.js';
import { relError } from '../helpers.js';
import { SIZE, colorModel, colorScene } from './fixtures.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

function images(n: number): { x: tf.Tensor4D; y: Int32Array } {
  const data = new Float32Array(n * SIZE * SIZE * 3);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 2 === 0 ? 'red' : 'blue';
    const { image } = colorScene(kind, 77 + i);
    for (let k = 0; k < image.length; k++) data[i * image.length + k] = image[k] / 255;
    y[i] = kind === 'red' ? 1 : 0;
  }
  return { x: tf.tensor4d(data, [n, SIZE, SIZE, 3]), y };
}

/** A random conv net whose last dense layer reads only units 0 and 1 of a 4-unit layer. */
function partlyIgnoringModel(): Classifier {
  const input = tf.input({ shape: [8, 8, 3] });
  const conv = tf.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) });
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' });
  const dense = tf.layers.dense({ name: 'out', units: 3 });
  const out = dense.apply(gap.apply(conv.apply(input))) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  dense.setWeights([tf.tensor2d([[1, -2, 0.5], [-1, 0.3, 2], [0, 0, 0], [0, 0, 0]]), tf.tensor1d([0, 0.1, -0.1])]);
  return fromLayersModel(model, { classNames: ['a', 'b', 'c'] });
}

describe('maskedCopies', () => {
  it('equals the activations times each 0/1 mask, channels last', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), fc.integer(),
      (n, pixels, units, G, seed) => {
        let x = seed | 1;
        const rnd = (): number => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296; };
        const acts = Float32Array.from({ length: n * pixels * units }, () => rnd() * 2 - 0.5);
        const masks = Uint8Array.from({ length: G * units }, () => (rnd() < 0.5 ? 1 : 0));
        const out = maskedCopies(acts, units, masks, G);
        for (let g = 0; g < G; g++) for (let i = 0; i < acts.length; i++) {
          expect(out[g * acts.length + i] + 0).toBe(acts[i] * masks[g * units + (i % units)] + 0); // +0 folds −0 into 0
        }
      },
    ), { numRuns: 100 });
  });
});

describe('unit ablation', () => {
  it('of a unit the output ignores changes nothing', async () => {
    const clf = partlyIgnoringModel();
    const x = tf.randomUniform<tf.Rank.R4>([6, 8, 8, 3], 0, 1, 'float32', 5);
    const plain = clf.logits(x);
    const edited = clf.run(x, { edits: { conv: { op: 'zero', units: [2, 3] } } }).logits;
    expect(relError(edited.dataSync(), plain.dataSync())).toBe(0);
    const y = Int32Array.from(tf.argMax(plain, 1).dataSync());
    const ranks = await rankUnits(clf, 'conv', chunksOf(clf, 'conv', x, y));
    for (const r of Object.values(ranks)) {
      expect(r.drops[r.ranking.indexOf(2)]).toBe(0);
      expect(r.drops[r.ranking.indexOf(3)]).toBe(0);
    }
    tf.dispose([x, plain, edited]);
  });

  it('ranks and ablates the same whether passes are stacked or one by one, and leaks no tensors', async () => {
    const clf = colorModel();
    const train = images(10);
    const held = images(8);
    const before = tf.memory().numTensors;
    const big = await rankUnits(clf, 'block', chunksOf(clf, 'block', train.x, train.y, 4));
    const small = await rankUnits(clf, 'block', chunksOf(clf, 'block', train.x, train.y, 3), { maxElements: 1 });
    expect(small.red_scene.ranking).toEqual(big.red_scene.ranking);
    small.red_scene.drops.forEach((d, i) => expect(d).toBeCloseTo(big.red_scene.drops[i], 5));
    const curvesBig = await ablationCurves(clf, 'block', chunksOf(clf, 'block', held.x, held.y), big, { topN: 2 });
    const curvesSmall = await ablationCurves(clf, 'block', chunksOf(clf, 'block', held.x, held.y, 3), big, { topN: 2, maxElements: 1 });
    expect(curvesSmall).toEqual(curvesBig);
    expect(tf.memory().numTensors).toBe(before);
    expect(curvesBig.red_scene).toMatchObject({ N: [1, 2], baseAccuracy: 1, ablateAccuracy: [0, 0], keepAccuracy: [1, 1], count: 4 });
    tf.dispose([train.x, held.x]);
  });

  it('ranks by accuracy drop as the PNAS code does, on request', async () => {
    const clf = colorModel();
    const train = images(6);
    const { importance, ablation } = await classImportance(clf, train, undefined, { layer: 'block', metric: 'accuracy' });
    expect(importance.red_scene.ranking[0]).toBe(0);
    expect(importance.red_scene.drops[0]).toBe(1); // every red image flips when unit 0 is zeroed
    expect(ablation).toEqual({});
    train.x.dispose();
  });

  it('breaks accuracy ties by the log-probability drop', async () => {
    const clf = partlyIgnoringModel();
    const x = tf.randomUniform<tf.Rank.R4>([12, 8, 8, 3], 0, 1, 'float32', 9);
    const y = Int32Array.from(tf.tidy(() => tf.argMax(clf.logits(x), 1)).dataSync());
    const byLogp = await rankUnits(clf, 'conv', chunksOf(clf, 'conv', x, y));
    const byAcc = await rankUnits(clf, 'conv', chunksOf(clf, 'conv', x, y), { metric: 'accuracy' });
    for (const name of Object.keys(byAcc)) {
      const acc = byAcc[name];
      const lp = byLogp[name];
      // accuracy drops in order; within equal accuracy drops, the units keep their log-probability order
      for (let i = 1; i < acc.ranking.length; i++) {
        expect(acc.drops[i]).toBeLessThanOrEqual(acc.drops[i - 1]);
        if (acc.drops[i] === acc.drops[i - 1]) {
          expect(lp.ranking.indexOf(acc.ranking[i])).toBeGreaterThan(lp.ranking.indexOf(acc.ranking[i - 1]));
        }
      }
      // the ignored units 2 and 3 drop nothing either way and come last, in index order
      expect(acc.ranking.slice(-2)).toEqual([2, 3]);
    }
    x.dispose();
  });

  it('rejects a ranking of a class the model lacks', async () => {
    const clf = colorModel();
    const held = images(2);
    await expect(ablationCurves(clf, 'block', chunksOf(clf, 'block', held.x, held.y), { zebra: { ranking: [0], drops: [0], count: 1 } }))
      .rejects.toThrowError(/'zebra'/);
    held.x.dispose();
  });
});
