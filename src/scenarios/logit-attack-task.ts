/**
 * A scenario's logit attack (fgsm, pgd, cw, square, apgd, autoattack or a registered attack): the model-level
 * gradient-masking checks, the attack in batches through the attack registry, its measurement and examples.
 * Every tensor made here is disposed here.
 */
import * as tf from '../tf.js';
import {
  checkGradientMasking, checkSquare, formatEpsilon, maskingWarnings, runAttack,
  type AttackResult, type AttackSpec, type AutoAttackComponent, type ObjectiveSpec,
} from '../attacks/index.js';
import { measureAttack } from '../attacks/measure.js';
import type { RateRow } from '../report/types.js';
import { BUILTIN_ATTACK_KINDS } from './schema.js';
import {
  classOf, emptyOutput, gatherRows, pick, pickExamples, seconds, setRate, sliceRgb, unitMaps, type TaskContext, type TaskOutput,
} from './task-context.js';
import type { ResolvedAttack } from './types.js';

/** Images attacked per call of the attack (bounds memory on large inputs). */
export const ATTACK_BATCH = 32;

type AttackCall = AttackSpec | ({ kind: string } & Record<string, unknown>);
type LogitAttack = Exclude<ResolvedAttack, { kind: 'unit' }>;

/** The options of each built-in attack that a scenario's attack block passes on. */
function ownOptions(a: LogitAttack): Record<string, unknown> {
  switch (a.kind) {
    case 'pgd': return pick(a, ['steps', 'stepSize', 'restarts', 'randomStart', 'schedule', 'earlyStop', 'minPsnr']);
    case 'fgsm': return pick(a, ['minPsnr']);
    case 'cw': return pick(a, ['steps', 'binarySteps', 'initialConst', 'learningRate', 'confidence']);
    case 'square': return pick(a, ['queries', 'pInit']);
    case 'apgd-ce': case 'apgd-dlr': case 'apgd-t': return pick(a, ['steps', 'restarts', 'randomStart', 'earlyStop', 'eot', 'targetClasses']);
    // The scenario runs the model-level checks once on all its inputs (see runLogitAttackTask).
    case 'autoattack': return { ...pick(a, ['version', 'steps', 'targetClasses', 'queries', 'eot']), checks: false };
    default: return {};
  }
}

/** The attack spec of a logit attack as `runAttack` takes it. */
function logitAttackSpec(a: LogitAttack): AttackCall {
  if (!BUILTIN_ATTACK_KINDS.includes(a.kind)) {
    // An attack added with registerAttack: the keys of its block are its options; a target aims its objective.
    const { kind, target, ...options } = a as { kind: string; target?: string | number } & Record<string, unknown>;
    return { kind, ...options, ...(target !== undefined ? { objective: { kind: 'ce', target } } : {}) };
  }
  const base = pick(a, ['epsilon', 'norm', 'seed']);
  const own = ownOptions(a);
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

/**
 * The examples of an attack: their image records, and their original and adversarial images with, for a unit
 * attack, how the objective's units changed (`plus` minus `minus` at `layer`) for the report's heatmap.
 */
export async function attackExamples(
  ctx: TaskContext, out: TaskOutput, adv: tf.Tensor4D, predictions: Int32Array, success: readonly boolean[],
  unitMap?: { layer: string; plus: readonly number[]; minus: readonly number[] },
): Promise<void> {
  const { classifier, x, inputs, cleanPredictions: clean, scenario } = ctx;
  const names = classifier.classNames;
  const examples = pickExamples(inputs.images.length, scenario.reportImages, (i) => success[i] === true);
  if (examples.length === 0) return;
  const xs = gatherRows(x, examples);
  const as = gatherRows(adv, examples);
  try {
    const before = unitMap ? await unitMaps(classifier, xs, unitMap.layer, unitMap.plus, unitMap.minus) : undefined;
    const after = unitMap ? await unitMaps(classifier, as, unitMap.layer, unitMap.plus, unitMap.minus) : undefined;
    for (let k = 0; k < examples.length; k++) {
      const i = examples[k];
      out.images.push({
        id: inputs.ids[i], label: names[inputs.labels[i]], cleanPrediction: names[clean[i]], finalPrediction: names[predictions[i]],
        success: success[i], files: {},
      });
      const change = before && after ? { ...after[k], values: after[k].values.map((v, j) => v - before[k].values[j]) } : undefined;
      out.examples.push({ kind: 'attack', original: inputs.images[i], adversarial: sliceRgb(as, k), ...(change ? { unitChange: change } : {}) });
    }
  } finally {
    xs.dispose(); as.dispose();
  }
}

/** The attack's measurement as metrics (rates with their intervals, PSNR, SSIM, norms). */
async function measure(ctx: TaskContext, out: TaskOutput, attack: BatchedAttack, target: number | undefined): Promise<void> {
  const { x, inputs, cleanPredictions: clean } = ctx;
  const t0 = performance.now();
  const m = await measureAttack(x, { adversarial: attack.adversarial, cleanPredictions: clean, predictions: attack.predictions }, inputs.labels, { target: target ?? null, ssim: 'when-possible' });
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
}

/** The attack's settings and averages for the result's details. */
function attackDetails(a: LogitAttack, attack: BatchedAttack, seed: number): Record<string, unknown> {
  return {
    kind: a.kind, epsilon: a.epsilon ?? null, epsilonText: a.epsilon !== undefined ? formatEpsilon(a.epsilon) : null,
    norm: a.norm ?? (a.kind === 'cw' ? 'l2' : 'linf'), objective: attack.objectiveName, target: a.target ?? null, seed,
    settings: pick(a, ['minPsnr', 'steps', 'stepSize', 'restarts', 'randomStart', 'schedule', 'earlyStop', 'binarySteps', 'initialConst', 'learningRate', 'confidence', 'queries', 'pInit',
      'eot', 'targetClasses', 'version']),
    meanSteps: attack.steps, meanQueries: attack.queries,
  };
}

/** A logit attack through the attack registry, in batches. */
export async function runLogitAttackTask(ctx: TaskContext, a: LogitAttack): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, x, inputs, scenario } = ctx;
  const target = classOf(classifier, a.target, scenario, ['attack', 'target']);
  const seed = a.seed ?? 0;
  out.seeds.attack = seed;
  let t0 = performance.now();
  const checks = await checkGradientMasking(classifier, x, inputs.labels);
  out.durations.checks = seconds(t0);
  t0 = performance.now();
  const attack = await attackInBatches(ctx, logitAttackSpec(a), 'attack');
  out.durations.attack = seconds(t0);
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
    await measure(ctx, out, attack, target);
    out.details.attack = attackDetails(a, attack, seed);
    const rows: RateRow[] = [
      { label: 'clean accuracy', value: out.metrics.clean_accuracy },
      { label: 'robust accuracy', value: out.metrics.robust_accuracy },
      { label: 'untargeted success', value: out.metrics.untargeted_success },
      ...(target !== undefined ? [{ label: 'targeted success', value: out.metrics.targeted_success }] : []),
    ];
    out.charts.push({ kind: 'rates', attack: a.kind, ...(a.epsilon !== undefined ? { epsilon: a.epsilon } : {}), rows, control: false });
    await attackExamples(ctx, out, attack.adversarial, attack.predictions, attack.success);
    return out;
  } finally {
    attack.adversarial.dispose();
  }
}
