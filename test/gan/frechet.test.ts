import { describe, expect, it } from 'vitest';
import { FeatureMoments, frechetDistance, momentsOf, traceSqrtProduct } from '../../src/gan/frechet.js';

/** A deterministic uniform draw in [0, 1) (LCG). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 2 ** 32; };
}

const diag = (v: number[]): number[] => {
  const d = v.length;
  const m = new Array<number>(d * d).fill(0);
  v.forEach((x, i) => { m[i * d + i] = x; });
  return m;
};

/** A random d×d symmetric positive definite matrix `A Aᵀ + εI`. */
function randomSpd(d: number, rand: () => number): number[] {
  const a = Array.from({ length: d * d }, () => rand() * 2 - 1);
  const m = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) m[i * d + j] += a[i * d + k] * a[j * d + k];
  for (let i = 0; i < d; i++) m[i * d + i] += 0.05;
  return m;
}

describe('frechetDistance', () => {
  it('equals |μ1 − μ2|² + Σ (√a − √b)² for diagonal covariances (worked by hand)', () => {
    // μ1 = (0, 1, 2), μ2 = (1, 1, 0): |Δμ|² = 1 + 0 + 4 = 5.
    // Σ1 = diag(4, 9, 1), Σ2 = diag(1, 4, 16): (2 − 1)² + (3 − 2)² + (1 − 4)² = 1 + 1 + 9 = 11. FD = 16.
    const fd = frechetDistance({ mean: [0, 1, 2], covariance: diag([4, 9, 1]) }, { mean: [1, 1, 0], covariance: diag([1, 4, 16]) });
    expect(fd).toBeCloseTo(16, 10);
  });

  it('is |μ1 − μ2|² for equal covariances, and 0 for a set against itself', () => {
    const rand = uniform(3);
    const S = randomSpd(6, rand);
    const mu1 = Array.from({ length: 6 }, () => rand()); const mu2 = Array.from({ length: 6 }, () => rand());
    const dmu = mu1.reduce((s, v, k) => s + (v - mu2[k]) ** 2, 0);
    expect(frechetDistance({ mean: mu1, covariance: S }, { mean: mu2, covariance: S })).toBeCloseTo(dmu, 8);
    expect(frechetDistance({ mean: mu1, covariance: S }, { mean: mu1, covariance: S })).toBeLessThan(1e-8);
  });

  it('matches the closed form tr √M = √(tr M + 2 √det M) of 2×2 products that do not commute', () => {
    const rand = uniform(11);
    for (let r = 0; r < 20; r++) {
      const A = randomSpd(2, rand); const B = randomSpd(2, rand);
      // M = A B (not symmetric; its eigenvalues are real and ≥ 0).
      const m = [A[0] * B[0] + A[1] * B[2], A[0] * B[1] + A[1] * B[3], A[2] * B[0] + A[3] * B[2], A[2] * B[1] + A[3] * B[3]];
      const det = m[0] * m[3] - m[1] * m[2];
      const expected = Math.sqrt(m[0] + m[3] + 2 * Math.sqrt(det));
      expect(traceSqrtProduct(A, B, 2)).toBeCloseTo(expected, 9);
    }
  });

  it('is symmetric in its arguments and grows with a shift of the mean', () => {
    const rand = uniform(5);
    const p = { mean: [0, 0, 0, 0], covariance: randomSpd(4, rand) };
    const q = { mean: [1, 0, 0, 0], covariance: randomSpd(4, rand) };
    expect(frechetDistance(p, q)).toBeCloseTo(frechetDistance(q, p), 8);
    const far = { ...q, mean: [3, 0, 0, 0] };
    expect(frechetDistance(p, far)).toBeGreaterThan(frechetDistance(p, q));
  });

  it('refuses sets of different dimensions', () => {
    expect(() => frechetDistance({ mean: [0, 0], covariance: diag([1, 1]) }, { mean: [0], covariance: [1] })).toThrow(/differ in size/);
  });
});

describe('FeatureMoments', () => {
  it('gives the two-pass mean and sample covariance, whatever the batches, with a large offset', () => {
    const rand = uniform(9);
    const d = 3; const n = 50;
    const rows = Array.from({ length: n * d }, (_, i) => 1e4 + (i % d) * 10 + rand() * (1 + (i % d)));
    const m = new FeatureMoments(d);
    m.add(rows.slice(0, 7 * d), 7); m.add(rows.slice(7 * d, 30 * d), 23); m.add(rows.slice(30 * d), 20);
    const mean = [0, 1, 2].map((k) => rows.filter((_, i) => i % d === k).reduce((a, b) => a + b, 0) / n);
    const { mean: got, covariance } = momentsOf(m);
    for (let k = 0; k < d; k++) expect(got[k]).toBeCloseTo(mean[k], 9);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += (rows[i * d + a] - mean[a]) * (rows[i * d + b] - mean[b]);
        expect(covariance[a * d + b]).toBeCloseTo(s / (n - 1), 9);
      }
    }
  });

  it('says NaN with fewer than two vectors, and refuses rows of the wrong length', () => {
    const m = new FeatureMoments(2);
    m.add([1, 2], 1);
    expect(Number.isNaN(m.covariance()[0])).toBe(true);
    expect(() => m.add([1, 2, 3], 1)).toThrow(/not 1 vectors of 2/);
  });
});
