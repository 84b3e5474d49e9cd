/**
 * One quantile sketch per unit, fed batch by batch with unit-major values. In a worker thread when one can be
 * started (the sorting then runs beside the model on the other core), else on this thread. Both give the same
 * numbers: the same values reach the same seeded sketches in the same order.
 */
import type { Worker } from '../../parallel/thread.js';
import { UnitAttackError } from '../../errors.js';
import { QuantileSketch } from '../quantile.js';
import { startWorker } from './worker-source.js';

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

class LocalSketchBank implements SketchBank {
  private sketches: QuantileSketch[];
  constructor(private readonly k: number, seeds: readonly number[]) {
    this.sketches = seeds.map((seed) => new QuantileSketch({ k, seed }));
  }
  serialize(): Promise<Uint8Array[]> {
    return Promise.resolve(this.sketches.map((s) => s.serialize()));
  }
  reset(seeds: readonly number[]): Promise<void> {
    this.sketches = seeds.map((seed) => new QuantileSketch({ k: this.k, seed }));
    return Promise.resolve();
  }
  update(values: Float32Array, perUnit: number): Promise<void> {
    for (let u = 0; u < this.sketches.length; u++) this.sketches[u].update(values, u * perUnit, (u + 1) * perUnit);
    return Promise.resolve();
  }
  quantiles(q: number): Promise<Float32Array> {
    return Promise.resolve(Float32Array.from(this.sketches, (s) => s.quantile(q)));
  }
  close(): Promise<void> {
    this.sketches.length = 0;
    return Promise.resolve();
  }
}

type Reply = { type: string; values?: Float32Array | Uint8Array[]; message?: string };

/** Batches in flight before `update` waits: bounds the memory queued for the worker. */
const MAX_IN_FLIGHT = 2;

class WorkerSketchBank implements SketchBank {
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private reply: ((m: Reply) => void) | undefined;
  private failure: UnitAttackError | undefined;

  constructor(private readonly worker: Worker, private readonly k: number) {
    worker.on('message', (m: Reply) => {
      if (m.type === 'ack') {
        this.inFlight--;
        this.waiters.shift()?.();
      } else if (m.type === 'error') {
        this.fail(new UnitAttackError('UA_WORKER', `the sketch worker failed: ${m.message ?? ''}`));
      } else {
        this.reply?.(m);
      }
    });
    worker.on('error', (err) => this.fail(new UnitAttackError('UA_WORKER', `the sketch worker crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => { if (code !== 0) this.fail(new UnitAttackError('UA_WORKER', `the sketch worker exited with code ${code}`)); });
  }

  private fail(err: UnitAttackError): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w();
    this.reply?.({ type: 'error', message: err.message });
  }

  /** Throws the worker's failure, if any. */
  private check(): void {
    if (this.failure) throw this.failure;
  }

  async update(values: Float32Array, perUnit: number): Promise<void> {
    this.check();
    while (this.inFlight >= MAX_IN_FLIGHT && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    this.check();
    const own = values.byteOffset === 0 && values.byteLength === values.buffer.byteLength ? values : values.slice();
    this.inFlight++;
    this.worker.postMessage({ type: 'update', values: own, perUnit }, [own.buffer as ArrayBuffer]);
  }

  /** Waits for the updates in flight, sends `message` and returns the answer of type `expect`. */
  private async ask(message: Record<string, unknown>, expect: string): Promise<Reply> {
    while (this.inFlight > 0 && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    this.check();
    const m = await new Promise<Reply>((resolve) => {
      this.reply = resolve;
      this.worker.postMessage(message);
    });
    this.reply = undefined;
    this.check();
    if (m.type !== expect) throw new UnitAttackError('UA_WORKER', `the sketch worker answered '${m.type}' to '${String(message.type)}'`);
    return m;
  }

  async quantiles(q: number): Promise<Float32Array> {
    return (await this.ask({ type: 'quantiles', q }, 'quantiles')).values as Float32Array;
  }

  async serialize(): Promise<Uint8Array[]> {
    return (await this.ask({ type: 'serialize' }, 'sketches')).values as Uint8Array[];
  }

  async reset(seeds: readonly number[]): Promise<void> {
    await this.ask({ type: 'init', k: this.k, seeds: [...seeds] }, 'ready');
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * A bank of `seeds.length` sketches of size `k`: in a worker thread when one starts and answers, else local.
 */
export async function createSketchBank(k: number, seeds: readonly number[]): Promise<SketchBank> {
  const w = startWorker('sketch-worker');
  if (w) {
    const ready = await new Promise<boolean>((resolve) => {
      // Remove only these listeners: the worker keeps internal ones of its own.
      const onMessage = (m: { type: string }): void => done(m.type === 'ready');
      const onFail = (): void => done(false);
      const done = (ok: boolean): void => {
        w.off('message', onMessage); w.off('error', onFail); w.off('exit', onFail);
        resolve(ok);
      };
      w.on('message', onMessage);
      w.on('error', onFail);
      w.on('exit', onFail);
      w.postMessage({ type: 'init', k, seeds: [...seeds] });
    });
    if (ready) return new WorkerSketchBank(w, k);
    await w.terminate().catch(() => undefined);
  }
  return new LocalSketchBank(k, seeds);
}
