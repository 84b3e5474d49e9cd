/**
 * Property-based robustness checks: fast-check draws an image and a corruption within the bounds of the scenario's
 * `fuzz` block and checks that the model's answer holds (the true label, or the clean prediction). A failure is
 * shrunk to a minimal counterexample — the mildest corruption of the first image that still breaks the property —
 * and reported with fast-check's `seed` and `counterexamplePath`, which replay it exactly.
 */
import fc from 'fast-check';
import * as tf from '../tf.js';
import { rgbToTensor, type RgbImage } from '../data/images.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { corrupt, type Corruption } from './corruptions.js';

/** Bounds of the corruptions drawn; an absent bound leaves that corruption out. */
export interface FuzzBounds {
  /** Largest L∞ amplitude of additive uniform noise. */
  noise?: number;
  /** Largest brightness offset (either sign). */
  brightness?: number;
  /** Largest contrast change c (factor in [1 − c, 1 + c]). */
  contrast?: number;
  /** Largest blur σ in pixels. */
  blur?: number;
  /** Lowest JPEG quality. */
  jpeg?: number;
  /** Largest shift in pixels (x and y). */
  shift?: number;
}

/** Options for {@link fuzzClassifier}. */
export interface FuzzOptions extends FuzzBounds {
  /** Corruptions drawn. @defaultValue 100 */
  runs?: number;
  /** fast-check seed. @defaultValue 0 */
  seed?: number;
  /** A `counterexamplePath` from an earlier failure: replays it (with the same seed) instead of searching. */
  path?: string;
  /** What must hold: the true label (checked on images the model gets right) or the clean prediction. @defaultValue `'label'` */
  expect?: 'label' | 'prediction';
  /**
   * Check only images whose clean probabilities put the top class at least this far above the runner-up (0 to 1).
   * An image on the decision boundary changes class under any change at all (a JPEG round trip at quality 99), which
   * says nothing about robustness to the corruption; a margin leaves such images out. @defaultValue 0 (every image)
   */
  minMargin?: number;
}

/** A minimal failing case. */
export interface FuzzCounterexample {
  /** Index of the image in the inputs. */
  index: number;
  corruption: Corruption;
  /** The corrupted image (8-bit). */
  image: RgbImage;
  /** The class that should have held, and the class predicted. */
  expected: number;
  predicted: number;
  /** fast-check's seed and path: `--seed seed --path path` replays this case. */
  seed: number;
  path: string;
  /** Shrinking steps taken to reach it. */
  shrinks: number;
}

/** What {@link fuzzClassifier} found. */
export interface FuzzResult {
  /** 1 when the property held on every drawn case, 0 when it failed, NaN when no image could be checked. */
  holds: number;
  /** Cases drawn (including the failing one). */
  runs: number;
  seed: number;
  /** True when the run replayed a given path. */
  replayed: boolean;
  /** Images the property was checked on. */
  eligible: number;
  counterexample?: FuzzCounterexample;
  warnings: string[];
}

interface Drawn {
  index: number;
  noise?: { amplitude: number; seed: number };
  brightness?: number;
  contrast?: number;
  blur?: number;
  jpeg?: number;
  shift?: [number, number];
}

/** The fast-check arbitrary of cases: an eligible image and corruptions that shrink towards the identity. */
export function corruptionArbitrary(eligible: number, bounds: FuzzBounds): fc.Arbitrary<Drawn> {
  const parts: Record<string, fc.Arbitrary<unknown>> = { index: fc.nat({ max: eligible - 1 }) };
  const dbl = (min: number, max: number): fc.Arbitrary<number> => fc.double({ min, max, noNaN: true, noDefaultInfinity: true })
    .map((x) => (Object.is(x, -0) ? 0 : x));
  if (bounds.noise !== undefined) parts.noise = fc.record({ amplitude: dbl(0, bounds.noise), seed: fc.nat({ max: 2 ** 31 - 1 }) });
  if (bounds.brightness !== undefined) parts.brightness = dbl(-bounds.brightness, bounds.brightness);
  if (bounds.contrast !== undefined) parts.contrast = dbl(-bounds.contrast, bounds.contrast);
  if (bounds.blur !== undefined) parts.blur = dbl(0, bounds.blur);
  // Shrinks towards 0 = quality 100 = no compression.
  if (bounds.jpeg !== undefined) parts.jpeg = fc.integer({ min: 0, max: 100 - bounds.jpeg }).map((k) => 100 - k, (q) => 100 - (q as number));
  if (bounds.shift !== undefined) parts.shift = fc.tuple(fc.integer({ min: -bounds.shift, max: bounds.shift }), fc.integer({ min: -bounds.shift, max: bounds.shift }));
  return fc.record(parts) as unknown as fc.Arbitrary<Drawn>;
}

function corruptionOf(d: Drawn): Corruption {
  const c: Corruption = {};
  if (d.shift) c.shift = [d.shift[0], d.shift[1]];
  if (d.blur !== undefined) c.blur = d.blur;
  if (d.contrast !== undefined) c.contrast = d.contrast;
  if (d.brightness !== undefined) c.brightness = d.brightness;
  if (d.noise) c.noise = { ...d.noise };
  if (d.jpeg !== undefined) c.jpeg = d.jpeg;
  return c;
}

/** The clean probability margin (top class minus runner-up) of each image. */
export async function probabilityMargins(classifier: Classifier, images: readonly RgbImage[]): Promise<Float32Array> {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const x = rgbToTensor(images[i]);
    const m = tf.tidy(() => {
      const top = tf.topk(tf.softmax(classifier.logits(x)), Math.min(2, classifier.classNames.length)).values;
      return top.shape[1] === 1 ? tf.squeeze(top) : tf.sub(tf.slice(top, [0, 0], [1, 1]), tf.slice(top, [0, 1], [1, 1]));
    });
    x.dispose();
    out[i] = (await m.data())[0];
    m.dispose();
  }
  return out;
}

async function predictOne(classifier: Classifier, img: RgbImage): Promise<number> {
  const x = rgbToTensor(img);
  const p = tf.tidy(() => tf.argMax(classifier.logits(x), 1));
  x.dispose();
  const v = (await p.data())[0];
  p.dispose();
  return v;
}

/**
 * Fuzzes a classifier with corruptions drawn by fast-check and shrinks the first failure.
 *
 * @example
 * const r = await fuzzClassifier(clf, images, labels, predictions, { runs: 200, seed: 1, noise: 8 / 255, jpeg: 60 });
 * if (r.counterexample) console.log(`replay with --seed ${r.counterexample.seed} --path ${r.counterexample.path}`);
 */
export async function fuzzClassifier(
  classifier: Classifier, images: readonly RgbImage[], labels: ArrayLike<number>, cleanPredictions: ArrayLike<number>, options: FuzzOptions,
): Promise<FuzzResult> {
  const runs = options.runs ?? 100;
  const seed = options.seed ?? 0;
  const expect = options.expect ?? 'label';
  if (!Number.isInteger(runs) || runs < 1) throw usageError(`runs must be a positive integer, got ${String(options.runs)}`, { path: 'fuzz.runs' });
  if (!Number.isInteger(seed)) throw usageError(`seed must be an integer, got ${String(options.seed)}`, { path: 'fuzz.seed' });
  if (options.path !== undefined && !/^\d+(:\d+)*$/.test(options.path)) {
    throw usageError(`path must be a fast-check counterexample path like 12:0:3, got '${options.path}'`, { path: 'path' });
  }
  if (images.length !== labels.length || images.length !== cleanPredictions.length) {
    throw usageError(`fuzzClassifier needs one label and one prediction per image (${images.length} images, ${labels.length} labels, ${cleanPredictions.length} predictions)`, { path: 'labels' });
  }
  const minMargin = options.minMargin ?? 0;
  if (!(minMargin >= 0 && minMargin < 1)) throw usageError(`minMargin must be in [0, 1), got ${String(options.minMargin)}`, { path: 'fuzz.minMargin', hint: 'e.g. 0.2: leave out images whose top class is less than 0.2 above the runner-up' });
  const warnings: string[] = [];
  // With `label`, images the model already gets wrong would fail at once: they are left out (clean accuracy reports them).
  let eligible = images.map((_, i) => i).filter((i) => expect === 'prediction' || cleanPredictions[i] === labels[i]);
  if (minMargin > 0 && eligible.length > 0) {
    const margins = await probabilityMargins(classifier, eligible.map((i) => images[i]));
    const before = eligible.length;
    eligible = eligible.filter((_, k) => margins[k] >= minMargin);
    if (eligible.length < before) warnings.push(`${before - eligible.length} of ${before} images left out: their top class is less than ${minMargin} above the runner-up`);
  }
  if (eligible.length === 0) {
    warnings.push(minMargin > 0 ? `no image is classified with a margin of ${minMargin}; lower fuzz.minMargin`
      : expect === 'label' ? 'the model gets no input right, so there is no label to hold' : 'there are no inputs');
    return { holds: Number.NaN, runs: 0, seed, replayed: options.path !== undefined, eligible: 0, warnings };
  }
  const expected = (i: number): number => (expect === 'label' ? labels[i] : cleanPredictions[i]);
  const arb = corruptionArbitrary(eligible.length, options);
  // A crash while checking (not a broken property) must not be shrunk as a counterexample: keep it and rethrow.
  let crash: unknown;
  const property = fc.asyncProperty(arb, async (d) => {
    if (crash !== undefined) return true;
    try {
      const i = eligible[d.index];
      const img = await corrupt(images[i], corruptionOf(d));
      return (await predictOne(classifier, img)) === expected(i);
    } catch (err) {
      crash = err;
      return true;
    }
  });
  const details = await fc.check(property, {
    seed, numRuns: runs, verbose: 0,
    ...(options.path !== undefined ? { path: options.path, endOnFailure: true } : {}),
  });
  if (crash !== undefined) throw crash instanceof Error ? crash : new Error(JSON.stringify(crash));
  if (!details.failed || !details.counterexample) {
    if (options.path !== undefined) warnings.push(`replaying seed ${seed} path ${options.path} did not fail: the model, the inputs or the scenario changed since it was found`);
    return { holds: 1, runs: details.numRuns, seed, replayed: options.path !== undefined, eligible: eligible.length, warnings };
  }
  const d = details.counterexample[0];
  const i = eligible[d.index];
  const corruption = corruptionOf(d);
  const image = await corrupt(images[i], corruption);
  return {
    holds: 0, runs: details.numRuns, seed, replayed: options.path !== undefined, eligible: eligible.length, warnings,
    counterexample: {
      index: i, corruption, image, expected: expected(i), predicted: await predictOne(classifier, image),
      seed: details.seed, path: details.counterexamplePath ?? options.path ?? '', shrinks: details.numShrinks,
    },
  };
}
