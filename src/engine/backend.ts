/**
 * TensorFlow.js backend choice: native TensorFlow when the user has installed it, else the wasm backend with the
 * faster gradient kernels of `./kernels`, else the pure-JS cpu backend.
 */
import * as tf from '../tf.js';
import { UnitAttackError, usageError } from '../errors.js';
import { fastKernelNames, registerFastKernels, useShippedKernels } from './kernels/register.js';

/** A backend the user can ask for. `tensorflow` is `@tensorflow/tfjs-node(-gpu)`. */
export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** Every valid {@link BackendName}, in the order `auto` tries them (after `auto` itself). */
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** The environment variable read when {@link InitBackendOptions.backend} is not given. */
export const BACKEND_ENV_VAR = 'UNIT_ATTACK_BACKEND';

/** Options for {@link initBackend}. */
export interface InitBackendOptions {
  /** Which backend to use. @defaultValue the value of `UNIT_ATTACK_BACKEND`, else `'auto'` */
  backend?: BackendName;
  /**
   * Threads for the wasm backend's XNNPACK pool. Only the multi-threaded wasm build uses it, and tfjs does not
   * load that build inside Node, so in Node the wasm backend runs one thread whatever is asked.
   * @defaultValue the number of logical cores
   */
  threads?: number;
  /** Whether to register the faster wasm gradient kernels. @defaultValue true */
  fastKernels?: boolean;
}

/** What {@link initBackend} chose, and why. Recorded with every result for reproducibility. */
export interface BackendInfo {
  /** The tfjs backend name in use: `tensorflow`, `wasm` or `cpu`. */
  name: string;
  /** What was asked for. */
  requested: BackendName;
  /** Why this backend was chosen, e.g. `"tfjs-node not installed; wasm available"`. */
  reason: string;
  /** Version of `@tensorflow/tfjs-core`. */
  tfjsVersion: string;
  /** Version of the package that provides the backend (tfjs-node, tfjs-backend-wasm or tfjs-backend-cpu). */
  backendVersion: string;
  /** Threads the backend computes with (1 for cpu; XNNPACK's pool size for wasm; 0 when unknown). */
  threads: number;
  /** Whether the wasm binary in use has SIMD; `undefined` for other backends. */
  simd: boolean | undefined;
  /** Kernels replaced by `src/engine/kernels` (empty unless wasm with fast kernels). */
  fastKernels: string[];
}

interface State {
  requested: BackendName;
  fastKernels: boolean;
  info: BackendInfo;
}

let state: State | undefined;

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/**
 * Chooses and initialises the TensorFlow.js backend. Idempotent: a second call with the same choice returns the
 * recorded {@link BackendInfo} at once.
 *
 * `auto` tries `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (both optional, not dependencies), then
 * wasm, then cpu. Asking for `tensorflow` when neither is installed throws a usage error that says how to install it.
 *
 * @example
 * const info = await initBackend({ backend: 'wasm' });
 * console.log(info.name, info.reason);
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = resolveRequested(opts.backend);
  const fastKernels = opts.fastKernels ?? true;
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw usageError(`threads must be an integer ≥ 1, got ${String(opts.threads)}`, { path: 'threads' });
  }
  if (state !== undefined && state.requested === requested && state.fastKernels === fastKernels
    && tf.getBackend() === state.info.name) {
    return state.info;
  }

  let info: BackendInfo;
  switch (requested) {
    case 'tensorflow': {
      const native = await tryNative();
      if (native.ok) {
        info = native.info;
        break;
      }
      throw usageError(
        `backend 'tensorflow' needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: ${native.why}`, {
        path: 'backend',
        hint: 'install it with `npm install @tensorflow/tfjs-node@' + tf.version_core
          + '` (or @tensorflow/tfjs-node-gpu for CUDA), or choose --backend wasm',
        ...(native.cause === undefined ? {} : { cause: native.cause }),
        });
    }
    case 'wasm':
      info = await initWasm('wasm was asked for', opts.threads);
      break;
    case 'cpu':
      info = await initCpu('cpu was asked for');
      break;
    case 'auto': {
      const native = await tryNative();
      if (native.ok) {
        info = native.info;
        break;
      }
      try {
        info = await initWasm(`${native.why}; wasm available`, opts.threads);
      } catch (err) {
        info = await initCpu(`${native.why}; wasm failed (${messageOf(err)}); using cpu`);
      }
      break;
    }
  }
  info.requested = requested;
  if (info.name === 'wasm') {
    if (fastKernels) info.fastKernels = registerFastKernels();
    else useShippedKernels();
  }
  state = { requested, fastKernels, info };
  return info;
}

/**
 * Initialises the fastest backend ({@link initBackend} `auto`) unless one is chosen already, by `initBackend` or by
 * `tf.setBackend`. Loaders call it, so a script that imports the package and loads a model runs on wasm (or
 * tfjs-node) without knowing about backends, and a script that chose one keeps it.
 */
export async function ensureBackend(): Promise<void> {
  if (state !== undefined) return;
  if ((tf.engine() as unknown as { backendName?: string | null }).backendName) return;
  await initBackend({});
}

/** The {@link BackendInfo} of the last {@link initBackend}, or `undefined` before the first. */
export function backendInfo(): BackendInfo | undefined {
  if (state === undefined) return undefined;
  const fast = state.info.name === 'wasm' ? fastKernelNames() : [];
  return { ...state.info, fastKernels: fast };
}

function resolveRequested(fromOption: BackendName | undefined): BackendName {
  const fromEnv = process.env[BACKEND_ENV_VAR];
  const raw: unknown = fromOption ?? (fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv.trim().toLowerCase());
  if (typeof raw === 'string' && (BACKEND_NAMES as readonly string[]).includes(raw)) return raw as BackendName;
  const where = fromOption === undefined ? `${BACKEND_ENV_VAR}=${String(fromEnv)}` : `backend '${String(raw)}'`;
  throw usageError(`invalid ${where}: valid backends are ${BACKEND_NAMES.map((n) => `'${n}'`).join(', ')}`, {
    path: fromOption === undefined ? BACKEND_ENV_VAR : 'backend',
    hint: `use one of ${BACKEND_NAMES.join(', ')}`,
  });
}

type NativeResult = { ok: true; info: BackendInfo } | { ok: false; why: string; cause?: unknown };

/** Loads tfjs-node-gpu or tfjs-node if installed. Absence is not an error; a broken install is reported. */
async function tryNative(): Promise<NativeResult> {
  const problems: string[] = [];
  let cause: unknown;
  for (const pkg of NATIVE_PACKAGES) {
    let mod: { version?: Record<string, string> } | undefined;
    try {
      mod = (await import(/* @vite-ignore */ pkg)) as { version?: Record<string, string> };
    } catch (err) {
      if (isModuleNotFound(err, pkg)) continue;
      problems.push(`${pkg} failed to load (${messageOf(err)})`);
      cause ??= err;
      continue;
    }
    if (tf.findBackendFactory('tensorflow') === null) {
      problems.push(`${pkg} is installed but registers its backend with another copy of @tensorflow/tfjs-core `
        + `(install the version matching @tensorflow/tfjs ${tf.version_core})`);
      continue;
    }
    try {
      if (!(await tf.setBackend('tensorflow'))) throw new Error('setBackend returned false');
    } catch (err) {
      problems.push(`${pkg} backend failed to initialise (${messageOf(err)})`);
      cause ??= err;
      continue;
    }
    const version = mod.version?.['tfjs-node'] ?? mod.version?.['tfjs-node-gpu'] ?? 'unknown';
    return {
      ok: true,
      info: {
        name: 'tensorflow', requested: 'auto', reason: `${pkg} installed`, tfjsVersion: tf.version_core,
        backendVersion: version, threads: 0, simd: undefined, fastKernels: [],
      },
    };
  }
  const why = problems.length > 0 ? problems.join('; ') : 'tfjs-node not installed';
  return cause === undefined ? { ok: false, why } : { ok: false, why, cause };
}

async function initWasm(reason: string, threads: number | undefined): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (tf.getBackend() !== 'wasm' || tf.findBackend('wasm') === null) {
    if (threads !== undefined) wasm.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) {
      throw new UnitAttackError('UA_INTERNAL', 'the wasm backend failed to initialise', {
        hint: 'choose --backend cpu, or check that @tensorflow/tfjs-backend-wasm ships its .wasm files',
      });
    }
  }
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const multi = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  let actualThreads = 1;
  try {
    actualThreads = wasm.getThreadsCount();
  } catch {
    // Not initialised yet in this copy; keep 1.
  }
  let why = reason;
  if (!simd) why += '; no wasm SIMD: expect several times slower convolutions';
  if (threads !== undefined && threads > 1 && !multi) why += `; ${threads} threads asked, wasm runs 1 thread in Node`;
  return {
    name: 'wasm', requested: 'wasm', reason: why, tfjsVersion: tf.version_core, backendVersion: wasm.version_wasm,
    threads: actualThreads, simd, fastKernels: [],
  };
}

async function initCpu(reason: string): Promise<BackendInfo> {
  if (!(await tf.setBackend('cpu'))) {
    throw new UnitAttackError('UA_INTERNAL', 'the cpu backend failed to initialise');
  }
  // The cpu backend prints an advert for tfjs-node on first use; the choice and its reason are recorded instead.
  const cpu = tf.backend() as { firstUse?: boolean };
  if (typeof cpu.firstUse === 'boolean') cpu.firstUse = false;
  return {
    name: 'cpu', requested: 'cpu', reason, tfjsVersion: tf.version_core, backendVersion: tf.version_cpu,
    threads: 1, simd: undefined, fastKernels: [],
  };
}

function isModuleNotFound(err: unknown, pkg: string): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const msg = messageOf(err);
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && msg.includes(pkg)) return true;
  // Vite (and vitest) replace a missing optional peer dependency with a module that throws this.
  return msg.startsWith(`Could not resolve "${pkg}" imported by`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
