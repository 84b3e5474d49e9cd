/**
 * Attack results as plain data (no tensors) for result files: rates, metric summaries, the unit attack and its arms,
 * and robustness curves. The attacks return data; this is how reports write it.
 */
import type { RobustnessCurve } from '../attacks/curve.js';
import type { MetricSummary, Rate, UnitEffect } from '../attacks/metrics.js';
import type { UnitAttackArm, UnitAttackResult } from '../attacks/unit/types.js';

/** A rate as plain data. */
export interface RateJson { rate: number | null; count: number; total: number }
/** A rate as plain data: a NaN rate (no denominator) becomes null. */
export const rateJson = (r: Rate | null): RateJson | null => (r === null ? null : { rate: Number.isFinite(r.rate) ? r.rate : null, count: r.count, total: r.total });
const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
const summaryJson = (m: MetricSummary): Record<string, number | null | number[]> => ({
  mean: num(m.mean), median: num(m.median), min: num(m.min), max: num(m.max), finite: m.finite,
  perImage: m.perImage.map((v) => (Number.isFinite(v) ? v : (v > 0 ? 1e9 : -1e9))),
});

/** One arm as JSON-able data (no tensors). Infinite PSNR of unchanged images is written as 1e9. */
function armToJson(a: UnitAttackArm, classNames: readonly string[]): Record<string, unknown> {
  const g = (e: UnitEffect['suppressed']): Record<string, unknown> => ({ units: e.units, mean: num(e.mean), ci: e.ci.map(num) });
  return {
    arm: a.arm, suppress: a.suppress, excite: a.excite, seed: a.seed,
    targetedSuccess: rateJson(a.targetedSuccess), untargetedSuccess: rateJson(a.untargetedSuccess), robustAccuracy: rateJson(a.robustAccuracy),
    psnr: summaryJson(a.psnr), ssim: summaryJson(a.ssim), linf: summaryJson(a.linf), l2: summaryJson(a.l2),
    unitEffect: {
      confidence: a.unitEffect.confidence, interval: a.unitEffect.interval, seed: a.unitEffect.seed,
      suppressed: g(a.unitEffect.suppressed), excited: g(a.unitEffect.excited), other: { mean: num(a.unitEffect.other.mean), ci: a.unitEffect.other.ci.map(num) },
    },
    predictions: {
      before: Array.from(a.before, (c) => classNames[c] ?? String(c)),
      after: Array.from(a.after, (c) => classNames[c] ?? String(c)),
    },
    steps: Array.from(a.attack.steps), queries: Array.from(a.attack.queries), objective: Array.from(a.attack.objective, (v) => num(v)),
    warnings: a.warnings,
  };
}

/** The whole result as JSON-able data (no tensors): every figure and the seeds that replay it. */
export function unitAttackToJson(r: UnitAttackResult, classNames: readonly string[]): Record<string, unknown> {
  return {
    kind: 'unit-attack', model: r.model, layer: r.layer, numUnits: r.numUnits,
    selection: r.selection, target: r.target, attack: r.attack, objective: r.objective, norm: r.norm, epsilon: r.epsilon,
    ...(r.minPsnr !== undefined ? { minPsnr: r.minPsnr } : {}),
    steps: r.steps, aggregate: r.aggregate, shaping: r.shaping, unitScale: r.unitScale, classWeight: r.classWeight,
    images: r.labels.length, labels: Array.from(r.labels, (c) => classNames[c] ?? String(c)), cleanAccuracy: rateJson(r.cleanAccuracy),
    unit: armToJson(r.unit, classNames), control: r.control ? armToJson(r.control, classNames) : null,
    seed: r.seed, controlSeed: r.controlSeed, backend: r.backend, tfjsVersion: r.tfjsVersion, seconds: r.seconds, warnings: r.warnings,
  };
}

/** A curve as JSON-able data. */
export function curveJson(c: RobustnessCurve): Record<string, unknown> {
  return {
    ...c,
    rows: c.rows.map((r) => ({
      ...r, cleanAccuracy: rateJson(r.cleanAccuracy), robustAccuracy: rateJson(r.robustAccuracy), untargetedSuccess: rateJson(r.untargetedSuccess),
      targetedSuccess: rateJson(r.targetedSuccess), psnr: Number.isFinite(r.psnr) ? r.psnr : null,
    })),
  };
}
