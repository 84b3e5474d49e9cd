/**
 * The tasks of generator scenarios: ablation of a concept's units (removal curve, random-unit control, the other
 * concepts' change) and insertion at a cell (the concept added, by context), measured on the scenario's latents.
 * The metrics a scenario gates on are read from the curves at the size, ranking, concept or contexts each
 * expectation names.
 */
import { UnitAttackError, nearestNames } from '../errors.js';
import { ablateConcept, type GeneratorAblation, type RankingKind } from '../gan/ablate.js';
import { loadGenerator } from '../gan/generator.js';
import { insertConcept, insertionRatio, type GeneratorInsertion } from '../gan/insert.js';
import type { Generator } from '../gan/types.js';
import type { MetricInterval, ScenarioResult } from '../report/types.js';
import { loadSegmenter, type Segmenter } from '../segment/segmenter.js';
import { scenarioError } from './errors.js';
import { issueAt } from './source.js';
import type { TaskMeasures } from './task-context.js';
import type { Expectation, Scenario } from './types.js';

/** What a generator task produces: its measures (the removal curve or the insertion by context, as charts) and the generator. */
export interface GeneratorTaskOutput extends TaskMeasures {
  model: NonNullable<ScenarioResult['model']>;
}

/** The options of the generator experiments that are fields of the scenario block of the same name. */
const BLOCK_FIELDS = new Set(['units', 'concept', 'at', 'samples', 'layer', 'seed', 'quantile', 'rankSamples', 'causalSamples', 'greedyCandidates', 'greedyStep', 'aceEpochs', 'aceLearningRate', 'acePenalty', 'controlDraws', 'controlSamples']);

/** The option an error path names: a field, or a flag some errors of the generator experiments give (`--rank-samples`). */
const optionOf = (errorPath: string): string => (errorPath.startsWith('--') ? errorPath.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) : errorPath);

/** A usage error of the library as an issue of the scenario block's field. */
function asScenarioError(err: unknown, scenario: Scenario, block: 'ablation' | 'insertion'): unknown {
  if (err instanceof UnitAttackError && (err.code === 'UA_USAGE' || err.code === 'UA_LAYER' || err.code === 'UA_INPUT')) {
    const option = err.path !== undefined ? optionOf(err.path) : undefined;
    const field = err.code === 'UA_LAYER' ? 'layer' : option !== undefined && BLOCK_FIELDS.has(option) ? option : undefined;
    return scenarioError(issueAt(scenario.source, err.code === 'UA_INPUT' ? 'unreadable' : 'invalid_value', field ? [block, field] : [block], err.message, err.hint), err);
  }
  return err;
}

function checkConcepts(scenario: Scenario, seg: Segmenter, names: readonly string[], at: (string | number)[], extra: readonly string[] = []): void {
  const known = [...seg.concepts.map((c) => c.name), ...extra];
  for (const [i, n] of names.entries()) {
    if (!known.includes(n)) {
      throw scenarioError(issueAt(scenario.source, 'not_found', names.length > 1 ? [...at, i] : at, `the segmenter '${seg.name}' has no concept '${n}'; did you mean '${nearestNames(n, known, 1)[0] ?? ''}'?`,
        `its concepts: ${known.join(', ')}`));
    }
  }
}

/** The ranking an expectation reads: its own, else the first measured of IoU, causal, greedy and ACE. */
function rankingOf(e: Expectation | undefined, r: GeneratorAblation): RankingKind {
  return e?.ranking ?? (r.curves.iou ? 'iou' : r.curves.causal ? 'causal' : r.curves.greedy ? 'greedy' : 'ace');
}

/** The ablation metrics at the size, ranking and concept each expectation names (defaults: the largest size, IoU). */
export function ablationMetrics(r: GeneratorAblation, expectations: readonly Expectation[]): { metrics: Record<string, number>; intervals: Record<string, MetricInterval> } {
  const metrics: Record<string, number> = {};
  const intervals: Record<string, MetricInterval> = {};
  const find = (metric: string): Expectation | undefined => expectations.find((e) => e.metric === metric);
  const sizes = (r.curves.iou ?? r.curves.causal ?? r.curves.greedy ?? r.curves.ace ?? []).map((p) => p.n);
  const largest = Math.max(...sizes);
  const point = (e: Expectation | undefined) => r.curves[rankingOf(e, r)]?.find((p) => p.n === (e?.units ?? largest));
  const removed = point(find('concept_removed'));
  if (removed) {
    metrics.concept_removed = removed.removed.value;
    intervals.concept_removed = { lower: removed.removed.interval[0], upper: removed.removed.interval[1], count: r.samples, total: r.samples, level: r.level };
  }
  const control = r.control.find((c) => c.n === (find('control_removed')?.units ?? largest));
  if (control) metrics.control_removed = control.removed.mean;
  const change = find('concept_change');
  if (change?.concept !== undefined) metrics.concept_change = point(change)?.concepts[change.concept]?.change ?? Number.NaN;
  return { metrics, intervals };
}

/** The insertion metrics for the contexts each expectation names. */
export function insertionMetrics(r: GeneratorInsertion, expectations: readonly Expectation[]): Record<string, number> {
  const metrics: Record<string, number> = {};
  const inserted = expectations.find((e) => e.metric === 'concept_inserted');
  if (inserted?.context) {
    const groups = r.byContext.filter((g) => inserted.context!.includes(g.context) && g.count > 0);
    const n = groups.reduce((a, g) => a + g.count, 0);
    metrics.concept_inserted = n > 0 ? groups.reduce((a, g) => a + g.addedInRegion.value * g.count, 0) / n : Number.NaN;
  } else {
    metrics.concept_inserted = r.overall.addedInRegion.value;
  }
  const ratio = expectations.find((e) => e.metric === 'insertion_ratio');
  if (ratio?.on && ratio.over) metrics.insertion_ratio = insertionRatio(r, ratio.on, ratio.over);
  return metrics;
}

/**
 * Runs a generator scenario's task (the generator and segmenter are loaded here and freed before it returns); an
 * ablation spreads its batches over `workers` threads (the numbers are the same for any number).
 */
export async function runGeneratorTask(
  scenario: Scenario, progress: (phase: string, done?: number, of?: number) => void, options: { workers?: number } = {},
): Promise<GeneratorTaskOutput> {
  const task = scenario.task;
  if (task.kind !== 'gan-ablation' && task.kind !== 'insertion') throw new UnitAttackError('UA_INTERNAL', 'runGeneratorTask needs a generator scenario');
  const block = task.kind === 'insertion' ? 'insertion' : 'ablation';
  const modelAt = scenario.source.lines['model.path'] !== undefined ? ['model', 'path'] : ['model'];
  const durations: Record<string, number> = {};
  let t = performance.now();
  progress('model');
  let g: Generator;
  try {
    g = await loadGenerator(scenario.model.spec);
  } catch (err) {
    if (err instanceof UnitAttackError && err.code !== 'UA_INTERNAL') throw scenarioError(issueAt(scenario.source, 'unreadable', modelAt, err.message, err.hint), err);
    throw err;
  }
  let seg: Segmenter | undefined;
  try {
    const segSpec = task.kind === 'insertion' ? task.insertion.segmenter : task.ablation.segmenter;
    try {
      seg = await loadSegmenter(segSpec);
    } catch (err) {
      if (err instanceof UnitAttackError && err.code !== 'UA_INTERNAL') throw scenarioError(issueAt(scenario.source, 'unreadable', [block, 'segmenter'], err.message, err.hint), err);
      throw err;
    }
    durations.model = (performance.now() - t) / 1000;
    const model = { spec: scenario.model.spec, name: g.name, fingerprint: g.fingerprint, inputSize: [g.outputSize, g.outputSize] as [number, number], classes: 0 };
    for (const e of scenario.expectations) {
      if (e.metric === 'concept_change' && e.concept !== undefined) checkConcepts(scenario, seg, [e.concept], ['expectations', 'concept_change', 'concept']);
      if (e.context) checkConcepts(scenario, seg, e.context, ['expectations', e.metric, 'context'], ['none']);
      if (e.on) checkConcepts(scenario, seg, e.on, ['expectations', e.metric, 'on'], ['none']);
      if (e.over) checkConcepts(scenario, seg, e.over, ['expectations', e.metric, 'over'], ['none']);
    }
    t = performance.now();
    if (task.kind === 'gan-ablation') {
      const a = task.ablation;
      let out;
      try {
        out = await ablateConcept(g, seg, {
          concept: a.concept, sizes: a.sizes, samples: a.samples, seed: a.seed, ranking: a.ranking, controlDraws: a.controlDraws,
          ...(a.controlSamples !== undefined ? { controlSamples: a.controlSamples } : {}),
          ...(a.layer !== undefined ? { layer: a.layer } : {}), ...(a.rankSamples !== undefined ? { rankSamples: a.rankSamples } : {}),
          ...(a.causalSamples !== undefined ? { causalSamples: a.causalSamples } : {}), ...(a.quantile !== undefined ? { quantile: a.quantile } : {}),
          ...(a.greedyCandidates !== undefined ? { greedyCandidates: a.greedyCandidates } : {}), ...(a.greedyStep !== undefined ? { greedyStep: a.greedyStep } : {}),
          ...(a.aceEpochs !== undefined ? { aceEpochs: a.aceEpochs } : {}), ...(a.aceLearningRate !== undefined ? { aceLearningRate: a.aceLearningRate } : {}),
          ...(a.acePenalty !== undefined ? { acePenalty: a.acePenalty } : {}),
          workers: options.workers ?? 1,
          onProgress: (p) => progress(p.phase, p.done, p.total),
        });
      } catch (err) {
        throw asScenarioError(err, scenario, 'ablation');
      }
      durations.ablation = (performance.now() - t) / 1000;
      const r = out.result;
      const { metrics, intervals } = ablationMetrics(r, scenario.expectations);
      return {
        model, metrics, intervals, details: { ablation: r }, warnings: r.warnings, seeds: { latents: r.seed, control: r.seed }, durations,
        charts: [{ kind: 'generator-ablation', result: r, examples: out.examples }],
      };
    }
    const ins = task.insertion;
    let out;
    try {
      out = await insertConcept(g, seg, {
        concept: ins.concept, units: ins.units, samples: ins.samples, seed: ins.seed, ...(ins.at ? { at: ins.at } : {}),
        ...(ins.layer !== undefined ? { layer: ins.layer } : {}), ...(ins.level !== undefined ? { quantile: ins.level } : {}),
        ...(ins.rankSamples !== undefined ? { rankSamples: ins.rankSamples } : {}),
        onProgress: (p) => progress(p.phase, p.done, p.total),
      });
    } catch (err) {
      throw asScenarioError(err, scenario, 'insertion');
    }
    durations.insertion = (performance.now() - t) / 1000;
    const r = out.result;
    return { model, metrics: insertionMetrics(r, scenario.expectations), intervals: {}, details: { insertion: r }, warnings: r.warnings, seeds: { latents: r.seed }, durations,
      charts: [{ kind: 'generator-insertion', result: r, examples: out.examples }],
    };
  } finally {
    seg?.dispose();
    g.dispose();
  }
}
