import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wilsonInterval } from '../../src/attacks/metrics.js';
import { evaluateExpectation } from '../../src/scenarios/run.js';

describe('wilsonInterval', () => {
  it('matches hand-worked intervals (z = 1.959964)', () => {
    // 52 of 100: p = 0.52, z²/n = 0.0384146; centre = (0.52 + 0.0192073) / 1.0384146 = 0.519260…
    // half = 1.959964 / 1.0384146 · sqrt(0.52·0.48/100 + 0.0384146/400) = 0.0960944…
    const a = wilsonInterval(52, 100);
    expect(a.lower).toBeCloseTo(0.423166, 5);
    expect(a.upper).toBeCloseTo(0.615354, 5);
    // 0 of 10: lower 0, upper z²/(n + z²) = 3.841459 / 13.841459 = 0.277533
    const b = wilsonInterval(0, 10);
    expect(b.lower).toBe(0);
    expect(b.upper).toBeCloseTo(0.277533, 5);
    // 10 of 10 mirrors it.
    const c = wilsonInterval(10, 10);
    expect(c.upper).toBe(1);
    expect(c.lower).toBeCloseTo(1 - 0.277533, 5);
    expect(Number.isNaN(wilsonInterval(0, 0).lower)).toBe(true);
  });

  it('holds the rate, stays in [0, 1], narrows with more trials, and is symmetric under count ↔ total − count', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, share) => {
      const k = Math.round(share * n);
      const w = wilsonInterval(k, n);
      expect(w.lower).toBeGreaterThanOrEqual(0);
      expect(w.upper).toBeLessThanOrEqual(1);
      expect(w.lower).toBeLessThanOrEqual(k / n + 1e-12);
      expect(w.upper).toBeGreaterThanOrEqual(k / n - 1e-12);
      const m = wilsonInterval(n - k, n);
      expect(m.lower).toBeCloseTo(1 - w.upper, 9);
      const big = wilsonInterval(k * 4, n * 4);
      expect(big.upper - big.lower).toBeLessThan(w.upper - w.lower + 1e-12);
    }));
  });

  it('covers the true rate about 95% of the time (binomial draws from a seeded generator)', () => {
    let seed = 12345;
    const rand = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
    let covered = 0;
    const trials = 2000; const n = 60; const p = 0.3;
    for (let t = 0; t < trials; t++) {
      let k = 0;
      for (let i = 0; i < n; i++) if (rand() < p) k++;
      const w = wilsonInterval(k, n);
      if (w.lower <= p && p <= w.upper) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.93);
    expect(covered / trials).toBeLessThan(0.975);
  });

  it('rejects counts that are not a rate', () => {
    expect(() => wilsonInterval(5, 3)).toThrow(/0 ≤ count ≤ total/);
  });
});

describe('expectations that gate on an interval bound', () => {
  const interval = { ...wilsonInterval(52, 100) };
  it('compare the named bound, not the value', () => {
    const e = { metric: 'targeted_success' as const, min: 0.45 };
    expect(evaluateExpectation(e, 0.52, interval).passed).toBe(true);
    const lower = evaluateExpectation({ ...e, bound: 'lower95' }, 0.52, interval);
    expect(lower.passed).toBe(false); // 0.423 < 0.45: not shown with 95% confidence
    expect(lower.compared).toBeCloseTo(0.423166, 5);
    expect(lower.bound).toBe('lower95');
    expect(evaluateExpectation({ metric: 'targeted_success', min: 0.6, bound: 'upper95' }, 0.52, interval).passed).toBe(true); // 0.615 ≥ 0.6
    expect(evaluateExpectation({ metric: 'targeted_success', min: 0.45, bound: 'lower95' }, 0.52, undefined).passed).toBe(false);
  });
});
