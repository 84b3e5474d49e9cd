/**
 * The report of an attack run: the 8-bit adversarial PNGs (what is saved is what fools), perturbation pictures,
 * before/after heatmaps of the steered units, `result.json` with every figure and seed, and the robustness curve
 * as a table, CSV, JSON and PNG plot. Every file is written atomically.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '../tf.js';
import type { RobustnessCurve } from '../attacks/curve.js';
import type { AttackResult } from '../attacks/types.js';
import type { UnitAttackResult } from '../attacks/unit/types.js';
import { curveJson, unitAttackToJson } from './attack-json.js';
import { curveTable, curveToCsv } from './curve-table.js';
import { encodePng, perturbationPicture, tensorToRgb, type RgbImage } from '../data/images.js';
import { UnitAttackError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';
import { heatmapPair, labelledStrip, perturbationAmplification, unitMaps } from './heatmap.js';
import { saveLineChart, type LineSeries } from './plot.js';

/** What was attacked and how: a unit attack (with its control) or a logit attack. */
export type AttackRun =
  | { kind: 'unit'; result: UnitAttackResult }
  | { kind: 'logit'; result: AttackResult; target: string | null; metrics: Record<string, unknown> };

/** Options for {@link writeAttackReport}. */
export interface AttackReportOptions {
  /** A name per image (file names are made from it). @defaultValue `img-000`, `img-001`, … */
  ids?: readonly string[];
  /** The robustness curve, when one was measured. */
  curve?: RobustnessCurve;
  /** Heatmap strips for at most this many images. @defaultValue 16 */
  maxHeatmaps?: number;
  /** Anything else to record in `result.json` (command line, model info, …). */
  meta?: Record<string, unknown>;
  /** Called after each image's files. */
  onProgress?: (done: number, total: number) => void;
}

/** The files {@link writeAttackReport} wrote. */
export interface AttackReportFiles {
  result: string;
  adversarial: string[];
  control: string[];
  perturbations: string[];
  heatmaps: string[];
  curve?: { table: string; csv: string; json: string; png: string };
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'img';
}

/** Rows of a batch as 8-bit RGB images. */
function rows(x: tf.Tensor4D): RgbImage[] {
  const [n, h, w] = x.shape;
  const data = x.dataSync();
  const per = h * w * 3;
  return Array.from({ length: n }, (_, i) => {
    const d = new Uint8Array(per);
    for (let k = 0; k < per; k++) d[k] = Math.round(Math.min(1, Math.max(0, data[i * per + k])) * 255);
    return { data: d, width: w, height: h };
  });
}

async function writePng(file: string, img: RgbImage): Promise<void> {
  await writeAtomic(file, await encodePng(img));
}

/** The panels of a heatmap strip, left to right (also `heatmapLayout` in `result.json`). */
const HEATMAP_TITLES = ['clean', 'adversarial', 'suppressed before', 'suppressed after', 'excited before', 'excited after'];

/**
 * Writes the report of an attack run into `outDir`.
 *
 * @example
 * const r = await unitAttack(clf, x, labels, { atlas, exciteClass: 'bedroom', suppressClass: 'ski_resort' });
 * await writeAttackReport(clf, x, { kind: 'unit', result: r }, 'out/attack');
 */
export async function writeAttackReport(
  classifier: Classifier, x: tf.Tensor4D, run: AttackRun, outDir: string, options: AttackReportOptions = {},
): Promise<AttackReportFiles> {
  try {
    await fs.mkdir(outDir, { recursive: true });
    for (const d of ['adversarial', 'perturbation', ...(run.kind === 'unit' ? ['heatmaps'] : [])]) await fs.mkdir(path.join(outDir, d), { recursive: true });
  } catch (err) {
    throw new UnitAttackError('UA_IO', `cannot create the folder '${outDir}': ${(err as Error).message}`, { file: outDir, path: 'outDir', cause: err });
  }
  const n = x.shape[0];
  const ids = (options.ids ?? Array.from({ length: n }, (_, i) => `img-${String(i).padStart(3, '0')}`)).map(safeName);
  const files: AttackReportFiles = { result: path.join(outDir, 'result.json'), adversarial: [], control: [], perturbations: [], heatmaps: [] };
  const clean = rows(x);
  const main = run.kind === 'unit' ? run.result.unit.attack.adversarial : run.result.adversarial;
  const adv = rows(main);
  const ctrl = run.kind === 'unit' && run.result.control ? rows(run.result.control.attack.adversarial) : null;
  const maxHeat = options.maxHeatmaps ?? 16;
  let sup: ReturnType<typeof unitMaps>[] = []; let exc: ReturnType<typeof unitMaps>[] = [];
  if (run.kind === 'unit' && maxHeat > 0) {
    const r = run.result;
    const m = Math.min(n, maxHeat);
    const head = (t: tf.Tensor4D): tf.Tensor4D => (m === n ? t : t.slice([0, 0, 0, 0], [m, -1, -1, -1]));
    const [xc, xa] = [head(x), head(main)];
    sup = [unitMaps(classifier, r.layer, r.unit.suppress, xc), unitMaps(classifier, r.layer, r.unit.suppress, xa)];
    exc = [unitMaps(classifier, r.layer, r.unit.excite, xc), unitMaps(classifier, r.layer, r.unit.excite, xa)];
    if (m !== n) { xc.dispose(); xa.dispose(); }
  }
  const heatN = sup.length > 0 ? sup[0].maps.length : 0;
  for (let i = 0; i < n; i++) {
    const a = path.join(outDir, 'adversarial', `${ids[i]}.png`);
    await writePng(a, adv[i]);
    files.adversarial.push(a);
    const p = path.join(outDir, 'perturbation', `${ids[i]}.png`);
    await writePng(p, perturbationPicture(clean[i], adv[i]));
    files.perturbations.push(p);
    if (ctrl) {
      const c = path.join(outDir, 'adversarial', `${ids[i]}-control.png`);
      await writePng(c, ctrl[i]);
      files.control.push(c);
    }
    if (i < heatN) {
      // Strip: clean | adversarial | suppressed before | after | excited before | after, titled, with the colour
      // scale of each group and the amplification of the perturbation picture beside it.
      const panels: RgbImage[] = [clean[i], adv[i]];
      const scales: Array<{ label: string; vmax: number }> = [];
      for (const [g, label] of [[sup, 'suppressed'], [exc, 'excited']] as const) {
        const pair = heatmapPair(clean[i], adv[i], g[0].maps[i], g[1].maps[i], g[0].h, g[0].w);
        panels.push(pair.before, pair.after);
        scales.push({ label, vmax: pair.vmax });
      }
      const h = path.join(outDir, 'heatmaps', `${ids[i]}.png`);
      const k = perturbationAmplification(clean[i], adv[i]);
      await writeAtomic(h, await labelledStrip(panels, {
        titles: HEATMAP_TITLES, scales,
        note: `summed activation of each group's units; perturbation/${ids[i]}.png shows adversarial − clean amplified ×${k.toFixed(1)}`,
      }, 4, 2));
      files.heatmaps.push(h);
    }
    options.onProgress?.(i + 1, n);
  }
  if (options.curve) files.curve = await writeCurve(options.curve, outDir);
  const body = run.kind === 'unit'
    ? unitAttackToJson(run.result, classifier.classNames)
    : { kind: 'logit-attack', target: run.target, ...run.metrics };
  await writeJsonAtomic(files.result, {
    format: 'unit-attack-result', version: 1, created: new Date().toISOString(), ...options.meta, ...body,
    images: ids, curve: options.curve ? curveJson(options.curve) : undefined,
    files: {
      adversarial: files.adversarial.map((f) => path.relative(outDir, f)), control: files.control.map((f) => path.relative(outDir, f)),
      perturbation: files.perturbations.map((f) => path.relative(outDir, f)), heatmaps: files.heatmaps.map((f) => path.relative(outDir, f)),
    },
    heatmapLayout: run.kind === 'unit' ? HEATMAP_TITLES : undefined,
  });
  return files;
}

/** Writes a curve as `curve.txt` (table), `curve.csv`, `curve.json` and `curve.png`. */
export async function writeCurve(c: RobustnessCurve, outDir: string): Promise<{ table: string; csv: string; json: string; png: string }> {
  const out = { table: path.join(outDir, 'curve.txt'), csv: path.join(outDir, 'curve.csv'), json: path.join(outDir, 'curve.json'), png: path.join(outDir, 'curve.png') };
  await fs.mkdir(outDir, { recursive: true });
  const t = curveTable(c);
  const widths = t[0].map((_, k) => Math.max(...t.map((r) => r[k].length)));
  await writeAtomic(out.table, t.map((r) => r.map((cell, k) => (k < 2 ? cell.padEnd(widths[k]) : cell.padStart(widths[k]))).join('  ').trimEnd()).join('\n') + '\n');
  await writeAtomic(out.csv, curveToCsv(c));
  await writeJsonAtomic(out.json, curveJson(c));
  const series: LineSeries[] = [];
  const ticks = c.epsilons.map((e) => e * 255);
  for (const arm of c.arms) {
    const rs = c.rows.filter((r) => r.arm === arm);
    const name = c.kind === 'unit' ? (arm === 'unit' ? 'unit attack' : 'random-unit control') : c.attack;
    if (c.target !== null) {
      series.push({ name: `${name}: → ${c.target}`, points: rs.map((r) => [r.epsilon * 255, r.targetedSuccess ? r.targetedSuccess.rate : Number.NaN] as const), dash: arm === 'control' ? 'dashed' : 'solid' });
    }
    series.push({ name: `${name}: robust accuracy`, points: rs.map((r) => [r.epsilon * 255, r.robustAccuracy.rate] as const), dash: arm === 'control' ? 'dashed' : 'dotted' });
  }
  await saveLineChart(out.png, {
    title: `Robustness curve (${c.attack}, ${c.images} images)`, xLabel: 'ε (× 1/255)', yLabel: 'rate', series, yDomain: [0, 1],
    xTicks: ticks, xFormat: (v) => String(Number(v.toFixed(2))), yFormat: (v) => `${Math.round(v * 100)}%`, legend: 'bottom', height: 480,
  });
  return out;
}

/** The 8-bit RGB image of one row of a batch (for callers that write single images). */
export function rowImage(x: tf.Tensor4D, i: number): RgbImage {
  const t = x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
  try {
    return tensorToRgb(t);
  } finally {
    t.dispose();
  }
}
