/**
 * A worker thread of `runScenarios({ workers })`: runs the scenarios it is sent with its own model cache and
 * posts each result back. Results are plain data (images as bytes), so they cross threads by structured clone.
 */
import { parentPortOrNull, workerData } from '../parallel/thread.js';
import { initBackend, type BackendName } from '../engine/backend.js';
import { RunCache, runScenario } from './run.js';
import type { Scenario } from './types.js';

/** The port to the parent thread; `null` when this module is loaded outside a worker thread. */
const parentPort = parentPortOrNull();

/** What the worker is started with. */
export interface WorkerInput {
  jobs: Array<{ index: number; scenario: Scenario }>;
  backend: BackendName;
  replay?: { seed?: number; path?: string };
}

/** What the worker posts. */
export type WorkerMessage =
  | { type: 'progress'; index: number; phase: string; done?: number; of?: number }
  | { type: 'result'; index: number; run: Awaited<ReturnType<typeof runScenario>> }
  | { type: 'done' };

async function work(input: WorkerInput): Promise<void> {
  await initBackend({ backend: input.backend });
  const cache = new RunCache();
  try {
    for (const { index, scenario } of input.jobs) {
      const run = await runScenario(scenario, {
        cache, ...(input.replay && scenario.task.kind === 'fuzz' ? { replay: input.replay } : {}),
        onProgress: (phase, done, of) => parentPort!.postMessage({ type: 'progress', index, phase, ...(done !== undefined ? { done } : {}), ...(of !== undefined ? { of } : {}) } satisfies WorkerMessage),
      });
      parentPort!.postMessage({ type: 'result', index, run } satisfies WorkerMessage);
    }
  } finally {
    await cache.dispose();
  }
  parentPort!.postMessage({ type: 'done' } satisfies WorkerMessage);
}

if (parentPort) await work(workerData<WorkerInput>());
