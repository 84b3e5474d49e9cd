/**
 * A small SVG bar chart with optional error bars, grouped by category (e.g. the unit effect of the unit attack
 * and of its random control: suppressed / excited / other units, each with a confidence interval).
 */
import { PALETTE, escapeXml, niceTicks } from './plot.js';

/** One bar series: a value (and optional interval) per category. */
export interface BarSeries {
  name: string;
  values: readonly number[];
  /** `[low, high]` per category; NaN bounds draw no error bar. */
  intervals?: ReadonlyArray<readonly [number, number]>;
  color?: string;
}

/** Options for {@link barChartSvg}. */
export interface BarChartOptions {
  categories: readonly string[];
  series: readonly BarSeries[];
  title?: string;
  yLabel?: string;
  /** @defaultValue 640 */
  width?: number;
  /** @defaultValue 360 */
  height?: number;
}

/**
 * Renders a grouped bar chart as an SVG document, with a zero line and interval whiskers.
 *
 * @example
 * barChartSvg({ categories: ['suppressed', 'excited'], series: [{ name: 'unit attack', values: [-0.4, 0.6] }] });
 */
export function barChartSvg(options: BarChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const { categories, series } = options;
  const all = series.flatMap((s) => [...s.values, ...(s.intervals ?? []).flat()]).filter(Number.isFinite);
  const ticks = niceTicks(Math.min(0, ...all), Math.max(0, ...all), 5);
  const [y0, y1] = ticks.length > 1 ? [ticks[0], ticks[ticks.length - 1]] : [-1, 1];
  const m = { top: options.title ? 40 : 16, right: 16, bottom: 56, left: options.yLabel ? 72 : 52 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sy = (v: number): number => m.top + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
  const f = (v: number): string => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title) out.push(`<text x="${f(width / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`);
  const decimals = ticks.length > 1 ? Math.max(0, Math.min(6, -Math.floor(Math.log10(Math.abs(ticks[1] - ticks[0])) + 1e-9))) : 2;
  for (const t of ticks) {
    out.push(`<line x1="${f(m.left)}" y1="${f(sy(t))}" x2="${f(m.left + pw)}" y2="${f(sy(t))}" stroke="${t === 0 ? '#555' : '#e3e3e3'}"/>`);
    out.push(`<text x="${f(m.left - 6)}" y="${f(sy(t) + 4)}" text-anchor="end" fill="#333">${t.toFixed(decimals)}</text>`);
  }
  if (options.yLabel) out.push(`<text transform="translate(18 ${f(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  const groupW = pw / Math.max(1, categories.length);
  const barW = Math.min(48, (groupW * 0.75) / Math.max(1, series.length));
  categories.forEach((cat, ci) => {
    const gx = m.left + ci * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const color = s.color ?? PALETTE[si % PALETTE.length];
      const v = s.values[ci] ?? Number.NaN;
      const x = gx + si * barW;
      if (Number.isFinite(v)) {
        const top = Math.min(sy(v), sy(0)); const h = Math.abs(sy(v) - sy(0));
        out.push(`<rect x="${f(x + 2)}" y="${f(top)}" width="${f(barW - 4)}" height="${f(Math.max(h, 0.5))}" fill="${escapeXml(color)}"><title>${escapeXml(`${s.name}, ${cat}: ${v.toPrecision(3)}`)}</title></rect>`);
      }
      const iv = s.intervals?.[ci];
      if (iv && Number.isFinite(iv[0]) && Number.isFinite(iv[1])) {
        const cx = x + barW / 2;
        out.push(`<path d="M${f(cx)} ${f(sy(iv[0]))}V${f(sy(iv[1]))}M${f(cx - 5)} ${f(sy(iv[0]))}h10M${f(cx - 5)} ${f(sy(iv[1]))}h10" stroke="#222" fill="none"/>`);
      }
    });
    out.push(`<text x="${f(m.left + ci * groupW + groupW / 2)}" y="${f(m.top + ph + 18)}" text-anchor="middle" fill="#333">${escapeXml(cat)}</text>`);
  });
  series.forEach((s, si) => {
    const x = m.left + si * 170;
    const y = height - 14;
    out.push(`<rect x="${f(x)}" y="${f(y - 9)}" width="12" height="12" fill="${escapeXml(s.color ?? PALETTE[si % PALETTE.length])}"/>`);
    out.push(`<text x="${f(x + 18)}" y="${f(y + 1)}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
