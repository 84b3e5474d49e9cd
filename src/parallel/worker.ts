/**
 * A thread of a worker pool (`startPool`): initialises its own backend, imports the task modules, loads the model
 * and then runs the tasks it is sent, one at a time, posting each answer (or error) back.
 */
import { parentPortOrNull, workerData, type ParentPort } from './thread.js';
import * as tf from '../tf.js';
import { initBackend, type BackendName } from '../engine/backend.js';
import { poolTask, serializeError, type PoolTaskMessage, type PoolWorkerMessage, type TaskContext } from '../engine/pool.js';
import { loadClassifier, type LoadClassifierOptions } from '../models/io.js';
import './tasks.js';

/** What a pool worker is started with. */
export interface PoolWorkerData {
  model: string;
  backend: BackendName;
  /** 1-based worker number. */
  number: number;
  /** Extra modules to import before loading the model (e.g. ones that register tasks, attacks or probe kinds). */
  modules: string[];
  load: PoolLoadOptions;
}

/** The overrides of `loadClassifier` a pool passes on to its workers (plain data). */
export type PoolLoadOptions = Pick<LoadClassifierOptions, 'preprocessing' | 'classNames'>;

async function main(port: ParentPort, data: PoolWorkerData): Promise<void> {
  const post = (m: PoolWorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  let classifier;
  try {
    await initBackend({ backend: data.backend });
    for (const m of data.modules) await import(m);
    classifier = await loadClassifier(data.model, data.load);
    post({ type: 'ready', fingerprint: classifier.fingerprint, backend: tf.getBackend(), classNames: [...classifier.classNames], preprocessing: classifier.preprocessing });
  } catch (err) {
    post({ type: 'failed', error: serializeError(err) });
    return;
  }
  // Tasks arrive one at a time (the pool waits for each answer), so they run in order.
  let chain = Promise.resolve();
  port.on('message', (m: PoolTaskMessage) => {
    if (m.type !== 'task') return;
    chain = chain.then(async () => {
      const ctx: TaskContext = { classifier: classifier, worker: data.number, progress: (d) => post({ type: 'progress', id: m.id, data: d }) };
      try {
        const out = await poolTask(m.kind)(ctx, m.input);
        post({ type: 'result', id: m.id, value: out.value }, out.transfer ?? []);
      } catch (err) {
        post({ type: 'error', id: m.id, error: serializeError(err) });
      }
    });
  });
}

const parentPort = parentPortOrNull();
if (parentPort) await main(parentPort, workerData<PoolWorkerData>());
