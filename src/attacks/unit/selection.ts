/** Choosing the units of each side: by concept, by class importance (or class gradients) or by index. */
import { availableConcepts, unitsForConcepts, type Atlas } from '../../dissection/atlas.js';
import { steeringRanking } from '../../dissection/gradients.js';
import { nearestNames, usageError } from '../../errors.js';
import { checkChoice, checkUnits } from '../_internals/validate.js';
import type { SideSelection, UnitAttackOptions } from './types.js';

/**
 * The class-gradient rankings of both sides when the selection asks for them (see `classRanking`), or null for the
 * ablation rankings.
 */
export function steeringLists(options: UnitAttackOptions, atlas: Atlas | undefined): { excite: number[]; suppress: number[] } | null {
  const ranking = options.classRanking === undefined ? 'ablation' : checkChoice(options.classRanking, 'classRanking', ['gradient', 'ablation'] as const);
  if (ranking === 'ablation') return null;
  const { suppressClass: from, exciteClass: to } = options;
  if (from === undefined || to === undefined || !atlas) {
    throw usageError('classRanking \'gradient\' ranks units for a pair of classes: set both suppressClass and exciteClass, with an atlas', {
      path: 'classRanking', hint: "or use classRanking 'ablation'",
    });
  }
  const g = atlas.classGradients?.[from];
  if (!g) {
    throw usageError(`the atlas has no class gradients for '${from}'`, {
      path: 'classRanking',
      hint: atlas.classGradients ? `classes with gradients: ${Object.keys(atlas.classGradients).join(', ')}` : 'the atlas predates class gradients: dissect again with this version, or use classRanking \'ablation\'',
    });
  }
  const source = atlas.classes.indexOf(from);
  const target = atlas.classes.indexOf(to);
  // A class the atlas does not know falls through to the ablation lookup, whose error names the classes it has.
  if (source < 0 || target < 0 || target === source) return null;
  return steeringRanking(g, source, target, atlas.units.map((u) => u.threshold));
}

export function resolveSide(
  side: 'suppress' | 'excite', concepts: readonly string[] | undefined, cls: string | undefined, units: readonly number[] | undefined,
  atlas: Atlas | undefined, count: number | undefined, numUnits: number, layer: string, taken: readonly number[], minIou?: number,
  steered?: readonly number[],
): SideSelection {
  const Side = side === 'suppress' ? 'suppress' : 'excite';
  const given = [concepts !== undefined && concepts.length > 0, cls !== undefined, units !== undefined && units.length > 0].filter(Boolean).length;
  if (given > 1) {
    throw usageError(`choose the ${side} units one way: by concept (${Side}), by class (${Side}Class) or by index (${Side}Units)`, { path: `${Side}Class` });
  }
  const labelOf = (u: number): string | null => atlas?.units[u]?.concept ?? null;
  if (units !== undefined && units.length > 0) {
    const list = checkUnits(units, `${side}Units`, numUnits, layer);
    return { by: 'index', names: [], units: list, concepts: list.map(labelOf) };
  }
  if (concepts !== undefined && concepts.length > 0) {
    if (!atlas) throw usageError(`choosing ${side} units by concept needs an atlas`, { path: 'atlas', hint: 'pass an atlas made by `unit-attack dissect`' });
    // Per concept: the units it labels; a concept that labels none falls back to IoU ≥ conceptIou when that is set.
    const scored = new Map<number, number>();
    for (const name of concepts) {
      let found: Array<[number, number]>;
      try {
        found = unitsForConcepts(atlas, [name]).map((u) => [u, atlas.units[u].iou]);
      } catch (err) {
        if (minIou === undefined) throw err;
        found = unitsByIou(atlas, name, minIou);
      }
      for (const [u, iou] of found) scored.set(u, Math.max(iou, scored.get(u) ?? -1));
    }
    let list = [...scored.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([u]) => u).filter((u) => !taken.includes(u));
    if (count !== undefined) list = list.slice(0, count);
    return { by: 'concept', names: [...concepts], units: list, concepts: list.map(labelOf) };
  }
  if (cls !== undefined) {
    if (!atlas) throw usageError(`choosing ${side} units by class needs an atlas with class importance`, { path: 'atlas' });
    const imp = atlas.classImportance[cls];
    if (!imp) {
      const have = Object.keys(atlas.classImportance);
      throw usageError(`the atlas has no class importance for '${cls}'`, {
        path: `${Side}Class`,
        hint: have.length === 0 ? (atlas.importanceNote ?? 'dissect with a probe set whose images have classes')
          : `classes: ${have.join(', ')}` + (nearestNames(cls, have, 1)[0] ? ` (nearest: ${nearestNames(cls, have, 1)[0]})` : ''),
      });
    }
    // Units the other side already took are skipped, so each side keeps its full count.
    const list = (steered ?? imp.ranking).filter((u) => !taken.includes(u)).slice(0, count ?? 10);
    return { by: 'class', names: [cls], ranking: steered ? 'gradient' : 'ablation', units: list, concepts: list.map(labelOf) };
  }
  return { by: 'none', names: [], units: [], concepts: [] };
}

/** Units whose IoU with the concept (among their recorded best concepts) is at least `minIou`, with that IoU. */
function unitsByIou(atlas: Atlas, name: string, minIou: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const u of atlas.units) {
    const ious = [...u.topConcepts.filter((c) => c.concept === name).map((c) => c.iou),
      ...Object.values(u.perCategory).filter((c) => c.concept === name).map((c) => c.iou)];
    const iou = Math.max(-1, ...ious);
    if (iou >= minIou) out.push([u.unit, iou]);
  }
  if (out.length === 0) {
    throw usageError(`no unit of layer '${atlas.layer}' stands for the concept '${name}', not even with an IoU of ${minIou}`, {
      path: 'conceptIou', hint: `lower conceptIou, or choose other concepts; concepts with labelled units: ${availableConcepts(atlas).join(', ') || 'none'}`,
    });
  }
  return out;
}
