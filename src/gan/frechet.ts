/**
 * The Fréchet distance between two sets of feature vectors, each summarised by its mean and covariance (the FID of
 * Heusel et al. 2017, on whatever features are given):
 *
 *     FD = |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^½
 *
 * The moments stream ({@link FeatureMoments}: sums in float64, shifted by the first batch's mean so the covariance
 * does not lose digits to large means), so memory does not grow with the sample count. `tr (Σ₁ Σ₂)^½` is computed
 * with symmetric eigen-decompositions only (ml-matrix's `EigenvalueDecomposition`): with `R = Σ₁^½`, the product
 * `Σ₁ Σ₂` is similar to the symmetric positive semi-definite `R Σ₂ R`, so its square root's trace is the sum of the
 * square roots of that matrix's eigenvalues (negative rounding noise clamped at 0).
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { usageError } from '../errors.js';

/** Streaming mean and covariance of `dims`-dimensional vectors. */
export class FeatureMoments {
  n = 0;
  private shift: Float64Array | undefined;
  private readonly sum: Float64Array;
  /** Σ (x − shift)(x − shift)ᵀ, upper triangle used. */
  private readonly outer: Float64Array;

  constructor(readonly dims: number) {
    if (!Number.isInteger(dims) || dims < 1) throw usageError(`feature dimensions must be a positive integer, got ${String(dims)}`, { path: 'dims' });
    this.sum = new Float64Array(dims);
    this.outer = new Float64Array(dims * dims);
  }

  /** Adds `count` vectors stored row after row in `rows`. */
  add(rows: ArrayLike<number>, count: number): void {
    const d = this.dims;
    if (rows.length !== count * d) throw usageError(`${rows.length} numbers are not ${count} vectors of ${d}`, { path: 'rows' });
    if (count === 0) return;
    if (!this.shift) {
      const s = new Float64Array(d);
      for (let i = 0; i < count; i++) for (let k = 0; k < d; k++) s[k] += rows[i * d + k];
      for (let k = 0; k < d; k++) s[k] /= count;
      this.shift = s;
    }
    const shift = this.shift;
    const x = new Float64Array(d);
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < d; k++) x[k] = rows[i * d + k] - shift[k];
      for (let a = 0; a < d; a++) {
        const xa = x[a];
        this.sum[a] += xa;
        if (xa === 0) continue;
        const row = a * d;
        for (let b = a; b < d; b++) this.outer[row + b] += xa * x[b];
      }
    }
    this.n += count;
  }

  /** The mean. */
  mean(): Float64Array {
    const out = new Float64Array(this.dims);
    if (this.n === 0) return out.fill(Number.NaN);
    for (let k = 0; k < this.dims; k++) out[k] = this.shift![k] + this.sum[k] / this.n;
    return out;
  }

  /** The sample covariance (divisor n − 1), `dims × dims` row-major; needs at least two vectors. */
  covariance(): Float64Array {
    const d = this.dims;
    const out = new Float64Array(d * d);
    if (this.n < 2) return out.fill(Number.NaN);
    for (let a = 0; a < d; a++) {
      for (let b = a; b < d; b++) {
        const v = (this.outer[a * d + b] - (this.sum[a] * this.sum[b]) / this.n) / (this.n - 1);
        out[a * d + b] = v; out[b * d + a] = v;
      }
    }
    return out;
  }
}

const toMatrix = (m: ArrayLike<number>, d: number): Matrix => {
  const rows: number[][] = [];
  for (let a = 0; a < d; a++) rows.push(Array.from({ length: d }, (_, b) => m[a * d + b]));
  return new Matrix(rows);
};

const symmetric = (m: Matrix): Matrix => m.add(m.transpose()).mul(0.5);

/** `tr (A B)^½` for symmetric positive semi-definite `A` and `B` (`d × d`, row-major). */
export function traceSqrtProduct(a: ArrayLike<number>, b: ArrayLike<number>, d: number): number {
  const evdA = new EigenvalueDecomposition(toMatrix(a, d), { assumeSymmetric: true });
  const V = evdA.eigenvectorMatrix;
  const roots = evdA.realEigenvalues.map((l) => Math.sqrt(Math.max(0, l)));
  const R = symmetric(V.mmul(Matrix.diag(roots)).mmul(V.transpose()));
  const M = symmetric(R.mmul(toMatrix(b, d)).mmul(R));
  const evdM = new EigenvalueDecomposition(M, { assumeSymmetric: true });
  return evdM.realEigenvalues.reduce((s, l) => s + Math.sqrt(Math.max(0, l)), 0);
}

/** Mean and covariance of a set of features. */
export interface Moments {
  mean: ArrayLike<number>;
  /** `d × d`, row-major. */
  covariance: ArrayLike<number>;
}

/** The Fréchet distance between two Gaussians given by their moments (≥ 0; rounding below 0 is clamped). */
export function frechetDistance(p: Moments, q: Moments): number {
  const d = p.mean.length;
  if (q.mean.length !== d || p.covariance.length !== d * d || q.covariance.length !== d * d) {
    throw usageError(`the two feature sets differ in size (${d} and ${q.mean.length} dimensions)`, { path: 'features' });
  }
  let diff = 0; let trace = 0;
  for (let k = 0; k < d; k++) {
    diff += (p.mean[k] - q.mean[k]) ** 2;
    trace += p.covariance[k * d + k] + q.covariance[k * d + k];
  }
  return Math.max(0, diff + trace - 2 * traceSqrtProduct(p.covariance, q.covariance, d));
}

/** The moments of a {@link FeatureMoments}. */
export function momentsOf(m: FeatureMoments): Moments {
  return { mean: m.mean(), covariance: m.covariance() };
}
