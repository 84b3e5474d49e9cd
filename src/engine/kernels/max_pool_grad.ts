/**
 * `MaxPoolGrad` for the wasm backend, in JS. The shipped kernel visits every input pixel and, for each, every window
 * that covers it (~110 ms for the first VGG-16 pool, 6% of an input gradient); this one scans each window once,
 * all channels of a pixel together, and adds dy at the window's maximum (~10× faster).
 *
 * Ties and non-positive windows follow TensorFlow and the cpu backend: the first maximum in scan order gets the
 * gradient. (The shipped wasm kernel starts its search at the smallest positive float, so a window of zeros or
 * negatives sends its gradient nowhere; after a ReLU, as in VGG, the two agree, since ReLU's gradient is zero there.)
 */
import * as tf from '../../tf.js';
import type { KernelFunc, TensorInfo } from '../../tf.js';
import type { KernelArgs, WasmBackendLike } from './util.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Makes the kernel; `shipped` handles non-float32 input. */
export function makeMaxPoolGrad(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const attrs = args.attrs as unknown as {
      filterSize: number | [number, number]; strides: number | [number, number]; pad: Pad;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    if (input.dtype !== 'float32' || dy.dtype !== 'float32' || input.shape.length !== 4) {
      if (shipped === undefined) throw new Error('MaxPoolGrad: no shipped wasm kernel');
      return shipped(args);
    }
    const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number],
      attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput(input.shape.slice(), 'float32');
    const x = backend.typedArrayFromHeap(input);
    const g = backend.typedArrayFromHeap(dy);
    const dx = backend.typedArrayFromHeap(out);
    dx.fill(0);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
    const fh = info.effectiveFilterHeight;
    const fw = info.effectiveFilterWidth;
    const best = new Float32Array(c);
    const pos = new Int32Array(c);
    for (let b = 0; b < n; b++) {
      for (let yr = 0; yr < oh; yr++) {
        const r0 = yr * info.strideHeight - info.padInfo.top;
        const rMin = Math.max(0, r0);
        const rMax = Math.min(h, r0 + fh);
        for (let yc = 0; yc < ow; yc++) {
          const c0 = yc * info.strideWidth - info.padInfo.left;
          const cMin = Math.max(0, c0);
          const cMax = Math.min(w, c0 + fw);
          best.fill(Number.NEGATIVE_INFINITY);
          pos.fill(-1);
          for (let r = rMin; r < rMax; r++) {
            for (let col = cMin; col < cMax; col++) {
              const base = ((b * h + r) * w + col) * c;
              for (let d = 0; d < c; d++) {
                const v = x[base + d];
                if (v > best[d]) {
                  best[d] = v;
                  pos[d] = base + d;
                }
              }
            }
          }
          const gBase = ((b * oh + yr) * ow + yc) * c;
          for (let d = 0; d < c; d++) {
            const p = pos[d];
            if (p >= 0) dx[p] += g[gBase + d];
          }
        }
      }
    }
    return out;
  };
}
