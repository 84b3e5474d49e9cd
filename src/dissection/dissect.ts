/**
 * Network dissection (Bau et al., PNAS 2020; CVPR 2017) of one layer of a classifier over a labelled probe set.
 *
 * Pass 1 runs the probe images through the model once, upsamples the layer's activations bilinearly to the label
 * resolution and feeds each unit's values to a mergeable quantile sketch; the raw activations go to a temporary
 * file. The top-quantile level of each unit is its threshold. Pass 2 reads the activations back and tallies the
 * pooled IoU of every unit's thresholded map with every concept's label mask. Class importance and the ablation
 * curves then run the rest of the network from the stored activations.
 */
import * as tf from '../tf.js';
import { UnitAttackError } from '../errors.js';
import { toolVersion } from '../util/package-root.js';
import type { Classifier } from '../models/types.js';
import { poolFor } from '../parallel/executor.js';
import { layerPasses, type ThresholdMethod } from './_internals/passes.js';
import { ALGORITHM_VERSION, WORKER_PROBE_KINDS, setUpDissection, type Resolved } from './_internals/setup.js';
import { openShardFiles } from './_internals/shard-file.js';
import { shardIndices, tallyShard } from './_internals/shards.js';
import { ATLAS_FORMAT, ATLAS_VERSION, type Atlas, type AtlasUnit } from './atlas.js';
import { SHIPPED_ATLASES, cacheAtlasOrWarn, cacheRoot, dissectCacheFile, readCachedAtlas, resumeDir } from './cache.js';
import { greedyRanking } from './greedy.js';
import type { IouTally } from './iou.js';
import { classGradients, type ClassGradient } from './gradients.js';
import { ablationCurves, rankUnits, type ActivationChunk, type ImportanceMetric } from './importance.js';
import type { ProbeSet } from './probe.js';
import { ActivationStore } from './store.js';

/** Options for {@link dissect}. */
export interface DissectOptions {
  /** @defaultValue the classifier's default layer (the last convolution, `block5_conv3` for VGG-16) */
  layer?: string;
  /** Top quantile that sets each unit's threshold. @defaultValue 0.01 (the 99th percentile) */
  quantile?: number;
  /** A unit is labelled with its best concept when the IoU exceeds this. @defaultValue 0.04 */
  iouThreshold?: number;
  /**
   * How each unit's active region is chosen: `quantile`, its top-`quantile` level (PNAS); or `iqr`, per unit and
   * concept the level of highest information quality ratio on a log grid of top fractions from 0.1% to 50% (GAN
   * Dissection), concepts then ranked by the IoU at their own level. @defaultValue `quantile`
   */
  threshold?: ThresholdMethod;
  /** Largest N of the ablation curves. @defaultValue 20 */
  topN?: number;
  /** Top-activating images kept per unit. @defaultValue 8 */
  topImages?: number;
  /** @defaultValue 32 */
  batchSize?: number;
  /** `[height, width]` of the label maps. @defaultValue a quarter of the input size */
  labelSize?: readonly [number, number];
  /** Whether to compute class importance and ablation curves (needs images with classes). @defaultValue true */
  importance?: boolean;
  /** @defaultValue `logprob` */
  metric?: ImportanceMetric;
  /** Share of labelled probe images used to rank units; the rest measure the ablation curves. @defaultValue 0.5 */
  trainFraction?: number;
  /**
   * How class importance ranks units: `single` zeroes one unit at a time (the PNAS ranking); `greedy` then re-ranks
   * the top 20 of each class by zeroing units cumulatively, which accounts for units that carry the same evidence
   * (see `greedyRanking`). @defaultValue `single`
   */
  ranking?: 'single' | 'greedy';
  /** With `ranking: 'greedy'`, the classes to re-rank (greedy costs about 40 masked passes per unit chosen). @defaultValue every class */
  rankingClasses?: readonly string[];
  /** Quantile sketch size (rank error about 2/k). @defaultValue 16384 */
  sketchK?: number;
  /** Seed of the sketches' coins and of the train / held-out split. @defaultValue 1 */
  seed?: number;
  /**
   * Label the probe images with this segmenter (`builtin:scenes-segmenter` or a segmenter folder) instead of reading
   * label maps: the probe may then be a folder of plain images. @defaultValue none (label maps from the probe set)
   */
  segmenter?: string;
  /**
   * Merge: take pass 1 of every shard from the shard files in these folders (written by {@link dissectShards}, e.g.
   * `unit-attack dissect --shard i/N` on other machines) instead of computing it. Every shard of the plan must be there,
   * of this same dissection; the atlas then equals a one-process run's. @defaultValue none
   */
  fromShards?: readonly string[];
  /** Read and write the result cache. @defaultValue true */
  cache?: boolean;
  /** @defaultValue `$UNIT_ATTACK_CACHE`, else `.unit-attack-cache` in the working folder */
  cacheDir?: string;
  /** Folder for the temporary activation file. @defaultValue the OS temp folder */
  tmpDir?: string;
  onProgress?: (p: DissectProgress) => void;
  onWarning?: (message: string) => void;
}

/** Progress of the long passes. */
export interface DissectProgress {
  phase: 'activations' | 'iou' | 'importance' | 'greedy' | 'gradients' | 'ablation';
  done: number;
  total: number;
}

export interface DissectResult {
  atlas: Atlas;
  /** True when the atlas came from the cache. */
  cached: boolean;
  /** The cache file (read or written), when caching is on. */
  cacheFile?: string;
  seconds: number;
}



/** Class gradients to 4 significant digits, which keeps the atlas file small (they rank units; no more is needed). */
function roundGradient(g: ClassGradient): ClassGradient {
  const r = (rows: number[][]): number[][] => rows.map((row) => row.map((v) => Number(v.toPrecision(4))));
  return { count: g.count, gain: r(g.gain), attribution: r(g.attribution) };
}



/** This package's version, recorded in atlases. */
export const version = toolVersion;

export { ALGORITHM_VERSION };

/** Whether probe image `index` belongs to the training split (a seeded hash, so the split is stable). */
export function isTrainImage(index: number, seed: number, trainFraction: number): boolean {
  let x = Math.imul(index ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed | 0, 0xc2b2ae35);
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d); x ^= x >>> 15; x = Math.imul(x, 0x846ca68b); x ^= x >>> 16;
  return (x >>> 0) / 4294967296 < trainFraction;
}



/** A cached atlas of this dissection (the user's cache, then the atlases shipped with the package), if there is one. */
export async function cachedAtlas(cacheFile: string, key: string, fingerprint: string): Promise<{ atlas: Atlas; file: string } | undefined> {
  const hit = await readCachedAtlas(cacheFile);
  if (hit) return { atlas: hit, file: cacheFile };
  // An atlas shipped with the package for exactly this dissection (same key), checked against the model once more.
  const shippedFile = dissectCacheFile(key, SHIPPED_ATLASES);
  const shipped = await readCachedAtlas(shippedFile);
  return shipped && shipped.fingerprint === fingerprint ? { atlas: shipped, file: shippedFile } : undefined;
}

/** What the importance step adds to the atlas. */
interface ImportanceResult {
  classImportance: Atlas['classImportance'];
  ablation: Atlas['ablation'];
  gradients?: Record<string, ClassGradient>;
  /** Why there is no class importance, when there is none. */
  note?: string;
}

/**
 * Class importance (single or greedy ranking on the training split), class gradients, and ablation curves on the
 * held-out split, all run from the stored activations; or the reason they cannot be made.
 */
async function importanceStep(
  classifier: Classifier, layer: string, probe: ProbeSet, store: ActivationStore, classOf: Int32Array, ids: Map<number, string>,
  o: Resolved, topN: number, progress: (p: DissectProgress) => void,
): Promise<ImportanceResult> {
  const none = (note: string): ImportanceResult => ({ classImportance: {}, ablation: {}, note });
  if (!o.importance) return none('class importance was not asked for');
  if (!probe.classNames) return none('the probe images have no classes');
  if (![...classOf].some((c) => c >= 0)) return none(`none of the probe classes (${probe.classNames.join(', ')}) is a class of the model`);
  const isTrain = (i: number): boolean => isTrainImage(i, o.seed, o.trainFraction);
  const trainCount = [...classOf.keys()].filter((i) => classOf[i] >= 0 && ids.has(i) && isTrain(i)).length;
  const heldCount = [...classOf.keys()].filter((i) => classOf[i] >= 0 && ids.has(i) && !isTrain(i)).length;
  if (trainCount === 0 || heldCount === 0) return none(`too few labelled probe images to split (${trainCount} for ranking, ${heldCount} held out)`);
  const chunkSource = (train: boolean) => async function* (): AsyncGenerator<ActivationChunk> {
    for await (const c of store.chunks((i) => classOf[i] >= 0 && isTrain(i) === train, 64)) {
      yield { acts: c.acts, labels: Int32Array.from(c.indices, (i) => classOf[i]), n: c.indices.length };
    }
  };
  try {
    let ranks = await rankUnits(classifier, layer, chunkSource(true), {
      metric: o.metric, onProgress: (d) => progress({ phase: 'importance', done: d, total: trainCount }),
    });
    if (o.ranking === 'greedy') {
      ranks = await greedyRanking(classifier, layer, chunkSource(true), ranks, {
        depth: topN, metric: o.metric, classes: (o.rankingClasses ?? Object.keys(ranks)).filter((c) => ranks[c] !== undefined),
        onProgress: (done, total) => progress({ phase: 'greedy', done, total }),
      });
    }
    const gradients = await classGradients(classifier, layer, chunkSource(true), {
      onProgress: (d) => progress({ phase: 'gradients', done: d, total: trainCount }),
    });
    const curves = await ablationCurves(classifier, layer, chunkSource(false), ranks, {
      topN, onProgress: (d) => progress({ phase: 'ablation', done: d, total: heldCount }),
    });
    return {
      classImportance: Object.fromEntries(Object.entries(ranks).map(([k, v]) => [k, { ...v, split: 'train' as const }])),
      ablation: Object.fromEntries(Object.entries(curves).map(([k, v]) => [k, { ...v, split: 'heldout' as const }])),
      gradients,
    };
  } catch (err) {
    // A model that cannot run from an edited layer (e.g. a graph model) still gets its concept labels.
    if (!(err instanceof UnitAttackError && err.code === 'UA_MODEL')) throw err;
    return none(`the model cannot run from edited activations: ${err.message}`);
  }
}


/** The atlas of a finished dissection. */
function buildAtlas(
  classifier: Classifier, layer: string, layerShape: [number, number, number], probe: ProbeSet, labelSize: [number, number], topN: number, o: Resolved,
  passes: { units: AtlasUnit[]; tally: IouTally; used: number; skippedIds: string[] }, imp: ImportanceResult,
): Atlas {
  const pixelsOf = (id: number): number => passes.tally.labelCount[id] ?? 0;
  return {
    format: ATLAS_FORMAT, version: ATLAS_VERSION,
    model: classifier.name, fingerprint: classifier.fingerprint, layer, layerShape,
    inputSize: [classifier.inputSize[0], classifier.inputSize[1]], labelSize, classes: [...classifier.classNames],
    probe: {
      spec: probe.spec, kind: probe.kind, count: probe.count, used: passes.used,
      concepts: probe.concepts.map((c) => ({ id: c.id, name: c.name, category: c.category, pixels: pixelsOf(c.id) })),
      ...(probe.segmenter ? { segmenter: { name: probe.segmenter.name, fingerprint: probe.segmenter.fingerprint } } : {}),
    },
    params: {
      quantile: o.quantile, iouThreshold: o.iouThreshold, topN, topImages: o.topImages, metric: o.metric,
      trainFraction: o.trainFraction, sketchK: o.sketchK, seed: o.seed, importance: o.importance,
      ...(o.ranking === 'greedy' ? { ranking: 'greedy' as const, ...(o.rankingClasses ? { rankingClasses: [...o.rankingClasses] } : {}) } : {}),
      ...(o.threshold !== 'quantile' ? { threshold: o.threshold } : {}),
    },
    skipped: passes.skippedIds.length, skippedIds: passes.skippedIds,
    units: passes.units, classImportance: imp.classImportance, ablation: imp.ablation,
    ...(imp.gradients ? { classGradients: Object.fromEntries(Object.entries(imp.gradients).map(([k, v]) => [k, { ...roundGradient(v), split: 'train' as const }])) } : {}),
    ...(imp.note !== undefined ? { importanceNote: imp.note } : {}),
    created: new Date().toISOString(),
    tool: { name: 'unit-attack', version: version(), backend: tf.getBackend() },
  };
}

/**
 * Dissects `layer` of a classifier over a probe set and returns the unit atlas.
 *
 * @example
 * const clf = await loadClassifier('builtin:scenes-vgg16');
 * const { atlas } = await dissect(clf, 'builtin:scenes?count=2000&seed=7');
 * atlas.units.filter((u) => u.concept === 'snow').map((u) => u.unit);
 */
export async function dissect(classifier: Classifier, probeOrSpec: string | ProbeSet, options: DissectOptions = {}): Promise<DissectResult> {
  const t0 = Date.now();
  const { o, warn, progress, layer, shape: [h, w, C], probe, labelSize, topN, about, key } = await setUpDissection(classifier, probeOrSpec, options);
  const given = options.fromShards ? await openShardFiles(options.fromShards, key, shardIndices(probe.count, o.batchSize).length, about) : undefined;
  const cacheFile = o.cache ? dissectCacheFile(key, options.cacheDir ?? cacheRoot()) : undefined;
  const hit = cacheFile ? await cachedAtlas(cacheFile, key, classifier.fingerprint) : undefined;
  if (hit) return { atlas: hit.atlas, cached: true, cacheFile: hit.file, seconds: (Date.now() - t0) / 1000 };

  const store = await ActivationStore.create(h * w * C, probe.labelPlanes * labelSize[0] * labelSize[1], options.tmpDir);
  try {
    // Fixed shards of the probe set, each with fresh sketches merged in shard order: the same thresholds whether
    // the shards run here (the sketches then sort on the other core when a helper thread starts) or on a pool.
    const pool = poolFor(classifier);
    const classOf = new Int32Array(probe.count).fill(-1);
    const probeToModel = (probe.classNames ?? []).map((c) => classifier.classNames.indexOf(c));
    const passes = await layerPasses({
      layer, layerShape: [h, w, C], labelSize, count: probe.count, planes: probe.labelPlanes, concepts: probe.concepts, probeSpec: probe.spec,
      shard: (input, bank, onBatch) => tallyShard(classifier, probe, input, bank, onBatch),
      ...(pool && WORKER_PROBE_KINDS.has(probe.kind) ? { remote: pool } : {}),
      ...(cacheFile ? { resume: { dir: resumeDir(cacheFile), run: key } } : {}),
      ...(given ? { from: given } : {}),
      onShard(out) {
        out.indices.forEach((idx, i) => {
          const pc = out.classIndex?.[i] ?? -1;
          classOf[idx] = pc >= 0 ? probeToModel[pc] ?? -1 : -1;
        });
      },
    }, o, store, progress, warn);
    const imp = await importanceStep(classifier, layer, probe, store, classOf, passes.ids, o, topN, progress);
    if (imp.note !== undefined && o.importance) warn(`no class importance: ${imp.note}`);
    const atlas = buildAtlas(classifier, layer, [h, w, C], probe, labelSize, topN, o, passes, imp);
    const written = await cacheAtlasOrWarn(cacheFile, atlas, warn);
    await passes.journal?.clear();
    return { atlas, cached: false, ...(written ? { cacheFile: written } : {}), seconds: (Date.now() - t0) / 1000 };
  } finally {
    await store.close();
  }
}
