/**
 * Spreads scenarios over worker threads. TensorFlow.js runs one computation at a time per thread (the wasm backend
 * is single-threaded inside Node), so scenarios run in parallel only in separate threads. Scenarios that share a
 * model go to the same worker, so each model is loaded (and each dissection computed) once.
 */
import type { BackendName } from '../engine/backend.js';
import { UnitAttackError, usageError } from '../errors.js';
import type { ScenarioResult } from '../report/types.js';
import { displayPath } from './errors.js';
import type { RunProgress, ScenarioRun } from './run.js';
import type { Scenario } from './types.js';
import type { WorkerInput, WorkerMessage } from './worker.js';
import { compiledWorkerScript, startThread, type Worker } from '../parallel/thread.js';

/** Whether the compiled worker script exists (see {@link workerScript}). */
export function hasWorkerScript(): boolean {
  return compiledWorkerScript(import.meta.url, 'scenarios', 'worker') !== undefined;
}

/** The compiled worker script: beside this module when it runs from `dist/`, else in the built package. */
export function workerScript(): string {
  const script = compiledWorkerScript(import.meta.url, 'scenarios', 'worker');
  if (script !== undefined) return script;
  throw usageError('--workers needs the compiled package (dist/scenarios/worker.js)', { path: 'workers', hint: 'run `npm run build`, or run without --workers' });
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
  const script = workerScript();
  const runs = new Array<ScenarioRun | undefined>(scenarios.length);
  const plan = planWorkers(scenarios, options.workers);
  await Promise.all(plan.map((jobs) => new Promise<void>((resolve) => {
    const input: WorkerInput = { jobs, backend: options.backend, ...(options.replay ? { replay: options.replay } : {}) };
    let worker: Worker;
    try {
      worker = startThread(script, { workerData: input });
    } catch (err) {
      for (const j of jobs) runs[j.index] = crashed(j.scenario, `cannot start a worker: ${(err as Error).message}`);
      resolve();
      return;
    }
    const finish = (why?: string): void => {
      for (const j of jobs) if (!runs[j.index]) runs[j.index] = crashed(j.scenario, why ?? 'the worker stopped before running this scenario');
      resolve();
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') {
        options.onProgress?.({ index: m.index + 1, total: scenarios.length, scenario: scenarios[m.index].name, phase: m.phase, ...(m.done !== undefined ? { done: m.done } : {}), ...(m.of !== undefined ? { of: m.of } : {}) });
      } else if (m.type === 'result') {
        runs[m.index] = m.run;
        options.onScenario?.(m.run.result);
      }
    });
    worker.on('error', (err) => finish(`the worker failed: ${err.message}`));
    worker.on('exit', (code) => finish(code === 0 ? undefined : `the worker exited with code ${code}`));
  })));
  return runs.map((r, i) => {
    if (!r) throw new UnitAttackError('UA_INTERNAL', `no result for scenario ${scenarios[i].name}`);
    return r;
  });
}
