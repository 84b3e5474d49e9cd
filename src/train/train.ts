import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { SCENE_CLASSES, sceneSeed } from '../data/scenes/index.js';
import { UnitAttackError, usageError } from '../errors.js';
import { fromLayersModel } from '../models/classifier.js';
import { saveLayersModel } from '../models/io.js';
import { buildVgg16, checkBlockWidths, type Vgg16Options } from '../models/vgg16.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { BackendName } from '../engine/backend.js';
import { sceneBatch } from '../data/scenes/batch.js';
import { flattenVariables, gatherShards, shardGradient, splitBatch, trainableVariables } from './shard.js';
import { TrainWorkers } from './workers.js';

export { sceneBatch } from '../data/scenes/batch.js';

/** Options for {@link trainScenesModel}; the defaults are the recipe of `builtin:scenes-vgg16`. */
export interface TrainOptions {
  /** Folder for the model, checkpoints and the model card. */
  out: string;
  /** Seed of the initial weights and of the training scenes. @defaultValue 1 */
  seed?: number;
  /** Passes over `scenesPerEpoch` fresh scenes. @defaultValue 8 */
  epochs?: number;
  /** Fresh scenes drawn per epoch (every epoch draws new ones). @defaultValue 8000 */
  scenesPerEpoch?: number;
  /** @defaultValue 32 */
  batchSize?: number;
  /** Adam learning rate, decayed by a cosine to 10% over the run. @defaultValue 5e-4 */
  learningRate?: number;
  /** @defaultValue 96 */
  inputSize?: number;
  /** @defaultValue 0.1875 (block5 has 96 units) */
  widthMultiplier?: number;
  /** The conv widths of the five blocks in place of the multiplied ones (see `Vgg16Options.blockWidths`). @defaultValue null */
  blockWidths?: readonly number[] | null;
  /** fc1/fc2 width before the multiplier. @defaultValue 1024 */
  fcWidth?: number;
  /** Save a checkpoint every this many steps. @defaultValue 100 */
  checkpointEvery?: number;
  /** Held-out scenes for the final evaluation. @defaultValue 2000 */
  evalCount?: number;
  /** Dataset seed of the held-out scenes. @defaultValue 1_000_003 */
  evalSeed?: number;
  /** Continue from the checkpoint in `out` when there is one. @defaultValue true */
  resume?: boolean;
  /** Stop after this many steps in this call (for tests); the run can be resumed. */
  maxSteps?: number;
  /**
   * Threads that share every batch (data-parallel): the main thread and `workers - 1` worker threads each compute
   * the gradient of one shard, and the summed gradient is applied once. The result equals one-thread training up to
   * the order of floating-point sums. @defaultValue 1
   */
  workers?: number;
  classes?: readonly string[];
}

export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'maxSteps'>> & { maxSteps?: number };

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  accuracy: number;
}

export interface TrainHooks {
  onStep?(p: TrainProgress): void;
  onCheckpoint?(step: number): void;
  onEvalProgress?(done: number, total: number): void;
}

export interface Evaluation {
  count: number;
  accuracy: number;
  perClass: Record<string, { count: number; accuracy: number }>;
  /** Confusion counts: confusion[true][predicted]. */
  confusion: number[][];
  evalSeed: number;
}

export interface TrainResult {
  model: tf.LayersModel;
  options: ResolvedTrainOptions;
  steps: number;
  finished: boolean;
  trainSeconds: number;
  lossHistory: Array<{ step: number; loss: number; accuracy: number }>;
  /**
   * Where the run changed its number of epochs or threads on a resume (the cosine schedule follows the latest
   * number of epochs). `workers` is absent for stretches trained in one thread.
   */
  segments: Array<{ fromStep: number; epochs: number; workers?: number }>;
  evaluation?: Evaluation;
}

const CHECKPOINT_DIR = 'checkpoint';

/** The builder options of the model that `o` trains. */
function modelOptions(o: ResolvedTrainOptions): Vgg16Options {
  return {
    inputSize: o.inputSize, numClasses: o.classes.length, widthMultiplier: o.widthMultiplier, fcWidth: o.fcWidth, seed: o.seed,
    ...(o.blockWidths != null ? { blockWidths: [...o.blockWidths] } : {}),
  };
}

export function resolveTrainOptions(o: TrainOptions): ResolvedTrainOptions {
  const r: ResolvedTrainOptions = {
    seed: 1, epochs: 8, scenesPerEpoch: 8000, batchSize: 32, learningRate: 5e-4, inputSize: 96, widthMultiplier: 0.1875, blockWidths: null,
    fcWidth: 1024, checkpointEvery: 100, evalCount: 2000, evalSeed: 1_000_003, resume: true, classes: SCENE_CLASSES, workers: 1,
    ...o,
  };
  r.blockWidths ??= null;
  if (r.blockWidths !== null) checkBlockWidths(r.blockWidths);
  const posInt = (name: keyof TrainOptions, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw usageError(`${name} must be a positive integer, got ${v}`, { path: name });
  };
  posInt('epochs', r.epochs); posInt('scenesPerEpoch', r.scenesPerEpoch); posInt('batchSize', r.batchSize);
  posInt('checkpointEvery', r.checkpointEvery); posInt('evalCount', r.evalCount); posInt('workers', r.workers);
  if (r.maxSteps !== undefined) posInt('maxSteps', r.maxSteps);
  if (!(r.learningRate > 0 && r.learningRate < 1)) throw usageError(`learningRate must be in (0, 1), got ${r.learningRate}`, { path: 'learningRate' });
  for (const c of r.classes) {
    if (!SCENE_CLASSES.includes(c)) throw usageError(`unknown scene class '${c}'`, { path: 'classes', hint: `scene classes: ${SCENE_CLASSES.join(', ')}` });
  }
  if (r.evalSeed === r.seed) throw usageError('evalSeed must differ from seed, so held-out scenes are never trained on', { path: 'evalSeed' });
  return r;
}

/**
 * Trains the VGG-16-topology scene classifier from scratch (He-normal init, Adam, cosine decay), with
 * checkpoints every `checkpointEvery` steps so an interrupted run resumes where it stopped, then
 * evaluates on held-out scenes whose seeds were never trained on.
 */
export async function trainScenesModel(options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const o = resolveTrainOptions(options);
  const stepsPerEpoch = Math.ceil(o.scenesPerEpoch / o.batchSize);
  const totalSteps = stepsPerEpoch * o.epochs;
  const ckptDir = path.join(o.out, CHECKPOINT_DIR);
  await fs.mkdir(ckptDir, { recursive: true }).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot create '${ckptDir}': ${(err as Error).message}`, { file: o.out, path: 'out' });
  });
  const model = buildVgg16(modelOptions(o));
  const optimizer = tf.train.adam(o.learningRate);
  let step = 0;
  let trainSeconds = 0;
  let lossHistory: TrainResult['lossHistory'] = [];
  const segmentOf = (fromStep: number): TrainResult['segments'][number] => ({ fromStep, epochs: o.epochs, ...(o.workers > 1 ? { workers: o.workers } : {}) });
  let segments: TrainResult['segments'] = [segmentOf(0)];
  const statePath = path.join(ckptDir, 'state.json');
  if (o.resume && existsSync(statePath)) {
    const state = JSON.parse(await fs.readFile(statePath, 'utf8')) as {
      step: number; trainSeconds: number; options: ResolvedTrainOptions; lossHistory: TrainResult['lossHistory'];
      segments?: TrainResult['segments'];
    };
    for (const k of ['seed', 'batchSize', 'inputSize', 'widthMultiplier', 'blockWidths', 'fcWidth', 'scenesPerEpoch'] as const) {
      if (JSON.stringify(state.options[k] ?? null) !== JSON.stringify(o[k])) {
        throw usageError(`the checkpoint in '${ckptDir}' was made with ${k} = ${JSON.stringify(state.options[k] ?? null)}, not ${JSON.stringify(o[k])}`, {
          path: k, hint: 'use the same options to resume, another --out, or --no-resume to start over',
        });
      }
    }
    await restoreCheckpoint(model, optimizer, ckptDir);
    step = state.step; trainSeconds = state.trainSeconds; lossHistory = state.lossHistory;
    segments = state.segments ?? [{ fromStep: 0, epochs: state.options.epochs }];
    const last = segments[segments.length - 1];
    if (last.epochs !== o.epochs || (last.workers ?? 1) !== o.workers) segments.push(segmentOf(step));
  }
  const trainSeed = o.seed;
  const stopAt = Math.min(totalSteps, o.maxSteps !== undefined ? step + o.maxSteps : totalSteps);
  const parallel = o.workers > 1 && stopAt > step ? await startParallel(model, o) : undefined;
  let t0 = Date.now();
  try {
    while (step < stopAt) {
      const lr = o.learningRate * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * step / totalSteps)));
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const { loss, accuracy } = parallel
        ? await parallelStep(model, optimizer, parallel, o, step)
        : await singleStep(model, optimizer, o, step);
      if (!Number.isFinite(loss)) {
        throw new UnitAttackError('UA_NUMERIC', `the training loss became ${loss} at step ${step}`, { hint: 'lower --learning-rate' });
      }
      step++;
      lossHistory.push({ step, loss, accuracy });
      hooks.onStep?.({ step, totalSteps, epoch: Math.floor((step - 1) / stepsPerEpoch) + 1, loss, accuracy });
      if (step % o.checkpointEvery === 0 || step === stopAt) {
        trainSeconds += (Date.now() - t0) / 1000; t0 = Date.now();
        await saveCheckpoint(model, optimizer, ckptDir, { step, trainSeconds, options: o, lossHistory, segments });
        hooks.onCheckpoint?.(step);
      }
    }
  } finally {
    await parallel?.stop();
  }
  trainSeconds += (Date.now() - t0) / 1000;
  const finished = step >= totalSteps;
  const result: TrainResult = { model, options: o, steps: step, finished, trainSeconds, lossHistory, segments };
  optimizer.dispose();
  if (finished) {
    result.evaluation = await evaluateScenes(model, o, trainSeed, totalSteps * o.batchSize, hooks);
  }
  return result;
}

/** One step in this thread: the batch's mean loss and its gradient by `optimizer.minimize`. */
async function singleStep(model: tf.LayersModel, optimizer: tf.Optimizer, o: ResolvedTrainOptions, step: number): Promise<{ loss: number; accuracy: number }> {
  const { x, y } = sceneBatch(o.classes, o.seed, step * o.batchSize, o.batchSize, o.inputSize);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(y, 'int32'), o.classes.length));
  let accuracy = 0;
  const lossT = optimizer.minimize(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
    accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1)), 'float32')).dataSync()[0]);
    return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(labels, logits);
  }, true)!;
  const loss = (await lossT.data())[0];
  tf.dispose([x, labels, lossT]);
  return { loss, accuracy };
}

interface Parallel {
  workers: TrainWorkers;
  vars: tf.Variable[];
  stop(): Promise<void>;
}

async function startParallel(model: tf.LayersModel, o: ResolvedTrainOptions): Promise<Parallel> {
  const backend = tf.getBackend() as BackendName;
  const workers = await TrainWorkers.start(o.workers - 1, {
    backend, classes: [...o.classes], datasetSeed: o.seed, inputSize: o.inputSize,
    model: modelOptions(o),
  });
  return { workers, vars: trainableVariables(model), stop: () => workers.stop() };
}

/**
 * One data-parallel step: the workers compute the gradients of shards 2…N while this thread computes shard 1; the
 * summed gradient divided by the batch size is the gradient of the batch's mean loss, applied once.
 */
async function parallelStep(model: tf.LayersModel, optimizer: tf.Optimizer, p: Parallel, o: ResolvedTrainOptions, step: number): Promise<{ loss: number; accuracy: number }> {
  const start = step * o.batchSize;
  const shards = splitBatch(o.batchSize, p.workers.size + 1).map((s) => ({ from: start + s.offset, count: s.count }));
  const weights = flattenVariables(p.vars);
  const remote = p.workers.steps(weights, shards.slice(1));
  // Collect every reply (also after a failure) before going on, so no rejection is left unhandled.
  const settled = Promise.allSettled(remote);
  const own = shardGradient(model, p.vars, o.classes, o.seed, shards[0].from, shards[0].count, o.inputSize);
  const parts = gatherShards(own, await settled);
  const sum = own.grads; // the sum of every shard's gradients, in shard order
  const scale = 1 / o.batchSize;
  tf.tidy(() => {
    const named: tf.NamedTensorMap = {};
    let off = 0;
    for (const v of p.vars) {
      named[v.name] = tf.mul(tf.tensor(sum.subarray(off, off + v.size), v.shape, 'float32'), scale);
      off += v.size;
    }
    optimizer.applyGradients(named);
  });
  const lossSum = parts.reduce((a, r) => a + r.lossSum, 0);
  const correct = parts.reduce((a, r) => a + r.correct, 0);
  return { loss: lossSum / o.batchSize, accuracy: correct / o.batchSize };
}

/**
 * Accuracy on `evalCount` held-out scenes of dataset `evalSeed`, skipping any scene whose seed
 * was among the training scenes.
 */
export async function evaluateScenes(
  model: tf.LayersModel, o: Pick<ResolvedTrainOptions, 'classes' | 'evalCount' | 'evalSeed' | 'inputSize'>,
  trainSeed?: number, trainCount = 0, hooks: TrainHooks = {},
): Promise<Evaluation> {
  const trained = new Set<number>();
  if (trainSeed !== undefined) for (let i = 0; i < trainCount; i++) trained.add(sceneSeed(trainSeed, i));
  const clf = fromLayersModel(model, { classNames: [...o.classes] });
  const k = o.classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let done = 0; let index = 0;
  const batch = 50;
  while (done < o.evalCount) {
    const n = Math.min(batch, o.evalCount - done);
    const { x, y, seeds } = sceneBatch(o.classes, o.evalSeed, index, n, o.inputSize);
    index += n;
    const pred = tf.tidy(() => tf.argMax(clf.logits(x), 1).dataSync());
    x.dispose();
    for (let i = 0; i < n; i++) {
      if (trained.has(seeds[i])) continue;
      confusion[y[i]][pred[i]]++;
      done++;
    }
    hooks.onEvalProgress?.(done, o.evalCount);
    await new Promise((r) => setImmediate(r));
  }
  const perClass: Evaluation['perClass'] = {};
  let correct = 0;
  o.classes.forEach((c, i) => {
    const row = confusion[i]; const count = row.reduce((a, b) => a + b, 0);
    correct += row[i];
    perClass[c] = { count, accuracy: count ? row[i] / count : 0 };
  });
  return { count: done, accuracy: correct / done, perClass, confusion, evalSeed: o.evalSeed };
}

export async function saveCheckpoint(model: tf.LayersModel, optimizer: tf.Optimizer, dir: string, state: object): Promise<void> {
  await saveLayersModel(model, dir, { description: 'training checkpoint' });
  const weights = await optimizer.getWeights();
  const specs: Array<{ name: string; shape: number[]; dtype: tf.DataType }> = [];
  const chunks: Buffer[] = [];
  for (const w of weights) {
    // Adam's step count ('iter') is int32: its dtype is saved with it, so the bias correction resumes where it was.
    specs.push({ name: w.name, shape: w.tensor.shape, dtype: w.tensor.dtype });
    const d = await w.tensor.data() as Float32Array | Int32Array;
    chunks.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor));
  await writeAtomic(path.join(dir, 'optimizer.bin'), Buffer.concat(chunks));
  await writeJsonAtomic(path.join(dir, 'optimizer.json'), specs);
  // state.json last: its presence means the checkpoint is whole
  await writeJsonAtomic(path.join(dir, 'state.json'), state);
}

export async function restoreCheckpoint(model: tf.LayersModel, optimizer: tf.Optimizer, dir: string): Promise<void> {
  const saved = await tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(dir)));
  model.setWeights(saved.getWeights());
  saved.dispose();
  const specs = JSON.parse(await fs.readFile(path.join(dir, 'optimizer.json'), 'utf8')) as Array<{ name: string; shape: number[]; dtype?: 'float32' | 'int32' }>;
  const bin = await fs.readFile(path.join(dir, 'optimizer.bin'));
  const bytes = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  let off = 0;
  const named = specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    // Checkpoints from before dtypes were saved hold the int32 step count 'iter' as its raw bytes too.
    const dtype = s.dtype ?? (s.name === 'iter' ? 'int32' : 'float32');
    const values = dtype === 'int32' ? new Int32Array(bytes, off * 4, n) : new Float32Array(bytes, off * 4, n);
    const t = tf.tensor(values, s.shape, dtype);
    off += n;
    return { name: s.name, tensor: t };
  });
  // Adam restores its moments, its step count and its bias-correction terms from these.
  await optimizer.setWeights(named);
  tf.dispose(named.map((n) => n.tensor));
}

async function readModelArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  const json = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const bin = await fs.readFile(path.join(dir, 'weights.bin'));
  return {
    modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
  };
}
