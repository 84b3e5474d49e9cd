/**
 * Shared plumbing for the wasm kernels: calling other registered kernels from inside a kernel and freeing the
 * intermediates they return.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';

/** The part of tfjs-backend-wasm's `BackendWasm` the kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

/** The arguments tfjs passes to a kernel function. */
export type KernelArgs = Parameters<KernelFunc>[0];

/** A kernel function with its inputs spelled out. */
export type Kernel = (args: KernelArgs) => TensorInfo;

/**
 * Runs wasm kernels and remembers their outputs, so that every intermediate is freed by one {@link dispose},
 * except the one handed back with {@link keep}.
 */
export class Scratch {
  private readonly owned: TensorInfo[] = [];

  constructor(readonly backend: WasmBackendLike) {}

  /** Runs the currently registered wasm kernel `name`. */
  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    return this.call(tf.getKernel(name, 'wasm').kernelFunc, inputs, attrs);
  }

  /** Runs a given kernel function (e.g. a saved shipped kernel). */
  call(kernelFunc: KernelFunc, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const out = kernelFunc({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) throw new Error('Scratch.call: multi-output kernels are not supported');
    this.owned.push(out);
    return out;
  }

  /** A view of `x` with another shape (shares memory, like the Reshape kernel). */
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    this.backend.incRef(x.dataId);
    const out: TensorInfo = { dataId: x.dataId, shape, dtype: x.dtype };
    this.owned.push(out);
    return out;
  }

  /** Removes `t` from the intermediates so that it survives {@link dispose}; returns it. */
  keep(t: TensorInfo): TensorInfo {
    const i = this.owned.indexOf(t);
    if (i >= 0) this.owned.splice(i, 1);
    return t;
  }

  /** Frees one intermediate now, to keep peak memory down in long loops. */
  free(t: TensorInfo): void {
    const i = this.owned.indexOf(t);
    if (i >= 0) {
      this.owned.splice(i, 1);
      this.backend.disposeData(t.dataId);
    }
  }

  /** Frees every intermediate not kept. */
  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }
}

/** Runs `body` with a fresh {@link Scratch}, keeps its result and frees everything else, also on error. */
export function withScratch(backend: unknown, body: (s: Scratch) => TensorInfo): TensorInfo {
  const s = new Scratch(backend as WasmBackendLike);
  try {
    return s.keep(body(s));
  } finally {
    s.dispose();
  }
}

/** `[a, b]` from a number or a pair. */
export function pair(v: number | number[] | undefined, fallback = 1): [number, number] {
  if (v === undefined) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0] ?? fallback, v[1] ?? v[0] ?? fallback];
}

/** Product of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
