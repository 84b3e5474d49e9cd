/**
 * Fast `Conv2DBackpropInput` for the wasm backend: forward convolutions of dy with the flipped, channel-swapped
 * filter (see `transposed_conv.ts`). Falls back to the shipped kernel for NCHW or geometry not covered.
 */
import * as tf from '../../tf.js';
import type { KernelFunc, TensorInfo } from '../../tf.js';
import { planAxis, transposedConv, type AxisPlan, type StrideOneConv } from './transposed_conv.js';
import { flippedFilter } from './filter_cache.js';
import { pair, withScratch, type KernelArgs, type WasmBackendLike } from './util.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Padding and geometry of a Conv2D-like backprop, or `null` when the fast path does not apply. */
export interface BackpropInputPlan {
  rows: AxisPlan;
  cols: AxisPlan;
  dxShape: [number, number, number, number];
}

/** Plans dx for a forward conv of `inputShape` with `filterShape` (`[kh, kw, ·, ·]`). */
export function planBackpropInput(
  inputShape: [number, number, number, number], filterShape: [number, number, number, number],
  dyShape: readonly number[], strides: [number, number], dilations: [number, number], pad: Pad,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined, depthwise: boolean,
): BackpropInputPlan | null {
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filterShape, strides, dilations, pad, dimRoundingMode, depthwise, 'channelsLast');
  if (dyShape[1] !== info.outHeight || dyShape[2] !== info.outWidth) return null;
  const rows = planAxis({
    k: info.filterHeight, stride: info.strideHeight, dilation: info.dilationHeight, pad: info.padInfo.top,
    inSize: info.inHeight, outSize: info.outHeight,
  });
  const cols = planAxis({
    k: info.filterWidth, stride: info.strideWidth, dilation: info.dilationWidth, pad: info.padInfo.left,
    inSize: info.inWidth, outSize: info.outWidth,
  });
  if (rows === null || cols === null) return null;
  return { rows, cols, dxShape: inputShape };
}

const conv2dStrideOne: StrideOneConv = (s, x, filter, pad, dilations) => {
  const allZero = pad[1][0] === 0 && pad[1][1] === 0 && pad[2][0] === 0 && pad[2][1] === 0;
  return s.run('Conv2D', { x, filter }, {
    strides: [1, 1], pad: allZero ? 'valid' : pad, dataFormat: 'NHWC', dilations,
  });
};

/**
 * `[kh, kw, inC, outC]` → `[kh, kw, outC, inC]` flipped in kh and kw, in one pass in JS (the wasm Reverse and
 * Transpose kernels take ~20× longer on a 3×3×512×512 filter). Tiles of 32 × 32 keep reads and writes in cache.
 */
export function flipFilter(backend: WasmBackendLike, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const src = backend.typedArrayFromHeap(filter);
  const dst = backend.typedArrayFromHeap(out);
  const taps = kh * kw;
  const block = ci * co;
  const tile = 32;
  for (let t = 0; t < taps; t++) {
    const s0 = t * block;
    const d0 = (taps - 1 - t) * block;
    for (let i0 = 0; i0 < ci; i0 += tile) {
      const i1 = Math.min(ci, i0 + tile);
      for (let o0 = 0; o0 < co; o0 += tile) {
        const o1 = Math.min(co, o0 + tile);
        for (let i = i0; i < i1; i++) {
          const si = s0 + i * co;
          for (let o = o0; o < o1; o++) dst[d0 + o * ci + i] = src[si + o]!;
        }
      }
    }
  }
  return out;
}

/**
 * Makes the fast kernel function; `shipped` is the kernel it replaces, used for what it does not cover.
 */
export function makeConv2DBackpropInput(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as {
      strides: number | [number, number]; pad: Pad; dataFormat?: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
    };
    const plan = attrs.dataFormat === 'NCHW' || dy.dtype !== 'float32' || filter.dtype !== 'float32'
      || dy.shape.length !== 4 ? null
      : planBackpropInput(attrs.inputShape, filter.shape as [number, number, number, number], dy.shape,
        pair(attrs.strides), [1, 1], attrs.pad, attrs.dimRoundingMode, false);
    if (plan === null) {
      if (shipped === undefined) throw new Error('Conv2DBackpropInput: no kernel for this geometry on wasm');
      return shipped(args);
    }
    const backend = args.backend as WasmBackendLike;
    const { flipped, release } = flippedFilter(backend, filter, () => flipFilter(backend, filter));
    try {
      return withScratch(backend, (s) =>
        transposedConv(s, dy, flipped, plan.rows, plan.cols, plan.dxShape, conv2dStrideOne));
    } finally {
      release();
    }
  };
}
