/**
 * Data-parallel training: worker threads that each hold a copy of the model and compute the gradient of one shard
 * of every batch. The main thread computes the first shard itself, sums the shards' gradients and applies the
 * optimizer step, then sends the new weights with the next step's request.
 */
import { UnitAttackError, usageError } from '../errors.js';
import { compiledWorkerScript, startThread, type Worker } from '../parallel/thread.js';
import type { ShardGradient } from './shard.js';
import type { TrainWorkerInit, TrainWorkerReply, TrainWorkerStep } from './train-worker.js';

/** The compiled worker script: beside this module when it runs from `dist/`, else in the built package. */
function workerScript(): string {
  const script = compiledWorkerScript(import.meta.url, 'train', 'train-worker');
  if (script !== undefined) return script;
  throw usageError('training with --workers > 1 needs the compiled package (dist/train/train-worker.js)', {
    path: 'workers', hint: 'run `npm run build`, or train with --workers 1',
  });
}

/** One shard of a step: its samples, and what the task needs besides (the segmenter's size, the GAN's phase and step). */
export type TrainShard = Pick<TrainWorkerStep, 'from' | 'count' | 'size' | 'phase' | 'step'>;

interface Pending {
  resolve(r: ShardGradient): void;
  reject(e: Error): void;
}

/** One training worker thread; `step` resolves with its shard's gradient or rejects when the worker fails. */
class TrainWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  readonly ready: Promise<void>;

  constructor(readonly index: number, init: TrainWorkerInit) {
    this.worker = startThread(workerScript(), { workerData: init });
    let onReady: () => void = () => undefined;
    let onFail: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => { onReady = resolve; onFail = reject; });
    this.worker.on('message', (m: TrainWorkerReply) => {
      if (m.type === 'ready') { onReady(); return; }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'grads') p.resolve({ grads: m.grads, lossSum: m.lossSum, correct: m.correct });
      else p.reject(new UnitAttackError('UA_WORKER', `training worker ${this.index} failed on its shard: ${m.message}`));
    });
    const fail = (why: string): void => {
      this.failure ??= new UnitAttackError('UA_WORKER', `training worker ${this.index} ${why}`, {
        hint: 'train with --workers 1 to run in one thread; the run resumes from its last checkpoint',
      });
      onFail(this.failure);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(`crashed: ${err.message}`));
    this.worker.on('exit', (code) => fail(`exited (code ${code})`));
  }

  step(weights: Float32Array, shard: TrainShard): Promise<ShardGradient> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ShardGradient>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...shard, type: 'step', id, weights } satisfies TrainWorkerStep);
    });
  }

  async stop(): Promise<void> {
    this.failure ??= new UnitAttackError('UA_WORKER', `training worker ${this.index} was stopped`);
    await this.worker.terminate();
  }
}

/** `count` training workers (the main thread is not one of them). */
export class TrainWorkers {
  private constructor(private readonly workers: TrainWorker[]) {}

  static async start(count: number, init: TrainWorkerInit): Promise<TrainWorkers> {
    const workers = Array.from({ length: count }, (_, i) => new TrainWorker(i + 1, init));
    const pool = new TrainWorkers(workers);
    try {
      await Promise.all(workers.map((w) => w.ready));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends shard `k` of the step to worker `k` (shards beyond the workers are the caller's). */
  steps(weights: Float32Array, shards: readonly TrainShard[]): Array<Promise<ShardGradient>> {
    return shards.map((s, k) => this.workers[k].step(weights, s));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
