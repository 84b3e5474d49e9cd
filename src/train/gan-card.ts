/**
 * What a GAN training run leaves in its folder besides the checkpoint: the moving-average generator as a generator
 * folder (`model.json`, `weights.bin`, `unit-attack.json`), `samples.png` (a grid of samples from fixed latents, so
 * grids of successive checkpoints compare), `real.png` (real scenes of the training classes) and `MODEL_CARD.md`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { rawToPng } from '../data/codec.js';
import type { BackendInfo } from '../engine/backend.js';
import { generatorLayerNames, generatorOutputSize, GENERATOR_OUTPUT_RANGE } from '../gan/net.js';
import { saveGenerator } from '../gan/save.js';
import { writeAtomic } from '../util/atomic.js';
import { gaussianSamples, realScenes } from './gan-batch.js';
import type { TrainGanRunInfo } from './gan.js';

/** Seed of the fixed latents of `samples.png` (independent of the training seed). */
export const SAMPLE_GRID_SEED = 20_190_101;

/** Packs `n` images `[n, s, s, 3]` with values in [0, 1] into a PNG grid of `cols` columns. */
export async function imageGrid(images: Float32Array, n: number, size: number, cols: number): Promise<Uint8Array> {
  const rows = Math.ceil(n / cols);
  const W = cols * size; const H = rows * size;
  const px = new Uint8Array(W * H * 3);
  for (let k = 0; k < n; k++) {
    const r0 = Math.floor(k / cols) * size; const c0 = (k % cols) * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          const v = images[((k * size + y) * size + x) * 3 + c];
          px[((r0 + y) * W + c0 + x) * 3 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
        }
      }
    }
  }
  return new Uint8Array(await rawToPng(px, W, H));
}

/** `count` samples of a generator from the fixed latents of seed `seed`, as pixels in [0, 1]. */
export function sampleImages(model: tf.LayersModel, latentSize: number, count: number, seed = SAMPLE_GRID_SEED): Float32Array {
  const z = tf.tensor2d(gaussianSamples(seed, 0, 1, 0, count, latentSize), [count, latentSize]);
  const [lo, hi] = GENERATOR_OUTPUT_RANGE;
  const out = tf.tidy(() => tf.div(tf.sub(model.predict(z) as tf.Tensor, lo), hi - lo).dataSync() as Float32Array);
  z.dispose();
  return out;
}

/** Writes the generator folder, the sample grids and the model card for a run (at a checkpoint or at its end). */
export async function writeGanOutputs(out: string, ema: tf.LayersModel, info: TrainGanRunInfo, backend?: BackendInfo): Promise<void> {
  const o = info.options;
  const size = generatorOutputSize(o.generatorWidths);
  const layers = generatorLayerNames(o.generatorWidths);
  await saveGenerator(ema, out, {
    latentSize: o.latentSize, latentDistribution: 'normal', outputRange: [...GENERATOR_OUTPUT_RANGE] as [number, number], outputSize: size, layers,
    defaultLayer: layers[Math.min(3, layers.length - 1)],
    description: `scene generator trained on the unit-attack scene world (${o.classes.join(', ')}) by \`unit-attack train-gan\`; the moving average of the generator's weights after ${info.steps} steps`,
    classes: [...o.classes], steps: info.steps, seed: o.seed,
  });
  await writeAtomic(path.join(out, 'samples.png'), await imageGrid(sampleImages(ema, o.latentSize, 64), 64, size, 8));
  if (!existsSync(path.join(out, 'real.png'))) {
    const real = realScenes(o.seed + 1, o.classes, 0, 64, size).map((v) => (v + 1) / 2);
    await writeAtomic(path.join(out, 'real.png'), await imageGrid(real, 64, size, 8));
  }
  await writeAtomic(path.join(out, 'MODEL_CARD.md'), ganCard(info, backend));
}

function ganCard(info: TrainGanRunInfo, backend?: BackendInfo): string {
  const o = info.options;
  const size = generatorOutputSize(o.generatorWidths);
  const last = info.history.slice(-100);
  const mean = (f: (h: TrainGanRunInfo['history'][number]) => number): string => (last.reduce((a, h) => a + f(h), 0) / Math.max(1, last.length)).toFixed(3);
  const threads = [...new Set(info.segments.map((s) => s.workers))];
  const lines = [
    '# scenes-gan',
    '',
    `A generator of ${size}×${size} outdoor scenes of the unit-attack scene world (${o.classes.join(', ')}), trained adversarially`,
    'by `unit-attack train-gan`. ProGAN-like without progressive growing: a latent of ' + `${o.latentSize} standard normals → 4×4, then`,
    'pixel norm → (nearest ×2 upsampling every second layer) → 3×3 conv → leaky ReLU 0.2 per layer, 1×1 conv and tanh to RGB.',
    `Layers \`layer1\`…\`layer${o.generatorWidths.length}\` with ${o.generatorWidths.join(', ')} units; \`layer4\` is the 8×8 map to dissect.`,
    `Output in [${GENERATOR_OUTPUT_RANGE.join(', ')}]; pixels are (x + 1) / 2. The weights are the exponential moving average of the generator's.`,
    '',
    '## Recipe',
    '',
    '```',
    `unit-attack train-gan --out DIR --steps ${o.steps} --batch ${o.batchSize} --seed ${o.seed} --learning-rate ${o.learningRate} --d-learning-rate ${o.discriminatorLearningRate} \\`,
    `  --latent-size ${o.latentSize} --generator-widths ${o.generatorWidths.join(',')} --discriminator-widths ${o.discriminatorWidths.join(',')} \\`,
    `  --classes ${o.classes.join(',')} --instance-noise ${o.instanceNoise} --instance-noise-steps ${o.instanceNoiseSteps} --ema-decay ${o.emaDecay} \\`,
    `  --minibatch-std-group ${o.minibatchStdGroup}`,
    '```',
    '',
    `- Discriminator: a 3×3 conv at full resolution, then per level a 2×2 average pool (× 2) and two 3×3 convs (widths`,
    `  ${o.discriminatorWidths.join(', ')}), leaky ReLU 0.2, a linear score; every kernel spectrally normalised (one power iteration per step).`,
    ...(o.minibatchStdGroup > 1 ? [`  Before the last level's convs, a minibatch standard deviation channel (ProGAN) over groups of ${o.minibatchStdGroup} images.`] : []),
    `- Hinge loss; Adam (β1 0, β2 0.99; lr ${o.learningRate} for the generator, ${o.discriminatorLearningRate} for the discriminator);`,
    `  per step one discriminator update then one generator update, each on fresh latents, batch ${o.batchSize}; real scenes rendered`,
    `  on the fly (scene i has seed sceneSeed(${o.seed}, i)).`,
    `- Instance noise of standard deviation ${o.instanceNoise} on real and generated images, decaying linearly to 0 by step ${o.instanceNoiseSteps}.`,
    `- Moving average of the generator's weights with decay min(${o.emaDecay}, (1+t)/(10+t)).`,
    `- ${info.steps} of ${o.steps} steps${info.steps < o.steps ? ' so far (the run resumes from its checkpoint)' : ''}; training time ${(info.trainSeconds / 60).toFixed(1)} min (${(info.trainSeconds / Math.max(1, info.steps)).toFixed(2)} s/step)`
      + `${backend ? ` on ${backend.name} (tfjs ${backend.tfjsVersion})` : ''}, ${threads.length === 1 ? `${threads[0]} thread${threads[0] > 1 ? 's sharing every batch' : ''}` : `threads per stretch: ${info.segments.map((s) => `from step ${s.fromStep} ${s.workers}`).join(', ')}`}.`,
    '',
    '## Losses (mean of the last 100 steps)',
    '',
    `Discriminator hinge loss ${mean((h) => h.dLoss)}, generator loss ${mean((h) => h.gLoss)}, D(real) − D(fake) ${mean((h) => h.margin)}.`,
    '',
    '## Samples',
    '',
    '![64 samples from fixed latents](samples.png)',
    '',
    'Real scenes of the training classes, for comparison:',
    '',
    '![64 real scenes](real.png)',
    '',
  ];
  return lines.join('\n');
}
