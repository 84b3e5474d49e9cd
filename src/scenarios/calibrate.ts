/**
 * Calibration: runs a scenario on other samples of its synthetic inputs (the same file with only
 * `inputs.synthetic.seed` changed) and shows, per expected metric, the spread of what was measured and a threshold
 * that every sample clears with a stated margin. A gate whose threshold fits one sample flips when the sample changes;
 * one set below the lowest of several samples does not.
 */
import { usageError } from '../errors.js';
import { isFractionMetric } from '../report/format.js';
import type { ScenarioResult } from '../report/types.js';
import { BOUND_SLACK, runScenarios, type RunProgress } from './run.js';
import type { Expectation, Scenario } from './types.js';

/** Options for {@link calibrateScenario}. */
export interface CalibrateOptions {
  /** Other input seeds to run besides the scenario's own. @defaultValue 5 */
  seeds?: number;
  /** The first of the other seeds; they are `from`, `from + 1`, …. @defaultValue the scenario's seed + 1 */
  from?: number;
  /**
   * What a suggested threshold leaves below the lowest (above the highest) value seen, for metrics that are fractions
   * (accuracies, success rates, drops); other metrics leave the spread the samples showed. @defaultValue 0.03
   */
  margin?: number;
  /** Worker threads (see `runScenarios`). @defaultValue 1 */
  workers?: number;
  onProgress?: (p: RunProgress) => void;
  onScenario?: (result: ScenarioResult) => void;
}

/** One expected metric across the samples. */
export interface CalibrationRow {
  metric: string;
  expectation: Expectation;
  /** What the expectation compares (the value, or the bound of its 95% interval it names), one per seed, in `seeds` order. */
  values: number[];
  /** Whether the expectation held, per seed. */
  held: boolean[];
  lowest: number;
  highest: number;
  /**
   * A threshold every sample clears with room to spare: the current one when it does, else `min` = lowest − room for
   * a lower bound, `max` = highest + room for an upper bound, rounded outwards to 2 decimals (3 below 0.1). The room is
   * the margin for fractions (clamped to [0, 1]) and the samples' spread for other metrics.
   */
  suggested: { min?: number; max?: number };
}

/** The result of {@link calibrateScenario}. */
export interface Calibration {
  scenario: string;
  file: string;
  /** The scenario's own input seed first, then the others. */
  seeds: number[];
  margin: number;
  rows: CalibrationRow[];
  /** True when every expectation held on every seed. */
  held: boolean;
  /** Every run's result, in `seeds` order. */
  results: ScenarioResult[];
}

/** Rounds `v` down (`dir` −1) or up (+1) to 2 decimals, or 3 when |v| < 0.1. */
export function roundOutward(v: number, dir: -1 | 1): number {
  const f = Math.abs(v) < 0.1 ? 1000 : 100;
  const r = (dir < 0 ? Math.floor(v * f + 1e-9) : Math.ceil(v * f - 1e-9)) / f;
  return Number(r.toFixed(3));
}

/**
 * The threshold that every value clears with room to spare (see {@link CalibrationRow.suggested}): for fractions
 * (rates, accuracies, drops) `margin` below the lowest value (above the highest); for other metrics the spread the
 * samples showed (highest − lowest), so that an enforced constraint that every sample meets about equally (ε, a PSNR
 * floor) keeps its threshold. The current threshold is kept when it already leaves that room.
 */
export function suggestThreshold(e: Expectation, values: readonly number[], margin: number): { min?: number; max?: number } {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return {};
  const fraction = isFractionMetric(e.metric);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const room = fraction ? margin : hi - lo;
  // The slack with which expectations are evaluated (float32 measurements of a bound such as ε = 2/255).
  const slack = (b: number): number => BOUND_SLACK * Math.max(1, Math.abs(b));
  const out: { min?: number; max?: number } = {};
  if (e.min !== undefined) {
    const m = fraction ? Math.max(0, lo - room) : lo - room;
    out.min = e.min <= m + slack(e.min) ? e.min : roundOutward(m, -1);
  }
  if (e.max !== undefined) {
    const m = fraction ? Math.min(1, hi + room) : hi + room;
    out.max = e.max >= m - slack(e.max) ? e.max : roundOutward(m, 1);
  }
  return out;
}

/** The scenario with other synthetic inputs: only the seed (and the name, which says the seed) differs. */
export function withInputSeed(s: Scenario, seed: number): Scenario {
  if (s.inputs.kind !== 'synthetic') throw new Error('withInputSeed needs synthetic inputs');
  return { ...s, name: `${s.name} [inputs seed ${seed}]`, inputs: { ...s.inputs, seed } };
}

/**
 * Runs `scenario` on its own inputs and on `seeds` other samples of them, and gathers every expected metric.
 * Needs synthetic inputs (`inputs.synthetic`): a folder of images is one fixed sample.
 *
 * @example
 * const c = await calibrateScenario(await loadScenario('scenarios/robustness-gate.yaml'), { seeds: 5 });
 * for (const r of c.rows) console.log(r.metric, r.lowest, r.suggested);
 */
export async function calibrateScenario(scenario: Scenario, options: CalibrateOptions = {}): Promise<Calibration> {
  if (scenario.inputs.kind !== 'synthetic') {
    throw usageError(`${scenario.file}: calibration draws other samples of synthetic inputs, but this scenario reads a folder of images`, {
      file: scenario.file, path: 'inputs', hint: 'calibrate a scenario with inputs.synthetic (or gate on a bound of the 95% interval: `bound: lower95`)',
    });
  }
  const n = options.seeds ?? 5;
  if (!Number.isInteger(n) || n < 1) throw usageError(`--seeds must be a positive integer, got ${String(options.seeds)}`, { path: 'seeds' });
  const margin = options.margin ?? 0.03;
  if (!Number.isFinite(margin) || margin < 0) throw usageError(`--margin must be a number ≥ 0, got ${String(options.margin)}`, { path: 'margin' });
  const own = scenario.inputs.seed;
  const from = options.from ?? own + 1;
  if (!Number.isSafeInteger(from)) throw usageError(`--from must be an integer, got ${String(options.from)}`, { path: 'from' });
  const others = Array.from({ length: n }, (_, i) => from + i).filter((s) => s !== own);
  while (others.length < n) others.push(Math.max(...others, own) + 1);
  const seeds = [own, ...others];
  const out = await runScenarios(seeds.map((s, i) => (i === 0 ? scenario : withInputSeed(scenario, s))), {
    workers: options.workers ?? 1,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onScenario ? { onScenario: options.onScenario } : {}),
  });
  const results = out.results.scenarios;
  const rows = scenario.expectations.map((e): CalibrationRow => {
    const per = results.map((r) => r.expectations.find((x) => x.metric === e.metric));
    const values = per.map((x) => (x === undefined ? Number.NaN : x.compared ?? x.measured));
    const finite = values.filter(Number.isFinite);
    return {
      metric: e.metric, expectation: e, values, held: per.map((x) => x?.passed ?? false),
      lowest: finite.length ? Math.min(...finite) : Number.NaN,
      highest: finite.length ? Math.max(...finite) : Number.NaN,
      suggested: suggestThreshold(e, values, margin),
    };
  });
  return {
    scenario: scenario.name, file: scenario.file, seeds, margin, rows,
    held: results.every((r) => r.status === 'passed'), results,
  };
}
