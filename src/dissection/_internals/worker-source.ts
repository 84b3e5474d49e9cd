/**
 * How to start one of this folder's worker scripts: the compiled `<name>.js`, or — when running from the TypeScript
 * sources under tsx, whose loader does not reach worker threads by itself — a small bootstrap that registers tsx in
 * the worker first. `undefined` when neither is possible (e.g. inside a test runner that transforms sources in
 * memory) or when `UNIT_ATTACK_WORKERS=0`; callers then do the work on their own thread.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts the worker script `name` (without extension) of this folder, or returns undefined. */
export function startWorker(name: string, options: Pick<WorkerOptions, 'workerData' | 'env'> = {}): Worker | undefined {
  if (process.env.UNIT_ATTACK_WORKERS === '0') return undefined;
  const js = new URL(`./${name}.js`, import.meta.url);
  try {
    if (existsSync(fileURLToPath(js))) return new Worker(js, { ...options, execArgv: [] });
    const ts = new URL(`./${name}.ts`, import.meta.url);
    if (!existsSync(fileURLToPath(ts)) || !process.execArgv.some((a) => a.includes('tsx'))) return undefined;
    const api = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); })`;
    return new Worker(boot, { ...options, eval: true, execArgv: [] });
  } catch {
    return undefined;
  }
}
