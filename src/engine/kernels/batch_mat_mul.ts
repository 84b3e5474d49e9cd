/**
 * `BatchMatMul` with a transposed operand, for the wasm backend. The shipped kernel sends every product with
 * `transposeA` or `transposeB` (all the gradient products of a dense layer) to a naive triple loop; only the
 * untransposed, unbatched case reaches XNNPACK. This kernel transposes explicitly and reaches XNNPACK.
 *
 * XNNPACK packs the right operand (the "weights") on every call unless it is the same tensor as last time, and
 * packing costs about as much as a matrix–vector product with it. So of the equivalent forms
 * `C = op(A)·op(B)` and `Cᵀ = op(B)ᵀ·op(A)ᵀ`, the one whose right operand is smaller is used; the big operand
 * (e.g. a dense kernel of 25088 × 4096) is only streamed, never copied.
 */
import type { KernelFunc, TensorInfo } from '../../tf.js';
import { withScratch, type KernelArgs, type Scratch } from './util.js';

/** Makes the kernel; `shipped` handles batched and untransposed products. */
export function makeBatchMatMul(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const covered = (transposeA || transposeB) && a.dtype === 'float32' && b.dtype === 'float32'
      && a.shape.length >= 2 && b.shape.length >= 2 && batchOf(a.shape) === 1 && batchOf(b.shape) === 1;
    if (!covered) {
      if (shipped === undefined) throw new Error('BatchMatMul: no shipped wasm kernel');
      return shipped(args);
    }
    const ar = a.shape[a.shape.length - 2];
    const ac = a.shape[a.shape.length - 1];
    const br = b.shape[b.shape.length - 2];
    const bc = b.shape[b.shape.length - 1];
    const m = transposeA ? ac : ar;
    const k = transposeA ? ar : ac;
    const n = transposeB ? br : bc;
    if ((transposeB ? bc : br) !== k) {
      throw new Error(`Error in matMul: inner shapes (${k}) and (${transposeB ? bc : br}) of Tensors with shapes `
        + `${String(a.shape)} and ${String(b.shape)} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    }
    const outShape = [...broadcastBatch(a.shape, b.shape), m, n];
    return withScratch(args.backend, (s) => {
      const a2 = s.reshape(a, [ar, ac]);
      const b2 = s.reshape(b, [br, bc]);
      // Right operand of C = op(A)·op(B) is op(B) (k × n); of Cᵀ = op(B)ᵀ·op(A)ᵀ it is op(A)ᵀ (k × m).
      const out = n <= m
        ? product(s, transposeA ? t2(s, a2) : a2, transposeB ? t2(s, b2) : b2)
        : t2(s, product(s, transposeB ? b2 : t2(s, b2), transposeA ? a2 : t2(s, a2)));
      return s.reshape(out, outShape);
    });
  };
}

function product(s: Scratch, x: TensorInfo, y: TensorInfo): TensorInfo {
  const [m, k] = x.shape as [number, number];
  const n = y.shape[1];
  const out = s.run('BatchMatMul', { a: s.reshape(x, [1, m, k]), b: s.reshape(y, [1, k, n]) },
    { transposeA: false, transposeB: false });
  return s.reshape(out, [m, n]);
}

function t2(s: Scratch, x: TensorInfo): TensorInfo {
  return s.run('Transpose', { x }, { perm: [1, 0] });
}

function batchOf(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length - 2; i++) n *= shape[i];
  return n;
}

function broadcastBatch(a: readonly number[], b: readonly number[]): number[] {
  const ra = a.slice(0, -2);
  const rb = b.slice(0, -2);
  return ra.length >= rb.length ? ra : rb;
}
