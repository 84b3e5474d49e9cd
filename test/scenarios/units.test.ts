import { describe, expect, it } from 'vitest';
import type { Atlas } from '../../src/dissection/index.js';
import { ScenarioError } from '../../src/scenarios/errors.js';
import { controlUnits, resolveSteeredUnits, unitsByConceptIoU } from '../../src/scenarios/units.js';

/** An atlas of 8 units: snow (0, 1), mountain (2), tree (3), bed only among top concepts (4, 5), dead unit 7. */
function atlas(): Atlas {
  const unit = (u: number, concept: string | null, iou: number, top: Array<[string, number]> = []): Atlas['units'][number] => ({
    unit: u, threshold: u === 7 ? 0 : 1 + u, concept, category: concept === null ? null : 'object', iou,
    perCategory: {}, topConcepts: top.map(([c, v]) => ({ concept: c, category: 'object', iou: v })), topImages: [],
  });
  return {
    format: 'unit-attack-atlas', version: 1, model: 'm', fingerprint: 'f', layer: 'conv', layerShape: [2, 2, 8], inputSize: [8, 8], labelSize: [2, 2],
    classes: ['ski_resort', 'bedroom'],
    probe: { spec: 'builtin:scenes?count=4&seed=1', kind: 'scenes', count: 4, used: 4, concepts: ['snow', 'mountain', 'tree', 'bed'].map((name, i) => ({ id: i + 1, name, category: 'object', pixels: 10 })) },
    params: { quantile: 0.01, iouThreshold: 0.04, topN: 3, topImages: 0, metric: 'logprob', trainFraction: 0.5, sketchK: 16384, seed: 1, importance: true },
    skipped: 0, skippedIds: [],
    units: [
      unit(0, 'snow', 0.2, [['snow', 0.2]]), unit(1, 'snow', 0.3, [['snow', 0.3], ['bed', 0.01]]), unit(2, 'mountain', 0.05, [['mountain', 0.05]]),
      unit(3, 'tree', 0.1, [['tree', 0.1], ['bed', 0.025]]), unit(4, 'tree', 0.06, [['tree', 0.06], ['bed', 0.034]]), unit(5, null, 0.03, [['bed', 0.03]]),
      unit(6, null, 0.01), unit(7, null, 0),
    ],
    classImportance: {
      ski_resort: { ranking: [0, 2, 1, 3, 4, 5, 6, 7], drops: [0.5, 0.4, 0.3, 0.2, 0.1, 0, 0, 0], count: 4, split: 'train' },
      bedroom: { ranking: [5, 4, 6, 3, 2, 1, 0, 7], drops: [0.5, 0.4, 0.3, 0.2, 0.1, 0, 0, 0], count: 4, split: 'train' },
    },
    ablation: {}, created: '2026-01-01T00:00:00.000Z', tool: { name: 'unit-attack', version: '0', backend: 'cpu' },
  };
}

const source = { file: '/tmp/s.yaml', lines: { attack: 5, 'attack.excite': 8, 'attack.excite[0]': 8, 'attack.suppress[1]': 7 } };

describe('units of the unit attack', () => {
  it('takes units labelled with the concepts, best IoU first, merged over concepts, then units by index', () => {
    const s = resolveSteeredUnits({ kind: 'unit', suppress: ['mountain', 'snow', 6], excite: ['tree'] }, atlas(), 'conv', 8, source, true);
    expect(s.suppress.map((c) => c.unit)).toEqual([1, 0, 2, 6]);
    expect(s.suppress.map((c) => c.via)).toEqual(['snow', 'snow', 'mountain', 'index']);
    expect(s.excite.map((c) => c.unit)).toEqual([3, 4]);
    // Thresholds as the unit scale; the dead unit 7 gets the median positive threshold.
    expect(s.unitScale).toEqual([1, 2, 3, 4, 5, 6, 7, 4]);
  });

  it('keeps the first `units` of each side and drops a unit chosen for both sides from suppress', () => {
    const s = resolveSteeredUnits({ kind: 'unit', suppress: ['snow', 3], excite: ['tree'], units: 3 }, atlas(), 'conv', 8, source, false);
    expect(s.suppress.map((c) => c.unit)).toEqual([1, 0]);
    expect(s.excite.map((c) => c.unit)).toEqual([3, 4]);
    expect(s.warnings[0]).toContain('units 3 were chosen both to suppress and to excite');
    expect(s.unitScale).toBeUndefined();
  });

  it('takes units by class importance', () => {
    const s = resolveSteeredUnits({ kind: 'unit', suppressClass: 'ski_resort', exciteClass: 'bedroom', units: 2 }, atlas(), 'conv', 8, source, false);
    expect(s.suppress.map((c) => c.unit)).toEqual([0, 2]);
    expect(s.excite.map((c) => c.unit)).toEqual([5, 4]);
    expect(s.excite[0]!.via).toBe('class bedroom');
  });

  it('matches units to a concept by IoU when no unit is labelled with it (conceptIoU)', () => {
    expect(unitsByConceptIoU(atlas(), 'bed', 0.02).map((c) => [c.unit, c.iou])).toEqual([[4, 0.034], [5, 0.03], [3, 0.025]]);
    expect(() => resolveSteeredUnits({ kind: 'unit', excite: ['bed'] }, atlas(), 'conv', 8, source, false)).toThrow(/none of the concepts in excite labels a unit/);
    const s = resolveSteeredUnits({ kind: 'unit', excite: ['bed'], conceptIoU: 0.028 }, atlas(), 'conv', 8, source, false);
    expect(s.excite.map((c) => c.unit)).toEqual([4, 5]);
  });

  it('warns about a known concept without units, and errors on an unknown concept at its entry with a suggestion', () => {
    const s = resolveSteeredUnits({ kind: 'unit', suppress: ['snow', 'bed'], excite: [6] }, atlas(), 'conv', 8, source, false);
    expect(s.warnings[0]).toContain("no unit of 'conv' is labelled 'bed'");
    try {
      resolveSteeredUnits({ kind: 'unit', suppress: ['snow', 'mountian'] }, atlas(), 'conv', 8, source, false);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ScenarioError);
      expect((err as ScenarioError).path).toBe('attack.suppress[1]');
      expect((err as ScenarioError).line).toBe(7);
      expect((err as ScenarioError).message).toContain("did you mean 'mountain'?");
    }
    expect(() => resolveSteeredUnits({ kind: 'unit', excite: [9] }, undefined, 'conv', 8, source, false)).toThrow(/out of range/);
  });

  it('draws a seeded random control of the same size among the units not steered', () => {
    const s = resolveSteeredUnits({ kind: 'unit', suppress: ['snow'], excite: ['tree'] }, atlas(), 'conv', 8, source, false);
    const c = controlUnits(s, 7);
    expect(c.suppress).toHaveLength(2);
    expect(c.excite).toHaveLength(2);
    expect([...c.suppress, ...c.excite].some((u) => [0, 1, 3, 4].includes(u))).toBe(false);
    expect(new Set([...c.suppress, ...c.excite]).size).toBe(4);
    expect(controlUnits(s, 7)).toEqual(c);
  });
});
