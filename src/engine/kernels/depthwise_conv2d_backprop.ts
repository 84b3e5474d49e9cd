/**
 * `DepthwiseConv2dNativeBackpropInput` and `DepthwiseConv2dNativeBackpropFilter` for the wasm backend, which ships
 * neither (so no gradient flows through a MobileNet-style depthwise convolution on wasm).
 *
 * Input gradient: with channel multiplier m, dx[c] = Σ_j (dy[c·m + j] ⋆ flip(W[:, :, c, j])): the depthwise
 * transposed convolution of all `c·m` channels of dy (forward depthwise convolutions, as in `transposed_conv.ts`),
 * then a sum over j. Filter gradient: a direct loop in JS over output positions and taps; it is memory-bound and
 * small next to the pointwise convolutions around it.
 */
import type { KernelFunc, TensorInfo } from '../../tf.js';
import { planBackpropInput } from './conv2d_backprop_input.js';
import { planBackpropFilter } from './conv2d_backprop_filter.js';
import { transposedConv, type StrideOneConv } from './transposed_conv.js';
import { pair, withScratch, type KernelArgs, type WasmBackendLike } from './util.js';

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const depthwiseStrideOne: StrideOneConv = (s, x, filter, pad, dilations) => {
  const allZero = pad[1][0] === 0 && pad[1][1] === 0 && pad[2][0] === 0 && pad[2][1] === 0;
  return s.run('DepthwiseConv2dNative', { x, filter }, { strides: [1, 1], pad: allZero ? 'valid' : pad, dilations });
};

/** `[kh, kw, c, m]` → `[kh, kw, c·m, 1]` flipped in kh and kw (taps in reverse order). */
function flipTaps(backend: WasmBackendLike, filter: TensorInfo): TensorInfo {
  const [kh, kw, c, m] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([kh, kw, c * m, 1], 'float32');
  const src = backend.typedArrayFromHeap(filter);
  const dst = backend.typedArrayFromHeap(out);
  const taps = kh * kw;
  const block = c * m;
  for (let t = 0; t < taps; t++) dst.set(src.subarray(t * block, (t + 1) * block), (taps - 1 - t) * block);
  return out;
}

/** Makes the input-gradient kernel; `shipped` (if wasm ever ships one) handles what this does not. */
export function makeDepthwiseConv2dNativeBackpropInput(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as DepthwiseAttrs & { inputShape: [number, number, number, number] };
    const plan = dy.dtype !== 'float32' || filter.dtype !== 'float32' || dy.shape.length !== 4 ? null
      : planBackpropInput(attrs.inputShape, filter.shape as [number, number, number, number], dy.shape,
        pair(attrs.strides), pair(attrs.dilations), attrs.pad, attrs.dimRoundingMode, true);
    if (plan === null) {
      if (shipped !== undefined) return shipped(args);
      throw new Error('DepthwiseConv2dNativeBackpropInput on wasm supports NHWC float32 only');
    }
    const [n, h, w, c] = attrs.inputShape;
    const m = filter.shape[3];
    return withScratch(args.backend, (s) => {
      const flipped = flipTaps(s.backend, filter);
      try {
        const dxAll = transposedConv(s, dy, flipped, plan.rows, plan.cols, [n, h, w, c * m], depthwiseStrideOne);
        if (m === 1) return dxAll;
        return s.run('Sum', { x: s.reshape(dxAll, [n, h, w, c, m]) }, { axis: [4], keepDims: false });
      } finally {
        s.backend.disposeData(flipped.dataId);
      }
    });
  };
}

/** Makes the filter-gradient kernel. */
export function makeDepthwiseConv2dNativeBackpropFilter(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as DepthwiseAttrs & { filterShape: [number, number, number, number] };
    const plan = x.dtype !== 'float32' || dy.dtype !== 'float32' ? null
      : planBackpropFilter(x.shape, attrs.filterShape, dy.shape, pair(attrs.strides), pair(attrs.dilations),
        attrs.pad, attrs.dimRoundingMode, true);
    if (plan === null) {
      if (shipped !== undefined) return shipped(args);
      throw new Error('DepthwiseConv2dNativeBackpropFilter on wasm supports NHWC float32 only');
    }
    const backend = args.backend as WasmBackendLike;
    const [kh, kw, c, m] = attrs.filterShape;
    const out = backend.makeOutput([kh, kw, c, m], 'float32');
    const xs = backend.typedArrayFromHeap(x);
    const dys = backend.typedArrayFromHeap(dy);
    const acc = new Float64Array(kh * kw * c * m);
    const [, h, w] = x.shape as [number, number, number, number];
    const top = plan.padH[0];
    const left = plan.padW[0];
    const cm = c * m;
    for (let b = 0; b < plan.n; b++) {
      for (let oy = 0; oy < plan.outH; oy++) {
        for (let ox = 0; ox < plan.outW; ox++) {
          const dyRow = ((b * plan.outH + oy) * plan.outW + ox) * cm;
          for (let i = 0; i < kh; i++) {
            const iy = oy * plan.strideH + i * plan.dilationH - top;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const ix = ox * plan.strideW + j * plan.dilationW - left;
              if (ix < 0 || ix >= w) continue;
              const xRow = ((b * h + iy) * w + ix) * c;
              const accRow = (i * kw + j) * cm;
              for (let ch = 0; ch < c; ch++) {
                const xv = xs[xRow + ch];
                const base = ch * m;
                for (let q = 0; q < m; q++) acc[accRow + base + q] += xv * dys[dyRow + base + q];
              }
            }
          }
        }
      }
    }
    backend.typedArrayFromHeap(out).set(acc);
    return out;
  };
}
