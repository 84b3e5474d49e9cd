/**
 * A small, dependency-free SVG line chart (axes, nice ticks, grid, legend, gaps at NaN) and its rasterisation to
 * PNG (data/codec: sharp with librsvg; DejaVu Sans is the font). Generic on purpose: ablation curves (accuracy vs N) and
 * robustness curves (accuracy vs ε) draw with the same code.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { svgToPngBytes } from '../data/codec.js';
import { UnitAttackError, usageError } from '../errors.js';
import { writeAtomic } from '../util/atomic.js';

/** One line of a chart. Points with a NaN coordinate leave a gap. */
export interface LineSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  /** CSS colour. @defaultValue the next colour of {@link PALETTE} */
  color?: string;
  /** @defaultValue `solid` */
  dash?: 'solid' | 'dashed' | 'dotted';
  /** Draw a dot at each point. @defaultValue true */
  markers?: boolean;
  /** Stroke width in px. @defaultValue 2 */
  width?: number;
}

/** Options for {@link lineChartSvg}. */
export interface LineChartOptions {
  series: readonly LineSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** @defaultValue 720 */
  width?: number;
  /** @defaultValue 440 */
  height?: number;
  /** @defaultValue the data's range, widened to nice ticks */
  xDomain?: readonly [number, number];
  /** @defaultValue the data's range, widened to nice ticks */
  yDomain?: readonly [number, number];
  xTicks?: readonly number[];
  yTicks?: readonly number[];
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  /** @defaultValue `right` */
  legend?: 'right' | 'bottom' | 'none';
}

/** Colour-blind-friendly qualitative palette (Okabe–Ito, then Tableau). */
export const PALETTE: readonly string[] = [
  '#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000', '#8C564B', '#7F7F7F',
];

const FONT = 'DejaVu Sans, Verdana, sans-serif';

/** Escapes text for SVG and HTML. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) { min -= 0.5; max += 0.5; }
  if (min > max) [min, max] = [max, min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= max + step * 1e-9 || ticks.length < 2; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max - step * 1e-9) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function defaultFormat(ticks: readonly number[]): (v: number) => string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return (v) => v.toFixed(decimals);
}

/**
 * Renders a line chart as an SVG document.
 *
 * @example
 * const svg = lineChartSvg({ title: 'Ablation', xLabel: 'N', yLabel: 'accuracy',
 *   series: [{ name: 'ski_resort', points: [[1, 0.9], [2, 0.7]] }], yDomain: [0, 1] });
 */
export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 440;
  if (!(width >= 100 && height >= 80)) throw usageError(`a chart needs at least 100×80 px, got ${width}×${height}`, { path: 'width' });
  const legend = options.legend ?? 'right';
  const series = options.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const finite = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xs = finite.map((p) => p[0]); const ys = finite.map((p) => p[1]);
  const xTicks = options.xTicks ?? niceTicks(options.xDomain?.[0] ?? Math.min(...xs, Infinity), options.xDomain?.[1] ?? Math.max(...xs, -Infinity), 8);
  const yTicks = options.yTicks ?? niceTicks(options.yDomain?.[0] ?? Math.min(...ys, Infinity), options.yDomain?.[1] ?? Math.max(...ys, -Infinity), 5);
  const xd: [number, number] = options.xDomain ? [options.xDomain[0], options.xDomain[1]] : xTicks.length > 1 ? [xTicks[0], xTicks[xTicks.length - 1]] : [0, 1];
  const yd: [number, number] = options.yDomain ? [options.yDomain[0], options.yDomain[1]] : yTicks.length > 1 ? [yTicks[0], yTicks[yTicks.length - 1]] : [0, 1];
  const xFormat = options.xFormat ?? defaultFormat(xTicks);
  const yFormat = options.yFormat ?? defaultFormat(yTicks);

  const legendWidth = legend === 'right' && series.length > 0 ? Math.min(260, 44 + 7.2 * Math.max(...series.map((s) => s.name.length))) : 0;
  const legendRows = legend === 'bottom' ? Math.ceil(series.length / 3) : 0;
  const m = {
    top: options.title ? 40 : 16, right: 16 + legendWidth,
    bottom: (options.xLabel ? 52 : 34) + legendRows * 20, left: options.yLabel ? 70 : 52,
  };
  const pw = Math.max(10, width - m.left - m.right);
  const ph = Math.max(10, height - m.top - m.bottom);
  const sx = (x: number): number => m.left + ((x - xd[0]) / (xd[1] - xd[0] || 1)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - yd[0]) / (yd[1] - yd[0] || 1)) * ph;
  const f = (v: number): string => v.toFixed(1);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (options.title) out.push(`<text x="${f(width / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  // Grid and ticks.
  for (const t of yTicks) {
    if (t < Math.min(...yd) - 1e-12 || t > Math.max(...yd) + 1e-12) continue;
    out.push(`<line x1="${f(m.left)}" y1="${f(sy(t))}" x2="${f(m.left + pw)}" y2="${f(sy(t))}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${f(m.left - 6)}" y="${f(sy(t) + 4)}" text-anchor="end" fill="#333">${escapeXml(yFormat(t))}</text>`);
  }
  for (const t of xTicks) {
    if (t < Math.min(...xd) - 1e-12 || t > Math.max(...xd) + 1e-12) continue;
    out.push(`<line x1="${f(sx(t))}" y1="${f(m.top)}" x2="${f(sx(t))}" y2="${f(m.top + ph)}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${f(sx(t))}" y="${f(m.top + ph + 16)}" text-anchor="middle" fill="#333">${escapeXml(xFormat(t))}</text>`);
  }
  out.push(`<rect x="${f(m.left)}" y="${f(m.top)}" width="${f(pw)}" height="${f(ph)}" fill="none" stroke="#888"/>`);
  if (options.xLabel) out.push(`<text x="${f(m.left + pw / 2)}" y="${f(m.top + ph + 38)}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  if (options.yLabel) {
    out.push(`<text transform="translate(${f(18)} ${f(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  }
  // Lines, clipped to the plot area.
  out.push(`<clipPath id="plot"><rect x="${f(m.left)}" y="${f(m.top)}" width="${f(pw)}" height="${f(ph)}"/></clipPath>`);
  out.push('<g clip-path="url(#plot)" fill="none" stroke-linejoin="round" stroke-linecap="round">');
  for (const s of series) {
    const dash = s.dash === 'dashed' ? ' stroke-dasharray="7 5"' : s.dash === 'dotted' ? ' stroke-dasharray="2 4"' : '';
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${f(sx(x))} ${f(sy(y))}`;
      pen = true;
    }
    if (d) out.push(`<path d="${d}" stroke="${escapeXml(s.color)}" stroke-width="${s.width ?? 2}"${dash}><title>${escapeXml(s.name)}</title></path>`);
    if (s.markers ?? true) {
      for (const [x, y] of s.points) {
        if (Number.isFinite(x) && Number.isFinite(y)) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="2.6" fill="${escapeXml(s.color)}" stroke="none"/>`);
      }
    }
  }
  out.push('</g>');
  // Legend.
  const legendItem = (s: (typeof series)[number], x: number, y: number): void => {
    const dash = s.dash === 'dashed' ? ' stroke-dasharray="7 5"' : s.dash === 'dotted' ? ' stroke-dasharray="2 4"' : '';
    out.push(`<line x1="${f(x)}" y1="${f(y)}" x2="${f(x + 26)}" y2="${f(y)}" stroke="${escapeXml(s.color)}" stroke-width="${s.width ?? 2}"${dash}/>`);
    out.push(`<text x="${f(x + 32)}" y="${f(y + 4)}">${escapeXml(s.name)}</text>`);
  };
  if (legend === 'right') series.forEach((s, i) => legendItem(s, m.left + pw + 14, m.top + 10 + i * 20));
  if (legend === 'bottom') {
    const colW = pw / 3;
    series.forEach((s, i) => legendItem(s, m.left + (i % 3) * colW, m.top + ph + (options.xLabel ? 56 : 36) + Math.floor(i / 3) * 20));
  }
  out.push('</svg>');
  return out.join('\n');
}

/** Rasterises an SVG document to PNG bytes. `scale` > 1 renders at a higher density for crisp text. */
export async function svgToPng(svg: string, scale = 1): Promise<Buffer> {
  try {
    return await svgToPngBytes(svg, scale);
  } catch (err) {
    throw new UnitAttackError('UA_INTERNAL', `cannot rasterise the chart: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes a chart to `file`: SVG when the name ends in `.svg`, else PNG. Atomic. */
export async function saveLineChart(file: string, options: LineChartOptions): Promise<void> {
  const svg = lineChartSvg(options);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeAtomic(file, file.toLowerCase().endsWith('.svg') ? svg : await svgToPng(svg));
}
