import os from 'node:os';
import path from 'node:path';
import { usageError } from '../../errors.js';
import { initBackend } from '../../engine/backend.js';
import { GAN_SCENE_CLASSES, trainGan, type TrainGanOptions } from '../../train/gan.js';
import { writeGanOutputs } from '../../train/gan-card.js';
import { jsonOption, type CommandSpec, type GlobalArgs } from '../command.js';
import { parseIntList } from './train-segmenter.js';

/**
 * The default of `--workers`: data-parallel over up to two cores, like the other training commands. Measured on a 2-core
 * machine that other jobs kept loaded (load average ≈ 7.5), 2 threads took 5.47 s per batch-32 step and 1 thread 5.29 s:
 * no gain there; the comparison on idle cores is still to be made (`--steps 12 --workers 1` against `--workers 2`).
 */
function defaultGanWorkers(): number {
  return Math.min(2, os.availableParallelism());
}

const posInt = (argv: GlobalArgs, flag: string, example: string): void => {
  const v = argv[flag];
  if (v === undefined) return;
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
    throw usageError(`--${flag} must be a positive integer, got ${JSON.stringify(v)}`, { path: `--${flag}`, hint: `e.g. --${flag} ${example}` });
  }
};

/** Turns parsed arguments into {@link TrainGanOptions} (pure; throws usage errors naming the option). */
export function trainGanOptionsOf(argv: GlobalArgs): TrainGanOptions {
  posInt(argv, 'steps', '4000'); posInt(argv, 'batch', '32'); posInt(argv, 'checkpoint-every', '100'); posInt(argv, 'workers', '2');
  posInt(argv, 'latent-size', '128');
  const maxSteps = argv['max-steps'];
  if (maxSteps !== undefined && !(typeof maxSteps === 'number' && Number.isInteger(maxSteps) && maxSteps >= 0)) {
    throw usageError(`--max-steps must be an integer ≥ 0, got ${JSON.stringify(maxSteps)}`, { path: '--max-steps', hint: 'e.g. --max-steps 500, or --max-steps 0 to write the checkpoint\'s generator without training' });
  }
  if (!Number.isSafeInteger(argv.seed)) throw usageError(`--seed must be an integer, got ${String(argv.seed)}`, { path: '--seed', hint: 'e.g. --seed 1' });
  const num = (flag: string): number => {
    const v = argv[flag];
    if (typeof v !== 'number' || Number.isNaN(v)) throw usageError(`--${flag} must be a number, got ${String(v)}`, { path: `--${flag}` });
    return v;
  };
  const workers = (argv.workers as number | undefined) ?? defaultGanWorkers();
  return {
    out: argv.out as string, seed: argv.seed as number, steps: argv.steps as number, batchSize: argv.batch as number,
    learningRate: num('learning-rate'), ...(argv['d-learning-rate'] !== undefined ? { discriminatorLearningRate: num('d-learning-rate') } : {}), latentSize: argv['latent-size'] as number,
    ...(argv['generator-widths'] !== undefined ? { generatorWidths: parseIntList(argv['generator-widths'], 'generator-widths', '128,128,128,128,64,64,32,32,16,16') } : {}),
    ...(argv['discriminator-widths'] !== undefined ? { discriminatorWidths: parseIntList(argv['discriminator-widths'], 'discriminator-widths', '32,64,128,256') } : {}),
    classes: String(argv.classes).split(',').map((c) => c.trim()).filter((c) => c !== ''),
    instanceNoise: num('instance-noise'), instanceNoiseSteps: argv['instance-noise-steps'] as number, emaDecay: num('ema-decay'),
    minibatchStdGroup: argv['minibatch-std-group'] as number,
    checkpointEvery: argv['checkpoint-every'] as number, resume: argv.resume as boolean, workers,
    ...(argv['max-steps'] !== undefined ? { maxSteps: argv['max-steps'] as number } : {}),
    ...(argv['max-minutes'] !== undefined ? { maxMinutes: num('max-minutes') } : {}),
  };
}

export const trainGanCommand: CommandSpec = {
  name: 'train-gan',
  describe: 'Train the scene generator (a GAN) on outdoor scenes of the scene world; re-run the same command to resume',
  options: {
    json: jsonOption,
    out: { type: 'string', demandOption: true, describe: 'folder for the generator, checkpoints, samples and model card' },
    seed: { type: 'number', default: 1, describe: 'seed of the initial weights, latents, instance noise and real scenes' },
    steps: { type: 'number', default: 4000, describe: 'training steps (a discriminator and a generator update each); may grow between resumes' },
    batch: { type: 'number', default: 32, alias: 'batch-size', describe: 'real scenes and latents per update' },
    'learning-rate': { type: 'number', default: 2e-4, describe: 'Adam learning rate of the generator (β1 0, β2 0.99)' },
    'd-learning-rate': { type: 'number', describe: 'Adam learning rate of the discriminator (default: --learning-rate)' },
    'latent-size': { type: 'number', default: 128, describe: 'length of the latent vector' },
    'generator-widths': { type: 'string', describe: 'units of layer1…layerN, two per resolution from 4×4 (default 128,128,128,128,64,64,32,32,16,16: 64×64 images)' },
    'discriminator-widths': { type: 'string', describe: 'discriminator widths, one per halving down to 4×4 (default 32,64,128,256 for 64×64)' },
    classes: { type: 'string', default: GAN_SCENE_CLASSES.join(','), describe: 'scene classes of the real images' },
    'instance-noise': { type: 'number', default: 0.1, describe: 'instance noise at step 0 (standard deviation, images in [-1, 1])' },
    'instance-noise-steps': { type: 'number', default: 1000, describe: 'steps over which instance noise decays to 0' },
    'ema-decay': { type: 'number', default: 0.999, describe: 'decay of the moving average of the generator\'s weights' },
    'minibatch-std-group': { type: 'number', default: 4, describe: 'group size of the discriminator\'s minibatch standard deviation channel (divides --batch; 0: none, as runs made before it)' },
    'checkpoint-every': { type: 'number', default: 100, describe: 'steps between checkpoints (each also writes the generator and samples.png)' },
    resume: { type: 'boolean', default: true, describe: 'continue from the checkpoint in --out (--no-resume starts over)' },
    'max-steps': { type: 'number', describe: 'stop after this many steps in this call (resume later); 0 trains nothing and writes the generator, samples and card of the checkpoint in --out' },
    'max-minutes': { type: 'number', describe: 'stop with a checkpoint after this many minutes of this call (resume later)' },
    workers: { type: 'number', defaultDescription: 'min(2, the cores)', describe: 'threads that share every batch (data-parallel); 1 trains in this thread' },
  },
  examples: [
    ['unit-attack train-gan --out runs/gan', 'train the scene generator; run the same command again to resume'],
    ['unit-attack train-gan --out runs/gan --steps 8000', 'continue a finished run for more steps'],
    ['unit-attack train-gan --out runs/gan --max-steps 0 …', 'write the generator of the checkpoint in runs/gan (the run\'s own options) without training'],
  ],
  check(argv) {
    trainGanOptionsOf(argv);
  },
  async run(argv, io) {
    const options = trainGanOptionsOf(argv);
    if ((options.workers ?? 1) > os.availableParallelism()) {
      io.err(`warning: --workers ${options.workers} is more than this machine's ${os.availableParallelism()} cores; the threads will take turns`);
    }
    const backend = await initBackend({ backend: argv.backend });
    const out = options.out;
    let window: number[] = [];
    let shown = 0;
    const result = await trainGan(options, {
      onStep(p) {
        window.push(p.seconds);
        if (argv.quiet || (p.step % 10 !== 0 && shown >= 3)) return;
        shown++;
        const sps = window.reduce((a, b) => a + b, 0) / window.length;
        window = [];
        io.err(`step ${p.step}/${p.totalSteps} d_loss ${p.dLoss.toFixed(4)} g_loss ${p.gLoss.toFixed(4)} margin ${p.margin.toFixed(3)} ${sps.toFixed(2)} s/step`);
      },
      async onCheckpoint(step, ema, info) {
        await writeGanOutputs(out, ema, info, backend);
        if (!argv.quiet) io.err(`checkpoint at step ${step} (${(info.trainSeconds / 60).toFixed(1)} min so far): ${path.join(out, 'checkpoint')}, samples in ${path.join(out, 'samples.png')}`);
      },
    });
    const done = options.maxSteps === 0
      ? `wrote the generator of the checkpoint at step ${result.steps} of ${result.options.steps} (no training)`
      : result.finished
      ? `finished ${result.steps} steps`
      : `stopped at step ${result.steps} of ${result.options.steps}; run the same command again to resume from ${path.join(out, 'checkpoint')}`;
    if (argv.json) {
      io.out(JSON.stringify({ out, finished: result.finished, steps: result.steps, totalSteps: result.options.steps, trainSeconds: result.trainSeconds, checkpoint: path.join(out, 'checkpoint') }, null, 2));
    } else io.out(`${done}; training took ${(result.trainSeconds / 60).toFixed(1)} min${options.maxSteps === 0 ? ' in all' : ''}; generator written to ${out} (model.json, weights.bin, unit-attack.json, samples.png, MODEL_CARD.md)`);
    // The quality figures are a separate step (two more models, minutes of work, repeatable on any checkpoint).
    if (!argv.json && result.finished) io.out(`quality figures for the model card: unit-attack gan-quality --model ${out} --card`);
    result.ema.dispose();
    result.generator.dispose();
    return 0;
  },
};
