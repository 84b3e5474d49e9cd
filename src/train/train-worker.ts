/**
 * A training worker thread: builds the same model as the main thread, and for every step it is sent sets the
 * current weights, renders its shard of the batch and posts back the shard's summed loss and gradient.
 */
import { parentPortOrNull, workerData } from '../parallel/thread.js';
import type * as tf from '../tf.js';
import { initBackend, type BackendName } from '../engine/backend.js';
import { buildVgg16, type Vgg16Options } from '../models/vgg16.js';
import { buildSegmenterNet, type SegmenterNetOptions } from '../segment/net.js';
import type { DiscriminatorOptions, GeneratorNetOptions } from '../gan/net.js';
import { assignVariables, shardGradient, trainableVariables, type ShardGradient } from './shard.js';
import { segmenterShardGradient } from './segmenter-shard.js';
import type { GanPhase, GanShardContext } from './gan-shard.js';

/** The port to the parent thread; `null` when this module is loaded outside a worker thread. */
const parentPort = parentPortOrNull();

/** What a training worker is started with: the scene classifier (the default task), the scene segmenter or the scene GAN. */
export type TrainWorkerInit =
  | { task?: 'classifier'; backend: BackendName; model: Vgg16Options; classes: readonly string[]; datasetSeed: number; inputSize: number }
  | { task: 'segmenter'; backend: BackendName; net: SegmenterNetOptions; classes: readonly string[]; datasetSeed: number }
  | { task: 'gan'; backend: BackendName; generator: GeneratorNetOptions; discriminator: DiscriminatorOptions; context: GanShardContext };

/** A step request: the weights to use and the scenes of the shard. */
export interface TrainWorkerStep {
  type: 'step';
  id: number;
  weights: Float32Array;
  from: number;
  count: number;
  /** Side length of this step's scenes (the segmenter trains on several sizes; the classifier uses its input size). */
  size?: number;
  /** GAN training: which player's gradient, and the step (the latents and noise are drawn from it). */
  phase?: GanPhase;
  step?: number;
}

export type TrainWorkerReply =
  | { type: 'ready' }
  | { type: 'grads'; id: number; grads: Float32Array; lossSum: number; correct: number }
  | { type: 'failed'; id: number; message: string };

/** A task's shard computation and its clean-up. */
interface ShardTask {
  compute(m: TrainWorkerStep): ShardGradient;
  dispose(): void;
}

async function taskOf(init: TrainWorkerInit): Promise<ShardTask> {
  if (init.task === 'gan') {
    const { ganShardTask } = await import('./gan-worker.js');
    return ganShardTask(init);
  }
  const model: tf.LayersModel = init.task === 'segmenter' ? buildSegmenterNet(init.net) : buildVgg16(init.model);
  const vars = trainableVariables(model);
  return {
    compute(m) {
      assignVariables(vars, m.weights);
      return init.task === 'segmenter'
        ? segmenterShardGradient(model, vars, { classes: init.classes, datasetSeed: init.datasetSeed, ...(init.net.categories ? { categories: init.net.categories } : {}) }, m.from, m.count, m.size ?? 96)
        : shardGradient(model, vars, init.classes, init.datasetSeed, m.from, m.count, init.inputSize);
    },
    dispose: () => model.dispose(),
  };
}

async function main(init: TrainWorkerInit): Promise<void> {
  await initBackend({ backend: init.backend });
  const task = await taskOf(init);
  parentPort!.on('message', (m: TrainWorkerStep | { type: 'stop' }) => {
    if (m.type === 'stop') {
      task.dispose();
      parentPort!.close();
      return;
    }
    try {
      const r = task.compute(m);
      parentPort!.postMessage({ type: 'grads', id: m.id, ...r } satisfies TrainWorkerReply, [r.grads.buffer as ArrayBuffer]);
    } catch (err) {
      parentPort!.postMessage({ type: 'failed', id: m.id, message: (err as Error).message } satisfies TrainWorkerReply);
    }
  });
  parentPort!.postMessage({ type: 'ready' } satisfies TrainWorkerReply);
}

if (parentPort) await main(workerData<TrainWorkerInit>());
