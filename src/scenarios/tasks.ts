/**
 * What a scenario does with its inputs — attack, ablate, fuzz or only evaluate — and the metrics, details and
 * pictures each produces. Every tensor made here is disposed here.
 */
import * as tf from '../tf.js';
import {
  cleanAccuracy, disposeUnitAttack, formatEpsilon, runAttack, unitAttack, checkGradientMasking, checkSquare, maskingWarnings, wilsonInterval,
  type AttackResult, type Rate, type AttackSpec, type AutoAttackComponent, type ObjectiveSpec, type UnitAttackResult, type UnitEffect,
} from '../attacks/index.js';
import { measureAttack } from '../attacks/measure.js';
import { encodePng, perturbationPicture, tensorToRgb, type RgbImage } from '../data/images.js';
import { availableConcepts, unitsForClass, type Atlas } from '../dissection/index.js';
import { UnitAttackError, nearestNames } from '../errors.js';
import { findClass } from '../models/classes.js';
import type { Classifier } from '../models/types.js';
import { unitAttackToJson } from '../report/attack-json.js';
import { barChartSvg } from '../report/bars.js';
import { perturbationAmplification } from '../report/heatmap.js';
import { addPngText, heatmapOverlay } from '../report/images.js';
import { lineChartSvg } from '../report/plot.js';
import type { ImageRecord, MetricInterval, ReportImage } from '../report/types.js';
import { describeCorruption } from './corruptions.js';
import { scenarioError } from './errors.js';
import { fuzzClassifier } from './fuzz.js';
import { stackImages, type LoadedInputs } from './inputs.js';
import { issueAt } from './load.js';
import { BUILTIN_ATTACK_KINDS } from './schema.js';
import type { ResolvedAttack, Scenario } from './types.js';

/** Images attacked per call of the attack (bounds memory on large inputs). */
export const ATTACK_BATCH = 32;
const PREDICT_BATCH = 64;

/** What a task needs. */
export interface TaskContext {
  scenario: Scenario;
  classifier: Classifier;
  inputs: LoadedInputs;
  /** The pixel-space batch of the inputs (owned by the caller). */
  x: tf.Tensor4D;
  cleanPredictions: Int32Array;
  atlas?: Atlas;
  /** `--seed` / `--path` for fuzz scenarios. */
  replay?: { seed?: number; path?: string };
  /** The scenario file as the user named it, for replay commands. */
  displayFile: string;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** What a task produces. */
export interface TaskOutput {
  metrics: Record<string, number>;
  /** 95% Wilson intervals of the rate metrics. */
  intervals: Record<string, MetricInterval>;
  details: Record<string, unknown>;
  warnings: string[];
  seeds: Record<string, number>;
  durations: Record<string, number>;
  images: ImageRecord[];
  pictures: ReportImage[][];
  plots: Array<{ title: string; svg: string }>;
}

/** Records a rate metric with its 95% Wilson interval. */
function setRate(out: TaskOutput, metric: string, r: Rate): void {
  out.metrics[metric] = r.rate;
  out.intervals[metric] = wilsonInterval(r.count, r.total);
}

function emptyOutput(): TaskOutput {
  return { metrics: {}, intervals: {}, details: {}, warnings: [], seeds: {}, durations: {}, images: [], pictures: [], plots: [] };
}

const seconds = (t0: number): number => (performance.now() - t0) / 1000;

/** Predicted class per image, in batches. */
export async function predictAll(classifier: Classifier, x: tf.Tensor4D, batch = PREDICT_BATCH): Promise<Int32Array> {
  const n = x.shape[0];
  const out = new Int32Array(n);
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const p = tf.tidy(() => tf.argMax(classifier.logits(tf.slice(x, [s, 0, 0, 0], [e - s, -1, -1, -1])), 1));
    out.set(await p.data(), s);
    p.dispose();
  }
  return out;
}

/** A map per image: the mean of `units` minus the mean of `minus` at `layer`, `[K, h, w]` flattened per image. */
async function unitMaps(classifier: Classifier, x: tf.Tensor4D, layer: string, plus: readonly number[], minus: readonly number[] = []): Promise<{ maps: Float32Array[]; h: number; w: number } | undefined> {
  const t = tf.tidy(() => {
    const a = classifier.activations(x, layer);
    if (a.rank !== 4) return undefined;
    const pick = (u: readonly number[]): tf.Tensor => (u.length ? tf.mean(tf.gather(a, tf.tensor1d(u as number[], 'int32'), 3), 3) : tf.zeros(a.shape.slice(0, 3)));
    return tf.sub(pick(plus), pick(minus));
  });
  if (!t) return undefined;
  const [k, h, w] = t.shape as [number, number, number];
  const data = await t.data();
  t.dispose();
  return { maps: Array.from({ length: k }, (_, i) => Float32Array.from(data.subarray(i * h * w, (i + 1) * h * w))), h, w };
}

function classOf(classifier: Classifier, ref: string | number | undefined, scenario: Scenario, at: (string | number)[]): number | undefined {
  if (ref === undefined) return undefined;
  const names = classifier.classNames;
  const k = findClass(names, ref);
  if (k < 0) {
    throw scenarioError(issueAt(scenario.source, 'not_found', at, typeof ref === 'number'
      ? `class index ${ref} is out of range: the model has ${names.length} classes (0…${names.length - 1})`
      : `the model '${classifier.name}' has no class '${ref}'`, `the model's classes: ${names.join(', ')}`));
  }
  return k;
}

function checkLayer(classifier: Classifier, layer: string, scenario: Scenario, at: (string | number)[]): number {
  try {
    const info = classifier.layer(layer);
    return info.shape[info.shape.length - 1];
  } catch (err) {
    if (err instanceof UnitAttackError && err.code === 'UA_LAYER') throw scenarioError(issueAt(scenario.source, 'not_found', at, err.message, err.hint));
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pictures

async function png(img: RgbImage): Promise<Uint8Array> {
  return new Uint8Array(await encodePng(img));
}

/** Up to `k` example indices: successes first (the interesting ones), then the rest, each in input order. */
function pickExamples(n: number, k: number, interesting: (i: number) => boolean): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  return [...all.filter(interesting), ...all.filter((i) => !interesting(i))].slice(0, k);
}

function sliceRgb(x: tf.Tensor4D, i: number): RgbImage {
  const one = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
  try {
    return tensorToRgb(one);
  } finally {
    one.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Attack

type AttackCall = AttackSpec | ({ kind: string } & Record<string, unknown>);

function pick<T extends object>(o: T, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if ((o as Record<string, unknown>)[k] !== undefined) out[k] = (o as Record<string, unknown>)[k];
  return out;
}

/** The attack spec of a logit attack (fgsm, pgd, cw, square) as `runAttack` takes it. */
function logitAttackSpec(a: ResolvedAttack): AttackCall {
  if (!BUILTIN_ATTACK_KINDS.includes(a.kind)) {
    // An attack added with registerAttack: the keys of its block are its options; a target aims its objective.
    const { kind, target, ...options } = a as { kind: string; target?: string | number } & Record<string, unknown>;
    return { kind, ...options, ...(target !== undefined ? { objective: { kind: 'ce', target } } : {}) };
  }
  const base = pick(a, ['epsilon', 'norm', 'seed']);
  const own = a.kind === 'pgd' ? pick(a, ['steps', 'stepSize', 'restarts', 'randomStart', 'schedule', 'earlyStop', 'minPsnr'])
    : a.kind === 'fgsm' ? pick(a, ['minPsnr'])
    : a.kind === 'cw' ? pick(a, ['steps', 'binarySteps', 'initialConst', 'learningRate', 'confidence'])
      : a.kind === 'square' ? pick(a, ['queries', 'pInit'])
        : a.kind === 'apgd-ce' || a.kind === 'apgd-dlr' || a.kind === 'apgd-t' ? pick(a, ['steps', 'restarts', 'randomStart', 'earlyStop', 'eot', 'targetClasses'])
          // The scenario runs the model-level checks once on all its inputs (see runLogitAttackTask).
          : a.kind === 'autoattack' ? { ...pick(a, ['version', 'steps', 'targetClasses', 'queries', 'eot']), checks: false } : {};
  if (a.kind === 'apgd-ce' || a.kind === 'apgd-dlr') {
    const loss = a.kind === 'apgd-ce' ? 'ce' : 'dlr';
    return { kind: a.kind, ...base, ...own, ...(a.target !== undefined ? { objective: { kind: loss, target: a.target } } : {}) };
  }
  if (a.kind === 'apgd-t' || a.kind === 'autoattack') return { kind: a.kind, ...base, ...own };
  const o = a as { objective?: 'ce' | 'margin'; confidence?: number };
  let objective: ObjectiveSpec | undefined;
  if (o.objective !== undefined || a.target !== undefined || (a.kind !== 'cw' && o.confidence !== undefined)) {
    const kind = o.objective ?? (a.kind === 'cw' || a.kind === 'square' ? 'margin' : 'ce');
    objective = { kind, ...(a.target !== undefined ? { target: a.target } : {}), ...(kind === 'margin' && a.kind !== 'cw' && o.confidence !== undefined ? { confidence: o.confidence } : {}) };
  }
  return { kind: a.kind, ...base, ...own, ...(objective ? { objective } : {}) };
}

interface BatchedAttack {
  adversarial: tf.Tensor4D;
  predictions: Int32Array;
  success: boolean[];
  steps: number;
  queries: number;
  objectiveName: string;
  warnings: string[];
  /** Each batch's `details`, in order. */
  details: Array<Record<string, unknown> | undefined>;
}

async function attackInBatches(ctx: TaskContext, spec: AttackCall, phase: string): Promise<BatchedAttack> {
  const { classifier, x, inputs } = ctx;
  const n = x.shape[0];
  const parts: tf.Tensor4D[] = [];
  const predictions = new Int32Array(n);
  const success: boolean[] = [];
  let steps = 0; let queries = 0; let objectiveName = '';
  const warnings = new Set<string>();
  const details: Array<Record<string, unknown> | undefined> = [];
  try {
    for (let s = 0; s < n; s += ATTACK_BATCH) {
      const e = Math.min(n, s + ATTACK_BATCH);
      const xs = tf.slice(x, [s, 0, 0, 0], [e - s, -1, -1, -1]);
      let r: AttackResult;
      try {
        r = await runAttack(classifier, xs, inputs.labels.subarray(s, e), spec);
      } finally {
        xs.dispose();
      }
      parts.push(r.adversarial);
      predictions.set(r.predictions, s);
      success.push(...r.success);
      steps += r.steps.reduce((a, b) => a + b, 0);
      queries += r.queries.reduce((a, b) => a + b, 0);
      objectiveName = r.objectiveName;
      r.warnings.forEach((w) => warnings.add(w));
      details.push(r.details);
      ctx.onProgress?.(phase, e, n);
    }
    const adversarial = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    if (parts.length > 1) parts.forEach((p) => p.dispose());
    return { adversarial, predictions, success, steps: steps / n, queries: queries / n, objectiveName, warnings: [...warnings], details };
  } catch (err) {
    parts.forEach((p) => p.dispose());
    throw err;
  }
}

/** The example pictures of an attack: original, adversarial, perturbation picture and, for a unit attack, a heatmap. */
async function attackExamples(
  ctx: TaskContext, out: TaskOutput, adv: tf.Tensor4D, predictions: Int32Array, success: readonly boolean[],
  unitMap?: { layer: string; plus: readonly number[]; minus: readonly number[] },
): Promise<void> {
  const { classifier, x, inputs, cleanPredictions: clean, scenario } = ctx;
  const names = classifier.classNames;
  const examples = pickExamples(inputs.images.length, scenario.reportImages, (i) => success[i] === true);
  if (examples.length === 0) return;
  const exIdx = tf.tensor1d(examples, 'int32');
  const xs = tf.gather(x, exIdx);
  const as = tf.gather(adv, exIdx);
  exIdx.dispose();
  try {
    const before = unitMap ? await unitMaps(classifier, xs, unitMap.layer, unitMap.plus, unitMap.minus) : undefined;
    const after = unitMap ? await unitMaps(classifier, as, unitMap.layer, unitMap.plus, unitMap.minus) : undefined;
    for (let k = 0; k < examples.length; k++) {
      const i = examples[k];
      const orig = inputs.images[i];
      const advImg = sliceRgb(as, k);
      // Unit attacks: where the objective's units moved (red: in the attack's direction). Logit attacks have no
      // units to show; the perturbation picture says where pixels changed.
      const change = before && after ? after.maps[k].map((v, j) => v - before.maps[k][j]) : undefined;
      const changeMax = change ? change.reduce((m, v) => Math.max(m, Math.abs(v)), 0) : 0;
      out.images.push({
        id: inputs.ids[i], label: names[inputs.labels[i]], cleanPrediction: names[clean[i]], finalPrediction: names[predictions[i]],
        success: success[i], files: {},
      });
      out.pictures.push([
        { role: 'original', png: await png(orig) },
        { role: 'adversarial', png: await png(advImg) },
        { role: 'perturbation', png: await png(perturbationPicture(orig, advImg)), caption: `perturbation ×${perturbationAmplification(orig, advImg).toFixed(1)}` },
        ...(change && after ? [{
          role: 'heatmap' as const, png: await png(heatmapOverlay(advImg, change, after.h, after.w, { signed: true, scale: changeMax || 1 })),
          caption: 'unit change (red: the attack\'s way)', scale: { kind: 'signed' as const, max: changeMax },
        }] : []),
      ]);
    }
  } finally {
    xs.dispose(); as.dispose();
  }
}

function ratesPlot(title: string, rows: Array<[string, number, number | undefined]>, name: string, control: boolean): { title: string; svg: string } {
  return {
    title,
    svg: barChartSvg({
      title: 'Accuracy and attack success', yLabel: 'rate', categories: rows.map((r) => r[0]),
      series: [
        { name, values: rows.map((r) => r[1]) },
        ...(control ? [{ name: 'random-unit control', values: rows.map((r) => r[2] ?? Number.NaN), color: '#999999' }] : []),
      ],
    }),
  };
}

/** A logit attack (fgsm, pgd, cw, square) through the attack registry, in batches. */
async function runLogitAttackTask(ctx: TaskContext, a: Exclude<ResolvedAttack, { kind: 'unit' }>): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, x, inputs, cleanPredictions: clean, scenario } = ctx;
  const labels = inputs.labels;
  const target = classOf(classifier, a.target, scenario, ['attack', 'target']);
  const seed = a.seed ?? 0;
  out.seeds.attack = seed;
  let t0 = performance.now();
  const checks = await checkGradientMasking(classifier, x, labels);
  out.durations.checks = seconds(t0);
  t0 = performance.now();
  const attack = await attackInBatches(ctx, logitAttackSpec(a), 'attack');
  out.durations.attack = seconds(t0);
  const adv = attack.adversarial;
  try {
    out.warnings.push(...attack.warnings);
    if (a.kind === 'autoattack') {
      const components = mergeComponents(attack.details);
      out.details.autoattack = { version: a.version ?? 'standard', components };
      const sq = components.find((c) => c.name === 'square' && c.ran);
      if (sq) checks.push(checkSquare(sq.broke, sq.attacked, x.shape[0]));
    }
    out.details.checks = checks;
    out.warnings.push(...maskingWarnings(checks));
    t0 = performance.now();
    const adPred = attack.predictions;
    const m = await measureAttack(x, { adversarial: adv, cleanPredictions: clean, predictions: adPred }, labels, { target: target ?? null, ssim: 'when-possible' });
    setRate(out, 'clean_accuracy', m.cleanAccuracy);
    setRate(out, 'robust_accuracy', m.robustAccuracy);
    setRate(out, 'untargeted_success', m.untargetedSuccess);
    if (m.targetedSuccess) setRate(out, 'targeted_success', m.targetedSuccess);
    out.metrics.psnr = m.psnr.finite > 0 ? m.psnr.mean : Number.POSITIVE_INFINITY;
    if (m.ssim) out.metrics.ssim = m.ssim.mean;
    out.warnings.push(...m.warnings);
    out.metrics.linf = m.linf.max;
    out.metrics.l2 = m.l2.max;
    out.durations.metrics = seconds(t0);
    out.details.attack = {
      kind: a.kind, epsilon: a.epsilon ?? null, epsilonText: a.epsilon !== undefined ? formatEpsilon(a.epsilon) : null,
      norm: a.norm ?? (a.kind === 'cw' ? 'l2' : 'linf'), objective: attack.objectiveName, target: a.target ?? null, seed,
      settings: pick(a, ['minPsnr', 'steps', 'stepSize', 'restarts', 'randomStart', 'schedule', 'earlyStop', 'binarySteps', 'initialConst', 'learningRate', 'confidence', 'queries', 'pInit',
        'eot', 'targetClasses', 'version']),
      meanSteps: attack.steps, meanQueries: attack.queries,
    };
    out.plots.push(ratesPlot(`Rates (${a.kind}${a.epsilon !== undefined ? `, ε = ${formatEpsilon(a.epsilon)}` : ''})`, [
      ['clean accuracy', out.metrics.clean_accuracy, undefined],
      ['robust accuracy', out.metrics.robust_accuracy, undefined],
      ['untargeted success', out.metrics.untargeted_success, undefined],
      ...(target !== undefined ? [['targeted success', out.metrics.targeted_success, undefined] as [string, number, undefined]] : []),
    ], a.kind, false));
    await attackExamples(ctx, out, adv, adPred, attack.success);
    return out;
  } finally {
    adv.dispose();
  }
}

/** The components of an autoattack run in batches, added up over the batches (in the order of the first). */
function mergeComponents(details: ReadonlyArray<Record<string, unknown> | undefined>): AutoAttackComponent[] {
  const out: AutoAttackComponent[] = [];
  for (const d of details) {
    for (const c of (d?.components as AutoAttackComponent[] | undefined) ?? []) {
      const m = out.find((o) => o.name === c.name);
      if (!m) { out.push({ ...c }); continue; }
      m.ran ||= c.ran;
      if (m.ran) delete m.reason;
      m.attacked += c.attacked; m.broke += c.broke; m.robustAfter += c.robustAfter; m.seconds += c.seconds; m.queries += c.queries;
    }
  }
  return out;
}

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

/** The unit attack and its random-unit control, run by `unitAttack` of the attack suite. */
async function runUnitAttackTask(ctx: TaskContext, a: Extract<ResolvedAttack, { kind: 'unit' }>): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, x, inputs, scenario, atlas } = ctx;
  const src = scenario.source;
  const seed = a.seed ?? 0;
  out.seeds.attack = seed;
  const layer = atlas ? atlas.layer : (a.layer ?? classifier.defaultLayer);
  if (atlas && a.layer !== undefined && a.layer !== atlas.layer) {
    throw scenarioError(issueAt(src, 'conflict', ['attack', 'layer'], `attack.layer '${a.layer}' differs from the dissected layer '${atlas.layer}'`, 'drop attack.layer, or set dissection.layer'));
  }
  checkLayer(classifier, layer, scenario, atlas ? ['dissection', 'layer'] : ['attack', 'layer']);
  for (const key of ['target', 'exciteClass', 'suppressClass'] as const) classOf(classifier, a[key], scenario, ['attack', key]);
  // Concept names are checked here, so that a typo is reported at its list entry with the nearest concept.
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
  const t0 = performance.now();
  let r: UnitAttackResult;
  try {
    r = await unitAttack(classifier, x, inputs.labels, {
      ...(atlas ? { atlas } : { layer }),
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
    });
  } catch (err) {
    if (err instanceof UnitAttackError && err.code === 'UA_USAGE') throw scenarioError(issueAt(src, 'invalid_value', unitOptionPath(err.path), err.message, err.hint), err);
    throw err;
  }
  out.durations.attack = seconds(t0);
  try {
    const u = r.unit;
    const c = r.control;
    const rateOf = (arm: typeof u): Rate => arm.targetedSuccess ?? arm.untargetedSuccess;
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
    out.seeds.randomControl = r.controlSeed;
    out.warnings.push(...r.warnings);
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
    out.details.unitAttack = unitAttackToJson(r, classifier.classNames);
    const rates = (arm: typeof u | null, f: (a: typeof u) => number): number | undefined => (arm ? f(arm) : undefined);
    out.plots.push(ratesPlot(`Rates (unit attack, ε = ${formatEpsilon(r.epsilon)})`, [
      ['clean accuracy', r.cleanAccuracy.rate, c ? r.cleanAccuracy.rate : undefined],
      ['robust accuracy', u.robustAccuracy.rate, rates(c, (x_) => x_.robustAccuracy.rate)],
      ['untargeted success', u.untargetedSuccess.rate, rates(c, (x_) => x_.untargetedSuccess.rate)],
      ...(u.targetedSuccess ? [['targeted success', u.targetedSuccess.rate, rates(c, (x_) => x_.targetedSuccess!.rate)] as [string, number, number | undefined]] : []),
    ], 'unit attack', c !== null));
    const vals = (e: UnitEffect): number[] => [e.suppressed.mean, e.excited.mean, e.other.mean];
    const ivs = (e: UnitEffect): Array<[number, number]> => [e.suppressed.ci, e.excited.ci, e.other.ci];
    out.plots.push({
      title: 'Unit effect: change of spatial-max activation' + (r.unitScale === 'threshold' ? ' (÷ unit threshold)' : ''),
      svg: barChartSvg({
        title: 'Unit effect', yLabel: 'mean change', categories: ['suppressed', 'excited', 'other'],
        series: [
          { name: 'unit attack', values: vals(u.unitEffect), intervals: ivs(u.unitEffect) },
          ...(c ? [{ name: 'random-unit control', values: vals(c.unitEffect), intervals: ivs(c.unitEffect), color: '#999999' }] : []),
        ],
      }),
    });
    const goal = r.target ? (i: number): boolean => u.after[i] === r.target!.index && inputs.labels[i] !== r.target!.index : (i: number): boolean => u.after[i] !== u.before[i];
    const success = Array.from({ length: inputs.labels.length }, (_, i) => goal(i));
    await attackExamples(ctx, out, u.attack.adversarial, u.after, success, { layer: r.layer, plus: u.excite, minus: u.suppress });
    return out;
  } finally {
    disposeUnitAttack(r);
  }
}

function runAttackTask(ctx: TaskContext, a: ResolvedAttack): Promise<TaskOutput> {
  return a.kind === 'unit' ? runUnitAttackTask(ctx, a) : runLogitAttackTask(ctx, a);
}

// ---------------------------------------------------------------------------------------------------------------
// Ablation

async function runAblationTask(ctx: TaskContext): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, x, inputs, cleanPredictions: clean, scenario, atlas } = ctx;
  if (scenario.task.kind !== 'ablation' || !atlas) throw new UnitAttackError('UA_INTERNAL', 'runAblationTask needs an ablation scenario and an atlas');
  // The checks made class and topN required for a classifier's ablation.
  const cls = scenario.task.ablation.class!;
  const topN = scenario.task.ablation.topN!;
  const k = classOf(classifier, cls, scenario, ['ablation', 'class'])!;
  let units: number[];
  try {
    units = unitsForClass(atlas, cls, topN);
  } catch (err) {
    if (err instanceof UnitAttackError && err.code === 'UA_USAGE') {
      throw scenarioError(issueAt(scenario.source, 'invalid_value', ['ablation', err.path === 'n' ? 'topN' : 'class'], err.message, err.hint));
    }
    throw err;
  }
  const t0 = performance.now();
  const ablated = classifier.withEdits(atlas.layer, { op: 'zero', units });
  const after = await predictAll(ablated, x);
  out.durations.ablation = seconds(t0);
  const labels = inputs.labels;
  const acc = (pred: Int32Array, which: (y: number) => boolean): { rate: number; total: number } => {
    let ok = 0; let total = 0;
    for (let i = 0; i < labels.length; i++) if (which(labels[i])) { total++; if (pred[i] === labels[i]) ok++; }
    return { rate: total > 0 ? ok / total : Number.NaN, total };
  };
  const base = acc(clean, (y) => y === k);
  const abl = acc(after, (y) => y === k);
  const othersBase = acc(clean, (y) => y !== k);
  const othersAbl = acc(after, (y) => y !== k);
  setRate(out, 'clean_accuracy', cleanAccuracy(clean, labels));
  out.metrics.ablation_accuracy_drop = base.rate > 0 ? (base.rate - abl.rate) / base.rate : Number.NaN;
  if (base.total === 0) out.warnings.push(`no input is of the class '${cls}', so its accuracy cannot drop; add inputs of that class`);
  else if (base.rate === 0) out.warnings.push(`the model gets no '${cls}' input right before the ablation, so there is no accuracy to drop`);
  out.details.ablation = {
    class: cls, layer: atlas.layer, topN, units: units.map((u) => ({ unit: u, concept: atlas.units[u]?.concept ?? null })),
    classAccuracy: { before: base.rate, after: abl.rate, images: base.total },
    othersAccuracy: { before: othersBase.rate, after: othersAbl.rate, images: othersBase.total },
  };
  const curve = atlas.ablation[cls];
  if (curve) {
    out.plots.push({
      title: `Ablation curve of ${cls} (held-out probe images of the dissection) and this scenario`,
      svg: lineChartSvg({
        title: `Zeroing the top-N units of ${cls}`, xLabel: 'N (top units zeroed or kept)', yLabel: 'accuracy', yDomain: [0, 1],
        series: [
          { name: `${cls}, top N zeroed`, points: curve.N.map((n, i) => [n, curve.ablateAccuracy[i]] as const) },
          { name: `${cls}, only top N kept`, points: curve.N.map((n, i) => [n, curve.keepAccuracy[i]] as const), dash: 'dashed' },
          { name: 'other classes, top N zeroed', points: curve.N.map((n, i) => [n, curve.othersAccuracy[i]] as const), dash: 'dotted' },
          { name: 'this scenario', points: [[topN, abl.rate]], markers: true, width: 0 },
        ],
      }),
    });
  }
  const names = classifier.classNames;
  const ofClass = Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === k);
  const examples = pickExamples(ofClass.length, scenario.reportImages, (j) => after[ofClass[j]] !== clean[ofClass[j]]).map((j) => ofClass[j]);
  if (examples.length > 0) {
    const idx = tf.tensor1d(examples, 'int32');
    const xs = tf.gather(x, idx);
    idx.dispose();
    try {
      const maps = await unitMaps(classifier, xs, atlas.layer, units);
      for (let j = 0; j < examples.length; j++) {
        const i = examples[j];
        const orig = inputs.images[i];
        out.images.push({
          id: inputs.ids[i], label: names[labels[i]], cleanPrediction: names[clean[i]], finalPrediction: names[after[i]],
          success: after[i] !== clean[i], files: {},
        });
        const pics: ReportImage[] = [{ role: 'original', png: await png(orig) }];
        if (maps) pics.push({ role: 'heatmap', png: await png(heatmapOverlay(orig, maps.maps[j], maps.h, maps.w)) });
        out.pictures.push(pics);
      }
    } finally {
      xs.dispose();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Fuzz

async function runFuzzTask(ctx: TaskContext): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, inputs, cleanPredictions: clean, scenario } = ctx;
  if (scenario.task.kind !== 'fuzz') throw new UnitAttackError('UA_INTERNAL', 'runFuzzTask needs a fuzz scenario');
  const f = scenario.task.fuzz;
  const seed = ctx.replay?.seed ?? f.seed ?? 0;
  out.seeds.fuzz = seed;
  setRate(out, 'clean_accuracy', cleanAccuracy(clean, inputs.labels));
  const t0 = performance.now();
  const r = await fuzzClassifier(classifier, inputs.images, inputs.labels, clean, {
    runs: f.runs ?? 100, seed, expect: f.expect ?? 'label', ...(f.minMargin !== undefined ? { minMargin: f.minMargin } : {}),
    ...(ctx.replay?.path !== undefined ? { path: ctx.replay.path } : {}),
    ...pick(f, ['noise', 'brightness', 'contrast', 'blur', 'jpeg', 'shift']),
  });
  out.durations.fuzz = seconds(t0);
  out.metrics.property_holds = r.holds;
  out.warnings.push(...r.warnings);
  const bounds = pick(f, ['noise', 'brightness', 'contrast', 'blur', 'jpeg', 'shift']);
  out.details.fuzz = { runs: r.runs, requestedRuns: f.runs ?? 100, seed, expect: f.expect ?? 'label', minMargin: f.minMargin ?? 0, eligible: r.eligible, replayed: r.replayed, bounds };
  const names = classifier.classNames;
  const cx = r.counterexample;
  if (cx) {
    const replay = `unit-attack run ${ctx.displayFile} --seed ${cx.seed} --path ${cx.path}`;
    out.details.counterexample = {
      index: cx.index, id: inputs.ids[cx.index], corruption: cx.corruption, description: describeCorruption(cx.corruption),
      expected: names[cx.expected], predicted: names[cx.predicted], seed: cx.seed, path: cx.path, shrinks: cx.shrinks, replay,
    };
    const orig = inputs.images[cx.index];
    out.images.push({
      id: inputs.ids[cx.index], label: names[inputs.labels[cx.index]], cleanPrediction: names[clean[cx.index]],
      finalPrediction: names[cx.predicted], success: true, files: {},
    });
    const tagged = addPngText(await png(cx.image), {
      'unit-attack:scenario': scenario.name, 'unit-attack:seed': String(cx.seed), 'unit-attack:path': cx.path,
      'unit-attack:corruption': describeCorruption(cx.corruption), 'unit-attack:replay': replay,
    });
    out.pictures.push([
      { role: 'original', png: await png(orig) },
      { role: 'counterexample', png: tagged },
      { role: 'perturbation', png: await png(perturbationPicture(orig, cx.image)) },
    ]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluate

async function runEvaluateTask(ctx: TaskContext): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, inputs, cleanPredictions: clean, scenario } = ctx;
  setRate(out, 'clean_accuracy', cleanAccuracy(clean, inputs.labels));
  const names = classifier.classNames;
  for (const i of pickExamples(inputs.images.length, scenario.reportImages, (j) => clean[j] !== inputs.labels[j])) {
    out.images.push({ id: inputs.ids[i], label: names[inputs.labels[i]], cleanPrediction: names[clean[i]], files: {} });
    out.pictures.push([{ role: 'original', png: await png(inputs.images[i]) }]);
  }
  return out;
}

/** Runs a scenario's task on loaded inputs. */
export async function runTask(ctx: TaskContext): Promise<TaskOutput> {
  const task = ctx.scenario.task;
  switch (task.kind) {
    case 'attack': return runAttackTask(ctx, task.attack);
    case 'ablation': return runAblationTask(ctx);
    case 'fuzz': return runFuzzTask(ctx);
    case 'evaluate': return runEvaluateTask(ctx);
    case 'gan-ablation':
    case 'insertion':
      throw new UnitAttackError('UA_INTERNAL', 'generator scenarios run through runGeneratorTask, without images');
  }
}

/** Stacks the inputs into a batch, or returns undefined when there are none. */
export function inputsTensor(inputs: LoadedInputs): tf.Tensor4D | undefined {
  return inputs.images.length > 0 ? stackImages(inputs.images) : undefined;
}
