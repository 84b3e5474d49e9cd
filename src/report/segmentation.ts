/**
 * Pictures of label maps: a colour per concept, colour-coded maps, and a sheet that shows an image beside its maps
 * with a legend of the concepts present, so a person can see what a segmenter sees.
 */
import type { RgbImage } from '../data/images.js';
import { encodePng } from '../data/images.js';
import { escapeXml, svgToPng } from './plot.js';

/** A concept as the pictures need it: the id its label maps hold, its name and category. */
export interface LabelledConcept {
  readonly id: number;
  readonly name: string;
  readonly category: string;
}

/** Colours of concepts whose look is obvious, so the maps read at a glance; others get a colour from their name. */
const NAMED_COLORS: Readonly<Record<string, readonly [number, number, number]>> = {
  sky: [120, 180, 240], cloud: [225, 230, 240], sun: [255, 210, 40], mountain: [130, 110, 150], tree: [30, 140, 50],
  house: [200, 90, 60], building: [150, 150, 160], road: [80, 80, 80], sidewalk: [190, 180, 160], path: [180, 140, 90],
  car: [220, 30, 60], boat: [240, 140, 20], person: [250, 120, 200], fence: [140, 100, 60], rock: [110, 100, 90],
  wall: [230, 210, 170], floor: [170, 120, 70], ceiling: [245, 245, 220], bed: [90, 60, 200], pillow: [200, 200, 255],
  window: [60, 220, 230], door: [120, 60, 20], roof: [170, 30, 30], wheel: [180, 180, 30], trunk: [100, 70, 40],
  snow: [250, 250, 255], grass: [110, 200, 70], water: [30, 90, 200], sand: [235, 210, 140], soil: [120, 80, 50],
};

/** FNV-1a hash of a string (a stable seed for a colour). */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** HSL (h in [0, 1), s and l in [0, 1]) to 8-bit RGB. */
function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const f = (n: number): number => {
    const k = (n + h * 12) % 12;
    const a = s * Math.min(l, 1 - l);
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** The colour of a concept in label-map pictures: a fixed one for the common scene concepts, else one from its name. */
export function conceptColor(name: string): [number, number, number] {
  const fixed = NAMED_COLORS[name];
  if (fixed) return [fixed[0], fixed[1], fixed[2]];
  const h = hashName(name);
  return hslToRgb((h % 360) / 360, 0.55 + ((h >>> 9) % 30) / 100, 0.42 + ((h >>> 17) % 20) / 100);
}

/** The colour of "none" (no concept of the category at that pixel). */
export const NONE_COLOR: readonly [number, number, number] = [0, 0, 0];

/**
 * Colours a label map (`height × width` concept ids, 0 = none): each pixel gets its concept's colour.
 * Ids missing from `concepts` are drawn as none.
 */
export function colorizeLabels(labels: ArrayLike<number>, width: number, height: number, concepts: readonly LabelledConcept[]): RgbImage {
  const byId = new Map(concepts.map((c) => [c.id, conceptColor(c.name)]));
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const c = byId.get(labels[i]) ?? NONE_COLOR;
    data[3 * i] = c[0]; data[3 * i + 1] = c[1]; data[3 * i + 2] = c[2];
  }
  return { data, width, height };
}

/** Pixel share of each concept id in a label map (ids with no pixels are left out). */
export function labelShares(labels: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  const out = new Map<number, number>();
  for (const [id, n] of counts) out.set(id, n / labels.length);
  return out;
}

/** Options of {@link segmentationSheet}. */
export interface SegmentationSheetOptions {
  /** Title over the sheet (e.g. the file name). */
  title?: string;
  /** Displayed height of each panel, in pixels. @defaultValue 192 */
  panelHeight?: number;
}

/**
 * A PNG: the image, then one colour-coded map per category, each labelled, and under them a legend of the concepts
 * present (colour swatch, name, pixel share), largest first.
 *
 * @param maps one label map per category, each `image.height × image.width` ids
 */
export async function segmentationSheet(
  image: RgbImage,
  maps: ReadonlyArray<{ category: string; labels: ArrayLike<number> }>,
  concepts: readonly LabelledConcept[],
  options: SegmentationSheetOptions = {},
): Promise<Buffer> {
  const ph = options.panelHeight ?? 192;
  const pw = Math.max(1, Math.round((ph * image.width) / image.height));
  const gap = 8;
  const top = options.title ? 28 : 6;
  const label = 18;
  const byId = new Map(concepts.map((c) => [c.id, c]));
  const panels: Array<{ title: string; png: Buffer }> = [{ title: 'image', png: await encodePng(image) }];
  const present: Array<{ concept: LabelledConcept; share: number }> = [];
  for (const m of maps) {
    panels.push({ title: m.category, png: await encodePng(colorizeLabels(m.labels, image.width, image.height, concepts)) });
    for (const [id, share] of labelShares(m.labels)) {
      const c = byId.get(id);
      if (c) present.push({ concept: c, share });
    }
  }
  present.sort((a, b) => b.share - a.share || a.concept.name.localeCompare(b.concept.name));
  const width = panels.length * pw + (panels.length + 1) * gap;
  const perRow = Math.max(1, Math.floor((width - gap) / 170));
  const legendRows = Math.ceil(present.length / perRow);
  const legendTop = top + label + ph + gap;
  const height = legendTop + Math.max(1, legendRows) * 20 + gap;
  const font = 'DejaVu Sans, Verdana, sans-serif';
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title) out.push(`<text x="${gap}" y="19" font-family="${font}" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`);
  panels.forEach((p, i) => {
    const x = gap + i * (pw + gap);
    out.push(`<text x="${x}" y="${top + 13}" font-family="${font}" font-size="12">${escapeXml(p.title)}</text>`);
    out.push(`<image x="${x}" y="${top + label}" width="${pw}" height="${ph}" preserveAspectRatio="none" style="image-rendering:pixelated" xlink:href="data:image/png;base64,${p.png.toString('base64')}"/>`);
  });
  if (present.length === 0) {
    out.push(`<text x="${gap}" y="${legendTop + 14}" font-family="${font}" font-size="12">no concept found</text>`);
  }
  present.forEach(({ concept, share }, i) => {
    const x = gap + (i % perRow) * 170;
    const y = legendTop + Math.floor(i / perRow) * 20;
    const [r, g, b] = conceptColor(concept.name);
    out.push(`<rect x="${x}" y="${y + 2}" width="14" height="14" fill="rgb(${r},${g},${b})" stroke="#444" stroke-width="0.5"/>`);
    out.push(`<text x="${x + 19}" y="${y + 14}" font-family="${font}" font-size="12">${escapeXml(concept.name)} ${(100 * share).toFixed(1)}%</text>`);
  });
  out.push('</svg>');
  return svgToPng(out.join('\n'));
}

/** A PNG legend of every concept of a segmenter, by category: swatch and name. */
export async function conceptLegend(concepts: readonly LabelledConcept[]): Promise<Buffer> {
  const categories = [...new Set(concepts.map((c) => c.category))];
  const colWidth = 150;
  const rowsPer = categories.map((cat) => concepts.filter((c) => c.category === cat).length);
  const perCol = 16;
  const font = 'DejaVu Sans, Verdana, sans-serif';
  const out: string[] = [];
  let x = 8;
  categories.forEach((cat, k) => {
    const list = concepts.filter((c) => c.category === cat);
    out.push(`<text x="${x}" y="18" font-family="${font}" font-size="13" font-weight="bold">${escapeXml(cat)}</text>`);
    list.forEach((c, i) => {
      const cx = x + Math.floor(i / perCol) * colWidth;
      const cy = 26 + (i % perCol) * 20;
      const [r, g, b] = conceptColor(c.name);
      out.push(`<rect x="${cx}" y="${cy + 2}" width="14" height="14" fill="rgb(${r},${g},${b})" stroke="#444" stroke-width="0.5"/>`);
      out.push(`<text x="${cx + 19}" y="${cy + 14}" font-family="${font}" font-size="12">${escapeXml(c.name)} (${c.id})</text>`);
    });
    x += Math.ceil(rowsPer[k] / perCol) * colWidth + 12;
  });
  const width = Math.max(200, x);
  const height = 26 + Math.min(perCol, Math.max(1, ...rowsPer)) * 20 + 8;
  return svgToPng([
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
  ].join('\n'));
}
