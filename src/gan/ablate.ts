/**
 * Ablation of a generator's concept units (PNAS 2020, Fig. 4): zero the n units of a layer ranked highest for a
 * concept, at every position, generate the same latents again, and measure the portion of the concept's pixels
 * that the segmenter no longer finds, paired per latent; beside it a random-unit control of the same size (several
 * draws) and the change of every other concept. Units are ranked on latents held out from the measured ones, by
 * IoU (the PNAS way), causally (each unit's own removal) or greedily (each step adds the unit that removes most
 * together with those already chosen). Memory stays flat in the sample count: batches are streamed and only counts
 * are kept.
 */
import { randomUnits } from '../attacks/random-units.js';
import type { RgbImage } from '../data/images.js';
import type { Atlas } from '../dissection/atlas.js';
import { runOrdered } from '../parallel/executor.js';
import { inputError, usageError } from '../errors.js';
import type { Segmenter } from '../segment/segmenter.js';
import {
  GAN_ABLATION_FORMAT, DEFAULT_ABLATION_SIZES, DEFAULT_CONTROL_DRAWS, DEFAULT_CONTROL_SAMPLES, DEFAULT_GREEDY_CANDIDATES, rankingKinds, type RankingKind, type AblateConceptOptions, type ConceptChange,
  type AblationPoint, type ControlPoint, type GeneratorAblation, type AblationExamples,
} from './ablate-types.js';
import { measureEditBatch, type EditBatchInput, type EditBatchOutput } from './batch-work.js';
import { PairedRatioTally, checkSamples, resolveConcept, spreadOf, type ResolvedConcept } from './measure.js';
import { aceSettings, latentBatches, rankByAce, rankByIou, rankByRemoval, rankFromAtlas, rankGreedy, spatialLayer } from './ranking.js';
import { ganPool, type GanPool } from './pool.js';
import type { Generator, GeneratorEdit } from './types.js';

export {
  GAN_ABLATION_FORMAT, DEFAULT_ABLATION_SIZES, DEFAULT_ACE, DEFAULT_CONTROL_DRAWS, DEFAULT_CONTROL_SAMPLES, DEFAULT_GREEDY_CANDIDATES, RANKING_CHOICES, rankingKinds, type RankingKind, type RankingChoice, type AblateConceptOptions, type ConceptChange, type AblationPoint, type ControlPoint,
  type GeneratorAblation, type AblationExamples,
} from './ablate-types.js';

/** Pixels of image `i` of a `[N, H, W, 3]` float batch as 8-bit RGB. */
export function rgbAt(data: Float32Array, i: number, height: number, width: number): RgbImage {
  const n = height * width * 3;
  const out = new Uint8Array(n);
  for (let k = 0; k < n; k++) out[k] = Math.round(Math.min(1, Math.max(0, data[i * n + k])) * 255);
  return { data: out, width, height };
}

/** Checks the sizes of an ablation curve against the layer width. */
export function checkSizes(sizes: readonly number[], units: number, layer: string, path = 'units'): number[] {
  if (sizes.length === 0) throw usageError('sizes names no size', { path, hint: 'e.g. sizes: [0, 1, 2, 4, 8, 20, 30]' });
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 0 || n > units) {
      throw usageError(`sizes: ${String(n)} is out of range: ${layer} has ${units} units, so a size must be an integer in 0…${units}`, {
        path, hint: `e.g. sizes: [${DEFAULT_ABLATION_SIZES.filter((k) => k <= units).join(', ')}]`,
      });
    }
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

interface Condition {
  kind: RankingKind | 'control';
  n: number;
  units: number[];
  draw?: number;
  seed?: number;
  tally: PairedRatioTally;
  after: Float64Array;
}

function changes(names: readonly string[], before: Float64Array, after: Float64Array, n: number): Record<string, ConceptChange> {
  const out: Record<string, ConceptChange> = {};
  names.forEach((name, k) => {
    if (before[k] === 0 && after[k] === 0) return;
    const b = before[k] / n; const a = after[k] / n;
    out[name] = { before: b, after: a, change: b > 0 ? a / b - 1 : Number.NaN };
  });
  return out;
}

/** The checked settings of an ablation, with the warnings found while checking. */
interface AblationSettings {
  layer: string;
  h: number;
  w: number;
  units: number;
  concept: ResolvedConcept;
  sizes: number[];
  samples: number;
  rankSamples: number;
  causalSamples: number;
  greedyCandidates: number;
  greedyStep: number;
  ace: { epochs: number; learningRate: number; penalty: number };
  seed: number;
  controlDraws: number;
  controlSamples: number;
  level: number;
  batchSize: number;
  kinds: RankingKind[];
  atlas?: Atlas;
  warnings: string[];
}

/** Checks the options against the generator, the segmenter and the atlas, and fills in the defaults. */
function ablationSettings(g: Generator, segmenter: Segmenter, options: AblateConceptOptions): AblationSettings {
  const layer = options.layer ?? g.defaultLayer;
  const { h, w, units } = spatialLayer(g, layer);
  const concept: ResolvedConcept = resolveConcept(segmenter, options.concept);
  const sizes = checkSizes(options.sizes ?? DEFAULT_ABLATION_SIZES.filter((n) => n <= units), units, layer);
  const samples = checkSamples(options.samples ?? 2000, 'samples', 'samples');
  const rankSamples = checkSamples(options.rankSamples ?? 200, 'rankSamples');
  const causalSamples = checkSamples(options.causalSamples ?? 32, 'causalSamples');
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw usageError(`seed must be a non-negative integer, got ${String(seed)}`, { path: 'seed' });
  const controlDraws = options.controlDraws ?? DEFAULT_CONTROL_DRAWS;
  if (!Number.isInteger(controlDraws) || controlDraws < 0) throw usageError(`controlDraws must be a non-negative integer, got ${String(controlDraws)}`, { path: 'controlDraws' });
  const controlSamples = checkSamples(options.controlSamples ?? Math.min(samples, DEFAULT_CONTROL_SAMPLES), 'controlSamples');
  if (controlSamples > samples) {
    throw usageError(`controlSamples (${controlSamples}) must be at most samples (${samples}): the control is measured on the first of the measured latents`, {
      path: 'controlSamples', hint: `set controlSamples to ${samples} or less, or raise samples`,
    });
  }
  const level = options.level ?? 0.99;
  const batchSize = checkSamples(options.batchSize ?? 32, 'batchSize');
  const kinds: RankingKind[] = rankingKinds(options.ranking ?? 'both');
  const greedyCandidates = checkSamples(options.greedyCandidates ?? DEFAULT_GREEDY_CANDIDATES, 'greedyCandidates');
  const greedyStep = checkSamples(options.greedyStep ?? 1, 'greedyStep');
  const ace = aceSettings({ epochs: options.aceEpochs, learningRate: options.aceLearningRate, penalty: options.acePenalty });
  const atlas = options.atlas;
  if (atlas) {
    if (atlas.layer !== layer) throw inputError(`the atlas dissects '${atlas.layer}', not '${layer}'`, { path: 'atlas', hint: `set layer to '${atlas.layer}', or give an atlas of ${layer}` });
    if (atlas.units.length !== units) throw inputError(`the atlas has ${atlas.units.length} units, but ${layer} of ${g.name} has ${units}`, { path: 'atlas', hint: 'use an atlas made by dissecting this generator' });
  }
  const warnings: string[] = [];
  if (atlas && atlas.fingerprint !== g.fingerprint) warnings.push(`the atlas was made for another version of the generator (fingerprint ${atlas.fingerprint.slice(0, 12)}, this one ${g.fingerprint.slice(0, 12)})`);
  return { layer, h, w, units, concept, sizes, samples, rankSamples, causalSamples, greedyCandidates, greedyStep, ace, seed, controlDraws, controlSamples, level, batchSize, kinds, ...(atlas ? { atlas } : {}), warnings };
}

/** The latents held out from the measured ones, on which units are ranked. */
const heldOut = (s: AblationSettings): { seed: number; from: number; count: number } => ({ seed: s.seed, from: s.samples, count: Math.max(s.rankSamples, s.causalSamples) });

/** The rankings asked for: by IoU (or the atlas's order), causally and greedily, on held-out latents. */
async function rankConceptUnits(g: Generator, segmenter: Segmenter, s: AblationSettings, options: AblateConceptOptions, pool: GanPool | undefined): Promise<GeneratorAblation['rankings']> {
  const { layer, concept, rankSamples, causalSamples, batchSize, atlas, warnings } = s;
  const held = heldOut(s);
  const rankings: GeneratorAblation['rankings'] = {};
  if (s.kinds.includes('iou')) {
    const iou = await rankByIou(g, segmenter, layer, concept, { ...held, count: rankSamples }, {
      quantile: options.quantile ?? atlas?.params.quantile ?? 0.01,
      ...(atlas ? { thresholds: atlas.units.map((u) => u.threshold) } : {}),
      batchSize: Math.min(batchSize, 16),
      onProgress: (done, total) => options.onProgress?.({ phase: 'iou ranking', done, total }),
    });
    if (iou.conceptPixels === 0) {
      throw usageError(`the segmenter sees no '${concept.name}' pixels in ${rankSamples} samples of ${g.name}, so no unit carries it`, {
        path: 'concept', hint: `choose a concept the generator draws; the segmenter sees, most first: ${iou.seen.join(', ')}`,
      });
    }
    if (atlas) rankings.iou = { ...rankFromAtlas(atlas, concept.name, iou.scores), source: `atlas (${atlas.probe.spec}), then IoU over latents ${held.from}…${held.from + rankSamples - 1}` };
    else rankings.iou = { units: iou.units, scores: iou.scores, source: `IoU over latents ${held.from}…${held.from + rankSamples - 1} at the top ${(options.quantile ?? 0.01) * 100}% of each unit` };
    const best = Math.max(...iou.scores);
    if (best <= 0.04) warnings.push(`no unit of ${layer} has an IoU with '${concept.name}' above 0.04 (best ${best.toFixed(3)}): the IoU ranking is weak`);
  }
  if (s.kinds.includes('causal') || s.kinds.includes('greedy')) {
    const latents = `over latents ${held.from}…${held.from + causalSamples - 1}`;
    const causal = await rankByRemoval(g, segmenter, layer, concept, { ...held, count: causalSamples }, {
      batchSize: Math.min(batchSize, 16), ...(pool ? { pool } : {}),
      onProgress: (done, total) => options.onProgress?.({ phase: 'causal ranking', done, total }),
    });
    rankings.causal = { ...causal, source: `portion of '${concept.name}' pixels removed by zeroing each unit alone, ${latents}` };
    if (s.kinds.includes('greedy')) {
      const candidates = causal.units.slice(0, Math.max(s.greedyCandidates, Math.max(...s.sizes)));
      const greedy = await rankGreedy(g, segmenter, layer, concept, { ...held, count: causalSamples }, {
        size: Math.max(...s.sizes), candidates, step: s.greedyStep, batchSize: Math.min(batchSize, 16), ...(pool ? { pool } : {}),
        onProgress: (done, total) => options.onProgress?.({ phase: 'greedy ranking', done, total }),
      });
      rankings.greedy = {
        ...greedy,
        source: `greedy: each step adds the ${s.greedyStep > 1 ? `${s.greedyStep} units` : 'unit'} of the causal ranking's top ${candidates.length} that, zeroed with those already chosen, removes the most '${concept.name}' pixels, ${latents}`,
      };
    }
  }
  if (s.kinds.includes('ace')) {
    const ace = await rankByAce(g, segmenter, layer, concept, { ...held, count: causalSamples }, {
      ...s.ace, batchSize: Math.min(batchSize, 16),
      onProgress: (done, total) => options.onProgress?.({ phase: 'ace ranking', done, total }),
    });
    rankings.ace = {
      ...ace,
      source: `average causal effect: a coefficient per unit scaling it by 1 − α, learned to lower the '${concept.name}' probability of the segmenter (Adam, ${s.ace.epochs} epochs, rate ${s.ace.learningRate}, penalty ${s.ace.penalty} Σ α²), over latents ${held.from}…${held.from + causalSamples - 1}`,
    };
  }
  return rankings;
}

/** The top-n units of each ranking for each size n > 0, and the random-unit control's draws of each size. */
function ablationConditions(s: AblationSettings, rankings: GeneratorAblation['rankings'], concepts: number): Condition[] {
  const { kinds, sizes, units, seed, controlDraws } = s;
  const conditions: Condition[] = [];
  for (const kind of kinds) {
    for (const n of sizes) if (n > 0) conditions.push({ kind, n, units: rankings[kind]!.units.slice(0, n), tally: new PairedRatioTally(), after: new Float64Array(concepts) });
  }
  for (const n of sizes) {
    if (n === 0) continue;
    const ranked = new Set(kinds.flatMap((k) => rankings[k]!.units.slice(0, n)));
    const exclude = units - ranked.size >= n ? [...ranked] : [];
    for (let d = 0; d < controlDraws; d++) {
      const seedOf = (seed * 7919 + n * 131 + d) % 2 ** 32;
      conditions.push({ kind: 'control', n, draw: d, seed: seedOf, units: randomUnits({ count: n, numUnits: units, exclude, seed: seedOf }), tally: new PairedRatioTally(), after: new Float64Array(concepts) });
    }
  }
  return conditions;
}

/**
 * The distinct sets of zeroed units of the conditions that `runs` keeps (conditions with the same units, e.g. both
 * rankings' top unit, share one generation) as the batch's edits after the unedited one, and each condition's edit
 * (−1 for a condition not run).
 */
function distinctEdits(conditions: readonly Condition[], runs: (c: Condition) => boolean): { edits: EditBatchInput['edits']; slot: number[] } {
  const unitSets: number[][] = [];
  const editOf = new Map<string, number>();
  const slot = conditions.map((c) => {
    if (!runs(c)) return -1;
    const key = [...c.units].sort((x, y) => x - y).join(',');
    if (!editOf.has(key)) { editOf.set(key, unitSets.length); unitSets.push(c.units); }
    return 1 + editOf.get(key)!;
  });
  return { edits: [null, ...unitSets.map((units): GeneratorEdit => ({ op: 'zero', units }))], slot };
}

/**
 * Generates the measured latents once unedited and once per distinct edit, on this thread or on a pool's workers,
 * and adds each condition's paired counts to its tally; the control's edits run on the batches of its first
 * `controlSamples` latents only. The answers are added up in batch order, so the numbers are the same with any number
 * of workers. Returns the unedited concept counts (over all latents, and over the control's), the image size and the
 * examples.
 */
async function measureConditions(
  g: Generator, segmenter: Segmenter, s: AblationSettings, conditions: Condition[], options: AblateConceptOptions, pool: GanPool | undefined,
): Promise<{ baseSum: Float64Array; controlBaseSum: Float64Array; imagePixels: number; examples: AblationExamples }> {
  const { seed, samples, batchSize, layer, concept, controlSamples } = s;
  const C = segmenter.concepts.length;
  const baseSum = new Float64Array(C);
  const controlBaseSum = new Float64Array(C);
  const nExamples = Math.min(options.examples ?? 4, samples, batchSize);
  const examples: AblationExamples = { latents: Array.from({ length: nExamples }, (_, i) => i), before: [], after: {}, sizes: s.sizes.filter((n) => n > 0) };
  for (const k of s.kinds) examples.after[k] = examples.sizes.map(() => []);
  // Batches that hold control latents run every condition; the others all but the control's.
  const plans = [distinctEdits(conditions, () => true), distinctEdits(conditions, (c) => c.kind !== 'control')];
  const planOf = (b: { from: number }): (typeof plans)[number] => plans[b.from < controlSamples ? 0 : 1];
  const batches = latentBatches({ seed, from: 0, count: samples }, batchSize);
  let imagePixels = 0;
  let done = 0;
  // Progress counts generations as the conditions they stand for.
  const total = batches.reduce((t, b) => t + b.count * (1 + planOf(b).slot.filter((x) => x >= 0).length), 0);
  const progressOf = (b: { from: number; count: number }): (() => void) => {
    const { edits, slot } = planOf(b);
    const weight = edits.map((_, e) => (e === 0 ? 1 : slot.filter((x) => x === e).length));
    let e = 0;
    return () => { done += b.count * weight[e++]; options.onProgress?.({ phase: 'ablation', done, total }); };
  };
  await runOrdered(batches, pool ? pool.size * 2 : 1, (b) => {
    const input: EditBatchInput = { seed, from: b.from, count: b.count, layer, edits: planOf(b).edits, keep: b.from === 0 ? nExamples : 0 };
    const tick = progressOf(b);
    return pool
      ? pool.run<EditBatchOutput>({ kind: 'gan-edit-batch', input, label: `latents ${b.from}…${b.from + b.count - 1}`, onProgress: tick })
      : measureEditBatch(g, segmenter, input, tick);
  }, (r, b) => {
    const base = r.counts[0];
    const { slot } = planOf(b);
    // Latents of this batch that the control measures: the first `inControl`.
    const inControl = Math.max(0, Math.min(b.count, controlSamples - b.from));
    imagePixels = r.height * r.width;
    for (let i = 0; i < b.count * C; i++) baseSum[i % C] += base[i];
    for (let i = 0; i < inControl * C; i++) controlBaseSum[i % C] += base[i];
    if (b.from === 0) for (let j = 0; j < nExamples; j++) examples.before.push(rgbAt(r.pixels[0], j, r.height, r.width));
    conditions.forEach((c, k) => {
      if (slot[k] < 0) return;
      const after = r.counts[slot[k]];
      const count = c.kind === 'control' ? inControl : b.count;
      for (let i = 0; i < count; i++) c.tally.add(base[i * C + concept.index], after[i * C + concept.index]);
      for (let i = 0; i < count * C; i++) c.after[i % C] += after[i];
      if (b.from === 0 && c.kind !== 'control') {
        const e = examples.sizes.indexOf(c.n);
        for (let j = 0; j < nExamples; j++) examples.after[c.kind]![e].push(rgbAt(r.pixels[slot[k]], j, r.height, r.width));
      }
    });
  });
  return { baseSum, controlBaseSum, imagePixels, examples };
}

/** The removal curve of each ranking and the random-unit control per size, from the measured conditions. */
function ablationCurves(
  s: AblationSettings, conditions: readonly Condition[], baseSum: Float64Array, controlBaseSum: Float64Array, names: readonly string[],
): Pick<GeneratorAblation, 'curves' | 'control'> {
  const { sizes, samples, level, concept } = s;
  const C = names.length;
  const zero = (): AblationPoint => ({
    n: 0, units: [],
    removed: { value: 0, se: 0, interval: [0, 0], level, count: samples, meanBefore: baseSum[concept.index] / samples, meanAfter: baseSum[concept.index] / samples },
    concepts: changes(names, baseSum, baseSum, samples),
  });
  const curves: GeneratorAblation['curves'] = {};
  for (const kind of s.kinds) {
    curves[kind] = sizes.map((n) => {
      if (n === 0) return zero();
      const c = conditions.find((x) => x.kind === kind && x.n === n)!;
      return { n, units: c.units, removed: c.tally.estimate(level), concepts: changes(names, baseSum, c.after, samples) };
    });
  }
  const control: ControlPoint[] = [];
  if (s.controlDraws > 0) {
    for (const n of sizes) {
      if (n === 0) continue;
      const draws = conditions.filter((x) => x.kind === 'control' && x.n === n);
      const pooled = new Float64Array(C);
      for (const d of draws) for (let k = 0; k < C; k++) pooled[k] += d.after[k] / draws.length;
      control.push({
        n,
        draws: draws.map((d) => ({ seed: d.seed!, units: d.units, removed: d.tally.estimate(level).value })),
        removed: spreadOf(draws.map((d) => d.tally.estimate(level).value)),
        concepts: changes(names, controlBaseSum, pooled, s.controlSamples),
      });
    }
  }
  return { curves, control };
}

/**
 * Zeroes the top-n units of a layer for a concept, for each n of `sizes`, and measures the portion of the concept's
 * pixels removed over `samples` latents, with a random-unit control and the other concepts' changes.
 *
 * @example
 * const { result } = await ablateConcept(generator, segmenter, { concept: 'tree', sizes: [0, 5, 20], samples: 500 });
 * result.curves.iou?.[2].removed.value; // portion of tree pixels removed by the 20 best tree units
 */
export async function ablateConcept(
  g: Generator, segmenter: Segmenter, options: AblateConceptOptions,
): Promise<{ result: GeneratorAblation; examples: AblationExamples }> {
  const t0 = performance.now();
  const s = ablationSettings(g, segmenter, options);
  const { layer, h, w, units, concept, samples, seed, level, warnings } = s;
  // Worker threads (when asked for) take the causal ranking's and the ablation's batches; the IoU ranking stays here.
  const { pool, close } = await ganPool(g, segmenter, options, Math.ceil(samples / s.batchSize) + (s.kinds.some((k) => k !== 'iou') ? 2 : 0));
  try {
    const rankings = await rankConceptUnits(g, segmenter, s, options, pool);
    const conditions = ablationConditions(s, rankings, segmenter.concepts.length);
    const { baseSum, controlBaseSum, imagePixels, examples } = await measureConditions(g, segmenter, s, conditions, options, pool);
    const { curves, control } = ablationCurves(s, conditions, baseSum, controlBaseSum, segmenter.concepts.map((c) => c.name));
    const conceptPixels = baseSum[concept.index] / samples;
    if (conceptPixels === 0) warnings.push(`the segmenter sees no '${concept.name}' pixels in the ${samples} measured samples: nothing can be removed`);
    const held = heldOut(s);
    return {
      result: {
        format: GAN_ABLATION_FORMAT, version: 1,
        generator: { name: g.name, fingerprint: g.fingerprint }, segmenter: { name: segmenter.name, fingerprint: segmenter.fingerprint },
        layer, layerShape: [h, w, units], concept: { name: concept.name, category: concept.category },
        samples, seed, level,
        interval: `ratio estimator Σ(before − after) / Σ before over paired latents, ± ${level * 100}% normal quantile × delta-method standard error`,
        latents: { measured: [0, samples - 1], control: [0, s.controlSamples - 1], ranking: [samples, samples + held.count - 1] },
        baseline: { conceptPixels, conceptShare: imagePixels > 0 ? conceptPixels / imagePixels : Number.NaN, imagePixels },
        rankings, curves, control, controlDraws: s.controlDraws, controlSamples: s.controlSamples, warnings,
        seconds: (performance.now() - t0) / 1000,
      },
      examples,
    };
  } finally {
    await close();
  }
}
