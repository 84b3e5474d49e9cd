import * as tf from '../../src/tf.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { autoattack, type AutoAttackComponent } from '../../src/attacks/autoattack.js';
import { getAttack, registerAttack, runAttack, type AttackImpl, type CustomAttackSpec } from '../../src/attacks/registry.js';
import { UnitAttackError } from '../../src/errors.js';
import { images8bit, predictions, tinyCnn } from './helpers.js';
import { randomLayer } from './masking-models.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

const originals = new Map<string, AttackImpl>();

/** Wraps the registered attack `name` so that every call records which images (by index in `x`) it was given. */
async function spyOn(name: string, x: tf.Tensor4D, calls: Array<{ attack: string; images: number[] }>): Promise<void> {
  const impl = getAttack(name);
  if (!originals.has(name)) originals.set(name, impl);
  const per = x.size / x.shape[0];
  const all = await x.data();
  const index = new Map<string, number>();
  for (let i = 0; i < x.shape[0]; i++) index.set(all.slice(i * per, (i + 1) * per).join(','), i);
  registerAttack(name, {
    run: async (c, xs, l, spec: CustomAttackSpec) => {
      const d = await xs.data();
      calls.push({ attack: name, images: Array.from({ length: xs.shape[0] }, (_, k) => index.get(d.slice(k * per, (k + 1) * per).join(','))!) });
      return impl.run(c, xs, l, spec);
    },
  });
}

afterEach(() => {
  for (const [name, impl] of originals) registerAttack(name, impl);
  originals.clear();
});

describe('autoattack', () => {
  it('runs each component only on the images every earlier one left robust, never on a clean mistake', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(12, 16, 13);
    const labels = Int32Array.from(await predictions(clf, x));
    // Two clean mistakes: labels that are not the prediction.
    labels[3] = (labels[3] + 1) % 5; labels[7] = (labels[7] + 1) % 5;
    const calls: Array<{ attack: string; images: number[] }> = [];
    for (const name of ['apgd-ce', 'apgd-t', 'fab-t', 'square']) await spyOn(name, x, calls);
    const before = tf.memory().numTensors;
    const r = await autoattack(clf, x, labels, { epsilon: 3 / 255, steps: 5, targetClasses: 2, queries: 40, seed: 3 });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(calls.map((c) => c.attack)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    const components = r.details!.components as AutoAttackComponent[];
    expect(components.map((c) => [c.name, c.ran])).toEqual([['apgd-ce', true], ['apgd-t', true], ['fab-t', true], ['square', true]]);
    expect(calls[0].images).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 10, 11]);
    // Each later component sees exactly the images the one before left robust; the ones it dropped stay broken.
    const ran = components.filter((c) => c.ran);
    for (const [k, call] of calls.entries()) {
      expect(ran[k].attacked).toBe(call.images.length);
      const next = k + 1 < calls.length ? calls[k + 1].images : call.images.filter((i) => r.predictions[i] === labels[i]);
      expect(next.every((i) => call.images.includes(i))).toBe(true);
      expect(next.length).toBe(ran[k].robustAfter);
      for (const i of call.images.filter((j) => !next.includes(j))) expect(r.predictions[i]).not.toBe(labels[i]);
    }
    // Something was left for each to do, and robust accuracy is what the last component left.
    expect(components[0].broke).toBeGreaterThan(0);
    expect(r.predictions.filter((p, i) => p === labels[i]).length).toBe(components[3].robustAfter);
    expect(r.details!.componentsRun).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(r.details!.componentsSkipped).toEqual([]);
    expect(r.warnings.join(' ')).not.toMatch(/did not run/);
    r.adversarial.dispose();
    x.dispose();
  });

  it('runs Square with the reference settings: initial square 0.8, schedule not rescaled, margin loss', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(6, 16, 13);
    const labels = await predictions(clf, x);
    const impl = getAttack('square');
    originals.set('square', impl);
    const specs: CustomAttackSpec[] = [];
    registerAttack('square', { run: async (c, xs, l, spec: CustomAttackSpec) => { specs.push(spec); return impl.run(c, xs, l, spec); } });
    // A tiny ε leaves most images robust for Square.
    const r = await autoattack(clf, x, labels, { epsilon: 1 / 255, steps: 2, targetClasses: 1, queries: 20, seed: 2, checks: false });
    expect(specs).toHaveLength(1);
    expect(specs[0]).toMatchObject({ kind: 'square', queries: 20, pInit: 0.8, rescaleSchedule: false, objective: { kind: 'margin' } });
    r.adversarial.dispose();
    x.dispose();
  });

  it('is never above APGD-CE alone (its first component, same seed) and replays exactly', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(10, 16, 14);
    const labels = await predictions(clf, x);
    const spec = { epsilon: 3 / 255, steps: 5, targetClasses: 2, queries: 30, seed: 5 };
    const a = await runAttack(clf, x, labels, { kind: 'autoattack', ...spec });
    const b = await runAttack(clf, x, labels, { kind: 'autoattack', ...spec });
    const ce = await runAttack(clf, x, labels, { kind: 'apgd-ce', epsilon: spec.epsilon, steps: spec.steps, seed: spec.seed });
    const robust = (p: Int32Array): number => p.filter((v, i) => v === labels[i]).length;
    expect(robust(a.predictions)).toBeLessThanOrEqual(robust(ce.predictions));
    expect(Array.from(await a.adversarial.data())).toEqual(Array.from(await b.adversarial.data()));
    expect(a.attack).toBe('autoattack');
    tf.dispose([x, a.adversarial, b.adversarial, ce.adversarial]);
  });

  it('runs APGD-CE and APGD-DLR with EOT in version rand, and warns that a deterministic model only costs time', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(3, 16, 15);
    const labels = await predictions(clf, x);
    const calls: Array<{ attack: string; images: number[] }> = [];
    await spyOn('apgd-ce', x, calls);
    await spyOn('apgd-dlr', x, calls);
    const r = await autoattack(clf, x, labels, { version: 'rand', epsilon: 1 / 255, steps: 2, eot: 2, seed: 1 });
    expect((r.details!.components as AutoAttackComponent[]).map((c) => c.name)).toEqual(['apgd-ce', 'apgd-dlr']);
    expect(r.details).toMatchObject({ version: 'rand', eot: 2 });
    expect(r.warnings.join(' ')).toMatch(/version 'rand' on a model that gives the same logits twice.*only costs time/);
    expect(calls[0].attack).toBe('apgd-ce');
    tf.dispose([x, r.adversarial]);
  });

  it('runs version rand on a random model without the warning, and flags the model as not deterministic', async () => {
    const clf = randomLayer(tinyCnn({ seed: 21, classes: 5 }));
    const x = images8bit(3, 16, 15);
    const r = await autoattack(clf, x, [0, 1, 2], { version: 'rand', epsilon: 2 / 255, steps: 2, eot: 2, seed: 1 });
    expect(r.warnings.join(' ')).not.toMatch(/only costs time/);
    expect((r.details!.checks as Array<{ check: string; flagged: boolean }>).find((c) => c.check === 'nondeterministic')!.flagged).toBe(true);
    tf.dispose([x, r.adversarial]);
  });

  it('skips Square for L2 and says why', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(3, 16, 16);
    const r = await autoattack(clf, x, await predictions(clf, x), { epsilon: 0.05, norm: 'l2', steps: 2, targetClasses: 1, checks: false });
    const sq = (r.details!.components as AutoAttackComponent[]).find((c) => c.name === 'square')!;
    expect(sq.ran).toBe(false);
    expect(sq.reason).toMatch(/L∞ only/);
    expect(r.details!.checks).toEqual([]);
    tf.dispose([x, r.adversarial]);
  });

  it('rejects a version that does not exist, an objective, and a model with one output', async () => {
    const clf = tinyCnn();
    const x = images8bit(1);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ version: 'plus' }, 'version', /one of 'standard', 'rand'/],
      [{ objective: { kind: 'ce' } }, 'objective', /must be unset/],
      [{ queries: 0 }, 'queries', /integer ≥ 1/],
      [{ epsilon: '2' }, 'epsilon', /\(0, 1\]/],
    ];
    for (const [opts, path, text] of cases) {
      const err = await autoattack(clf, x, [0], opts as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnitAttackError);
      expect((err as UnitAttackError).path).toBe(path);
      expect((err as UnitAttackError).message).toMatch(text);
    }
    await expect(autoattack(tinyCnn({ classes: 1 }), x, [0])).rejects.toMatchObject({ code: 'UA_USAGE', path: 'model' });
    x.dispose();
  });
});
