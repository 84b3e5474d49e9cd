import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { buildObjective } from '../../src/attacks/objectives.js';
import { pgd } from '../../src/attacks/pgd.js';
import { runAttack } from '../../src/attacks/registry.js';
import type { AttackResult } from '../../src/attacks/types.js';
import { UnitAttackError } from '../../src/errors.js';
import type { Classifier } from '../../src/models/types.js';
import { expectNoLeak } from '../helpers.js';
import { colourImages, colourModel, distances, images8bit, is8bit, linearModel, predictions, tinyCnn } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

async function expectUsage(p: Promise<unknown>, path: string, text?: RegExp): Promise<void> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err).toBeInstanceOf(UnitAttackError);
  expect((err as UnitAttackError).code).toBe('UA_USAGE');
  expect((err as UnitAttackError).path).toBe(path);
  if (text) expect(`${(err as UnitAttackError).message} ${(err as UnitAttackError).hint ?? ''}`).toMatch(text);
}

async function rows(t: tf.Tensor4D): Promise<Float32Array[]> {
  const d = await t.data() as Float32Array;
  const per = d.length / t.shape[0];
  return Array.from({ length: t.shape[0] }, (_, i) => d.slice(i * per, (i + 1) * per));
}

describe('fgsm', () => {
  it('equals its closed form on a linear model: x0 + ε·sign(w_target − w_true), clipped', async () => {
    const size = 4; const dim = size * size * 3;
    const nonZero = fc.integer({ min: 1, max: 5 }).chain((v) => fc.constantFrom(v, -v));
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: -5, max: 5 }), nonZero), { minLength: dim, maxLength: dim }),
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: dim, maxLength: dim }),
      fc.integer({ min: 1, max: 32 }),
      fc.constantFrom('ce' as const, 'margin' as const),
      async (pairs, pixels, k, kind) => {
        // Row-major [dim, 2]: w[2j] is class 0's weight on input j, w[2j+1] class 1's (never equal).
        const w = pairs.flatMap(([a, d]) => [a, a + d]);
        const clf = linearModel(Float32Array.from(w, (v) => v * 0.02), 2, size);
        const x0 = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, size, size, 3]);
        // The clean prediction is the label, so the image is attacked (one that already meets the goal is not).
        const label = (await predictions(clf, x0))[0];
        const target = 1 - label;
        const r = await fgsm(clf, x0, [label], { epsilon: `${k}/255`, objective: { kind, target } });
        const got = await r.adversarial.data();
        for (let j = 0; j < dim; j++) {
          const s = Math.sign(w[2 * j + target] - w[2 * j + label]);
          const expected = Math.min(255, Math.max(0, pixels[j] + s * k)) / 255;
          expect(got[j]).toBeCloseTo(expected, 6);
        }
        tf.dispose([x0, r.adversarial]);
        clf.dispose();
      },
    ), { numRuns: 8 });
  });

  it('with L2 moves every image by at most ε and records one step', async () => {
    const clf = tinyCnn();
    const x = images8bit(3);
    const r = await fgsm(clf, x, await predictions(clf, x), { epsilon: 0.5, norm: 'l2' });
    const d = await distances(r.adversarial, x);
    for (const v of d.l2) { expect(v).toBeLessThanOrEqual(0.5 + 1e-5); expect(v).toBeGreaterThan(0.3); }
    expect(Array.from(r.steps)).toEqual([1, 1, 1]);
    tf.dispose([x, r.adversarial]);
  });
});

describe('pgd', () => {
  it('returns 8-bit images inside the threat model for any budget, norm, objective and seed', async () => {
    const clf = tinyCnn();
    const x = images8bit(4, 16, 2);
    const labels = await predictions(clf, x);
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.record({ norm: fc.constant('linf' as const), epsilon: fc.integer({ min: 1, max: 32 }).map((k) => k / 255) }),
        fc.record({ norm: fc.constant('l2' as const), epsilon: fc.double({ min: 0.05, max: 2, noNaN: true }) }),
      ),
      fc.constantFrom<'ce' | 'margin' | 'unit'>('ce', 'margin', 'unit'),
      fc.integer({ min: 0, max: 1000 }),
      async ({ norm, epsilon }, kind, seed) => {
        const objective = kind === 'unit' ? { kind, layer: 'conv2', suppress: [0], excite: [1, 2] } : { kind, target: 2 };
        const r = await pgd(clf, x, labels, { norm, epsilon, objective, steps: 3, seed, schedule: 'cosine' });
        expect(await is8bit(r.adversarial)).toBe(true);
        const d = await distances(r.adversarial, x);
        for (const v of norm === 'linf' ? d.linf : d.l2) expect(v).toBeLessThanOrEqual(epsilon + 1e-5);
        expect(r.seed).toBe(seed);
        r.adversarial.dispose();
      },
    ), { numRuns: 6 });
    x.dispose();
  });

  it('raises the objective it is given, for logit and unit objectives', async () => {
    const clf = colourModel();
    const x = colourImages(8);
    const labels = await predictions(clf, x);
    for (const spec of [
      { kind: 'margin' as const },
      { kind: 'unit' as const, layer: 'units', suppress: [0], excite: [1] },
      { kind: 'unit' as const, layer: 'units', suppress: [2], excite: [0], aggregate: 'max' as const },
    ]) {
      const obj = buildObjective(clf, spec);
      const clean = obj.loss(clf, x, { labels, targets: null });
      const before = await clean.data();
      clean.dispose();
      const r = await pgd(clf, x, labels, { epsilon: '4/255', steps: 10, objective: spec, earlyStop: false });
      for (let i = 0; i < 8; i++) expect(r.objective[i]).toBeGreaterThan(before[i]);
      r.adversarial.dispose();
    }
    x.dispose();
  });

  it('the pure unit attack (suppress red, excite green) turns images green without seeing the target', async () => {
    const clf = colourModel();
    const x = colourImages(12, 16, 3);
    const labels = await predictions(clf, x);
    const r = await pgd(clf, x, labels, { epsilon: '8/255', steps: 20, objective: { kind: 'unit', layer: 'units', suppress: [0], excite: [1] } });
    const nonGreen = Array.from(labels).map((l, i) => [l, i] as const).filter(([l]) => l !== 1);
    const turned = nonGreen.filter(([, i]) => r.predictions[i] === 1).length;
    expect(turned / nonGreen.length).toBeGreaterThan(0.5);
    expect(r.goal).toBe('none');
    r.adversarial.dispose(); x.dispose();
  });

  it('keeps every image above a PSNR floor, inside the ε ball, and still moves the model', async () => {
    const clf = colourModel();
    const x = colourImages(8, 16, 5);
    const labels = await predictions(clf, x);
    const free = await pgd(clf, x, labels, { epsilon: '16/255', steps: 20, seed: 2 });
    const capped = await pgd(clf, x, labels, { epsilon: '16/255', steps: 20, seed: 2, minPsnr: 30 });
    expect(capped.minPsnr).toBe(30);
    const d = await distances(capped.adversarial, x);
    const numel = 16 * 16 * 3;
    for (let i = 0; i < 8; i++) {
      expect(d.linf[i]).toBeLessThanOrEqual(16 / 255 + 1e-6);
      // PSNR = 10·log10(numel / ‖δ‖²) ≥ 30 dB.
      if (d.l2[i] > 0) expect(10 * Math.log10(numel / d.l2[i] ** 2)).toBeGreaterThanOrEqual(30 - 1e-6);
    }
    // The free attack uses more of the ball than the floor allows.
    const dFree = await distances(free.adversarial, x);
    expect(Math.max(...dFree.l2)).toBeGreaterThan(Math.max(...d.l2));
    expect(await is8bit(capped.adversarial)).toBe(true);
    expect(capped.success.some(Boolean)).toBe(true);
    tf.dispose([x, free.adversarial, capped.adversarial]);
  });

  it('early-stopped images stay stopped: their pixels do not change however many more steps run', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(8, 16, 5);
    const labels = await predictions(clf, x);
    const opts = { epsilon: '16/255', stepSize: 2 / 255, seed: 3, objective: { kind: 'margin' as const } };
    const short = await pgd(clf, x, labels, { ...opts, steps: 4 });
    const long = await pgd(clf, x, labels, { ...opts, steps: 30 });
    const [a, b] = [await rows(short.adversarial), await rows(long.adversarial)];
    let stoppedEarly = 0;
    for (let i = 0; i < 8; i++) {
      if (short.steps[i] < 4) {
        stoppedEarly++;
        expect(short.success[i]).toBe(true);
        expect(long.steps[i]).toBe(short.steps[i]);
        expect(Array.from(b[i])).toEqual(Array.from(a[i]));
      }
      if (long.success[i]) expect(long.steps[i]).toBeLessThan(30);
    }
    expect(stoppedEarly).toBeGreaterThan(0);
    tf.dispose([x, short.adversarial, long.adversarial]);
  });

  it('replays exactly from its seed, and a different seed starts elsewhere', async () => {
    const clf = tinyCnn();
    const x = images8bit(3, 16, 7);
    const labels = await predictions(clf, x);
    const run = (seed: number): Promise<AttackResult> => pgd(clf, x, labels, { epsilon: '4/255', steps: 3, restarts: 2, seed, earlyStop: false });
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    expect(Array.from(await a.adversarial.data())).toEqual(Array.from(await b.adversarial.data()));
    expect(Array.from(a.objective)).toEqual(Array.from(b.objective));
    expect(a.seed).toBe(5);
    expect(Array.from(await a.adversarial.data())).not.toEqual(Array.from(await c.adversarial.data()));
    tf.dispose([x, a.adversarial, b.adversarial, c.adversarial]);
  });

  it('keeps the best restart per image and skips images already fooled', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(6, 16, 5);
    const labels = await predictions(clf, x);
    const one = await pgd(clf, x, labels, { epsilon: '3/255', steps: 3, seed: 1, objective: { kind: 'margin' } });
    const three = await pgd(clf, x, labels, { epsilon: '3/255', steps: 3, restarts: 3, seed: 1, objective: { kind: 'margin' } });
    // Restart 0 is the same run in both, so three restarts can only do better.
    for (let i = 0; i < 6; i++) {
      if (one.success[i]) expect(three.success[i]).toBe(true);
      else if (!three.success[i]) expect(three.objective[i]).toBeGreaterThanOrEqual(one.objective[i]);
    }
    const per = (three.details as { imagesPerRestart: number[] }).imagesPerRestart;
    expect(per[0]).toBe(6);
    for (let k = 1; k < per.length; k++) expect(per[k]).toBeLessThanOrEqual(per[k - 1]);
    tf.dispose([x, one.adversarial, three.adversarial]);
  });

  it('leaves no tensors behind (fgsm, pgd with restarts and early stop)', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(4, 16, 5);
    const labels = await predictions(clf, x);
    await expectNoLeak(() => fgsm(clf, x, labels, { epsilon: '2/255' }));
    await expectNoLeak(() => pgd(clf, x, labels, { epsilon: '8/255', steps: 5, restarts: 2, objective: { kind: 'margin', target: 1 } }));
    await expectNoLeak(() => pgd(clf, x, labels, { epsilon: 0.5, norm: 'l2', steps: 3, objective: { kind: 'unit', layer: 'conv1', excite: [3] } }));
    x.dispose();
  });

  it('works on the wasm backend', async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    try {
      const clf = tinyCnn({ seed: 11 });
      const x = images8bit(4, 16, 5);
      const labels = await predictions(clf, x);
      const r = await pgd(clf, x, labels, { epsilon: '8/255', steps: 5, objective: { kind: 'margin' } });
      expect(r.backend).toBe('wasm');
      expect(r.success.filter(Boolean).length).toBeGreaterThan(0);
      expect(await is8bit(r.adversarial)).toBe(true);
      tf.dispose([x, r.adversarial]);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

describe('gradient sanity', () => {
  /** A view of a classifier whose input passes through rounding, which has a zero gradient. */
  function nonDifferentiable(inner: Classifier): Classifier {
    const q = (x: tf.Tensor4D): tf.Tensor4D => tf.round<tf.Tensor4D>(tf.mul(x, 4)).div(4);
    return {
      ...inner, name: inner.name, inputSize: inner.inputSize, classNames: inner.classNames, layers: inner.layers,
      preprocessing: inner.preprocessing, defaultLayer: inner.defaultLayer, fingerprint: 'x', differentiable: true,
      logits: (x) => tf.tidy(() => inner.logits(q(x))),
      activations: (x, l) => tf.tidy(() => inner.activations(q(x), l)),
      run: (x, o) => inner.run(x && q(x), o),
      withEdits: (l, e) => inner.withEdits(l, e), layer: (l) => inner.layer(l), dispose: () => inner.dispose(),
    };
  }

  it('warns that a zero gradient points to a non-differentiable layer, or throws when asked', async () => {
    const clf = nonDifferentiable(tinyCnn());
    const x = images8bit(2);
    const labels = await predictions(clf, x);
    const r = await pgd(clf, x, labels, { steps: 2, randomStart: false });
    expect(r.warnings.join(' ')).toMatch(/zero for 2 of 2 images.*not differentiable/);
    r.adversarial.dispose();
    let err: unknown;
    try { await pgd(clf, x, labels, { steps: 2, gradientCheck: 'throw' }); } catch (e) { err = e; }
    expect((err as UnitAttackError).code).toBe('UA_NUMERIC');
    x.dispose();
  });

  it('warns that a saturated softmax stops the cross-entropy gradient and suggests the margin loss', async () => {
    const dim = 4 * 4 * 3;
    const w = new Float32Array(dim * 2).map((_, i) => (i % 2 === 0 ? 1000 : -1000));
    const clf = linearModel(w, 2, 4);
    const x = tf.fill<tf.Rank.R4>([1, 4, 4, 3], 0.5);
    const r = await fgsm(clf, x, [0]);
    expect(r.warnings.join(' ')).toMatch(/saturated.*margin/);
    r.adversarial.dispose();
    const m = await fgsm(clf, x, [0], { objective: { kind: 'margin' } });
    expect(m.warnings).toEqual([]);
    tf.dispose([x, m.adversarial]);
  });
});

describe('usage errors', () => {
  it('name the option, the value and the fix', async () => {
    const clf = colourModel();
    const x = colourImages(2);
    await expectUsage(pgd(clf, x, [0, 1], { epsilon: 2 }), 'epsilon', /\(0, 1\]/);
    await expectUsage(pgd(clf, x, [0, 1], { epsilon: 'big' }), 'epsilon', /4\/255/);
    await expectUsage(pgd(clf, x, [0, 1], { steps: 0 }), 'steps');
    await expectUsage(pgd(clf, x, [0, 1], { restarts: 3, randomStart: false }), 'restarts', /randomStart/);
    await expectUsage(pgd(clf, x, [0, 1], { stepSize: -1 }), 'stepSize');
    await expectUsage(pgd(clf, x, [0, 1], { schedule: 'linear' as 'cosine' }), 'schedule');
    await expectUsage(pgd(clf, x, [0, 1], { norm: 'l1' as 'l2' }), 'norm');
    await expectUsage(pgd(clf, x, [0, 1], { seed: 1.5 }), 'seed');
    await expectUsage(pgd(clf, x, [0, 1], { minPsnr: -3 }), 'minPsnr', /35/);
    await expectUsage(runAttack(clf, x, [0, 1], { kind: 'square', minPsnr: 35 }), 'minPsnr', /pgd/);
    await expectUsage(pgd(clf, x, [0, 1], { objective: { kind: 'ce', target: 'purple' } }), 'objective.target', /red, green, blue/);
    await expectUsage(pgd(clf, x, [0, 7]), 'labels[1]');
    await expectUsage(pgd(clf, x, [0]), 'labels');
    const big = tf.mul<tf.Tensor4D>(x, 2);
    await expectUsage(pgd(clf, big, [0, 1]), 'x', /\[0, 1\]/);
    const small = tf.zeros<tf.Rank.R4>([1, 8, 8, 3]);
    await expectUsage(fgsm(clf, small, [0]), 'x', /16, 16, 3/);
    tf.dispose([x, big, small]);
  });
});
