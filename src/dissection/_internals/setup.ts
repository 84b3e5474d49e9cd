/**
 * The set-up every classifier dissection shares, whether it runs whole, as one part of a split (`dissectShards`) or
 * as a merge: its settings with defaults, the layer's shape, the probe set, and the parts of its cache key.
 */
import { UnitAttackError, usageError } from '../../errors.js';
import type { Classifier } from '../../models/types.js';
import type { DissectOptions } from '../dissect.js';
import { ATLAS_VERSION } from '../atlas.js';
import { cacheKey } from '../cache.js';
import { defaultLabelSize, openProbe, type ProbeSet } from '../probe.js';
import { openSegmentedProbe } from '../segmented.js';

/** Kinds of probe set that pool workers open from their spec (others are read on this thread only). */
export const WORKER_PROBE_KINDS = new Set(['scenes', 'broden', 'folder', 'segmented']);

/** Bump when a change to the algorithm changes results, so old cache entries are not reused. */
export const ALGORITHM_VERSION = 3; // 3: class gradients

/** The settings of a dissection, defaults filled in. */
export type Resolved = Required<Omit<DissectOptions, 'layer' | 'labelSize' | 'cacheDir' | 'tmpDir' | 'onProgress' | 'onWarning' | 'rankingClasses' | 'segmenter' | 'fromShards'>> & { rankingClasses: readonly string[] | null };

/** Fills in defaults and checks every setting. */
export function resolve(o: DissectOptions): Resolved {
  const r: Resolved = {
    quantile: o.quantile ?? 0.01, iouThreshold: o.iouThreshold ?? 0.04, topN: o.topN ?? 20, topImages: o.topImages ?? 8,
    batchSize: o.batchSize ?? 32, importance: o.importance ?? true, metric: o.metric ?? 'logprob',
    trainFraction: o.trainFraction ?? 0.5, sketchK: o.sketchK ?? 16384, seed: o.seed ?? 1, cache: o.cache ?? true,
    ranking: o.ranking ?? 'single', rankingClasses: o.rankingClasses ?? null, threshold: o.threshold ?? 'quantile',
  };
  if (r.threshold !== 'quantile' && r.threshold !== 'iqr') throw usageError(`threshold must be 'quantile' or 'iqr', got '${String(o.threshold)}'`, { path: 'threshold', hint: 'quantile: the top-1% level of each unit (PNAS); iqr: per unit and concept by information quality ratio (GAN Dissection)' });
  if (r.ranking !== 'single' && r.ranking !== 'greedy') throw usageError(`ranking must be 'single' or 'greedy', got '${String(o.ranking)}'`, { path: 'ranking' });
  if (!(r.quantile > 0 && r.quantile < 1)) throw usageError(`quantile must be in (0, 1), got ${String(o.quantile)}`, { path: 'quantile', hint: 'the PNAS setting is 0.01 (the 99th percentile)' });
  if (!(r.iouThreshold >= 0 && r.iouThreshold <= 1)) throw usageError(`iouThreshold must be in [0, 1], got ${String(o.iouThreshold)}`, { path: 'iouThreshold' });
  if (!Number.isInteger(r.topN) || r.topN < 1) throw usageError(`topN must be a positive integer, got ${String(o.topN)}`, { path: 'topN' });
  if (!Number.isInteger(r.topImages) || r.topImages < 0 || r.topImages > 64) throw usageError(`topImages must be an integer in 0…64, got ${String(o.topImages)}`, { path: 'topImages' });
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1) throw usageError(`batchSize must be a positive integer, got ${String(o.batchSize)}`, { path: 'batchSize' });
  if (r.metric !== 'logprob' && r.metric !== 'accuracy') throw usageError(`metric must be 'logprob' or 'accuracy', got '${String(o.metric)}'`, { path: 'metric' });
  if (!(r.trainFraction > 0 && r.trainFraction < 1)) throw usageError(`trainFraction must be in (0, 1), got ${String(o.trainFraction)}`, { path: 'trainFraction' });
  if (!Number.isSafeInteger(r.seed)) throw usageError(`seed must be an integer, got ${String(o.seed)}`, { path: 'seed' });
  return r;
}

export /** The `[h, w, units]` of `layer`, or a clear error when it has no spatial maps. */
function spatialShape(classifier: Classifier, layer: string): [number, number, number] {
  const info = classifier.layer(layer);
  if (!info.spatial || info.shape.length !== 3) {
    const spatial = classifier.layers.filter((l) => l.spatial).map((l) => l.name);
    throw new UnitAttackError('UA_LAYER', `layer '${layer}' of model '${classifier.name}' has output shape [${info.shape.join(', ')}] without spatial maps; dissection needs a layer with maps [H, W, units]`, {
      path: 'layer', hint: spatial.length > 0 ? `layers with spatial maps: ${spatial.join(', ')}` : 'this model has no layer with spatial maps',
    });
  }
  return info.shape as [number, number, number];
}

/** Opens the probe set (through the segmenter when one is named) and checks that it fits the model. */
export async function openProbeFor(classifier: Classifier, probeOrSpec: string | ProbeSet, options: DissectOptions, warn: (m: string) => void): Promise<ProbeSet> {
  const probe = typeof probeOrSpec !== 'string' ? probeOrSpec
    : options.segmenter !== undefined ? await openSegmentedProbe(probeOrSpec, options.segmenter, { inputSize: classifier.inputSize })
    : await openProbe(probeOrSpec, { inputSize: classifier.inputSize });
  if (probe.labelPlanes === 0 && !probe.labelBatch) {
    throw usageError(`the probe set '${probe.spec}' has no label maps`, { path: 'probe', hint: 'label its images with a segmenter: --segmenter builtin:scenes-segmenter (or segmenter: in the library)' });
  }
  for (const w of probe.warnings ?? []) warn(w);
  const [H, W] = classifier.inputSize;
  if (probe.imageSize[0] !== H || probe.imageSize[1] !== W) {
    throw usageError(`the probe set's images are ${probe.imageSize[1]}×${probe.imageSize[0]}, but the model takes ${W}×${H}`, { path: 'probe' });
  }
  return probe;
}

/** Everything that decides a dissection's result, hashed into its cache key. */
export function keyPartsOf(classifier: Classifier, layer: string, probe: ProbeSet, labelSize: [number, number], topN: number, o: Resolved): Record<string, unknown> {
  return {
    algorithm: ALGORITHM_VERSION, atlas: ATLAS_VERSION, fingerprint: classifier.fingerprint, classes: classifier.classNames,
    layer, probe: probe.signature, labelSize, quantile: o.quantile, iouThreshold: o.iouThreshold, topN, topImages: o.topImages,
    importance: o.importance, metric: o.metric, trainFraction: o.trainFraction, sketchK: o.sketchK, seed: o.seed,
    ...(o.ranking === 'greedy' ? { ranking: o.ranking, rankingClasses: o.rankingClasses } : {}),
    ...(o.threshold !== 'quantile' ? { threshold: o.threshold } : {}),
  };
}

/** What every classifier dissection settles before its passes. */
export interface DissectSetup {
  o: Resolved;
  warn: (message: string) => void;
  progress: NonNullable<DissectOptions['onProgress']>;
  layer: string;
  shape: [number, number, number];
  probe: ProbeSet;
  labelSize: [number, number];
  topN: number;
  /** Everything that decides the result, and its hash (the cache key, and the run of shard files). */
  about: Record<string, unknown>;
  key: string;
}

/** Settles the options, the layer, the probe set, the label size and the key of a classifier dissection. */
export async function setUpDissection(classifier: Classifier, probeOrSpec: string | ProbeSet, options: DissectOptions): Promise<DissectSetup> {
  const o = resolve(options);
  const warn = options.onWarning ?? (() => undefined);
  const progress = options.onProgress ?? (() => undefined);
  const layer = options.layer ?? classifier.defaultLayer;
  const shape = spatialShape(classifier, layer);
  const probe = await openProbeFor(classifier, probeOrSpec, options, warn);
  const labelSize: [number, number] = options.labelSize ? [options.labelSize[0], options.labelSize[1]] : defaultLabelSize(classifier.inputSize);
  if (!labelSize.every((v) => Number.isInteger(v) && v > 0)) throw usageError(`labelSize must be two positive integers, got ${JSON.stringify(options.labelSize)}`, { path: 'labelSize' });
  const topN = Math.min(o.topN, shape[2]);
  for (const c of o.rankingClasses ?? []) {
    if (!classifier.classNames.includes(c)) {
      throw usageError(`rankingClasses names '${c}', which is not a class of the model`, { path: 'rankingClasses', hint: `classes: ${classifier.classNames.join(', ')}` });
    }
  }
  const about = keyPartsOf(classifier, layer, probe, labelSize, topN, o);
  return { o, warn, progress, layer, shape, probe, labelSize, topN, about, key: cacheKey(about) };
}
