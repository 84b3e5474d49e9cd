/**
 * The two passes of dissection and the labelling of units, shared by every source of activations and label maps: a
 * classifier on a probe set (exact masks or a segmenter's) and a generator on its own samples (a segmenter's masks).
 *
 * Pass 1 cuts the probe into fixed shards; each shard's upsampled activations go into fresh sketches seeded for
 * that shard, merged in shard order, and its raw activations and label maps into the store. Each unit's threshold is
 * its top-quantile level. Pass 2 reads the store back and counts, per unit and concept, the pooled IoU of the
 * thresholded map with the concept's mask — and, with the IQR threshold, the same counts at a grid of levels per
 * unit, from which each (unit, concept) takes the level of highest information quality ratio.
 */
import type { Executor } from '../../parallel/executor.js';
import { runOrdered } from '../../parallel/executor.js';
import { UnitAttackError } from '../../errors.js';
import type { AtlasUnit, ConceptMatch } from '../atlas.js';
import { IouTally, LevelTally, iouCeiling, thresholdGrid } from '../iou.js';
import type { ProbeConcept } from '../probe.js';
import type { QuantileSketch } from '../quantile.js';
import type { ActivationStore, StoredBatch } from '../store.js';
import { createSketchBank, type SketchBank } from './sketch-bank.js';
import {
  addIouCounts, mergeShardSketches, shardIndices, shardSeeds, tallyIouBatch,
  type IouCounts, type IouInput, type ShardInput, type ShardOutput,
} from './shards.js';
import { ShardJournal } from './shard-file.js';
import { TopImages } from './top-images.js';

/** How each unit's active region is chosen. */
export type ThresholdMethod = 'quantile' | 'iqr';

/** Quantiles recorded per unit (`levels` in the atlas), e.g. for insertion at the 99.5th percentile. */
export const UNIT_LEVELS = [0.99, 0.995, 0.999] as const;

/** Where the passes' activations and label maps come from. */
export interface LayerSource {
  layer: string;
  layerShape: [number, number, number];
  labelSize: [number, number];
  /** Probe items (images or latents) `0 … count − 1`. */
  count: number;
  /** Label planes per item. */
  planes: number;
  concepts: readonly ProbeConcept[];
  /** The spec workers open the probe from. */
  probeSpec: string;
  /** Pass 1 of one shard on this thread. */
  shard(input: ShardInput, bank: SketchBank, onBatch: (images: number) => void): Promise<ShardOutput>;
  /** Workers that run both passes' tasks (`dissect-shard`, opening the probe from `probeSpec`, and `dissect-iou`). */
  remote?: Pick<Executor, 'size' | 'run' | 'limit'>;
  /** The task `remote` runs pass 1 of a shard with. @defaultValue `dissect-shard` (a classifier's) */
  remoteShardTask?: string;
  /** Hears each shard's answer, in shard order, after its batches are stored. */
  onShard?(out: ShardOutput): void;
  /**
   * Keep each shard's pass 1 in `dir` as it finishes, and take shards kept there by an earlier, interrupted run of the
   * same dissection (`run`, its cache key) instead of computing them again. @defaultValue no journal
   */
  resume?: { dir: string; run: string };
  /** Shards computed elsewhere (e.g. by `dissect --shard i/N`), taken instead of computing them. */
  from?: { read(shard: number): Promise<ShardOutput | undefined> };
}

/** The settings the passes use. */
export interface PassOptions {
  quantile: number;
  iouThreshold: number;
  topImages: number;
  batchSize: number;
  sketchK: number;
  seed: number;
  threshold: ThresholdMethod;
}

/** What the passes found. */
export interface PassResult {
  units: AtlasUnit[];
  tally: IouTally;
  used: number;
  ids: Map<number, string>;
  skippedIds: string[];
  /** The shard files kept for a resume; the caller clears them when its result is safe. */
  journal?: ShardJournal;
}

/** Progress of the passes. */
export type PassProgress = (p: { phase: 'activations' | 'iou'; done: number; total: number }) => void;

/** Runs pass 1 and pass 2 over `src`, storing activations and labels in `store` (left open for the caller). */
export async function layerPasses(
  src: LayerSource, o: PassOptions, store: ActivationStore, progress: PassProgress, warn: (m: string) => void,
): Promise<PassResult> {
  const [h, w, C] = src.layerShape;
  const { labelSize, planes } = src;
  const lp = labelSize[0] * labelSize[1];
  const remote = src.remote;
  const shards = shardIndices(src.count, o.batchSize);
  const top = new TopImages(C, o.topImages, h * w);
  const ids = new Map<number, string>();
  const skippedIds: string[] = [];
  let used = 0;
  let seen = 0;
  let totals: QuantileSketch[] | undefined;
  const actsPer = h * w * C; const labelsPer = planes * lp;
  const take = async (out: ShardOutput): Promise<void> => {
    totals = mergeShardSketches(totals, out.sketches);
    for (const [id, reason] of out.skipped) { skippedIds.push(id); warn(`skipped the probe image '${id}': ${reason}`); }
    for (let a = 0; a < out.indices.length; a += o.batchSize) {
      const b = Math.min(out.indices.length, a + o.batchSize);
      const acts = out.acts.subarray(a * actsPer, b * actsPer);
      const idx = out.indices.slice(a, b);
      await store.append(acts, out.labels.subarray(a * labelsPer, b * labelsPer), idx);
      top.add(acts, idx);
    }
    out.indices.forEach((idx, i) => ids.set(idx, out.ids[i]));
    src.onShard?.(out);
    used += out.indices.length;
    seen += out.skipped.length;
    progress({ phase: 'activations', done: seen, total: src.count });
  };
  const onBatch = (n: number): void => { seen += n; progress({ phase: 'activations', done: seen, total: src.count }); };
  const journal = src.resume ? await ShardJournal.open(src.resume.dir, src.resume.run, shards.length) : undefined;
  // A shard given (`from`) or kept by an earlier run of the same dissection counts as done at once; a shard computed
  // here is kept as it finishes.
  await runShards(src, o, shards.map((_, s) => s), {
    async ready(s) {
      const out = (await src.from?.read(s)) ?? (await journal?.read(s));
      if (out) onBatch(out.indices.length);
      return out;
    },
    async take(s, out, fresh) {
      if (fresh && journal) await journal.write(s, out);
      await take(out);
    },
    onBatch,
  });
  if (journal && journal.resumed > 0) warn(`resumed an interrupted dissection: ${journal.resumed} of ${shards.length} shards were read from '${journal.dir}'`);
  if (used === 0 || !totals) {
    throw new UnitAttackError('UA_INPUT', `no probe image of '${src.probeSpec}' could be read (${skippedIds.length} skipped)`, { path: 'probe' });
  }
  const thresholds = Float32Array.from(totals, (t) => t.quantile(1 - o.quantile));
  const unitLevels = totals.map((t) => UNIT_LEVELS.map((q) => t.quantile(q)));
  const grid = o.threshold === 'iqr' ? thresholdGrid() : undefined;
  let gridLevels: Float32Array | undefined;
  if (grid) {
    gridLevels = new Float32Array(C * grid.length);
    totals.forEach((t, u) => grid.forEach((f, g) => { gridLevels![u * grid.length + g] = t.quantile(1 - f); }));
  }
  totals = undefined;

  // ---- pass 2: pooled IoU ----
  const maxId = src.concepts.reduce((m, c) => Math.max(m, c.id), 0);
  const tally = new IouTally(C, maxId + 1);
  const levels = grid && gridLevels ? new LevelTally(C, maxId + 1, gridLevels, grid.length) : undefined;
  let done = 0;
  const iouInput = (b: StoredBatch): IouInput => ({
    acts: b.acts, labels: b.labels, count: b.count, layerShape: [h, w, C], labelSize, planes, thresholds, labelValues: maxId + 1,
    ...(gridLevels && grid ? { levels: gridLevels, grid: grid.length } : {}),
  });
  const addBatch = (c: IouCounts, b: StoredBatch): void => {
    addIouCounts(tally, c, levels);
    done += b.count;
    progress({ phase: 'iou', done, total: used });
  };
  if (remote) {
    await runOrdered(store.batches(), remote.size * 2, (b) => remote.run<IouCounts>({
      kind: 'dissect-iou', input: iouInput(b), transfer: [b.acts.buffer as ArrayBuffer],
      label: `the IoU of probe images ${b.indices[0]}–${b.indices[b.indices.length - 1]}`,
    }), addBatch);
  } else {
    for await (const b of store.batches()) addBatch(await tallyIouBatch(iouInput(b)), b);
  }
  const units = labelUnits({ tally, levels, grid, gridLevels, thresholds, unitLevels, concepts: src.concepts, iouThreshold: o.iouThreshold, top, ids });
  return { units, tally, used, ids, skippedIds, ...(journal ? { journal } : {}) };
}

/** How {@link runShards} gets shards done elsewhere and hands each shard on. */
export interface ShardSink {
  /** A shard already done (read from a file), or `undefined` to compute it. */
  ready(s: number): Promise<ShardOutput | undefined>;
  /** Each shard, in shard order; `fresh` when it was computed here. */
  take(s: number, out: ShardOutput, fresh: boolean): Promise<void>;
  onBatch(images: number): void;
}

/**
 * Pass 1 of shards `wanted` (ascending) of `src`'s fixed shard plan, on the pool when `src` has one, else on this
 * thread with one sketch bank reset per shard; each shard is handed to `sink.take` in order.
 */
export async function runShards(src: LayerSource, o: PassOptions, wanted: readonly number[], sink: ShardSink): Promise<void> {
  const C = src.layerShape[2];
  const shards = shardIndices(src.count, o.batchSize);
  const remote = src.remote;
  // More threads than shards would only load idle copies of the model.
  remote?.limit?.(wanted.length);
  const shardInput = (s: number): ShardInput => ({
    probe: src.probeSpec, indices: shards[s], layer: src.layer, labelSize: src.labelSize, batchSize: o.batchSize, sketchK: o.sketchK, seeds: shardSeeds(o.seed, s, C),
  });
  if (remote) {
    await runOrdered([...wanted], remote.size * 2, async (s) => {
      const out = await sink.ready(s);
      return { s, fresh: !out, out: out ?? await remote.run<ShardOutput>({
        kind: src.remoteShardTask ?? 'dissect-shard', input: shardInput(s), onProgress: (n) => sink.onBatch(n as number),
        label: `probe images ${shards[s][0]}–${shards[s][shards[s].length - 1]} (shard ${s + 1} of ${shards.length})`,
      }) };
    }, (r) => sink.take(r.s, r.out, r.fresh));
    return;
  }
  let sketches: SketchBank | undefined;
  try {
    for (const s of wanted) {
      const out = await sink.ready(s);
      if (out) { await sink.take(s, out, false); continue; }
      if (sketches) await sketches.reset(shardSeeds(o.seed, s, C));
      else sketches = await createSketchBank(o.sketchK, shardSeeds(o.seed, s, C));
      await sink.take(s, await src.shard(shardInput(s), sketches, (n) => sink.onBatch(n)), true);
    }
  } finally {
    await sketches?.close();
  }
}

/** `x` to `digits` significant digits (NaN and infinities as they are). */
export function sig(x: number, digits = 6): number {
  return Number.isFinite(x) ? Number(x.toPrecision(digits)) : x;
}

const CONCEPTS_PER_UNIT = 3;

interface LabelInput {
  tally: IouTally;
  levels: LevelTally | undefined;
  grid: number[] | undefined;
  gridLevels: Float32Array | undefined;
  thresholds: Float32Array;
  unitLevels: number[][];
  concepts: readonly ProbeConcept[];
  iouThreshold: number;
  top: TopImages;
  ids: Map<number, string>;
}

/**
 * Best concept overall and per category for every unit. Each match carries its IoU ceiling: the best IoU a mask of
 * the unit's active size could reach against the concept's mask ({@link iouCeiling}). With the IQR threshold, each
 * (unit, concept) is measured at its own level (the highest information quality ratio), and concepts rank by the IoU
 * there.
 */
function labelUnits(x: LabelInput): AtlasUnit[] {
  const { tally, levels, grid, gridLevels } = x;
  const units: AtlasUnit[] = [];
  for (let u = 0; u < tally.units; u++) {
    const scored: ConceptMatch[] = x.concepts.map((c) => {
      if (levels && grid && gridLevels) {
        const b = levels.best(u, c.id);
        return {
          concept: c.name, category: c.category, iou: b.iou, ceiling: iouCeiling(b.active, levels.labelCount[c.id]),
          threshold: gridLevels[u * grid.length + b.level], level: grid[b.level], iqr: b.iqr,
        };
      }
      return { concept: c.name, category: c.category, iou: tally.iou(u, c.id), ceiling: iouCeiling(tally.activeCount[u], tally.labelCount[c.id]) };
    }).sort((a, b) => b.iou - a.iou || a.concept.localeCompare(b.concept));
    const best = scored[0];
    const perCategory: AtlasUnit['perCategory'] = {};
    for (const s of scored) if (!perCategory[s.category]) perCategory[s.category] = { concept: s.concept, iou: sig(s.iou) };
    const labelled = best !== undefined && best.iou > x.iouThreshold;
    const round = (m: ConceptMatch): ConceptMatch => ({
      concept: m.concept, category: m.category, iou: sig(m.iou),
      ...(m.ceiling !== undefined ? { ceiling: sig(m.ceiling) } : {}),
      ...(m.threshold !== undefined ? { threshold: sig(m.threshold, 9) } : {}), // 9 digits: the float32 level exactly
      ...(m.level !== undefined ? { level: sig(m.level, 4) } : {}),
      ...(m.iqr !== undefined ? { iqr: sig(m.iqr) } : {}),
    });
    units.push({
      unit: u,
      threshold: sig(x.thresholds[u], 7),
      concept: labelled ? best.concept : null,
      category: labelled ? best.category : null,
      iou: sig(best?.iou ?? 0),
      ...(best?.ceiling !== undefined ? { ceiling: sig(best.ceiling) } : {}),
      levels: Object.fromEntries(x.unitLevels[u].map((v, i) => [String(UNIT_LEVELS[i]), sig(v, 7)])),
      perCategory,
      topConcepts: scored.slice(0, CONCEPTS_PER_UNIT).filter((s) => s.iou > 0).map(round),
      topImages: x.top.entries(u).map((e) => ({ index: e.index, id: x.ids.get(e.index) ?? String(e.index), value: sig(e.value), map: Array.from(e.map, (v) => sig(v, 5)) })),
    });
  }
  return units;
}
