/**
 * What a scenario does with its inputs — attack, ablate, fuzz or only evaluate — and the metrics, details, example
 * images and charts each produces (as data: the report draws them). Every tensor made here is disposed here.
 */
import type * as tf from '../tf.js';
import { cleanAccuracy } from '../attacks/index.js';
import { unitsForClass, type Atlas } from '../dissection/index.js';
import { UnitAttackError } from '../errors.js';
import { describeCorruption } from './corruptions.js';
import { scenarioError } from './errors.js';
import { fuzzClassifier } from './fuzz.js';
import { stackImages, type LoadedInputs } from './inputs.js';
import { runLogitAttackTask } from './logit-attack-task.js';
import { issueAt } from './source.js';
import {
  classOf, emptyOutput, gatherRows, pick, pickExamples, predictAll, seconds, setRate, unitMaps, type TaskContext, type TaskOutput,
} from './task-context.js';
import type { ResolvedAttack, Scenario } from './types.js';
import { runUnitAttackTask } from './unit-attack-task.js';

export { ATTACK_BATCH } from './logit-attack-task.js';
export { predictAll, type TaskContext, type TaskOutput } from './task-context.js';

function runAttackTask(ctx: TaskContext, a: ResolvedAttack): Promise<TaskOutput> {
  return a.kind === 'unit' ? runUnitAttackTask(ctx, a) : runLogitAttackTask(ctx, a);
}

// ---------------------------------------------------------------------------------------------------------------
// Ablation

/** The top units of a class in the atlas; a usage error becomes an issue of the ablation block. */
function ablatedUnits(atlas: Atlas, cls: string, topN: number, scenario: Scenario): number[] {
  try {
    return unitsForClass(atlas, cls, topN);
  } catch (err) {
    if (err instanceof UnitAttackError && err.code === 'UA_USAGE') {
      throw scenarioError(issueAt(scenario.source, 'invalid_value', ['ablation', err.path === 'n' ? 'topN' : 'class'], err.message, err.hint));
    }
    throw err;
  }
}

/** Accuracy of `pred` on the images whose label passes `which`, and how many there are. */
function accuracyOf(pred: Int32Array, labels: Int32Array, which: (y: number) => boolean): { rate: number; total: number } {
  let ok = 0; let total = 0;
  for (let i = 0; i < labels.length; i++) if (which(labels[i])) { total++; if (pred[i] === labels[i]) ok++; }
  return { rate: total > 0 ? ok / total : Number.NaN, total };
}

/** The class's images (those whose prediction the ablation changed first), with where the ablated units fire. */
async function ablationExamples(ctx: TaskContext, out: TaskOutput, k: number, units: readonly number[], after: Int32Array): Promise<void> {
  const { classifier, x, inputs, cleanPredictions: clean, scenario, atlas } = ctx;
  const { labels } = inputs;
  const names = classifier.classNames;
  const ofClass = Array.from({ length: labels.length }, (_, i) => i).filter((i) => labels[i] === k);
  const examples = pickExamples(ofClass.length, scenario.reportImages, (j) => after[ofClass[j]] !== clean[ofClass[j]]).map((j) => ofClass[j]);
  if (examples.length === 0) return;
  const xs = gatherRows(x, examples);
  try {
    const maps = await unitMaps(classifier, xs, atlas!.layer, units);
    for (let j = 0; j < examples.length; j++) {
      const i = examples[j];
      out.images.push({
        id: inputs.ids[i], label: names[labels[i]], cleanPrediction: names[clean[i]], finalPrediction: names[after[i]],
        success: after[i] !== clean[i], files: {},
      });
      out.examples.push({ kind: 'ablation', original: inputs.images[i], ...(maps ? { units: maps[j] } : {}) });
    }
  } finally {
    xs.dispose();
  }
}

async function runAblationTask(ctx: TaskContext): Promise<TaskOutput> {
  const out = emptyOutput();
  const { classifier, x, inputs, cleanPredictions: clean, scenario, atlas } = ctx;
  if (scenario.task.kind !== 'ablation' || !atlas) throw new UnitAttackError('UA_INTERNAL', 'runAblationTask needs an ablation scenario and an atlas');
  // The checks made class and topN required for a classifier's ablation.
  const cls = scenario.task.ablation.class!;
  const topN = scenario.task.ablation.topN!;
  const k = classOf(classifier, cls, scenario, ['ablation', 'class'])!;
  const units = ablatedUnits(atlas, cls, topN, scenario);
  const t0 = performance.now();
  const ablated = classifier.withEdits(atlas.layer, { op: 'zero', units });
  const after = await predictAll(ablated, x);
  out.durations.ablation = seconds(t0);
  const labels = inputs.labels;
  const base = accuracyOf(clean, labels, (y) => y === k);
  const abl = accuracyOf(after, labels, (y) => y === k);
  const othersBase = accuracyOf(clean, labels, (y) => y !== k);
  const othersAbl = accuracyOf(after, labels, (y) => y !== k);
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
  if (curve) out.charts.push({ kind: 'ablation-curve', className: cls, curve, topN, accuracy: abl.rate });
  await ablationExamples(ctx, out, k, units, after);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Fuzz

const FUZZ_BOUNDS = ['noise', 'brightness', 'contrast', 'blur', 'jpeg', 'shift'];

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
    ...pick(f, FUZZ_BOUNDS),
  });
  out.durations.fuzz = seconds(t0);
  out.metrics.property_holds = r.holds;
  out.warnings.push(...r.warnings);
  const bounds = pick(f, FUZZ_BOUNDS);
  out.details.fuzz = { runs: r.runs, requestedRuns: f.runs ?? 100, seed, expect: f.expect ?? 'label', minMargin: f.minMargin ?? 0, eligible: r.eligible, replayed: r.replayed, bounds };
  const names = classifier.classNames;
  const cx = r.counterexample;
  if (cx) {
    const replay = `unit-attack run ${ctx.displayFile} --seed ${cx.seed} --path ${cx.path}`;
    out.details.counterexample = {
      index: cx.index, id: inputs.ids[cx.index], corruption: cx.corruption, description: describeCorruption(cx.corruption),
      expected: names[cx.expected], predicted: names[cx.predicted], seed: cx.seed, path: cx.path, shrinks: cx.shrinks, replay,
    };
    out.images.push({
      id: inputs.ids[cx.index], label: names[inputs.labels[cx.index]], cleanPrediction: names[clean[cx.index]],
      finalPrediction: names[cx.predicted], success: true, files: {},
    });
    out.examples.push({
      kind: 'counterexample', original: inputs.images[cx.index], corrupted: cx.image,
      text: {
        'unit-attack:scenario': scenario.name, 'unit-attack:seed': String(cx.seed), 'unit-attack:path': cx.path,
        'unit-attack:corruption': describeCorruption(cx.corruption), 'unit-attack:replay': replay,
      },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluate

function runEvaluateTask(ctx: TaskContext): TaskOutput {
  const out = emptyOutput();
  const { classifier, inputs, cleanPredictions: clean, scenario } = ctx;
  setRate(out, 'clean_accuracy', cleanAccuracy(clean, inputs.labels));
  const names = classifier.classNames;
  for (const i of pickExamples(inputs.images.length, scenario.reportImages, (j) => clean[j] !== inputs.labels[j])) {
    out.images.push({ id: inputs.ids[i], label: names[inputs.labels[i]], cleanPrediction: names[clean[i]], files: {} });
    out.examples.push({ kind: 'input', original: inputs.images[i] });
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
