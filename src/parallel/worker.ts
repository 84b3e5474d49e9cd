/**
 * The one worker script of the executor's `threads` backend: initialises its own backend, imports the modules it is
 * given, loads its context (a classifier, a generator and a segmenter, a model in training, …; see
 * `registerContext`), posts `ready` with the context's identity, then runs the tasks it is sent, one at a time,
 * posting each answer (or error) back. Tasks it does not know yet are imported from their folder on first use.
 */
import { parentPortOrNull, workerData, type ParentPort } from './thread.js';
import type { BackendName } from '../engine/backend.js';
import { contextKind, contextKnown, poolTask, serializeError, type ContextSpec, type PoolTaskMessage, type PoolWorkerMessage } from './executor.js';

/** What an executor thread is started with. */
export interface ExecutorWorkerData {
  context: ContextSpec;
  backend: BackendName;
  /** 1-based worker number. */
  number: number;
  /** Modules to import before loading the context (e.g. ones that register tasks, attacks, probe kinds or contexts). */
  modules: string[];
}

async function main(port: ParentPort, data: ExecutorWorkerData): Promise<void> {
  const post = (m: PoolWorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  let resources: object;
  try {
    // A context the modules register is known only after they are imported (and they may need the backend first).
    let kind = contextKnown(data.context.kind) ? await contextKind(data.context.kind) : undefined;
    let backend = 'none';
    if (kind?.tensors !== false) {
      // Loaded here, not at the top: a context without tensors (sketches, scene rendering) starts without TensorFlow.js.
      const [tf, { initBackend }] = await Promise.all([import('../tf.js'), import('../engine/backend.js')]);
      await initBackend({ backend: data.backend });
      backend = tf.getBackend();
    }
    for (const m of data.modules) await import(m);
    kind ??= await contextKind(data.context.kind);
    resources = await kind.load(data.context.spec) as object;
    post({ type: 'ready', backend, identity: kind.identity?.(resources) ?? null });
  } catch (err) {
    post({ type: 'failed', error: serializeError(err) });
    return;
  }
  // Tasks arrive one at a time (the pool waits for each answer), so they run in order.
  let chain = Promise.resolve();
  port.on('message', (m: PoolTaskMessage) => {
    if (m.type !== 'task') return;
    chain = chain.then(async () => {
      const ctx = { ...resources, worker: data.number, progress: (d: unknown) => post({ type: 'progress', id: m.id, data: d }) };
      try {
        const out = await (await poolTask(m.kind))(ctx, m.input);
        post({ type: 'result', id: m.id, value: out.value }, out.transfer ?? []);
      } catch (err) {
        post({ type: 'error', id: m.id, error: serializeError(err) });
      }
    });
  });
}

const parentPort = parentPortOrNull();
if (parentPort) await main(parentPort, workerData<ExecutorWorkerData>());
