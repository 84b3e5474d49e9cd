/**
 * Runs scenarios: loads each model once and each dissection once (the dissection also has its on-disk cache),
 * reads the inputs, runs the task, evaluates the expectations and records seeds, backend, versions and durations.
 * A scenario that cannot run (a class the model lacks, a concept no unit stands for) is recorded as an error and
 * the others still run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import * as tf from '../tf.js';
import { dissect, type Atlas, type DissectOptions, type DissectProgress } from '../dissection/index.js';
import { backendInfo, initBackend, type BackendName } from '../engine/backend.js';
import { withPool, type WorkerPool } from '../engine/pool.js';
import { UnitAttackError, isUserError, usageError } from '../errors.js';
import { loadClassifier } from '../models/io.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import type { Classifier } from '../models/types.js';
import { lazyPool } from '../parallel/index.js';
import { compareWithBaseline, type Tolerances } from '../report/baseline.js';
import { drawTaskArtifacts } from '../report/scenario-pictures.js';
import {
  RESULTS_FORMAT, RESULTS_VERSION, type ExpectationResult, type RunOutput, type RunResults, type ScenarioArtifacts,
  type MetricInterval, type ScenarioFailure, type ScenarioResult,
} from '../report/types.js';
import { ScenarioError, displayPath, scenarioError } from './errors.js';
import { loadInputs, type LoadedInputs } from './inputs.js';
import { issueAt, loadScenarios } from './load.js';
import { runGeneratorTask } from './generator-tasks.js';
import { inputsTensor, predictAll, runTask, type TaskOutput } from './tasks.js';
import type { Expectation, Scenario } from './types.js';

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

/** A scenario's result and its pictures. */
export interface ScenarioRun {
  result: ScenarioResult;
  artifacts: ScenarioArtifacts;
}

let packageVersion: string | undefined;
/** The version of unit-attack. */
export function toolVersion(): string {
  if (packageVersion === undefined) {
    try {
      packageVersion = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

/** The probe and the options of a scenario's dissection, as the runner passes them to `dissect`. */
export function scenarioDissection(s: Scenario): { probe: string; options: DissectOptions } {
  const d = s.dissection!;
  return {
    probe: d.probe ?? 'builtin:scenes?count=500&seed=7',
    options: {
      ...(d.layer !== undefined ? { layer: d.layer } : {}),
      ...(d.quantile !== undefined ? { quantile: d.quantile } : {}),
      ...(d.iouThreshold !== undefined ? { iouThreshold: d.iouThreshold } : {}),
      ...(d.topN !== undefined ? { topN: d.topN } : {}),
      ...(d.metric !== undefined ? { metric: d.metric } : {}),
      ...(d.ranking !== undefined ? { ranking: d.ranking } : {}),
      ...(d.rankingClasses !== undefined ? { rankingClasses: d.rankingClasses } : {}),
      ...(d.seed !== undefined ? { seed: d.seed } : {}),
      ...(d.cache !== undefined ? { cache: d.cache } : {}),
    },
  };
}

/** Slack on bounds for float32 rounding (an L∞ of exactly 8/255 computed in float32 may exceed 8/255 by 3e-8). */
export const BOUND_SLACK = 1e-6;

/**
 * Evaluates one expectation: NaN never passes; bounds are inclusive (with {@link BOUND_SLACK}, relative above 1).
 * With `bound: lower95` or `upper95`, that end of the metric's 95% interval is compared instead of the value
 * (a metric without an interval then does not pass).
 */
export function evaluateExpectation(e: Expectation, measured: number | undefined, interval?: MetricInterval): ExpectationResult {
  const v = measured ?? Number.NaN;
  const bound = e.bound !== undefined && e.bound !== 'value' ? e.bound : undefined;
  const compared = bound === undefined ? v : interval ? (bound === 'lower95' ? interval.lower : interval.upper) : Number.NaN;
  const slack = (b: number): number => BOUND_SLACK * Math.max(1, Math.abs(b));
  const passed = !Number.isNaN(compared) && (e.min === undefined || compared >= e.min - slack(e.min)) && (e.max === undefined || compared <= e.max + slack(e.max));
  return {
    metric: e.metric, measured: v,
    threshold: { ...(e.min !== undefined ? { min: e.min } : {}), ...(e.max !== undefined ? { max: e.max } : {}) },
    ...(bound !== undefined ? { bound, compared } : {}),
    passed,
  };
}

function failureOf(err: unknown): ScenarioFailure {
  if (err instanceof ScenarioError) {
    const i = err.issues[0];
    return {
      code: err.code, message: err.issues.length > 1 ? `${i.message} (and ${err.issues.length - 1} more)` : i.message, path: i.path,
      file: displayPath(i.file), ...(i.line !== undefined ? { line: i.line } : {}), ...(i.hint !== undefined ? { hint: i.hint } : {}),
    };
  }
  if (err instanceof UnitAttackError) {
    return {
      code: err.code, message: err.message, ...(err.hint !== undefined ? { hint: err.hint } : {}),
      ...(err.path !== undefined ? { path: err.path } : {}), ...(err.file !== undefined ? { file: displayPath(err.file) } : {}),
    };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { code: 'UA_INTERNAL', message: e.message, hint: 'this is a bug in unit-attack; please report it with the scenario file' };
}

/** Shared work of a run: models and dissections are loaded once and reused by every scenario that names them. */
export class RunCache {
  private readonly models = new Map<string, Promise<Classifier>>();
  private readonly atlases = new Map<string, Promise<{ atlas: Atlas; cached: boolean; seconds: number; cacheFile?: string }>>();

  /** The classifier of a scenario (loaded on first use). */
  model(s: Scenario): Promise<Classifier> {
    const key = JSON.stringify(s.model);
    let p = this.models.get(key);
    if (!p) {
      p = loadClassifier(s.model.spec, {
        ...(s.model.preprocessing !== undefined ? { preprocessing: s.model.preprocessing } : {}),
        ...(s.model.classes ? { classNames: s.model.classes } : {}),
      }).catch((err: unknown) => {
        this.models.delete(key);
        if (err instanceof UnitAttackError && err.code !== 'UA_INTERNAL') {
          const at = s.source.lines['model.path'] !== undefined ? ['model', 'path'] : ['model'];
          throw scenarioError(issueAt(s.source, 'unreadable', at, err.message, err.hint), err);
        }
        throw err;
      });
      this.models.set(key, p);
    }
    return p;
  }

  /** The atlas of a scenario's dissection (computed on first use, or read from the on-disk cache). */
  atlas(s: Scenario, clf: Classifier, onProgress?: (p: DissectProgress) => void, onWarning?: (m: string) => void): Promise<{ atlas: Atlas; cached: boolean; seconds: number; cacheFile?: string }> {
    const d = s.dissection!;
    const key = JSON.stringify([s.model, d]);
    let p = this.atlases.get(key);
    if (!p) {
      const { probe, options } = scenarioDissection(s);
      p = dissect(clf, probe, { ...options, ...(onProgress ? { onProgress } : {}), ...(onWarning ? { onWarning } : {}) }).then((r) => ({ atlas: r.atlas, cached: r.cached, seconds: r.seconds, ...(r.cacheFile ? { cacheFile: r.cacheFile } : {}) }))
        .catch((err: unknown) => {
          this.atlases.delete(key);
          if (err instanceof UnitAttackError && (err.code === 'UA_USAGE' || err.code === 'UA_LAYER' || err.code === 'UA_INPUT')) {
            const field = err.path === 'layer' ? 'layer' : err.path === 'probe' ? 'probe' : undefined;
            throw scenarioError(issueAt(s.source, err.code === 'UA_INPUT' ? 'unreadable' : 'invalid_value', field ? ['dissection', field] : ['dissection'], err.message, err.hint), err);
          }
          throw err;
        });
      this.atlases.set(key, p);
    }
    return p;
  }

  /** Frees every model. */
  async dispose(): Promise<void> {
    for (const p of this.models.values()) {
      try {
        (await p).dispose();
      } catch { /* a model that failed to load holds nothing */ }
    }
    this.models.clear();
    this.atlases.clear();
  }
}

/** Options for {@link runScenario}. */
export interface RunScenarioOptions {
  cache: RunCache;
  replay?: { seed?: number; path?: string };
  onProgress?: (phase: string, done?: number, of?: number) => void;
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
  const mark = (): number => performance.now();
  const durations: Record<string, number> = {};
  const progress = options.onProgress ?? (() => undefined);
  const file = displayPath(scenario.file);
  const result: ScenarioResult = {
    name: scenario.name, file, ...(scenario.description !== undefined ? { description: scenario.description } : {}),
    status: 'error', task: scenario.task.kind === 'gan-ablation' ? 'ablation' : scenario.task.kind, model: null, expectations: [], metrics: {},
    inputs: { kind: scenario.inputs.kind, total: scenario.inputs.kind === 'folder' ? scenario.inputs.entries.length : scenario.inputs.count, used: 0, errored: [], allowErrors: scenario.allowErrors },
    seeds: scenario.inputs.kind === 'synthetic' ? { inputs: scenario.inputs.seed } : {},
    durations, details: {}, warnings: [], images: [],
  };
  const artifacts: ScenarioArtifacts = { images: [], plots: [] };
  let x: tf.Tensor4D | undefined;
  if (scenario.task.kind === 'gan-ablation' || scenario.task.kind === 'insertion') {
    try {
      const g = await runGeneratorTask(scenario, progress);
      result.model = g.model;
      result.inputs = { ...result.inputs, used: result.inputs.total };
      Object.assign(result.metrics, g.metrics);
      if (Object.keys(g.intervals).length > 0) result.intervals = g.intervals;
      Object.assign(result.details, g.details);
      Object.assign(result.seeds, g.seeds);
      Object.assign(durations, g.durations);
      result.warnings.push(...g.warnings);
      artifacts.plots = (await drawTaskArtifacts([], g.charts)).plots;
      result.expectations = scenario.expectations.map((e) => evaluateExpectation(e, result.metrics[e.metric]));
      result.status = result.expectations.every((e) => e.passed) ? 'passed' : 'failed';
    } catch (err) {
      result.status = 'error';
      result.error = failureOf(err);
      result.expectations = scenario.expectations.map((e) => ({ ...evaluateExpectation(e, Number.NaN), passed: false }));
    } finally {
      durations.total = (performance.now() - t0) / 1000;
      progress('done');
    }
    return { result, artifacts };
  }
  try {
    progress('model');
    let t = mark();
    const clf = await options.cache.model(scenario);
    durations.model = (mark() - t) / 1000;
    result.model = { spec: scenario.model.spec.startsWith('builtin:') ? scenario.model.spec : displayPath(scenario.model.spec), name: clf.name, fingerprint: clf.fingerprint, inputSize: [clf.inputSize[0], clf.inputSize[1]], classes: clf.classNames.length };

    progress('inputs');
    t = mark();
    const inputs: LoadedInputs = await loadInputs(scenario, clf);
    durations.inputs = (mark() - t) / 1000;
    result.inputs = { ...result.inputs, total: inputs.total, used: inputs.images.length, errored: inputs.errored };

    let atlas: Atlas | undefined;
    if (scenario.dissection) {
      progress('dissection');
      t = mark();
      const d = await options.cache.atlas(scenario, clf, (p) => progress(`dissection: ${p.phase}`, p.done, p.total), (m) => result.warnings.push(m));
      durations.dissection = (mark() - t) / 1000;
      atlas = d.atlas;
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

    let task: TaskOutput | undefined;
    if (inputs.images.length > 0) {
      x = inputsTensor(inputs)!;
      t = mark();
      const clean = await predictAll(clf, x);
      durations.predict = (mark() - t) / 1000;
      progress(scenario.task.kind);
      task = await runTask({
        scenario, classifier: clf, inputs, x, cleanPredictions: clean, ...(atlas ? { atlas } : {}),
        ...(options.replay ? { replay: options.replay } : {}), displayFile: file,
        onProgress: (phase, done, total) => progress(phase, done, total),
      });
    } else {
      result.warnings.push('no input could be used, so nothing was measured');
    }
    if (task) {
      Object.assign(result.metrics, task.metrics);
      if (Object.keys(task.intervals).length > 0) result.intervals = { ...task.intervals };
      Object.assign(result.details, task.details);
      Object.assign(result.seeds, task.seeds);
      Object.assign(durations, task.durations);
      result.warnings.push(...task.warnings);
      result.images = task.images;
      Object.assign(artifacts, await drawTaskArtifacts(task.examples, task.charts));
    }
    result.expectations = scenario.expectations.map((e) => evaluateExpectation(e, result.metrics[e.metric], result.intervals?.[e.metric]));
    const inputsOk = inputs.errored.length <= scenario.allowErrors;
    result.status = result.expectations.every((e) => e.passed) && inputsOk ? 'passed' : 'failed';
  } catch (err) {
    result.status = 'error';
    result.error = failureOf(err);
    result.expectations = scenario.expectations.map((e) => ({ ...evaluateExpectation(e, Number.NaN), passed: false }));
  } finally {
    x?.dispose();
    durations.total = (performance.now() - t0) / 1000;
    progress('done');
  }
  return { result, artifacts };
}

/** The exit code of a set of results: 3 internal error > 2 bad input > 1 failed or regressed > 0. */
export function exitCodeOf(scenarios: readonly ScenarioResult[], regressions = 0): 0 | 1 | 2 | 3 {
  if (scenarios.some((s) => s.status === 'error' && (s.error?.code === 'UA_INTERNAL' || s.error?.code === 'UA_WORKER'))) return 3;
  if (scenarios.some((s) => s.status === 'error')) return 2;
  if (scenarios.some((s) => s.status === 'failed') || regressions > 0) return 1;
  return 0;
}

/** Versions that decide results. */
function versions(): Record<string, string> {
  const info = backendInfo();
  return {
    unitAttack: toolVersion(), node: process.version, tfjs: tf.version_core,
    ...(info ? { backend: `${info.name} ${info.backendVersion}` } : {}),
    fastCheck: String((fc as unknown as { __version?: string }).__version ?? 'unknown'),
  };
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
 * One errored result per scenario file that did not validate, holding all of that file's issues, so that a run
 * stopped by invalid files still writes `results.json` and a JUnit case per file for CI reporters to find.
 */
export function invalidFileResults(err: ScenarioError): ScenarioResult[] {
  const byFile = new Map<string, ScenarioError['issues'][number][]>();
  for (const i of err.issues) byFile.set(i.file, [...(byFile.get(i.file) ?? []), i]);
  return [...byFile.entries()].map(([file, issues]) => {
    const shown = displayPath(file);
    const first = issues[0];
    const lines = issues.map((i) => `${i.message} (at ${i.path}, ${displayPath(i.file)}${i.line !== undefined ? `:${i.line}` : ''})${i.hint ? ` — ${i.hint}` : ''}`);
    return {
      name: `invalid: ${path.basename(file)}`, file: shown, status: 'error', task: 'invalid', model: null, expectations: [], metrics: {},
      inputs: { kind: 'synthetic', total: 0, used: 0, errored: [], allowErrors: 0 }, seeds: {}, durations: { total: 0 },
      details: { issues: issues.map((i) => ({ code: i.code, path: i.path, message: i.message, file: displayPath(i.file), ...(i.line !== undefined ? { line: i.line } : {}), ...(i.column !== undefined ? { column: i.column } : {}), ...(i.hint !== undefined ? { hint: i.hint } : {}) })) },
      warnings: [], images: [],
      error: {
        code: 'UA_INPUT', message: issues.length === 1 ? lines[0] : `${issues.length} problems:\n${lines.join('\n')}`,
        path: first.path, file: shown, ...(first.line !== undefined ? { line: first.line } : {}),
      },
    } satisfies ScenarioResult;
  });
}

/** Assembles the run's results from the scenario results. */
export function assembleResults(scenarios: ScenarioResult[], options: RunScenariosOptions, created: Date, seconds: number): RunResults {
  const info = backendInfo();
  const base: RunResults = {
    format: RESULTS_FORMAT, version: RESULTS_VERSION, created: created.toISOString(), passed: false, exitCode: 0,
    summary: {
      scenarios: scenarios.length,
      passed: scenarios.filter((s) => s.status === 'passed').length,
      failed: scenarios.filter((s) => s.status === 'failed').length,
      errored: scenarios.filter((s) => s.status === 'error').length,
      expectations: scenarios.reduce((a, s) => a + s.expectations.length, 0),
      failedExpectations: scenarios.reduce((a, s) => a + s.expectations.filter((e) => !e.passed).length, 0),
    },
    tool: { name: 'unit-attack', version: toolVersion() },
    versions: versions(),
    backend: info ? {
      name: info.name, reason: info.reason, tfjsVersion: info.tfjsVersion, backendVersion: info.backendVersion, threads: info.threads,
      simd: info.simd ?? null, fastKernels: info.fastKernels,
    } : null,
    durations: { total: seconds },
    options: {
      ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.path !== undefined ? { path: options.path } : {}),
      workers: options.workers ?? 1,
    },
    scenarios,
  };
  let regressions = 0;
  if (options.baseline) {
    const cmp = compareWithBaseline(base, options.baseline.results, options.baseline.tolerances);
    base.baseline = { file: displayPath(options.baseline.file), tolerance: options.baseline.tolerances, compared: cmp.compared, regressions: cmp.regressions };
    regressions = cmp.regressions.length;
  }
  base.exitCode = exitCodeOf(scenarios, regressions);
  base.passed = base.exitCode === 0;
  return base;
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
          cache, ...(replay && s.task.kind === 'fuzz' ? { replay } : {}),
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
