/**
 * A scenario's unit attack and its random-unit control, run by `unitAttack` of the attack suite: the scenario's
 * layer, classes and concepts checked where they are written, the attack, its metrics, details and examples.
 * Every tensor made here is disposed here.
 */
import {
  disposeUnitAttack, formatEpsilon, unitAttack, type Rate, type UnitAttackArm, type UnitAttackOptions, type UnitAttackResult,
} from '../attacks/index.js';
import { availableConcepts, type Atlas } from '../dissection/index.js';
import { UnitAttackError, nearestNames } from '../errors.js';
import { unitAttackToJson } from '../report/attack-json.js';
import type { RateRow } from '../report/types.js';
import { scenarioError } from './errors.js';
import { attackExamples } from './logit-attack-task.js';
import { issueAt } from './source.js';
import { checkLayer, classOf, emptyOutput, pick, seconds, setRate, type TaskContext, type TaskOutput } from './task-context.js';
import type { ResolvedAttack } from './types.js';

type UnitAttackBlock = Extract<ResolvedAttack, { kind: 'unit' }>;

/** Maps a usage error of `unitAttack` (its option names) to the scenario field it came from. */
function unitOptionPath(path: string | undefined): (string | number)[] {
  const map: Record<string, string> = {
    count: 'units', conceptIou: 'conceptIou', suppressUnits: 'suppress', exciteUnits: 'excite', concepts: 'suppress', attack: 'optimizer',
    atlas: 'dissection', options: 'kind',
  };
  if (path === undefined) return ['attack'];
  const key = path.split(/[.[]/)[0];
  if (key === 'atlas') return ['dissection'];
  return ['attack', map[key] ?? key];
}

/** The steered layer: the dissected one, else the block's, else the model's default; checked against the model. */
function resolveLayer(ctx: TaskContext, a: UnitAttackBlock): string {
  const { classifier, scenario, atlas } = ctx;
  const layer = atlas ? atlas.layer : (a.layer ?? classifier.defaultLayer);
  if (atlas && a.layer !== undefined && a.layer !== atlas.layer) {
    throw scenarioError(issueAt(scenario.source, 'conflict', ['attack', 'layer'], `attack.layer '${a.layer}' differs from the dissected layer '${atlas.layer}'`, 'drop attack.layer, or set dissection.layer'));
  }
  checkLayer(classifier, layer, scenario, atlas ? ['dissection', 'layer'] : ['attack', 'layer']);
  return layer;
}

/**
 * The units by index or concept of each side. Concept names are checked here, so that a typo is reported at its
 * list entry with the nearest concept.
 */
function unitSelection(ctx: TaskContext, a: UnitAttackBlock, layer: string): Record<string, unknown> {
  const src = ctx.scenario.source;
  const atlas = ctx.atlas;
  const selection: Record<string, unknown> = {};
  for (const key of ['suppress', 'excite'] as const) {
    const list = a[key];
    if (list === undefined) continue;
    if (list.every((u) => typeof u === 'number')) { selection[`${key}Units`] = list; continue; }
    const known = atlas!.probe.concepts.map((c) => c.name);
    const labelled = availableConcepts(atlas!);
    list.forEach((item, i) => {
      const name = String(item);
      if (!known.includes(name)) {
        throw scenarioError(issueAt(src, 'not_found', ['attack', key, i], `the probe set has no concept '${name}'; did you mean '${nearestNames(name, known, 1)[0]}'?`, `concepts: ${[...known].sort().join(', ')}`));
      }
      if (a.conceptIou === undefined && !labelled.includes(name)) {
        throw scenarioError(issueAt(src, 'not_found', ['attack', key, i], `no unit of '${layer}' is labelled '${name}' (IoU above ${atlas!.params.iouThreshold})`,
          `set conceptIou (e.g. ${Math.round(atlas!.params.iouThreshold * 50) / 100}) to take the units with the best IoU for it, or choose units by class (${key}Class); concepts with units: ${labelled.join(', ') || 'none'}`));
      }
    });
    selection[key] = list;
  }
  return selection;
}

/** The options of `unitAttack` from the scenario's attack block. */
function unitAttackOptions(ctx: TaskContext, a: UnitAttackBlock, layer: string, selection: Record<string, unknown>, seed: number): UnitAttackOptions {
  return {
    ...(ctx.atlas ? { atlas: ctx.atlas } : { layer }),
    ...selection,
    ...(a.suppressClass !== undefined ? { suppressClass: a.suppressClass } : {}),
    ...(a.exciteClass !== undefined ? { exciteClass: a.exciteClass } : {}),
    ...(a.classRanking !== undefined ? { classRanking: a.classRanking } : {}),
    ...(a.units !== undefined ? { count: a.units } : {}),
    ...(a.conceptIou !== undefined ? { conceptIou: a.conceptIou } : {}),
    ...(a.target !== undefined ? { target: a.target } : {}),
    ...(a.optimizer !== undefined ? { attack: a.optimizer } : {}),
    ...pick(a, ['epsilon', 'norm', 'minPsnr', 'steps', 'stepSize', 'schedule', 'restarts', 'randomStart', 'aggregate', 'unitScale', 'shaping', 'cap', 'classWeight', 'stopAtTarget']),
    seed, control: a.randomControl ?? true,
    onProgress: (arm, p) => ctx.onProgress?.(arm === 'unit' ? 'unit attack' : 'random control', p.step, p.total),
  };
}

/** The rates, image quality, norms and unit effects of the unit attack (and its control's success). */
function unitAttackMetrics(out: TaskOutput, r: UnitAttackResult): void {
  const u = r.unit;
  const c = r.control;
  const rateOf = (arm: UnitAttackArm): Rate => arm.targetedSuccess ?? arm.untargetedSuccess;
  setRate(out, 'clean_accuracy', r.cleanAccuracy);
  setRate(out, 'robust_accuracy', u.robustAccuracy);
  setRate(out, 'untargeted_success', u.untargetedSuccess);
  if (u.targetedSuccess) setRate(out, 'targeted_success', u.targetedSuccess);
  setRate(out, 'unit_success', rateOf(u));
  if (c) setRate(out, 'random_control_success', rateOf(c));
  out.metrics.psnr = u.psnr.finite > 0 ? u.psnr.mean : Number.POSITIVE_INFINITY;
  out.metrics.ssim = u.ssim.mean;
  out.metrics.linf = u.linf.max;
  out.metrics.l2 = u.l2.max;
  if (u.suppress.length > 0) out.metrics.unit_effect_suppressed = u.unitEffect.suppressed.mean;
  if (u.excite.length > 0) out.metrics.unit_effect_excited = u.unitEffect.excited.mean;
}

/** The units steered (with their concepts), the attack's settings and the unit attack's JSON, for the details. */
function unitAttackDetails(out: TaskOutput, r: UnitAttackResult, atlas: Atlas | undefined, seed: number, classNames: readonly string[]): void {
  const u = r.unit;
  const c = r.control;
  const describe = (units: number[], via: string): Array<{ unit: number; concept: string | null; iou: number | null; via: string }> =>
    units.map((k) => ({ unit: k, concept: atlas?.units[k]?.concept ?? null, iou: atlas ? atlas.units[k]?.iou ?? null : null, via }));
  const via = (side: UnitAttackResult['selection']['suppress']): string => (side.by === 'class' ? `class ${side.names[0]}` : side.by === 'concept' ? side.names.join(', ') : side.by);
  out.details.units = {
    layer: r.layer, suppress: describe(u.suppress, via(r.selection.suppress)), excite: describe(u.excite, via(r.selection.excite)),
    scale: r.unitScale, ...(c ? { control: { suppress: c.suppress, excite: c.excite, seed: r.controlSeed } } : {}),
  };
  out.details.attack = {
    kind: 'unit', optimizer: r.attack, epsilon: r.epsilon, epsilonText: formatEpsilon(r.epsilon), norm: r.norm,
    ...(r.minPsnr !== undefined ? { minPsnr: r.minPsnr } : {}), objective: r.objective,
    target: r.target?.name ?? null, seed, aggregate: r.aggregate, shaping: r.shaping, classWeight: r.classWeight, steps: r.steps,
  };
  out.details.unitAttack = unitAttackToJson(r, classNames);
}

/** The rates of the unit attack beside its control's, and the unit effect of both. */
function unitAttackCharts(out: TaskOutput, r: UnitAttackResult): void {
  const u = r.unit;
  const c = r.control;
  const row = (label: string, f: (arm: UnitAttackArm) => number): RateRow => ({ label, value: f(u), ...(c ? { control: f(c) } : {}) });
  const rows: RateRow[] = [
    { label: 'clean accuracy', value: r.cleanAccuracy.rate, ...(c ? { control: r.cleanAccuracy.rate } : {}) },
    row('robust accuracy', (arm) => arm.robustAccuracy.rate),
    row('untargeted success', (arm) => arm.untargetedSuccess.rate),
    ...(u.targetedSuccess ? [row('targeted success', (arm) => arm.targetedSuccess!.rate)] : []),
  ];
  out.charts.push({ kind: 'rates', attack: 'unit attack', epsilon: r.epsilon, rows, control: c !== null });
  out.charts.push({ kind: 'unit-effect', scaled: r.unitScale === 'threshold', unit: u.unitEffect, ...(c ? { control: c.unitEffect } : {}) });
}

/** The unit attack and its random-unit control, run by `unitAttack` of the attack suite. */
export async function runUnitAttackTask(ctx: TaskContext, a: UnitAttackBlock): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, x, inputs, scenario, atlas } = ctx;
  const seed = a.seed ?? 0;
  out.seeds.attack = seed;
  const layer = resolveLayer(ctx, a);
  for (const key of ['target', 'exciteClass', 'suppressClass'] as const) classOf(classifier, a[key], scenario, ['attack', key]);
  const selection = unitSelection(ctx, a, layer);
  const t0 = performance.now();
  let r: UnitAttackResult;
  try {
    r = await unitAttack(classifier, x, inputs.labels, unitAttackOptions(ctx, a, layer, selection, seed));
  } catch (err) {
    if (err instanceof UnitAttackError && err.code === 'UA_USAGE') throw scenarioError(issueAt(scenario.source, 'invalid_value', unitOptionPath(err.path), err.message, err.hint), err);
    throw err;
  }
  out.durations.attack = seconds(t0);
  try {
    const u = r.unit;
    unitAttackMetrics(out, r);
    out.seeds.randomControl = r.controlSeed;
    out.warnings.push(...r.warnings);
    unitAttackDetails(out, r, atlas, seed, classifier.classNames);
    unitAttackCharts(out, r);
    const target = r.target;
    const goal = target ? (i: number): boolean => u.after[i] === target.index && inputs.labels[i] !== target.index : (i: number): boolean => u.after[i] !== u.before[i];
    const success = Array.from({ length: inputs.labels.length }, (_, i) => goal(i));
    await attackExamples(ctx, out, u.attack.adversarial, u.after, success, { layer: r.layer, plus: u.excite, minus: u.suppress });
    return out;
  } finally {
    disposeUnitAttack(r);
  }
}
