import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { unitAttackCurve } from '../../src/attacks/curve.js';
import { disposeUnitAttack, measureUnitEffect, unitAttack, type UnitAttackOptions } from '../../src/attacks/unit/index.js';
import { unitAttackToJson } from '../../src/report/attack-json.js';
import type { Atlas, AtlasUnit } from '../../src/dissection/atlas.js';
import { UnitAttackError } from '../../src/errors.js';
import type { Classifier } from '../../src/models/types.js';
import { expectNoLeak } from '../helpers.js';
import { colourImages, colourModel, distances, is8bit, predictions } from './helpers.js';

/**
 * A hand-made atlas for {@link colourModel}'s layer `units`: unit 0 stands for `reddish`, 1 for `greenish`, 2 for
 * `bluish`; class importance ranks units 1, 0 first for `red` and unit 1 first for `green`.
 */
function colourAtlas(): Atlas {
  const names = ['reddish', 'greenish', 'bluish', null, null, null];
  return {
    format: 'unit-attack-atlas', version: 1, model: 'colour', fingerprint: '', layer: 'units', layerShape: [16, 16, 6],
    inputSize: [16, 16], labelSize: [16, 16], classes: ['red', 'green', 'blue'],
    probe: { spec: 'hand-made', kind: 'folder', count: 0, used: 0, concepts: [] },
    params: { quantile: 0.01, iouThreshold: 0.04, topN: 3, topImages: 0, metric: 'logprob', trainFraction: 0.5, sketchK: 16384, seed: 1, importance: true },
    skipped: 0, skippedIds: [],
    units: names.map((concept, unit): AtlasUnit => ({
      unit, threshold: 0.5, concept, category: concept === null ? null : 'colour', iou: concept === null ? 0.01 : 0.3,
      perCategory: (unit === 2 ? { colour: { concept: 'teal', iou: 0.03 } } : {}),
      topConcepts: [], topImages: [],
    })),
    classImportance: {
      red: { ranking: [1, 0, 5, 3, 2, 4], drops: [1, 0.5, 0.2, 0, 0, 0], count: 4, split: 'train' },
      green: { ranking: [1, 4, 3, 0, 2, 5], drops: [1, 0.5, 0.2, 0, 0, 0], count: 4, split: 'train' },
    },
    ablation: {}, created: '2026-01-01T00:00:00.000Z', tool: { name: 'unit-attack', version: '0.1.0', backend: 'cpu' },
  };
}

describe('unitAttack on a hand-wired colour model', () => {
  let clf: Classifier;
  let x: tf.Tensor4D;
  let labels: Int32Array;
  let red: number[];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    clf = colourModel();
    x = colourImages(12, 16, 5);
    labels = await predictions(clf, x);
    red = Array.from(labels.keys()).filter((i) => labels[i] === 0);
  });

  const base: UnitAttackOptions = { suppressUnits: [0], exciteUnits: [1], target: 'green', epsilon: '8/255', steps: 10, seed: 3 };

  it('runs a control of the same size that excludes the steered units', async () => {
    const r = await unitAttack(clf, x, labels, base);
    try {
      expect(r.control).not.toBeNull();
      const c = r.control!;
      expect(c.suppress).toHaveLength(1);
      expect(c.excite).toHaveLength(1);
      for (const u of [...c.suppress, ...c.excite]) expect([0, 1]).not.toContain(u);
      expect(c.suppress[0]).not.toBe(c.excite[0]);
      expect(r.selection.suppress).toMatchObject({ by: 'index', units: [0] });
      expect(r.target).toEqual({ index: 1, name: 'green' });
    } finally {
      disposeUnitAttack(r);
    }
  });

  it('draws the control from units that fire: units with a zero threshold are never in it, and its gradient is finite', async () => {
    const atlas = colourAtlas();
    for (const u of [2, 3]) atlas.units[u].threshold = 0; // only units 4 and 5 are left for the control
    for (const seed of [1, 2, 3, 4]) {
      const r = await unitAttack(clf, x, labels, { atlas, suppressUnits: [0], exciteUnits: [1], target: 'green', epsilon: '8/255', steps: 3, seed, randomStart: false });
      try {
        expect([...r.control!.suppress, ...r.control!.excite].sort()).toEqual([4, 5]);
        expect(r.warnings.join(' ')).not.toMatch(/NaN/);
      } finally {
        disposeUnitAttack(r);
      }
    }
  });

  it('returns 8-bit images in [0, 1] within ε after rounding, and metrics measured on them', async () => {
    const r = await unitAttack(clf, x, labels, base);
    try {
      for (const arm of [r.unit, r.control!]) {
        const adv = arm.attack.adversarial;
        expect(await is8bit(adv)).toBe(true);
        const d = await distances(adv, x);
        for (const v of d.linf) expect(v).toBeLessThanOrEqual(8 / 255 + 1e-6);
        expect(arm.linf.max).toBeCloseTo(Math.max(...d.linf), 6);
        expect(Array.from(arm.after)).toEqual(Array.from(await predictions(clf, adv)));
        for (const rate of [arm.targetedSuccess!, arm.untargetedSuccess, arm.robustAccuracy]) {
          expect(rate.rate).toBeGreaterThanOrEqual(0);
          expect(rate.rate).toBeLessThanOrEqual(1);
        }
        expect(arm.psnr.min).toBeGreaterThan(20);
        expect(arm.ssim.max).toBeLessThanOrEqual(1);
      }
      // Steering red → green turns red images green; the control (two other units) does not.
      expect(red.length).toBeGreaterThan(2);
      expect(r.unit.targetedSuccess!.rate).toBeGreaterThan(0.5);
      expect(r.unit.targetedSuccess!.rate).toBeGreaterThan(r.control!.targetedSuccess!.rate);
      expect(r.unit.unitEffect.suppressed.mean).toBeLessThan(0);
      expect(r.unit.unitEffect.excited.mean).toBeGreaterThan(0);
    } finally {
      disposeUnitAttack(r);
    }
  });

  it('keeps both arms above a PSNR floor and records it', async () => {
    const r = await unitAttack(clf, x, labels, { ...base, minPsnr: 33 });
    try {
      expect(r.minPsnr).toBe(33);
      expect(unitAttackToJson(r, clf.classNames).minPsnr).toBe(33);
      for (const arm of [r.unit, r.control!]) {
        const d = await distances(arm.attack.adversarial, x);
        for (const v of d.linf) expect(v).toBeLessThanOrEqual(8 / 255 + 1e-6);
        expect(arm.psnr.min).toBeGreaterThanOrEqual(33 - 1e-6);
      }
    } finally {
      disposeUnitAttack(r);
    }
    await expect(unitAttack(clf, x, labels, { ...base, attack: 'cw', target: 'green', minPsnr: 33 })).rejects.toThrow(/minPsnr is supported with pgd and fgsm/);
  });

  it('replays exactly from its seed, and another seed draws another control', async () => {
    const a = await unitAttack(clf, x, labels, base);
    const b = await unitAttack(clf, x, labels, base);
    const c = await unitAttack(clf, x, labels, { ...base, seed: 11 });
    try {
      expect(Array.from(await a.unit.attack.adversarial.data())).toEqual(Array.from(await b.unit.attack.adversarial.data()));
      expect(Array.from(await a.control!.attack.adversarial.data())).toEqual(Array.from(await b.control!.attack.adversarial.data()));
      expect(a.control!.suppress).toEqual(b.control!.suppress);
      expect(a.controlSeed).toBe(b.controlSeed);
      expect(c.controlSeed).not.toBe(a.controlSeed);
    } finally {
      [a, b, c].forEach(disposeUnitAttack);
    }
  });

  it('leaves no tensors behind', async () => {
    await expectNoLeak(() => unitAttack(clf, x, labels, base), disposeUnitAttack);
    await expectNoLeak(() => unitAttack(clf, x, labels, { ...base, shaping: 'log', aggregate: 'max' }), disposeUnitAttack);
    await expectNoLeak(() => unitAttackCurve(clf, x, labels, { ...base, steps: 3 }, { epsilons: '0,4/255' }), () => undefined);
  });

  it('chooses units by concept and by class from an atlas', async () => {
    const atlas = colourAtlas();
    const byConcept = await unitAttack(clf, x, labels, { atlas, suppress: ['reddish'], excite: ['greenish'], target: 'green', epsilon: '4/255', steps: 3 });
    const byClass = await unitAttack(clf, x, labels, { atlas, suppressClass: 'red', exciteClass: 'green', count: 1, epsilon: '4/255', steps: 3 });
    try {
      expect(byConcept.unit.suppress).toEqual([0]);
      expect(byConcept.unit.excite).toEqual([1]);
      expect(byConcept.selection.excite).toMatchObject({ by: 'concept', names: ['greenish'], concepts: ['greenish'] });
      expect(byConcept.unitScale).toBe('threshold');
      // Excite first (1), then the red ranking without it (0); the target defaults to the excited class.
      expect(byClass.unit.excite).toEqual([1]);
      expect(byClass.unit.suppress).toEqual([0]);
      expect(byClass.target?.name).toBe('green');
      expect(byClass.control!.suppress.length + byClass.control!.excite.length).toBe(2);
      const json = unitAttackToJson(byClass, clf.classNames);
      expect(JSON.parse(JSON.stringify(json))).toMatchObject({ kind: 'unit-attack', seed: 0, target: { name: 'green' } });
    } finally {
      disposeUnitAttack(byConcept);
      disposeUnitAttack(byClass);
    }
  });

  it('ranks each class by ablation by default, and a pair of classes by their class gradients on request', async () => {
    const atlas: Atlas = {
      ...colourAtlas(),
      classGradients: {
        // on red images: raising unit 2 or 4 pulls green over red (gain), units 5 and 3 hold red up (attribution)
        red: {
          count: 4, split: 'train',
          gain: [[0, 0, 0, 0, 0, 0], [0, 0.5, 2, 0, 1, 0], [0, 0, 0, 0, 0, 0]],
          attribution: [[0, 0, 0, 2, 0, 3], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]],
        },
      },
    };
    const common: UnitAttackOptions = { atlas, suppressClass: 'red', exciteClass: 'green', count: 2, epsilon: '4/255', steps: 2, control: false };
    const byGradient = await unitAttack(clf, x, labels, { ...common, classRanking: 'gradient' });
    const byAblation = await unitAttack(clf, x, labels, common); // ablation is the default
    try {
      expect(byGradient.unit.excite).toEqual([2, 4]);
      expect(byGradient.unit.suppress).toEqual([5, 3]);
      expect(byGradient.selection.excite).toMatchObject({ by: 'class', names: ['green'], ranking: 'gradient' });
      expect(byAblation.unit.excite).toEqual([1, 4]);
      expect(byAblation.unit.suppress).toEqual([0, 5]);
      expect(byAblation.selection.suppress.ranking).toBe('ablation');
    } finally {
      disposeUnitAttack(byGradient);
      disposeUnitAttack(byAblation);
    }
    // without gradients for the source class: an error when gradients are asked for
    await expect(unitAttack(clf, x, labels, { ...common, atlas: colourAtlas(), classRanking: 'gradient' })).rejects.toThrow(/no class gradients for 'red'.*/);
    await expect(unitAttack(clf, x, labels, { atlas, exciteClass: 'green', classRanking: 'gradient', epsilon: '4/255' })).rejects.toThrow(/set both suppressClass and exciteClass/);
    await expect(unitAttack(clf, x, labels, { ...common, classRanking: 'typical' as 'gradient' })).rejects.toThrow(/classRanking/);
  });

  it('names the available concepts when no unit carries a concept', async () => {
    const err = await unitAttack(clf, x, labels, { atlas: colourAtlas(), excite: ['bed'], epsilon: '4/255' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).message).toMatch(/concept 'bed'/);
    expect((err as UnitAttackError).hint).toMatch(/bluish, greenish, reddish/);
  });

  it('falls back to units by IoU for a concept that labels no unit when conceptIou is set', async () => {
    const atlas = colourAtlas();
    const r = await unitAttack(clf, x, labels, { atlas, suppress: ['reddish'], excite: ['teal'], conceptIou: 0.02, epsilon: '4/255', steps: 2 });
    try {
      expect(r.unit.excite).toEqual([2]);
      expect(r.unit.suppress).toEqual([0]);
    } finally {
      disposeUnitAttack(r);
    }
    await expect(unitAttack(clf, x, labels, { atlas, excite: ['teal'], conceptIou: 0.05 })).rejects.toThrow(/not even with an IoU of 0.05/);
  });

  it('weighs each unit by where it usually fires with aggregate typical', async () => {
    // Weights on the left half only: without a random start, only the left half of the images changes.
    const w = new Float32Array(16 * 16 * 6);
    for (let y = 0; y < 16; y++) for (let xx = 0; xx < 8; xx++) for (let u = 0; u < 6; u++) w[(y * 16 + xx) * 6 + u] = 1;
    const r = await unitAttack(clf, x, labels, { exciteUnits: [1], aggregate: 'typical', spatialWeights: w, epsilon: '8/255', steps: 3, randomStart: false, control: false });
    try {
      const d = tf.tidy(() => tf.sub(r.unit.attack.adversarial, x).abs().mean([0, 1, 3]).dataSync());
      const left = Array.from(d.slice(0, 8)).reduce((a, b) => a + b, 0);
      const right = Array.from(d.slice(8)).reduce((a, b) => a + b, 0);
      expect(left).toBeGreaterThan(5 * right);
    } finally {
      disposeUnitAttack(r);
    }
    await expect(unitAttack(clf, x, labels, { exciteUnits: [1], aggregate: 'typical', spatialWeights: new Float32Array(3) })).rejects.toThrow(/spatialWeights has 3 numbers/);
    await expect(unitAttack(clf, x, labels, { exciteUnits: [1], spatialWeights: w })).rejects.toThrow(/only with aggregate 'typical'/);
  });

  it('rejects ε outside (0, 1], steps < 1, an unknown target and a logits-only attack', async () => {
    await expect(unitAttack(clf, x, labels, { ...base, epsilon: 0 })).rejects.toThrow(/epsilon must be in \(0, 1\]/);
    await expect(unitAttack(clf, x, labels, { ...base, epsilon: 1.5 })).rejects.toThrow(/epsilon/);
    await expect(unitAttack(clf, x, labels, { ...base, steps: 0 })).rejects.toThrow(/steps must be an integer ≥ 1/);
    await expect(unitAttack(clf, x, labels, { ...base, target: 'purple' })).rejects.toThrow(/unknown target class 'purple'/);
    await expect(unitAttack(clf, x, labels, { ...base, attack: 'square' })).rejects.toThrow(/only sees logits/);
    await expect(unitAttack(clf, x, labels, { exciteUnits: [1], suppressUnits: [1] })).rejects.toThrow(/both suppressed and excited/);
    await expect(unitAttack(clf, x, labels, { epsilon: '4/255' })).rejects.toThrow(/needs units/);
    await expect(unitAttack(clf, x, labels, { exciteClass: 'green' })).rejects.toThrow(/needs an atlas/);
    await expect(unitAttack(clf, x, labels, { exciteUnits: [1, 2], suppressUnits: [0, 3] })).rejects.toThrow(/too few for a random control/);
  });

  it('warns, naming the cause, when the steered units give no gradient instead of reporting a silent 0%', async () => {
    // On exactly grey images the colour-difference units 3–5 are 0 after ReLU: no gradient reaches them.
    const grey = tf.fill<tf.Rank.R4>([4, 16, 16, 3], 128 / 255);
    const r = await unitAttack(clf, grey, [0, 0, 0, 0], { exciteUnits: [3], epsilon: '4/255', steps: 3, randomStart: false, control: false });
    try {
      expect(r.warnings.join(' ')).toMatch(/gradient is zero/);
      expect(r.warnings.join(' ')).toMatch(/inactive|did not move|unchanged/);
      expect(r.unit.linf.max).toBe(0);
    } finally {
      disposeUnitAttack(r);
      grey.dispose();
    }
  });

  it('measures the unit effect of any attack (the PNAS measurement)', async () => {
    const shifted = tf.tidy(() => tf.clipByValue<tf.Tensor4D>(tf.add(x, tf.tensor1d([-8 / 255, 8 / 255, 0])), 0, 1));
    const e = await expectNoLeak(() => measureUnitEffect(clf, 'units', x, shifted, [0], [1], { seed: 1 }));
    shifted.dispose();
    expect(e.suppressed.mean).toBeLessThan(0);
    expect(e.excited.mean).toBeGreaterThan(0);
    expect(e.excited.ci[0]).toBeLessThanOrEqual(e.excited.mean);
    expect(e.confidence).toBe(0.99);
  });
});
