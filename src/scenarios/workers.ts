/**
 * Spreads scenarios over the executor's threads (the `scenarios` context of `./pool-tasks.ts`). TensorFlow.js runs
 * one computation at a time per thread (the wasm backend is single-threaded inside Node), so scenarios run in
 * parallel only in separate threads. Scenarios that share a model go to the same thread, as one `run-scenarios`
 * task, so each model is loaded (and each dissection computed) once.
 */
import type { BackendName } from '../engine/backend.js';
import { UnitAttackError } from '../errors.js';
import { startThreads, workersAvailable, type Executor } from '../parallel/index.js';
import type { ScenarioResult } from '../report/types.js';
import { displayPath } from './errors.js';
import type { RunScenariosInput, RunScenariosProgress } from './pool-tasks.js';
import type { RunProgress, ScenarioRun } from './run.js';
import type { Scenario } from './types.js';

/** Whether scenario threads can start here (the compiled package, or tsx). */
export function hasWorkerScript(): boolean {
  return workersAvailable();
}

/** Groups scenarios by model and deals the groups to `workers` bins, largest first to the emptiest. */
export function planWorkers(scenarios: readonly Scenario[], workers: number): Array<Array<{ index: number; scenario: Scenario }>> {
  const groups = new Map<string, Array<{ index: number; scenario: Scenario }>>();
  scenarios.forEach((scenario, index) => {
    const key = JSON.stringify(scenario.model);
    groups.set(key, [...(groups.get(key) ?? []), { index, scenario }]);
  });
  const bins = Array.from({ length: Math.min(workers, groups.size) }, () => [] as Array<{ index: number; scenario: Scenario }>);
  for (const g of [...groups.values()].sort((a, b) => b.length - a.length)) {
    bins.sort((a, b) => a.length - b.length)[0].push(...g);
  }
  return bins.filter((b) => b.length > 0);
}

function crashed(scenario: Scenario, message: string): ScenarioRun {
  return {
    result: {
      name: scenario.name, file: displayPath(scenario.file), status: 'error', task: scenario.task.kind === 'gan-ablation' ? 'ablation' : scenario.task.kind, model: null,
      expectations: scenario.expectations.map((e) => ({ metric: e.metric, measured: Number.NaN, threshold: { ...(e.min !== undefined ? { min: e.min } : {}), ...(e.max !== undefined ? { max: e.max } : {}) }, passed: false })),
      metrics: {}, inputs: { kind: scenario.inputs.kind, total: 0, used: 0, errored: [], allowErrors: scenario.allowErrors },
      seeds: {}, durations: { total: 0 }, details: {}, warnings: [], images: [],
      error: { code: 'UA_WORKER', message },
    },
    artifacts: { images: [], plots: [] },
  };
}

/** Runs scenarios in worker threads and returns their runs in input order. */
export async function runInWorkers(scenarios: readonly Scenario[], options: {
  workers: number; backend: BackendName; replay: { seed?: number; path?: string } | undefined;
  onProgress?: ((p: RunProgress) => void) | undefined; onScenario?: ((r: ScenarioResult) => void) | undefined;
}): Promise<ScenarioRun[]> {
  const runs = new Array<ScenarioRun | undefined>(scenarios.length);
  const plan = planWorkers(scenarios, options.workers);
  let exec: Executor | undefined;
  try {
    exec = await startThreads({ context: { kind: 'scenarios', spec: {} }, workers: plan.length, backend: options.backend, what: 'a scenario runner' });
  } catch (err) {
    for (const jobs of plan) for (const j of jobs) runs[j.index] = crashed(j.scenario, `cannot start a worker: ${(err as Error).message}`);
  }
  if (exec) {
    const threads = exec;
    try {
      await Promise.all(plan.map(async (jobs) => {
        const input: RunScenariosInput = { jobs, ...(options.replay ? { replay: options.replay } : {}) };
        const onProgress = (data: unknown): void => {
          const m = data as RunScenariosProgress;
          if (m.type === 'progress') {
            options.onProgress?.({ index: m.index + 1, total: scenarios.length, scenario: scenarios[m.index].name, phase: m.phase, ...(m.done !== undefined ? { done: m.done } : {}), ...(m.of !== undefined ? { of: m.of } : {}) });
          } else {
            runs[m.index] = m.run;
            options.onScenario?.(m.run.result);
          }
        };
        try {
          await threads.run({ kind: 'run-scenarios', input, label: `scenarios ${jobs.map((j) => j.scenario.name).join(', ')}`, onProgress });
        } catch (err) {
          for (const j of jobs) if (!runs[j.index]) runs[j.index] = crashed(j.scenario, (err as Error).message);
        }
      }));
    } finally {
      await threads.close();
    }
  }
  return runs.map((r, i) => {
    if (!r) throw new UnitAttackError('UA_INTERNAL', `no result for scenario ${scenarios[i].name}`);
    return r;
  });
}
