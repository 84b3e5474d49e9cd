/**
 * The thread plumbing of the package, and the one module that imports `node:worker_threads`: for the parent side,
 * finding and starting a worker script (the one worker-script lookup) and the `Worker` type; for the worker side,
 * the port to the parent and the data the thread was started with. The executor (`./threads.ts`, `./worker.ts`) and
 * the queue's sandboxed processor start their threads through these; every other folder runs its work as executor
 * tasks.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as threads from 'node:worker_threads';
import { PACKAGE_ROOT } from '../util/package-root.js';

export type { Worker, WorkerOptions } from 'node:worker_threads';

/** The port of a worker thread to its parent. */
export type ParentPort = threads.MessagePort;

// ---------------------------------------------------------------------------------------------------------------
// Parent side

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
 * Starts a worker thread from a script file (a path or a `file:` URL) or, with `eval: true`, from code — `new Worker`
 * with the options as given. Throws what `new Worker` throws.
 */
export function startThread(script: string | URL, options?: threads.WorkerOptions): threads.Worker {
  return new threads.Worker(script, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Worker side

/** The port to the parent thread in a worker thread; `null` elsewhere (a worker script then does nothing). */
export function parentPortOrNull(): ParentPort | null {
  return threads.parentPort;
}

/** The `workerData` this worker thread was started with (a structured clone of what the parent gave). */
export function workerData<T>(): T {
  return threads.workerData as T;
}
