/**
 * Insertion of a concept (PNAS 2020, Fig. 5): set the concept's top units of a layer to a high level (each unit's
 * 99.5th percentile) at one cell of the map, generate the same latent again, and measure the concept's pixels added
 * in the image region that cell covers and overall, grouped by what the segmenter saw at the cell's centre before
 * (house, window, tree, sky, …). Doors appear on buildings, not in the sky: the effect depends on context.
 */
import * as tf from '../tf.js';
import { normalQuantile } from '../attacks/metrics.js';
import type { RgbImage } from '../data/images.js';
import type { Atlas } from '../dissection/atlas.js';
import { inputError, usageError } from '../errors.js';
import type { Segmenter } from '../segment/segmenter.js';
import { rgbAt } from './ablate.js';
import { checkSamples, resolveConcept, type LabelBatch, type ResolvedConcept } from './measure.js';
import { latentBatches, rankByIou, rankFromAtlas, spatialLayer, unitQuantiles } from './ranking.js';
import type { GenerateOptions, GeneratorEdit, Generator } from './types.js';

export const GAN_INSERTION_FORMAT = 'unit-attack-gan-insertion';

/** Options for {@link insertConcept}. */
export interface InsertConceptOptions {
  /** The concept inserted (a concept of the segmenter). */
  concept: string;
  /** How many of the concept's top units (by IoU) are set high. @defaultValue 20 (capped at the layer width) */
  units?: number;
  /** Units to set, instead of the concept's top ones. */
  unitList?: readonly number[];
  /** The cell `[row, col]` of the layer's map; every cell, one at a time, when absent. */
  at?: readonly [number, number];
  /** Latents measured (numbers 0 … samples − 1 of the stream `seed`). @defaultValue 200 */
  samples?: number;
  /** @defaultValue the generator's default layer */
  layer?: string;
  /** @defaultValue 1 */
  seed?: number;
  /** The level each unit is set to: this quantile of its activations. @defaultValue 0.995 */
  quantile?: number;
  /** Held-out latents that rank the units and measure their levels. @defaultValue 200 */
  rankSamples?: number;
  /** A dissection atlas of the layer: its IoU order ranks the units; its units' levels at `quantile` (or its thresholds, when its quantile is 1 − `quantile`) are the levels. */
  atlas?: Atlas;
  /** Confidence level of the intervals. @defaultValue 0.99 */
  level?: number;
  /** @defaultValue 32 */
  batchSize?: number;
  /** Example pictures: the first placement seen in each context, up to this many. @defaultValue 6 */
  examples?: number;
  onProgress?: (p: { phase: 'ranking' | 'levels' | 'insertion'; done: number; total: number }) => void;
}

/** A mean with its interval. */
export interface MeanEstimate {
  value: number;
  se: number;
  interval: [number, number];
}

/** The concept added in one context. */
export interface ContextInsertion {
  /** What the segmenter saw at the cell's centre before: a concept name, or `none`. */
  context: string;
  /** Placements (latent × cell) in this context. */
  count: number;
  /** Share of the cell's image region that became the concept (after − before, over the region's pixels). */
  addedInRegion: MeanEstimate;
  /** Concept pixels added in the whole image, per placement. */
  addedOverall: number;
  /** Pixels of one cell's region. */
  regionPixels: number;
}

/** What {@link insertConcept} measured (JSON-ready). */
export interface GeneratorInsertion {
  format: typeof GAN_INSERTION_FORMAT;
  version: 1;
  generator: { name: string; fingerprint: string };
  segmenter: { name: string; fingerprint: string };
  layer: string;
  layerShape: [number, number, number];
  concept: { name: string; category: string };
  units: number[];
  /** The level each unit is set to, in the order of `units`. */
  levels: number[];
  quantile: number;
  levelSource: string;
  rankingSource: string;
  /** `[row, col]`, or `all` (every cell, one at a time). */
  cells: [number, number] | 'all';
  samples: number;
  seed: number;
  level: number;
  /** Every placement together. */
  overall: ContextInsertion;
  /** By context, most placements first. */
  byContext: ContextInsertion[];
  /** Mean share of the cell's region that became the concept, per cell (row-major), over every context. */
  byCell: number[];
  warnings: string[];
  seconds: number;
}

/** Example placements (not part of the JSON). */
export interface InsertionExamples {
  rows: Array<{ latent: number; cell: [number, number]; context: string; before: RgbImage; after: RgbImage }>;
}

/** Running mean and spread of per-placement values. */
class MeanTally {
  n = 0; sum = 0; sumSq = 0; overall = 0;
  add(v: number, overall: number): void { this.n++; this.sum += v; this.sumSq += v * v; this.overall += overall; }
  estimate(level: number): MeanEstimate {
    if (this.n === 0) return { value: Number.NaN, se: Number.NaN, interval: [Number.NaN, Number.NaN] };
    const m = this.sum / this.n;
    const se = this.n > 1 ? Math.sqrt(Math.max(0, this.sumSq - this.n * m * m) / (this.n - 1) / this.n) : Number.NaN;
    const z = normalQuantile(1 - (1 - level) / 2);
    return { value: m, se, interval: [m - z * se, m + z * se] };
  }
}

/** The image region `[r0, r1) × [c0, c1)` in pixels that cell `(row, col)` of an `h×w` map covers in an `H×W` image. */
export function cellPixels(row: number, col: number, h: number, w: number, H: number, W: number): { rows: [number, number]; cols: [number, number] } {
  return { rows: [Math.round((row * H) / h), Math.round(((row + 1) * H) / h)], cols: [Math.round((col * W) / w), Math.round(((col + 1) * W) / w)] };
}

/** Checks a cell `at` = [ROW, COL] against the map; a `UA_USAGE` error at `--at` when outside it. */
export function checkCell(at: readonly number[], h: number, w: number, layer: string): [number, number] {
  const [r, c] = at;
  if (at.length !== 2 || !Number.isInteger(r) || !Number.isInteger(c) || r < 0 || r >= h || c < 0 || c >= w) {
    throw usageError(`at [${at.join(', ')}] is outside the ${h}×${w} map of ${layer}`, {
      path: 'at', hint: `give [ROW, COL] with ROW in 0…${h - 1} and COL in 0…${w - 1} (e.g. at: [${Math.floor(h / 2)}, ${Math.floor(w / 2)}]), or leave at out to try every cell`,
    });
  }
  return [r, c];
}

/**
 * What the segmenter saw at a pixel: the label of the concept's own category there (e.g. window, for a door, a
 * part), else the first category's (objects: house, tree, sky, …), else any other category's (materials: grass,
 * water, …), else `none`.
 */
function contextAt(batch: LabelBatch, i: number, pixel: number, concept: ResolvedConcept, names: Map<number, string>): string {
  const P = batch.height * batch.width;
  const order = [concept.plane, ...Array.from({ length: batch.planes }, (_, p) => p).filter((p) => p !== concept.plane)];
  for (const p of order) {
    const l = batch.labels[(i * batch.planes + p) * P + pixel];
    if (l !== 0) return names.get(l) ?? 'none';
  }
  return 'none';
}

function countIn(batch: LabelBatch, i: number, concept: ResolvedConcept, region?: { rows: [number, number]; cols: [number, number] }): number {
  const { height: H, width: W } = batch;
  const off = (i * batch.planes + concept.plane) * H * W;
  const r = region ?? { rows: [0, H], cols: [0, W] };
  let n = 0;
  for (let y = r.rows[0]; y < r.rows[1]; y++) for (let x = r.cols[0]; x < r.cols[1]; x++) if (batch.labels[off + y * W + x] === concept.id) n++;
  return n;
}

/** The checked settings of an insertion. */
interface InsertionSettings {
  layer: string;
  h: number;
  w: number;
  width: number;
  concept: ResolvedConcept;
  samples: number;
  rankSamples: number;
  batchSize: number;
  seed: number;
  quantile: number;
  level: number;
  cell?: [number, number];
  /** Units set high. */
  count: number;
  atlas?: Atlas;
  /** The latents held out from the measured ones, on which units are ranked and their levels measured. */
  held: { seed: number; from: number; count: number };
}

/** Checks the options against the generator, the segmenter and the atlas, and fills in the defaults. */
function insertionSettings(g: Generator, segmenter: Segmenter, options: InsertConceptOptions): InsertionSettings {
  const layer = options.layer ?? g.defaultLayer;
  const { h, w, units: width } = spatialLayer(g, layer);
  const concept = resolveConcept(segmenter, options.concept);
  const samples = checkSamples(options.samples ?? 200, 'samples', 'samples');
  const rankSamples = checkSamples(options.rankSamples ?? 200, 'rankSamples');
  const batchSize = checkSamples(options.batchSize ?? 32, 'batchSize');
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw usageError(`seed must be a non-negative integer, got ${String(seed)}`, { path: 'seed' });
  const quantile = options.quantile ?? 0.995;
  if (!(quantile > 0 && quantile < 1)) throw usageError(`quantile must be in (0, 1), got ${String(quantile)}`, { path: 'quantile', hint: 'e.g. 0.995, the 99.5th percentile' });
  const level = options.level ?? 0.99;
  const cell = options.at ? checkCell(options.at, h, w, layer) : undefined;
  const count = options.unitList ? options.unitList.length : options.units ?? Math.min(20, width);
  if (!Number.isInteger(count) || count < 1 || count > width) {
    throw usageError(`units must be an integer in 1…${width} (${layer} has ${width} units), got ${String(options.units)}`, { path: 'units', hint: `e.g. units: ${Math.min(20, width)}` });
  }
  for (const u of options.unitList ?? []) {
    if (!Number.isInteger(u) || u < 0 || u >= width) throw usageError(`unit ${String(u)} is out of range: ${layer} has units 0…${width - 1}`, { path: 'units' });
  }
  const atlas = options.atlas;
  if (atlas && (atlas.layer !== layer || atlas.units.length !== width)) {
    throw inputError(`the atlas dissects '${atlas.layer}' (${atlas.units.length} units), not '${layer}' of ${g.name} (${width} units)`, { path: 'atlas', hint: 'use an atlas made by dissecting this generator layer' });
  }
  return {
    layer, h, w, width, concept, samples, rankSamples, batchSize, seed, quantile, level, ...(cell ? { cell } : {}), count, ...(atlas ? { atlas } : {}),
    held: { seed, from: samples, count: rankSamples },
  };
}

/** The units set high: the given ones, else the concept's top units by IoU (or the atlas's order). */
async function insertedUnits(g: Generator, segmenter: Segmenter, s: InsertionSettings, options: InsertConceptOptions, warnings: string[]): Promise<{ units: number[]; rankingSource: string }> {
  if (options.unitList) return { units: [...options.unitList], rankingSource: 'given' };
  const { layer, concept, held, atlas, rankSamples } = s;
  const iou = await rankByIou(g, segmenter, layer, concept, held, {
    quantile: atlas?.params.quantile ?? 0.01, ...(atlas ? { thresholds: atlas.units.map((u) => u.threshold) } : {}),
    batchSize: Math.min(s.batchSize, 16), onProgress: (done, total) => options.onProgress?.({ phase: 'ranking', done, total }),
  });
  if (iou.conceptPixels === 0 && !atlas) {
    throw usageError(`the segmenter sees no '${concept.name}' pixels in ${rankSamples} samples of ${g.name}, so no unit carries it`, {
      path: 'concept', hint: `choose a concept the generator draws (the segmenter sees, most first: ${iou.seen.join(', ')}), or give a dissection atlas`,
    });
  }
  const ranking = atlas ? rankFromAtlas(atlas, concept.name, iou.scores) : iou;
  const best = Math.max(...iou.scores);
  if (best <= 0.04) warnings.push(`no unit of ${layer} has an IoU with '${concept.name}' above 0.04 (best ${best.toFixed(3)}): its top units are weak`);
  return {
    units: ranking.units.slice(0, s.count),
    rankingSource: atlas ? `atlas (${atlas.probe.spec}), then IoU over latents ${held.from}…${held.from + rankSamples - 1}` : `IoU over latents ${held.from}…${held.from + rankSamples - 1}`,
  };
}

/** Each unit's high level: the atlas's level at the quantile, else its threshold when it matches, else measured. */
async function unitLevels(g: Generator, s: InsertionSettings, units: readonly number[], options: InsertConceptOptions): Promise<{ levels: number[]; levelSource: string }> {
  const { atlas, quantile, held } = s;
  const fromAtlas = atlas?.units.every((u) => Number.isFinite(u.levels?.[String(quantile)])) === true;
  if (atlas && fromAtlas) {
    return { levels: units.map((u) => atlas.units[u].levels![String(quantile)]), levelSource: `the atlas's levels at the ${quantile} quantile (${atlas.probe.spec})` };
  }
  if (atlas && Math.abs(atlas.params.quantile - (1 - quantile)) < 1e-12) {
    return { levels: units.map((u) => atlas.units[u].threshold), levelSource: `the atlas's thresholds (top ${atlas.params.quantile * 100}%)` };
  }
  const all = await unitQuantiles(g, s.layer, held, quantile, { batchSize: Math.min(s.batchSize, 16), onProgress: (done, total) => options.onProgress?.({ phase: 'levels', done, total }) });
  return { levels: units.map((u) => all[u]), levelSource: `the ${quantile} quantile of each unit's upsampled activations over latents ${held.from}…${held.from + s.rankSamples - 1}` };
}

/** Generates a batch of latents with `options` and segments it; the caller owns the returned taps. */
async function generateLabelled(
  g: Generator, segmenter: Segmenter, z: tf.Tensor2D, count: number, options: GenerateOptions = {},
): Promise<{ batch: LabelBatch; data: Float32Array; taps: Record<string, tf.Tensor> }> {
  const r = g.generate(z, options);
  try {
    const [, H, W] = r.images.shape;
    const data = await r.images.data() as Float32Array;
    return { batch: { labels: segmenter.segment(data, count, H, W), count, planes: segmenter.categories.length, height: H, width: W }, data, taps: r.taps };
  } catch (e) {
    tf.dispose(Object.values(r.taps));
    throw e;
  } finally {
    r.images.dispose();
  }
}

/** The tallies of the concept added, by context, overall and by cell, with the first example of each context. */
interface InsertionTallies {
  byContext: Map<string, MeanTally>;
  all: MeanTally;
  byCell: MeanTally[];
  examples: InsertionExamples;
  regionPixels: number;
}

/**
 * Places the units at each cell (one cell at a time) on every measured latent and tallies the concept's pixels
 * added in the cell's region and overall, by what the segmenter saw at the cell's centre before.
 */
async function measurePlacements(
  g: Generator, segmenter: Segmenter, s: InsertionSettings, set: { units: number[]; levels: number[] }, options: InsertConceptOptions,
): Promise<InsertionTallies> {
  const { h, w, seed, samples, concept, layer } = s;
  const cells: Array<[number, number]> = s.cell ? [s.cell] : Array.from({ length: h * w }, (_, k) => [Math.floor(k / w), k % w] as [number, number]);
  const names = new Map(segmenter.concepts.map((c) => [c.id, c.name]));
  const t: InsertionTallies = { byContext: new Map(), all: new MeanTally(), byCell: Array.from({ length: h * w }, () => new MeanTally()), examples: { rows: [] }, regionPixels: 0 };
  const maxExamples = options.examples ?? 6;
  const total = samples * (1 + cells.length);
  let done = 0;
  for (const b of latentBatches({ seed, from: 0, count: samples }, s.batchSize)) {
    const z = g.latents(seed, b.from, b.count);
    let prefix: tf.Tensor | undefined;
    try {
      // The unedited layer, tapped once per batch: each placement resumes from it (the same images).
      const before = await generateLabelled(g, segmenter, z, b.count, { taps: [layer] });
      prefix = before.taps[layer];
      done += b.count;
      const { height: H, width: W } = before.batch;
      for (const [row, col] of cells) {
        const px = cellPixels(row, col, h, w, H, W);
        t.regionPixels = (px.rows[1] - px.rows[0]) * (px.cols[1] - px.cols[0]);
        const centre = Math.min(H - 1, Math.floor((px.rows[0] + px.rows[1]) / 2)) * W + Math.min(W - 1, Math.floor((px.cols[0] + px.cols[1]) / 2));
        const edit: GeneratorEdit = { op: 'set', units: set.units, value: set.levels, region: { rows: [row, row + 1], cols: [col, col + 1] } };
        const after = await generateLabelled(g, segmenter, z, b.count, { edits: { [layer]: edit }, resume: { layer, value: prefix } });
        for (let i = 0; i < b.count; i++) {
          const context = contextAt(before.batch, i, centre, concept, names);
          const added = (countIn(after.batch, i, concept, px) - countIn(before.batch, i, concept, px)) / t.regionPixels;
          const overall = countIn(after.batch, i, concept) - countIn(before.batch, i, concept);
          let tally = t.byContext.get(context);
          if (!tally) { tally = new MeanTally(); t.byContext.set(context, tally); }
          tally.add(added, overall);
          t.all.add(added, overall);
          t.byCell[row * w + col].add(added, overall);
          if (t.examples.rows.length < maxExamples && !t.examples.rows.some((e) => e.context === context)) {
            t.examples.rows.push({ latent: b.from + i, cell: [row, col], context, before: rgbAt(before.data, i, H, W), after: rgbAt(after.data, i, H, W) });
          }
        }
        done += b.count;
        options.onProgress?.({ phase: 'insertion', done, total });
      }
    } finally {
      z.dispose();
      prefix?.dispose();
    }
  }
  return t;
}

/**
 * Sets a concept's top units to their high level at one cell (or at every cell, one at a time) and measures the
 * concept's pixels added, by what the segmenter saw at the cell before.
 *
 * @example
 * const { result } = await insertConcept(generator, segmenter, { concept: 'door', units: 20, samples: 100 });
 * result.byContext.map((c) => [c.context, c.addedInRegion.value]);
 */
export async function insertConcept(g: Generator, segmenter: Segmenter, options: InsertConceptOptions): Promise<{ result: GeneratorInsertion; examples: InsertionExamples }> {
  const t0 = performance.now();
  const s = insertionSettings(g, segmenter, options);
  const warnings: string[] = [];
  const { units, rankingSource } = await insertedUnits(g, segmenter, s, options, warnings);
  const { levels, levelSource } = await unitLevels(g, s, units, options);
  const t = await measurePlacements(g, segmenter, s, { units, levels }, options);
  const summary = (context: string, tally: MeanTally): ContextInsertion => ({
    context, count: tally.n, addedInRegion: tally.estimate(s.level), addedOverall: tally.n > 0 ? tally.overall / tally.n : Number.NaN, regionPixels: t.regionPixels,
  });
  const { concept, quantile, samples, seed, level } = s;
  return {
    result: {
      format: GAN_INSERTION_FORMAT, version: 1,
      generator: { name: g.name, fingerprint: g.fingerprint }, segmenter: { name: segmenter.name, fingerprint: segmenter.fingerprint },
      layer: s.layer, layerShape: [s.h, s.w, s.width], concept: { name: concept.name, category: concept.category },
      units, levels, quantile, levelSource, rankingSource, cells: s.cell ?? 'all', samples, seed, level,
      overall: summary('all', t.all),
      byContext: [...t.byContext.entries()].map(([c, tally]) => summary(c, tally)).sort((a, b) => b.count - a.count || a.context.localeCompare(b.context)),
      byCell: t.byCell.map((tally) => (tally.n > 0 ? tally.sum / tally.n : Number.NaN)),
      warnings, seconds: (performance.now() - t0) / 1000,
    },
    examples: t.examples,
  };
}

/**
 * The ratio of the concept added (share of the cell's region) in contexts `on` over contexts `over`, pooled over
 * placements, e.g. doors on houses over doors in the sky. NaN when either side has no placement; Infinity when
 * nothing was added over there.
 */
export function insertionRatio(r: GeneratorInsertion, on: readonly string[], over: readonly string[]): number {
  const pooled = (names: readonly string[]): number => {
    const groups = r.byContext.filter((g) => names.includes(g.context) && g.count > 0);
    const n = groups.reduce((a, g) => a + g.count, 0);
    return n > 0 ? groups.reduce((a, g) => a + g.addedInRegion.value * g.count, 0) / n : Number.NaN;
  };
  const a = pooled(on); const b = pooled(over);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Number.NaN;
  return b > 0 ? a / b : a > 0 ? Number.POSITIVE_INFINITY : Number.NaN;
}
