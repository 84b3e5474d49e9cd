import os from 'node:os';
import path from 'node:path';
import { usageError } from '../../errors.js';
import { initBackend } from '../../engine/backend.js';
import { evaluateSegmenter } from '../../segment/evaluate.js';
import { saveSegmenter } from '../../segment/save.js';
import { trainSegmenter } from '../../train/segmenter.js';
import { writeSegmenterCard } from '../../train/segmenter-card.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { startProgress } from '../progress.js';

/** `--sizes 96,64` and the like as positive integers. */
export function parseIntList(v: unknown, flag: string, example: string): number[] {
  const parts = String(v).split(',').map((t) => t.trim());
  const values = parts.map(Number);
  if (parts.length === 0 || values.some((x) => !Number.isInteger(x) || x < 1)) {
    throw usageError(`--${flag} takes positive integers separated by commas, got '${String(v)}'`, { path: `--${flag}`, hint: `e.g. --${flag} ${example}` });
  }
  return values;
}

/** `--focus door,window` and the like as names, blanks dropped. */
const nameList = (v: unknown): string[] => String(v).split(',').map((c) => c.trim()).filter((c) => c !== '');

export const trainSegmenterCommand: CommandSpec = {
  name: 'train-segmenter',
  describe: 'Train the built-in scene segmenter on the scene world\'s exact label maps',
  options: {
    out: { type: 'string', demandOption: true, describe: 'folder for the segmenter, checkpoints and model card' },
    json: jsonOption,
    seed: { type: 'number', default: 1, describe: 'seed of the initial weights, the training scenes and their augmentation' },
    steps: { type: 'number', default: 3000, describe: 'optimiser steps' },
    'batch-size': { type: 'number', default: 16, describe: 'scenes per step' },
    'learning-rate': { type: 'number', default: 0.002, describe: 'Adam, cosine-decayed to 5%' },
    sizes: { type: 'string', default: '96,64', describe: 'scene sizes, one per step in turn (multiples of 32)' },
    'encoder-widths': { type: 'string', default: '16,32,64,96,128', describe: 'encoder widths, one per level' },
    'decoder-widths': { type: 'string', default: '96,64,48,24', describe: 'decoder widths, one fewer than the encoder\'s' },
    'checkpoint-every': { type: 'number', default: 100, describe: 'steps between checkpoints' },
    'eval-count': { type: 'number', default: 2000, describe: 'held-out scenes of the final evaluation, at each size' },
    'eval-seed': { type: 'number', default: 1_000_003, describe: 'dataset seed of the held-out scenes' },
    resume: { type: 'boolean', default: true, describe: 'continue from the checkpoint in --out (--no-resume starts over)' },
    'max-steps': { type: 'number', describe: 'stop after this many steps (resume later)' },
    'init-from': { type: 'string', describe: 'start from the weights of this segmenter (builtin:scenes-segmenter or a folder of the same widths, or one whose last decoder level or encoder levels above the deepest are narrower; the new channels start without effect): a new schedule continuing an earlier run' },
    balance: { type: 'number', default: 0, describe: 'class balance of the cross-entropy: a concept\'s pixels weigh share^-BALANCE (0 = all the same, 0.5 = 1/√share, capped at 25×)' },
    calibrate: { type: 'number', default: 0, describe: 'after training, fit a logit offset per concept on this many unseen scenes of the run\'s stream to maximise IoU, folded into the head\'s bias (0 = none)' },
    focus: { type: 'string', describe: 'concepts whose scenes are drawn more often, comma-separated (e.g. door,window): a share of the scenes is redrawn until one of them shows' },
    'focus-share': { type: 'number', default: 0.5, describe: 'share of the scenes drawn for --focus, in (0, 1]' },
    lovasz: { type: 'string', describe: 'concepts whose Lovász–Jaccard loss (a loss on their IoU) joins the cross-entropy, comma-separated (e.g. door)' },
    'lovasz-pool': { type: 'number', default: 1, describe: 'images whose pixels one --lovasz term pools (1 = each image on its own; more = the pooled IoU of each group, so a concept drawn where there is none counts); must divide --batch-size' },
    classes: { type: 'string', describe: 'scene classes drawn in turn, comma-separated (default: all 12; a class named twice is drawn twice as often)' },
    workers: { type: 'number', default: os.availableParallelism(), defaultDescription: 'the number of cores', describe: 'threads that share every batch (data-parallel); 1 trains in this thread' },
  },
  examples: [['unit-attack train-segmenter --out models/scenes-segmenter', 'reproduce the built-in segmenter (its MODEL_CARD.md gives the recipe and the time it took)']],
  async run(argv, io) {
    const workers = argv.workers as number;
    if (!Number.isInteger(workers) || workers < 1) {
      throw usageError(`--workers must be a positive integer, got ${String(argv.workers)}`, { path: '--workers', hint: `this machine has ${os.availableParallelism()} cores` });
    }
    if (workers > os.availableParallelism()) io.err(`warning: --workers ${workers} is more than this machine's ${os.availableParallelism()} cores; the threads will take turns`);
    const backend = await initBackend({ backend: argv.backend });
    const out = argv.out as string;
    let bar: ReturnType<typeof startProgress> | undefined;
    const result = await trainSegmenter({
      out, seed: argv.seed as number, steps: argv.steps as number, batchSize: argv['batch-size'] as number,
      learningRate: argv['learning-rate'] as number, sizes: parseIntList(argv.sizes, 'sizes', '96,64'),
      encoderWidths: parseIntList(argv['encoder-widths'], 'encoder-widths', '16,32,64,96,128'),
      decoderWidths: parseIntList(argv['decoder-widths'], 'decoder-widths', '96,64,48,24'),
      checkpointEvery: argv['checkpoint-every'] as number, evalCount: argv['eval-count'] as number, evalSeed: argv['eval-seed'] as number,
      resume: argv.resume as boolean, workers, ...(argv['max-steps'] !== undefined ? { maxSteps: argv['max-steps'] as number } : {}),
      ...(argv['init-from'] !== undefined ? { initFrom: argv['init-from'] as string } : {}),
      balance: argv.balance as number, calibrate: argv.calibrate as number, focusShare: argv['focus-share'] as number, lovaszPool: argv['lovasz-pool'] as number,
      ...(argv.focus !== undefined ? { focus: nameList(argv.focus) } : {}),
      ...(argv.lovasz !== undefined ? { lovasz: nameList(argv.lovasz) } : {}),
      ...(argv.classes !== undefined ? { classes: nameList(argv.classes) } : {}),
    }, {
      onStep(p) {
        if (!bar) {
          bar = startProgress(io, 'train-segmenter', p.totalSteps, argv.quiet);
          if (p.step > 1) bar.tick(p.step - 1);
        }
        bar.tick(1, `loss ${p.loss.toFixed(3)} pixel acc ${p.pixelAccuracy.toFixed(3)}`);
        if (!io.isTTY && !argv.quiet && p.step % 50 === 0) io.err(`step ${p.step}/${p.totalSteps} size ${p.size} loss ${p.loss.toFixed(4)} pixel acc ${p.pixelAccuracy.toFixed(3)}`);
      },
    });
    bar?.stop();
    if (!result.finished) {
      if (argv.json) io.out(JSON.stringify({ out, finished: false, steps: result.steps, trainSeconds: result.trainSeconds, checkpoint: path.join(out, 'checkpoint') }, null, 2));
      else io.out(`stopped at step ${result.steps}; run the same command again to resume from ${path.join(out, 'checkpoint')}`);
      result.segmenter.dispose();
      return 0;
    }
    const evaluations = [];
    for (const size of [...new Set(result.options.sizes)]) {
      const evalBar = startProgress(io, `evaluate ${size}×${size}`, result.options.evalCount, argv.quiet);
      let shown = 0;
      evaluations.push(await evaluateSegmenter(result.segmenter, {
        count: result.options.evalCount, seed: result.options.evalSeed, size, onProgress: (done) => { evalBar.tick(done - shown); shown = done; },
      }));
      evalBar.stop();
    }
    await saveSegmenter(result.model, out, result.options);
    await writeSegmenterCard(out, result, evaluations, backend);
    if (argv.json) {
      io.out(JSON.stringify({ out, finished: true, steps: result.steps, trainSeconds: result.trainSeconds, evaluations: evaluations.map((e) => ({ size: e.size, count: e.count, meanIou: e.meanIou })) }, null, 2));
      result.segmenter.dispose();
      return 0;
    }
    for (const e of evaluations) io.out(`held-out mean IoU at ${e.size}×${e.size}: ${e.meanIou.toFixed(3)} (${e.count} scenes)`);
    io.out(`training took ${(result.trainSeconds / 60).toFixed(1)} min; segmenter written to ${out} (model.json, weights.bin, unit-attack.json, MODEL_CARD.md, evaluation.json)`);
    result.segmenter.dispose();
    return 0;
  },
};

