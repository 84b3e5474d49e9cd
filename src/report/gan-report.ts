/**
 * The files of a generator ablation or insertion: JSON, CSV, a PNG plot and labelled picture grids of the same
 * latents before and after the edit.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { encodePng, type RgbImage } from '../data/images.js';
import type { AblationExamples, GeneratorAblation, RankingKind } from '../gan/ablate.js';
import type { GeneratorInsertion, InsertionExamples } from '../gan/insert.js';
import { writeAtomic } from '../util/atomic.js';
import { barChartSvg } from './bars.js';
import { PALETTE, escapeXml, lineChartSvg, svgToPng, type LineChartOptions, type LineSeries } from './plot.js';

/** Top-level names `ablate` writes in its folder (what `--force` replaces). */
export const ABLATION_REPORT_ENTRIES: readonly string[] = ['ablation.json', 'ablation.csv', 'concepts.csv', 'ablation.png', 'examples'];
/** Top-level names `insert` writes in its folder. */
export const INSERTION_REPORT_ENTRIES: readonly string[] = ['insertion.json', 'insertion.csv', 'insertion.png', 'examples'];

const RANKING_LABEL: Record<RankingKind, string> = { iou: 'ranked by IoU', causal: 'ranked causally', greedy: 'ranked greedily', ace: 'ranked by ACE' };

const num = (v: number, digits = 6): string => (Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : '');
const csvCell = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The removal curves and controls as CSV: one row per ranking and size, one per control draw. */
export function ablationToCsv(r: GeneratorAblation): string {
  const rows = [['curve', 'n', 'draw', 'units', 'removed', 'low', 'high', 'se', 'mean_before', 'mean_after'].join(',')];
  for (const [kind, points] of Object.entries(r.curves)) {
    for (const p of points) {
      rows.push([kind, String(p.n), '', csvCell(p.units.join(' ')), num(p.removed.value), num(p.removed.interval[0]), num(p.removed.interval[1]),
        num(p.removed.se), num(p.removed.meanBefore), num(p.removed.meanAfter)].join(','));
    }
  }
  for (const c of r.control) {
    c.draws.forEach((d, i) => rows.push(['control', String(c.n), String(i), csvCell(d.units.join(' ')), num(d.removed), '', '', '', '', ''].join(',')));
  }
  return rows.join('\n') + '\n';
}

/** Every concept's mean pixels per image before and after each ablation, as CSV (long format). */
export function ablationConceptsToCsv(r: GeneratorAblation): string {
  const rows = [['curve', 'n', 'concept', 'before', 'after', 'change'].join(',')];
  const add = (curve: string, n: number, concepts: Record<string, { before: number; after: number; change: number }>): void => {
    for (const [name, c] of Object.entries(concepts)) rows.push([curve, String(n), csvCell(name), num(c.before), num(c.after), num(c.change)].join(','));
  };
  for (const [kind, points] of Object.entries(r.curves)) for (const p of points) add(kind, p.n, p.concepts);
  for (const c of r.control) add('control', c.n, c.concepts);
  return rows.join('\n') + '\n';
}

/** The removal curves (with their intervals as thin lines), the control's mean and range, on one chart. */
export function ablationChart(r: GeneratorAblation): LineChartOptions {
  const series: LineSeries[] = [];
  (Object.keys(r.curves) as RankingKind[]).forEach((kind, i) => {
    const points = r.curves[kind]!;
    const color = PALETTE[i];
    series.push({ name: `${r.concept.name} units zeroed, ${RANKING_LABEL[kind]}`, color, points: points.map((p) => [p.n, p.removed.value] as const) });
    series.push({ name: `${kind}: ${r.level * 100}% interval, low`, color, dash: 'dotted', markers: false, width: 1, points: points.map((p) => [p.n, p.removed.interval[0]] as const) });
    series.push({ name: `${kind}: ${r.level * 100}% interval, high`, color, dash: 'dotted', markers: false, width: 1, points: points.map((p) => [p.n, p.removed.interval[1]] as const) });
  });
  if (r.control.length > 0) {
    const pts = [[0, 0] as const, ...r.control.map((c) => [c.n, c.removed.mean] as const)];
    series.push({ name: `random units (mean of ${r.controlDraws} draws on ${r.controlSamples} latents)`, color: '#7F7F7F', dash: 'dashed', points: pts });
    series.push({ name: 'random units, least removed', color: '#BBBBBB', dash: 'dotted', markers: false, width: 1, points: [[0, 0], ...r.control.map((c) => [c.n, c.removed.min] as const)] });
    series.push({ name: 'random units, most removed', color: '#BBBBBB', dash: 'dotted', markers: false, width: 1, points: [[0, 0], ...r.control.map((c) => [c.n, c.removed.max] as const)] });
  }
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const maxN = Math.max(...Object.values(r.curves).flatMap((p) => p.map((x) => x.n)), ...r.control.map((c) => c.n), 1);
  return {
    title: `Portion of ${r.concept.name} pixels removed by zeroing ${r.layer} units (${r.samples} samples)`,
    xLabel: 'units zeroed', yLabel: `portion of ${r.concept.name} pixels removed`,
    series,
    xDomain: [0, maxN], xTicks: [...new Set(Object.values(r.curves).flatMap((p) => p.map((x) => x.n)))].sort((a, b) => a - b), yDomain: [Math.min(0, ...ys), Math.max(1, ...ys)], width: 960, height: 500, legend: 'bottom',
    yFormat: (v) => `${Math.round(v * 100)}%`,
  };
}

/**
 * A grid of pictures with column and row labels, as SVG (pictures embedded as PNG), for `svgToPng`. Every picture
 * is drawn `scale` times its size, with crisp pixels.
 */
export async function pictureGridSvg(rows: ReadonlyArray<readonly RgbImage[]>, columns: readonly string[], rowLabels: readonly string[], scale = 2, title?: string): Promise<string> {
  const cw = Math.max(...rows.flat().map((p) => p.width)) * scale;
  const ch = Math.max(...rows.flat().map((p) => p.height)) * scale;
  const gap = 6; const left = rowLabels.some((s) => s) ? 90 : 8; const top = (title ? 30 : 8) + 18;
  const width = left + columns.length * (cw + gap) + 8;
  const height = top + rows.length * (ch + gap) + 8;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (title) out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  columns.forEach((c, j) => out.push(`<text x="${left + j * (cw + gap) + cw / 2}" y="${top - 6}" text-anchor="middle">${escapeXml(c)}</text>`));
  for (const [i, row] of rows.entries()) {
    const y = top + i * (ch + gap);
    if (rowLabels[i]) out.push(`<text x="${left - 8}" y="${y + ch / 2 + 4}" text-anchor="end">${escapeXml(rowLabels[i])}</text>`);
    for (const [j, p] of row.entries()) {
      const data = (await encodePng(p)).toString('base64');
      out.push(`<image x="${left + j * (cw + gap)}" y="${y}" width="${p.width * scale}" height="${p.height * scale}" image-rendering="pixelated" style="image-rendering:pixelated" preserveAspectRatio="none" xlink:href="data:image/png;base64,${data}"/>`);
    }
  }
  out.push('</svg>');
  return out.join('\n');
}

/** Files written by {@link writeAblationReport}. */
export interface AblationReportFiles {
  json: string;
  csv: string;
  concepts: string;
  plot: string;
  examples: string[];
}

/** Writes ablation.json, ablation.csv, concepts.csv, ablation.png and examples/ablation-<ranking>.png into `out`. */
export async function writeAblationReport(r: GeneratorAblation, examples: AblationExamples, out: string): Promise<AblationReportFiles> {
  await fs.mkdir(out, { recursive: true });
  const files: AblationReportFiles = {
    json: path.join(out, 'ablation.json'), csv: path.join(out, 'ablation.csv'), concepts: path.join(out, 'concepts.csv'),
    plot: path.join(out, 'ablation.png'), examples: [],
  };
  await writeAtomic(files.json, JSON.stringify(r, null, 2) + '\n');
  await writeAtomic(files.csv, ablationToCsv(r));
  await writeAtomic(files.concepts, ablationConceptsToCsv(r));
  await writeAtomic(files.plot, await svgToPng(lineChartSvg(ablationChart(r)), 1.5));
  if (examples.before.length > 0) {
    await fs.mkdir(path.join(out, 'examples'), { recursive: true });
    for (const kind of Object.keys(examples.after) as RankingKind[]) {
      const after = examples.after[kind]!;
      const rows = examples.before.map((b, j) => [b, ...after.map((k) => k[j])]);
      const svg = await pictureGridSvg(rows, ['before', ...examples.sizes.map((n) => `${n} zeroed`)], examples.latents.map((l) => `latent ${l}`), 2,
        `${r.concept.name} units of ${r.layer} zeroed, ${RANKING_LABEL[kind]}`);
      const file = path.join(out, 'examples', `ablation-${kind}.png`);
      await writeAtomic(file, await svgToPng(svg));
      files.examples.push(file);
    }
  }
  return files;
}

/** The insertion's bar chart: concept pixels added at the cell, by what the segmenter saw there before. */
export function insertionChartSvg(r: GeneratorInsertion): string {
  const groups = r.byContext.filter((g) => g.count > 0);
  return barChartSvg({
    title: `${r.concept.name} pixels added by setting ${r.units.length} units of ${r.layer} high at a cell`,
    yLabel: `share of the cell's region turned ${r.concept.name}`,
    categories: groups.map((g) => `${g.context} (${g.count})`),
    series: [{ name: `${r.concept.name} added in the cell's region`, values: groups.map((g) => g.addedInRegion.value), intervals: groups.map((g) => g.addedInRegion.interval) }],
    width: Math.max(640, 90 * groups.length + 120), height: 400,
  });
}

/** Files written by {@link writeInsertionReport}. */
export interface InsertionReportFiles {
  json: string;
  csv: string;
  plot: string;
  examples: string[];
}

/** Writes insertion.json, insertion.csv, insertion.png and examples/insertion.png into `out`. */
export async function writeInsertionReport(r: GeneratorInsertion, examples: InsertionExamples, out: string): Promise<InsertionReportFiles> {
  await fs.mkdir(out, { recursive: true });
  const files: InsertionReportFiles = { json: path.join(out, 'insertion.json'), csv: path.join(out, 'insertion.csv'), plot: path.join(out, 'insertion.png'), examples: [] };
  await writeAtomic(files.json, JSON.stringify(r, null, 2) + '\n');
  const rows = [['context', 'placements', 'added_in_region', 'low', 'high', 'added_overall_pixels', 'region_pixels'].join(',')];
  for (const g of r.byContext) {
    rows.push([csvCell(g.context), String(g.count), num(g.addedInRegion.value), num(g.addedInRegion.interval[0]), num(g.addedInRegion.interval[1]), num(g.addedOverall), num(g.regionPixels)].join(','));
  }
  await writeAtomic(files.csv, rows.join('\n') + '\n');
  await writeAtomic(files.plot, await svgToPng(insertionChartSvg(r), 1.5));
  if (examples.rows.length > 0) {
    await fs.mkdir(path.join(out, 'examples'), { recursive: true });
    const svg = await pictureGridSvg(examples.rows.map((e) => [e.before, e.after]), ['before', `${r.concept.name} units set high`],
      examples.rows.map((e) => `${e.latent}: (${e.cell[0]},${e.cell[1]}) ${e.context}`), 3, `${r.concept.name} inserted at one cell of ${r.layer}`);
    const file = path.join(out, 'examples', 'insertion.png');
    await writeAtomic(file, await svgToPng(svg));
    files.examples.push(file);
  }
  return files;
}
