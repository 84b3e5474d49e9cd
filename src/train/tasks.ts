/**
 * Data-parallel training on the executor: the `trainer` context (a thread that builds the same model as the main
 * thread: the scene classifier, the scene segmenter or the scene GAN) and its task `train-shard`, which sets the
 * weights it is sent, renders its shard of the batch and returns the shard's summed loss and gradient.
 */
import type * as tf from '../tf.js';
import type { BackendName } from '../engine/backend.js';
import { buildVgg16, type Vgg16Options } from '../models/vgg16.js';
import { registerContext, registerPoolTask } from '../parallel/executor.js';
import { buildSegmenterNet, type SegmenterNetOptions } from '../segment/net.js';
import type { DiscriminatorOptions, GeneratorNetOptions } from '../gan/net.js';
import { assignVariables, shardGradient, trainableVariables, type ShardGradient } from './shard.js';
import { segmenterShardGradient, type SegmenterShardContext } from './segmenter-shard.js';
import type { GanPhase, GanShardContext } from './gan-shard.js';

/** What a training thread builds: the scene classifier (the default task), the scene segmenter or the scene GAN. */
export type TrainWorkerInit =
  | { task?: 'classifier'; backend: BackendName; model: Vgg16Options; classes: readonly string[]; datasetSeed: number; inputSize: number }
  | { task: 'segmenter'; backend: BackendName; net: SegmenterNetOptions; context: SegmenterShardContext }
  | { task: 'gan'; backend: BackendName; generator: GeneratorNetOptions; discriminator: DiscriminatorOptions; context: GanShardContext };

/** A `train-shard` task: the weights to use and the scenes of the shard. */
export interface TrainWorkerStep {
  weights: Float32Array;
  from: number;
  count: number;
  /** Side length of this step's scenes (the segmenter trains on several sizes; the classifier uses its input size). */
  size?: number;
  /** GAN training: which player's gradient, and the step (the latents and noise are drawn from it). */
  phase?: GanPhase;
  step?: number;
}

/** A model's shard computation and its clean-up. */
export interface ShardTask {
  compute(m: TrainWorkerStep): ShardGradient;
  dispose(): void;
}

async function taskOf(init: TrainWorkerInit): Promise<ShardTask> {
  if (init.task === 'gan') {
    const { ganShardTask } = await import('./gan-task.js');
    return ganShardTask(init);
  }
  const model: tf.LayersModel = init.task === 'segmenter' ? buildSegmenterNet(init.net) : buildVgg16(init.model);
  const vars = trainableVariables(model);
  return {
    compute(m) {
      assignVariables(vars, m.weights);
      return init.task === 'segmenter'
        ? segmenterShardGradient(model, vars, init.context, m.from, m.count, m.size ?? 96)
        : shardGradient(model, vars, init.classes, init.datasetSeed, m.from, m.count, init.inputSize);
    },
    dispose: () => model.dispose(),
  };
}

/** A training context's resources. */
export interface TrainerResources { trainer: ShardTask }

registerContext<TrainWorkerInit, TrainerResources>('trainer', {
  load: async (init) => ({ trainer: await taskOf(init) }),
  dispose: (r) => r.trainer.dispose(),
});

registerPoolTask<TrainWorkerStep, ShardGradient, TrainerResources>('train-shard', (ctx, step) => {
  const value = ctx.trainer.compute(step);
  return Promise.resolve({ value, transfer: [value.grads.buffer as ArrayBuffer] });
});
