/**
 * Runs scenarios: loads each model once and each dissection once (the dissection also has its on-disk cache),
 * reads the inputs, runs the task, evaluates the expectations and records seeds, backend, versions and durations.
 * A scenario that cannot run (a class the model lacks, a concept no unit stands for) is recorded as an error and
 * the others still run.
 */
import type * as tf from '../tf.js';
import type { Atlas } from '../dissection/index.js';
import { backendInfo, initBackend, type BackendName } from '../engine/backend.js';
import { withPool, type WorkerPool } from '../parallel/executor.js';
import { isUserError, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { lazyPool } from '../parallel/index.js';
import type { Tolerances } from '../report/baseline.js';
import { drawTaskArtifacts } from '../report/scenario-pictures.js';
import type { RunOutput, RunResults, ScenarioArtifacts, ScenarioResult } from '../report/types.js';
import { ScenarioError, displayPath } from './errors.js';
import { loadInputs, type LoadedInputs } from './inputs.js';
import { loadScenarios } from './load.js';
import { runGeneratorTask } from './generator-tasks.js';
import { RunCache } from './run-cache.js';
import type { TaskMeasures } from './task-context.js';
import { inputsTensor, predictAll, runTask } from './tasks.js';
import { assembleResults, evaluateExpectation, failureOf } from './results.js';
import type { Scenario } from './types.js';

/** Progress of a run, for progress bars. */
export interface RunProgress {
  /** The scenario, counting from 1. */
  index: number;
  total: number;
  scenario: string;
  /** `model`, `inputs`, `dissection`, `attack`, `random control`, `fuzz`, …, `done`. */
  phase: string;
  done?: number;
  of?: number;
}

/** Options for {@link runScenarios}. */
export interface RunScenariosOptions {
  /** The backend to initialise when none is yet. @defaultValue `UNIT_ATTACK_BACKEND`, else `auto` */
  backend?: BackendName;
  /** Seed of fuzz scenarios (overrides their `fuzz.seed`). */
  seed?: number;
  /** A fast-check counterexample path: replays it in the (single) fuzz scenario, with `seed`. */
  path?: string;
  /**
   * Worker threads. Scenarios of several models are spread over them (scenarios of one model stay together); the
   * scenarios of a single model run on this thread with their images spread over a pool of this many. @defaultValue 1
   */
  workers?: number;
  /** Compare with this earlier run. */
  baseline?: { file: string; results: RunResults; tolerances: Tolerances };
  onProgress?: (p: RunProgress) => void;
  /** Called when a scenario is done (in the order they finish). */
  onScenario?: (result: ScenarioResult) => void;
}

export { RunCache, scenarioDissection } from './run-cache.js';
export { BOUND_SLACK, assembleResults, evaluateExpectation, exitCodeOf, invalidFileResults, toolVersion } from './results.js';

/** A scenario's result and its pictures. */
export interface ScenarioRun {
  result: ScenarioResult;
  artifacts: ScenarioArtifacts;
}

/** Options for {@link runScenario}. */
export interface RunScenarioOptions {
  cache: RunCache;
  replay?: { seed?: number; path?: string };
  onProgress?: (phase: string, done?: number, of?: number) => void;
  /** Threads a generator ablation spreads its batches over (each loads the generator and the segmenter). @defaultValue 1 */
  generatorWorkers?: number;
}

/** A scenario's result before it ran: status `error` until the run decides. */
function emptyResult(scenario: Scenario, file: string): ScenarioResult {
  return {
    name: scenario.name, file, ...(scenario.description !== undefined ? { description: scenario.description } : {}),
    status: 'error', task: scenario.task.kind === 'gan-ablation' ? 'ablation' : scenario.task.kind, model: null, expectations: [], metrics: {},
    inputs: { kind: scenario.inputs.kind, total: scenario.inputs.kind === 'folder' ? scenario.inputs.entries.length : scenario.inputs.count, used: 0, errored: [], allowErrors: scenario.allowErrors },
    seeds: scenario.inputs.kind === 'synthetic' ? { inputs: scenario.inputs.seed } : {},
    durations: {}, details: {}, warnings: [], images: [],
  };
}

/** Adds what a task measured to the result. */
function recordMeasures(result: ScenarioResult, m: TaskMeasures): void {
  Object.assign(result.metrics, m.metrics);
  if (Object.keys(m.intervals).length > 0) result.intervals = { ...m.intervals };
  Object.assign(result.details, m.details);
  Object.assign(result.seeds, m.seeds);
  Object.assign(result.durations, m.durations);
  result.warnings.push(...m.warnings);
}

/**
 * Evaluates the expectations and sets the status (`failed` also when more inputs errored than allowed). A generator
 * scenario's expectations are read on the values alone.
 */
function decide(result: ScenarioResult, scenario: Scenario, options: { inputsOk: boolean; intervals: boolean }): void {
  const { inputsOk, intervals } = options;
  result.expectations = scenario.expectations.map((e) => evaluateExpectation(e, result.metrics[e.metric], intervals ? result.intervals?.[e.metric] : undefined));
  result.status = result.expectations.every((e) => e.passed) && inputsOk ? 'passed' : 'failed';
}

/** Records an error that stopped the scenario: every expectation fails. */
function recordFailure(result: ScenarioResult, scenario: Scenario, err: unknown): void {
  result.status = 'error';
  result.error = failureOf(err);
  result.expectations = scenario.expectations.map((e) => ({ ...evaluateExpectation(e, Number.NaN), passed: false }));
}

/** Seconds since `t0` (a `performance.now()`). */
const since = (t0: number): number => (performance.now() - t0) / 1000;

/** A generator scenario: its task draws its own latents, with the generator and segmenter it loads. */
async function runGeneratorScenario(scenario: Scenario, result: ScenarioResult, artifacts: ScenarioArtifacts, progress: ScenarioProgress, workers: number): Promise<void> {
  const g = await runGeneratorTask(scenario, progress, { workers });
  result.model = g.model;
  result.inputs = { ...result.inputs, used: result.inputs.total };
  recordMeasures(result, g);
  artifacts.plots = (await drawTaskArtifacts([], g.charts)).plots;
  decide(result, scenario, { inputsOk: true, intervals: false });
}

/** The dissection's figures in the result: labelled units, its seed, and its settings and concepts in the details. */
function recordDissection(result: ScenarioResult, d: Awaited<ReturnType<RunCache['atlas']>>): void {
  const atlas = d.atlas;
  result.metrics.units_labelled = atlas.units.filter((u) => u.concept !== null).length;
  result.seeds.dissection = atlas.params.seed;
  const concepts = new Map<string, number>();
  for (const u of atlas.units) if (u.concept !== null) concepts.set(u.concept, (concepts.get(u.concept) ?? 0) + 1);
  result.details.dissection = {
    layer: atlas.layer, probe: atlas.probe.spec, probeImages: atlas.probe.used, quantile: atlas.params.quantile,
    iouThreshold: atlas.params.iouThreshold, unitsLabelled: result.metrics.units_labelled, units: atlas.units.length,
    conceptUnits: Object.fromEntries([...concepts.entries()].sort((a, b) => b[1] - a[1])),
    cached: d.cached, ...(d.cacheFile ? { cacheFile: displayPath(d.cacheFile) } : {}), seconds: d.seconds,
  };
}

type ScenarioProgress = (phase: string, done?: number, of?: number) => void;

/** The model, the inputs and (when the scenario has one) the dissection of a classifier scenario, timed. */
async function prepare(scenario: Scenario, options: RunScenarioOptions, result: ScenarioResult, progress: ScenarioProgress): Promise<{ clf: Classifier; inputs: LoadedInputs; atlas?: Atlas }> {
  const { durations } = result;
  progress('model');
  let t = performance.now();
  const clf = await options.cache.model(scenario);
  durations.model = since(t);
  result.model = { spec: scenario.model.spec.startsWith('builtin:') ? scenario.model.spec : displayPath(scenario.model.spec), name: clf.name, fingerprint: clf.fingerprint, inputSize: [clf.inputSize[0], clf.inputSize[1]], classes: clf.classNames.length };

  progress('inputs');
  t = performance.now();
  const inputs: LoadedInputs = await loadInputs(scenario, clf);
  durations.inputs = since(t);
  result.inputs = { ...result.inputs, total: inputs.total, used: inputs.images.length, errored: inputs.errored };
  if (!scenario.dissection) return { clf, inputs };

  progress('dissection');
  t = performance.now();
  const d = await options.cache.atlas(scenario, clf, (p) => progress(`dissection: ${p.phase}`, p.done, p.total), (m) => result.warnings.push(m));
  durations.dissection = since(t);
  recordDissection(result, d);
  return { clf, inputs, atlas: d.atlas };
}

/**
 * A classifier scenario: its model, inputs and dissection, the clean predictions, the task and the pictures the
 * report shows of it. The inputs' batch is kept in `held` for the caller to dispose.
 */
async function runClassifierScenario(
  scenario: Scenario, options: RunScenarioOptions, result: ScenarioResult, artifacts: ScenarioArtifacts, progress: ScenarioProgress, held: { x?: tf.Tensor4D },
): Promise<void> {
  const { clf, inputs, atlas } = await prepare(scenario, options, result, progress);
  if (inputs.images.length > 0) {
    const x = inputsTensor(inputs)!;
    held.x = x;
    const t = performance.now();
    const clean = await predictAll(clf, x);
    result.durations.predict = since(t);
    progress(scenario.task.kind);
    const task = await runTask({
      scenario, classifier: clf, inputs, x, cleanPredictions: clean, ...(atlas ? { atlas } : {}),
      ...(options.replay ? { replay: options.replay } : {}), displayFile: result.file,
      onProgress: (phase, done, total) => progress(phase, done, total),
    });
    recordMeasures(result, task);
    result.images = task.images;
    Object.assign(artifacts, await drawTaskArtifacts(task.examples, task.charts));
  } else {
    result.warnings.push('no input could be used, so nothing was measured');
  }
  decide(result, scenario, { inputsOk: inputs.errored.length <= scenario.allowErrors, intervals: true });
}

/**
 * Runs one scenario. Never throws for a problem of the scenario: it becomes a result with status `error`.
 *
 * @example
 * const cache = new RunCache();
 * const { result } = await runScenario(await loadScenario('scenarios/robustness-gate.yaml'), { cache });
 * await cache.dispose();
 */
export async function runScenario(scenario: Scenario, options: RunScenarioOptions): Promise<ScenarioRun> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const result = emptyResult(scenario, displayPath(scenario.file));
  const artifacts: ScenarioArtifacts = { images: [], plots: [] };
  const held: { x?: tf.Tensor4D } = {};
  try {
    if (scenario.task.kind === 'gan-ablation' || scenario.task.kind === 'insertion') await runGeneratorScenario(scenario, result, artifacts, progress, options.generatorWorkers ?? 1);
    else await runClassifierScenario(scenario, options, result, artifacts, progress, held);
  } catch (err) {
    recordFailure(result, scenario, err);
  } finally {
    held.x?.dispose();
    result.durations.total = since(t0);
    progress('done');
  }
  return { result, artifacts };
}

function checkReplay(scenarios: readonly Scenario[], options: RunScenariosOptions): void {
  if (options.seed !== undefined && !(Number.isInteger(options.seed) && options.seed >= -(2 ** 31) && options.seed < 2 ** 32)) {
    throw usageError(`--seed must be an integer, got ${String(options.seed)}`, { path: 'seed' });
  }
  if (options.path === undefined) return;
  if (options.seed === undefined) throw usageError('--path replays a counterexample and needs the --seed it was found with', { path: 'path', hint: 'copy both from the report: --seed S --path P' });
  const fuzz = scenarios.filter((s) => s.task.kind === 'fuzz');
  if (fuzz.length !== 1) {
    throw usageError(`--path replays one fuzz scenario, but ${fuzz.length} of the scenarios named fuzz`, {
      path: 'path', hint: 'name the one scenario file the counterexample came from',
    });
  }
}

/**
 * Runs scenarios and returns the results with their pictures (write them with `writeReports`).
 *
 * @example
 * const out = await runScenarios(await loadScenarios(['scenarios']));
 * process.exitCode = out.results.exitCode;
 */
export async function runScenarios(scenarios: readonly Scenario[], options: RunScenariosOptions = {}): Promise<RunOutput> {
  checkReplay(scenarios, options);
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw usageError(`--workers must be a positive integer, got ${String(options.workers)}`, { path: 'workers' });
  const created = new Date();
  const t0 = performance.now();
  if (backendInfo() === undefined) await initBackend(options.backend ? { backend: options.backend } : {});
  const replay = options.seed !== undefined || options.path !== undefined
    ? { ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.path !== undefined ? { path: options.path } : {}) } : undefined;
  let runs: ScenarioRun[];
  // Scenarios of one model share a scenario worker; with a single model they run here, on a pool of image workers.
  const threads = workers > 1 && scenarios.length > 1 ? await import('./workers.js') : undefined;
  if (threads && threads.planWorkers(scenarios, workers).length > 1) {
    runs = await threads.runInWorkers(scenarios, { workers, replay, backend: backendInfo()!.requested, onProgress: options.onProgress, onScenario: options.onScenario });
  } else {
    runs = [];
    const cache = new RunCache();
    // One model: its scenarios run here, and their attacks and dissections spread their images over a pool.
    const pools = new Map<Classifier, WorkerPool>();
    const poolOf = async (s: Scenario): Promise<WorkerPool | undefined> => {
      if (workers <= 1) return undefined;
      const clf = await cache.model(s).catch(() => undefined); // a model that fails to load fails in runScenario
      if (!clf) return undefined;
      let pool = pools.get(clf);
      if (!pool) {
        pool = lazyPool({
          model: s.model.spec, classifier: clf, workers,
          load: { ...(s.model.preprocessing !== undefined ? { preprocessing: s.model.preprocessing } : {}), ...(s.model.classes ? { classNames: s.model.classes } : {}) },
        });
        pools.set(clf, pool);
      }
      return pool;
    };
    try {
      for (let i = 0; i < scenarios.length; i++) {
        const s = scenarios[i];
        const generator = s.task.kind === 'gan-ablation' || s.task.kind === 'insertion';
        const run = await withPool(generator ? undefined : await poolOf(s), () => runScenario(s, {
          cache, ...(replay && s.task.kind === 'fuzz' ? { replay } : {}), ...(generator ? { generatorWorkers: workers } : {}),
          onProgress: (phase, done, of) => options.onProgress?.({ index: i + 1, total: scenarios.length, scenario: s.name, phase, ...(done !== undefined ? { done } : {}), ...(of !== undefined ? { of } : {}) }),
        }));
        options.onScenario?.(run.result);
        runs.push(run);
      }
    } finally {
      await Promise.all([...pools.values()].map((p) => p.close()));
      await cache.dispose();
    }
  }
  const results = assembleResults(runs.map((r) => r.result), options, created, (performance.now() - t0) / 1000);
  return { results, artifacts: runs.map((r) => r.artifacts) };
}

/**
 * Loads scenario files and folders and runs them. A file that cannot be loaded throws a {@link ScenarioError}
 * before anything runs.
 */
export async function runScenarioFiles(paths: readonly string[], options: RunScenariosOptions = {}): Promise<RunOutput> {
  if (paths.length === 0) throw usageError('name at least one scenario file or folder', { path: 'files' });
  return runScenarios(await loadScenarios(paths), options);
}

/** True when an error is the user's to fix (exit code 2). */
export function isScenarioInputError(err: unknown): boolean {
  return err instanceof ScenarioError || isUserError(err);
}
