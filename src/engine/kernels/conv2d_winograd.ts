/**
 * `Conv2D` and `FusedConv2D` for the wasm backend that send wide 3×3 stride-1 convolutions to Winograd F(2×2, 3×3)
 * (`winograd.ts`) and everything else to the shipped XNNPACK kernels. Measured on VGG-16 layers (one thread, CPU
 * time): 56×56×256→256 155 → 97 ms, 28×28×512→512 201 → 93 ms, 14×14×512→512 51 → 24 ms; at 64 channels
 * the transforms cost more than they save (224×224×64→64 153 → 182 ms), hence {@link WINOGRAD_MIN_CHANNELS}.
 */
import * as tf from '../../tf.js';
import type { KernelFunc, TensorInfo } from '../../tf.js';
import { derivedFilter } from './filter_cache.js';
import { pair, withScratch, type KernelArgs, type WasmBackendLike } from './util.js';
import { transformFilter, winogradConv } from './winograd.js';

/** Winograd is used when both the input and the output channels are at least this many. */
export const WINOGRAD_MIN_CHANNELS = 128;

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
}

/** The Winograd geometry of a conv, or `null` when it does not apply. */
function plan(x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs) {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return null;
  if (attrs.dataFormat === 'NCHW') return null;
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  if (kh !== 3 || kw !== 3 || Math.min(ci, co) < WINOGRAD_MIN_CHANNELS) return null;
  const [sh, sw] = pair(attrs.strides);
  const [dh, dw] = pair(attrs.dilations);
  if (sh !== 1 || sw !== 1 || dh !== 1 || dw !== 1) return null;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number], 1, 1, attrs.pad, attrs.dimRoundingMode);
  if (info.outHeight <= 0 || info.outWidth <= 0 || info.padInfo.top < 0 || info.padInfo.left < 0) return null;
  return { top: info.padInfo.top, left: info.padInfo.left, outH: info.outHeight, outW: info.outWidth };
}

function run(args: KernelArgs, bias: TensorInfo | undefined, relu: boolean): TensorInfo | null {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const p = plan(x, filter, args.attrs as unknown as ConvAttrs);
  if (p === null) return null;
  const backend = args.backend as WasmBackendLike;
  const { derived, release } = derivedFilter('winograd', backend, filter, () => transformFilter(backend, filter));
  try {
    return withScratch(backend, (s) => winogradConv(s, x, derived, p.top, p.left, p.outH, p.outW,
      bias === undefined ? { relu } : { bias, relu }));
  } finally {
    release();
  }
}

/** Makes the `Conv2D` kernel; `shipped` runs what Winograd does not cover. */
export function makeConv2D(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const out = run(args, undefined, false);
    if (out !== null) return out;
    if (shipped === undefined) throw new Error('Conv2D: no shipped wasm kernel');
    return shipped(args);
  };
}

/** Makes the `FusedConv2D` kernel (bias and linear or ReLU activation fused; others go to `shipped`). */
export function makeFusedConv2D(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const attrs = args.attrs as unknown as ConvAttrs;
    const bias = args.inputs['bias'];
    const co = args.inputs['filter']?.shape[3];
    const activation = attrs.activation ?? 'linear';
    const biasOk = bias == null || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === co);
    if ((activation === 'linear' || activation === 'relu') && biasOk && args.inputs['preluActivationWeights'] == null) {
      const out = run(args, bias ?? undefined, activation === 'relu');
      if (out !== null) return out;
    }
    if (shipped === undefined) throw new Error('FusedConv2D: no shipped wasm kernel');
    return shipped(args);
  };
}
