import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  cleanAccuracy, gaussianWindow, l2, linf, normalQuantile, psnr, robustAccuracy, ssim, summarize, targetedSuccess,
  unitEffect, untargetedSuccess,
} from '../../src/attacks/metrics.js';
import { randomUnits } from '../../src/attacks/random-units.js';
import { UnitAttackError } from '../../src/errors.js';
import { expectNoLeak } from '../helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** SSIM by brute force in float64: every 11×11 window of every channel, as Wang et al. 2004 define it. */
function ssimBrute(a: Float32Array, b: Float32Array, h: number, w: number, c: number): number {
  const g = gaussianWindow(1.5);
  const k = g.length;
  const [C1, C2] = [0.01 ** 2, 0.03 ** 2];
  let total = 0; let count = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i + k <= h; i++) {
      for (let j = 0; j + k <= w; j++) {
        let mx = 0; let my = 0; let sxx = 0; let syy = 0; let sxy = 0;
        for (let u = 0; u < k; u++) {
          for (let v = 0; v < k; v++) {
            const wt = g[u] * g[v];
            const x = a[((i + u) * w + (j + v)) * c + ch];
            const y = b[((i + u) * w + (j + v)) * c + ch];
            mx += wt * x; my += wt * y; sxx += wt * x * x; syy += wt * y * y; sxy += wt * x * y;
          }
        }
        const vx = sxx - mx * mx; const vy = syy - my * my; const cov = sxy - mx * my;
        total += ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
        count++;
      }
    }
  }
  return total / count;
}

const imagePair = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 11, max: 16 }),
  w: fc.integer({ min: 11, max: 16 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
  noise: fc.double({ min: 0, max: 0.5, noNaN: true }),
});

function pair(n: number, h: number, w: number, seed: number, noise: number): [tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const a = tf.randomUniform<tf.Rank.R4>([n, h, w, 3], 0, 1, 'float32', seed);
    const b = tf.clipByValue<tf.Tensor4D>(tf.add(a, tf.randomUniform([n, h, w, 3], -noise, noise, 'float32', seed + 1)), 0, 1);
    return [a, b];
  });
}

describe('perturbation metrics', () => {
  it('linf, l2 and psnr match a direct float64 computation', async () => {
    await fc.assert(fc.asyncProperty(imagePair, async ({ n, h, w, seed, noise }) => {
      const [a, b] = pair(n, h, w, seed, noise);
      const [da, db] = [await a.data(), await b.data()];
      const per = h * w * 3;
      const [mi, m2, mp] = [await linf(a, b), await l2(a, b), await psnr(a, b)];
      for (let i = 0; i < n; i++) {
        let m = 0; let s = 0;
        for (let j = i * per; j < (i + 1) * per; j++) { const d = da[j] - db[j]; m = Math.max(m, Math.abs(d)); s += d * d; }
        expect(mi.perImage[i]).toBeCloseTo(m, 6);
        expect(m2.perImage[i]).toBeCloseTo(Math.sqrt(s), 4);
        if (s === 0) expect(mp.perImage[i]).toBe(Number.POSITIVE_INFINITY);
        else expect(mp.perImage[i]).toBeCloseTo(10 * Math.log10(per / s), 3);
      }
      tf.dispose([a, b]);
    }), { numRuns: 15 });
  });

  it('psnr is infinite for identical images and aggregates over the finite ones', async () => {
    const a = tf.fill<tf.Rank.R4>([2, 4, 4, 3], 0.5);
    const b = tf.concat<tf.Tensor4D>([tf.fill([1, 4, 4, 3], 0.5), tf.fill([1, 4, 4, 3], 0.6)]);
    const p = await psnr(a, b);
    expect(p.perImage[0]).toBe(Number.POSITIVE_INFINITY);
    expect(p.perImage[1]).toBeCloseTo(20, 4); // MSE 0.01
    expect(p.mean).toBeCloseTo(20, 4);
    expect(p.finite).toBe(1);
    tf.dispose([a, b]);
  });

  it('ssim matches a brute-force windowed computation', async () => {
    await fc.assert(fc.asyncProperty(imagePair, async ({ n, h, w, seed, noise }) => {
      const [a, b] = pair(n, h, w, seed, noise);
      const [da, db] = [await a.data() as Float32Array, await b.data() as Float32Array];
      const s = await ssim(a, b);
      const per = h * w * 3;
      for (let i = 0; i < n; i++) {
        const ref = ssimBrute(da.subarray(i * per, (i + 1) * per), db.subarray(i * per, (i + 1) * per), h, w, 3);
        expect(Math.abs(s.perImage[i] - ref)).toBeLessThan(2e-4);
      }
      tf.dispose([a, b]);
    }), { numRuns: 10 });
  });

  it('ssim by hand: 1 for identical images, the luminance term alone for constant images, symmetric', async () => {
    const [a, b] = pair(1, 16, 16, 3, 0.2);
    expect((await ssim(a, a)).perImage[0]).toBeCloseTo(1, 5);
    const s1 = await ssim(a, b);
    const s2 = await ssim(b, a);
    expect(s1.perImage[0]).toBeCloseTo(s2.perImage[0], 5);
    expect(s1.perImage[0]).toBeLessThan(1);
    // Constant images c1, c2: variances are 0, so SSIM = (2·c1·c2 + C1) / (c1² + c2² + C1).
    const c1 = tf.fill<tf.Rank.R4>([1, 12, 12, 3], 0.4);
    const c2 = tf.fill<tf.Rank.R4>([1, 12, 12, 3], 0.5);
    const C1 = 0.01 ** 2;
    expect((await ssim(c1, c2)).perImage[0]).toBeCloseTo((2 * 0.4 * 0.5 + C1) / (0.16 + 0.25 + C1), 5);
    // A constant shift of a textured image only touches the luminance term.
    const shifted = tf.add<tf.Tensor4D>(a, 0.1);
    const sh = (await ssim(a, tf.clipByValue<tf.Tensor4D>(shifted, 0, 2))).perImage[0];
    expect(sh).toBeLessThan(1);
    expect(sh).toBeGreaterThan(0.9);
    tf.dispose([a, b, c1, c2, shifted]);
  });

  it('ssim equals the scikit-image recipe (Gaussian filter, truncate 3.5, crop 5) on a fixed pair', async () => {
    // Reference from scipy: per channel gaussian_filter(σ=1.5, truncate=3.5) of x, y, x², y², xy, the SSIM map
    // cropped by 5 pixels and averaged, then averaged over channels — what structural_similarity computes.
    const a = new Float32Array(16 * 16 * 3); const b = new Float32Array(16 * 16 * 3);
    for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) for (let c = 0; c < 3; c++) {
      const k = (i * 16 + j) * 3 + c;
      a[k] = ((i * 7 + j * 13 + c * 5) % 17) / 16;
      b[k] = (((i * 3 + j * 5 + c * 11) % 19) / 18) * 0.5 + a[k] * 0.5;
    }
    const [ta, tb] = [tf.tensor4d(a, [1, 16, 16, 3]), tf.tensor4d(b, [1, 16, 16, 3])];
    expect((await ssim(ta, tb)).perImage[0]).toBeCloseTo(0.6662636100568551, 5);
    tf.dispose([ta, tb]);
  });

  it('leaves no tensors behind and rejects mismatched or too-small images', async () => {
    const [a, b] = pair(2, 12, 12, 1, 0.1);
    await expectNoLeak(async () => { await linf(a, b); await l2(a, b); await psnr(a, b); await ssim(a, b); });
    const small = tf.zeros<tf.Rank.R4>([2, 8, 8, 3]);
    await expect(ssim(small, small)).rejects.toThrow(/11×11/);
    await expect(linf(a, small)).rejects.toBeInstanceOf(UnitAttackError);
    tf.dispose([a, b, small]);
  });

  it('summarize takes aggregates over finite values', () => {
    const s = summarize([3, 1, Number.POSITIVE_INFINITY, 2]);
    expect(s).toMatchObject({ mean: 2, median: 2, min: 1, max: 3, finite: 3 });
    expect(summarize([Number.POSITIVE_INFINITY]).mean).toBeNaN();
  });
});

describe('success rates (as DESIGN.md defines them)', () => {
  // 6 images; clean mistakes at 2 and 5.
  const labels = [0, 1, 2, 0, 1, 2];
  const clean = [0, 1, 1, 0, 1, 0];
  const adv = [0, 2, 1, 1, 1, 2];

  it('clean accuracy: correct / all', () => {
    expect(cleanAccuracy(clean, labels)).toEqual({ rate: 4 / 6, count: 4, total: 6 });
  });

  it('robust accuracy: still correct after the attack / all, clean mistakes count as not robust', () => {
    // Image 5 is "correct" after the attack but was a clean mistake: not robust.
    expect(robustAccuracy(clean, adv, labels)).toEqual({ rate: 2 / 6, count: 2, total: 6 });
  });

  it('untargeted success: originally-correct images whose prediction changed / originally-correct', () => {
    expect(untargetedSuccess(clean, adv, labels)).toEqual({ rate: 2 / 4, count: 2, total: 4 });
  });

  it('targeted success: predicted as the target / images not already of the target class', () => {
    // Target 1: images of class 1 (1 and 4) are left out; of the other 4, images 2 and 3 are predicted 1.
    expect(targetedSuccess(adv, labels, 1)).toEqual({ rate: 2 / 4, count: 2, total: 4 });
    expect(targetedSuccess(adv, labels, [1, 1, 1, 1, 1, 1])).toEqual({ rate: 2 / 4, count: 2, total: 4 });
  });

  it('a rate over nothing is NaN, and lengths must agree', () => {
    expect(untargetedSuccess([1], [1], [0]).rate).toBeNaN();
    expect(() => cleanAccuracy([1, 2], [1])).toThrow(UnitAttackError);
  });

  it('robust accuracy + untargeted success · clean accuracy = clean accuracy', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)), { minLength: 1, maxLength: 30 }), (rows) => {
      const [l, c, a] = [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])];
      const ca = cleanAccuracy(c, l);
      fc.pre(ca.count > 0);
      expect(robustAccuracy(c, a, l).rate + untargetedSuccess(c, a, l).rate * ca.rate).toBeCloseTo(ca.rate, 12);
    }), { numRuns: 100 });
  });
});

describe('unitEffect', () => {
  function acts(n: number, seed: number): [tf.Tensor4D, tf.Tensor4D] {
    return tf.tidy(() => {
      const before = tf.randomUniform<tf.Rank.R4>([n, 4, 4, 6], 0, 1, 'float32', seed);
      // Units 0, 1 lose 1 at every position; unit 2 gains 2; others get small noise.
      const shift = tf.tensor1d([-1, -1, 2, 0, 0, 0]);
      const noise = tf.mul(tf.randomNormal([n, 4, 4, 6], 0, 1, 'float32', seed + 1), tf.tensor1d([0, 0, 0, 0.05, 0.05, 0.05]));
      return [before, tf.add<tf.Tensor4D>(tf.add(before, shift), noise)];
    });
  }

  it('groups the change of each unit\'s spatial max into suppressed, excited and other units', async () => {
    const [b, a] = acts(40, 3);
    for (const interval of ['normal', 'bootstrap'] as const) {
      const e = await unitEffect(b, a, { suppress: [0, 1], excite: [2], interval, seed: 4 });
      expect(e.suppressed.mean).toBeCloseTo(-1, 5);
      expect(e.excited.mean).toBeCloseTo(2, 5);
      expect(Math.abs(e.other.mean)).toBeLessThan(0.1);
      expect(e.other.units).toEqual([3, 4, 5]);
      expect(e.other.ci[0]).toBeLessThanOrEqual(e.other.mean);
      expect(e.other.ci[1]).toBeGreaterThanOrEqual(e.other.mean);
      expect(e.other.ci[1] - e.other.ci[0]).toBeGreaterThan(0);
      expect(e.perUnit[2]).toBeCloseTo(2, 5);
    }
    tf.dispose([a, b]);
  });

  it('normal interval: mean ± z₀.₉₉₅·s/√N over per-image group means; bootstrap replays from its seed', async () => {
    const before = tf.zeros([4, 3]);
    const after = tf.tensor2d([[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]]);
    const e = await unitEffect(before, after, { suppress: [], excite: [0], interval: 'normal' });
    const half = normalQuantile(0.995) * Math.sqrt(5 / 3) / 2;
    expect(e.excited.ci[0]).toBeCloseTo(2.5 - half, 9);
    expect(e.excited.ci[1]).toBeCloseTo(2.5 + half, 9);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293, 6);
    const b1 = await unitEffect(before, after, { suppress: [], excite: [0], seed: 7 });
    const b2 = await unitEffect(before, after, { suppress: [], excite: [0], seed: 7 });
    expect(b1.excited.ci).toEqual(b2.excited.ci);
    expect(b1.suppressed.mean).toBeNaN();
    tf.dispose([before, after]);
  });

  it('rejects out-of-range units and mismatched shapes by name', async () => {
    const t = tf.zeros([2, 3]);
    const u = tf.zeros([2, 4]);
    await expect(unitEffect(t, t, { suppress: [5], excite: [] })).rejects.toMatchObject({ path: 'suppress' });
    await expect(unitEffect(t, u, { suppress: [], excite: [] })).rejects.toMatchObject({ path: 'after' });
    tf.dispose([t, u]);
  });
});

describe('randomUnits', () => {
  it('draws distinct units outside the excluded set, the same ones for the same seed', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 64 }), fc.array(fc.nat(63), { maxLength: 20 }), fc.integer({ min: 0, max: 1e6 }), fc.nat(),
      (numUnits, excl, seed, c) => {
        const exclude = excl.filter((u) => u < numUnits);
        const left = numUnits - new Set(exclude).size;
        const count = left === 0 ? 0 : c % (left + 1);
        const units = randomUnits({ count, numUnits, exclude, seed });
        expect(units).toHaveLength(count);
        expect(new Set(units).size).toBe(count);
        for (const u of units) { expect(exclude).not.toContain(u); expect(u).toBeLessThan(numUnits); }
        expect(randomUnits({ count, numUnits, exclude, seed })).toEqual(units);
      },
    ), { numRuns: 100 });
  });

  it('varies with the seed and refuses to draw more units than are left', () => {
    const draws = new Set(Array.from({ length: 5 }, (_, s) => randomUnits({ count: 5, numUnits: 100, seed: s }).join(',')));
    expect(draws.size).toBeGreaterThan(1);
    expect(() => randomUnits({ count: 3, numUnits: 4, exclude: [0, 1] })).toThrow(/only 2 of 4 units/);
  });
});
