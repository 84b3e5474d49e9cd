import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { project, roundTo8Bit, type Norm } from '../../src/attacks/threat.js';
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
