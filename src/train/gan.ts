/**
 * Training of the scene GAN (`builtin:scenes-gan`): the ProGAN-like generator of `gan/net.ts` against a spectrally
 * normalised discriminator, hinge loss, Adam (β1 = 0, β2 = 0.99), alternating updates (discriminator, then generator,
 * each on fresh latents), instance noise that decays to zero, and an exponential moving average of the generator's
 * weights for sampling. Real images are scenes of the scene world rendered on the fly. Seeded and deterministic;
 * data-parallel over threads like the classifier's and segmenter's training; checkpointed and resumable.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { RENDERABLE_SCENE_CLASSES } from '../data/scenes/index.js';
import { UnitAttackError, usageError } from '../errors.js';
import type { BackendName } from '../engine/backend.js';
import {
  buildGenerator, checkDiscriminatorOptions, checkGeneratorOptions, createDiscriminator, defaultDiscriminatorWidths, generatorOutputSize,
  updateSpectralVectors, DEFAULT_GENERATOR_WIDTHS, type Discriminator, type DiscriminatorOptions, type GeneratorNetOptions,
} from '../gan/net.js';
import { ganShardGradient, generatorVariables, type GanPhase, type GanShardContext } from './gan-shard.js';
import { findGanCheckpoint, readGanCheckpoint, writeGanCheckpoint } from './gan-checkpoint.js';
import { flattenVariables, gatherShards, splitBatch } from './shard.js';
import { TrainWorkers } from './workers.js';

/** The outdoor classes where trees, houses (doors, windows, roofs), mountains and sky co-occur. */
export const GAN_SCENE_CLASSES: readonly string[] = Object.freeze(['field', 'mountain_lake', 'ski_resort']);

/** Options for {@link trainGan}; the defaults are the recipe of `builtin:scenes-gan`. */
export interface TrainGanOptions {
  /** Folder for the generator, checkpoints and the model card. */
  out: string;
  /** Seed of the initial weights, the latents, the instance noise and the real scenes. @defaultValue 1 */
  seed?: number;
  /** Training steps (one discriminator and one generator update each). May change between resumes. @defaultValue 4000 */
  steps?: number;
  /** Real scenes and latents per update. @defaultValue 32 */
  batchSize?: number;
  /** Adam learning rate of the generator (constant). @defaultValue 2e-4 */
  learningRate?: number;
  /** Adam learning rate of the discriminator (constant). @defaultValue the generator's */
  discriminatorLearningRate?: number;
  /** @defaultValue 128 */
  latentSize?: number;
  /** Generator widths, `layer1`…`layerN`. @defaultValue [128, 128, 128, 128, 64, 64, 32, 32, 16, 16] */
  generatorWidths?: readonly number[];
  /** Discriminator widths, one per halving down to 4×4. @defaultValue [32, 64, 128, 256] for 64×64 */
  discriminatorWidths?: readonly number[];
  /** Scene classes of the real images. @defaultValue field, mountain_lake, ski_resort */
  classes?: readonly string[];
  /** Instance noise (standard deviation in the [-1, 1] range) at step 0. @defaultValue 0.1 */
  instanceNoise?: number;
  /** Steps over which instance noise decays linearly to 0. @defaultValue 1000 */
  instanceNoiseSteps?: number;
  /** Decay of the generator's moving average (warmed up as min(decay, (1+t)/(10+t))). @defaultValue 0.999 */
  emaDecay?: number;
  /**
   * Group size of the discriminator's minibatch standard deviation channel (ProGAN), which lets it see a collapsed
   * generator; must divide `batchSize`. 0 turns it off (runs from before the option existed had none). @defaultValue 4
   */
  minibatchStdGroup?: number;
  /** @defaultValue 100 */
  checkpointEvery?: number;
  /** Continue from the checkpoint in `out` when there is one. @defaultValue true */
  resume?: boolean;
  /**
   * Stop after this many steps in this call; the run can be resumed. 0 trains nothing: it restores the checkpoint in
   * `out` and hands its generator to `onCheckpoint` (the CLI writes it, its samples and card), e.g. to make the
   * generator of a checkpoint copied from elsewhere.
   */
  maxSteps?: number;
  /**
   * Stop (with a checkpoint) at the first step that ends after this many minutes of this call, so a long run can be
   * split into runs of a fixed length; the run can be resumed, with the same result as an uninterrupted one.
   */
  maxMinutes?: number;
  /** Threads that share every batch (data-parallel). @defaultValue 1 */
  workers?: number;
}

export type ResolvedTrainGanOptions = Required<Omit<TrainGanOptions, 'maxSteps' | 'maxMinutes'>> & { maxSteps?: number; maxMinutes?: number };

export interface TrainGanProgress {
  step: number;
  totalSteps: number;
  /** Mean hinge loss of the discriminator, of the generator. */
  dLoss: number;
  gLoss: number;
  /** Mean D(real) − D(fake) before the discriminator's update. */
  margin: number;
  /** Wall time of this step. */
  seconds: number;
}

export interface TrainGanHooks {
  onStep?(p: TrainGanProgress): void;
  /** Called after every checkpoint with the moving-average generator (do not dispose it). */
  onCheckpoint?(step: number, ema: tf.LayersModel, result: TrainGanRunInfo): void | Promise<void>;
}

/** What a run has done so far: recorded in the checkpoint and the model card. */
export interface TrainGanRunInfo {
  options: ResolvedTrainGanOptions;
  steps: number;
  trainSeconds: number;
  history: Array<{ step: number; dLoss: number; gLoss: number; margin: number }>;
  segments: Array<{ fromStep: number; workers: number }>;
}

export interface TrainGanResult extends TrainGanRunInfo {
  /** The moving average of the generator's weights: the generator to sample from. */
  ema: tf.LayersModel;
  /** The generator as trained. */
  generator: tf.LayersModel;
  finished: boolean;
}

/** Options a resumed run must share with its checkpoint. */
const FIXED = ['seed', 'batchSize', 'learningRate', 'discriminatorLearningRate', 'latentSize', 'generatorWidths', 'discriminatorWidths', 'classes', 'instanceNoise', 'instanceNoiseSteps', 'emaDecay', 'minibatchStdGroup'] as const;

/** What a checkpoint made before an option existed was trained with. */
const FIXED_BEFORE: Partial<Record<(typeof FIXED)[number], unknown>> = { minibatchStdGroup: 0 };

/** CLI flags whose names are not the option's in kebab case. */
const FLAGS: Partial<Record<string, string>> = { batchSize: '--batch', discriminatorLearningRate: '--d-learning-rate' };

/** Fills in the defaults and checks every option, naming the one that is wrong. */
export function resolveTrainGanOptions(o: TrainGanOptions): ResolvedTrainGanOptions {
  const generatorWidths = [...(o.generatorWidths ?? DEFAULT_GENERATOR_WIDTHS)];
  const r: ResolvedTrainGanOptions = {
    seed: 1, steps: 4000, batchSize: 32, learningRate: 2e-4, latentSize: 128, classes: GAN_SCENE_CLASSES, instanceNoise: 0.1,
    instanceNoiseSteps: 1000, emaDecay: 0.999, checkpointEvery: 100, resume: true, workers: 1, ...o,
    discriminatorLearningRate: o.discriminatorLearningRate ?? o.learningRate ?? 2e-4, minibatchStdGroup: o.minibatchStdGroup ?? 4,
    generatorWidths, discriminatorWidths: [...(o.discriminatorWidths ?? defaultDiscriminatorWidths(generatorOutputSize(generatorWidths)))],
  };
  if (typeof r.out !== 'string' || r.out === '') throw usageError('out must name a folder', { path: 'out', hint: 'e.g. out: \'runs/gan\'' });
  const posInt = (name: keyof ResolvedTrainGanOptions): void => {
    const v = r[name];
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw usageError(`${name} must be a positive integer, got ${String(v)}`, { path: name });
  };
  posInt('steps'); posInt('batchSize'); posInt('checkpointEvery'); posInt('workers'); posInt('latentSize');
  if (r.maxSteps !== undefined && !(Number.isInteger(r.maxSteps) && r.maxSteps >= 0)) {
    throw usageError(`maxSteps must be an integer ≥ 0, got ${String(r.maxSteps)}`, { path: 'maxSteps', hint: 'e.g. 500, or 0 to write the checkpoint\'s generator without training' });
  }
  if (r.maxMinutes !== undefined && !(typeof r.maxMinutes === 'number' && r.maxMinutes > 0)) {
    throw usageError(`maxMinutes must be a positive number, got ${String(r.maxMinutes)}`, { path: 'maxMinutes', hint: 'e.g. 110' });
  }
  if (!Number.isSafeInteger(r.seed)) throw usageError(`seed must be an integer, got ${String(r.seed)}`, { path: 'seed' });
  if (!(r.learningRate > 0 && r.learningRate < 1)) throw usageError(`learningRate must be in (0, 1), got ${r.learningRate}`, { path: 'learningRate', hint: 'e.g. 0.0002' });
  if (!(r.discriminatorLearningRate > 0 && r.discriminatorLearningRate < 1)) {
    throw usageError(`discriminatorLearningRate must be in (0, 1), got ${r.discriminatorLearningRate}`, { path: 'discriminatorLearningRate', hint: 'e.g. 0.0002' });
  }
  if (!(r.instanceNoise >= 0 && r.instanceNoise <= 1)) throw usageError(`instanceNoise must be in [0, 1], got ${r.instanceNoise}`, { path: 'instanceNoise' });
  if (!(Number.isInteger(r.instanceNoiseSteps) && r.instanceNoiseSteps >= 0)) throw usageError(`instanceNoiseSteps must be an integer ≥ 0, got ${r.instanceNoiseSteps}`, { path: 'instanceNoiseSteps' });
  if (!(r.emaDecay >= 0 && r.emaDecay < 1)) throw usageError(`emaDecay must be in [0, 1), got ${r.emaDecay}`, { path: 'emaDecay', hint: 'e.g. 0.999' });
  if (r.minibatchStdGroup > 1 && r.batchSize % r.minibatchStdGroup !== 0) {
    throw usageError(`batchSize ${r.batchSize} is not a multiple of minibatchStdGroup ${r.minibatchStdGroup}`, {
      path: 'minibatchStdGroup', hint: `choose a group that divides the batch (e.g. ${[4, 2].find((g) => r.batchSize % g === 0) ?? 0}), or 0 for none`,
    });
  }
  if (r.classes.length === 0) throw usageError('classes must name at least one scene class', { path: 'classes', hint: `e.g. [${GAN_SCENE_CLASSES.map((c) => `'${c}'`).join(', ')}]` });
  for (const c of r.classes) {
    if (!RENDERABLE_SCENE_CLASSES.includes(c)) throw usageError(`unknown scene class '${c}'`, { path: 'classes', hint: `scene classes: ${RENDERABLE_SCENE_CLASSES.join(', ')}` });
  }
  // The builders' own checks; their `widths` is generatorWidths here.
  const fields: Record<string, string> = { widths: 'generatorWidths' };
  try {
    checkGeneratorOptions(generatorOptions(r));
    checkDiscriminatorOptions(discriminatorOptions(r));
  } catch (err) {
    if (!(err instanceof UnitAttackError)) throw err;
    throw usageError(err.message, { path: fields[err.path ?? ''] ?? err.path ?? '', ...(err.hint !== undefined ? { hint: err.hint } : {}) });
  }
  return r;
}

export function generatorOptions(o: ResolvedTrainGanOptions): GeneratorNetOptions {
  return { latentSize: o.latentSize, widths: [...o.generatorWidths], seed: o.seed };
}

export function discriminatorOptions(o: ResolvedTrainGanOptions): DiscriminatorOptions {
  return { imageSize: generatorOutputSize(o.generatorWidths), widths: [...o.discriminatorWidths], seed: o.seed, minibatchStdGroup: o.minibatchStdGroup };
}

function shardContext(o: ResolvedTrainGanOptions): GanShardContext {
  return {
    seed: o.seed, classes: [...o.classes], latentSize: o.latentSize, imageSize: generatorOutputSize(o.generatorWidths),
    instanceNoise: o.instanceNoise, noiseUntil: o.instanceNoiseSteps,
  };
}

/** The moving average's decay at `step` (0-based): warmed up so early steps follow the generator closely. */
export function emaDecayAt(decay: number, step: number): number {
  return Math.min(decay, (1 + step) / (10 + step));
}

interface RunState {
  step: number;
  trainSeconds: number;
  options: ResolvedTrainGanOptions;
  history: TrainGanRunInfo['history'];
  segments: TrainGanRunInfo['segments'];
}

/** The flat weights a worker is sent: generator, discriminator, spectral-norm vectors. */
function allWeights(generatorVars: readonly tf.Variable[], d: Discriminator): Float32Array {
  return flattenVariables([...generatorVars, ...d.weights, ...d.spectral]);
}

/**
 * Trains the scene GAN, saving a checkpoint every `checkpointEvery` steps and at the end of the call, so an
 * interrupted run resumes where it stopped and ends with the same weights as an uninterrupted one. The caller owns
 * (and disposes) the returned generators.
 */
export async function trainGan(options: TrainGanOptions, hooks: TrainGanHooks = {}): Promise<TrainGanResult> {
  const o = resolveTrainGanOptions(options);
  if (o.maxSteps === 0 && !(o.resume && findGanCheckpoint(o.out))) {
    throw usageError(`--max-steps 0 (maxSteps: 0) writes the generator of the checkpoint in '${o.out}', and there is ${o.resume ? 'none' : 'none to read with resume: false'}`, {
      path: '--max-steps', hint: `train first, or copy a checkpoint folder to ${path.join(o.out, 'checkpoint')}`,
    });
  }
  await fs.mkdir(o.out, { recursive: true }).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot create '${o.out}': ${(err as Error).message}`, { file: o.out, path: 'out' });
  });
  const generator = buildGenerator(generatorOptions(o));
  const ema = buildGenerator(generatorOptions(o));
  const d = createDiscriminator(discriminatorOptions(o));
  const gVars = generatorVariables(generator);
  const gOpt = tf.train.adam(o.learningRate, 0, 0.99, 1e-8);
  const dOpt = tf.train.adam(o.discriminatorLearningRate, 0, 0.99, 1e-8);
  const ctx = shardContext(o);
  let workers: TrainWorkers | undefined;
  let ok = false;
  try {
    let run: RunState = { step: 0, trainSeconds: 0, options: o, history: [], segments: [{ fromStep: 0, workers: o.workers }] };
    const found = o.resume ? findGanCheckpoint(o.out) : undefined;
    if (found) {
      run = await restore(found, o, generator, ema, d, gOpt, dOpt);
      run.options = o;
      if (run.segments[run.segments.length - 1].workers !== o.workers) run.segments.push({ fromStep: run.step, workers: o.workers });
    } else {
      ema.setWeights(generator.getWeights());
    }
    const stopAt = Math.min(o.steps, o.maxSteps !== undefined ? run.step + o.maxSteps : o.steps);
    if (o.workers > 1 && stopAt > run.step) {
      workers = await TrainWorkers.start(o.workers - 1, {
        task: 'gan', backend: tf.getBackend() as BackendName, generator: generatorOptions(o), discriminator: discriminatorOptions(o), context: ctx,
      });
    }
    let t0 = Date.now();
    const callStart = t0;
    const info = (): TrainGanRunInfo => ({ options: o, steps: run.step, trainSeconds: run.trainSeconds, history: run.history, segments: run.segments });
    if (o.maxSteps === 0) await hooks.onCheckpoint?.(run.step, ema, info());
    while (run.step < stopAt) {
      const ts = Date.now();
      const step = run.step;
      const dr = await phaseStep('discriminator', step, o, ctx, generator, gVars, d, dOpt, workers);
      updateSpectralVectors(d);
      const gr = await phaseStep('generator', step, o, ctx, generator, gVars, d, gOpt, workers);
      updateEma(ema, generator, emaDecayAt(o.emaDecay, step));
      const dLoss = dr.lossSum / o.batchSize; const gLoss = gr.lossSum / o.batchSize; const margin = dr.correct / o.batchSize;
      if (!Number.isFinite(dLoss) || !Number.isFinite(gLoss)) {
        throw new UnitAttackError('UA_NUMERIC', `the losses became ${dLoss} (discriminator) and ${gLoss} (generator) at step ${step}`, {
          hint: 'lower learningRate and start over in another out folder or with resume: false',
        });
      }
      run.step++;
      run.history.push({ step: run.step, dLoss: Number(dLoss.toPrecision(5)), gLoss: Number(gLoss.toPrecision(5)), margin: Number(margin.toPrecision(5)) });
      hooks.onStep?.({ step: run.step, totalSteps: o.steps, dLoss, gLoss, margin, seconds: (Date.now() - ts) / 1000 });
      const timeUp = o.maxMinutes !== undefined && (Date.now() - callStart) / 60_000 >= o.maxMinutes;
      if (run.step % o.checkpointEvery === 0 || run.step === stopAt || timeUp) {
        run.trainSeconds += (Date.now() - t0) / 1000;
        await saveRun(o.out, run, generator, ema, d, gOpt, dOpt);
        await hooks.onCheckpoint?.(run.step, ema, info());
        t0 = Date.now();
      }
      if (timeUp) break;
      await new Promise((r) => setImmediate(r));
    }
    ok = true;
    return { ...info(), ema, generator, finished: run.step >= o.steps };
  } finally {
    await workers?.stop();
    d.dispose();
    gOpt.dispose();
    dOpt.dispose();
    if (!ok) {
      generator.dispose();
      ema.dispose();
    }
  }
}

/** One player's update: the shards' summed gradient, divided by the batch size, applied by its optimiser. */
async function phaseStep(
  phase: GanPhase, step: number, o: ResolvedTrainGanOptions, ctx: GanShardContext, generator: tf.LayersModel, gVars: tf.Variable[],
  d: Discriminator, optimizer: tf.Optimizer, workers: TrainWorkers | undefined,
): Promise<{ lossSum: number; correct: number }> {
  const start = step * o.batchSize;
  // Shards hold whole minibatch-deviation groups, so the discriminator sees the same groups on any number of threads.
  const shards = splitBatch(o.batchSize, (workers?.size ?? 0) + 1, Math.max(1, o.minibatchStdGroup)).map((s) => ({ from: start + s.offset, count: s.count, phase, step }));
  const settled = workers ? Promise.allSettled(workers.steps(allWeights(gVars, d), shards.slice(1))) : Promise.resolve([]);
  const own = ganShardGradient({ generator, discriminator: d }, ctx, phase, step, shards[0].from, shards[0].count);
  const parts = gatherShards(own, await settled);
  const sum = own.grads; // the sum of every shard's gradients, in shard order
  const vars = phase === 'generator' ? gVars : d.weights;
  tf.tidy(() => {
    const named: tf.NamedTensorMap = {};
    let off = 0;
    for (const v of vars) {
      named[v.name] = tf.mul(tf.tensor(sum.subarray(off, off + v.size), v.shape, 'float32'), 1 / o.batchSize);
      off += v.size;
    }
    optimizer.applyGradients(named);
  });
  return { lossSum: parts.reduce((a, r) => a + r.lossSum, 0), correct: parts.reduce((a, r) => a + r.correct, 0) };
}

/** `ema ← decay · ema + (1 − decay) · generator`, weight by weight. */
export function updateEma(ema: tf.LayersModel, generator: tf.LayersModel, decay: number): void {
  const target = ema.weights;
  const source = generator.weights;
  tf.tidy(() => {
    target.forEach((w, i) => {
      const v = w.read() as tf.Variable;
      v.assign(tf.add(tf.mul(v, decay), tf.mul(source[i].read(), 1 - decay)));
    });
  });
}

async function saveRun(
  out: string, run: RunState, generator: tf.LayersModel, ema: tf.LayersModel, d: Discriminator, gOpt: tf.Optimizer, dOpt: tf.Optimizer,
): Promise<void> {
  const gOw = await gOpt.getWeights();
  const dOw = await dOpt.getWeights();
  try {
    await writeGanCheckpoint(out, {
      generator: generator.weights.map((w) => w.read()), ema: ema.weights.map((w) => w.read()), discriminator: d.weights, spectral: d.spectral,
      generatorOptimizer: gOw, discriminatorOptimizer: dOw,
    }, run);
  } finally {
    // getWeights returns a fresh step-count tensor; the moments are the optimiser's own variables.
    tf.dispose([...gOw, ...dOw].filter((w) => w.name === 'iter').map((w) => w.tensor));
  }
}

async function restore(
  dir: string, o: ResolvedTrainGanOptions, generator: tf.LayersModel, ema: tf.LayersModel, d: Discriminator, gOpt: tf.Optimizer, dOpt: tf.Optimizer,
): Promise<RunState> {
  const { state, tensors } = await readGanCheckpoint<RunState>(dir);
  try {
    for (const k of FIXED) {
      const made = (state.options as Partial<ResolvedTrainGanOptions>)[k] ?? FIXED_BEFORE[k];
      if (JSON.stringify(made) !== JSON.stringify(o[k])) {
        throw usageError(`the checkpoint in '${dir}' was made with ${k} = ${JSON.stringify(made)}, not ${JSON.stringify(o[k])}`, {
          path: FLAGS[k] ?? `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, hint: 'use the same options to resume, another out folder, or resume: false to start over',
        });
      }
    }
    generator.setWeights(tensors.generator);
    ema.setWeights(tensors.ema);
    d.weights.forEach((v, i) => v.assign(tensors.discriminator[i]));
    d.spectral.forEach((v, i) => v.assign(tensors.spectral[i]));
    await gOpt.setWeights(tensors.generatorOptimizer);
    await dOpt.setWeights(tensors.discriminatorOptimizer);
    return state;
  } finally {
    tf.dispose([...tensors.generator, ...tensors.ema, ...tensors.discriminator, ...tensors.spectral,
      ...tensors.generatorOptimizer.map((t) => t.tensor), ...tensors.discriminatorOptimizer.map((t) => t.tensor)]);
  }
}
