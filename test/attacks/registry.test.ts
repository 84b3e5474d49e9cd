import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import * as attacks from '../../src/attacks/index.js';
import { attackNames, getAttack, registerAttack, runAttack } from '../../src/attacks/registry.js';
import { UnitAttackError } from '../../src/errors.js';
import { distances, images8bit, predictions, tinyCnn } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('attack registry', () => {
  it('knows the built-in attacks and runs each from a spec', async () => {
    expect(attackNames()).toEqual(expect.arrayContaining(['fgsm', 'pgd', 'cw', 'square', 'apgd-ce', 'apgd-dlr', 'apgd-t', 'autoattack']));
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(2, 16, 5);
    const labels = await predictions(clf, x);
    for (const spec of [
      { kind: 'fgsm', epsilon: '4/255' },
      { kind: 'pgd', epsilon: '4/255', steps: 2 },
      { kind: 'cw', steps: 2, binarySteps: 1 },
      { kind: 'square', epsilon: '4/255', queries: 5 },
      { kind: 'apgd-ce', epsilon: '4/255', steps: 2 },
      { kind: 'apgd-dlr', epsilon: '4/255', steps: 2 },
      { kind: 'apgd-t', epsilon: '4/255', steps: 2, targetClasses: 1 },
      { kind: 'autoattack', epsilon: '4/255', steps: 2, targetClasses: 1, queries: 5 },
    ] as const) {
      const before = tf.memory().numTensors;
      const res = await runAttack(clf, x, labels, spec);
      expect(tf.memory().numTensors).toBe(before + 1); // only the adversarial images
      expect(res.attack).toBe(spec.kind);
      expect(res.adversarial.shape).toEqual([2, 16, 16, 3]);
      expect(res.backend).toBe('cpu');
      expect(res.tfjsVersion).toMatch(/^4\./);
      expect(res.cleanPredictions).toEqual(labels);
      res.adversarial.dispose();
    }
    x.dispose();
  });

  it('treats ε = 0 as no attack: the clean images with their predictions', async () => {
    const clf = tinyCnn({ seed: 11 });
    const x = images8bit(3, 16, 5);
    const labels = await predictions(clf, x);
    const r = await runAttack(clf, x, labels, { kind: 'pgd', epsilon: '0' });
    expect((await distances(r.adversarial, x)).linf).toEqual([0, 0, 0]);
    expect(r.success).toEqual([false, false, false]);
    expect(r.epsilon).toBe(0);
    tf.dispose([x, r.adversarial]);
  });

  it('runs attacks that users register', async () => {
    registerAttack<{ kind: 'identity'; tag?: string }>('identity', {
      description: 'returns the input',
      run: async (clf, x, labels, spec) => {
        const base = await runAttack(clf, x, labels, { kind: 'fgsm', epsilon: 0 });
        return { ...base, attack: 'identity', details: { tag: spec.tag } };
      },
    });
    const clf = tinyCnn();
    const x = images8bit(1);
    const r = await runAttack(clf, x, [0], { kind: 'identity', tag: 'hello' });
    expect(r.attack).toBe('identity');
    expect(r.details).toEqual({ tag: 'hello' });
    expect(getAttack('identity').description).toBe('returns the input');
    tf.dispose([x, r.adversarial]);
  });

  it('names unknown attacks with the known ones and a guess', async () => {
    let err: unknown;
    try { getAttack('pgdd'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).path).toBe('attack.kind');
    expect((err as UnitAttackError).hint).toMatch(/fgsm, pgd, cw, square.*did you mean pgd/);
    expect(() => registerAttack('bad name', { run: () => Promise.reject(new Error('never')) })).toThrow(UnitAttackError);
    const clf = tinyCnn();
    const x = images8bit(1);
    await expect(runAttack(clf, x, [0], {} as never)).rejects.toMatchObject({ path: 'attack.kind' });
    x.dispose();
  });
});

describe('public API of src/attacks', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(attacks).sort()).toEqual([
      'AUTOATTACK_VERSIONS', 'DEFAULT_EPSILONS', 'NORMS', 'apgd', 'apgdCheckpoints', 'attackNames', 'autoattack', 'buildObjective',
      'checkCurve', 'checkGradientMasking', 'checkSquare', 'checkThreat', 'classMargin', 'cleanAccuracy',
      'crossEntropy', 'curveTable', 'curveToCsv', 'cw', 'disposeUnitAttack', 'dlrLoss', 'fab', 'fgsm', 'formatEpsilon',
      'gaussianWindow', 'getAttack', 'l2', 'linf', 'maskingWarnings', 'measureUnitEffect', 'normalQuantile', 'objectiveKinds',
      'parseEpsilon', 'parseEpsilonList', 'perImageL2', 'perImageLinf', 'pgd', 'project', 'projectToHyperplane', 'psnr', 'randomUnits',
      'registerAttack', 'registerObjective', 'resolveTargets', 'robustAccuracy', 'robustnessCurve', 'roundTo8Bit',
      'runAttack', 'square', 'squareFraction', 'ssim', 'successOf', 'summarize', 'targetedSuccess', 'unitAttack',
      'unitAttackCurve', 'unitAttackToJson', 'unitEffect', 'untargetedSuccess', 'wilsonInterval',
    ]);
  });
});
