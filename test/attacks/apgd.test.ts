import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { apgdCheckpoints, runApgdRounds } from '../../src/attacks/_internals/apgd.js';
import { prepare } from '../../src/attacks/_internals/engine.js';
import { apgd } from '../../src/attacks/apgd.js';
import { dlrLoss } from '../../src/attacks/objectives.js';
import { pgd } from '../../src/attacks/pgd.js';
import { runAttack } from '../../src/attacks/registry.js';
import { UnitAttackError } from '../../src/errors.js';
import { fromLayersModel } from '../../src/models/classifier.js';
import type { Classifier } from '../../src/models/types.js';
import { distances, images8bit, is8bit, linearModel, predictions, tinyCnn } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

async function usageErrorOf(p: Promise<unknown>): Promise<UnitAttackError> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err).toBeInstanceOf(UnitAttackError);
  expect((err as UnitAttackError).code).toBe('UA_USAGE');
  return err as UnitAttackError;
}

/** A classifier whose logits do not depend on the input (a zero gradient everywhere). */
function constantModel(classes = 3, size = 4): Classifier {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [size, size, 3] }));
  m.add(tf.layers.dense({ units: classes, name: 'logits' }));
  m.layers[1].setWeights([tf.zeros([size * size * 3, classes]), tf.tensor1d(Array.from({ length: classes }, (_, i) => i))]);
  return fromLayersModel(m, { classNames: Array.from({ length: classes }, (_, i) => `k${i}`), name: 'constant' });
}

/** Cross-entropy of class `y` for a 2-class linear model, in float64: softplus(z_{1−y} − z_y). */
function ce2(w: readonly number[], px: ArrayLike<number>, y: number): number {
  let m = 0;
  for (let j = 0; j < px.length; j++) m += (w[2 * j + 1 - y] - w[2 * j + y]) * px[j];
  return m > 30 ? m : Math.log1p(Math.exp(m));
}

describe('apgd: the step-size schedule', () => {
  it('has the checkpoints of the paper, worked out by hand: p = 0, .22, .41, .57, .70, .80, .87, .93, .99', () => {
    expect(apgdCheckpoints(100)).toEqual([0, 22, 41, 57, 70, 80, 87, 93, 99]);
    expect(apgdCheckpoints(1000)).toEqual([0, 220, 410, 570, 700, 800, 870, 930, 990]);
    // ⌈.22·50⌉ = 11, ⌈20.5⌉ = 21, ⌈28.5⌉ = 29, 35, 40, ⌈43.5⌉ = 44, ⌈46.5⌉ = 47, ⌈49.5⌉ = 50.
    expect(apgdCheckpoints(50)).toEqual([0, 11, 21, 29, 35, 40, 44, 47, 50]);
    // ⌈2.2⌉ = 3, ⌈4.1⌉ = 5, ⌈5.7⌉ = 6, 7, 8, ⌈8.7⌉ = 9, ⌈9.3⌉ = 10, and ⌈9.9⌉ = 10 again (dropped).
    expect(apgdCheckpoints(10)).toEqual([0, 3, 5, 6, 7, 8, 9, 10]);
    expect(apgdCheckpoints(1)).toEqual([0, 1]);
  });

  it('halves the step of a stalled image at every checkpoint and nowhere else, starting from 2ε', async () => {
    const clf = constantModel();
    const x = images8bit(2, 4, 3);
    const eps = 4 / 255;
    // The constant logits (0, 1, 2) predict class 2: the label, so that the images are attacked.
    const p = await prepare('apgd-ce', clf, x, [2, 2], { epsilon: eps }, { objective: { kind: 'ce' } });
    const seen: Array<[number, boolean[], number[]]> = [];
    const r = await runApgdRounds('apgd-ce', p, {
      steps: 100, restarts: 1, randomStart: false, rho: 0.75, momentum: 0.75, eot: 1, earlyStop: true,
      onCheckpoint: (k, halved, eta) => seen.push([k, [...halved], Array.from(eta)]),
    }, [{ loss: p.objective, targets: null }]);
    expect(seen.map((s) => s[0])).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    seen.forEach(([, halved, eta], j) => {
      expect(halved).toEqual([true, true]);
      for (const e of eta) expect(e).toBeCloseTo((2 * eps) / 2 ** (j + 1), 7);
    });
    expect(Array.from(r.steps)).toEqual([100, 100]);
    expect(r.warnings.join(' ')).toMatch(/gradient is zero/);
    tf.dispose([x, r.adversarial]);
    clf.dispose();
  });

  it('keeps the step while the loss keeps rising (condition 1 and 2 both false)', async () => {
    // A 2-class linear model with a tiny budget per step in L2: the loss rises at every step until the checkpoint.
    const size = 4; const dim = size * size * 3;
    const w = Float32Array.from({ length: dim * 2 }, (_, i) => (i % 2 === 0 ? 0.01 : -0.01) * (1 + (i % 7) / 7));
    const clf = linearModel(w, 2, size);
    const x = images8bit(1, size, 5, 0.3, 0.7);
    const p = await prepare('apgd-ce', clf, x, [0], { epsilon: 2, norm: 'l2' }, { objective: { kind: 'ce' } });
    const seen: boolean[][] = [];
    // ρ close to 0: condition 1 holds only without any rise; the first window rises (the start is far from the optimum).
    const r = await runApgdRounds('apgd-ce', p, {
      steps: 10, restarts: 1, randomStart: false, rho: 0.01, momentum: 0.75, eot: 1, earlyStop: false,
      onCheckpoint: (_k, halved) => seen.push([...halved]),
    }, [{ loss: p.objective, targets: null }]);
    expect(seen[0]).toEqual([false]);
    tf.dispose([x, r.adversarial]);
    clf.dispose();
  });
});

describe('apgd: threat model and loss', () => {
  it('never leaves the ε-ball, never ends below its start, and reaches the closed-form optimum of a linear model', async () => {
    const size = 4; const dim = size * size * 3;
    const nonZero = fc.integer({ min: 1, max: 5 }).chain((v) => fc.constantFrom(v, -v));
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: -5, max: 5 }), nonZero), { minLength: dim, maxLength: dim }),
      fc.array(fc.integer({ min: 80, max: 175 }), { minLength: dim, maxLength: dim }),
      fc.oneof(
        fc.record({ norm: fc.constant('linf' as const), epsilon: fc.integer({ min: 1, max: 16 }).map((k) => k / 255) }),
        fc.record({ norm: fc.constant('l2' as const), epsilon: fc.double({ min: 0.05, max: 0.25, noNaN: true }) }),
      ),
      fc.boolean(),
      async (pairs, pixels, threat, earlyStop) => {
        const w = pairs.flatMap(([a, d]) => [a * 0.02, (a + d) * 0.02]);
        const clf = linearModel(Float32Array.from(w), 2, size);
        const x0 = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, size, size, 3]);
        const label = (await predictions(clf, x0))[0];
        const r = await apgd(clf, x0, [label], { ...threat, steps: 12, randomStart: false, earlyStop, objective: { kind: 'ce' } });
        const adv = await r.adversarial.data();
        const d = await distances(r.adversarial, x0);
        expect(await is8bit(r.adversarial)).toBe(true);
        if (threat.norm === 'linf') expect(d.linf[0]).toBeLessThanOrEqual(threat.epsilon + 1e-6);
        else expect(d.l2[0]).toBeLessThanOrEqual(threat.epsilon + 1e-6);
        const start = ce2(w, Float32Array.from(pixels, (v) => v / 255), label);
        const got = ce2(w, adv, label);
        expect(got).toBeGreaterThanOrEqual(start - 1e-6);
        // The optimum: CE grows with the margin (w_other − w_label)·x, so move every pixel along its sign (L∞, a corner
        // of the box, on the 8-bit grid) or the whole image along the direction (L2; the pixels stay inside [0, 1]).
        const dir = Array.from({ length: dim }, (_, j) => w[2 * j + 1 - label] - w[2 * j + label]);
        const norm = Math.hypot(...dir);
        const best = pixels.map((v, j) => (threat.norm === 'linf'
          ? Math.min(1, Math.max(0, v / 255 + threat.epsilon * Math.sign(dir[j])))
          : v / 255 + (threat.epsilon * dir[j]) / norm));
        const opt = ce2(w, best, label);
        expect(got).toBeLessThanOrEqual(opt + 1e-5);
        if (!earlyStop || !r.success[0]) {
          // Rounding to 8 bits costs at most ‖dir‖ · (half a step per pixel in L2 / nothing in L∞).
          const slack = threat.norm === 'linf' ? 1e-4 : (norm * Math.sqrt(dim)) / 255;
          expect(got).toBeGreaterThanOrEqual(opt - slack);
        }
        tf.dispose([x0, r.adversarial]);
        clf.dispose();
      },
    ), { numRuns: 12, seed: 7 });
  });

  it('stays in the ball and on the 8-bit grid on a CNN, and replays exactly from its seed', async () => {
    const clf = tinyCnn({ seed: 5 });
    const x = images8bit(6, 16, 9);
    const labels = await predictions(clf, x);
    for (const norm of ['linf', 'l2'] as const) {
      const eps = norm === 'linf' ? 3 / 255 : 0.3;
      const a = await apgd(clf, x, labels, { epsilon: eps, norm, steps: 15, seed: 4 });
      const b = await apgd(clf, x, labels, { epsilon: eps, norm, steps: 15, seed: 4 });
      expect(await is8bit(a.adversarial)).toBe(true);
      const d = await distances(a.adversarial, x);
      for (const v of norm === 'linf' ? d.linf : d.l2) expect(v).toBeLessThanOrEqual(eps + 1e-6);
      expect(Array.from(await a.adversarial.data())).toEqual(Array.from(await b.adversarial.data()));
      expect(a.seed).toBe(4);
      tf.dispose([a.adversarial, b.adversarial]);
    }
    x.dispose();
  });

  it('breaks at least as many images as PGD with the same number of steps (7 and 7 of 24 at 3/255, 18 and 17 at 5/255)', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(24, 16, 13);
    const labels = await predictions(clf, x);
    for (const eps of [3 / 255, 5 / 255]) {
      const a = await apgd(clf, x, labels, { epsilon: eps, steps: 10, seed: 1 });
      const b = await pgd(clf, x, labels, { epsilon: eps, steps: 10, seed: 1 });
      const broke = (s: boolean[]): number => s.filter(Boolean).length;
      expect(broke(a.success)).toBeGreaterThanOrEqual(broke(b.success));
      tf.dispose([a.adversarial, b.adversarial]);
    }
    x.dispose();
  });
});

describe('apgd: losses', () => {
  it('computes the DLR loss of its definition, untargeted and targeted', async () => {
    const z = [[5, 1, 3, 2, 0], [0.5, 4, -1, 2, 3]];
    const labels = Int32Array.from([0, 1]);
    const targets = Int32Array.from([3, 4]);
    const logits = tf.tensor2d(z);
    const [u, t] = [await dlrLoss(logits, labels, null).data(), await dlrLoss(logits, labels, targets).data()];
    for (let i = 0; i < 2; i++) {
      const s = [...z[i]].sort((a, b) => b - a);
      const y = labels[i];
      const other = Math.max(...z[i].filter((_, j) => j !== y));
      expect(u[i]).toBeCloseTo(-(z[i][y] - other) / (s[0] - s[2]), 5);
      expect(t[i]).toBeCloseTo(-(z[i][y] - z[i][targets[i]]) / (s[0] - (s[2] + s[3]) / 2), 5);
    }
    const g = tf.grad((l: tf.Tensor) => dlrLoss(l as tf.Tensor2D, labels, targets))(logits);
    expect(Array.from(await g.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([logits, g]);
  });

  it('runs APGD-T over the most likely other classes, capped at classes − 1, and counts any misclassification', async () => {
    const clf = tinyCnn({ seed: 8, classes: 5 });
    const x = images8bit(5, 16, 4);
    const labels = await predictions(clf, x);
    const r = await runAttack(clf, x, labels, { kind: 'apgd-t', epsilon: 2 / 255, steps: 8 });
    expect(r.attack).toBe('apgd-t');
    expect(r.goal).toBe('untargeted');
    expect(r.details).toMatchObject({ targetClasses: 4, loss: 'DLR (targeted)' });
    r.success.forEach((s, i) => expect(s).toBe(r.predictions[i] !== labels[i]));
    // Each image is attacked by target after target until one breaks it: at most 4 runs of 8 steps.
    for (const v of r.steps) expect(v).toBeLessThanOrEqual(4 * 8);
    tf.dispose([x, r.adversarial]);
  });

  it('falls back to cross-entropy when a model has too few classes for DLR, and says so', async () => {
    const clf = tinyCnn({ seed: 3, classes: 2 });
    const x = images8bit(2, 16, 1);
    const labels = await predictions(clf, x);
    const r = await runAttack(clf, x, labels, { kind: 'apgd-dlr', epsilon: 2 / 255, steps: 3 });
    expect(r.objectiveName).toMatch(/cross-entropy/);
    expect(r.warnings.join(' ')).toMatch(/DLR loss needs at least 3 classes.*cross-entropy/);
    const t = await runAttack(clf, x, labels, { kind: 'apgd-t', epsilon: 2 / 255, steps: 3 });
    expect(t.warnings.join(' ')).toMatch(/targeted DLR loss needs at least 4 classes/);
    tf.dispose([x, r.adversarial, t.adversarial]);
  });

  it('averages eot gradients per step and counts each pass as a query', async () => {
    const clf = tinyCnn({ seed: 3 });
    const x = images8bit(2, 16, 2);
    const labels = await predictions(clf, x);
    const one = await apgd(clf, x, labels, { epsilon: 1 / 255, steps: 4, eot: 1, earlyStop: false });
    const three = await apgd(clf, x, labels, { epsilon: 1 / 255, steps: 4, eot: 3, earlyStop: false });
    // A deterministic model: the same points, two more passes per gradient step (the last step is a forward pass).
    expect(Array.from(await three.adversarial.data())).toEqual(Array.from(await one.adversarial.data()));
    for (let i = 0; i < 2; i++) expect(three.queries[i] - one.queries[i]).toBe(2 * 4);
    tf.dispose([x, one.adversarial, three.adversarial]);
  });
});

describe('apgd: bad input', () => {
  it('names the option at fault', async () => {
    const clf = tinyCnn();
    const x = images8bit(1);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ steps: 0 }, 'steps', /integer ≥ 1/],
      [{ rho: 0 }, 'rho', /\(0, 1\]/],
      [{ momentum: 2 }, 'momentum', /\(0, 1\]/],
      [{ eot: 0 }, 'eot', /integer in \[1, 1000\]/],
      [{ restarts: 2, randomStart: false }, 'restarts', /repeat the first/],
      [{ targetClasses: 3, objective: { kind: 'ce' } }, 'objective', /must be unset/],
      [{ objective: { kind: 'unit', layer: 'conv2', excite: [1] } }, 'objective.kind', /more than logits/],
      [{ minPsnr: 30 }, 'minPsnr', /not apgd/],
      [{ epsilon: 2 }, 'epsilon', /\(0, 1\]/],
    ];
    for (const [opts, path, text] of cases) {
      const err = await usageErrorOf(apgd(clf, x, [0], opts));
      expect(err.path).toBe(path);
      expect(`${err.message} ${err.hint ?? ''}`).toMatch(text);
    }
    const wrong = await usageErrorOf(runAttack(clf, x, [0], { kind: 'apgd-ce', objective: { kind: 'margin' } }));
    expect(wrong.path).toBe('objective.kind');
    const single = await usageErrorOf(apgd(tinyCnn({ classes: 1 }), x, [0]));
    expect(single.message).toMatch(/single output/);
    x.dispose();
  });

  it('leaves no tensors behind', async () => {
    const clf = tinyCnn({ seed: 2, classes: 5 });
    const x = images8bit(3, 16, 6);
    const labels = await predictions(clf, x);
    for (const spec of [
      { kind: 'apgd-ce', epsilon: 2 / 255, steps: 6, restarts: 2 },
      { kind: 'apgd-dlr', epsilon: 0.3, norm: 'l2', steps: 6, eot: 2 },
      { kind: 'apgd-t', epsilon: 2 / 255, steps: 4, targetClasses: 2 },
    ] as const) {
      const before = tf.memory().numTensors;
      const r = await runAttack(clf, x, labels, spec);
      expect(tf.memory().numTensors).toBe(before + 1);
      r.adversarial.dispose();
    }
    x.dispose();
    // Nor when it throws: a zero gradient on every image with gradientCheck 'throw'.
    const flat = constantModel();
    const y = images8bit(2, 4, 3);
    const before = tf.memory().numTensors;
    await expect(apgd(flat, y, [2, 2], { steps: 3, gradientCheck: 'throw' })).rejects.toMatchObject({ code: 'UA_NUMERIC' });
    expect(tf.memory().numTensors).toBe(before);
    y.dispose();
  });
});
