import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SCENE_CLASSES, renderScene, sceneSeed } from '../data/scenes/index.js';
import { UnitAttackError, usageError } from '../errors.js';
import { fromLayersModel } from '../models/classifier.js';
import { saveLayersModel } from '../models/io.js';
import { buildVgg16 } from '../models/vgg16.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';

/** Options for {@link trainScenesModel}; the defaults are the recipe of `builtin:scenes-vgg16`. */
export interface TrainOptions {
  /** Folder for the model, checkpoints and the model card. */
  out: string;
  /** Seed of the initial weights and of the training scenes. @defaultValue 1 */
  seed?: number;
  /** Passes over `scenesPerEpoch` fresh scenes. @defaultValue 3 */
  epochs?: number;
  /** Fresh scenes drawn per epoch (every epoch draws new ones). @defaultValue 8000 */
  scenesPerEpoch?: number;
  /** @defaultValue 32 */
  batchSize?: number;
  /** Adam learning rate, decayed by a cosine to 10% over the run. @defaultValue 5e-4 */
  learningRate?: number;
  /** @defaultValue 96 */
  inputSize?: number;
  /** @defaultValue 0.25 */
  widthMultiplier?: number;
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
  /** Where the run changed its number of epochs on a resume (the cosine schedule follows the latest). */
  segments: Array<{ fromStep: number; epochs: number }>;
  evaluation?: Evaluation;
}

const CHECKPOINT_DIR = 'checkpoint';

export function resolveTrainOptions(o: TrainOptions): ResolvedTrainOptions {
  const r: ResolvedTrainOptions = {
    seed: 1, epochs: 3, scenesPerEpoch: 8000, batchSize: 32, learningRate: 5e-4, inputSize: 96, widthMultiplier: 0.25,
    fcWidth: 1024, checkpointEvery: 100, evalCount: 2000, evalSeed: 1_000_003, resume: true, classes: SCENE_CLASSES,
    ...o,
  };
  const posInt = (name: keyof TrainOptions, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw usageError(`${name} must be a positive integer, got ${v}`, { path: `--${name}` });
  };
  posInt('epochs', r.epochs); posInt('scenesPerEpoch', r.scenesPerEpoch); posInt('batchSize', r.batchSize);
  posInt('checkpointEvery', r.checkpointEvery); posInt('evalCount', r.evalCount);
  if (r.maxSteps !== undefined) posInt('maxSteps', r.maxSteps);
  if (!(r.learningRate > 0 && r.learningRate < 1)) throw usageError(`learningRate must be in (0, 1), got ${r.learningRate}`, { path: '--learning-rate' });
  for (const c of r.classes) {
    if (!SCENE_CLASSES.includes(c)) throw usageError(`unknown scene class '${c}'`, { path: '--classes', hint: `scene classes: ${SCENE_CLASSES.join(', ')}` });
  }
  if (r.evalSeed === r.seed) throw usageError('evalSeed must differ from seed, so held-out scenes are never trained on', { path: '--eval-seed' });
  return r;
}

/** Renders scenes `[from, from+count)` of dataset `seed` as a batch: images [N,S,S,3] in [0,1] and class indices. */
export function sceneBatch(classes: readonly string[], datasetSeed: number, from: number, count: number, size: number): { x: tf.Tensor4D; y: Int32Array; seeds: number[] } {
  const pixels = new Float32Array(count * size * size * 3);
  const y = new Int32Array(count);
  const seeds: number[] = [];
  for (let i = 0; i < count; i++) {
    const index = from + i;
    const cls = classes[index % classes.length];
    const seed = sceneSeed(datasetSeed, index);
    seeds.push(seed);
    const scene = renderScene({ cls, seed, size });
    const off = i * size * size * 3;
    for (let k = 0; k < scene.image.length; k++) pixels[off + k] = scene.image[k] / 255;
    y[i] = classes.indexOf(cls);
  }
  return { x: tf.tensor4d(pixels, [count, size, size, 3]), y, seeds };
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
    throw new UnitAttackError('UA_IO', `cannot create '${ckptDir}': ${(err as Error).message}`, { file: o.out, path: '--out' });
  });
  const model = buildVgg16({
    inputSize: o.inputSize, numClasses: o.classes.length, widthMultiplier: o.widthMultiplier, fcWidth: o.fcWidth, seed: o.seed,
  });
  const optimizer = tf.train.adam(o.learningRate);
  let step = 0;
  let trainSeconds = 0;
  let lossHistory: TrainResult['lossHistory'] = [];
  let segments: TrainResult['segments'] = [{ fromStep: 0, epochs: o.epochs }];
  const statePath = path.join(ckptDir, 'state.json');
  if (o.resume && existsSync(statePath)) {
    const state = JSON.parse(await fs.readFile(statePath, 'utf8')) as {
      step: number; trainSeconds: number; options: ResolvedTrainOptions; lossHistory: TrainResult['lossHistory'];
      segments?: TrainResult['segments'];
    };
    for (const k of ['seed', 'batchSize', 'inputSize', 'widthMultiplier', 'fcWidth', 'scenesPerEpoch'] as const) {
      if (state.options[k] !== o[k]) {
        throw usageError(`the checkpoint in '${ckptDir}' was made with ${k} = ${String(state.options[k])}, not ${String(o[k])}`, {
          path: `--${k}`, hint: 'use the same options to resume, another --out, or --no-resume to start over',
        });
      }
    }
    await restoreCheckpoint(model, optimizer, ckptDir);
    step = state.step; trainSeconds = state.trainSeconds; lossHistory = state.lossHistory;
    segments = state.segments ?? [{ fromStep: 0, epochs: state.options.epochs }];
    if (segments[segments.length - 1].epochs !== o.epochs) segments.push({ fromStep: step, epochs: o.epochs });
  }
  const trainSeed = o.seed;
  const stopAt = Math.min(totalSteps, o.maxSteps !== undefined ? step + o.maxSteps : totalSteps);
  let t0 = Date.now();
  while (step < stopAt) {
    const lr = o.learningRate * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * step / totalSteps)));
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    const { x, y } = sceneBatch(o.classes, trainSeed, step * o.batchSize, o.batchSize, o.inputSize);
    const labels = tf.oneHot(tf.tensor1d(y, 'int32'), o.classes.length);
    let accuracy = 0;
    const lossT = optimizer.minimize(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor2D;
      accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(labels, 1)), 'float32')).dataSync()[0]);
      return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(labels, logits);
    }, true)!;
    const loss = (await lossT.data())[0];
    tf.dispose([x, labels, lossT]);
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
  trainSeconds += (Date.now() - t0) / 1000;
  const finished = step >= totalSteps;
  const result: TrainResult = { model, options: o, steps: step, finished, trainSeconds, lossHistory, segments };
  optimizer.dispose();
  if (finished) {
    result.evaluation = await evaluateScenes(model, o, trainSeed, totalSteps * o.batchSize, hooks);
  }
  return result;
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

async function saveCheckpoint(model: tf.LayersModel, optimizer: tf.Optimizer, dir: string, state: object): Promise<void> {
  await saveLayersModel(model, dir, { description: 'training checkpoint' });
  const weights = await optimizer.getWeights();
  const specs: Array<{ name: string; shape: number[] }> = [];
  const chunks: Buffer[] = [];
  for (const w of weights) {
    specs.push({ name: w.name, shape: w.tensor.shape });
    const d = await w.tensor.data() as Float32Array;
    chunks.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  await writeAtomic(path.join(dir, 'optimizer.bin'), Buffer.concat(chunks));
  await writeJsonAtomic(path.join(dir, 'optimizer.json'), specs);
  // state.json last: its presence means the checkpoint is whole
  await writeJsonAtomic(path.join(dir, 'state.json'), state);
}

async function restoreCheckpoint(model: tf.LayersModel, optimizer: tf.Optimizer, dir: string): Promise<void> {
  const saved = await tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(dir)));
  model.setWeights(saved.getWeights());
  saved.dispose();
  const specs = JSON.parse(await fs.readFile(path.join(dir, 'optimizer.json'), 'utf8')) as Array<{ name: string; shape: number[] }>;
  const bin = await fs.readFile(path.join(dir, 'optimizer.bin'));
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  let off = 0;
  const named = specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(all.subarray(off, off + n), s.shape);
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
