/**
 * Shared plumbing for the wasm kernels: calling other registered kernels from inside a kernel and freeing the
 * intermediates they return.
 */
import * as tf from '../../tf.js';
import type { KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '../../tf.js';

/** The part of tfjs-backend-wasm's `BackendWasm` the kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: 'float32', memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  getMemoryOffset(dataId: object): number;
  /** Internals used for zero-copy views (see {@link Scratch.view}). */
  dataIdMap?: { get(dataId: object): { id: number } | undefined; delete(dataId: object): boolean };
  wasm?: { tfjs?: { disposeData?(id: number): void } };
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
  private readonly views: TensorInfo[] = [];

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

  /** Makes `t` (e.g. from `backend.makeOutput`) an intermediate of this scratch. */
  adopt(t: TensorInfo): TensorInfo {
    this.owned.push(t);
    return t;
  }

  /** A view of `x` with another shape (shares memory, like the Reshape kernel). */
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    this.backend.incRef(x.dataId);
    const out: TensorInfo = { dataId: x.dataId, shape, dtype: x.dtype };
    this.owned.push(out);
    return out;
  }

  /** Whether {@link view} can make zero-copy views on this backend. */
  canView(): boolean {
    return typeof this.backend.dataIdMap?.delete === 'function'
      && typeof this.backend.wasm?.tfjs?.disposeData === 'function'
      && typeof this.backend.getMemoryOffset === 'function';
  }

  /**
   * A float32 tensor over `base`'s memory from element `offset` on, without a copy. tfjs has no such views: the
   * tensor is registered with the wasm module at that address and, when freed, unregistered without freeing the
   * memory, which stays `base`'s. It must be freed before `base` and never escape the kernel.
   */
  view(base: TensorInfo, offset: number, shape: number[]): TensorInfo {
    const address = this.backend.getMemoryOffset(base.dataId) + offset * 4;
    const out = this.backend.makeOutput(shape, 'float32', address);
    this.views.push(out);
    return out;
  }

  private dropView(t: TensorInfo): void {
    const entry = this.backend.dataIdMap!.get(t.dataId);
    if (entry === undefined) return;
    this.backend.wasm!.tfjs!.disposeData!(entry.id);
    this.backend.dataIdMap!.delete(t.dataId);
  }

  /** Removes `t` from the intermediates so that it survives {@link dispose}; returns it. */
  keep(t: TensorInfo): TensorInfo {
    if (this.views.includes(t)) throw new Error('Scratch.keep: a view cannot leave the kernel');
    const i = this.owned.indexOf(t);
    if (i >= 0) this.owned.splice(i, 1);
    return t;
  }

  /** Frees one intermediate now, to keep peak memory down in long loops. */
  free(t: TensorInfo): void {
    const v = this.views.indexOf(t);
    if (v >= 0) {
      this.views.splice(v, 1);
      this.dropView(t);
      return;
    }
    const i = this.owned.indexOf(t);
    if (i >= 0) {
      this.owned.splice(i, 1);
      this.backend.disposeData(t.dataId);
    }
  }

  /** Frees every intermediate not kept. */
  dispose(): void {
    for (const t of this.views) this.dropView(t);
    this.views.length = 0;
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
