import os from 'node:os';
import path from 'node:path';
import { usageError } from '../../errors.js';
import { initBackend } from '../../engine/backend.js';
import { saveLayersModel } from '../../models/io.js';
import { trainScenesModel } from '../../train/train.js';
import { writeModelCard } from '../../train/model-card.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { startProgress } from '../progress.js';

export const trainCommand: CommandSpec = {
  name: 'train',
  describe: 'Train the built-in scene classifier (VGG-16 topology) on the synthetic scene world',
  options: {
    out: { type: 'string', demandOption: true, describe: 'folder for the model, checkpoints and model card' },
    seed: { type: 'number', default: 1, describe: 'seed of the initial weights and the training scenes' },
    epochs: { type: 'number', default: 8, describe: 'passes over --scenes-per-epoch fresh scenes' },
    'scenes-per-epoch': { type: 'number', default: 8000, describe: 'fresh scenes per epoch (no scene is seen twice)' },
    'batch-size': { type: 'number', default: 32, describe: 'scenes per optimiser step, split over --workers' },
    'learning-rate': { type: 'number', default: 5e-4, describe: 'Adam, cosine-decayed to 10%' },
    'input-size': { type: 'number', default: 96, describe: 'image side in pixels (scenes are rendered at this size)' },
    width: { type: 'number', default: 0.1875, describe: 'VGG-16 width multiplier' },
    'block-widths': { type: 'string', describe: 'conv widths of blocks 1–5 in place of the multiplied ones, e.g. 8,16,32,96,96 (fc keeps --width)' },
    'fc-width': { type: 'number', default: 1024, describe: 'fc1/fc2 width before the multiplier' },
    'checkpoint-every': { type: 'number', default: 100, describe: 'steps between checkpoints' },
    'eval-count': { type: 'number', default: 2000, describe: 'held-out scenes for the final evaluation' },
    'eval-seed': { type: 'number', default: 1_000_003, describe: 'dataset seed of the held-out scenes (must differ from --seed)' },
    resume: { type: 'boolean', default: true, describe: 'continue from the checkpoint in --out (--no-resume starts over)' },
    'max-steps': { type: 'number', describe: 'stop after this many steps (resume later)' },
    workers: { type: 'number', default: os.availableParallelism(), defaultDescription: 'the number of cores', describe: 'threads that share every batch (data-parallel); 1 trains in this thread' },
    json: jsonOption,
  },
  examples: [['unit-attack train --out models/scenes-vgg16', 'reproduce the built-in model (its MODEL_CARD.md gives the recipe and the time it took)']],
  async run(argv, io) {
    const workers = argv.workers as number;
    if (!Number.isInteger(workers) || workers < 1) {
      throw usageError(`--workers must be a positive integer, got ${String(argv.workers)}`, { path: '--workers', hint: `this machine has ${os.availableParallelism()} cores` });
    }
    if (workers > os.availableParallelism()) io.err(`warning: --workers ${workers} is more than this machine's ${os.availableParallelism()} cores; the threads will take turns`);
    const backend = await initBackend({ backend: argv.backend });
    const out = argv.out as string;
    let bar: ReturnType<typeof startProgress> | undefined;
    const result = await trainScenesModel({
      out, seed: argv.seed as number, epochs: argv.epochs as number, scenesPerEpoch: argv['scenes-per-epoch'] as number,
      batchSize: argv['batch-size'] as number, learningRate: argv['learning-rate'] as number, inputSize: argv['input-size'] as number,
      widthMultiplier: argv.width as number, ...(argv['block-widths'] !== undefined ? { blockWidths: parseBlockWidths(argv['block-widths']) } : {}), fcWidth: argv['fc-width'] as number, checkpointEvery: argv['checkpoint-every'] as number,
      evalCount: argv['eval-count'] as number, evalSeed: argv['eval-seed'] as number, resume: argv.resume as boolean,
      ...(argv['max-steps'] !== undefined ? { maxSteps: argv['max-steps'] as number } : {}), workers,
    }, {
      onStep(p) {
        if (!bar) {
          bar = startProgress(io, 'train', p.totalSteps, argv.quiet);
          if (p.step > 1) bar.tick(p.step - 1); // resumed
        }
        bar.tick(1, `epoch ${p.epoch} loss ${p.loss.toFixed(3)} acc ${p.accuracy.toFixed(2)}`);
        if (!io.isTTY && !argv.quiet && p.step % 50 === 0) io.err(`step ${p.step}/${p.totalSteps} epoch ${p.epoch} loss ${p.loss.toFixed(4)} acc ${p.accuracy.toFixed(3)}`);
      },
    });
    bar?.stop();
    if (!result.finished) {
      if (argv.json) io.out(JSON.stringify({ out, finished: false, steps: result.steps, trainSeconds: result.trainSeconds, checkpoint: path.join(out, 'checkpoint') }, null, 2));
      else io.out(`stopped at step ${result.steps}; run the same command again to resume from ${path.join(out, 'checkpoint')}`);
      result.model.dispose();
      return 0;
    }
    await saveLayersModel(result.model, out, {
      classes: [...result.options.classes], preprocessing: 'unit', defaultLayer: 'block5_conv3',
      description: 'VGG-16 topology trained on the unit-attack synthetic scene world by `unit-attack train`',
    });
    await writeModelCard(out, result, backend);
    const ev = result.evaluation!;
    if (argv.json) {
      io.out(JSON.stringify({ out, finished: true, steps: result.steps, trainSeconds: result.trainSeconds, evaluation: { count: ev.count, accuracy: ev.accuracy } }, null, 2));
      result.model.dispose();
      return 0;
    }
    io.out(`held-out accuracy ${(ev.accuracy * 100).toFixed(2)}% on ${ev.count} scenes; training took ${(result.trainSeconds / 60).toFixed(1)} min`);
    io.out(`model written to ${out} (model.json, weights.bin, unit-attack.json, MODEL_CARD.md, evaluation.json)`);
    result.model.dispose();
    return 0;
  },
};

/** `--block-widths 8,16,32,96,96` as five integers (the builder checks them further). */
function parseBlockWidths(v: unknown): number[] {
  const parts = String(v).split(',').map((t) => t.trim());
  const widths = parts.map(Number);
  if (parts.length !== 5 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    throw usageError(`--block-widths takes five positive integers separated by commas, got '${String(v)}'`, {
      path: '--block-widths', hint: 'e.g. --block-widths 8,16,32,96,96',
    });
  }
  return widths;
}
