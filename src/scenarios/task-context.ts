/**
 * What every scenario task shares: what it is given (the context), what it produces (metrics, details and the
 * examples and charts the report draws), and the steps they have in common (predictions, unit maps, class and
 * layer checks, the choice of examples). Every tensor made here is disposed here.
 */
import * as tf from '../tf.js';
import { wilsonInterval, type Rate } from '../attacks/metrics.js';
import { tensorToRgb, type RgbImage } from '../data/images.js';
import type { Atlas } from '../dissection/atlas.js';
import { UnitAttackError } from '../errors.js';
import { findClass } from '../models/classes.js';
import type { Classifier } from '../models/types.js';
import type { ImageMap, ImageRecord, MetricInterval, TaskChart, TaskExample } from '../report/types.js';
import { scenarioError } from './errors.js';
import type { LoadedInputs } from './inputs.js';
import { issueAt } from './source.js';
import type { Scenario } from './types.js';

const PREDICT_BATCH = 64;

/** What a task needs. */
export interface TaskContext {
  scenario: Scenario;
  classifier: Classifier;
  inputs: LoadedInputs;
  /** The pixel-space batch of the inputs (owned by the caller). */
  x: tf.Tensor4D;
  cleanPredictions: Int32Array;
  atlas?: Atlas;
  /** `--seed` / `--path` for fuzz scenarios. */
  replay?: { seed?: number; path?: string };
  /** The scenario file as the user named it, for replay commands. */
  displayFile: string;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** What every task measures: results, and its charts as data (the report draws them). */
export interface TaskMeasures {
  metrics: Record<string, number>;
  /** 95% Wilson intervals of the rate metrics. */
  intervals: Record<string, MetricInterval>;
  details: Record<string, unknown>;
  warnings: string[];
  seeds: Record<string, number>;
  durations: Record<string, number>;
  charts: TaskChart[];
}

/** What a task on images produces: its measures, and its examples (records, and what their pictures show). */
export interface TaskOutput extends TaskMeasures {
  images: ImageRecord[];
  /** Per image record (same order), what its pictures show. */
  examples: TaskExample[];
}

/** Records a rate metric with its 95% Wilson interval. */
export function setRate(out: TaskOutput, metric: string, r: Rate): void {
  out.metrics[metric] = r.rate;
  out.intervals[metric] = wilsonInterval(r.count, r.total);
}

export function emptyOutput(): TaskOutput {
  return { metrics: {}, intervals: {}, details: {}, warnings: [], seeds: {}, durations: {}, images: [], examples: [], charts: [] };
}

/** Seconds since `t0` (a `performance.now()`). */
export const seconds = (t0: number): number => (performance.now() - t0) / 1000;

/** The keys of `o` among `keys` that are set, with their values. */
export function pick<T extends object>(o: T, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if ((o as Record<string, unknown>)[k] !== undefined) out[k] = (o as Record<string, unknown>)[k];
  return out;
}

/** Predicted class per image, in batches. */
export async function predictAll(classifier: Classifier, x: tf.Tensor4D, batch = PREDICT_BATCH): Promise<Int32Array> {
  const n = x.shape[0];
  const out = new Int32Array(n);
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const p = tf.tidy(() => tf.argMax(classifier.logits(tf.slice(x, [s, 0, 0, 0], [e - s, -1, -1, -1])), 1));
    out.set(await p.data(), s);
    p.dispose();
  }
  return out;
}

/** A map per image: the mean of `plus` minus the mean of `minus` at `layer` (undefined when the layer has no map). */
export async function unitMaps(classifier: Classifier, x: tf.Tensor4D, layer: string, plus: readonly number[], minus: readonly number[] = []): Promise<ImageMap[] | undefined> {
  const t = tf.tidy(() => {
    const a = classifier.activations(x, layer);
    if (a.rank !== 4) return undefined;
    const mean = (u: readonly number[]): tf.Tensor => (u.length ? tf.mean(tf.gather(a, tf.tensor1d(u as number[], 'int32'), 3), 3) : tf.zeros(a.shape.slice(0, 3)));
    return tf.sub(mean(plus), mean(minus));
  });
  if (!t) return undefined;
  const [k, h, w] = t.shape as [number, number, number];
  const data = await t.data();
  t.dispose();
  return Array.from({ length: k }, (_, i) => ({ values: Float32Array.from(data.subarray(i * h * w, (i + 1) * h * w)), h, w }));
}

/** The class index a scenario names (undefined when it names none); a class the model lacks is an issue at `at`. */
export function classOf(classifier: Classifier, ref: string | number | undefined, scenario: Scenario, at: (string | number)[]): number | undefined {
  if (ref === undefined) return undefined;
  const names = classifier.classNames;
  const k = findClass(names, ref);
  if (k < 0) {
    throw scenarioError(issueAt(scenario.source, 'not_found', at, typeof ref === 'number'
      ? `class index ${ref} is out of range: the model has ${names.length} classes (0…${names.length - 1})`
      : `the model '${classifier.name}' has no class '${ref}'`, `the model's classes: ${names.join(', ')}`));
  }
  return k;
}

/** The number of units of a layer; a layer the model lacks is an issue at `at`. */
export function checkLayer(classifier: Classifier, layer: string, scenario: Scenario, at: (string | number)[]): number {
  try {
    const info = classifier.layer(layer);
    return info.shape[info.shape.length - 1];
  } catch (err) {
    if (err instanceof UnitAttackError && err.code === 'UA_LAYER') throw scenarioError(issueAt(scenario.source, 'not_found', at, err.message, err.hint));
    throw err;
  }
}

/** Up to `k` example indices: successes first (the interesting ones), then the rest, each in input order. */
export function pickExamples(n: number, k: number, interesting: (i: number) => boolean): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  return [...all.filter(interesting), ...all.filter((i) => !interesting(i))].slice(0, k);
}

/** Image `i` of a batch as 8-bit RGB. */
export function sliceRgb(x: tf.Tensor4D, i: number): RgbImage {
  const one = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
  try {
    return tensorToRgb(one);
  } finally {
    one.dispose();
  }
}

/** The rows `indices` of a batch (the caller disposes the result). */
export function gatherRows(x: tf.Tensor4D, indices: readonly number[]): tf.Tensor4D {
  const idx = tf.tensor1d(indices as number[], 'int32');
  try {
    return tf.gather(x, idx);
  } finally {
    idx.dispose();
  }
}
