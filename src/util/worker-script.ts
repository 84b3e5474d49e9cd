import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { PACKAGE_ROOT } from './package-root.js';

/** How to start a worker thread: a script file, or code to evaluate. */
export type WorkerScriptSource = { file: URL } | { eval: string };

/**
 * How to start the worker script `<name>` of a source folder: the compiled `<name>.js` beside the calling module
 * (when it runs from `dist/`); with `tsx`, under tsx the `.ts` source through a bootstrap that registers tsx in the
 * thread; else (unless `built` is false) the built package's `dist/<folder>/<name>.js` (e.g. inside a test runner
 * that transforms sources in memory). `undefined` when none is possible. The one worker-script lookup.
 *
 * @param moduleUrl the caller's `import.meta.url`
 * @param folder the caller's folder below `src/`, e.g. `train`
 */
export function workerScriptSource(moduleUrl: string, folder: string, name: string, options: { tsx?: boolean; built?: boolean } = {}): WorkerScriptSource | undefined {
  const js = new URL(`./${name}.js`, moduleUrl);
  if (existsSync(fileURLToPath(js))) return { file: js };
  const ts = new URL(`./${name}.ts`, moduleUrl);
  if (options.tsx && existsSync(fileURLToPath(ts)) && process.execArgv.some((a) => a.includes('tsx'))) {
    const api = import.meta.resolve('tsx/esm/api');
    return { eval: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}); })` };
  }
  if (options.built === false) return undefined;
  const built = path.join(PACKAGE_ROOT, 'dist', folder, `${name}.js`);
  return existsSync(built) ? { file: pathToFileURL(built) } : undefined;
}

/**
 * The compiled worker script `<name>.js` of a source folder as a path (see {@link workerScriptSource}, without tsx).
 * `undefined` when there is none.
 */
export function compiledWorkerScript(moduleUrl: string, folder: string, name: string): string | undefined {
  const source = workerScriptSource(moduleUrl, folder, name);
  return source && 'file' in source ? fileURLToPath(source.file) : undefined;
}

/**
 * Starts the worker script `<name>` of a source folder: compiled, or under tsx from its source (see
 * {@link workerScriptSource}; never the built package's copy). `undefined` when it cannot start here (e.g. inside a
 * test runner that transforms sources in memory) or when `UNIT_ATTACK_WORKERS=0`: the caller then does the work on
 * its own thread.
 */
export function startWorkerScript(moduleUrl: string, folder: string, name: string, options: Pick<WorkerOptions, 'workerData' | 'env'> = {}): Worker | undefined {
  if (process.env.UNIT_ATTACK_WORKERS === '0') return undefined;
  try {
    const source = workerScriptSource(moduleUrl, folder, name, { tsx: true, built: false });
    if (!source) return undefined;
    return 'file' in source ? new Worker(source.file, { ...options, execArgv: [] }) : new Worker(source.eval, { ...options, eval: true, execArgv: [] });
  } catch {
    return undefined;
  }
}
