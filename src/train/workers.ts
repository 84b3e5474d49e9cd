/**
 * Data-parallel training: executor threads of the `trainer` context (`./tasks.ts`) that each hold a copy of the
 * model and compute the gradient of one shard of every batch. The main thread computes the first shard itself, sums
 * the shards' gradients and applies the optimizer step, then sends the new weights with the next step's shards.
 */
import { startThreads, type Executor } from '../parallel/index.js';
import type { ShardGradient } from './shard.js';
import type { TrainWorkerInit, TrainWorkerStep } from './tasks.js';

/** One shard of a step: its samples, and what the task needs besides (the segmenter's size, the GAN's phase and step). */
export type TrainShard = Omit<TrainWorkerStep, 'weights'>;

/** `count` training threads (the main thread is not one of them). */
export class TrainWorkers {
  private constructor(private readonly exec: Executor) {}

  static async start(count: number, init: TrainWorkerInit): Promise<TrainWorkers> {
    return new TrainWorkers(await startThreads({ context: { kind: 'trainer', spec: init }, workers: count, backend: init.backend, what: `the ${init.task ?? 'classifier'} in training` }));
  }

  get size(): number {
    return this.exec.size;
  }

  /** Sends the shards of a step to the threads (shards beyond the threads are the caller's). */
  steps(weights: Float32Array, shards: readonly TrainShard[]): Array<Promise<ShardGradient>> {
    return shards.map((s) => this.exec.run<ShardGradient>({
      kind: 'train-shard', input: { ...s, weights } satisfies TrainWorkerStep, label: `the shard of samples ${s.from}…${s.from + s.count - 1}`,
    }));
  }

  async stop(): Promise<void> {
    await this.exec.close();
  }
}
