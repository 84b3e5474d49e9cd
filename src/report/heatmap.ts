/**
 * Activation heatmaps: the summed maps of a set of units, upsampled bilinearly to the image, colour-mapped and
 * alpha-blended over the image, so that "where do the steered units fire, before and after the attack" is a
 * picture. Zero activation leaves the image untouched; the blend's opacity grows with the activation.
 */
import * as tf from '../tf.js';
import { upsampleMap } from '../dissection/upsample.js';
import { usageError } from '../errors.js';
import { svgWithTilesToPng } from '../data/codec.js';
import { encodePng, type RgbImage } from '../data/images.js';
import type { Classifier } from '../models/types.js';

/** Options for {@link heatmapOverlay}. */
export interface HeatmapOptions {
  /** Activation that maps to the top of the colour scale and full opacity. @defaultValue the map's maximum */
  vmax?: number;
  /** Opacity at `vmax`. @defaultValue 0.65 */
  alpha?: number;
}

// Anchors of an inferno-like colour map (dark purple → red → yellow), interpolated linearly.
const ANCHORS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164],
];

/** The colour of `t` ∈ [0, 1] on the heatmap's colour scale. */
export function colormap(t: number): [number, number, number] {
  const v = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (ANCHORS.length - 1);
  const i = Math.min(ANCHORS.length - 2, Math.floor(v));
  const f = v - i;
  const a = ANCHORS[i]; const b = ANCHORS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/**
 * Blends a map (`mapH × mapW`, row-major, any non-negative scale) over an image: upsampled bilinearly to the image
 * size, each pixel takes `(1 − α)·image + α·colour` with `α = alpha · v / vmax`.
 *
 * @example
 * const png = await encodePng(heatmapOverlay(image, map, 6, 6, { vmax: 3 }));
 */
export function heatmapOverlay(image: RgbImage, map: ArrayLike<number>, mapH: number, mapW: number, options: HeatmapOptions = {}): RgbImage {
  if (map.length !== mapH * mapW) throw usageError(`the map has ${map.length} values, not ${mapH}×${mapW}`, { path: 'map' });
  const alpha = options.alpha ?? 0.65;
  if (!(alpha >= 0 && alpha <= 1)) throw usageError(`alpha must be in [0, 1], got ${alpha}`, { path: 'alpha' });
  const up = upsampleMap(map, mapH, mapW, image.height, image.width);
  let vmax = options.vmax ?? 0;
  if (options.vmax === undefined) for (const v of up) if (v > vmax) vmax = v;
  const data = new Uint8Array(image.data.length);
  for (let p = 0; p < up.length; p++) {
    const t = vmax > 0 ? Math.min(1, Math.max(0, up[p] / vmax)) : 0;
    const a = alpha * t;
    if (a === 0) {
      data[3 * p] = image.data[3 * p]!; data[3 * p + 1] = image.data[3 * p + 1]!; data[3 * p + 2] = image.data[3 * p + 2]!;
      continue;
    }
    const c = colormap(t);
    for (let k = 0; k < 3; k++) data[3 * p + k] = Math.round((1 - a) * image.data[3 * p + k] + a * c[k]);
  }
  return { data, width: image.width, height: image.height };
}

/** Summed maps of some units for a batch of images. */
export interface UnitMaps {
  /** One `h × w` map per image, row-major. */
  maps: Float32Array[];
  h: number;
  w: number;
}

/**
 * The sum over `units` of their activation maps at `layer` (each divided by its `unitScale` entry when given),
 * one map per image.
 */
export function unitMaps(classifier: Classifier, layer: string, units: readonly number[], x: tf.Tensor4D, unitScale?: ArrayLike<number>): UnitMaps {
  const info = classifier.layer(layer);
  if (!info.spatial) throw usageError(`layer '${layer}' has no spatial maps to draw`, { path: 'layer' });
  const [h, w] = [info.shape[0], info.shape[1]];
  const n = x.shape[0];
  if (units.length === 0) return { maps: Array.from({ length: n }, () => new Float32Array(h * w)), h, w };
  const summed = tf.tidy(() => {
    let a = tf.gather(classifier.activations(x, layer), tf.tensor1d(units as number[], 'int32'), 3);
    if (unitScale) a = tf.div(a, tf.tensor1d(units.map((u) => unitScale[u])));
    return tf.sum(a, 3);
  });
  const data = summed.dataSync();
  summed.dispose();
  return { maps: Array.from({ length: n }, (_, i) => Float32Array.from(data.subarray(i * h * w, (i + 1) * h * w))), h, w };
}

/** Places images side by side with a white gap, scaled by an integer factor (nearest neighbour). */
export function sideBySide(panels: readonly RgbImage[], gap = 4, scale = 1): RgbImage {
  if (panels.length === 0) throw usageError('sideBySide needs at least one image', { path: 'panels' });
  const ph = Math.max(...panels.map((p) => p.height)) * scale;
  const width = panels.reduce((s, p) => s + p.width * scale, 0) + gap * (panels.length - 1);
  const data = new Uint8Array(width * ph * 3).fill(255);
  let x0 = 0;
  for (const p of panels) {
    for (let y = 0; y < p.height * scale; y++) {
      for (let x = 0; x < p.width * scale; x++) {
        const src = (Math.floor(y / scale) * p.width + Math.floor(x / scale)) * 3;
        const dst = (y * width + x0 + x) * 3;
        data[dst] = p.data[src]!; data[dst + 1] = p.data[src + 1]!; data[dst + 2] = p.data[src + 2]!;
      }
    }
    x0 += p.width * scale + gap;
  }
  return { data, width, height: ph };
}

/** Encodes an RGB image as PNG bytes. */
export async function rgbToPng(img: RgbImage): Promise<Buffer> {
  return encodePng(img);
}

/** The before/after heatmaps of one image, for one group of units, on a shared scale. */
export interface HeatmapPair {
  before: RgbImage;
  after: RgbImage;
  /** The activation that maps to the top of the scale. */
  vmax: number;
}

/**
 * Before/after heatmaps of a group of units over the clean and the adversarial image, drawn on one scale (the
 * larger maximum of the two maps) so that a unit that was switched off fades and one that was switched on glows.
 */
export function heatmapPair(
  clean: RgbImage, adversarial: RgbImage, before: Float32Array, after: Float32Array, h: number, w: number, options: HeatmapOptions = {},
): HeatmapPair {
  let vmax = options.vmax ?? 0;
  if (options.vmax === undefined) for (const m of [before, after]) for (const v of m) if (v > vmax) vmax = v;
  return {
    before: heatmapOverlay(clean, before, h, w, { ...options, vmax }),
    after: heatmapOverlay(adversarial, after, h, w, { ...options, vmax }),
    vmax,
  };
}

/** What {@link labelledStrip} writes around the panels. */
export interface StripLegend {
  /** One title per panel, written above it. */
  titles: readonly string[];
  /** The colour scales of the heatmap panels: each runs from 0 to `vmax` (e.g. one per group of units). */
  scales: ReadonlyArray<{ label: string; vmax: number }>;
  /** A line under the scales, e.g. the perturbation picture's amplification. */
  note?: string;
}

const escapeText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Panels side by side (as {@link sideBySide}), their titles above and, below, the heatmap's colour scale bar with
 * the value at its top for each scale, and a note. PNG bytes.
 */
export async function labelledStrip(panels: readonly RgbImage[], legend: StripLegend, gap = 4, scale = 1): Promise<Buffer> {
  if (legend.titles.length !== panels.length) throw usageError(`${legend.titles.length} titles for ${panels.length} panels`, { path: 'titles' });
  const strip = sideBySide(panels, gap, scale);
  const head = 20;
  const foot = 22 + (legend.note ? 16 : 0);
  const width = Math.max(strip.width, 420);
  const height = head + strip.height + foot;
  let x0 = 0;
  const titles = panels.map((p, i) => {
    const w = p.width * scale;
    const t = `<text x="${x0 + w / 2}" y="14" text-anchor="middle">${escapeText(legend.titles[i])}</text>`;
    x0 += w + gap;
    return t;
  }).join('');
  const stops = ANCHORS.map((c, i) => `<stop offset="${(i / (ANCHORS.length - 1)).toFixed(3)}" stop-color="rgb(${c.join(',')})"/>`).join('');
  const y = head + strip.height + 6;
  const values = legend.scales.map((s) => `${s.label} ${formatScale(s.vmax)}`).join(', ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="11" fill="#222">`
    + `<defs><linearGradient id="g">${stops}</linearGradient></defs><rect width="100%" height="100%" fill="#fff"/>${titles}`
    + `<text x="0" y="${y + 9}">0</text><rect x="10" y="${y}" width="120" height="10" fill="url(#g)"/>`
    + `<text x="136" y="${y + 9}">max: ${escapeText(values)}</text>`
    + (legend.note ? `<text x="0" y="${y + 25}">${escapeText(legend.note)}</text>` : '')
    + '</svg>';
  return svgWithTilesToPng(svg, [{ image: strip, top: head, left: 0 }]);
}

function formatScale(v: number): string {
  return !Number.isFinite(v) ? String(v) : v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

/** The factor {@link perturbationPicture} amplifies a perturbation by (the largest change maps to full contrast). */
export function perturbationAmplification(original: RgbImage, adversarial: RgbImage): number {
  let maxAbs = 0;
  for (let i = 0; i < original.data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(adversarial.data[i] - original.data[i]));
  return maxAbs === 0 ? 1 : 127.5 / maxAbs;
}
