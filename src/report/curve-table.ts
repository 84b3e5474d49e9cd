/** A robustness curve as a text table and as CSV. */
import type { Rate } from '../attacks/metrics.js';
import type { RobustnessCurve } from '../attacks/curve.js';

const pct = (r: Rate | null): string => (r === null || !Number.isFinite(r.rate) ? '–' : `${(100 * r.rate).toFixed(1)}%`);

/** The curve as table rows (header first): ε, arm, robust accuracy, untargeted and targeted success, PSNR, L∞. */
export function curveTable(c: RobustnessCurve): string[][] {
  return [
    ['ε', 'arm', 'robust acc.', 'untargeted', c.target ? `→ ${c.target}` : 'targeted', 'PSNR dB', 'L∞ ×255'],
    ...c.rows.map((r) => [
      r.label, r.arm, pct(r.robustAccuracy), pct(r.untargetedSuccess), pct(r.targetedSuccess),
      Number.isFinite(r.psnr) ? r.psnr.toFixed(1) : '–', (r.linfMax * 255).toFixed(1),
    ]),
  ];
}

/** The curve as CSV text. */
export function curveToCsv(c: RobustnessCurve): string {
  const cell = (r: Rate | null): string => (r === null || !Number.isFinite(r.rate) ? '' : String(r.rate));
  const lines = ['epsilon,label,arm,clean_accuracy,robust_accuracy,untargeted_success,targeted_success,psnr,linf_max,l2_mean'];
  for (const r of c.rows) {
    lines.push([r.epsilon, r.label, r.arm, cell(r.cleanAccuracy), cell(r.robustAccuracy), cell(r.untargetedSuccess), cell(r.targetedSuccess),
      Number.isFinite(r.psnr) ? r.psnr : '', r.linfMax, r.l2Mean].join(','));
  }
  return lines.join('\n') + '\n';
}
