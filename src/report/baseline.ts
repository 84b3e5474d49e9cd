/**
 * Comparison with an earlier run (`--baseline results.json`): every metric an expectation names is compared with
 * the same scenario's value in the baseline; it regresses when it moved the wrong way by more than the tolerance.
 * The expectation gives the direction: a metric with a `min` is better higher, one with only a `max` better lower.
 */
import { usageError } from '../errors.js';
import type { Regression, RunResults } from './types.js';

/** Default absolute tolerance (e.g. 0.02 = two points of a rate). */
export const DEFAULT_TOLERANCE = 0.02;

/** Tolerances per metric; `*` applies to the others. */
export type Tolerances = Record<string, number>;

/**
 * Reads `--tolerance` values: a number (every metric) and/or `metric=number` entries, e.g. `['0.02', 'psnr=0.5']`.
 */
export function parseTolerances(values: readonly (string | number)[] | undefined): Tolerances {
  const t: Tolerances = { '*': DEFAULT_TOLERANCE };
  for (const raw of values ?? []) {
    const s = String(raw).trim();
    const m = /^(?:([a-z_][a-z0-9_]*)\s*=\s*)?([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)$/i.exec(s);
    if (!m) {
      throw usageError(`--tolerance must be a number or metric=number, got '${s}'`, { path: 'tolerances', hint: 'e.g. --tolerance 0.02 --tolerance psnr=0.5' });
    }
    t[m[1] ?? '*'] = Number(m[2]);
  }
  return t;
}

/** The tolerance that applies to a metric. */
export function toleranceFor(t: Tolerances, metric: string): number {
  return t[metric] ?? t['*'] ?? DEFAULT_TOLERANCE;
}

/**
 * Compares a run with a baseline run. Scenarios or metrics the baseline lacks are not compared (they are new);
 * NaN values are not compared.
 *
 * @example
 * const { regressions } = compareWithBaseline(results, await readResults('baseline/results.json'), parseTolerances([]));
 */
export function compareWithBaseline(current: RunResults, baseline: RunResults, tolerances: Tolerances): { compared: number; regressions: Regression[] } {
  const regressions: Regression[] = [];
  let compared = 0;
  const before = new Map(baseline.scenarios.map((s) => [s.name, s]));
  for (const s of current.scenarios) {
    const b = before.get(s.name);
    if (!b) continue;
    for (const e of s.expectations) {
      const old = b.metrics[e.metric] ?? b.expectations.find((x) => x.metric === e.metric)?.measured;
      if (old === undefined || Number.isNaN(old) || Number.isNaN(e.measured)) continue;
      compared++;
      const better = e.threshold.min !== undefined ? 'higher' : 'lower';
      const tolerance = toleranceFor(tolerances, e.metric);
      const worse = better === 'higher' ? old - e.measured : e.measured - old;
      // Infinite values (PSNR of unchanged images) compare as equal when both are infinite.
      const regressed = old === e.measured ? false : !Number.isFinite(worse) ? worse > 0 : worse > tolerance + 1e-12;
      if (regressed) regressions.push({ scenario: s.name, metric: e.metric, baseline: old, measured: e.measured, tolerance, better });
    }
  }
  return { compared, regressions };
}
