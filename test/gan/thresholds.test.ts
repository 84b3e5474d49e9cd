import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/util/random.js';
import { LevelTally, informationQualityRatio, iouCeiling, thresholdGrid } from '../../src/dissection/iou.js';

/** Mutual information over joint entropy of two boolean masks, straight from the definition. */
function bruteIqr(a: boolean[], m: boolean[]): number {
  const n = a.length;
  const p = [[0, 0], [0, 0]];
  for (let i = 0; i < n; i++) p[a[i] ? 1 : 0][m[i] ? 1 : 0] += 1 / n;
  const pa = [p[0][0] + p[0][1], p[1][0] + p[1][1]]; const pm = [p[0][0] + p[1][0], p[0][1] + p[1][1]];
  let mi = 0; let h = 0;
  for (const i of [0, 1]) for (const j of [0, 1]) {
    if (p[i][j] > 0) { mi += p[i][j] * Math.log(p[i][j] / (pa[i] * pm[j])); h -= p[i][j] * Math.log(p[i][j]); }
  }
  return h > 0 ? mi / h : 0;
}

describe('the IoU ceiling', () => {
  it('is min/max of the two mask sizes (hand-worked)', () => {
    expect(iouCeiling(10, 40)).toBe(0.25);
    expect(iouCeiling(40, 10)).toBe(0.25);
    expect(iouCeiling(7, 7)).toBe(1);
    expect(iouCeiling(0, 5)).toBe(0);
    expect(iouCeiling(0, 0)).toBe(0);
    // A top-1% unit against a concept on 23% of the pixels (the prototype's sky): at most 0.043.
    expect(iouCeiling(0.01, 0.23)).toBeCloseTo(0.0435, 4);
  });

  it('is reached by nested masks and never beaten by any mask of that size (brute force over all masks of 6 pixels)', () => {
    for (let label = 0; label < 64; label++) {
      const m = Array.from({ length: 6 }, (_, i) => (label >> i & 1) === 1);
      const msize = m.filter(Boolean).length;
      for (let k = 0; k <= 6; k++) {
        let best = 0;
        for (let act = 0; act < 64; act++) {
          const a = Array.from({ length: 6 }, (_, i) => (act >> i & 1) === 1);
          if (a.filter(Boolean).length !== k) continue;
          const inter = a.filter((v, i) => v && m[i]).length; const union = a.filter((v, i) => v || m[i]).length;
          best = Math.max(best, union > 0 ? inter / union : 0);
        }
        expect(iouCeiling(k, msize)).toBeCloseTo(best, 12);
      }
    }
  });
});

describe('the information quality ratio', () => {
  it('is 1 for equal masks, 0 for independent ones, and 0.2075 for a hand-worked case', () => {
    expect(informationQualityRatio(2, 2, 2, 4)).toBeCloseTo(1, 12);
    expect(informationQualityRatio(1, 2, 2, 4)).toBeCloseTo(0, 12);
    // total 4, A = {0}, M = {0, 1}: H(A,M) = 1.0397, H(A) = 0.5623, H(M) = 0.6931, I = 0.2158 → 0.2075.
    expect(informationQualityRatio(1, 1, 2, 4)).toBeCloseTo(0.2075, 4);
    expect(informationQualityRatio(0, 0, 0, 4)).toBe(0);
  });

  it('equals mutual information over joint entropy computed from the masks (random masks)', () => {
    const rng = new Prng(5);
    for (let t = 0; t < 50; t++) {
      const n = 5 + rng.int(60);
      const a = Array.from({ length: n }, () => rng.next() < 0.3); const m = Array.from({ length: n }, () => rng.next() < 0.5);
      const both = a.filter((v, i) => v && m[i]).length;
      expect(informationQualityRatio(both, a.filter(Boolean).length, m.filter(Boolean).length, n)).toBeCloseTo(bruteIqr(a, m), 10);
    }
  });
});

describe('the level tally (counts at a grid of thresholds per unit)', () => {
  it('counts |A| and |A ∩ M| at every level, and picks the level of highest IQR, as a brute-force recount does', () => {
    const rng = new Prng(11);
    const U = 3; const images = 4; const pixels = 25; const planes = 2; const L = 4; const G = 6;
    const P = images * pixels;
    const values = Float32Array.from({ length: U * P }, () => Math.round(rng.next() * 20) / 4); // ties on purpose
    const labels = Uint16Array.from({ length: images * planes * pixels }, () => rng.int(L));
    const levels = new Float32Array(U * G);
    for (let u = 0; u < U; u++) {
      const sorted = Array.from(values.subarray(u * P, (u + 1) * P)).sort((x, y) => y - x);
      thresholdGrid(G).forEach((f, g) => { levels[u * G + g] = sorted[Math.min(P - 1, Math.floor(f * 40))]; });
    }
    const tally = new LevelTally(U, L, levels, G);
    tally.add(values.subarray(0, U * P), labels, images, planes, pixels);
    for (let c = 1; c < L; c++) {
      expect(tally.labelCount[c]).toBe(Array.from(labels).filter((l) => l === c).length);
      for (let u = 0; u < U; u++) {
        let bestQ = -1; let bestIou = 0;
        for (let g = 0; g < G; g++) {
          let A = 0;
          for (let img = 0; img < images; img++) for (let j = 0; j < pixels; j++) if (values[u * P + img * pixels + j] > levels[u * G + g]) A++;
          expect(tally.active(u, g)).toBe(A);
          // The tally counts a pixel once per plane that gives it the concept, like IouTally.
          let Ip = 0;
          for (let img = 0; img < images; img++) for (let j = 0; j < pixels; j++) {
            if (values[u * P + img * pixels + j] > levels[u * G + g]) for (let p = 0; p < planes; p++) if (labels[img * planes * pixels + p * pixels + j] === c) Ip++;
          }
          expect(tally.intersection(u, g, c)).toBe(Ip);
          const q = informationQualityRatio(Ip, A, tally.labelCount[c], P);
          if (q > bestQ) { bestQ = q; bestIou = Ip / (A + tally.labelCount[c] - Ip); }
        }
        const b = tally.best(u, c);
        expect(b.iqr).toBeCloseTo(bestQ, 12);
        expect(b.iou).toBeCloseTo(bestIou, 12);
      }
    }
  });

  it('spans top fractions from 0.1% to 50% on a log grid', () => {
    const g = thresholdGrid(24);
    expect(g[0]).toBeCloseTo(0.001, 12);
    expect(g[23]).toBeCloseTo(0.5, 12);
    expect(g[12] / g[11]).toBeCloseTo(g[1] / g[0], 10);
  });
});
