/**
 * The verdicts of a run: each expectation against its metric, the error that stopped a scenario, the run's
 * results with its versions and baseline comparison, and its exit code.
 */
import path from 'node:path';
import fc from 'fast-check';
import * as tf from '../tf.js';
import { backendInfo } from '../engine/backend.js';
import { UnitAttackError } from '../errors.js';
import { compareWithBaseline } from '../report/baseline.js';
import {
  RESULTS_FORMAT, RESULTS_VERSION, type ExpectationResult, type MetricInterval, type RunResults, type ScenarioFailure, type ScenarioResult,
} from '../report/types.js';
import { toolVersion } from '../util/package-root.js';
import { ScenarioError, displayPath } from './errors.js';
import type { RunScenariosOptions } from './run.js';
import type { Expectation } from './types.js';

export { toolVersion };

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

export function failureOf(err: unknown): ScenarioFailure {
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
