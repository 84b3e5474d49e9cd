/**
 * The gradient of a convolution with respect to its input (a transposed convolution), computed with forward
 * convolutions, which XNNPACK runs several times faster than the shipped wasm backprop kernel.
 *
 * Per spatial axis with stride `s`, dilation `d`, filter size `K` and leading padding `p`:
 *
 *   dx[h] = Σ_k dy[(h + p − k·d) / s] · W[k]   (only where the division is exact)
 *
 * With `s = 1` this is a forward convolution of `dy` with the spatially flipped filter, leading padding
 * `(K−1)·d − p`. With `s > 1`, the output rows split into `s` phases by `(h + p) mod s`; phase `ρ` only meets the
 * taps `k ≡ ρ (mod s)`, and is a stride-1 forward convolution of `dy` with that sub-filter. The phases are then
 * interleaved. This costs the same multiply-adds as the forward convolution, unlike inserting zeros into `dy`,
 * which costs `s²` times more.
 */
import type { TensorInfo } from '../../tf.js';
import type { Scratch } from './util.js';

/** Geometry of one spatial axis of the forward convolution. */
export interface AxisGeometry {
  /** Filter taps. */
  k: number;
  stride: number;
  dilation: number;
  /** Leading padding of the forward convolution. */
  pad: number;
  /** Forward input size (the size of dx). */
  inSize: number;
  /** Forward output size (the size of dy). */
  outSize: number;
}

/** One phase of one axis: which taps, and how to pad or crop dy for the stride-1 convolution. */
export interface AxisPhase {
  /** Number of taps in this phase. */
  taps: number;
  /** First index of the phase's taps in the flipped filter; taps step by `stride`. */
  filterBegin: number;
  /** Dilation of the stride-1 convolution. */
  dilation: number;
  cropBefore: number;
  cropAfter: number;
  padBefore: number;
  padAfter: number;
}

export interface AxisPlan {
  stride: number;
  /** Rows each phase produces (t in [t0, t0 + rows)). */
  rows: number;
  /** Offset of dx row 0 in the interleaved grid of `rows · stride` rows. */
  offset: number;
  /** Phases by residue; `null` where no tap falls (that phase of dx is zero). */
  phases: (AxisPhase | null)[];
}

/** Plans one axis, or returns `null` for geometry this method does not cover. */
export function planAxis(g: AxisGeometry): AxisPlan | null {
  const { k, stride: s, dilation: d, pad: p, inSize, outSize } = g;
  if (s < 1 || d < 1 || k < 1 || p < 0) return null;
  if (s > 1 && d > 1) return null;
  const t0 = Math.floor(p / s);
  const rows = Math.ceil((p + inSize) / s) - t0;
  const phases: (AxisPhase | null)[] = [];
  for (let rho = 0; rho < s; rho++) {
    let taps: number;
    let filterBegin: number;
    let dil: number;
    if (s === 1) {
      taps = k;
      filterBegin = 0;
      dil = d;
    } else {
      taps = k > rho ? Math.ceil((k - rho) / s) : 0;
      filterBegin = k - 1 - rho - (taps - 1) * s;
      dil = 1;
    }
    if (taps <= 0) {
      phases.push(null);
      continue;
    }
    const kEff = (taps - 1) * dil + 1;
    const before = kEff - 1 - t0;
    const after = rows - outSize - before + kEff - 1;
    const cropBefore = Math.max(0, -before);
    const cropAfter = Math.max(0, -after);
    if (outSize - cropBefore - cropAfter <= 0) {
      phases.push(null);
      continue;
    }
    phases.push({
      taps, filterBegin, dilation: dil, cropBefore, cropAfter,
      padBefore: Math.max(0, before), padAfter: Math.max(0, after),
    });
  }
  return { stride: s, rows, offset: p - t0 * s, phases };
}

/** A stride-1 forward convolution: Conv2D, or a depthwise one. `pad` is explicit NHWC padding. */
export type StrideOneConv = (
  s: Scratch, x: TensorInfo, filter: TensorInfo, pad: [[0, 0], [number, number], [number, number], [0, 0]],
  dilations: [number, number],
) => TensorInfo;

/**
 * dx of shape `[n, inH, inW, outC]` from `dy` and a filter already flipped spatially and laid out for the forward
 * convolution of dy (`[kh, kw, dyChannels, outC]` for Conv2D).
 */
export function transposedConv(
  s: Scratch, dy: TensorInfo, flipped: TensorInfo, rowPlan: AxisPlan, colPlan: AxisPlan,
  dxShape: [number, number, number, number], conv: StrideOneConv,
): TensorInfo {
  const [n, inH, inW, outC] = dxShape;
  const [, dyH, dyW, dyC] = dy.shape as [number, number, number, number];
  const [fh, fw, f2, f3] = flipped.shape as [number, number, number, number];
  const single = rowPlan.stride === 1 && colPlan.stride === 1;
  const results: { rh: number; rw: number; out: TensorInfo }[] = [];
  for (let rh = 0; rh < rowPlan.stride; rh++) {
    const ph = rowPlan.phases[rh];
    if (ph === null || ph === undefined) continue;
    for (let rw = 0; rw < colPlan.stride; rw++) {
      const pw = colPlan.phases[rw];
      if (pw === null || pw === undefined) continue;
      let input = dy;
      if (ph.cropBefore + ph.cropAfter + pw.cropBefore + pw.cropAfter > 0) {
        input = s.run('Slice', { x: dy }, {
          begin: [0, ph.cropBefore, pw.cropBefore, 0],
          size: [n, dyH - ph.cropBefore - ph.cropAfter, dyW - pw.cropBefore - pw.cropAfter, dyC],
        });
      }
      let filter = flipped;
      if (ph.taps !== fh || pw.taps !== fw) {
        filter = s.run('StridedSlice', { x: flipped }, {
          begin: [ph.filterBegin, pw.filterBegin, 0, 0],
          end: [ph.filterBegin + (ph.taps - 1) * rowPlan.stride + 1, pw.filterBegin + (pw.taps - 1) * colPlan.stride + 1,
            f2, f3],
          strides: [rowPlan.stride, colPlan.stride, 1, 1],
          beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
        });
      }
      const out = conv(s, input, filter,
        [[0, 0], [ph.padBefore, ph.padAfter], [pw.padBefore, pw.padAfter], [0, 0]], [ph.dilation, pw.dilation]);
      if (input !== dy) s.free(input);
      if (filter !== flipped) s.free(filter);
      if (single) return out;
      results.push({ rh, rw, out });
    }
  }
  return interleave(s, results, rowPlan, colPlan, [n, inH, inW, outC]);
}

/** Writes phase outputs `[n, rows, cols, c]` into dx at rows `t·s + ρ − offset`. Missing phases are zero. */
function interleave(
  s: Scratch, results: { rh: number; rw: number; out: TensorInfo }[], rowPlan: AxisPlan, colPlan: AxisPlan,
  shape: [number, number, number, number],
): TensorInfo {
  const backend = s.backend as unknown as {
    makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
    typedArrayFromHeap(t: TensorInfo): Float32Array;
  };
  const [n, h, w, c] = shape;
  const out = s.keep(backend.makeOutput(shape, 'float32'));
  try {
    // Views are taken after the allocation above: growing the wasm heap detaches older views.
    const dst = backend.typedArrayFromHeap(out);
    if (results.length < rowPlan.stride * colPlan.stride) dst.fill(0);
    const rows = rowPlan.rows;
    const cols = colPlan.rows;
    for (const { rh, rw, out: phase } of results) {
      const src = backend.typedArrayFromHeap(phase);
      for (let b = 0; b < n; b++) {
        for (let t = 0; t < rows; t++) {
          const y = t * rowPlan.stride + rh - rowPlan.offset;
          if (y < 0 || y >= h) continue;
          for (let m = 0; m < cols; m++) {
            const x = m * colPlan.stride + rw - colPlan.offset;
            if (x < 0 || x >= w) continue;
            const si = ((b * rows + t) * cols + m) * c;
            const di = ((b * h + y) * w + x) * c;
            for (let ch = 0; ch < c; ch++) dst[di + ch] = src[si + ch]!;
          }
        }
      }
    }
  } catch (err) {
    s.backend.disposeData(out.dataId);
    throw err;
  }
  return out;
}
