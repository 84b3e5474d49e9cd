/**
 * The random inputs of GAN training as pure functions of (seed, step, index): latent vectors, instance noise and the
 * real scenes. Any thread can draw any sample of any step on its own, so a batch split over workers, or a run resumed
 * from a checkpoint, sees exactly the numbers an uninterrupted one-thread run sees: the step is the whole RNG state.
 */
import { Rng, hash32, renderScene, sceneSeed } from '../data/scenes/index.js';
import { seedWords } from '../data/scenes/render.js';

/** Which draw of a step a sample belongs to (latents and instance noise of each round are independent). */
export const GAN_DRAW = {
  discriminatorLatent: 1,
  generatorLatent: 2,
  realNoise: 3,
  fakeNoise: 4,
  generatorNoise: 5,
} as const;
export type GanDraw = (typeof GAN_DRAW)[keyof typeof GAN_DRAW];

const GAN_SALT = 0x6a17;

/** `count × length` standard normals: sample `from + i` of draw `draw` at `step` of the run with seed `seed`. */
export function gaussianSamples(seed: number, step: number, draw: GanDraw, from: number, count: number, length: number): Float32Array {
  const [lo, hi] = seedWords(seed);
  const out = new Float32Array(count * length);
  for (let i = 0; i < count; i++) {
    const rng = new Rng(hash32(lo, hi, step, draw, from + i, GAN_SALT));
    const off = i * length;
    for (let k = 0; k < length; k++) out[off + k] = rng.normal();
  }
  return out;
}

/**
 * Real scenes `[from, from+count)` of the training set, NHWC in [-1, 1]: scene `i` is of class `classes[i % n]` and has
 * seed `sceneSeed(datasetSeed, i)`, so every step sees fresh scenes.
 */
export function realScenes(datasetSeed: number, classes: readonly string[], from: number, count: number, size: number): Float32Array {
  const per = size * size * 3;
  const out = new Float32Array(count * per);
  for (let i = 0; i < count; i++) {
    const index = from + i;
    const scene = renderScene({ cls: classes[index % classes.length], seed: sceneSeed(datasetSeed, index), size });
    const off = i * per;
    for (let k = 0; k < per; k++) out[off + k] = scene.image[k] / 127.5 - 1;
  }
  return out;
}

/** The instance-noise standard deviation at `step`: `start`, decaying linearly to 0 at `until`. */
export function instanceNoiseAt(start: number, step: number, until: number): number {
  return until <= 0 ? 0 : start * Math.max(0, 1 - step / until);
}
