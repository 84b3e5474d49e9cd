/**
 * One shard of a GAN training step: the summed hinge loss of `count` samples and its gradient for one player,
 * flattened in that player's weight order. The main thread and the training workers run the same function, so a batch
 * split over workers gives the gradient of the whole batch (the sum of the shards' sums).
 */
import * as tf from '../tf.js';
import { discriminate, spectralVectors, type Discriminator } from '../gan/net.js';
import { GAN_DRAW, gaussianSamples, instanceNoiseAt, realScenes } from './gan-batch.js';
import { flatGrads, type ShardGradient } from './shard.js';

/** Which player a shard computes the gradient of. */
export type GanPhase = 'discriminator' | 'generator';

/** What every shard of a run shares. */
export interface GanShardContext {
  /** Seed of the latents, the instance noise and the real scenes. */
  seed: number;
  classes: readonly string[];
  latentSize: number;
  imageSize: number;
  /** Instance noise at step 0 (standard deviation, in the [-1, 1] image range). */
  instanceNoise: number;
  /** The step at which instance noise has decayed to 0. */
  noiseUntil: number;
}

/** The two players. */
export interface GanNets {
  generator: tf.LayersModel;
  discriminator: Discriminator;
}

/** The generator's trainable variables, in the order every thread flattens them. */
export function generatorVariables(g: tf.LayersModel): tf.Variable[] {
  return g.trainableWeights.map((w) => w.read() as tf.Variable);
}

function withNoise(x: tf.Tensor4D, sigma: number, ctx: GanShardContext, step: number, draw: (typeof GAN_DRAW)[keyof typeof GAN_DRAW], from: number): tf.Tensor4D {
  if (sigma <= 0) return tf.clone(x);
  const [n, h, w, c] = x.shape;
  const noise = tf.tensor4d(gaussianSamples(ctx.seed, step, draw, from, n, h * w * c), [n, h, w, c]);
  const out = tf.tidy(() => tf.add<tf.Tensor4D>(x, tf.mul(noise, sigma)));
  noise.dispose();
  return out;
}

/**
 * The gradient of one player's summed hinge loss over samples `[from, from+count)` of `step` (global sample indices,
 * `step · batch + offset`).
 *
 * - `discriminator`: Σ relu(1 − D(real)) + Σ relu(1 + D(G(z))), gradient for the discriminator's weights; `correct`
 *   is Σ (D(real) − D(fake)), the summed margin.
 * - `generator`: −Σ D(G(z)), gradient for the generator's weights; `correct` is Σ D(fake).
 */
export function ganShardGradient(nets: GanNets, ctx: GanShardContext, phase: GanPhase, step: number, from: number, count: number): ShardGradient {
  const g = nets.generator;
  const d = nets.discriminator;
  const sigma = instanceNoiseAt(ctx.instanceNoise, step, ctx.noiseUntil);
  const size = ctx.imageSize;
  const vectors = spectralVectors(d);
  const latentDraw = phase === 'discriminator' ? GAN_DRAW.discriminatorLatent : GAN_DRAW.generatorLatent;
  const z = tf.tensor2d(gaussianSamples(ctx.seed, step, latentDraw, from, count, ctx.latentSize), [count, ctx.latentSize]);
  const toDispose: tf.Tensor[] = [z, ...vectors.flatMap(({ u, v }) => [u, v])];
  try {
    if (phase === 'discriminator') {
      const realClean = tf.tensor4d(realScenes(ctx.seed, ctx.classes, from, count, size), [count, size, size, 3]);
      const real = withNoise(realClean, sigma, ctx, step, GAN_DRAW.realNoise, from);
      const fakeClean = tf.tidy(() => g.apply(z, { training: true }) as tf.Tensor4D);
      const fake = withNoise(fakeClean, sigma, ctx, step, GAN_DRAW.fakeNoise, from);
      toDispose.push(realClean, real, fakeClean, fake);
      let margin = 0;
      // Real and generated images in one batch: one pass of the discriminator's kernels instead of two.
      const both = tf.concat([real, fake], 0);
      toDispose.push(both);
      const { value, grads } = tf.variableGrads(() => {
        const scores = discriminate(d, both, vectors, 2);
        const sr = tf.slice(scores, [0], [count]);
        const sf = tf.slice(scores, [count], [count]);
        margin = tf.tidy(() => tf.sum(tf.sub(sr, sf)).dataSync()[0]);
        return tf.add<tf.Scalar>(tf.sum(tf.relu(tf.sub(1, sr))), tf.sum(tf.relu(tf.add(1, sf))));
      }, d.weights);
      toDispose.push(value, ...Object.values(grads));
      return { grads: flatGrads(d.weights, grads), lossSum: value.dataSync()[0], correct: margin };
    }
    const vars = generatorVariables(g);
    const noise = sigma > 0 ? tf.tensor4d(gaussianSamples(ctx.seed, step, GAN_DRAW.generatorNoise, from, count, size * size * 3), [count, size, size, 3]) : undefined;
    if (noise) toDispose.push(noise);
    let fakeScore = 0;
    const { value, grads } = tf.variableGrads(() => {
      let fake = g.apply(z, { training: true }) as tf.Tensor4D;
      if (noise) fake = tf.add(fake, tf.mul(noise, sigma));
      const sf = discriminate(d, fake, vectors);
      fakeScore = tf.tidy(() => tf.sum(sf).dataSync()[0]);
      return tf.neg<tf.Scalar>(tf.sum(sf));
    }, vars);
    toDispose.push(value, ...Object.values(grads));
    return { grads: flatGrads(vars, grads), lossSum: value.dataSync()[0], correct: fakeScore };
  } finally {
    tf.dispose(toDispose);
  }
}
