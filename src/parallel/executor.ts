/**
 * The executor: every piece of parallel work of the package is a task registered by name, with plain-data input and
 * output, that runs on one of three backends — `inline` (the calling thread), `threads` (worker threads, each with
 * its own TensorFlow.js backend and its own copy of what the task needs: a classifier, a generator and a segmenter, a
 * model in training, …) or the queue (`./queue`, many machines, shard by shard). The wasm backend computes on one
 * thread inside Node, so a machine's other cores are reached only through threads.
 *
 * What a thread holds is its *context*: a kind registered by name ({@link registerContext}) that loads its resources
 * from a plain-data spec (e.g. `{ kind: 'classifier', spec: { model: 'builtin:scenes-vgg16' } }`). Tasks are
 * registered by name ({@link registerPoolTask}) in the modules of the folder whose work they are; the built-in ones
 * load on first use (`./builtin-tasks.ts`), so a thread imports only what its tasks need.
 *
 * On threads, tasks wait in one queue and go to whichever worker is free; answers come back in the order the tasks
 * were given. A task that throws, or a worker that crashes or exits, fails that task with a `UA_WORKER` error naming
 * the worker and the task; the other workers carry on with the queue, and when none is left the queued tasks fail
 * too, so a run never hangs. The inline backend runs the same handlers on this thread, so results are the same on
 * either backend and with any number of threads.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Worker } from './thread.js';
import { UnitAttackError, type UnitAttackErrorCode } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { BUILTIN_MODULES } from './builtin-tasks.js';

/** Where tasks run. */
export type ExecutorBackend = 'inline' | 'threads' | 'queue';

/** What every task handler receives besides its context's resources and its input. */
export interface TaskEnv {
  /** 1-based number of the worker (0 on the calling thread). */
  worker: number;
  /** Sends progress to the caller's `onProgress`. */
  progress(data: unknown): void;
}

/** The resources of a classifier context: the worker's model. */
export interface ClassifierResources { classifier: Classifier }

/** What a task handler receives besides its input: its context's resources (by default a classifier) and {@link TaskEnv}. */
export type TaskContext<R = ClassifierResources> = R & TaskEnv;

/** A task's answer and the buffers to move (not copy) back to the caller. */
export interface TaskOutput<O> {
  value: O;
  transfer?: ArrayBuffer[];
}

/** A task that workers run: input and output must survive a structured clone (plain data, typed arrays). */
export type TaskHandler<I = unknown, O = unknown, R = ClassifierResources> = (ctx: TaskContext<R>, input: I) => Promise<TaskOutput<O>>;

const tasks = new Map<string, TaskHandler<never, unknown, never>>();

/**
 * Adds (or replaces) the task `name`. Call it at module load in a module the workers import: a built-in one listed in
 * `./builtin-tasks.ts`, or one given to the executor's `modules`.
 */
export function registerPoolTask<I, O, R = ClassifierResources>(name: string, handler: TaskHandler<I, O, R>): void {
  tasks.set(name, handler);
}

/** Imports the built-in module that defines `task:NAME` or `context:KIND`, once, when nothing has registered it yet. */
async function loadBuiltin(key: string, known: (name: string) => boolean, name: string): Promise<void> {
  if (known(name)) return;
  const load = BUILTIN_MODULES[key];
  if (load) await load();
}

/** The task registered as `name` (importing the built-in module that defines it); an internal error when there is none. */
export async function poolTask(name: string): Promise<TaskHandler<unknown, unknown, unknown>> {
  await loadBuiltin(`task:${name}`, (n) => tasks.has(n), name);
  const t = tasks.get(name);
  if (!t) throw new UnitAttackError('UA_INTERNAL', `no pool task '${name}' is registered (known: ${[...tasks.keys()].join(', ') || 'none'})`);
  return t as TaskHandler<unknown, unknown, unknown>;
}

/** A kind of worker context: how a thread loads its resources from a plain-data spec, and what it reports of them. */
export interface ContextKind<S = unknown, R = unknown> {
  load(spec: S): Promise<R>;
  /** Whether its tasks compute with TensorFlow.js (the thread then initialises a backend first). @defaultValue true */
  tensors?: boolean;
  /** Plain data the caller checks against its own copy (e.g. fingerprints), posted when the thread is ready. */
  identity?(resources: R): unknown;
  dispose?(resources: R): void | Promise<void>;
}

const contexts = new Map<string, ContextKind<never, unknown>>();

/** Adds (or replaces) the context kind `kind`. Call it at module load, like {@link registerPoolTask}. */
export function registerContext<S, R>(kind: string, def: ContextKind<S, R>): void {
  contexts.set(kind, def);
}

/** Whether the context kind `kind` is registered or built in (without importing anything). */
export function contextKnown(kind: string): boolean {
  return contexts.has(kind) || BUILTIN_MODULES[`context:${kind}`] !== undefined;
}

/** The context kind `kind` (importing the built-in module that defines it); an internal error when there is none. */
export async function contextKind(kind: string): Promise<ContextKind<unknown, unknown>> {
  await loadBuiltin(`context:${kind}`, (k) => contexts.has(k), kind);
  const c = contexts.get(kind);
  if (!c) throw new UnitAttackError('UA_INTERNAL', `no worker context '${kind}' is registered (known: ${[...contexts.keys()].join(', ') || 'none'})`);
  return c;
}

/** What the threads of an executor hold: a registered context kind and its spec (plain data). */
export interface ContextSpec<S = unknown> { kind: string; spec: S }

registerContext<Record<string, never>, Record<string, never>>('none', { load: () => Promise.resolve({}), tensors: false });

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
  | { type: 'ready'; backend: string; identity: unknown }
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

/** Runs registered tasks on one of the backends. */
export interface Executor {
  readonly backend: ExecutorBackend;
  /** Tasks it runs at once (threads started; 1 inline). */
  readonly size: number;
  /** Runs one task (on threads: on the first free worker). Rejects with a `UA_WORKER` error when it fails. */
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

/** Worker threads that run registered tasks with one classifier each (a classifier context). */
export interface WorkerPool extends Executor {
  /** The model spec every worker loaded. */
  readonly model: string;
  /** The main thread's classifier the workers mirror: work on any other classifier is not sent to them. */
  readonly classifier: Classifier;
}

/** Runs every task, waits for all, and returns the answers in order or throws the first failure in task order. */
async function mapSettled<O>(list: readonly PoolTask[], run: (t: PoolTask) => Promise<O>): Promise<O[]> {
  const settled = await Promise.allSettled(list.map(run));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<O>).value);
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
 * The `threads` backend over threads already started and ready (see `./threads.ts`). With `unrefWhenIdle`, an idle
 * pool does not keep the process alive (a helper thread beside the main work).
 */
export class ThreadPool implements Executor {
  readonly backend = 'threads' as const;
  private readonly slots: Slot[];
  private readonly queue: Queued[] = [];
  private nextId = 1;
  private closed = false;

  constructor(workers: readonly Worker[], private readonly options: { unrefWhenIdle?: boolean } = {}) {
    this.slots = workers.map((worker, i) => ({ number: i + 1, worker, current: undefined, dead: undefined }));
    for (const slot of this.slots) this.watch(slot);
    if (options.unrefWhenIdle) for (const slot of this.slots) slot.worker.unref();
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

  map<O>(list: readonly PoolTask[]): Promise<O[]> {
    return mapSettled(list, (t) => this.run<O>(t));
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
      if (this.options.unrefWhenIdle) slot.worker.unref();
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
      if (this.options.unrefWhenIdle) slot.worker.ref();
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

/**
 * The `inline` backend: runs the tasks on this thread, one at a time in the order given, with `resources` as their
 * context (what a thread of the same context would have loaded). Inputs are passed as they are, not copied.
 */
export class InlineExecutor implements Executor {
  readonly backend = 'inline' as const;
  readonly size = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly resources: object) {}

  run<O>(task: PoolTask): Promise<O> {
    if (this.closed) return Promise.reject(workerError(`the executor is closed; cannot run ${task.label}`));
    const out = this.chain.then(async () => {
      const handler = await poolTask(task.kind);
      const ctx = { ...this.resources, worker: 0, progress: (d: unknown) => task.onProgress?.(d) };
      return (await handler(ctx, task.input)).value as O;
    });
    this.chain = out.catch(() => undefined);
    return out;
  }

  map<O>(list: readonly PoolTask[]): Promise<O[]> {
    return mapSettled(list, (t) => this.run<O>(t));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
  }
}

/** An executor of classifier tasks as the {@link WorkerPool} of `model`, `classifier`. */
export function classifierPool(executor: Executor, model: string, classifier: Classifier): WorkerPool {
  return {
    get backend() { return executor.backend; },
    get size() { return executor.size; },
    model, classifier,
    run: (t) => executor.run(t),
    map: (t) => executor.map(t),
    close: () => executor.close(),
    ...(executor.limit ? { limit: (n: number) => executor.limit!(n) } : {}),
  };
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
