/** How numbers and thresholds read in every report (terminal, JUnit, HTML). */
import type { ExpectationResult, MetricInterval, Threshold } from './types.js';

const RATES = new Set([
  'clean_accuracy', 'robust_accuracy', 'untargeted_success', 'targeted_success', 'unit_success', 'random_control_success',
  'ablation_accuracy_drop', 'ssim',
]);

/** Whether a metric is a fraction in [0, 1] (accuracies, success rates, drops, SSIM), shown with 3 decimals. */
export function isFractionMetric(metric: string): boolean {
  return RATES.has(metric);
}

/** A number for display: `n/a` for NaN, `∞` for infinity, else rounded sensibly. */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(3).replace(/\.?0+$/, '');
  if (a >= 1e-3) return v.toPrecision(3).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  return v.toExponential(2);
}

/** A measured value of a metric for display, e.g. `0.850`, `31.2 dB`, `0.0314 (8/255)`. */
export function formatMeasured(metric: string, v: number): string {
  if (!Number.isFinite(v)) return formatNumber(v);
  if (RATES.has(metric)) return v.toFixed(3);
  if (metric === 'psnr') return `${v.toFixed(2)} dB`;
  if (metric === 'linf' || metric === 'l2') {
    const k = v * 255;
    return Math.abs(k - Math.round(k)) < 1e-4 && metric === 'linf' ? `${formatNumber(v)} (${Math.round(k)}/255)` : formatNumber(v);
  }
  if (metric === 'units_labelled' || metric === 'property_holds') return String(Math.round(v));
  return formatNumber(v);
}

/** A threshold for display: `≥ 0.8`, `≤ 0.1`, `in [0.2, 0.4]`. */
export function formatThreshold(t: Threshold, metric = ''): string {
  const f = (x: number): string => (metric ? formatMeasured(metric, x) : formatNumber(x));
  if (t.min !== undefined && t.max !== undefined) return `in [${f(t.min)}, ${f(t.max)}]`;
  if (t.min !== undefined) return `≥ ${f(t.min)}`;
  if (t.max !== undefined) return `≤ ${f(t.max)}`;
  return 'any';
}

/** One sentence on an expectation: `targeted_success = 0.350, expected ≥ 0.800` (or its interval bound, when it gates on one). */
export function describeExpectation(e: ExpectationResult): string {
  const gated = e.bound !== undefined ? ` (${e.bound === 'lower95' ? 'lower' : 'upper'} end of the 95% interval ${formatMeasured(e.metric, e.compared ?? Number.NaN)})` : '';
  return `${e.metric} = ${formatMeasured(e.metric, e.measured)}${gated}, expected ${e.bound !== undefined ? `its ${e.bound === 'lower95' ? 'lower' : 'upper'} 95% bound ` : ''}${formatThreshold(e.threshold, e.metric)}`;
}

/** A measured value with its 95% interval when it has one: `0.520 [0.422, 0.616]`. */
export function formatWithInterval(metric: string, value: number, interval?: MetricInterval): string {
  const v = formatMeasured(metric, value);
  if (!interval || Number.isNaN(interval.lower)) return v;
  return `${v} [${formatMeasured(metric, interval.lower)}, ${formatMeasured(metric, interval.upper)}]`;
}

/** The threshold column: the bounds, and which value they apply to when it is not the measured one. */
export function formatGate(e: ExpectationResult): string {
  const t = formatThreshold(e.threshold, e.metric);
  return e.bound === undefined ? t : `${t} (${e.bound})`;
}

/** Seconds for display: `850 ms`, `12.3 s`, `4 min 05 s`. */
export function formatSeconds(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
}
