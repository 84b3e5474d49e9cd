/**
 * The model card of a trained scene segmenter: `evaluation.json` and `MODEL_CARD.md` with the recipe, the time and
 * the per-concept IoU on held-out scenes at each size.
 */
import path from 'node:path';
import type { BackendInfo } from '../engine/backend.js';
import type { SegmenterEvaluation } from '../segment/evaluate.js';
import { writeAtomic, writeJsonAtomic } from '../util/atomic.js';
import { BALANCE_SCENES, type TrainSegmenterResult } from './segmenter.js';
import { FOCUS_MIN_SHARE, FOCUS_TRIES, MAX_BALANCE_RATIO } from './segmenter-batch.js';
import { SCENE_CLASSES } from '../data/scenes/index.js';
import { SCENE_SEGMENTER_CATEGORIES } from '../segment/net.js';

const pct = (x: number): string => (100 * x).toFixed(1) + '%';

/** Writes `evaluation.json` and `MODEL_CARD.md` beside a trained segmenter. */
export async function writeSegmenterCard(dir: string, result: TrainSegmenterResult, evaluations: readonly SegmenterEvaluation[], backend: BackendInfo): Promise<void> {
  const o = result.options;
  const last = result.lossHistory.slice(-50);
  const record = {
    recipe: { ...o, out: undefined, resume: undefined, maxSteps: undefined },
    segments: result.segments, steps: result.steps, trainMinutes: +(result.trainSeconds / 60).toFixed(2),
    backend: { name: backend.name, tfjs: backend.tfjsVersion, threads: backend.threads, simd: backend.simd },
    finalLoss: last.reduce((a, b) => a + b.loss, 0) / Math.max(1, last.length),
    ...(result.weights ? { weights: Object.fromEntries(SCENE_SEGMENTER_CATEGORIES.map((c, k) => [c.name, Object.fromEntries(['none', ...c.concepts].map((name, j) => [name, +result.weights![k][j].toFixed(4)]))])) } : {}),
    ...(result.calibration ? { calibration: { scenes: result.calibration.scenes, offsets: Object.fromEntries(result.calibration.categories.map((c, k) => [c.name, Object.fromEntries(['none', ...SCENE_SEGMENTER_CATEGORIES[k].concepts].map((name, j) => [name, c.offsets[j]]))])) } } : {}),
    evaluations,
  };
  await writeJsonAtomic(path.join(dir, 'evaluation.json'), record);
  const sizes = evaluations.map((e) => e.size);
  const rows = evaluations[0]?.concepts.map((c, i) => {
    const cells = evaluations.map((e) => `${e.concepts[i].iou.toFixed(3)} | ${pct(e.concepts[i].share)}`);
    return `| ${c.concept} | ${c.category} | ${cells.join(' | ')} |`;
  }) ?? [];
  const lines = [
    '# scenes-segmenter',
    '',
    'The built-in segmenter of unit-attack (`builtin:scenes-segmenter`): a small fully convolutional encoder–decoder',
    'that labels every pixel of a scene-world image with one concept per category (object, part, material). It lets',
    '`unit-attack dissect --segmenter` dissect plain images and generated samples, which come without label maps.',
    'Input: RGB in [0, 1], any size that is a multiple of 32 (others are resized); output: logits, one softmax per',
    'category (its first channel means "none of this category").',
    '',
    '## Recipe',
    '',
    '```',
    `unit-attack train-segmenter --out DIR --seed ${o.seed} --steps ${o.steps} --batch-size ${o.batchSize} --learning-rate ${o.learningRate} \\`,
    `  --sizes ${o.sizes.join(',')} --encoder-widths ${o.encoderWidths.join(',')} --decoder-widths ${o.decoderWidths.join(',')}${o.initFrom !== undefined ? ` --init-from ${o.initFrom}` : ''}${o.balance > 0 ? ` --balance ${o.balance}` : ''}${o.calibrate > 0 ? ` --calibrate ${o.calibrate}` : ''}${o.focus.length > 0 ? ` --focus ${o.focus.join(',')} --focus-share ${o.focusShare}` : ''}${o.lovasz.length > 0 ? ` --lovasz ${o.lovasz.join(',')}${o.lovaszPool > 1 ? ` --lovasz-pool ${o.lovaszPool}` : ''}` : ''}${o.classes.join(',') !== SCENE_CLASSES.join(',') ? ` \\\n  --classes ${o.classes.join(',')}` : ''}`,
    '```',
    '',
    `- Encoder widths ${o.encoderWidths.join(', ')} (a stride-2 stem, then max pooling), decoder widths ${o.decoderWidths.join(', ')} with skip connections, logits at half resolution upsampled bilinearly.`,
    `- ${o.initFrom !== undefined ? `Initialised from the weights of ${o.initFrom} (whose own card gives its recipe)` : `He-normal initialisation (seed ${o.seed})`}; Adam at ${o.learningRate}, cosine-decayed to 5%; ${o.batchSize} scenes per step, sizes ${o.sizes.join(' and ')} in turn; ${result.steps} steps.`,
    `- Loss per image and category: mean pixel cross-entropy of the category's softmax${o.balance > 0 ? ` (a pixel weighted by share^−${o.balance} of its concept, capped at ${MAX_BALANCE_RATIO}× the most common channel's weight and scaled to a mean of 1, shares measured on the first ${BALANCE_SCENES} scenes; weights in evaluation.json)` : ''} plus the soft Dice loss averaged over the concepts present${o.lovasz.length > 0 ? `, plus the Lovász–Jaccard loss of ${o.lovasz.join(', ')} ${o.lovaszPool > 1 ? `on the pooled pixels of each group of ${o.lovaszPool} images (a convex surrogate of 1 − the group's pooled IoU, times ${o.lovaszPool})` : 'on each image that shows it (a convex surrogate of 1 − IoU, per image)'}` : ''}.`,
    ...(result.calibration ? [`- Calibration after training: on ${result.calibration.scenes.count} scenes of the run's own stream that it never trained on (scenes ${result.calibration.scenes.from}…, ${result.calibration.scenes.size}×${result.calibration.scenes.size}, one pixel in ${result.calibration.scenes.stride} along each side), one logit offset per concept fitted by coordinate ascent to maximise the summed pooled IoU of its category, added to the head's bias (Σ IoU on those scenes: ${result.calibration.categories.map((c) => `${c.name} ${c.before.toFixed(2)} → ${c.after.toFixed(2)}`).join(', ')}; offsets in evaluation.json).`] : []),
    '- Augmentation, drawn from each scene\'s seed: horizontal flips, shifts of up to 5% of the side, colour gain, contrast and brightness jitter, 2×2 blockiness (20%), [1 2 1] blur (35%), Gaussian noise up to σ = 0.05 (50%).',
    `- Scene i of the run has seed sceneSeed(${o.seed}, i); classes ${o.classes.join(', ')} in turn.${o.focus.length > 0 ? ` With probability ${o.focusShare} (drawn from the scene's seed) the scene is instead one of a class that can show ${o.focus.join(' or ')}, redrawn up to ${FOCUS_TRIES} times until one covers ≥ ${100 * FOCUS_MIN_SHARE}% of its pixels.` : ''}`,
    `- Training time: ${(result.trainSeconds / 60).toFixed(1)} min on ${backend.name} (tfjs ${backend.tfjsVersion}), ${result.segments.map((s) => `${s.workers} thread${s.workers > 1 ? 's' : ''} from step ${s.fromStep}`).join(', ')}.`,
    `- Final training loss (mean of the last ${last.length} steps): ${record.finalLoss.toFixed(4)}.`,
    '',
    '## Held-out IoU',
    '',
    evaluations.map((e) => `At ${e.size}×${e.size}: mean IoU **${e.meanIou.toFixed(3)}** over the ${e.concepts.filter((c) => c.share >= e.minShare).length} concepts that cover ≥ ${pct(e.minShare)} of pixels, on ${e.count} scenes of dataset seed ${e.seed} (${e.seconds.toFixed(1)} s).`).join('\n'),
    '',
    'Pooled IoU (Σ intersection / Σ union over all scenes) per concept, and the concept\'s share of pixels:',
    '',
    `| concept | category | ${sizes.map((s) => `IoU at ${s} | share at ${s}`).join(' | ')} |`,
    `| --- | --- | ${sizes.map(() => '---: | ---:').join(' | ')} |`,
    ...rows,
    '',
  ];
  await writeAtomic(path.join(dir, 'MODEL_CARD.md'), lines.join('\n'));
}
