/**
 * Training of the built-in scene segmenter (`builtin:scenes-segmenter`): the encoder–decoder of `segment/net.ts`
 * trained from scratch on the scene world's exact label maps, with augmentation, on sizes that alternate step by
 * step (96×96, the classifier's input, and 64×64, the generator's output). Data-parallel over threads like the
 * classifier's training, checkpointed, resumable.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { CONCEPTS, RENDERABLE_SCENE_CLASSES, SCENE_CLASSES } from '../data/scenes/index.js';
import { UnitAttackError, usageError } from '../errors.js';
import type { BackendName } from '../engine/backend.js';
import { buildSegmenterNet, SCENE_SEGMENTER_CATEGORIES, segmenterMultiple, type SegmenterNetOptions } from '../segment/net.js';
import { BUILTIN_SEGMENTERS, fromSegmenterModel, type Segmenter } from '../segment/segmenter.js';
import { readArtifacts } from '../models/io.js';
import { flattenVariables, gatherShards, splitBatch, trainableVariables } from './shard.js';
import { segmenterShardGradient, type SegmenterShardContext } from './segmenter-shard.js';
import { balanceWeights, conceptShares, focusClasses } from './segmenter-batch.js';
import { calibrateSegmenter, type SegmenterCalibration } from './segmenter-calibrate.js';
import { restoreCheckpoint, saveCheckpoint } from './train.js';
import { TrainWorkers } from './workers.js';

/** Options for {@link trainSegmenter}; the defaults are the recipe of `builtin:scenes-segmenter`. */
export interface TrainSegmenterOptions {
  /** Folder for the model, checkpoints and the model card. */
  out: string;
  /** Seed of the initial weights, of the training scenes and of their augmentation. @defaultValue 1 */
  seed?: number;
  /** Optimiser steps. @defaultValue 3000 */
  steps?: number;
  /** Scenes per step. @defaultValue 16 */
  batchSize?: number;
  /** Adam learning rate, cosine-decayed to 5% over the run. @defaultValue 0.002 */
  learningRate?: number;
  /** Scene sizes, one per step in turn (each a multiple of 32). @defaultValue [96, 64] */
  sizes?: readonly number[];
  /** @defaultValue [16, 32, 64, 96, 128] */
  encoderWidths?: readonly number[];
  /** @defaultValue [96, 64, 48, 24] */
  decoderWidths?: readonly number[];
  /** @defaultValue 100 */
  checkpointEvery?: number;
  /** Held-out scenes of the final evaluation, at each size. @defaultValue 2000 */
  evalCount?: number;
  /** @defaultValue 1_000_003 */
  evalSeed?: number;
  /** @defaultValue true */
  resume?: boolean;
  /** Stop after this many steps in this call; the run can be resumed. */
  maxSteps?: number;
  /**
   * Start from the weights of this segmenter (`builtin:scenes-segmenter` or a folder of the same architecture) instead
   * of a fresh initialisation: a new schedule that continues an earlier run. Ignored when resuming a checkpoint. The
   * last decoder level and any encoder level above the deepest may be wider than the source's ({@link widenWeight}):
   * the net starts with the source's output and trains the new channels; a change that would alter the output (a wider
   * layer whose channels come first in a concatenation: the deepest encoder level, a decoder level below the last) is
   * refused.
   */
  initFrom?: string;
  /** Threads that share every batch. @defaultValue 1 */
  workers?: number;
  /** Scene classes, drawn in turn; a class named twice is drawn twice as often. @defaultValue the 12 scene classes */
  classes?: readonly string[];
  /**
   * Class balance of the cross-entropy: the exponent alpha of `balanceWeights` (0 = every pixel counts the same,
   * 0.5 = weights ∝ 1/√share, capped), from the concept shares of the run's first {@link BALANCE_SCENES} scenes.
   * @defaultValue 0
   */
  balance?: number;
  /**
   * Scenes on which, once training is done, a logit offset per channel is fitted to maximise each concept's IoU and
   * folded into the head's bias ({@link calibrateSegmenter}): scenes `steps × batchSize …` of the run's own stream,
   * which it never trained on (nor is the held-out seed used). 0 = no calibration. @defaultValue 0
   */
  calibrate?: number;
  /**
   * Concepts whose scenes are drawn more often: a share {@link focusShare} of the scenes is redrawn from the classes
   * that can show one of them until one does ({@link focusScene}). Rare small parts (doors, windows) are seen in a
   * few scenes in a hundred otherwise. @defaultValue none
   */
  focus?: readonly string[];
  /** Share of the scenes drawn for {@link focus}, in (0, 1]. @defaultValue 0.5 */
  focusShare?: number;
  /**
   * Concepts whose Lovász–Jaccard loss joins the cross-entropy (`segmenterLossSum`): a loss on their IoU itself, for
   * small or thin concepts whose edges the cross-entropy gives up. @defaultValue none
   */
  lovasz?: readonly string[];
  /**
   * Images whose pixels one Lovász term pools (1 = each image on its own): with more, the loss is on the pooled IoU of
   * each group of that many consecutive scenes of a batch — the IoU the figures measure, so that a concept drawn on an
   * image that does not show it counts as well. It must divide `batchSize`; the helper threads' shares of a batch are
   * whole groups, so a run's steps do not depend on its thread count. @defaultValue 1
   */
  lovaszPool?: number;
}

/** Scenes whose concept shares set the weights of a balanced run. */
export const BALANCE_SCENES = 384;

export type ResolvedTrainSegmenterOptions = Required<Omit<TrainSegmenterOptions, 'maxSteps' | 'initFrom'>> & { maxSteps?: number; initFrom?: string };

export interface TrainSegmenterProgress { step: number; totalSteps: number; size: number; loss: number; pixelAccuracy: number }

export interface TrainSegmenterHooks {
  onStep?(p: TrainSegmenterProgress): void;
  onCheckpoint?(step: number): void;
  onEvalProgress?(size: number, done: number, total: number): void;
}

export interface TrainSegmenterResult {
  model: tf.LayersModel;
  segmenter: Segmenter;
  options: ResolvedTrainSegmenterOptions;
  steps: number;
  finished: boolean;
  trainSeconds: number;
  lossHistory: Array<{ step: number; size: number; loss: number; pixelAccuracy: number }>;
  segments: Array<{ fromStep: number; workers: number }>;
  /** The cross-entropy weights per channel of each category, when `balance` > 0. */
  weights?: number[][];
  /** The fitted logit offsets, when `calibrate` > 0 and the run finished. */
  calibration?: SegmenterCalibration;
}

const CHECKPOINT_DIR = 'checkpoint';
/** Options that a resumed run must share with the checkpoint. */
const FIXED = ['seed', 'batchSize', 'sizes', 'encoderWidths', 'decoderWidths', 'classes', 'steps', 'learningRate', 'initFrom', 'balance', 'focus', 'focusShare', 'lovasz', 'lovaszPool'] as const;
/** What a checkpoint from before an option existed was made with. */
const FIXED_BEFORE: Partial<Record<(typeof FIXED)[number], unknown>> = { balance: 0, focus: [], focusShare: 0.5, lovasz: [], lovaszPool: 1 };

/** Fills in the defaults and checks every option, naming the one that is wrong. */
export function resolveTrainSegmenterOptions(o: TrainSegmenterOptions): ResolvedTrainSegmenterOptions {
  const r: ResolvedTrainSegmenterOptions = {
    seed: 1, steps: 3000, batchSize: 16, learningRate: 0.002, sizes: [96, 64], encoderWidths: [16, 32, 64, 96, 128],
    decoderWidths: [96, 64, 48, 24], checkpointEvery: 100, evalCount: 2000, evalSeed: 1_000_003, resume: true, workers: 1,
    classes: SCENE_CLASSES, balance: 0, calibrate: 0, focus: [], focusShare: 0.5, lovasz: [], lovaszPool: 1, ...o,
  };
  const posInt = (name: string, v: unknown): void => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw usageError(`${name} must be a positive integer, got ${String(v)}`, { path: name });
  };
  posInt('steps', r.steps); posInt('batchSize', r.batchSize); posInt('checkpointEvery', r.checkpointEvery);
  posInt('evalCount', r.evalCount); posInt('workers', r.workers);
  if (r.maxSteps !== undefined) posInt('maxSteps', r.maxSteps);
  if (!Number.isSafeInteger(r.seed)) throw usageError(`seed must be an integer, got ${String(r.seed)}`, { path: 'seed' });
  if (!(r.learningRate > 0 && r.learningRate < 1)) throw usageError(`learningRate must be in (0, 1), got ${r.learningRate}`, { path: 'learningRate' });
  const multiple = segmenterMultiple(r.encoderWidths.length);
  if (r.sizes.length === 0 || !r.sizes.every((s) => Number.isInteger(s) && s >= multiple && s % multiple === 0)) {
    throw usageError(`sizes must be multiples of ${multiple} (the network halves the image ${r.encoderWidths.length} times), got ${JSON.stringify(r.sizes)}`, { path: 'sizes', hint: 'e.g. 96,64' });
  }
  for (const c of r.classes) {
    if (!RENDERABLE_SCENE_CLASSES.includes(c)) throw usageError(`unknown scene class '${c}'`, { path: 'classes', hint: `scene classes: ${RENDERABLE_SCENE_CLASSES.join(', ')}` });
  }
  for (const [field, list] of [['focus', r.focus], ['lovasz', r.lovasz]] as const) {
    for (const c of list) {
      if (!SCENE_SEGMENTER_CATEGORIES.some((k) => k.concepts.includes(c))) {
        throw usageError(`unknown concept '${c}' in ${field}`, { path: field, hint: `concepts the segmenter predicts, e.g. door, window, person (see docs/atlas.md)` });
      }
    }
  }
  if (r.focus.length > 0 && focusClasses(r.focus, r.classes).length === 0) {
    throw usageError(`none of the classes ${r.classes.join(', ')} can show ${r.focus.join(' or ')}`, { path: 'focus', hint: 'add a class that shows it to --classes, or leave it out of --focus' });
  }
  if (!(typeof r.focusShare === 'number' && r.focusShare > 0 && r.focusShare <= 1)) {
    throw usageError(`focusShare must be a number in (0, 1], got ${String(r.focusShare)}`, { path: 'focusShare', hint: '0.5 draws half of the scenes for --focus' });
  }
  if (!(Number.isInteger(r.lovaszPool) && r.lovaszPool >= 1 && r.batchSize % r.lovaszPool === 0)) {
    throw usageError(`lovaszPool must be a positive integer that divides batchSize (${r.batchSize}), got ${String(r.lovaszPool)}`, { path: 'lovaszPool', hint: `e.g. ${r.batchSize / 2} pools half a batch per Lovász term; 1 takes each image on its own` });
  }
  if (!(Number.isInteger(r.calibrate) && r.calibrate >= 0)) throw usageError(`calibrate must be a whole number of scenes (0 for none), got ${String(r.calibrate)}`, { path: 'calibrate' });
  if (!(typeof r.balance === 'number' && r.balance >= 0 && r.balance <= 1)) {
    throw usageError(`balance must be a number in [0, 1], got ${String(r.balance)}`, { path: 'balance', hint: '0 weighs every pixel the same; 0.5 weighs a concept by 1/√(its share of pixels)' });
  }
  if (r.evalSeed === r.seed) throw usageError('evalSeed must differ from seed, so held-out scenes are never trained on', { path: 'evalSeed' });
  buildCheck(r);
  return r;
}

function netOptions(o: ResolvedTrainSegmenterOptions): SegmenterNetOptions {
  return { encoderWidths: [...o.encoderWidths], decoderWidths: [...o.decoderWidths], seed: o.seed, categories: SCENE_SEGMENTER_CATEGORIES };
}

/** Checks the widths by building nothing: the builder's own checks, without allocating a model. */
function buildCheck(o: ResolvedTrainSegmenterOptions): void {
  if (o.encoderWidths.length < 2 || !o.encoderWidths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw usageError(`encoderWidths must be at least two positive integers, got ${JSON.stringify(o.encoderWidths)}`, { path: 'encoderWidths' });
  }
  if (o.decoderWidths.length !== o.encoderWidths.length - 1 || !o.decoderWidths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw usageError(`decoderWidths must be ${o.encoderWidths.length - 1} positive integers, got ${JSON.stringify(o.decoderWidths)}`, { path: 'decoderWidths' });
  }
}

/** The scene segmenter's concept ids: the scene world's own, so segmented and exact label maps agree. */
export function sceneSegmenterIds(): number[][] {
  return SCENE_SEGMENTER_CATEGORIES.map((c) => c.concepts.map((name) => CONCEPTS.find((x) => x.name === name)!.id));
}

/** Wraps a trained (or training) scene segmenter network as a {@link Segmenter}. */
export function sceneSegmenter(model: tf.LayersModel, o: Pick<ResolvedTrainSegmenterOptions, 'encoderWidths'>, name = 'scenes-segmenter'): Segmenter {
  return fromSegmenterModel(model, {
    categories: SCENE_SEGMENTER_CATEGORIES, ids: sceneSegmenterIds(), multiple: segmenterMultiple(o.encoderWidths.length), name,
  });
}

/** Copies the weights of the segmenter at `spec` into `model`, which must have the same architecture. */
async function initWeightsFrom(model: tf.LayersModel, spec: string): Promise<void> {
  const dir = spec.startsWith('builtin:') ? BUILTIN_SEGMENTERS[spec.slice('builtin:'.length)] : spec;
  if (dir === undefined) {
    throw usageError(`unknown built-in segmenter '${spec}'`, { path: 'initFrom', hint: `built-in segmenters: ${Object.keys(BUILTIN_SEGMENTERS).map((k) => `builtin:${k}`).join(', ')}` });
  }
  const jsonPath = path.join(dir, 'model.json');
  if (!existsSync(jsonPath)) throw usageError(`initFrom: '${dir}' has no model.json`, { path: 'initFrom', file: dir, hint: 'name a segmenter folder, e.g. builtin:scenes-segmenter' });
  const { artifacts } = await readArtifacts(jsonPath);
  const source = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    const from = source.getWeights();
    const to = model.getWeights();
    const other = (): UnitAttackError => usageError(`initFrom: the segmenter in '${dir}' has another architecture than the one asked for (${from.length} weight tensors against ${to.length}, or other shapes)`, {
      path: 'initFrom', file: dir, hint: 'give the same --encoder-widths and --decoder-widths as the run that made it (see its MODEL_CARD.md), or widen only the last decoder level and encoder levels above the deepest',
    });
    if (from.length !== to.length || from.some((w, i) => w.rank !== to[i].rank || w.shape.some((d, k) => d > to[i].shape[k]))) throw other();
    if (from.every((w, i) => w.shape.join('×') === to[i].shape.join('×'))) {
      model.setWeights(from);
      return;
    }
    const widened = from.map((w, i) => widenWeight(w, to[i]));
    model.setWeights(widened);
    tf.dispose(widened);
    // Widening keeps the function only where a layer's inputs are its source's inputs plus new ones at the end; a
    // wider layer inside a concatenation moves the channels after it. Check on an image and refuse otherwise.
    const diff = tf.tidy(() => {
      const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 7);
      const a = source.predict(x) as tf.Tensor; const b = model.predict(x) as tf.Tensor;
      return [tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], tf.max(tf.abs(a)).dataSync()[0]];
    });
    if (!(diff[0] <= 1e-4 * Math.max(1, diff[1]))) {
      throw usageError(`initFrom: the widths asked for cannot start from the segmenter in '${dir}' with the same output (it moved by ${diff[0].toPrecision(3)}): a wider layer feeds a concatenation ahead of other channels`, {
        path: 'initFrom', file: dir, hint: 'widen only the last decoder level (e.g. --decoder-widths 96,64,48,48 from 96,64,48,24) and encoder levels above the deepest (e.g. --encoder-widths 32,32,64,96,128 from 16,32,64,96,128), or train the wider net from scratch without --init-from',
      });
    }
  } finally {
    source.dispose();
  }
}

/**
 * A weight of a wider layer that starts as `from` does (Net2Net-style widening): `from` fills the leading slice of
 * every dimension; the new outputs keep their fresh initialisation (`fresh`), and, in a convolution kernel
 * `[h, w, in, out]`, the new inputs' weights into the old outputs are zero, so the old outputs do not change while
 * the new channels start to learn. Biases of new outputs are zero.
 */
export function widenWeight(from: tf.Tensor, fresh: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const f = from.arraySync(); const out = fresh.arraySync();
    const shape = fresh.shape;
    if (shape.length === 1) {
      const o = out as number[]; const s = f as number[];
      return tf.tensor1d(o.map((_, i) => (i < s.length ? s[i] : 0)));
    }
    if (shape.length !== 4) throw new Error(`widenWeight: a weight of rank ${shape.length} (only kernels [h, w, in, out] and biases widen)`);
    const o = out as number[][][][]; const s = f as number[][][][];
    const [, , inOld, outOld] = from.shape;
    for (let a = 0; a < shape[0]; a++) {
      for (let b = 0; b < shape[1]; b++) {
        for (let i = 0; i < shape[2]; i++) {
          for (let j = 0; j < shape[3]; j++) {
            if (i < inOld && j < outOld) o[a][b][i][j] = s[a][b][i][j];
            else if (i >= inOld && j < outOld) o[a][b][i][j] = 0;
          }
        }
      }
    }
    return tf.tensor4d(o);
  });
}

/** The learning rate at `step`: cosine from `lr` down to 5% of it. */
export function segmenterLearningRate(lr: number, step: number, total: number): number {
  return lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * step / total)));
}

/**
 * Trains the scene segmenter, saving a checkpoint every `checkpointEvery` steps so that an interrupted run resumes
 * where it stopped (same options, same result). Evaluation is separate: {@link evaluateSegmenter}.
 */
export async function trainSegmenter(options: TrainSegmenterOptions, hooks: TrainSegmenterHooks = {}): Promise<TrainSegmenterResult> {
  const o = resolveTrainSegmenterOptions(options);
  const ckptDir = path.join(o.out, CHECKPOINT_DIR);
  await fs.mkdir(ckptDir, { recursive: true }).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot create '${ckptDir}': ${(err as Error).message}`, { file: o.out, path: 'out' });
  });
  const model = buildSegmenterNet(netOptions(o));
  const optimizer: tf.Optimizer = tf.train.adam(o.learningRate);
  let step = 0;
  let trainSeconds = 0;
  let lossHistory: TrainSegmenterResult['lossHistory'] = [];
  let segments: TrainSegmenterResult['segments'] = [{ fromStep: 0, workers: o.workers }];
  const statePath = path.join(ckptDir, 'state.json');
  if (o.resume && existsSync(statePath)) {
    const state = JSON.parse(await fs.readFile(statePath, 'utf8')) as {
      step: number; trainSeconds: number; options: ResolvedTrainSegmenterOptions; lossHistory: TrainSegmenterResult['lossHistory']; segments: TrainSegmenterResult['segments'];
    };
    for (const k of FIXED) {
      // A checkpoint from before an option existed was made with its default then (FIXED_BEFORE).
      const made = (state.options as Partial<ResolvedTrainSegmenterOptions>)[k] ?? FIXED_BEFORE[k];
      if (JSON.stringify(made) !== JSON.stringify(o[k])) {
        throw usageError(`the checkpoint in '${ckptDir}' was made with ${k} = ${JSON.stringify(made)}, not ${JSON.stringify(o[k])}`, {
          path: k, hint: 'use the same options to resume, another --out, or --no-resume to start over',
        });
      }
    }
    await restoreCheckpoint(model, optimizer, ckptDir);
    step = state.step; trainSeconds = state.trainSeconds; lossHistory = state.lossHistory; segments = state.segments;
    if (segments[segments.length - 1].workers !== o.workers) segments.push({ fromStep: step, workers: o.workers });
  } else if (o.initFrom !== undefined) {
    await initWeightsFrom(model, o.initFrom);
  }
  const stopAt = Math.min(o.steps, o.maxSteps !== undefined ? step + o.maxSteps : o.steps);
  const vars = trainableVariables(model);
  const weights = o.balance > 0
    ? balanceWeights(conceptShares(o.seed, BALANCE_SCENES, o.sizes[0], { classes: o.classes, categories: SCENE_SEGMENTER_CATEGORIES }), o.balance)
    : undefined;
  const focus = o.focus.length > 0 ? { concepts: [...o.focus], share: o.focusShare } : undefined;
  const lovasz = o.lovasz.length > 0 ? SCENE_SEGMENTER_CATEGORIES.map((k) => o.lovasz.filter((c) => k.concepts.includes(c)).map((c) => k.concepts.indexOf(c) + 1)) : undefined;
  // One context for every thread: the helper threads get a copy of what this thread's shards use.
  const ctx: SegmenterShardContext = { datasetSeed: o.seed, classes: [...o.classes], categories: SCENE_SEGMENTER_CATEGORIES, ...(weights ? { weights } : {}), ...(focus ? { focus } : {}), ...(lovasz ? { lovasz, lovaszPool: o.lovaszPool } : {}) };
  const workers = o.workers > 1 && stopAt > step
    ? await TrainWorkers.start(o.workers - 1, { task: 'segmenter', backend: tf.getBackend() as BackendName, net: netOptions(o), context: ctx })
    : undefined;
  let t0 = Date.now();
  try {
    while (step < stopAt) {
      (optimizer as unknown as { learningRate: number }).learningRate = segmenterLearningRate(o.learningRate, step, o.steps);
      const size = o.sizes[step % o.sizes.length];
      const start = step * o.batchSize;
      const shards = splitBatch(o.batchSize, (workers?.size ?? 0) + 1, lovasz ? o.lovaszPool : 1).map((s) => ({ from: start + s.offset, count: s.count, size }));
      const settled = workers ? Promise.allSettled(workers.steps(flattenVariables(vars), shards.slice(1))) : Promise.resolve([]);
      const own = segmenterShardGradient(model, vars, ctx, shards[0].from, shards[0].count, size);
      const parts = gatherShards(own, await settled);
      const sum = own.grads; // the sum of every shard's gradients, in shard order
      tf.tidy(() => {
        const named: tf.NamedTensorMap = {};
        let off = 0;
        for (const v of vars) {
          named[v.name] = tf.mul(tf.tensor(sum.subarray(off, off + v.size), v.shape, 'float32'), 1 / o.batchSize);
          off += v.size;
        }
        optimizer.applyGradients(named);
      });
      const loss = parts.reduce((a, r) => a + r.lossSum, 0) / o.batchSize;
      const pixelAccuracy = parts.reduce((a, r) => a + r.correct, 0) / o.batchSize;
      if (!Number.isFinite(loss)) {
        throw new UnitAttackError('UA_NUMERIC', `the training loss became ${loss} at step ${step}`, { hint: 'lower --learning-rate and resume with --no-resume' });
      }
      step++;
      lossHistory.push({ step, size, loss: Number(loss.toPrecision(5)), pixelAccuracy: Number(pixelAccuracy.toPrecision(4)) });
      hooks.onStep?.({ step, totalSteps: o.steps, size, loss, pixelAccuracy });
      if (step % o.checkpointEvery === 0 || step === stopAt) {
        trainSeconds += (Date.now() - t0) / 1000; t0 = Date.now();
        await saveCheckpoint(model, optimizer, ckptDir, { step, trainSeconds, options: o, lossHistory, segments });
        hooks.onCheckpoint?.(step);
      }
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    await workers?.stop();
  }
  trainSeconds += (Date.now() - t0) / 1000;
  optimizer.dispose();
  const calibration = step >= o.steps && o.calibrate > 0
    ? await calibrateSegmenter(model, {
      categories: SCENE_SEGMENTER_CATEGORIES, datasetSeed: o.seed, from: o.steps * o.batchSize, count: o.calibrate, size: o.sizes[0], classes: o.classes,
    })
    : undefined;
  return {
    model, segmenter: sceneSegmenter(model, o), options: o, steps: step, finished: step >= o.steps, trainSeconds, lossHistory, segments,
    ...(weights ? { weights } : {}), ...(calibration ? { calibration } : {}),
  };
}
