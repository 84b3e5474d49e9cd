/**
 * A training worker thread: builds the same model as the main thread, and for every step it is sent sets the
 * current weights, renders its shard of the batch and posts back the shard's summed loss and gradient.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../engine/backend.js';
import { buildVgg16, type Vgg16Options } from '../models/vgg16.js';
import { assignVariables, shardGradient, trainableVariables } from './shard.js';

/** What a training worker is started with. */
export interface TrainWorkerInit {
  backend: BackendName;
  model: Vgg16Options;
  classes: readonly string[];
  datasetSeed: number;
  inputSize: number;
}

/** A step request: the weights to use and the scenes of the shard. */
export interface TrainWorkerStep {
  type: 'step';
  id: number;
  weights: Float32Array;
  from: number;
  count: number;
}

export type TrainWorkerReply =
  | { type: 'ready' }
  | { type: 'grads'; id: number; grads: Float32Array; lossSum: number; correct: number }
  | { type: 'failed'; id: number; message: string };

async function main(init: TrainWorkerInit): Promise<void> {
  await initBackend({ backend: init.backend });
  const model: tf.LayersModel = buildVgg16(init.model);
  const vars = trainableVariables(model);
  parentPort!.on('message', (m: TrainWorkerStep | { type: 'stop' }) => {
    if (m.type === 'stop') {
      model.dispose();
      parentPort!.close();
      return;
    }
    try {
      assignVariables(vars, m.weights);
      const r = shardGradient(model, vars, init.classes, init.datasetSeed, m.from, m.count, init.inputSize);
      parentPort!.postMessage({ type: 'grads', id: m.id, ...r } satisfies TrainWorkerReply, [r.grads.buffer as ArrayBuffer]);
    } catch (err) {
      parentPort!.postMessage({ type: 'failed', id: m.id, message: (err as Error).message } satisfies TrainWorkerReply);
    }
  });
  parentPort!.postMessage({ type: 'ready' } satisfies TrainWorkerReply);
}

if (parentPort) await main(workerData as TrainWorkerInit);
