import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkCurve, checkGradientMasking, checkSquare, maskingWarnings, type MaskingCheckName } from '../../src/attacks/masking.js';
import { runAttack } from '../../src/attacks/registry.js';
import { robustnessCurve } from '../../src/attacks/curve.js';
import type { Classifier } from '../../src/models/types.js';
import { images8bit, predictions, tinyCnn } from './helpers.js';
import { randomLayer, roundedInput, saturatedInput, softmaxHead, subStepDetail } from './masking-models.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

async function flagsOf(clf: Classifier, x: tf.Tensor4D): Promise<MaskingCheckName[]> {
  const labels = await predictions(clf, x);
  const before = tf.memory().numTensors;
  const checks = await checkGradientMasking(clf, x, labels);
  expect(tf.memory().numTensors).toBe(before);
  expect(checks.map((c) => c.check)).toEqual(['accuracy-at-zero', 'nondeterministic', 'softmax-outputs', 'zero-gradients']);
  return checks.filter((c) => c.flagged).map((c) => c.check);
}

describe('gradient-masking checks on models built to trigger them', () => {
  it('stay quiet on a plain CNN', async () => {
    const x = images8bit(12, 16, 3);
    expect(await flagsOf(tinyCnn({ seed: 4, classes: 5 }), x)).toEqual([]);
    x.dispose();
  });

  it('flag a softmax head (probabilities instead of logits)', async () => {
    const x = images8bit(12, 16, 3);
    expect(await flagsOf(softmaxHead(tinyCnn({ seed: 4, classes: 5 })), x)).toContain('softmax-outputs');
    x.dispose();
  });

  it('flag a random layer (another answer on the same input)', async () => {
    const x = images8bit(12, 16, 3);
    expect(await flagsOf(randomLayer(tinyCnn({ seed: 4, classes: 5 })), x)).toContain('nondeterministic');
    x.dispose();
  });

  it('flag a saturated input path (zero gradients) and a rounding one', async () => {
    const x = images8bit(12, 16, 3);
    expect(await flagsOf(saturatedInput(tinyCnn({ seed: 4, classes: 5 })), x)).toEqual(['zero-gradients']);
    expect(await flagsOf(roundedInput(tinyCnn({ seed: 4, classes: 5 })), x)).toEqual(['zero-gradients']);
    x.dispose();
  });

  it('flag a model that answers differently once the images are rounded to 8 bits (accuracy at ε = 0)', async () => {
    // Images a third of a step off the 8-bit grid.
    const x = tf.tidy(() => tf.clipByValue<tf.Tensor4D>(tf.add(images8bit(12, 16, 3, 0.05, 0.95), 0.3 / 255), 0, 1));
    const clf = subStepDetail(tinyCnn({ seed: 4, classes: 5 }));
    const checks = await checkGradientMasking(clf, x, await predictions(clf, x));
    const flag = checks.find((c) => c.check === 'accuracy-at-zero')!;
    expect(flag.flagged).toBe(true);
    expect(flag.message).toMatch(/clean accuracy \(12\/12, one batch\) differs from the accuracy at ε = 0/);
    x.dispose();
  });
});

describe('gradient-masking checks on curves and ensembles', () => {
  const pt = (epsilon: number, robust: number, clean = 90): { epsilon: number; robust: number; clean: number; total: number } => ({ epsilon, robust, clean, total: 100 });

  it('flag robust accuracy that rises with ε, and an ε = 0 row that differs from clean accuracy', () => {
    const quiet = checkCurve([pt(0, 90), pt(1 / 255, 60), pt(2 / 255, 60), pt(4 / 255, 10)]);
    expect(quiet.map((c) => [c.check, c.flagged])).toEqual([['curve-rises', false], ['accuracy-at-zero', false]]);
    const rises = checkCurve([pt(1 / 255, 60), pt(2 / 255, 40), pt(4 / 255, 45)]);
    expect(rises).toHaveLength(1);
    expect(rises[0]).toMatchObject({ check: 'curve-rises', flagged: true, value: 0.05 });
    expect(rises[0].message).toMatch(/2\/255 → 4\/255: 40 → 45 of 100/);
    const zero = checkCurve([pt(0, 88), pt(1 / 255, 60)]);
    expect(zero[1]).toMatchObject({ check: 'accuracy-at-zero', flagged: true });
  });

  it('flag Square breaking images the gradient attacks left standing', () => {
    expect(checkSquare(0, 30, 100).flagged).toBe(false);
    const f = checkSquare(3, 30, 100);
    expect(f).toMatchObject({ check: 'square-beats-gradients', flagged: true, value: 0.03 });
    expect(maskingWarnings([f, checkSquare(0, 1, 1)])).toEqual([`gradient masking (square-beats-gradients): ${f.message}`]);
  });

  it('come with every robustness curve (its checks), beside the zero-gradient warning of its attack', async () => {
    const clf = roundedInput(tinyCnn({ seed: 4, classes: 5 }));
    const x = images8bit(6, 16, 3);
    const c = await robustnessCurve(clf, x, await predictions(clf, x), { kind: 'pgd', steps: 3 }, { epsilons: [0, 2 / 255, 4 / 255] });
    expect(c.checks.map((k) => k.check)).toEqual(['curve-rises', 'accuracy-at-zero']);
    expect(c.rows.flatMap((r) => r.warnings).join(' ')).toMatch(/gradient is zero/);
    x.dispose();
  });

  it('flag Square beating the gradient attacks inside autoattack, on a model whose input is rounded', async () => {
    const clf = roundedInput(tinyCnn({ seed: 4, classes: 5 }));
    const x = images8bit(8, 16, 3);
    const labels = await predictions(clf, x);
    const r = await runAttack(clf, x, labels, { kind: 'autoattack', epsilon: 16 / 255, steps: 3, targetClasses: 1, queries: 60, seed: 2 });
    const checks = r.details!.checks as Array<{ check: string; flagged: boolean }>;
    expect(checks.find((k) => k.check === 'zero-gradients')!.flagged).toBe(true);
    expect(checks.find((k) => k.check === 'square-beats-gradients')!.flagged).toBe(true);
    expect(r.warnings.some((w) => w.startsWith('gradient masking (square-beats-gradients)'))).toBe(true);
    tf.dispose([x, r.adversarial]);
  });
});
