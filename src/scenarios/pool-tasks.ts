/**
 * Scenarios on the executor's threads (`runScenarios({ workers })`): the `scenarios` context (a thread with its own
 * model cache) and its task `run-scenarios`, which runs a group of scenarios and reports each phase and each result
 * as progress as it goes. Results are plain data (images as bytes), so they cross threads by structured clone.
 */
import { registerContext, registerPoolTask } from '../parallel/executor.js';
import { RunCache } from './run-cache.js';
import { runScenario, type ScenarioRun } from './run.js';
import type { Scenario } from './types.js';

/** What `run-scenarios` takes: scenarios with their index in the whole run, and the fuzz replay. */
export interface RunScenariosInput {
  jobs: Array<{ index: number; scenario: Scenario }>;
  replay?: { seed?: number; path?: string };
}

/** What `run-scenarios` reports as it goes. */
export type RunScenariosProgress =
  | { type: 'progress'; index: number; phase: string; done?: number; of?: number }
  | { type: 'result'; index: number; run: ScenarioRun };

/** A scenarios context's resources. */
export interface ScenariosResources { cache: RunCache }

registerContext<Record<string, never>, ScenariosResources>('scenarios', {
  load: () => Promise.resolve({ cache: new RunCache() }),
  dispose: (r) => r.cache.dispose(),
});

registerPoolTask<RunScenariosInput, null, ScenariosResources>('run-scenarios', async (ctx, input) => {
  for (const { index, scenario } of input.jobs) {
    const run = await runScenario(scenario, {
      cache: ctx.cache, ...(input.replay && scenario.task.kind === 'fuzz' ? { replay: input.replay } : {}),
      onProgress: (phase, done, of) => ctx.progress({ type: 'progress', index, phase, ...(done !== undefined ? { done } : {}), ...(of !== undefined ? { of } : {}) } satisfies RunScenariosProgress),
    });
    ctx.progress({ type: 'result', index, run } satisfies RunScenariosProgress);
  }
  return { value: null };
});
