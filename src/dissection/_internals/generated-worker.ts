/**
 * A thread that runs generator dissection's shard tasks (see `startGeneratedPool` in `../generated.ts`): it loads the
 * generator and the segmenter named in its `workerData`, posts `ready` with the generator's fingerprint (or `failed`),
 * then answers the pool's task messages — `dissect-shard` (pass 1 of a shard: generate, segment, sketch) and
 * `dissect-iou` (pass 2 of a stored batch) — one at a time, in the message protocol of the worker pool.
 */
import { parentPortOrNull, workerData, type ParentPort } from '../../parallel/thread.js';
import { initBackend } from '../../engine/backend.js';
import { serializeError, type PoolTaskMessage, type PoolWorkerMessage } from '../../engine/pool.js';
import { loadGenerator } from '../../gan/generator.js';
import { loadSegmenter } from '../../segment/segmenter.js';
import { generatedBatches, type GeneratedWorkerData } from '../generated.js';
import { createSketchBank } from './sketch-bank.js';
import { iouTransfer, shardTransfer, tallyBatches, tallyIouBatch, type IouInput, type ShardInput } from './shards.js';

async function main(port: ParentPort, data: GeneratedWorkerData): Promise<void> {
  const post = (m: PoolWorkerMessage | { type: 'ready'; fingerprint: string }, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  let g; let seg;
  try {
    await initBackend({ backend: data.backend });
    g = await loadGenerator(data.generator);
    seg = await loadSegmenter(data.segmenter);
    post({ type: 'ready', fingerprint: g.fingerprint });
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
        if (m.kind === 'dissect-shard') {
          const input = m.input as ShardInput;
          const bank = await createSketchBank(input.sketchK, input.seeds);
          try {
            const value = await tallyBatches(generatedBatches(generator, segmenter, data.seed, input), input.labelSize, bank,
              (n) => post({ type: 'progress', id: m.id, data: n }));
            post({ type: 'result', id: m.id, value }, shardTransfer(value));
          } finally {
            await bank.close();
          }
        } else if (m.kind === 'dissect-iou') {
          const value = await tallyIouBatch(m.input as IouInput);
          post({ type: 'result', id: m.id, value }, iouTransfer(value));
        } else {
          throw new Error(`the sample worker has no task '${m.kind}'`);
        }
      } catch (err) {
        post({ type: 'error', id: m.id, error: serializeError(err) });
      }
    });
  });
}

const parentPort = parentPortOrNull();
if (parentPort) await main(parentPort, workerData<GeneratedWorkerData>());
