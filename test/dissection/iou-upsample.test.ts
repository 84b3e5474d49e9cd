import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { IouTally } from '../../src/dissection/iou.js';
import { downsampleLabels } from '../../src/dissection/probe.js';
import { upsampleActivations, upsampleMap } from '../../src/dissection/upsample.js';
import { prng } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** Bilinear with half-pixel centres, written out from the definition (PyTorch align_corners=False). */
function bruteBilinear(map: number[][], H: number, W: number): number[][] {
  const h = map.length; const w = map[0].length;
  const at = (y: number, x: number): number => map[Math.min(h - 1, Math.max(0, y))][Math.min(w - 1, Math.max(0, x))];
  const out: number[][] = [];
  for (let Y = 0; Y < H; Y++) {
    const row: number[] = [];
    for (let X = 0; X < W; X++) {
      const sy = Math.max(0, (Y + 0.5) * (h / H) - 0.5);
      const sx = Math.max(0, (X + 0.5) * (w / W) - 0.5);
      const y0 = Math.floor(sy); const x0 = Math.floor(sx);
      const fy = sy - y0; const fx = sx - x0;
      row.push((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)));
    }
    out.push(row);
  }
  return out;
}

describe('upsampling', () => {
  it('doubles a 2×2 map as the hand-worked half-pixel weights say', () => {
    const up = upsampleMap([0, 4, 8, 12], 2, 2, 4, 4);
    // Row 0 samples y = −0.25 → clamped to 0; column 1 samples x = 0.25 → 0.75·0 + 0.25·4 = 1.
    expect(Array.from(up.subarray(0, 4))).toEqual([0, 1, 3, 4]);
    // Row 1 samples y = 0.25: 0.75·row0 + 0.25·row1.
    expect(Array.from(up.subarray(4, 8))).toEqual([2, 3, 5, 6]);
    expect(Array.from(up.subarray(12, 16))).toEqual([8, 9, 11, 12]);
  });

  it('matches the definition, in JavaScript and through tfjs, on random maps', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.integer(),
      async (h, w, C, H, W, seed) => {
        const r = prng(seed);
        const data = Float32Array.from({ length: 2 * h * w * C }, () => r() * 4 - 1);
        const t = tf.tensor4d(data, [2, h, w, C]);
        const before = tf.memory().numTensors;
        const up = upsampleActivations(t, [H, W]);
        expect(tf.memory().numTensors).toBe(before + 1); // only the result
        const got = await up.array();
        up.dispose(); t.dispose();
        for (let n = 0; n < 2; n++) for (let c = 0; c < C; c++) {
          const map = Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => data[((n * h + y) * w + x) * C + c]));
          const ref = bruteBilinear(map, H, W);
          const js = upsampleMap(map.flat(), h, w, H, W);
          for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
            expect(got[n][y][x][c]).toBeCloseTo(ref[y][x], 4);
            expect(js[y * W + x]).toBeCloseTo(ref[y][x], 5);
          }
        }
      },
    ), { numRuns: 40 });
  });
});

describe('downsampleLabels', () => {
  it('takes the pixel under each output centre', () => {
    const src = Uint16Array.from({ length: 8 * 8 }, (_, i) => i);
    const out = downsampleLabels(src, 1, 8, 8, 2, 2);
    // Centres at source (2, 2), (2, 6), (6, 2), (6, 6).
    expect(Array.from(out)).toEqual([2 * 8 + 2, 2 * 8 + 6, 6 * 8 + 2, 6 * 8 + 6]);
  });
});

describe('IouTally', () => {
  it('pools IoU over images as Σ|A∩M| / Σ|A∪M| (hand-worked)', () => {
    // Two images of 4 pixels, one unit, threshold 0.5.
    // Image 1: active [1,1,0,0], label 1 at [1,0,1,0]: ∩ = 1, ∪ = 3.
    // Image 2: active [0,0,0,1], label 1 at [0,0,0,1]: ∩ = 1, ∪ = 1.
    // Pooled IoU = 2/4 = 0.5 (a mean of per-image IoUs would give 2/3).
    const t = new IouTally(1, 3);
    t.add(new Float32Array([0.9, 0.8, 0.1, 0.2, 0, 0, 0.5, 0.6]), [0.5], new Uint16Array([1, 0, 1, 0, 0, 2, 0, 1]), 2, 1, 4);
    expect(t.iou(0, 1)).toBeCloseTo(0.5, 12);
    expect(t.iou(0, 2)).toBe(0); // label 2 at one inactive pixel
    expect(Array.from(t.labelCount)).toEqual([0, 3, 1]);
    expect(t.activeCount[0]).toBe(3);
  });

  it('equals a brute-force count on random tensors, with several label planes, and merges shards', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 2, max: 6 }), fc.integer(),
      (U, N, planes, P, L, seed) => {
        const r = prng(seed);
        const values = Float32Array.from({ length: U * N * P }, () => r());
        const labels = Uint16Array.from({ length: N * planes * P }, () => Math.floor(r() * (L + 1))); // L itself is out of range
        const thr = Array.from({ length: U }, () => r());
        const t = new IouTally(U, L);
        t.add(values, thr, labels, N, planes, P);
        const half = Math.floor(N / 2);
        const a = new IouTally(U, L); const b = new IouTally(U, L);
        const slice = (n0: number, n1: number): Float32Array => {
          const out = new Float32Array(U * (n1 - n0) * P);
          for (let u = 0; u < U; u++) out.set(values.subarray(u * N * P + n0 * P, u * N * P + n1 * P), u * (n1 - n0) * P);
          return out;
        };
        a.add(slice(0, half), thr, labels.subarray(0, half * planes * P), half, planes, P);
        b.add(slice(half, N), thr, labels.subarray(half * planes * P), N - half, planes, P);
        a.merge(b);
        for (let u = 0; u < U; u++) for (let c = 1; c < L; c++) {
          let inter = 0; let union = 0;
          for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) {
            const act = values[u * N * P + n * P + p] > thr[u];
            let lab = 0;
            for (let q = 0; q < planes; q++) if (labels[(n * planes + q) * P + p] === c) lab++;
            // A pixel counted in k planes counts k times in |M| (planes hold disjoint concept sets in practice).
            inter += act ? lab : 0;
            union += (act ? 1 : 0) + lab - (act ? lab : 0);
          }
          const ref = union > 0 ? inter / union : 0;
          expect(t.iou(u, c)).toBeCloseTo(ref, 12);
          expect(a.iou(u, c)).toBeCloseTo(ref, 12);
        }
      },
    ), { numRuns: 100 });
  });
});
