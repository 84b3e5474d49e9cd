/**
 * A generator worker (see `startGanPool` in `./pool.ts`): loads the generator and the segmenter named in its
 * `workerData`, posts `ready` with both fingerprints (or `failed`), then answers `gan-edit-batch` tasks one at a time,
 * in the message protocol of the worker pool.
 */
import { parentPortOrNull, workerData, type ParentPort } from '../parallel/thread.js';
import { initBackend } from '../engine/backend.js';
import { serializeError, type PoolTaskMessage, type PoolWorkerMessage } from '../engine/pool.js';
import { loadSegmenter } from '../segment/segmenter.js';
import { editBatchTransfer, measureEditBatch, type EditBatchInput } from './batch-work.js';
import { loadGenerator } from './generator.js';
import type { GanWorkerData } from './pool.js';

async function main(port: ParentPort, data: GanWorkerData): Promise<void> {
  type Ready = { type: 'ready'; fingerprints: { generator: string; segmenter: string } };
  const post = (m: PoolWorkerMessage | Ready, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  let g; let seg;
  try {
    await initBackend({ backend: data.backend });
    g = await loadGenerator(data.generator);
    seg = await loadSegmenter(data.segmenter);
    post({ type: 'ready', fingerprints: { generator: g.fingerprint, segmenter: seg.fingerprint } });
  } catch (err) {
    post({ type: 'failed', error: serializeError(err) });
    return;
  }
  const generator = g; const segmenter = seg;
  let chain = Promise.resolve();
  port.on('message', (m: PoolTaskMessage) => {
    if (m.type !== 'task') return;
    chain = chain.then(async () => {
      try {
        if (m.kind !== 'gan-edit-batch') throw new Error(`the generator worker has no task '${m.kind}'`);
        const input = m.input as EditBatchInput;
        const value = await measureEditBatch(generator, segmenter, input, () => post({ type: 'progress', id: m.id, data: input.count }));
        post({ type: 'result', id: m.id, value }, editBatchTransfer(value));
      } catch (err) {
        post({ type: 'error', id: m.id, error: serializeError(err) });
      }
    });
  });
}

const parentPort = parentPortOrNull();
if (parentPort) await main(parentPort, workerData<GanWorkerData>());
