/**
 * A pool of worker threads, each with its own TensorFlow.js backend and its own copy of one model, that runs tasks
 * on batches of images. The wasm backend computes on one thread inside Node, so a machine's other cores are reached
 * only through such threads.
 *
 * Tasks are registered by name ({@link registerPoolTask}) in modules that every worker imports, so a layer can add
 * its own without the pool knowing it. Tasks wait in one queue and go to whichever worker is free; answers come back
 * in the order the tasks were given. A task that throws, or a worker that crashes or exits, fails that task with a
 * `UA_WORKER` error naming the worker and the task; the other workers carry on with the queue, and when none is
 * left the queued tasks fail too, so a run never hangs.
 *
 * This module is the engine part (threads, queue, registry, the pool in use); `src/parallel` starts pools with the
 * worker script and the built-in tasks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Worker } from '../parallel/thread.js';
import { UnitAttackError, type UnitAttackErrorCode } from '../errors.js';
import type { Classifier, Preprocessing } from '../models/types.js';

/** What a task handler receives besides its input. */
export interface TaskContext {
  /** The worker's model. */
  classifier: Classifier;
  /** 1-based number of the worker (0 on the main thread). */
  worker: number;
  /** Sends progress to the caller's `onProgress`. */
  progress(data: unknown): void;
}

/** A task's answer and the buffers to move (not copy) back to the caller. */
export interface TaskOutput<O> {
  value: O;
  transfer?: ArrayBuffer[];
}

/** A task that workers run: input and output must survive a structured clone (plain data, typed arrays). */
export type TaskHandler<I = unknown, O = unknown> = (ctx: TaskContext, input: I) => Promise<TaskOutput<O>>;

const tasks = new Map<string, TaskHandler<never, unknown>>();

/** Adds (or replaces) the task `name`. Call it at module load in a module that the workers import. */
export function registerPoolTask<I, O>(name: string, handler: TaskHandler<I, O>): void {
  tasks.set(name, handler);
}

/** The task registered as `name`; an internal error when there is none. */
export function poolTask(name: string): TaskHandler<unknown, unknown> {
  const t = tasks.get(name);
  if (!t) throw new UnitAttackError('UA_INTERNAL', `no pool task '${name}' is registered (known: ${[...tasks.keys()].join(', ') || 'none'})`);
  return t as TaskHandler<unknown, unknown>;
}

/** One task for {@link WorkerPool.run}. */
export interface PoolTask<I = unknown> {
  /** A registered task name. */
  kind: string;
  input: I;
  /** What the task works on, for error messages, e.g. `images 8–15`. */
  label: string;
  /** Buffers of `input` to move to the worker instead of copying (the caller must not use them afterwards). */
  transfer?: ArrayBuffer[];
  onProgress?: (data: unknown) => void;
}

/** Messages a pool worker posts. */
export type PoolWorkerMessage =
  | { type: 'ready'; fingerprint: string; backend: string; classNames: string[]; preprocessing: Preprocessing }
  | { type: 'failed'; error: SerializedError }
  | { type: 'progress'; id: number; data: unknown }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError };

/** Messages a pool worker receives. */
export interface PoolTaskMessage { type: 'task'; id: number; kind: string; input: unknown }

/** An error as it crosses threads. */
export interface SerializedError { message: string; code?: string; hint?: string; path?: string; stack?: string }

/** Turns an error into plain data for `postMessage`. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof UnitAttackError) {
    return { message: err.message, code: err.code, ...(err.hint !== undefined ? { hint: err.hint } : {}), ...(err.path !== undefined ? { path: err.path } : {}), ...(err.stack !== undefined ? { stack: err.stack } : {}) };
  }
  if (err instanceof Error) return { message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) };
  return { message: String(err) };
}

function reviveError(e: SerializedError): Error {
  if (e.code !== undefined) {
    const err = new UnitAttackError(e.code as UnitAttackErrorCode, e.message, { ...(e.hint !== undefined ? { hint: e.hint } : {}), ...(e.path !== undefined ? { path: e.path } : {}) });
    if (e.stack !== undefined) err.stack = e.stack;
    return err;
  }
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** Worker threads that run registered tasks with one model each. */
export interface WorkerPool {
  /** Number of worker threads started. */
  readonly size: number;
  /** The model spec every worker loaded. */
  readonly model: string;
  /** The main thread's classifier the workers mirror: work on any other classifier is not sent to them. */
  readonly classifier: Classifier;
  /** Runs one task on the first free worker. Rejects with a `UA_WORKER` error when it fails. */
  run<O>(task: PoolTask): Promise<O>;
  /**
   * Runs tasks and returns their answers in the order given. Every task is settled before it returns; when some
   * fail, it rejects with the first failure in task order.
   */
  map<O>(tasks: readonly PoolTask[]): Promise<O[]>;
  /** Stops the workers. Tasks still queued fail. */
  close(): Promise<void>;
  /**
   * Starts no more than `workers` threads, when called before the first task (a pool that starts on demand): for
   * work known to split into fewer parts than the pool has threads, so idle copies of the model cost no memory.
   */
  limit?(workers: number): void;
}

interface Queued { task: PoolTask; resolve: (v: unknown) => void; reject: (e: Error) => void }

interface Slot {
  number: number;
  worker: Worker;
  current: (Queued & { id: number }) | undefined;
  dead: string | undefined;
}

const workerError = (message: string, cause?: unknown, hint?: string): UnitAttackError =>
  new UnitAttackError('UA_WORKER', message, { ...(cause !== undefined ? { cause } : {}), hint: hint ?? 'run with --workers 1 to do the work on the main thread, where the error is easier to follow' });

/**
 * The pool over threads already started and ready (see `src/parallel`). `classifier` is the main thread's model the
 * workers mirror; a pool of threads that hold another kind of model (a generator's sample workers) has none, and is
 * then used directly, never handed out by {@link poolFor}.
 */
export class ThreadPool<C extends Classifier | undefined = Classifier> {
  private readonly slots: Slot[];
  private readonly queue: Queued[] = [];
  private nextId = 1;
  private closed = false;

  constructor(workers: readonly Worker[], readonly model: string, readonly classifier: C) {
    this.slots = workers.map((worker, i) => ({ number: i + 1, worker, current: undefined, dead: undefined }));
    for (const slot of this.slots) this.watch(slot);
  }

  get size(): number {
    return this.slots.length;
  }

  run<O>(task: PoolTask): Promise<O> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.closed) { reject(workerError(`the worker pool is closed; cannot run ${task.label}`)); return; }
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    }) as Promise<O>;
  }

  async map<O>(list: readonly PoolTask[]): Promise<O[]> {
    const settled = await Promise.allSettled(list.map((t) => this.run<O>(t)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<O>).value);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(workerError(`the worker pool was closed before ${q.task.label} ran`));
    await Promise.all(this.slots.map(async (s) => {
      s.dead ??= 'closed';
      await s.worker.terminate().catch(() => undefined);
    }));
  }

  private watch(slot: Slot): void {
    slot.worker.on('message', (m: PoolWorkerMessage) => {
      const cur = slot.current;
      if (!cur || !('id' in m) || m.id !== cur.id) return;
      if (m.type === 'progress') {
        cur.task.onProgress?.(m.data);
        return;
      }
      slot.current = undefined;
      if (m.type === 'result') {
        cur.resolve(m.value);
      } else if (m.type === 'error') {
        const cause = reviveError(m.error);
        const code = m.error.code !== undefined ? `[${m.error.code}] ` : '';
        cur.reject(workerError(`worker ${slot.number} of ${this.size} failed on ${cur.task.label}: ${code}${m.error.message}`, cause, m.error.hint));
      }
      this.dispatch();
    });
    const die = (why: string, cause?: unknown): void => {
      if (slot.dead !== undefined) return;
      slot.dead = why;
      const cur = slot.current;
      slot.current = undefined;
      if (cur) cur.reject(workerError(`worker ${slot.number} of ${this.size} ${why} while running ${cur.task.label}`, cause));
      void slot.worker.terminate().catch(() => undefined);
      this.dispatch();
    };
    slot.worker.on('error', (err) => die(`crashed (${err.message})`, err));
    slot.worker.on('exit', (code) => die(`exited with code ${code}`));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.dead !== undefined || slot.current) continue;
      const q = this.queue.shift()!;
      const id = this.nextId++;
      slot.current = { ...q, id };
      try {
        slot.worker.postMessage({ type: 'task', id, kind: q.task.kind, input: q.task.input } satisfies PoolTaskMessage, q.task.transfer ?? []);
      } catch (err) {
        slot.current = undefined;
        q.reject(workerError(`cannot send ${q.task.label} to worker ${slot.number}: ${(err as Error).message}`, err));
      }
    }
    if (this.queue.length > 0 && this.slots.every((s) => s.dead !== undefined)) {
      const why = this.slots.map((s) => `worker ${s.number} ${s.dead ?? ''}`).join('; ');
      for (const q of this.queue.splice(0)) q.reject(workerError(`no worker is left to run ${q.task.label} (${why})`));
    }
  }
}

const active = new AsyncLocalStorage<WorkerPool>();

/**
 * Runs `fn` with `pool` as the pool in use: batch work inside it (attacks, dissection passes) that runs on the
 * pool's classifier is spread over the pool's workers.
 */
export function withPool<T>(pool: WorkerPool | undefined, fn: () => Promise<T>): Promise<T> {
  return pool ? active.run(pool, fn) : fn();
}

/** The pool set by the nearest enclosing {@link withPool}, if it runs on `classifier` and has several workers. */
export function poolFor(classifier: Classifier): WorkerPool | undefined {
  const p = active.getStore();
  return p && p.size > 1 && p.classifier === classifier ? p : undefined;
}

/** Splits `n` items into `parts` contiguous ranges as equal as possible (`[start, end)`), skipping empty ones. */
export function splitRange(n: number, parts: number): Array<[number, number]> {
  const k = Math.max(1, Math.min(n, Math.floor(parts)));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < k; i++) {
    const a = Math.floor((i * n) / k); const b = Math.floor(((i + 1) * n) / k);
    if (b > a) out.push([a, b]);
  }
  return out;
}

/**
 * Starts `start(item)` for the items in order, keeping at most `window` started and not yet consumed, and hands the
 * answers to `consume` in item order. Bounds the memory of answers that arrive early. Rejects with the first
 * failure; answers still on their way are then dropped.
 */
export async function runOrdered<T, R>(
  items: Iterable<T> | AsyncIterable<T>, window: number, start: (item: T, index: number) => Promise<R>,
  consume: (result: R, item: T, index: number) => Promise<void> | void,
): Promise<void> {
  const pending: Array<{ item: T; index: number; result: Promise<R> }> = [];
  let index = 0;
  const drainOne = async (): Promise<void> => {
    const p = pending.shift()!;
    await consume(await p.result, p.item, p.index);
  };
  try {
    for await (const item of items) {
      const result = start(item, index);
      result.catch(() => undefined); // awaited in order below; keep an early failure from being unhandled meanwhile
      pending.push({ item, index: index++, result });
      if (pending.length >= Math.max(1, window)) await drainOne();
    }
    while (pending.length > 0) await drainOne();
  } finally {
    pending.length = 0;
  }
}
