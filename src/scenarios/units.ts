/**
 * Which units the unit attack steers: by concept name (units the dissection labelled with it, best IoU first), by
 * index, or by class importance; plus the random-unit control of the same size.
 */
import { randomUnits } from '../attacks/index.js';
import { unitsForClass, unitsForConcepts, type Atlas } from '../dissection/index.js';
import { UnitAttackError, nearestNames } from '../errors.js';
import { ScenarioError, scenarioError } from './errors.js';
import { issueAt } from './load.js';
import type { UnitAttackBlock } from './schema.js';
import type { ScenarioSource } from './types.js';

/** Units chosen for one side of the unit attack, with what they stand for. */
export interface ChosenUnit {
  unit: number;
  /** The unit's concept label in the atlas, if any. */
  concept: string | null;
  iou: number | null;
  /** Why it was chosen: a concept name, `index`, or `class <name>`. */
  via: string;
}

/** The units of the unit attack. */
export interface SteeredUnits {
  layer: string;
  numUnits: number;
  suppress: ChosenUnit[];
  excite: ChosenUnit[];
  /** Per-unit scale for the objective (the dissection thresholds), when used. */
  unitScale?: number[];
  warnings: string[];
}

/** The default number of units per side chosen by class importance. */
export const DEFAULT_CLASS_UNITS = 10;

type UnitBlock = Omit<UnitAttackBlock, 'epsilon' | 'stepSize'>;

function describe(atlas: Atlas | undefined, unit: number, via: string): ChosenUnit {
  const u = atlas?.units[unit];
  return { unit, concept: u?.concept ?? null, iou: u ? u.iou : null, via };
}

/**
 * Units whose IoU with `concept` exceeds `minIoU`, best first, from what the atlas records per unit (its few best
 * concepts and its best concept per category). The unit's `iou` is then its IoU with this concept.
 */
export function unitsByConceptIoU(atlas: Atlas, concept: string, minIoU: number): ChosenUnit[] {
  const out: ChosenUnit[] = [];
  for (const u of atlas.units) {
    const ious = [
      ...u.topConcepts.filter((c) => c.concept === concept).map((c) => c.iou),
      ...Object.values(u.perCategory).filter((c) => c.concept === concept).map((c) => c.iou),
    ];
    const iou = Math.max(-Infinity, ...ious);
    if (iou > minIoU) out.push({ unit: u.unit, concept, iou, via: concept });
  }
  return out.sort((a, b) => (b.iou ?? 0) - (a.iou ?? 0) || a.unit - b.unit);
}

function side(
  atlas: Atlas | undefined, key: 'suppress' | 'excite', list: readonly (string | number)[] | undefined, cls: string | undefined,
  count: number | undefined, numUnits: number, layer: string, source: ScenarioSource, warnings: string[], conceptIoU?: number,
): ChosenUnit[] {
  const classKey = key === 'suppress' ? 'suppressClass' : 'exciteClass';
  if (cls !== undefined) {
    try {
      return unitsForClass(atlas!, cls, Math.min(count ?? DEFAULT_CLASS_UNITS, numUnits)).map((u) => describe(atlas, u, `class ${cls}`));
    } catch (err) {
      if (err instanceof UnitAttackError && err.code === 'UA_USAGE') {
        throw scenarioError(issueAt(source, 'not_found', ['attack', err.path === 'n' ? 'units' : classKey], err.message, err.hint));
      }
      throw err;
    }
  }
  if (list === undefined) return [];
  const known = atlas ? atlas.probe.concepts.map((c) => c.name) : [];
  const byConcept: ChosenUnit[] = [];
  const byIndex: ChosenUnit[] = [];
  list.forEach((item, i) => {
    if (typeof item === 'number') {
      if (item >= numUnits) {
        throw scenarioError(issueAt(source, 'invalid_value', ['attack', key, i], `unit ${item} is out of range: layer '${layer}' has ${numUnits} units (0…${numUnits - 1})`));
      }
      byIndex.push(describe(atlas, item, 'index'));
      return;
    }
    if (!known.includes(item)) {
      throw scenarioError(issueAt(source, 'not_found', ['attack', key, i],
        `the probe set has no concept '${item}'` + (known.length ? `; did you mean '${nearestNames(item, known, 1)[0]}'?` : ''),
        known.length ? `concepts: ${[...known].sort().join(', ')}` : undefined));
    }
    if (conceptIoU !== undefined) {
      const found = unitsByConceptIoU(atlas!, item, conceptIoU);
      if (found.length === 0) warnings.push(`no unit of '${layer}' has an IoU above ${conceptIoU} with '${item}', so ${key} leaves it out`);
      byConcept.push(...found);
      return;
    }
    let units: number[];
    try {
      units = unitsForConcepts(atlas!, [item]);
    } catch (err) {
      if (!(err instanceof UnitAttackError) || err.code !== 'UA_USAGE') throw err;
      warnings.push(`no unit of '${layer}' is labelled '${item}' (IoU above ${atlas!.params.iouThreshold}), so ${key} leaves it out`);
      return;
    }
    for (const u of units) byConcept.push({ ...describe(atlas, u, item) });
  });
  // Concept units of every named concept merged by IoU (best first), then units named by index.
  const seen = new Set<number>();
  const merged = [...byConcept.sort((a, b) => (b.iou ?? 0) - (a.iou ?? 0) || a.unit - b.unit), ...byIndex].filter((c) => !seen.has(c.unit) && seen.add(c.unit));
  if (merged.length === 0) {
    throw scenarioError(issueAt(source, 'not_found', ['attack', key],
      conceptIoU !== undefined ? `no unit of '${layer}' has an IoU above ${conceptIoU} with the concepts in ${key}` : `none of the concepts in ${key} labels a unit of '${layer}'`,
      'lower conceptIoU (or set it: it also takes units whose label is another concept), dissect with more probe images, choose other concepts, or choose units by class (suppressClass / exciteClass)'));
  }
  return count !== undefined ? merged.slice(0, count) : merged;
}

/**
 * Resolves the units of a unit-attack block against an atlas (needed for concept names and classes) or, without
 * one, a layer's unit count. Errors are {@link ScenarioError}s at the field that names the culprit.
 */
export function resolveSteeredUnits(block: UnitBlock, atlas: Atlas | undefined, layer: string, numUnits: number, source: ScenarioSource, scaleByThreshold: boolean): SteeredUnits {
  const warnings: string[] = [];
  const suppress = side(atlas, 'suppress', block.suppress, block.suppressClass, block.units, numUnits, layer, source, warnings, block.conceptIoU);
  const excite = side(atlas, 'excite', block.excite, block.exciteClass, block.units, numUnits, layer, source, warnings, block.conceptIoU);
  const exciteSet = new Set(excite.map((c) => c.unit));
  const both = suppress.filter((c) => exciteSet.has(c.unit));
  if (both.length > 0) warnings.push(`units ${both.map((c) => c.unit).join(', ')} were chosen both to suppress and to excite; they are only excited`);
  const s = suppress.filter((c) => !exciteSet.has(c.unit));
  if (s.length + excite.length === 0) throw new ScenarioError([issueAt(source, 'invalid_value', ['attack'], 'the unit attack steers no unit')]);
  let unitScale: number[] | undefined;
  if (scaleByThreshold && atlas) {
    const t = atlas.units.map((u) => u.threshold);
    const positive = t.filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
    const fallback = positive.length ? positive[Math.floor(positive.length / 2)] : 1;
    // Dead units (threshold 0) get the median threshold, so that a random control that draws one stays finite.
    unitScale = t.map((v) => (Number.isFinite(v) && v > 0 ? v : fallback));
  }
  return { layer, numUnits, suppress: s, excite, ...(unitScale ? { unitScale } : {}), warnings };
}

/** The random-unit control: as many units per side, drawn (seeded) among the units not steered. */
export function controlUnits(steered: SteeredUnits, seed: number): { suppress: number[]; excite: number[] } {
  const exclude = [...steered.suppress, ...steered.excite].map((c) => c.unit);
  const suppress = randomUnits({ count: steered.suppress.length, numUnits: steered.numUnits, exclude, seed });
  const excite = randomUnits({ count: steered.excite.length, numUnits: steered.numUnits, exclude: [...exclude, ...suppress], seed: seed + 1 });
  return { suppress, excite };
}
