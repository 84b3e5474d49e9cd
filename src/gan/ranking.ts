/**
 * Ranking a generator layer's units for a concept, on latents held out from the ones an ablation measures:
 * - by IoU, the PNAS way: each unit's activation map upsampled to the segmentation, thresholded at its top-quantile
 *   level, against the concept's pixels, pooled over the latents (the dissection's own quantile sketch and IoU
 *   tally, on this one concept); or in the order of a dissection atlas of the layer;
 * - causally: the portion of the concept's pixels that zeroing each unit alone removes (the single-unit ablation
 *   the PNAS code also runs), measured through the generator and the segmenter;
 * - greedily: sets of units built one unit at a time by what the set removes;
 * - by average causal effect (ACE, the GAN Dissection way): one coefficient per unit, learned by gradient descent
 *   through the generator and the segmenter's soft output so that scaling the units down by them removes most of the
 *   concept, with a penalty on their size.
 */
import * as tf from '../tf.js';
import type { Atlas } from '../dissection/atlas.js';
import { availableConcepts } from '../dissection/atlas.js';
import { IouTally } from '../dissection/iou.js';
import { QuantileSketch } from '../dissection/quantile.js';
import { upsampleActivations } from '../dissection/upsample.js';
import { runOrdered } from '../parallel/executor.js';
import { UnitAttackError, usageError } from '../errors.js';
import type { Segmenter } from '../segment/segmenter.js';
import { PairedRatioTally, conceptChannel, conceptCounts, conceptIndexOf, segmentBatch, type ResolvedConcept } from './measure.js';
import { measureEditBatch, type EditBatchInput, type EditBatchOutput } from './batch-work.js';
import { DEFAULT_ACE } from './ablate-types.js';
import type { GanPool } from './pool.js';
import type { Generator, GeneratorEdit } from './types.js';

/** Latents `from … from + count − 1` of the stream `seed`. */
export interface LatentRange {
  seed: number;
  from: number;
  count: number;
}

/** A ranking of a layer's units for a concept, best first. */
export interface UnitRanking {
  /** Every unit of the layer, best first (ties by index). */
  units: number[];
  /** Each unit's score, by unit index (IoU, or portion removed when zeroed alone). */
  scores: number[];
}

/** Common options of the rankings. */
export interface RankingOptions {
  /** Latents per forward pass. @defaultValue 16 */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Options for {@link rankByIou}. */
export interface IouRankingOptions extends RankingOptions {
  /** Top quantile of each unit's upsampled activations that counts as active. @defaultValue 0.01 */
  quantile?: number;
  /** Thresholds per unit (e.g. a dissection atlas's); measured over the latents when absent. */
  thresholds?: ArrayLike<number>;
}

/** Units in order of score (high first), ties by index. */
export function orderByScore(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, u) => u)
    .sort((a, b) => (scores[b] - scores[a]) || a - b);
}

/** The batches of a latent range. */
export function latentBatches(range: LatentRange, size: number): Array<{ from: number; count: number }> {
  const out: Array<{ from: number; count: number }> = [];
  for (let s = 0; s < range.count; s += size) out.push({ from: range.from + s, count: Math.min(size, range.count - s) });
  return out;
}

/** The layer's map size and unit count; a `UA_USAGE` error when it has no spatial map. */
export function spatialLayer(g: Generator, layer: string): { h: number; w: number; units: number } {
  const info = g.layer(layer);
  if (!info.spatial || info.shape.length !== 3) {
    throw usageError(`the generator layer '${layer}' has no spatial map (its shape is [${info.shape.join(', ')}])`, {
      path: 'layer', hint: `choose a convolutional layer with an h×w×units map, e.g. ${g.defaultLayer}`,
    });
  }
  return { h: info.shape[0], w: info.shape[1], units: info.shape[2] };
}

/** Upsampled activations of `layer`, unit-major `[units, images, H·W]`, and the images. */
function tapped(g: Generator, z: tf.Tensor2D, layer: string): { values: tf.Tensor; images: tf.Tensor4D } {
  const r = g.generate(z, { taps: [layer] });
  const acts = r.taps[layer] as tf.Tensor4D;
  const values = tf.tidy(() => {
    const [, H, W] = r.images.shape;
    const up = upsampleActivations(acts, [H, W]);
    return tf.reshape(tf.transpose(up, [3, 0, 1, 2]), [up.shape[3], -1]);
  });
  acts.dispose();
  return { values, images: r.images };
}

/**
 * Each unit's `q` quantile of its activations upsampled to the image size, over every pixel of the latents `range`
 * (the dissection's streaming quantile sketch; `q = 0.99` is the top-1% level that thresholds units).
 */
export async function unitQuantiles(g: Generator, layer: string, range: LatentRange, q: number, options: RankingOptions = {}): Promise<number[]> {
  const { units } = spatialLayer(g, layer);
  const sketches = Array.from({ length: units }, (_, u) => new QuantileSketch({ seed: u + 1 }));
  let done = 0;
  for (const b of latentBatches(range, options.batchSize ?? 16)) {
    const z = g.latents(range.seed, b.from, b.count);
    const { values, images } = tapped(g, z, layer);
    z.dispose(); images.dispose();
    const v = await values.data() as Float32Array;
    values.dispose();
    const per = v.length / units;
    for (let u = 0; u < units; u++) sketches[u].update(v, u * per, (u + 1) * per);
    done += b.count;
    options.onProgress?.(done, range.count);
  }
  return sketches.map((s) => s.quantile(q));
}

/**
 * Every unit's pooled IoU with `concept` over the latents `range`, and the thresholds used. Two passes (quantiles,
 * then IoU) unless thresholds are given.
 */
export async function rankByIou(
  g: Generator, segmenter: Segmenter, layer: string, concept: ResolvedConcept, range: LatentRange, options: IouRankingOptions = {},
): Promise<UnitRanking & { thresholds: number[]; conceptPixels: number; seen: string[] }> {
  const { units } = spatialLayer(g, layer);
  const batchSize = options.batchSize ?? 16;
  const quantile = options.quantile ?? 0.01;
  if (!(quantile > 0 && quantile < 1)) throw usageError(`quantile must be in (0, 1), got ${quantile}`, { path: 'quantile' });
  const passes = options.thresholds ? 1 : 2;
  const total = passes * range.count;
  let done = 0;
  let thresholds: number[];
  if (options.thresholds) {
    if (options.thresholds.length !== units) throw usageError(`${options.thresholds.length} thresholds for a layer of ${units} units`, { path: 'thresholds' });
    thresholds = Array.from(options.thresholds);
  } else {
    thresholds = await unitQuantiles(g, layer, range, 1 - quantile, {
      batchSize, onProgress: (d) => { done = d; options.onProgress?.(done, total); },
    });
  }
  const tally = new IouTally(units, 2);
  const indexOf = conceptIndexOf(segmenter);
  const totals = new Float64Array(segmenter.concepts.length);
  for (const b of latentBatches(range, batchSize)) {
    const z = g.latents(range.seed, b.from, b.count);
    const { values, images } = tapped(g, z, layer);
    z.dispose();
    let labels;
    try {
      labels = await segmentBatch(segmenter, images);
    } finally {
      images.dispose();
    }
    const v = await values.data() as Float32Array;
    values.dispose();
    const P = labels.height * labels.width;
    const mask = new Uint16Array(labels.count * P);
    for (let i = 0; i < labels.count; i++) {
      const src = (i * labels.planes + concept.plane) * P;
      for (let j = 0; j < P; j++) if (labels.labels[src + j] === concept.id) mask[i * P + j] = 1;
    }
    tally.add(v, thresholds, mask, labels.count, 1, P);
    const counts = conceptCounts(labels, indexOf, totals.length);
    for (let i = 0; i < counts.length; i++) totals[i % totals.length] += counts[i];
    done += b.count;
    options.onProgress?.(done, total);
  }
  const scores = Array.from({ length: units }, (_, u) => tally.iou(u, 1));
  // The concepts the segmenter sees in the samples, most pixels first (what an error can offer instead).
  const seen = segmenter.concepts.map((c, k) => ({ name: c.name, n: totals[k] })).filter((c) => c.n > 0).sort((a, b) => b.n - a.n).map((c) => c.name);
  return { units: orderByScore(scores), scores, thresholds, conceptPixels: tally.labelCount[1], seen };
}

/**
 * The IoU ranking of a dissection atlas of the layer: units whose listed concepts (best overall or per category)
 * include `concept`, by that IoU, then the rest in the order of `fallback` (scores by unit). Throws a `UA_USAGE`
 * error listing the concepts the atlas's units carry when no unit lists it.
 */
export function rankFromAtlas(atlas: Atlas, concept: string, fallback: ArrayLike<number>): UnitRanking {
  const listed = new Map<number, number>();
  for (const u of atlas.units) {
    const ious = [...u.topConcepts.filter((c) => c.concept === concept).map((c) => c.iou),
      ...Object.values(u.perCategory).filter((c) => c.concept === concept).map((c) => c.iou)];
    if (ious.length > 0 && Math.max(...ious) > 0) listed.set(u.unit, Math.max(...ious));
  }
  if (listed.size === 0) {
    const carried = availableConcepts(atlas, true);
    throw usageError(`no unit of ${atlas.layer} in the atlas carries the concept '${concept}'`, {
      path: 'concept',
      hint: carried.length > 0 ? `concepts the atlas's units carry (IoU > ${atlas.params.iouThreshold}): ${carried.join(', ')}` : 'the atlas labels no unit; dissect with more samples or another layer',
    });
  }
  const scores = Array.from({ length: atlas.units.length }, (_, u) => listed.get(u) ?? Number.NEGATIVE_INFINITY);
  const first = orderByScore(scores).slice(0, listed.size);
  const inFirst = new Set(first);
  const rest = orderByScore(fallback).filter((u) => !inFirst.has(u));
  return { units: [...first, ...rest], scores: scores.map((s, u) => (Number.isFinite(s) ? s : Number(fallback[u]))) };
}

/** Options of the rankings that measure removal by generating edited latents. */
export interface RemovalOptions extends RankingOptions {
  /** Threads that take the batches (see `./pool.ts`); the numbers are the same without. */
  pool?: GanPool;
}

/**
 * The pooled portion of `concept`'s pixels removed by zeroing each set of units (at every position) over the latents
 * `range`, one estimate per set (NaN when the segmenter sees none of the concept): one generation per set and latent,
 * plus the unedited one. Progress counts generations.
 */
export async function removalBySets(
  g: Generator, segmenter: Segmenter, layer: string, concept: ResolvedConcept, range: LatentRange, sets: ReadonlyArray<readonly number[]>, options: RemovalOptions = {},
): Promise<number[]> {
  spatialLayer(g, layer);
  const batchSize = options.batchSize ?? 16;
  const C = segmenter.concepts.length;
  const tallies = sets.map(() => new PairedRatioTally());
  const total = range.count * (sets.length + 1);
  let done = 0;
  // Work items: a batch of latents with a chunk of the sets, each zeroed alone (plus the unedited generation); with a
  // pool, the chunks of one batch go to different workers. Answers are tallied in item order: the same numbers.
  const pool = options.pool;
  const chunk = Math.max(1, pool ? Math.ceil(sets.length / Math.max(1, pool.size)) : sets.length);
  const items: Array<{ from: number; count: number; first: number; last: number }> = [];
  for (const b of latentBatches(range, batchSize)) for (let k = 0; k < sets.length; k += chunk) items.push({ ...b, first: k, last: Math.min(sets.length, k + chunk) });
  await runOrdered(items, pool ? pool.size * 2 : 1, (it) => {
    const input: EditBatchInput = {
      seed: range.seed, from: it.from, count: it.count, layer, keep: 0,
      edits: [null, ...sets.slice(it.first, it.last).map((units): GeneratorEdit => ({ op: 'zero', units: [...units] }))],
    };
    // The unedited generation (the first of each item) counts once per batch.
    let edit = 0;
    const tick = (): void => {
      if (edit++ > 0 || it.first === 0) done += it.count;
      options.onProgress?.(done, total);
    };
    return pool
      ? pool.run<EditBatchOutput>({ kind: 'gan-edit-batch', input, label: `latents ${it.from}…${it.from + it.count - 1}, unit sets ${it.first}…${it.last - 1}`, onProgress: tick })
      : measureEditBatch(g, segmenter, input, tick);
  }, (r, it) => {
    const before = r.counts[0];
    for (let k = it.first; k < it.last; k++) {
      const after = r.counts[1 + k - it.first];
      for (let i = 0; i < it.count; i++) tallies[k].add(before[i * C + concept.index], after[i * C + concept.index]);
    }
  });
  return tallies.map((t) => t.estimate().value);
}

function noConceptError(concept: ResolvedConcept, range: LatentRange): UnitAttackError {
  return new UnitAttackError('UA_USAGE', `the segmenter sees no '${concept.name}' pixels in the ${range.count} held-out samples, so no unit can be ranked by removing it`, {
    path: 'concept', hint: 'choose a concept the generator draws (see `unit-attack generate` for what it draws), or rank on more samples',
  });
}

const finiteOr = (v: number): number => (Number.isFinite(v) ? v : Number.NEGATIVE_INFINITY);

/**
 * Each unit's causal score for `concept`: the pooled portion of its pixels removed when that unit alone is zeroed at
 * every position, over the latents `range` (one generation per unit and latent, plus the unedited one).
 */
export async function rankByRemoval(
  g: Generator, segmenter: Segmenter, layer: string, concept: ResolvedConcept, range: LatentRange, options: RemovalOptions = {},
): Promise<UnitRanking> {
  const { units } = spatialLayer(g, layer);
  const scores = await removalBySets(g, segmenter, layer, concept, range, Array.from({ length: units }, (_, u) => [u]), options);
  if (scores.every((s) => !Number.isFinite(s))) throw noConceptError(concept, range);
  return { units: orderByScore(scores.map(finiteOr)), scores };
}

/** Options for {@link rankGreedy}. */
export interface GreedyRankingOptions extends RemovalOptions {
  /** Units chosen greedily; the rest follow in the order of `candidates`, then by index. */
  size: number;
  /** The units a step may add, best first (e.g. the single-unit causal ranking's top 40). */
  candidates: readonly number[];
  /** Units added per step (the best ones of the step). @defaultValue 1 */
  step?: number;
  /** Called before each step with the step number (from 1) and the number of steps. */
  onStep?: (step: number, steps: number) => void;
}

/** A greedy ranking: the units in the order chosen, and what each step measured. */
export interface GreedyRanking extends UnitRanking {
  steps: Array<{ added: number[]; removed: number }>;
}

/**
 * A greedy causal ranking for `concept`: starting from no unit, each step zeroes the units chosen so far together with
 * each remaining candidate, and adds the candidate (or the best `step` candidates) whose set removes the largest
 * portion of the concept's pixels over the latents `range`. Units act together (one unit's removal can make
 * another's redundant, or complete it), which a ranking by each unit's own removal cannot see. Cost: one generation
 * per candidate, step and latent. A unit's score is the portion removed by the set it completed (steps with
 * `step` > 1: by the step's best set), or NaN for units not chosen.
 */
export async function rankGreedy(
  g: Generator, segmenter: Segmenter, layer: string, concept: ResolvedConcept, range: LatentRange, options: GreedyRankingOptions,
): Promise<GreedyRanking> {
  const { units } = spatialLayer(g, layer);
  const { size, candidates } = options;
  const step = options.step ?? 1;
  if (!Number.isInteger(step) || step < 1) throw usageError(`the greedy step must be an integer ≥ 1, got ${String(step)}`, { path: 'greedyStep' });
  if (!Number.isInteger(size) || size < 0 || size > units) throw usageError(`the greedy size must be an integer in 0…${units}, got ${String(size)}`, { path: 'size' });
  for (const u of candidates) if (!Number.isInteger(u) || u < 0 || u >= units) throw usageError(`candidate unit ${String(u)} is out of range: ${layer} has ${units} units`, { path: 'candidates' });
  let pool = [...new Set(candidates)];
  const goal = Math.min(size, pool.length);
  const chosen: number[] = [];
  const scores = new Array<number>(units).fill(Number.NaN);
  const steps: GreedyRanking['steps'] = [];
  const nSteps = Math.ceil(goal / step);
  let done = 0;
  const total = nSteps === 0 ? 0 : range.count * Array.from({ length: nSteps }, (_, k) => pool.length - k * step + 1).reduce((a, b) => a + b, 0);
  while (chosen.length < goal) {
    options.onStep?.(steps.length + 1, nSteps);
    const base = done;
    const removed = await removalBySets(g, segmenter, layer, concept, range, pool.map((u) => [...chosen, u]), {
      ...options, onProgress: (d) => { done = base + d; options.onProgress?.(done, total); },
    });
    if (steps.length === 0 && removed.every((v) => !Number.isFinite(v))) throw noConceptError(concept, range);
    const order = orderByScore(removed.map(finiteOr));
    const added = order.slice(0, Math.min(step, goal - chosen.length)).map((k) => pool[k]);
    for (const u of added) { chosen.push(u); scores[u] = removed[order[0]]; }
    steps.push({ added, removed: removed[order[0]] });
    const taken = new Set(added);
    pool = pool.filter((u) => !taken.has(u));
  }
  const inChosen = new Set(chosen);
  const rest = [...new Set([...candidates, ...Array.from({ length: units }, (_, u) => u)])].filter((u) => !inChosen.has(u));
  return { units: [...chosen, ...rest], scores, steps };
}

/** Options for {@link rankByAce}. */
export interface AceRankingOptions extends RankingOptions {
  /** Passes over the latents (one Adam step per batch). @defaultValue 25 ({@link DEFAULT_ACE}) */
  epochs?: number;
  /** Adam's learning rate. @defaultValue 0.04 */
  learningRate?: number;
  /** Weight of the penalty Σ α² on the coefficients. @defaultValue 0.002 */
  penalty?: number;
}

/** An ACE ranking: the units by coefficient, and the objective's mean over each epoch. */
export interface AceRanking extends UnitRanking {
  /** The mean objective (concept probability left plus penalty) of each epoch's batches. */
  losses: number[];
}

/** The ACE ranking's settings with their defaults; a `UA_USAGE` error naming the field (`aceEpochs`, …) when one is out of range. */
export function aceSettings(options: Pick<AceRankingOptions, 'epochs' | 'learningRate' | 'penalty'>): Required<Pick<AceRankingOptions, 'epochs' | 'learningRate' | 'penalty'>> {
  const epochs = options.epochs ?? DEFAULT_ACE.epochs;
  const learningRate = options.learningRate ?? DEFAULT_ACE.learningRate;
  const penalty = options.penalty ?? DEFAULT_ACE.penalty;
  if (!Number.isInteger(epochs) || epochs < 1) throw usageError(`aceEpochs must be an integer ≥ 1, got ${String(epochs)}`, { path: 'aceEpochs' });
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) throw usageError(`aceLearningRate must be a positive number, got ${String(learningRate)}`, { path: 'aceLearningRate' });
  if (!(penalty >= 0) || !Number.isFinite(penalty)) throw usageError(`acePenalty must be a number ≥ 0, got ${String(penalty)}`, { path: 'acePenalty' });
  return { epochs, learningRate, penalty };
}

/**
 * A ranking by average causal effect, the GAN Dissection way (its `aceoptimize`, the removal half): a coefficient
 * α ∈ [0, 1] per unit, starting at 0, scales the layer's units by 1 − α at every position; Adam lowers the mean
 * probability the segmenter's softmax gives `concept` over the images of the latents `range`, plus `penalty` · Σ α²,
 * one step per batch, with α clipped to [0, 1] after each step. Units act together, as in the greedy ranking, but
 * through the gradient of a smooth surrogate rather than by trying each candidate: one forward and backward pass per
 * latent and epoch. Units are ranked by α (ties, e.g. several at 1, by the pull of the last epoch's gradients); a
 * unit's score is its α. Runs on this thread.
 */
export async function rankByAce(
  g: Generator, segmenter: Segmenter, layer: string, concept: ResolvedConcept, range: LatentRange, options: AceRankingOptions = {},
): Promise<AceRanking> {
  const { units } = spatialLayer(g, layer);
  const { epochs, learningRate, penalty } = aceSettings(options);
  if (!Number.isInteger(range.count) || range.count < 1) throw usageError(`the ACE ranking needs at least one latent, got ${String(range.count)}`, { path: 'causalSamples' });
  const { first, width, offset } = conceptChannel(segmenter, concept);
  const batches = latentBatches(range, options.batchSize ?? 16);
  const zeros = tf.zeros([units]);
  const alpha = tf.variable(zeros);
  zeros.dispose();
  const optimizer = tf.train.adam(learningRate);
  // The layer's activations of each batch, computed once: every epoch starts from them (latents × map × units floats).
  const held: Array<{ z: tf.Tensor2D; acts: tf.Tensor; count: number }> = [];
  const losses: number[] = [];
  const pull = new Float64Array(units);
  const total = epochs * range.count;
  let done = 0;
  try {
    for (const b of batches) {
      const z = g.latents(range.seed, b.from, b.count);
      const r = g.generate(z, { taps: [layer] });
      r.images.dispose();
      held.push({ z, acts: r.taps[layer], count: b.count });
    }
    for (let e = 0; e < epochs; e++) {
      let sum = 0;
      if (e === epochs - 1) pull.fill(0);
      for (const { z, acts, count } of held) {
        const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
          const scaled = tf.mul(acts, tf.sub(1, alpha));
          const out = g.generate(z, { resume: { layer, value: scaled } });
          const p = tf.softmax(tf.slice(segmenter.logits(out.images), [0, 0, 0, first], [-1, -1, -1, width]));
          const left = tf.mean(tf.slice(p, [0, 0, 0, offset], [-1, -1, -1, 1]));
          return tf.add<tf.Scalar>(left, tf.mul(penalty, tf.sum(tf.square(alpha))));
        }), [alpha]);
        const grad = grads[alpha.name];
        const [loss, g1] = await Promise.all([value.data(), grad.data()]);
        if (e === epochs - 1) for (let u = 0; u < units; u++) pull[u] -= g1[u];
        optimizer.applyGradients([{ name: alpha.name, tensor: grad }]);
        const clipped = tf.clipByValue(alpha, 0, 1);
        alpha.assign(clipped);
        tf.dispose([clipped, value, grad]);
        sum += loss[0] * count;
        done += count;
        options.onProgress?.(done, total);
      }
      losses.push(sum / range.count);
    }
    const scores = Array.from(await alpha.data());
    const order = Array.from({ length: units }, (_, u) => u).sort((a, b) => (scores[b] - scores[a]) || (pull[b] - pull[a]) || a - b);
    return { units: order, scores, losses };
  } finally {
    for (const h of held) tf.dispose([h.z, h.acts]);
    alpha.dispose();
    optimizer.dispose();
  }
}
