/**
 * A training worker thread: builds the same model as the main thread, and for every step it is sent sets the
 * current weights, renders its shard of the batch and posts back the shard's summed loss and gradient.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../engine/backend.js';
import { buildVgg16, type Vgg16Options } from '../models/vgg16.js';
import { buildSegmenterNet, type SegmenterNetOptions } from '../segment/net.js';
import { assignVariables, shardGradient, trainableVariables } from './shard.js';
import { segmenterShardGradient } from './segmenter-shard.js';

/** What a training worker is started with: the scene classifier (the default task) or the scene segmenter. */
export type TrainWorkerInit =
  | { task?: 'classifier'; backend: BackendName; model: Vgg16Options; classes: readonly string[]; datasetSeed: number; inputSize: number }
  | { task: 'segmenter'; backend: BackendName; net: SegmenterNetOptions; classes: readonly string[]; datasetSeed: number };

/** A step request: the weights to use and the scenes of the shard. */
export interface TrainWorkerStep {
  type: 'step';
  id: number;
  weights: Float32Array;
  from: number;
  count: number;
  /** Side length of this step's scenes (the segmenter trains on several sizes; the classifier uses its input size). */
  size?: number;
}

export type TrainWorkerReply =
  | { type: 'ready' }
  | { type: 'grads'; id: number; grads: Float32Array; lossSum: number; correct: number }
  | { type: 'failed'; id: number; message: string };

async function main(init: TrainWorkerInit): Promise<void> {
  await initBackend({ backend: init.backend });
  const model: tf.LayersModel = init.task === 'segmenter' ? buildSegmenterNet(init.net) : buildVgg16(init.model);
  const vars = trainableVariables(model);
  parentPort!.on('message', (m: TrainWorkerStep | { type: 'stop' }) => {
    if (m.type === 'stop') {
      model.dispose();
      parentPort!.close();
      return;
    }
    try {
      assignVariables(vars, m.weights);
      const r = init.task === 'segmenter'
        ? segmenterShardGradient(model, vars, { classes: init.classes, datasetSeed: init.datasetSeed, ...(init.net.categories ? { categories: init.net.categories } : {}) }, m.from, m.count, m.size ?? 96)
        : shardGradient(model, vars, init.classes, init.datasetSeed, m.from, m.count, init.inputSize);
      parentPort!.postMessage({ type: 'grads', id: m.id, ...r } satisfies TrainWorkerReply, [r.grads.buffer as ArrayBuffer]);
    } catch (err) {
      parentPort!.postMessage({ type: 'failed', id: m.id, message: (err as Error).message } satisfies TrainWorkerReply);
    }
  });
  parentPort!.postMessage({ type: 'ready' } satisfies TrainWorkerReply);
}

if (parentPort) await main(workerData as TrainWorkerInit);
