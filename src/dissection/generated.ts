/**
 * Dissection of a generator (GAN Dissection; PNAS 2020, Fig. 3): the probe is the generator's own samples — latents
 * `0 … samples − 1` of a seed — and their label maps come from a segmenter applied to the generated images. The
 * layer's activations of each sample and the segmenter's masks of the same sample then go through the same passes,
 * thresholds and IoU tally as a classifier's dissection (`_internals/passes.ts`).
 *
 * The samples are also a probe kind, `generated:<generator>?seed=S&count=N` (images only, no labels), so an atlas's
 * strips reopen them from its spec like any probe set.
 */
import * as tf from '../tf.js';
import { UnitAttackError, usageError } from '../errors.js';
import { loadGenerator } from '../gan/generator.js';
import type { Generator } from '../gan/types.js';
import { loadSegmenter, type Segmenter } from '../segment/segmenter.js';
import { layerPasses, type ThresholdMethod } from './_internals/passes.js';
import { SHARD_BATCHES, tallyBatches, type LayerBatch, type ShardInput } from './_internals/shards.js';
import { startGanPool } from '../gan/pool.js';
import type { Executor } from '../parallel/executor.js';
import { ATLAS_FORMAT, ATLAS_VERSION, type Atlas } from './atlas.js';
import { cacheAtlasOrWarn, cacheKey, cacheRoot, dissectCacheFile, readCachedAtlas, resumeDir } from './cache.js';
import { ALGORITHM_VERSION, version, type DissectProgress, type DissectResult } from './dissect.js';
import { registerProbeKind, type ProbeItem, type ProbeKind, type ProbeSet } from './probe.js';
import { segmentLabelGrid } from './segmented.js';
import { ActivationStore } from './store.js';

export const GENERATED_PREFIX = 'generated:';

/** The probe spec of a generator's samples: latents `0 … count − 1` of stream `seed`. */
export function generatedSpec(generator: string, seed: number, count: number): string {
  return `${GENERATED_PREFIX}${generator}?seed=${seed}&count=${count}`;
}

/** Splits a `generated:` spec into the generator spec, the seed and the count. */
export function parseGeneratedSpec(spec: string): { generator: string; seed: number; count: number } {
  const rest = spec.slice(GENERATED_PREFIX.length);
  const q = rest.lastIndexOf('?');
  const params = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  const seed = Number(params.get('seed')); const count = Number(params.get('count'));
  if (!spec.startsWith(GENERATED_PREFIX) || q <= 0 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(count) || count < 1) {
    throw usageError(`cannot read the probe spec '${spec}'`, { path: 'probe', hint: 'write it as generated:<generator>?seed=S&count=N, e.g. generated:builtin:scenes-gan?seed=1&count=100' });
  }
  return { generator: rest.slice(0, q), seed, count };
}

/** Sample ids in atlases and file names: `sample-00042`. */
export function sampleId(index: number): string {
  return `sample-${String(index).padStart(5, '0')}`;
}

/** Generators this thread has loaded, by spec (the report reopens the samples). */
const generators = new Map<string, Promise<Generator>>();

function generatorFor(spec: string): Promise<Generator> {
  let g = generators.get(spec);
  if (!g) {
    g = loadGenerator(spec);
    generators.set(spec, g);
    g.catch(() => generators.delete(spec));
  }
  return g;
}

/** Pixel-space images `[n, S, S, 3]` as RGB bytes. */
async function toBytes(images: tf.Tensor4D): Promise<Uint8Array> {
  const v = await images.data();
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, v[i])) * 255);
  return out;
}

/** A generator's samples as a probe set without labels (label them with `withSegmenter`). */
export function generatedProbe(g: Generator, seed: number, count: number, spec = generatedSpec(g.name, seed, count)): ProbeSet {
  const S = g.outputSize;
  return {
    kind: 'generated', spec, signature: `generated:${g.fingerprint}?seed=${seed}&count=${count}`, count,
    imageSize: [S, S], labelPlanes: 0, concepts: [], classNames: undefined,
    async load(index): Promise<ProbeItem | null> {
      if (!Number.isInteger(index) || index < 0 || index >= count) throw usageError(`sample ${index} is out of range 0…${count - 1}`, { path: 'index' });
      const z = g.latents(seed, index, 1);
      const { images } = g.generate(z);
      z.dispose();
      try {
        return { index, id: sampleId(index), image: await toBytes(images), labels: new Uint16Array(0) };
      } finally {
        images.dispose();
      }
    },
  };
}

/** The `generated:<generator>?seed=S&count=N` probe kind. */
export const generatedProbeKind: ProbeKind = {
  name: 'generated',
  usage: 'generated:<generator>?seed=S&count=N — samples of a generator (latents 0…N−1 of seed S), images only',
  accepts: (spec) => spec.startsWith(GENERATED_PREFIX),
  async open(spec, options) {
    const { generator, seed, count } = parseGeneratedSpec(spec);
    const g = await generatorFor(generator);
    if (options.inputSize[0] !== g.outputSize || options.inputSize[1] !== g.outputSize) {
      throw usageError(`the generator '${generator}' makes ${g.outputSize}×${g.outputSize} images, not ${options.inputSize[1]}×${options.inputSize[0]}`, { path: 'probe' });
    }
    return generatedProbe(g, seed, count, spec);
  },
};

registerProbeKind(generatedProbeKind);

/**
 * Pass-1 batches of a generator's samples: latents `input.indices` (contiguous) of `seed`, generated in batches of
 * `input.batchSize` with the layer tapped, labelled by the segmenter and taken to `input.labelSize` by nearest
 * neighbour.
 */
export async function* generatedBatches(g: Generator, seg: Segmenter, seed: number, input: ShardInput): AsyncGenerator<LayerBatch> {
  const S = g.outputSize;
  const [lh, lw] = input.labelSize;
  for (let a = 0; a < input.indices.length; a += input.batchSize) {
    const idx = input.indices.slice(a, a + input.batchSize);
    const n = idx.length;
    const z = g.latents(seed, idx[0], n);
    let r;
    try {
      r = g.generate(z, { taps: [input.layer] });
    } finally {
      z.dispose();
    }
    let pixels: Float32Array;
    try {
      pixels = (await r.images.data()) as Float32Array;
    } catch (err) {
      tf.dispose(r.taps[input.layer]);
      throw err;
    } finally {
      r.images.dispose();
    }
    const labels = segmentLabelGrid(seg, pixels, n, S, S, [lh, lw]);
    yield { acts: r.taps[input.layer] as tf.Tensor4D, labels, indices: idx, ids: idx.map(sampleId) };
  }
}

/**
 * Starts `workers` generator threads (no more than there are shards), each loading the generator and the segmenter,
 * that run the `dissect-generated-shard` and `dissect-iou` tasks. `undefined` (the work then stays on this thread)
 * when threads cannot start here, or one fails to load — said through `warn`.
 */
async function startGeneratedPool(g: Generator, seg: Segmenter, segmenter: string, workers: number, shards: number, warn: (m: string) => void): Promise<Executor | undefined> {
  const n = Math.max(1, Math.min(workers, shards));
  if (n < 2) return undefined;
  const { pool, reason } = await startGanPool({ generator: g.name, segmenter, fingerprints: { generator: g.fingerprint, segmenter: seg.fingerprint }, workers: n });
  if (!pool) warn(`the sample workers could not start (${reason ?? 'unknown reason'}); working on this thread`);
  return pool;
}

/** Options for {@link dissectGenerator}. */
export interface DissectGeneratorOptions {
  /** Labels the samples: `builtin:scenes-segmenter`, a segmenter folder, or a loaded {@link Segmenter}. */
  segmenter: string | Segmenter;
  /** @defaultValue the generator's default layer (`layer4` for the built-in generator) */
  layer?: string;
  /** Samples: latents `0 … samples − 1` of `seed`. @defaultValue 2000 */
  samples?: number;
  /** Seed of the latent stream and of the sketches. @defaultValue 1 (as the PNAS experiment) */
  seed?: number;
  /** Top quantile of each unit's upsampled activations that counts as active. @defaultValue 0.01 */
  quantile?: number;
  /** @defaultValue `quantile` (see `DissectOptions.threshold`) */
  threshold?: ThresholdMethod;
  /** @defaultValue 0.04 */
  iouThreshold?: number;
  /** Top-activating samples kept per unit. @defaultValue 8 */
  topImages?: number;
  /** @defaultValue 32 */
  batchSize?: number;
  /** `[height, width]` of the label maps. @defaultValue half the output side (32×32 for 64×64 samples) */
  labelSize?: readonly [number, number];
  /** @defaultValue 16384 */
  sketchK?: number;
  /**
   * Threads that generate, segment and sketch the samples, each loading the generator (by its name, a spec) and the
   * segmenter (given as a spec) itself; 1 works on this thread, the sketches on a helper thread. @defaultValue 1
   */
  workers?: number;
  /** @defaultValue true */
  cache?: boolean;
  cacheDir?: string;
  tmpDir?: string;
  onProgress?: (p: DissectProgress) => void;
  onWarning?: (message: string) => void;
}

/**
 * Checks that `layer` of `g` has a spatial map (rank 4, height and width ≥ 2) that dissection can upsample and
 * threshold; a `UA_LAYER` error listing the layers that do otherwise.
 */
export function dissectableLayer(g: Generator, layer: string): [number, number, number] {
  const info = g.layer(layer);
  if (!info.spatial || info.shape.length !== 3 || !(info.shape[0] >= 2 && info.shape[1] >= 2)) {
    const ok = g.layers.filter((l) => l.spatial && l.shape.length === 3 && l.shape[0] >= 2 && l.shape[1] >= 2).map((l) => `${l.name} (${l.shape[0]}×${l.shape[1]})`);
    throw new UnitAttackError('UA_LAYER', `layer '${layer}' of generator '${g.name}' has output shape [${info.shape.join(', ')}]; dissection needs a spatial map [H, W, units] with H, W ≥ 2 (like the 8×8 layer4)`, {
      path: 'layer', hint: ok.length > 0 ? `layers with spatial maps: ${ok.join(', ')}` : 'this generator lists no layer with a spatial map',
    });
  }
  return info.shape as [number, number, number];
}

/**
 * Dissects `layer` of a generator over its samples labelled by a segmenter, and returns the unit atlas (no class
 * importance: a generator has no classes).
 *
 * @example
 * const g = await loadGenerator('builtin:scenes-gan');
 * const { atlas } = await dissectGenerator(g, { segmenter: 'builtin:scenes-segmenter', samples: 1000 });
 * atlas.units.filter((u) => u.concept === 'tree').map((u) => u.unit);
 */
export async function dissectGenerator(g: Generator, options: DissectGeneratorOptions): Promise<DissectResult> {
  const t0 = Date.now();
  const warn = options.onWarning ?? (() => undefined);
  const progress = options.onProgress ?? (() => undefined);
  const samples = options.samples ?? 2000;
  if (!Number.isSafeInteger(samples) || samples < 1) throw usageError(`samples must be a whole number ≥ 1, got ${String(options.samples)}`, { path: 'samples', hint: 'e.g. 10000 as in the PNAS experiment, or 100 for a quick look' });
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw usageError(`seed must be an integer, got ${String(options.seed)}`, { path: 'seed' });
  const threshold: ThresholdMethod = options.threshold ?? 'quantile';
  const o = {
    quantile: options.quantile ?? 0.01, iouThreshold: options.iouThreshold ?? 0.04, topImages: options.topImages ?? 8,
    batchSize: options.batchSize ?? 32, sketchK: options.sketchK ?? 16384, seed, threshold,
  };
  if (!(o.quantile > 0 && o.quantile < 1)) throw usageError(`quantile must be in (0, 1), got ${String(options.quantile)}`, { path: 'quantile', hint: 'the PNAS setting is 0.01 (the 99th percentile)' });
  if (!(o.iouThreshold >= 0 && o.iouThreshold <= 1)) throw usageError(`iouThreshold must be in [0, 1], got ${String(options.iouThreshold)}`, { path: 'iouThreshold' });
  if (!Number.isInteger(o.topImages) || o.topImages < 0 || o.topImages > 64) throw usageError(`topImages must be an integer in 0…64, got ${String(options.topImages)}`, { path: 'topImages' });
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw usageError(`batchSize must be a positive integer, got ${String(options.batchSize)}`, { path: 'batchSize' });
  if (o.threshold !== 'quantile' && o.threshold !== 'iqr') throw usageError(`threshold must be 'quantile' or 'iqr', got '${String(options.threshold)}'`, { path: 'threshold' });
  const layer = options.layer ?? g.defaultLayer;
  const [h, w, C] = dissectableLayer(g, layer);
  const S = g.outputSize;
  const labelSize: [number, number] = options.labelSize ? [options.labelSize[0], options.labelSize[1]] : [Math.max(1, Math.round(S / 2)), Math.max(1, Math.round(S / 2))];
  if (!labelSize.every((v) => Number.isInteger(v) && v > 0)) throw usageError(`labelSize must be two positive integers, got ${JSON.stringify(options.labelSize)}`, { path: 'labelSize' });

  const ownSegmenter = typeof options.segmenter === 'string';
  const seg = typeof options.segmenter === 'string' ? await loadSegmenter(options.segmenter) : options.segmenter;
  try {
    if (seg.concepts.length === 0) {
      throw usageError(`the segmenter '${seg.name}' names no concepts, so there is nothing to match units with`, { path: 'segmenter', hint: 'use a segmenter whose sidecar lists categories with concepts, e.g. builtin:scenes-segmenter' });
    }
    const segName = typeof options.segmenter === 'string' ? options.segmenter : seg.name;
    const probeSpec = generatedSpec(g.name, seed, samples);
    const keyParts = {
      algorithm: ALGORITHM_VERSION, atlas: ATLAS_VERSION, kind: 'generator', fingerprint: g.fingerprint, layer, seed, samples,
      segmenter: seg.fingerprint, labelSize, quantile: o.quantile, threshold: o.threshold, iouThreshold: o.iouThreshold,
      topImages: o.topImages, sketchK: o.sketchK,
    };
    const key = cacheKey(keyParts);
    const cacheFile = options.cache ?? true ? dissectCacheFile(key, options.cacheDir ?? cacheRoot()) : undefined;
    if (cacheFile) {
      const hit = await readCachedAtlas(cacheFile);
      if (hit) return { atlas: hit, cached: true, cacheFile, seconds: (Date.now() - t0) / 1000 };
    }
    const planes = seg.categories.length;
    const [rh, rw] = seg.runSize(S, S);
    if (rh !== S || rw !== S) warn(`the segmenter '${segName}' runs at ${rw}×${rh}: the ${S}×${S} samples are resized for it and its label maps resized back`);

    // Threads that generate, segment and sketch shards of the samples (each with its own copies of both models), when
    // more than one is asked for and they can start; the atlas is the same with any number of them.
    const workers = options.workers ?? 1;
    const pool = workers > 1 && typeof options.segmenter === 'string'
      ? await startGeneratedPool(g, seg, options.segmenter, workers, Math.ceil(samples / (o.batchSize * SHARD_BATCHES)), warn)
      : undefined;
    const store = await ActivationStore.create(h * w * C, planes * labelSize[0] * labelSize[1], options.tmpDir);
    let passes;
    try {
      passes = await layerPasses({
        layer, layerShape: [h, w, C], labelSize, count: samples, planes, concepts: seg.concepts, probeSpec,
        shard: (input, bank, onBatch) => tallyBatches(generatedBatches(g, seg, seed, input), labelSize, bank, onBatch),
        ...(pool ? { remote: pool, remoteShardTask: 'dissect-generated-shard' } : {}),
        ...(cacheFile ? { resume: { dir: resumeDir(cacheFile), run: key } } : {}),
      }, o, store, progress, warn);
    } finally {
      await store.close();
      await pool?.close();
    }
    const { units, tally, used } = passes;
    const atlas: Atlas = {
      format: ATLAS_FORMAT, version: ATLAS_VERSION,
      model: g.name, fingerprint: g.fingerprint, layer, layerShape: [h, w, C], inputSize: [S, S], labelSize, classes: [],
      probe: {
        spec: probeSpec, kind: 'generated', count: samples, used,
        concepts: seg.concepts.map((c) => ({ id: c.id, name: c.name, category: c.category, pixels: tally.labelCount[c.id] ?? 0 })),
        segmenter: { name: segName, fingerprint: seg.fingerprint },
      },
      params: {
        quantile: o.quantile, iouThreshold: o.iouThreshold, topN: 0, topImages: o.topImages, metric: 'logprob', trainFraction: 0.5,
        sketchK: o.sketchK, seed, importance: false, ...(o.threshold !== 'quantile' ? { threshold: o.threshold } : {}),
      },
      skipped: 0, skippedIds: [],
      units, classImportance: {}, ablation: {},
      importanceNote: 'class importance does not apply to a generator (it has no classes); measure what its units draw with `unit-attack ablate` and `unit-attack insert`',
      generator: { latentSize: g.latentSize, seed, outputRange: [g.outputRange[0], g.outputRange[1]] },
      created: new Date().toISOString(),
      tool: { name: 'unit-attack', version: version(), backend: tf.getBackend() },
    };
    const written = await cacheAtlasOrWarn(cacheFile, atlas, warn);
    await passes.journal?.clear();
    return { atlas, cached: false, ...(written ? { cacheFile: written } : {}), seconds: (Date.now() - t0) / 1000 };
  } finally {
    if (ownSegmenter) seg.dispose();
  }
}
