import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { l2ForPsnr, project, roundTo8Bit, type Norm } from '../../src/attacks/threat.js';
import { expectNoLeak } from '../helpers.js';
import { distances, is8bit } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

const TOL = 1e-5;

/** A batch of 8-bit clean images and an arbitrary (not projected) perturbed batch. */
const batch = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
  spread: fc.double({ min: 0, max: 2, noNaN: true }),
});

function makePair(n: number, seed: number, spread: number): [tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const x0 = tf.div<tf.Tensor4D>(tf.round(tf.mul(tf.randomUniform([n, 5, 5, 3], 0, 1, 'float32', seed), 255)), 255);
    // Push some pixels to the box edges, where clipping matters.
    const edge = tf.greater(tf.randomUniform([n, 5, 5, 3], 0, 1, 'float32', seed + 1), 0.8);
    const x0e = tf.where<tf.Tensor4D>(edge, tf.round(x0), x0);
    const x = tf.add<tf.Tensor4D>(x0e, tf.randomUniform([n, 5, 5, 3], -spread, spread, 'float32', seed + 2));
    return [x, x0e];
  });
}

const normAndEps = fc.oneof(
  fc.record({ norm: fc.constant<Norm>('linf'), eps: fc.integer({ min: 1, max: 64 }).map((k) => k / 255) }),
  fc.record({ norm: fc.constant<Norm>('linf'), eps: fc.double({ min: 1e-3, max: 0.3, noNaN: true }) }),
  fc.record({ norm: fc.constant<Norm>('l2'), eps: fc.double({ min: 0.01, max: 3, noNaN: true }) }),
);

describe('project', () => {
  it('lands inside the ε-ball and the [0, 1] box, for L∞ and L2', async () => {
    await fc.assert(fc.asyncProperty(batch, normAndEps, async ({ n, seed, spread }, { norm, eps }) => {
      const [x, x0] = makePair(n, seed, spread);
      const p = project(x, x0, eps, norm);
      const d = await distances(p, x0);
      const data = await p.data();
      expect(Math.min(...data)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...data)).toBeLessThanOrEqual(1);
      for (let i = 0; i < n; i++) expect((norm === 'linf' ? d.linf : d.l2)[i]).toBeLessThanOrEqual(eps + TOL);
      tf.dispose([x, x0, p]);
    }), { numRuns: 30 });
  });

  it('leaves points already inside the threat model unchanged', async () => {
    const [x, x0] = makePair(2, 4, 0.01);
    const p = project(x, x0, 0.05, 'linf');
    const q = project(tf.clipByValue<tf.Tensor4D>(x, 0, 1), x0, 1, 'l2');
    expect(Array.from(await p.data())).toEqual(Array.from(await tf.clipByValue(x, 0, 1).data()));
    expect(Math.max(...(await tf.abs(tf.sub(q, tf.clipByValue(x, 0, 1))).data()))).toBeLessThan(1e-7);
    tf.dispose([x, x0, p, q]);
  });

  it('leaves no tensors behind', async () => {
    const [x, x0] = makePair(2, 1, 0.5);
    await expectNoLeak(() => [project(x, x0, 0.1, 'linf'), project(x, x0, 0.5, 'l2')]);
    tf.dispose([x, x0]);
  });
});

describe('roundTo8Bit', () => {
  it('returns 8-bit images inside the ε-ball and the box whatever the input', async () => {
    await fc.assert(fc.asyncProperty(batch, normAndEps, async ({ n, seed, spread }, { norm, eps }) => {
      const [x, x0] = makePair(n, seed, spread);
      const inside = project(x, x0, eps, norm);
      const r = roundTo8Bit(inside, x0, eps, norm);
      expect(await is8bit(r)).toBe(true);
      const d = await distances(r, x0);
      for (let i = 0; i < n; i++) expect((norm === 'linf' ? d.linf : d.l2)[i]).toBeLessThanOrEqual(eps + TOL);
      // Idempotent: rounding a rounded image changes nothing.
      const again = roundTo8Bit(r, x0, eps, norm);
      expect(Array.from(await again.data())).toEqual(Array.from(await r.data()));
      tf.dispose([x, x0, inside, r, again]);
    }), { numRuns: 40 });
  });

  it('rounds L∞ pixels toward x0 when nearest rounding would leave the ball', async () => {
    // x0 = 10/255, ε = 2.5/255: x = x0 + 2.5/255 rounds (half to even) to 13/255, outside; toward x0 gives 12/255.
    const x0 = tf.fill<tf.Rank.R4>([1, 1, 1, 3], 10 / 255);
    const x = tf.fill<tf.Rank.R4>([1, 1, 1, 3], 12.6 / 255);
    const r = roundTo8Bit(x, x0, 2.5 / 255, 'linf');
    for (const v of await r.data()) expect(v * 255).toBeCloseTo(12, 4);
    tf.dispose([x0, x, r]);
  });

  it('rounds up as many L2 pixels as ε allows when nearest rounding would exceed it', async () => {
    // 12 pixels at +0.6 steps, ε = √12·0.6/255 = √4.32/255: nearest rounding (+1 step each, √12/255) is
    // too far, so 4 pixels go up one step and 8 stay at x0, a norm of 2/255.
    const x0 = tf.fill<tf.Rank.R4>([1, 2, 2, 3], 100 / 255);
    const x = tf.fill<tf.Rank.R4>([1, 2, 2, 3], 100.6 / 255);
    const eps = (Math.sqrt(12) * 0.6) / 255;
    const r = roundTo8Bit(x, x0, eps, 'l2');
    const d = await distances(r, x0);
    expect(d.l2[0]).toBeLessThanOrEqual(eps + TOL);
    expect(await is8bit(r)).toBe(true);
    expect(d.l2[0] * 255).toBeCloseTo(2, 4);
    tf.dispose([x0, x, r]);
  });

  it('leaves no tensors behind', async () => {
    const [x, x0] = makePair(2, 1, 0.5);
    await expectNoLeak(() => [roundTo8Bit(x, x0, 0.1, 'linf'), roundTo8Bit(x, x0, 0.5, 'l2')]);
    tf.dispose([x, x0]);
  });
});

/**
 * The projection onto {box} ∩ {‖δ‖ ≤ r} by Dykstra's alternating projections, in float64 on plain arrays: an
 * independent computation that converges to the exact projection onto the intersection of two convex sets.
 */
function dykstra(z: Float64Array, lo: Float64Array, hi: Float64Array, r: number, iterations = 5000): Float64Array {
  let x = Float64Array.from(z);
  let p = new Float64Array(z.length); let q = new Float64Array(z.length);
  for (let k = 0; k < iterations; k++) {
    const y = x.map((v, i) => Math.min(hi[i], Math.max(lo[i], v + p[i])));
    p = p.map((pi, i) => x[i] + pi - y[i]);
    const w = y.map((v, i) => v + q[i]);
    const n = Math.hypot(...w);
    const xNew = n > r ? w.map((v) => (v * r) / n) : w;
    q = q.map((qi, i) => y[i] + qi - xNew[i]);
    x = xNew;
  }
  return x;
}

describe('a PSNR floor on top of the L∞ ball', () => {
  it('gives the L2 budget of a PSNR: ‖δ‖ = √(n·10^(−psnr/10)), so a uniform ±e perturbation has PSNR 20·log10(1/e)', () => {
    const n = 96 * 96 * 3;
    expect(l2ForPsnr(35, n)).toBeCloseTo(Math.sqrt(n) * 10 ** -1.75, 10);
    // ±4/255 everywhere: PSNR = 20·log10(255/4) = 36.09 dB, and its norm is exactly the budget at that PSNR.
    const psnr = 20 * Math.log10(255 / 4);
    expect(l2ForPsnr(psnr, n)).toBeCloseTo((4 / 255) * Math.sqrt(n), 10);
  });

  it('projects onto the intersection of the L∞ ball, the box and the L2 ball exactly (against Dykstra\'s algorithm)', async () => {
    await fc.assert(fc.asyncProperty(batch, fc.integer({ min: 1, max: 32 }), fc.double({ min: 0.02, max: 0.6, noNaN: true }),
      async ({ n, seed, spread }, k, rFrac) => {
        const [x, x0] = makePair(n, seed, spread);
        const eps = k / 255;
        const cap = rFrac * eps * Math.sqrt(75); // 5×5×3 values: a cap below the L∞ ball's largest norm
        const p = project(x, x0, eps, 'linf', cap);
        const [xs, x0s, ps] = [await x.data(), await x0.data(), await p.data()];
        const size = 75;
        for (let i = 0; i < n; i++) {
          const z = new Float64Array(size); const lo = new Float64Array(size); const hi = new Float64Array(size);
          for (let j = 0; j < size; j++) {
            const a = x0s[i * size + j];
            z[j] = xs[i * size + j] - a; lo[j] = Math.max(-eps, -a); hi[j] = Math.min(eps, 1 - a);
          }
          const want = dykstra(z, lo, hi, cap);
          for (let j = 0; j < size; j++) expect(ps[i * size + j] - x0s[i * size + j]).toBeCloseTo(want[j], 4);
        }
        tf.dispose([x, x0, p]);
      }), { numRuns: 8 });
  });

  it('rounds to 8 bits inside all three: the box, the L∞ ball and the L2 cap', async () => {
    await fc.assert(fc.asyncProperty(batch, fc.integer({ min: 1, max: 32 }), fc.double({ min: 0.05, max: 1.2, noNaN: true }),
      async ({ n, seed, spread }, k, rFrac) => {
        const [x, x0] = makePair(n, seed, spread);
        const eps = k / 255;
        const cap = rFrac * eps * Math.sqrt(75);
        const r = roundTo8Bit(x, x0, eps, 'linf', cap);
        expect(await is8bit(r)).toBe(true);
        const d = await distances(r, x0);
        for (let i = 0; i < n; i++) {
          expect(d.linf[i]).toBeLessThanOrEqual(eps + TOL);
          expect(d.l2[i]).toBeLessThanOrEqual(cap + TOL);
        }
        const data = await r.data();
        expect(Math.min(...data)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...data)).toBeLessThanOrEqual(1);
        tf.dispose([x, x0, r]);
      }), { numRuns: 40 });
  });

  it('changes nothing when the cap is looser than the L∞ ball, and leaves no tensors behind', async () => {
    const [x, x0] = makePair(2, 3, 0.5);
    const a = project(x, x0, 4 / 255, 'linf');
    const b = project(x, x0, 4 / 255, 'linf', 10);
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    await expectNoLeak(() => [project(x, x0, 0.1, 'linf', 0.05), roundTo8Bit(x, x0, 0.1, 'linf', 0.05)]);
    tf.dispose([x, x0, a, b]);
  });
});
