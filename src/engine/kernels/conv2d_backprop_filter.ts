/**
 * `Conv2DBackpropFilter` for the wasm backend, which ships none. For each filter tap (kh, kw):
 *
 *   dW[kh, kw] = X_{kh,kw}ᵀ · dY
 *
 * where X_{kh,kw} `[P, inC]` is the padded input sampled at that tap's offset and stride, and dY is dy as
 * `[P, outC]` with `P = n·outH·outW`. Each product runs on the XNNPACK fully-connected path of the wasm
 * BatchMatMul, which only takes untransposed operands, so Xᵀ is materialised. dY is the weight operand of every
 * product: XNNPACK caches its packed copy by tensor id, so it is packed once, not once per tap (packing a large
 * operand costs about as much as the product itself).
 */
import * as tf from '../../tf.js';
import type { KernelFunc, NamedTensorInfoMap, TensorInfo } from '../../tf.js';
import { pair, withScratch, type KernelArgs, type Scratch } from './util.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Where each tap samples the padded input. */
export interface FilterGradPlan {
  n: number; outH: number; outW: number; inC: number; outC: number;
  kh: number; kw: number; strideH: number; strideW: number; dilationH: number; dilationW: number;
  /** Padding applied to x so that every tap's sample is in range: [top, bottom], [left, right]. */
  padH: [number, number];
  padW: [number, number];
}

/** Plans the filter gradient, or returns `null` for geometry not covered. */
export function planBackpropFilter(
  xShape: readonly number[], filterShape: [number, number, number, number], dyShape: readonly number[],
  strides: [number, number], dilations: [number, number], pad: Pad,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined, depthwise: boolean,
): FilterGradPlan | null {
  if (xShape.length !== 4 || dyShape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, depthwise,
    'channelsLast');
  if (dyShape[1] !== info.outHeight || dyShape[2] !== info.outWidth) return null;
  const { top, left } = info.padInfo;
  if (top < 0 || left < 0) return null;
  // Rows the last tap of the last output reads, past the end of x.
  const needH = (info.outHeight - 1) * info.strideHeight + (info.filterHeight - 1) * info.dilationHeight + 1;
  const needW = (info.outWidth - 1) * info.strideWidth + (info.filterWidth - 1) * info.dilationWidth + 1;
  return {
    n: info.batchSize, outH: info.outHeight, outW: info.outWidth, inC: info.inChannels, outC: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, strideH: info.strideHeight, strideW: info.strideWidth,
    dilationH: info.dilationHeight, dilationW: info.dilationWidth,
    padH: [top, Math.max(0, needH - top - info.inHeight)],
    padW: [left, Math.max(0, needW - left - info.inWidth)],
  };
}

/** x padded so that every tap's samples are in range (x itself when no padding is needed). */
export function padForTaps(s: Scratch, x: TensorInfo, plan: FilterGradPlan): TensorInfo {
  const { padH, padW } = plan;
  if (padH[0] + padH[1] + padW[0] + padW[1] === 0) return x;
  return s.run('PadV2', { x }, { paddings: [[0, 0], padH, padW, [0, 0]], constantValue: 0 });
}

/** The samples of padded x for tap (i, j): `[n, outH, outW, c]`; x itself when the tap covers it exactly. */
export function tapSlice(s: Scratch, xp: TensorInfo, plan: FilterGradPlan, i: number, j: number): TensorInfo {
  const [n, h, w, c] = xp.shape as [number, number, number, number];
  const r0 = i * plan.dilationH;
  const c0 = j * plan.dilationW;
  if (r0 === 0 && c0 === 0 && plan.strideH === 1 && plan.strideW === 1 && h === plan.outH && w === plan.outW) {
    return xp;
  }
  return s.run('StridedSlice', { x: xp }, {
    begin: [0, r0, c0, 0],
    end: [n, r0 + (plan.outH - 1) * plan.strideH + 1, c0 + (plan.outW - 1) * plan.strideW + 1, c],
    strides: [1, plan.strideH, plan.strideW, 1],
    beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
  });
}

/** dW `[kh, kw, inC, outC]` of a Conv2D. */
export function conv2dFilterGrad(s: Scratch, x: TensorInfo, dy: TensorInfo, plan: FilterGradPlan): TensorInfo {
  const parts = plan.strideH === 1 && plan.strideW === 1 && s.canView()
    ? tapProductsByViews(s, x, dy, plan) : tapProductsBySlices(s, x, dy, plan);
  const flat = parts.length === 1 ? parts[0] : s.run('Concat', parts as unknown as NamedTensorInfoMap, { axis: 0 });
  return s.reshape(flat, [plan.kh, plan.kw, plan.inC, plan.outC]);
}

/**
 * Stride 1. x is padded to `[n, hp, wp, c]`, flattened to `[L, c]` (`L = n·hp·wp`) and transposed once to
 * Xᵀ `[c, L]`. Tap (i, j) reads x at the fixed shift `d = (i·dh)·wp + j·dw` from each output position, so its
 * operand is Xᵀ read from element `d` on as `[c, L]`: a zero-copy view whose row `c` is Xᵀ[c, d:] followed by the
 * first `d` elements of row `c + 1`. dy is padded with zeros to the same `hp × wp` grid, and its last
 * `(kh−1)·dh·wp + (kw−1)·dw` rows are zero, so the wrapped elements get zero weight. An extra zero channel in the
 * padding keeps the last view inside the buffer. dy is the XNNPACK weight operand of all taps, packed once.
 */
function tapProductsByViews(s: Scratch, x: TensorInfo, dy: TensorInfo, plan: FilterGradPlan): TensorInfo[] {
  const { n, outH, outW, inC, outC } = plan;
  const hp = x.shape[1] + plan.padH[0] + plan.padH[1];
  const wp = x.shape[2] + plan.padW[0] + plan.padW[1];
  const total = n * hp * wp;
  const xp = s.run('PadV2', { x }, { paddings: [[0, 0], plan.padH, plan.padW, [0, 1]], constantValue: 0 });
  const xt = s.run('Transpose', { x: s.reshape(xp, [total, inC + 1]) }, { perm: [1, 0] });
  s.free(xp);
  const dyGrid = hp === outH && wp === outW ? dy
    : s.run('PadV2', { x: dy }, { paddings: [[0, 0], [0, hp - outH], [0, wp - outW], [0, 0]], constantValue: 0 });
  const b = s.reshape(dyGrid, [1, total, outC]);
  const parts: TensorInfo[] = [];
  for (let i = 0; i < plan.kh; i++) {
    for (let j = 0; j < plan.kw; j++) {
      const a = s.view(xt, i * plan.dilationH * wp + j * plan.dilationW, [1, inC, total]);
      parts.push(s.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false }));
      s.free(a);
    }
  }
  return parts;
}

/** Any stride: each tap's samples are copied out with a strided slice and transposed. */
function tapProductsBySlices(s: Scratch, x: TensorInfo, dy: TensorInfo, plan: FilterGradPlan): TensorInfo[] {
  const p = plan.n * plan.outH * plan.outW;
  const xp = padForTaps(s, x, plan);
  const b = s.reshape(dy, [1, p, plan.outC]);
  const parts: TensorInfo[] = [];
  for (let i = 0; i < plan.kh; i++) {
    for (let j = 0; j < plan.kw; j++) {
      const xs = tapSlice(s, xp, plan, i, j);
      const at = s.run('Transpose', { x: s.reshape(xs, [p, plan.inC]) }, { perm: [1, 0] });
      if (xs !== xp) s.free(xs);
      parts.push(s.run('BatchMatMul', { a: s.reshape(at, [1, plan.inC, p]), b }, { transposeA: false, transposeB: false }));
      s.free(at);
    }
  }
  return parts;
}

/** Makes the kernel function; `shipped` (if wasm ever ships one) handles NCHW. */
export function makeConv2DBackpropFilter(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as {
      strides: number | [number, number]; pad: Pad; dataFormat?: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
    };
    const plan = attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || dy.dtype !== 'float32' ? null
      : planBackpropFilter(x.shape, attrs.filterShape, dy.shape, pair(attrs.strides), [1, 1], attrs.pad,
        attrs.dimRoundingMode, false);
    if (plan === null) {
      if (shipped !== undefined) return shipped(args);
      throw new Error(`Conv2DBackpropFilter on wasm supports NHWC float32 only (got dataFormat ${String(attrs.dataFormat)})`);
    }
    return withScratch(args.backend, (s) => conv2dFilterGrad(s, x, dy, plan));
  };
}
