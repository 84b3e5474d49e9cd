/**
 * One quantile sketch per unit, fed batch by batch with unit-major values: the `sketches` context of the executor
 * (`../helper-tasks.ts`), on a thread of its own when one can be started (the sorting then runs beside the model on
 * the other core), else on this thread (`UNIT_ATTACK_WORKERS=0`, or no thread can start). Both give the same numbers:
 * the same values reach the same seeded sketches in the same order.
 */
import { UnitAttackError } from '../../errors.js';
import { startExecutor, type Executor } from '../../parallel/index.js';
import type { SketchesSpec } from '../helper-tasks.js';

export interface SketchBank {
  /** Adds `values` (`[units, perUnit]`, unit-major). The bank may take the array over (it is transferred). */
  update(values: Float32Array, perUnit: number): Promise<void>;
  /** Each unit's value at quantile `q`. */
  quantiles(q: number): Promise<Float32Array>;
  /** Each unit's sketch, serialized (see `QuantileSketch.serialize`). */
  serialize(): Promise<Uint8Array[]>;
  /** Starts again with empty sketches seeded with `seeds` (same number of units). */
  reset(seeds: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

/** Batches in flight before `update` waits: bounds the memory queued for the thread. */
const MAX_IN_FLIGHT = 2;

class ExecutorSketchBank implements SketchBank {
  private readonly inFlight: Array<Promise<unknown>> = [];
  private failure: Error | undefined;

  constructor(private readonly exec: Executor) {}

  private track(p: Promise<unknown>): void {
    const settled = p.then(() => undefined, (err: unknown) => {
      this.failure ??= err instanceof UnitAttackError ? err : new UnitAttackError('UA_WORKER', `the sketch bank failed: ${(err as Error).message}`, { cause: err });
    });
    this.inFlight.push(settled);
  }

  private async drain(max: number): Promise<void> {
    while (this.inFlight.length > max) await this.inFlight.shift();
    if (this.failure) throw this.failure;
  }

  async update(values: Float32Array, perUnit: number): Promise<void> {
    await this.drain(MAX_IN_FLIGHT - 1);
    const own = this.exec.backend === 'inline' || (values.byteOffset === 0 && values.byteLength === values.buffer.byteLength) ? values : values.slice();
    this.track(this.exec.run({ kind: 'sketch-update', input: { values: own, perUnit }, label: 'a batch of activations', transfer: [own.buffer as ArrayBuffer] }));
    if (this.exec.backend === 'inline') await this.drain(0);
  }

  private async ask<O>(kind: string, input: unknown): Promise<O> {
    await this.drain(0);
    return this.exec.run<O>({ kind, input, label: kind });
  }

  quantiles(q: number): Promise<Float32Array> {
    return this.ask('sketch-quantiles', { q });
  }

  serialize(): Promise<Uint8Array[]> {
    return this.ask('sketch-serialize', null);
  }

  async reset(seeds: readonly number[]): Promise<void> {
    await this.ask('sketch-reset', { seeds: [...seeds] });
  }

  async close(): Promise<void> {
    await Promise.all(this.inFlight.splice(0));
    await this.exec.close();
  }
}

/** A bank of `seeds.length` sketches of size `k`: on a thread of its own when one starts, else on this thread. */
export async function createSketchBank(k: number, seeds: readonly number[]): Promise<SketchBank> {
  const spec: SketchesSpec = { k, seeds: [...seeds] };
  return new ExecutorSketchBank(await startExecutor({ context: { kind: 'sketches', spec }, workers: 1, threads: true, besideOnly: true }));
}
