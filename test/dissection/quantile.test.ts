import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QuantileSketch, targetRank } from '../../src/dissection/quantile.js';
import { radixSortFloat32 } from '../../src/dissection/_internals/radix.js';
import { UnitAttackError } from '../../src/errors.js';
import { DISTRIBUTIONS, QS, rankError, sample } from './helpers.js';

const maxError = (s: QuantileSketch, sorted: Float32Array): number => Math.max(...QS.map((q) => rankError(sorted, q, s.quantile(q))));

function sketchOf(data: Float32Array, k?: number, seed = 1, chunk = 4096): QuantileSketch {
  const s = new QuantileSketch({ ...(k !== undefined ? { k } : {}), seed });
  for (let i = 0; i < data.length; i += chunk) s.update(data, i, Math.min(data.length, i + chunk));
  return s;
}

describe('radixSortFloat32', () => {
  it('sorts like a numeric sort, negatives, zeros and infinities included', () => {
    fc.assert(fc.property(fc.float32Array({ noNaN: true, minLength: 0, maxLength: 3000 }), (arr) => {
      const a = arr.slice();
      radixSortFloat32(a);
      const ref = arr.slice().sort();
      for (let i = 0; i < a.length; i++) if (!(a[i] === ref[i])) return false; // -0 and +0 compare equal
      return true;
    }), { numRuns: 60 });
  });
});

describe('QuantileSketch', () => {
  it('is exact while the stream fits in its buffer', () => {
    fc.assert(fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 500 }), fc.double({ min: 0, max: 1, noNaN: true }), (arr, q) => {
      const s = new QuantileSketch({ k: 1024 });
      s.update(arr);
      const sorted = arr.slice().sort();
      expect(rankError(sorted, q, s.quantile(q))).toBe(0);
      expect(s.min).toBe(sorted[0]);
      expect(s.max).toBe(sorted[sorted.length - 1]);
    }), { numRuns: 100 });
  });

  it('never exceeds its hard rank-error bound, with a small k that compacts often', () => {
    fc.assert(fc.property(
      fc.constantFrom(...DISTRIBUTIONS), fc.integer({ min: 1000, max: 40_000 }), fc.integer({ min: 16, max: 256 }), fc.integer(), fc.integer({ min: 1, max: 3000 }),
      (dist, n, k, seed, chunk) => {
        const data = sample(dist, n, seed);
        const s = sketchOf(data, k, seed, chunk);
        const sorted = data.slice().sort();
        expect(s.count).toBe(n);
        expect(maxError(s, sorted)).toBeLessThanOrEqual(s.rankErrorBound());
      },
    ), { numRuns: 60 });
  });

  it('keeps the rank error within 0.1% at the default size, on a million values', () => {
    fc.assert(fc.property(fc.constantFrom(...DISTRIBUTIONS), fc.integer({ min: 200_000, max: 1_200_000 }), fc.integer(), (dist, n, seed) => {
      const data = sample(dist, n, seed);
      const s = sketchOf(data, undefined, seed, 18_432);
      const sorted = data.slice().sort();
      expect(maxError(s, sorted) / n).toBeLessThanOrEqual(0.001);
      expect(s.retained).toBeLessThan(5 * s.k); // memory stays bounded
    }), { numRuns: 8 });
  });

  it('answers for the union after merging shards, within the error bounds, as a sketch of the whole does', () => {
    fc.assert(fc.property(
      fc.constantFrom(...DISTRIBUTIONS), fc.integer({ min: 2000, max: 60_000 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 32, max: 512 }), fc.integer(),
      (dist, n, cutsRaw, k, seed) => {
        const data = sample(dist, n, seed);
        const cuts = [0, ...cutsRaw.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
        const shards = cuts.slice(1).map((e, i) => sketchOf(data.subarray(cuts[i], e), k, seed + i + 1, 777));
        const merged = shards.reduce((acc, s) => acc.merge(s), new QuantileSketch({ k, seed }));
        const whole = sketchOf(data, k, seed);
        const sorted = data.slice().sort();
        expect(merged.count).toBe(n);
        expect(merged.min).toBe(sorted[0]);
        expect(merged.max).toBe(sorted[n - 1]);
        for (const q of QS) {
          const em = rankError(sorted, q, merged.quantile(q));
          const ew = rankError(sorted, q, whole.quantile(q));
          expect(em).toBeLessThanOrEqual(merged.rankErrorBound());
          expect(ew).toBeLessThanOrEqual(whole.rankErrorBound());
        }
      },
    ), { numRuns: 40 });
  });

  it('keeps 0.1% after merging shards made with the default size', () => {
    const data = sample('relu', 900_000, 11);
    const merged = new QuantileSketch();
    for (let i = 0; i < 4; i++) merged.merge(sketchOf(data.subarray(i * 225_000, (i + 1) * 225_000), undefined, i + 2, 18_432));
    const sorted = data.slice().sort();
    expect(maxError(merged, sorted) / data.length).toBeLessThanOrEqual(0.001);
  });

  it('round-trips through serialize and continues identically', () => {
    const data = sample('lognormal', 50_000, 3);
    const a = sketchOf(data.subarray(0, 30_000), 128, 9);
    const b = QuantileSketch.deserialize(a.serialize());
    expect(b.count).toBe(a.count);
    expect(b.rankErrorBound()).toBe(a.rankErrorBound());
    expect(QS.map((q) => b.quantile(q))).toEqual(QS.map((q) => a.quantile(q)));
    a.update(data, 30_000); b.update(data, 30_000);
    expect(QS.map((q) => b.quantile(q))).toEqual(QS.map((q) => a.quantile(q)));
    expect(b.serialize()).toEqual(a.serialize());
  });

  it('counts and ignores NaNs, and answers NaN when empty', () => {
    const s = new QuantileSketch({ k: 16 });
    expect(s.quantile(0.5)).toBeNaN();
    const v = new Float32Array(100).map((_, i) => (i % 3 === 0 ? NaN : i));
    s.update(v);
    s.add(NaN);
    expect(s.nanCount).toBe(35);
    expect(s.count).toBe(66);
    expect(s.min).toBe(1);
    expect(s.max).toBe(98);
  });

  it('rejects bad arguments with usage errors and bad bytes with an input error', () => {
    expect(() => new QuantileSketch({ k: 3 })).toThrowError(/k must be an integer/);
    expect(() => new QuantileSketch().quantile(1.5)).toThrowError(UnitAttackError);
    expect(() => new QuantileSketch({ k: 32 }).merge(new QuantileSketch({ k: 64 }))).toThrowError(/different sizes/);
    try {
      QuantileSketch.deserialize(new Uint8Array(80));
      expect.unreachable();
    } catch (err) {
      expect((err as UnitAttackError).code).toBe('UA_INPUT');
    }
  });

  it('uses the inverted-CDF definition of the exact quantile', () => {
    expect(targetRank(0.99, 100)).toBe(99);
    expect(targetRank(0.5, 3)).toBe(2);
    expect(targetRank(0, 10)).toBe(1);
    expect(targetRank(1, 10)).toBe(10);
    const s = new QuantileSketch();
    s.update(new Float32Array([3, 1, 2]));
    expect(s.quantile(0.5)).toBe(2);
  });
});
