/**
 * How close a scene generator's samples are to the real scenes it was trained on, by two measures:
 *
 * - **concept shares**: the segmenter's share of pixels per concept (tree, sky, house, …) over N samples, beside the
 *   same over N real scenes of the training classes (rendered by the scene world with a seed training never used),
 *   with the relative difference and a pass/fail against a tolerance (±30%); a second real set of N gives the
 *   real-vs-real difference, the noise floor of the comparison;
 * - **Fréchet distance** on a classifier's features (`fc2` of `builtin:scenes-vgg16`; images resized bilinearly to the
 *   classifier's input size as the segmenter resizes its inputs): generated vs real, beside real vs real (two
 *   disjoint real sets) and an untrained generator of the same architecture vs real, so the number has a floor and
 *   a ceiling to be read against.
 *
 * Everything streams in batches (pixel counts and feature moments only), so memory does not grow with N.
 */
import * as tf from '../tf.js';
import { renderScene, sceneSeed, RENDERABLE_SCENE_CLASSES } from '../data/scenes/index.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import type { Segmenter } from '../segment/segmenter.js';
import { FeatureMoments, frechetDistance, momentsOf } from './frechet.js';
import { checkSamples, conceptCounts, conceptIndexOf, resolveConcept, type ResolvedConcept } from './measure.js';
import { generatorFromModel } from './generator.js';
import { buildGenerator, generatorOutputSize, GENERATOR_OUTPUT_RANGE } from './net.js';
import { latentBatches } from './ranking.js';
import type { Generator } from './types.js';

export const GAN_QUALITY_FORMAT = 'unit-attack-gan-quality';

/** The concepts whose pixel shares are compared (issue #17). */
export const QUALITY_CONCEPTS: readonly string[] = Object.freeze(['tree', 'sky', 'house', 'mountain', 'grass', 'road', 'snow']);

/**
 * Seed of the real scenes the samples are compared with. Training draws its real scenes with the run's seed (scene i
 * has seed `sceneSeed(seed, i)`) and its `real.png` with seed + 1; this one is far from both for seeds below 10⁶.
 */
export const QUALITY_REAL_SEED = 17_017_017;

/** Options for {@link measureGeneratorQuality}. */
export interface GeneratorQualityOptions {
  /** Scene classes of the real scenes (the generator's training classes; scene i is of class `classes[i % n]`). */
  classes: readonly string[];
  /** Samples, and real scenes per real set. @defaultValue 2000 */
  samples?: number;
  /** Seed of the latent stream (latents 0 … samples − 1). @defaultValue 1 */
  seed?: number;
  /** Seed of the real scenes: set A is scenes 0 … N − 1, set B scenes N … 2N − 1. @defaultValue {@link QUALITY_REAL_SEED} */
  realSeed?: number;
  /** Concepts compared. @defaultValue {@link QUALITY_CONCEPTS} */
  concepts?: readonly string[];
  /** Largest relative difference of a concept's share that passes. @defaultValue 0.3 */
  tolerance?: number;
  /** The classifier layer whose outputs are the features. @defaultValue `fc2` */
  featureLayer?: string;
  /** A generator of the same architecture that was never trained (see {@link untrainedGenerator}). */
  untrained?: Generator;
  /** Images per forward pass. @defaultValue 32 */
  batchSize?: number;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

/** One concept's pixel shares. */
export interface ConceptShare {
  concept: string;
  /** Share of all pixels of the samples the segmenter labels with the concept. */
  generated: number;
  /** The same over real set A, and over real set B (the noise floor). */
  real: number;
  realB: number;
  /** `generated / real − 1` (NaN when the real share is 0). */
  relative: number;
  /** `realB / real − 1`. */
  realRelative: number;
  /** `|relative| ≤ tolerance`. */
  pass: boolean;
}

/** What {@link measureGeneratorQuality} measured (JSON-ready). */
export interface GeneratorQuality {
  format: typeof GAN_QUALITY_FORMAT;
  version: 1;
  generator: { name: string; fingerprint: string };
  segmenter: { name: string; fingerprint: string };
  classifier: { name: string; fingerprint: string; layer: string; inputSize: [number, number] };
  samples: number;
  seed: number;
  real: { classes: string[]; seed: number; size: number; setA: [number, number]; setB: [number, number] };
  tolerance: number;
  concepts: ConceptShare[];
  /** Whether every concept passed. */
  conceptsPass: boolean;
  frechet: {
    layer: string;
    dims: number;
    generatedVsReal: number;
    realVsReal: number;
    /** null when no untrained generator was given. */
    untrainedVsReal: number | null;
    untrained: { name: string; fingerprint: string } | null;
  };
  seconds: number;
}

/**
 * The untrained twin of a generator of this project's architecture (`buildGenerator`): the widths are read from its
 * layers `layer1`…`layerN` and the weights initialised with `seed` (the training seed gives the run's step-0
 * weights). Undefined, with the reason, when the generator is not of that architecture.
 */
export function untrainedGenerator(g: Generator, seed: number): { generator?: Generator; reason?: string } {
  const widths: number[] = [];
  for (let k = 1; ; k++) {
    const l = g.layers.find((x) => x.name === `layer${k}`);
    if (!l) break;
    if (!l.spatial || l.shape.length !== 3) return { reason: `its layer${k} has no spatial map` };
    widths.push(l.shape[2]);
  }
  if (widths.length < 4 || widths.length % 2 !== 0 || generatorOutputSize(widths) !== g.outputSize) {
    return { reason: `its layers are not those of \`unit-attack train-gan\`'s generator (layer1…layerN, two per resolution from 4×4 to ${g.outputSize}×${g.outputSize})` };
  }
  const model = buildGenerator({ latentSize: g.latentSize, widths, seed });
  return { generator: generatorFromModel(model, { name: `untrained:${g.name}?seed=${seed}`, outputRange: GENERATOR_OUTPUT_RANGE, defaultLayer: g.defaultLayer }) };
}

interface SetTally {
  counts?: Float64Array;
  pixels: number;
  moments: FeatureMoments;
}

/** The checked settings of a quality measurement, and what measuring a batch needs. */
interface QualityRun {
  segmenter: Segmenter;
  classifier: Classifier;
  samples: number;
  seed: number;
  realSeed: number;
  tolerance: number;
  batchSize: number;
  classes: string[];
  concepts: ResolvedConcept[];
  /** The feature layer, its size, the classifier's input size and the generator's output size. */
  layer: string;
  dims: number;
  inputSize: [number, number];
  size: number;
  indexOf: ReturnType<typeof conceptIndexOf>;
  progress: NonNullable<GeneratorQualityOptions['onProgress']>;
}

/** Checks the options against the generator, the segmenter and the classifier, and fills in the defaults. */
function qualityRun(g: Generator, segmenter: Segmenter, classifier: Classifier, options: GeneratorQualityOptions): QualityRun {
  const samples = checkSamples(options.samples ?? 2000, 'samples', 'samples');
  if (samples < 2) throw usageError('samples must be at least 2 (a covariance needs two samples)', { path: 'samples', hint: 'e.g. samples: 2000' });
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw usageError(`seed must be a non-negative integer, got ${String(seed)}`, { path: 'seed' });
  const realSeed = options.realSeed ?? QUALITY_REAL_SEED;
  if (!Number.isSafeInteger(realSeed)) throw usageError(`realSeed must be an integer, got ${String(realSeed)}`, { path: 'realSeed' });
  const tolerance = options.tolerance ?? 0.3;
  if (!(tolerance > 0)) throw usageError(`tolerance must be a positive number, got ${String(tolerance)}`, { path: 'tolerance', hint: 'e.g. 0.3 for ±30%' });
  const batchSize = checkSamples(options.batchSize ?? 32, 'batchSize');
  const classes = [...options.classes];
  if (classes.length === 0) throw usageError('no scene class is given for the real scenes', { path: 'classes', hint: 'e.g. classes: [\'field\', \'mountain_lake\', \'ski_resort\'] (the generator\'s training classes)' });
  for (const c of classes) {
    if (!RENDERABLE_SCENE_CLASSES.includes(c)) throw usageError(`'${c}' is not a scene class of the scene world`, { path: 'classes', hint: `classes: ${RENDERABLE_SCENE_CLASSES.join(', ')}` });
  }
  const concepts = (options.concepts ?? QUALITY_CONCEPTS).map((c) => resolveConcept(segmenter, c, 'concepts'));
  const layer = options.featureLayer ?? 'fc2';
  const info = classifier.layer(layer);
  const dims = info.shape.reduce((a, b) => a * b, 1);
  const S = g.outputSize;
  if (options.untrained && options.untrained.outputSize !== S) {
    throw usageError(`the untrained generator makes ${options.untrained.outputSize}×${options.untrained.outputSize} images, the generator ${S}×${S}`, { path: 'untrained' });
  }
  return {
    segmenter, classifier, samples, seed, realSeed, tolerance, batchSize, classes, concepts, layer, dims,
    inputSize: [classifier.inputSize[0], classifier.inputSize[1]], size: S, indexOf: conceptIndexOf(segmenter), progress: options.onProgress ?? (() => undefined),
  };
}

const tallyOf = (q: QualityRun, segment: boolean): SetTally => ({ ...(segment ? { counts: new Float64Array(q.segmenter.concepts.length) } : {}), pixels: 0, moments: new FeatureMoments(q.dims) });

/** Segments (when `tally.counts` is kept) and takes the features of a batch of pixel-space images. */
async function measureBatch(q: QualityRun, images: tf.Tensor4D, tally: SetTally): Promise<void> {
  const { segmenter, classifier, layer, dims } = q;
  const [ih, iw] = q.inputSize;
  const C = segmenter.concepts.length;
  const [n, H, W] = images.shape;
  if (tally.counts) {
    const data = await images.data() as Float32Array;
    const c = conceptCounts({ labels: segmenter.segment(data, n, H, W), count: n, planes: segmenter.categories.length, height: H, width: W }, q.indexOf, C);
    for (let i = 0; i < c.length; i++) tally.counts[i % C] += c[i];
    tally.pixels += n * H * W;
  }
  const f = tf.tidy(() => {
    const x = H === ih && W === iw ? images : tf.image.resizeBilinear(images, [ih, iw], false, true);
    return tf.reshape(classifier.activations(x, layer), [n, dims]);
  });
  try {
    tally.moments.add(await f.data(), n);
  } finally {
    f.dispose();
  }
}

/** The tally of a generator's samples (latents 0 … samples − 1 of the seed). */
async function fromGenerator(q: QualityRun, gen: Generator, phase: string, segment: boolean): Promise<SetTally> {
  const tally = tallyOf(q, segment);
  let done = 0;
  for (const b of latentBatches({ seed: q.seed, from: 0, count: q.samples }, q.batchSize)) {
    const z = gen.latents(q.seed, b.from, b.count);
    const r = gen.generate(z);
    z.dispose();
    tf.dispose(Object.values(r.taps));
    try {
      await measureBatch(q, r.images, tally);
    } finally {
      r.images.dispose();
    }
    done += b.count;
    q.progress({ phase, done, total: q.samples });
  }
  return tally;
}

/** The tally of real scenes `from` … `from + samples − 1` of the real seed, the classes in turn. */
async function fromWorld(q: QualityRun, from: number, phase: string): Promise<SetTally> {
  const tally = tallyOf(q, true);
  const S = q.size;
  const per = S * S * 3;
  let done = 0;
  for (const b of latentBatches({ seed: q.realSeed, from, count: q.samples }, q.batchSize)) {
    const px = new Float32Array(b.count * per);
    for (let i = 0; i < b.count; i++) {
      const index = b.from + i;
      const scene = renderScene({ cls: q.classes[index % q.classes.length], seed: sceneSeed(q.realSeed, index), size: S });
      for (let k = 0; k < per; k++) px[i * per + k] = scene.image[k] / 255;
    }
    const images = tf.tensor4d(px, [b.count, S, S, 3]);
    try {
      await measureBatch(q, images, tally);
    } finally {
      images.dispose();
    }
    done += b.count;
    q.progress({ phase, done, total: q.samples });
  }
  return tally;
}

/** Each concept's pixel share in the generated samples and in both real sets, and whether it is within tolerance. */
function conceptShares(q: QualityRun, gen: SetTally, realA: SetTally, realB: SetTally): ConceptShare[] {
  const share = (t: SetTally, k: number): number => t.counts![k] / t.pixels;
  return q.concepts.map((c) => {
    const generated = share(gen, c.index); const real = share(realA, c.index); const b = share(realB, c.index);
    const relative = real > 0 ? generated / real - 1 : Number.NaN;
    return { concept: c.name, generated, real, realB: b, relative, realRelative: real > 0 ? b / real - 1 : Number.NaN, pass: Number.isFinite(relative) && Math.abs(relative) <= q.tolerance };
  });
}

/**
 * Compares a generator's samples with real scenes: per-concept pixel shares by the segmenter, and the Fréchet
 * distance on the classifier's `fc2` features (with the real-vs-real and untrained-vs-real distances beside it).
 *
 * @example
 * const q = await measureGeneratorQuality(g, segmenter, classifier, { classes: ['field', 'mountain_lake', 'ski_resort'], samples: 500 });
 * q.concepts.find((c) => c.concept === 'tree')?.relative; q.frechet.generatedVsReal;
 */
export async function measureGeneratorQuality(g: Generator, segmenter: Segmenter, classifier: Classifier, options: GeneratorQualityOptions): Promise<GeneratorQuality> {
  const t0 = performance.now();
  const q = qualityRun(g, segmenter, classifier, options);
  const { samples, seed, layer, dims } = q;
  const gen = await fromGenerator(q, g, 'generated samples', true);
  const realA = await fromWorld(q, 0, 'real scenes (set A)');
  const realB = await fromWorld(q, samples, 'real scenes (set B)');
  const untrained = options.untrained ? await fromGenerator(q, options.untrained, 'untrained generator', false) : undefined;
  const shares = conceptShares(q, gen, realA, realB);
  const A = momentsOf(realA.moments);
  return {
    format: GAN_QUALITY_FORMAT, version: 1,
    generator: { name: g.name, fingerprint: g.fingerprint },
    segmenter: { name: segmenter.name, fingerprint: segmenter.fingerprint },
    classifier: { name: classifier.name, fingerprint: classifier.fingerprint, layer, inputSize: q.inputSize },
    samples, seed,
    real: { classes: q.classes, seed: q.realSeed, size: q.size, setA: [0, samples - 1], setB: [samples, 2 * samples - 1] },
    tolerance: q.tolerance, concepts: shares, conceptsPass: shares.every((s) => s.pass),
    frechet: {
      layer, dims,
      generatedVsReal: frechetDistance(momentsOf(gen.moments), A),
      realVsReal: frechetDistance(momentsOf(realB.moments), A),
      untrainedVsReal: untrained ? frechetDistance(momentsOf(untrained.moments), A) : null,
      untrained: options.untrained ? { name: options.untrained.name, fingerprint: options.untrained.fingerprint } : null,
    },
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Markers around the quality section of a model card, so that measuring again replaces it. */
export const QUALITY_CARD_BEGIN = '<!-- unit-attack gan-quality: begin -->';
export const QUALITY_CARD_END = '<!-- unit-attack gan-quality: end -->';

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '–');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}%` : '–');

/** The quality figures as a Markdown section of a model card (between {@link QUALITY_CARD_BEGIN} and {@link QUALITY_CARD_END}). */
export function qualityCardSection(q: GeneratorQuality, command: string): string {
  const f = q.frechet;
  return [
    QUALITY_CARD_BEGIN,
    '## Quality',
    '',
    `Measured by \`${command}\` on the weights with fingerprint \`${q.generator.fingerprint}\` (a later checkpoint rewrites this card`,
    'without this section: measure again). Samples are latents 0…' + `${q.samples - 1} of seed ${q.seed}; real scenes are ${q.samples} scenes of the`,
    `training classes (${q.real.classes.join(', ')}, in turn) with seed ${q.real.seed}, which training never draws (set A: scenes ${q.real.setA.join('…')};`,
    `set B: scenes ${q.real.setB.join('…')}).`,
    '',
    `Share of pixels per concept by \`${q.segmenter.name}\` (pass: within ±${(q.tolerance * 100).toFixed(0)}% of the real share; real B against real A is the noise floor):`,
    '',
    '| concept | generated | real (A) | relative | real B vs A | pass |',
    '|---|---:|---:|---:|---:|:---:|',
    ...q.concepts.map((c) => `| ${c.concept} | ${pct(c.generated)} | ${pct(c.real)} | ${signed(c.relative)} | ${signed(c.realRelative)} | ${c.pass ? 'yes' : '**no**'} |`),
    '',
    `Fréchet distance on \`${q.classifier.name}\`'s \`${f.layer}\` features (${f.dims} dimensions; images resized bilinearly to ${q.classifier.inputSize.join('×')}), each against real set A:`,
    '',
    '| images | Fréchet distance |',
    '|---|---:|',
    `| generated samples | ${f.generatedVsReal.toFixed(2)} |`,
    `| real set B (the floor) | ${f.realVsReal.toFixed(2)} |`,
    `| untrained generator, same architecture${f.untrained ? ` (${f.untrained.name})` : ''} | ${f.untrainedVsReal === null ? 'not measured' : f.untrainedVsReal.toFixed(2)} |`,
    '',
    QUALITY_CARD_END,
    '',
  ].join('\n');
}

/** A model card with its quality section replaced by `section` (or added at the end). */
export function withQualitySection(card: string, section: string): string {
  const a = card.indexOf(QUALITY_CARD_BEGIN);
  const b = card.indexOf(QUALITY_CARD_END);
  if (a >= 0 && b > a) {
    const rest = card.slice(b + QUALITY_CARD_END.length).replace(/^\n/, '');
    return card.slice(0, a) + section + rest;
  }
  return `${card.replace(/\n*$/, '\n\n')}${section}`;
}
