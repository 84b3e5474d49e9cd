/**
 * 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) on the wasm backend: each 2×2 output tile
 * costs 16 multiplies per input–output channel pair instead of 36, so the multiply work falls 2.25×. The 16
 * products `V[ξ] · U[ξ]` (`[tiles, inC] · [inC, outC]`) run on XNNPACK through the wasm BatchMatMul; the input and
 * output transforms (additions only) run in JS. It pays off where channels are wide (≥ 128), since the transforms
 * cost per channel while the products cost per channel pair.
 *
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
 *   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
 *
 * The transformed filter U (16 tensors `[inC, outC]`) is cached per filter like the flipped filters, so XNNPACK
 * also keeps its packed copies.
 */
import type { TensorInfo } from '../../tf.js';
import type { Scratch, WasmBackendLike } from './util.js';

/** Transformed filter: 16 tensors `[inC, outC]`, ξ = 4·i + j. */
export type WinogradFilter = TensorInfo[];

/** U = G g Gᵀ for every (inC, outC) pair of a `[3, 3, inC, outC]` filter. */
export function transformFilter(backend: WasmBackendLike, filter: TensorInfo): WinogradFilter {
  const [, , ci, co] = filter.shape as [number, number, number, number];
  const pairs = ci * co;
  const outs: TensorInfo[] = [];
  for (let k = 0; k < 16; k++) outs.push(backend.makeOutput([ci, co], 'float32'));
  const g = backend.typedArrayFromHeap(filter);
  const u = outs.map((t) => backend.typedArrayFromHeap(t));
  for (let p = 0; p < pairs; p++) {
    // g[r][c] at ((r·3 + c)·pairs + p)
    const g00 = g[p], g01 = g[pairs + p], g02 = g[2 * pairs + p];
    const g10 = g[3 * pairs + p], g11 = g[4 * pairs + p], g12 = g[5 * pairs + p];
    const g20 = g[6 * pairs + p], g21 = g[7 * pairs + p], g22 = g[8 * pairs + p];
    // t = G g (4×3)
    const t00 = g00, t01 = g01, t02 = g02;
    const t10 = 0.5 * (g00 + g10 + g20), t11 = 0.5 * (g01 + g11 + g21), t12 = 0.5 * (g02 + g12 + g22);
    const t20 = 0.5 * (g00 - g10 + g20), t21 = 0.5 * (g01 - g11 + g21), t22 = 0.5 * (g02 - g12 + g22);
    const t30 = g20, t31 = g21, t32 = g22;
    const rows = [[t00, t01, t02], [t10, t11, t12], [t20, t21, t22], [t30, t31, t32]] as const;
    for (let i = 0; i < 4; i++) {
      const [a, b, c] = rows[i];
      u[4 * i][p] = a;
      u[4 * i + 1][p] = 0.5 * (a + b + c);
      u[4 * i + 2][p] = 0.5 * (a - b + c);
      u[4 * i + 3][p] = c;
    }
  }
  return outs;
}

/** Output epilogue: bias (per output channel) and ReLU, both optional. */
export interface Epilogue {
  bias?: TensorInfo;
  relu: boolean;
}

/**
 * y `[n, outH, outW, outC]` of a 3×3, stride-1, dilation-1 conv of x `[n, h, w, inC]` with leading padding
 * (`top`, `left`) and output size (`outH`, `outW`).
 */
export function winogradConv(
  s: Scratch, x: TensorInfo, u: WinogradFilter, top: number, left: number, outH: number, outW: number,
  epilogue: Epilogue,
): TensorInfo {
  const [n, h, w, ci] = x.shape as [number, number, number, number];
  const co = u[0].shape[1];
  const th = Math.ceil(outH / 2);
  const tw = Math.ceil(outW / 2);
  const tiles = n * th * tw;
  const backend = s.backend;

  // V[ξ] = Bᵀ d B, as 16 planes [tiles, ci] in one buffer.
  const vAll = s.adopt(backend.makeOutput([16, tiles, ci], 'float32'));
  {
    const xs = backend.typedArrayFromHeap(x);
    const v = backend.typedArrayFromHeap(vAll);
    const plane = tiles * ci;
    const d = new Float32Array(16);
    let tile = 0;
    for (let b = 0; b < n; b++) {
      for (let ty = 0; ty < th; ty++) {
        const r0 = 2 * ty - top;
        for (let tx = 0; tx < tw; tx++, tile++) {
          const c0 = 2 * tx - left;
          const inside = r0 >= 0 && r0 + 3 < h && c0 >= 0 && c0 + 3 < w;
          const vBase = tile * ci;
          for (let c = 0; c < ci; c++) {
            if (inside) {
              for (let i = 0; i < 4; i++) {
                const rowBase = ((b * h + r0 + i) * w + c0) * ci + c;
                d[4 * i] = xs[rowBase]!;
                d[4 * i + 1] = xs[rowBase + ci]!;
                d[4 * i + 2] = xs[rowBase + 2 * ci]!;
                d[4 * i + 3] = xs[rowBase + 3 * ci]!;
              }
            } else {
              for (let i = 0; i < 4; i++) {
                const r = r0 + i;
                for (let j = 0; j < 4; j++) {
                  const col = c0 + j;
                  d[4 * i + j] = r >= 0 && r < h && col >= 0 && col < w ? xs[((b * h + r) * w + col) * ci + c] : 0;
                }
              }
            }
            // t = Bᵀ d (rows), then V = t B (columns)
            for (let j = 0; j < 4; j++) {
              const d0 = d[j], d1 = d[4 + j], d2 = d[8 + j], d3 = d[12 + j];
              d[j] = d0 - d2;
              d[4 + j] = d1 + d2;
              d[8 + j] = d2 - d1;
              d[12 + j] = d1 - d3;
            }
            for (let i = 0; i < 4; i++) {
              const t0 = d[4 * i], t1 = d[4 * i + 1], t2 = d[4 * i + 2], t3 = d[4 * i + 3];
              const o = vBase + c + 4 * i * plane;
              v[o] = t0 - t2;
              v[o + plane] = t1 + t2;
              v[o + 2 * plane] = t2 - t1;
              v[o + 3 * plane] = t1 - t3;
            }
          }
        }
      }
    }
  }

  // M[ξ] = V[ξ] · U[ξ]
  const m: TensorInfo[] = [];
  for (let k = 0; k < 16; k++) {
    const a = s.view(vAll, k * tiles * ci, [1, tiles, ci]);
    m.push(s.run('BatchMatMul', { a, b: s.reshape(u[k], [1, ci, co]) },
      { transposeA: false, transposeB: false }));
    s.free(a);
  }
  s.free(vAll);

  // Y = Aᵀ M A, plus bias and ReLU, cropped to outH × outW.
  const y = s.keep(backend.makeOutput([n, outH, outW, co], 'float32'));
  try {
    const ms = m.map((t) => backend.typedArrayFromHeap(t));
    const out = backend.typedArrayFromHeap(y);
    const bias = epilogue.bias === undefined ? undefined : backend.typedArrayFromHeap(epilogue.bias);
    const relu = epilogue.relu;
    let tile = 0;
    for (let b = 0; b < n; b++) {
      for (let ty = 0; ty < th; ty++) {
        for (let tx = 0; tx < tw; tx++, tile++) {
          const mBase = tile * co;
          const oy = 2 * ty;
          const ox = 2 * tx;
          const has01 = ox + 1 < outW;
          const has10 = oy + 1 < outH;
          const y00 = ((b * outH + oy) * outW + ox) * co;
          const y01 = y00 + co;
          const y10 = y00 + outW * co;
          const y11 = y10 + co;
          for (let c = 0; c < co; c++) {
            const i = mBase + c;
            const m00 = ms[0][i], m01 = ms[1][i], m02 = ms[2][i], m03 = ms[3][i];
            const m10 = ms[4][i], m11 = ms[5][i], m12 = ms[6][i], m13 = ms[7][i];
            const m20 = ms[8][i], m21 = ms[9][i], m22 = ms[10][i], m23 = ms[11][i];
            const m30 = ms[12][i], m31 = ms[13][i], m32 = ms[14][i], m33 = ms[15][i];
            // s = Aᵀ M (2×4)
            const s00 = m00 + m10 + m20, s01 = m01 + m11 + m21, s02 = m02 + m12 + m22, s03 = m03 + m13 + m23;
            const s10 = m10 - m20 - m30, s11 = m11 - m21 - m31, s12 = m12 - m22 - m32, s13 = m13 - m23 - m33;
            const bc = bias === undefined ? 0 : bias[c];
            let v00 = s00 + s01 + s02 + bc;
            let v01 = s01 - s02 - s03 + bc;
            let v10 = s10 + s11 + s12 + bc;
            let v11 = s11 - s12 - s13 + bc;
            if (relu) {
              v00 = v00 > 0 ? v00 : 0;
              v01 = v01 > 0 ? v01 : 0;
              v10 = v10 > 0 ? v10 : 0;
              v11 = v11 > 0 ? v11 : 0;
            }
            out[y00 + c] = v00;
            if (has01) out[y01 + c] = v01;
            if (has10) {
              out[y10 + c] = v10;
              if (has01) out[y11 + c] = v11;
            }
          }
        }
      }
    }
  } catch (err) {
    backend.disposeData(y.dataId);
    throw err;
  }
  return y;
}
