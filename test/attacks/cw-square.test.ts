import * as tf from '../../src/tf.js';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { cw } from '../../src/attacks/cw.js';
import { pgd } from '../../src/attacks/pgd.js';
import { square, squareFraction } from '../../src/attacks/square.js';
import { UnitAttackError } from '../../src/errors.js';
import { expectNoLeak } from '../helpers.js';
import { colourImages, colourModel, distances, images8bit, is8bit, predictions, tinyCnn } from './helpers.js';

// wasm: the C&W comparison takes ~100 gradient passes, four times faster here than on the cpu backend.
beforeAll(async () => { await tf.setBackend('wasm'); });

async function expectUsage(p: Promise<unknown>, path: string): Promise<void> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err).toBeInstanceOf(UnitAttackError);
  expect((err as UnitAttackError).path).toBe(path);
}

describe('cw', () => {
  it('succeeds with a smaller L2 than PGD-L2 on the images both fool', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(6, 16, 5);
    const labels = await predictions(clf, x);
    const t0 = Date.now();
    const c = await cw(clf, x, labels, { steps: 30, binarySteps: 3, learningRate: 0.02 });
    const tCw = Date.now() - t0;
    const p = await pgd(clf, x, labels, { norm: 'l2', epsilon: 1, steps: 20, objective: { kind: 'margin' } });
    const [dc, dp] = [await distances(c.adversarial, x), await distances(p.adversarial, x)];
    const both = labels.map((_, i) => i).filter((i) => c.success[i] && p.success[i]);
    expect(c.success.filter(Boolean).length).toBeGreaterThanOrEqual(p.success.filter(Boolean).length - 1);
    expect(both.length).toBeGreaterThan(0);
    const mean = (d: number[]): number => both.reduce((s, i) => s + d[i], 0) / both.length;
    if (process.env.SHOW_NUMBERS) console.log(`cw ${tCw} ms, mean L2 cw ${mean(dc.l2).toFixed(3)} vs pgd ${mean(dp.l2).toFixed(3)} on ${both.length}`);
    expect(mean(dc.l2)).toBeLessThan(mean(dp.l2));
    // The reported L2 is that of the rounded image, and the rounded image is what fools the model.
    const l2s = (c.details as { l2: number[] }).l2;
    for (const i of both) expect(l2s[i]).toBeCloseTo(dc.l2[i], 5);
    expect(await is8bit(c.adversarial)).toBe(true);
    const again = await predictions(clf, c.adversarial);
    for (let i = 0; i < 6; i++) if (c.success[i]) expect(again[i]).not.toBe(labels[i]);
    tf.dispose([x, c.adversarial, p.adversarial]);
  });

  it('respects an L2 cap and returns unfooled images unchanged', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(4, 16, 5);
    const labels = await predictions(clf, x);
    const eps = 0.1;
    const r = await cw(clf, x, labels, { epsilon: eps, steps: 10, binarySteps: 2, objective: { kind: 'margin', target: 2 } });
    const d = await distances(r.adversarial, x);
    for (let i = 0; i < 4; i++) {
      if (r.success[i]) expect(d.l2[i]).toBeLessThanOrEqual(eps + 1e-6);
      else expect(d.l2[i]).toBe(0);
    }
    tf.dispose([x, r.adversarial]);
  });

  it('leaves no tensors behind and rejects what it cannot do', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(2, 16, 5);
    const labels = await predictions(clf, x);
    await expectNoLeak(() => cw(clf, x, labels, { steps: 3, binarySteps: 2 }));
    await expectUsage(cw(clf, x, labels, { norm: 'linf' }), 'norm');
    await expectUsage(cw(clf, x, labels, { binarySteps: 0 }), 'binarySteps');
    await expectUsage(cw(clf, x, labels, { objective: { kind: 'unit', layer: 'conv2', excite: [1] } }), 'objective.target');
    x.dispose();
  });
});

describe('square', () => {
  it('fools the colour model on an easy case using logits only', async () => {
    const clf = colourModel();
    const x = colourImages(8, 16, 4);
    const labels = await predictions(clf, x);
    let gradientCalls = 0;
    const spy = { ...clf, layers: clf.layers, classNames: clf.classNames, inputSize: clf.inputSize, run: (...a: Parameters<typeof clf.run>) => { gradientCalls++; return clf.run(...a); }, logits: (t: tf.Tensor4D) => clf.logits(t) };
    const r = await square(spy, x, labels, { epsilon: '16/255', queries: 300, seed: 2 });
    expect(gradientCalls).toBe(0);
    expect(r.success.filter(Boolean).length).toBeGreaterThanOrEqual(7);
    const d = await distances(r.adversarial, x);
    for (const v of d.linf) expect(v).toBeLessThanOrEqual(16 / 255 + 1e-6);
    expect(await is8bit(r.adversarial)).toBe(true);
    for (let i = 0; i < 8; i++) expect(r.queries[i]).toBeLessThanOrEqual(300 + 2);
    if (process.env.SHOW_NUMBERS) console.log('square queries', Array.from(r.steps));
    tf.dispose([x, r.adversarial]);
  });

  it('replays exactly from its seed and leaves no tensors behind', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(4, 16, 5);
    const labels = await predictions(clf, x);
    const before = tf.memory().numTensors;
    const a = await square(clf, x, labels, { epsilon: '8/255', queries: 40, seed: 9 });
    expect(tf.memory().numTensors).toBe(before + 1); // only the adversarial images
    const b = await square(clf, x, labels, { epsilon: '8/255', queries: 40, seed: 9 });
    const c = await square(clf, x, labels, { epsilon: '8/255', queries: 40, seed: 10 });
    expect(Array.from(await a.adversarial.data())).toEqual(Array.from(await b.adversarial.data()));
    expect(Array.from(a.steps)).toEqual(Array.from(b.steps));
    expect(Array.from(await a.adversarial.data())).not.toEqual(Array.from(await c.adversarial.data()));
    tf.dispose([x, a.adversarial, b.adversarial, c.adversarial]);
  });

  it('halves the window fraction on the schedule of the reference code', () => {
    expect(squareFraction(0.8, 0, 10000)).toBe(0.8);
    expect(squareFraction(0.8, 11, 10000)).toBe(0.4);
    expect(squareFraction(0.8, 51, 10000)).toBe(0.2);
    expect(squareFraction(0.8, 9000, 10000)).toBeCloseTo(0.8 / 512, 12);
    expect(squareFraction(0.8, 50, 500)).toBe(0.8 / 16); // rescaled to 10 000 queries: 1000 → /16
  });

  it('keeps the halving points as they are without rescaling (AutoAttack: resc_schedule=False)', () => {
    // 5,000 queries: the rescaled schedule is at /512 from query 4,001 on, the fixed one at /128 (4,000 < it ≤ 6,000).
    expect(squareFraction(0.8, 4500, 5000)).toBeCloseTo(0.8 / 512, 12);
    expect(squareFraction(0.8, 4500, 5000, false)).toBeCloseTo(0.8 / 128, 12);
    expect(squareFraction(0.8, 10, 5000, false)).toBe(0.8);
    expect(squareFraction(0.8, 11, 5000, false)).toBe(0.4);
    expect(squareFraction(0.8, 2000, 5000, false)).toBeCloseTo(0.8 / 32, 12);
    expect(squareFraction(0.8, 2001, 5000, false)).toBeCloseTo(0.8 / 64, 12);
  });

  it('rejects L2, gradient-only objectives and bad budgets by name', async () => {
    const clf = colourModel();
    const x = colourImages(2);
    await expectUsage(square(clf, x, [0, 1], { norm: 'l2' }), 'norm');
    await expectUsage(square(clf, x, [0, 1], { objective: { kind: 'unit', layer: 'units', excite: [1] } }), 'objective.kind');
    await expectUsage(square(clf, x, [0, 1], { queries: 0 }), 'queries');
    await expectUsage(square(clf, x, [0, 1], { pInit: 2 }), 'pInit');
    await expectUsage(square(clf, x, [0, 1], { rescaleSchedule: 'no' as never }), 'rescaleSchedule');
    x.dispose();
  });
});
