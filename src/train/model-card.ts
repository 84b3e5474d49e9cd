import path from 'node:path';
import type { BackendInfo } from '../engine/backend.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { TrainResult } from './train.js';

/** Writes `evaluation.json` and `MODEL_CARD.md` (recipe, seed, time, accuracy overall and per class) beside a trained model. */
export async function writeModelCard(dir: string, result: TrainResult, backend: BackendInfo): Promise<void> {
  const o = result.options;
  const ev = result.evaluation;
  const record = {
    recipe: { ...o, out: undefined, resume: undefined, maxSteps: undefined },
    segments: result.segments,
    steps: result.steps,
    trainMinutes: +(result.trainSeconds / 60).toFixed(2),
    backend: { name: backend.name, tfjs: backend.tfjsVersion, threads: backend.threads, simd: backend.simd },
    evaluation: ev,
    finalLoss: result.lossHistory.slice(-20).reduce((a, b) => a + b.loss, 0) / Math.max(1, Math.min(20, result.lossHistory.length)),
  };
  await writeJsonAtomic(path.join(dir, 'evaluation.json'), record);
  const lines = [
    '# scenes-vgg16',
    '',
    'The built-in model of unit-attack (`builtin:scenes-vgg16`): the VGG-16 topology (13 conv layers in 5 blocks,',
    '`fc1`, `fc2`, `predictions`, Keras layer names) at reduced width and input size, trained from scratch on the',
    'synthetic scene world. Input: RGB in [0, 1] (`unit` preprocessing), ' + `${o.inputSize}×${o.inputSize}` + '. Output: logits.',
    '',
    '## Recipe',
    '',
    '```',
    `unit-attack train --out DIR --seed ${o.seed} --epochs ${o.epochs} --scenes-per-epoch ${o.scenesPerEpoch} --batch-size ${o.batchSize} \\`,
    `  --learning-rate ${o.learningRate} --input-size ${o.inputSize} --width ${o.widthMultiplier}${o.blockWidths ? ` --block-widths ${o.blockWidths.join(',')}` : ''} --fc-width ${o.fcWidth}`,
    '```',
    '',
    o.blockWidths
      ? `- Conv widths ${o.blockWidths.join(', ')} (blocks 1–5); fc ${Math.round(o.fcWidth * o.widthMultiplier)} (width multiplier ${o.widthMultiplier}).`
      : `- Width multiplier ${o.widthMultiplier} (conv widths ${[64, 128, 256, 512, 512].map((c) => Math.round(c * o.widthMultiplier)).join(', ')}; fc ${Math.round(o.fcWidth * o.widthMultiplier)}).`,
    `- He-normal initialisation (seed ${o.seed}), Adam at ${o.learningRate} with cosine decay to 10%, batch ${o.batchSize}, softmax cross-entropy.`,
    `- ${o.epochs} epochs of ${o.scenesPerEpoch} fresh scenes each (scene i of the run has seed sceneSeed(${o.seed}, i)); ${result.steps} steps.`,
    ...segmentLines(result.segments),
    `- Training time: ${(result.trainSeconds / 60).toFixed(1)} min on ${backend.name} (tfjs ${backend.tfjsVersion}), ${threadsOf(result.segments)}.`,
    '',
  ];
  if (ev) {
    lines.push('## Held-out accuracy', '',
      `${(ev.accuracy * 100).toFixed(2)}% on ${ev.count} scenes of dataset seed ${ev.evalSeed} (no scene seed shared with training).`, '',
      '| class | scenes | accuracy |', '| --- | ---: | ---: |',
      ...Object.entries(ev.perClass).map(([c, v]) => `| ${c} | ${v.count} | ${(v.accuracy * 100).toFixed(1)}% |`), '');
  }
  await writeAtomic(path.join(dir, 'MODEL_CARD.md'), lines.join('\n'));
}

type Segment = TrainResult['segments'][number];

/** How the run used threads: one, N, or one then N (data-parallel stretches record their worker count). */
function threadsOf(segments: readonly Segment[]): string {
  const counts = [...new Set(segments.map((g) => g.workers ?? 1))];
  if (counts.length === 1) return counts[0] === 1 ? 'one thread' : `${counts[0]} threads sharing every batch (--workers ${counts[0]})`;
  return `threads per stretch: ${segments.map((g) => `from step ${g.fromStep} ${g.workers ?? 1}`).join(', ')}`;
}

/** The resumes that changed the schedule or the threads, in words. */
function segmentLines(segments: readonly Segment[]): string[] {
  if (segments.length < 2) return [];
  const epochs = new Set(segments.map((g) => g.epochs)).size > 1;
  const lines = [`- The run was resumed: ${segments.map((g) => `from step ${g.fromStep} with --epochs ${g.epochs} --workers ${g.workers ?? 1}`).join(', then ')}.`];
  if (epochs) lines.push('  The cosine schedule follows the latest --epochs, so reproducing the run exactly takes the same commands, each stopped at the next segment with --max-steps.');
  lines.push('  The number of workers changes only the order of floating-point sums in each step\'s gradient.');
  return lines;
}
