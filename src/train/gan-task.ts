/**
 * The GAN model of a training thread: it holds copies of both players, sets them from the weights it is sent
 * (generator, discriminator, spectral-norm vectors, concatenated) and computes its shard of one player's gradient.
 */
import { buildGenerator, createDiscriminator } from '../gan/net.js';
import { assignVariables } from './shard.js';
import { ganShardGradient, generatorVariables } from './gan-shard.js';
import type { ShardTask, TrainWorkerInit } from './tasks.js';

export function ganShardTask(init: Extract<TrainWorkerInit, { task: 'gan' }>): ShardTask {
  const generator = buildGenerator(init.generator);
  const discriminator = createDiscriminator(init.discriminator);
  const vars = [...generatorVariables(generator), ...discriminator.weights, ...discriminator.spectral];
  return {
    compute(m) {
      if (m.phase === undefined || m.step === undefined) throw new Error('a GAN step needs a phase and a step');
      assignVariables(vars, m.weights);
      return ganShardGradient({ generator, discriminator }, init.context, m.phase, m.step, m.from, m.count);
    },
    dispose() {
      generator.dispose();
      discriminator.dispose();
    },
  };
}
