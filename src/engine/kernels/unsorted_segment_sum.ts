/**
 * `UnsortedSegmentSum` for the wasm backend, in JS: the gradient of `tf.gather` (e.g. the unit objective selecting
 * a layer's units) needs it, and wasm as shipped has none. `out[s] = Σ x[i]` over the `i` whose segment id is `s`;
 * ids outside `[0, numSegments)` are dropped, as in TensorFlow.
 */
import type { KernelFunc, TensorInfo } from '../../tf.js';
import type { KernelArgs, WasmBackendLike } from './util.js';

/** Makes the kernel (wasm has no shipped one to fall back on). */
export function makeUnsortedSegmentSum(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    if (x.dtype !== 'float32') {
      if (shipped !== undefined) return shipped(args);
      throw new Error(`UnsortedSegmentSum on wasm supports float32 data, got ${x.dtype}`);
    }
    const backend = args.backend as WasmBackendLike;
    const idsRank = segmentIds.shape.length;
    const inner = x.shape.slice(idsRank).reduce((a, b) => a * b, 1);
    const out = backend.makeOutput([numSegments, ...x.shape.slice(idsRank)], 'float32');
    const xs = backend.typedArrayFromHeap(x);
    const ids = backend.typedArrayFromHeap(segmentIds) as unknown as ArrayLike<number>;
    const dst = backend.typedArrayFromHeap(out);
    dst.fill(0);
    for (let i = 0; i < ids.length; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const from = i * inner;
      const to = s * inner;
      for (let k = 0; k < inner; k++) dst[to + k] += xs[from + k];
    }
    return out;
  };
}
