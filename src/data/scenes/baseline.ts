/**
 * A colour-histogram baseline: how well the class can be guessed from colour statistics alone. The scene world
 * is meant to keep this low (classes are told apart by their concepts), so it is measured and tested.
 */
import { usageError } from '../../errors.js';
import { SCENE_CLASSES } from './classes.js';
import { renderScene } from './render.js';
import { sampleScenes } from './sample.js';
import { hash32 } from './rng.js';

/** Options for {@link histogramBaseline}. */
export interface HistogramBaselineOptions {
  /** Scenes used to fit the class centroids. @defaultValue 1000 */
  trainCount?: number;
  /** Held-out scenes scored. @defaultValue 500 */
  testCount?: number;
  /** Dataset seed; train and test sets use different seeds derived from it. @defaultValue 0 */
  seed?: number;
  /** Side length of the rendered scenes. @defaultValue 96 */
  size?: number;
  /** Bins per colour channel. @defaultValue 4 */
  bins?: number;
  /** Distance to the centroids. @defaultValue 'l2' */
  distance?: 'l2' | 'l1';
  /** Classes to use. @defaultValue every class */
  classes?: readonly string[];
}

/** The baseline's result. */
export interface HistogramBaselineResult {
  /** Share of held-out scenes whose nearest centroid is their class. */
  readonly accuracy: number;
  /** Accuracy per class. */
  readonly perClass: Readonly<Record<string, number>>;
  /** Chance level, 1 / number of classes. */
  readonly chance: number;
  readonly trainCount: number;
  readonly testCount: number;
  readonly bins: number;
  readonly seed: number;
}

/** A normalised joint RGB histogram with `bins`³ bins. */
export function colorHistogram(image: Uint8Array, bins = 4): Float64Array {
  const h = new Float64Array(bins * bins * bins);
  const n = image.length / 3;
  for (let i = 0; i < image.length; i += 3) {
    const r = (image[i] * bins) >> 8;
    const g = (image[i + 1] * bins) >> 8;
    const b = (image[i + 2] * bins) >> 8;
    h[(r * bins + g) * bins + b] += 1;
  }
  for (let k = 0; k < h.length; k++) h[k] /= n;
  return h;
}

function checkInt(value: number, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`Option '${path}' must be an integer from ${min} to ${max}, got ${String(value)}.`, { path });
  }
  return value;
}

/**
 * Fits a nearest-centroid classifier on normalised RGB histograms of `trainCount` scenes and scores it on
 * `testCount` held-out scenes (balanced classes).
 *
 * @example
 * histogramBaseline({ trainCount: 1000, testCount: 500, seed: 0 }).accuracy; // ≈ 0.5 for this world
 */
export function histogramBaseline(options: HistogramBaselineOptions = {}): HistogramBaselineResult {
  const o = { trainCount: 1000, testCount: 500, seed: 0, size: 96, bins: 4, distance: 'l2' as const, classes: SCENE_CLASSES, ...options };
  checkInt(o.trainCount, 'trainCount', 1);
  checkInt(o.testCount, 'testCount', 1);
  checkInt(o.bins, 'bins', 1, 64);
  if (o.distance !== 'l2' && o.distance !== 'l1') throw usageError(`Option 'distance' must be 'l2' or 'l1', got ${String(o.distance)}.`, { path: 'distance' });
  const classes = o.classes;
  const k = classes.length;
  const dim = o.bins ** 3;
  const trainSeed = hash32(o.seed, 0x7a11);
  const testSeed = hash32(o.seed, 0x7e57);
  const sums = Array.from({ length: k }, () => new Float64Array(dim));
  const counts = new Array<number>(k).fill(0);
  for (const spec of sampleScenes({ count: o.trainCount, seed: trainSeed, size: o.size, classes })) {
    const h = colorHistogram(renderScene(spec).image, o.bins);
    const c = classes.indexOf(spec.cls);
    const s = sums[c];
    for (let d = 0; d < dim; d++) s[d] += h[d];
    counts[c]++;
  }
  const centroids = sums.map((s, c) => s.map((v) => v / Math.max(1, counts[c])));
  let correct = 0;
  const hit = new Array<number>(k).fill(0);
  const seen = new Array<number>(k).fill(0);
  for (const spec of sampleScenes({ count: o.testCount, seed: testSeed, size: o.size, classes })) {
    const h = colorHistogram(renderScene(spec).image, o.bins);
    let best = -1;
    let bestD = Infinity;
    centroids.forEach((cen, c) => {
      if (counts[c] === 0) return;
      let d = 0;
      for (let j = 0; j < dim; j++) {
        const diff = h[j] - cen[j];
        d += o.distance === 'l2' ? diff * diff : Math.abs(diff);
      }
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    });
    const truth = classes.indexOf(spec.cls);
    seen[truth]++;
    if (best === truth) {
      correct++;
      hit[truth]++;
    }
  }
  const perClass: Record<string, number> = {};
  classes.forEach((c, i) => (perClass[c] = seen[i] > 0 ? hit[i] / seen[i] : NaN));
  return { accuracy: correct / o.testCount, perClass, chance: 1 / k, trainCount: o.trainCount, testCount: o.testCount, bins: o.bins, seed: o.seed };
}
