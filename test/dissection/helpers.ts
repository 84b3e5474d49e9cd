import { targetRank } from '../../src/dissection/quantile.js';

/** A small seeded PRNG (xorshift32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let x = (seed >>> 0) || 0x2545f491;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

export type Distribution = 'uniform' | 'normal' | 'relu' | 'ties' | 'sorted' | 'reversed' | 'lognormal';
export const DISTRIBUTIONS: readonly Distribution[] = ['uniform', 'normal', 'relu', 'ties', 'sorted', 'reversed', 'lognormal'];

/** `n` float32 values from a named distribution, reproducible by seed. */
export function sample(dist: Distribution, n: number, seed: number): Float32Array {
  const r = prng(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (dist) {
      case 'uniform': a[i] = r() * 10 - 5; break;
      case 'normal': a[i] = gauss(); break;
      case 'relu': a[i] = Math.max(0, gauss() * 2 - 1); break; // most values exactly 0, like post-ReLU activations
      case 'ties': a[i] = Math.floor(r() * 7); break;
      case 'sorted': a[i] = i / n; break;
      case 'reversed': a[i] = (n - i) / n; break;
      case 'lognormal': a[i] = Math.exp(gauss() * 3); break;
    }
  }
  return a;
}

/** The rank error of answering `v` for quantile `q` of `sorted`, in items: 0 when v is a correct answer. */
export function rankError(sorted: Float32Array, q: number, v: number): number {
  const n = sorted.length;
  const t = targetRank(q, n);
  let a = 0; let b = n;
  while (a < b) { const m = (a + b) >> 1; if (sorted[m] < v) a = m + 1; else b = m; }
  const below = a;
  a = 0; b = n;
  while (a < b) { const m = (a + b) >> 1; if (sorted[m] <= v) a = m + 1; else b = m; }
  const atOrBelow = a;
  return Math.max(0, below + 1 - t, t - atOrBelow);
}

/** Quantiles probed by the tests: a fine grid plus the tails dissection uses. */
export const QS: readonly number[] = [
  ...Array.from({ length: 199 }, (_, i) => (i + 1) / 200), 0.001, 0.005, 0.995, 0.999,
];
