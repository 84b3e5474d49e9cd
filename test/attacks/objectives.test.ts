import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildObjective, classMargin, crossEntropy, registerObjective, resolveTargets, type ObjectiveContext, type ObjectiveSpec,
} from '../../src/attacks/objectives.js';
import { UnitAttackError } from '../../src/errors.js';
import { expectNoLeak } from '../helpers.js';
import { colourModel, images8bit, tinyCnn } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

function expectUsage(fn: () => unknown, path: string, text?: RegExp): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(UnitAttackError);
  expect((err as UnitAttackError).code).toBe('UA_USAGE');
  expect((err as UnitAttackError).path).toBe(path);
  if (text) expect(`${(err as UnitAttackError).message} ${(err as UnitAttackError).hint ?? ''}`).toMatch(text);
}

describe('logit objectives', () => {
  it('cross-entropy and margin match a direct computation', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 0, max: 3 }),
      (rows, c) => {
        const z = tf.tensor2d(rows);
        const cls = new Int32Array(rows.length).fill(c);
        const ce = crossEntropy(z, cls).arraySync();
        const mg = classMargin(z, cls).arraySync();
        rows.forEach((r, i) => {
          const m = Math.max(...r);
          const lse = m + Math.log(r.reduce((s, v) => s + Math.exp(v - m), 0));
          expect(ce[i]).toBeCloseTo(lse - r[c], 3);
          expect(mg[i]).toBeCloseTo(r[c] - Math.max(...r.filter((_, j) => j !== c)), 3);
        });
        z.dispose();
      },
    ), { numRuns: 30 });
  });

  it('untargeted objectives rise as the true class loses; targeted ones as the target wins', () => {
    const clf = colourModel();
    const ctx: ObjectiveContext = { labels: Int32Array.from([0]), targets: Int32Array.from([1]) };
    const red = tf.tensor4d(new Float32Array(16 * 16 * 3).map((_, i) => [0.6, 0.5, 0.4][i % 3]), [1, 16, 16, 3]);
    const green = tf.tensor4d(new Float32Array(16 * 16 * 3).map((_, i) => [0.5, 0.6, 0.4][i % 3]), [1, 16, 16, 3]);
    for (const spec of [{ kind: 'ce' }, { kind: 'margin' }, { kind: 'ce', target: 1 }, { kind: 'margin', target: 1 }] as ObjectiveSpec[]) {
      const o = buildObjective(clf, spec);
      const a = o.loss(clf, red, ctx).arraySync()[0];
      const b = o.loss(clf, green, ctx).arraySync()[0];
      expect(b).toBeGreaterThan(a);
    }
    // Margin: 20·(0.5 − 0.6) = −2 for the red image; targeted margin of green is +2 on the green image.
    expect(buildObjective(clf, { kind: 'margin' }).loss(clf, red, ctx).arraySync()[0]).toBeCloseTo(-2, 4);
    expect(buildObjective(clf, { kind: 'margin', target: 1 }).loss(clf, green, ctx).arraySync()[0]).toBeCloseTo(2, 4);
    expect(buildObjective(clf, { kind: 'margin', target: 1, confidence: 1 }).loss(clf, green, ctx).arraySync()[0]).toBeCloseTo(1, 4);
    tf.dispose([red, green]);
  });
});

describe('unit objective', () => {
  it('equals mean(agg(excite)) − mean(agg(suppress)), scaled per unit', () => {
    const clf = tinyCnn();
    const x = images8bit(3);
    const act = clf.activations(x, 'conv2').arraySync() as number[][][][];
    const scale = Float32Array.from([1, 2, 0.5, 1, 1, 4, 1, 1]);
    const ctx: ObjectiveContext = { labels: new Int32Array(3), targets: null };
    for (const aggregate of ['mean', 'max'] as const) {
      const o = buildObjective(clf, { kind: 'unit', layer: 'conv2', suppress: [0, 5], excite: [2], aggregate, unitScale: scale });
      expect(o.goal).toBe('none');
      const got = o.loss(clf, x, ctx).arraySync();
      for (let i = 0; i < 3; i++) {
        const agg = (u: number): number => {
          const vals = act[i].flatMap((row) => row.map((px) => px[u]));
          return (aggregate === 'mean' ? vals.reduce((a, b) => a + b, 0) / vals.length : Math.max(...vals)) / scale[u];
        };
        expect(got[i]).toBeCloseTo(agg(2) - (agg(0) + agg(5)) / 2, 4);
      }
    }
    x.dispose();
  });

  it('its input gradient matches central finite differences along random directions', () => {
    const clf = tinyCnn();
    const x = tf.tidy(() => tf.randomUniform<tf.Rank.R4>([2, 16, 16, 3], 0.2, 0.8, 'float32', 9));
    const ctx: ObjectiveContext = { labels: new Int32Array(2), targets: null };
    for (const aggregate of ['mean', 'max'] as const) {
      const o = buildObjective(clf, { kind: 'unit', layer: 'conv2', suppress: [0, 1, 3], excite: [2, 6], aggregate });
      const f = (t: tf.Tensor): tf.Scalar => tf.sum(o.loss(clf, t as tf.Tensor4D, ctx));
      const g = tf.grad(f)(x) as tf.Tensor4D;
      for (let k = 0; k < 3; k++) {
        // One direction along the gradient (a large derivative), two random ones (small derivatives).
        const v = tf.tidy(() => { const r = k === 0 ? g : tf.randomNormal(x.shape, 0, 1, 'float32', 100 + k); return tf.div(r, tf.norm(r)); });
        const analytic = tf.sum<tf.Scalar>(tf.mul(g, v)).arraySync();
        const h = 1e-2;
        const [up, down] = tf.tidy<[tf.Scalar, tf.Scalar]>(() => [f(tf.add(x, tf.mul(v, h))), f(tf.sub(x, tf.mul(v, h)))]);
        const numeric = (up.arraySync() - down.arraySync()) / (2 * h);
        tf.dispose([up, down]);
        if (process.env.SHOW_FD) console.log(aggregate, analytic, numeric);
        expect(Math.abs(analytic - numeric)).toBeLessThan(0.03 * Math.abs(analytic) + 2e-5);
        v.dispose();
      }
      g.dispose();
    }
    x.dispose();
  });

  it('adds a weighted targeted class term', () => {
    const clf = colourModel();
    const x = images8bit(2);
    const ctx: ObjectiveContext = { labels: Int32Array.from([0, 0]), targets: Int32Array.from([1, 1]) };
    const pure = buildObjective(clf, { kind: 'unit', layer: 'units', suppress: [0], excite: [1], target: 'green' });
    const mixed = buildObjective(clf, { kind: 'unit', layer: 'units', suppress: [0], excite: [1], target: 'green', classWeight: 0.5, classLoss: 'margin' });
    expect(pure.goal).toBe('targeted');
    const a = pure.loss(clf, x, ctx).arraySync();
    const b = mixed.loss(clf, x, ctx).arraySync();
    const m = classMargin(clf.logits(x), ctx.targets!).arraySync();
    for (let i = 0; i < 2; i++) expect(b[i] - a[i]).toBeCloseTo(0.5 * m[i], 4);
    x.dispose();
  });

  it('leaves no tensors behind', async () => {
    const clf = tinyCnn();
    const x = images8bit(2);
    const o = buildObjective(clf, { kind: 'unit', layer: 'conv1', suppress: [1], excite: [2], aggregate: 'max' });
    await expectNoLeak(() => o.loss(clf, x, { labels: new Int32Array(2), targets: null }));
    x.dispose();
  });
});

describe('objective specs', () => {
  it('should throw usage errors that name the option', () => {
    const clf = colourModel();
    expectUsage(() => buildObjective(clf, { kind: 'nope' }), 'objective.kind', /ce, margin, dlr, unit/);
    expectUsage(() => buildObjective(clf, { kind: 'unit', layer: 'units', suppress: [9] }), 'objective.suppress', /6 units/);
    expectUsage(() => buildObjective(clf, { kind: 'unit', layer: 'units' }), 'objective.suppress');
    expectUsage(() => buildObjective(clf, { kind: 'unit', layer: 'units', suppress: [1], excite: [1] }), 'objective.excite');
    expectUsage(() => buildObjective(clf, { kind: 'unit', layer: 'units', excite: [1], aggregate: 'sum' as 'mean' }), 'objective.aggregate');
    expectUsage(() => buildObjective(clf, { kind: 'unit', layer: 'units', excite: [1], classWeight: 1 }), 'objective.target');
    expectUsage(() => buildObjective(clf, { kind: 'unit', layer: 'units', excite: [1], unitScale: [1, 2] }), 'objective.unitScale');
    expectUsage(() => buildObjective(clf, { kind: 'margin', confidence: -1 }), 'objective.confidence');
    expect(() => buildObjective(clf, { kind: 'unit', layer: 'nope', excite: [1] })).toThrow(/no layer 'nope'/);
  });

  it('resolves targets by name or index and lists the valid classes for an unknown one', () => {
    const clf = colourModel();
    expect(Array.from(resolveTargets(clf, 'green', 2)!)).toEqual([1, 1]);
    expect(Array.from(resolveTargets(clf, [2, 'red'], 2)!)).toEqual([2, 0]);
    expect(resolveTargets(clf, undefined, 2)).toBeNull();
    expectUsage(() => resolveTargets(clf, 'purple', 2), 'objective.target', /red, green, blue/);
    expectUsage(() => resolveTargets(clf, 7, 2), 'objective.target', /3 classes/);
    expectUsage(() => resolveTargets(clf, [1], 2), 'objective.target');
  });

  it('accepts objectives registered by users', () => {
    registerObjective('brightness', () => ({
      kind: 'brightness', name: 'brightness', goal: 'none',
      loss: (_c, x) => tf.tidy(() => tf.mean<tf.Tensor1D>(x, [1, 2, 3])),
    }));
    const clf = colourModel();
    const o = buildObjective(clf, { kind: 'brightness' });
    const x = tf.fill<tf.Rank.R4>([1, 16, 16, 3], 0.25);
    expect(o.loss(clf, x, { labels: new Int32Array(1), targets: null }).arraySync()[0]).toBeCloseTo(0.25, 6);
    x.dispose();
  });
});
