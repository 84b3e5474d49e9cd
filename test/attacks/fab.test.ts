import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { fab } from '../../src/attacks/fab.js';
import { projectToHyperplane } from '../../src/attacks/_internals/fab-projection.js';
import { runAttack } from '../../src/attacks/registry.js';
import { distances, images8bit, is8bit, linearModel, predictions, tinyCnn } from './helpers.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** A seeded stream of floats in [0, 1) (mulberry32), for the random problems. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const normOf = (d: ArrayLike<number>, norm: 'linf' | 'l2'): number => (norm === 'linf'
  ? Math.max(...Array.from(d, Math.abs)) : Math.sqrt(Array.from(d).reduce((s, v) => s + v * v, 0)));

/**
 * The smallest norm of a d with ⟨w, d⟩ = c in the box, by brute force over a grid: the free coordinates on a grid of
 * the box, the last one solved from the hyperplane (w[last] ≠ 0) and kept when it is inside its bounds.
 */
function bruteForce(w: number[], c: number, lo: number[], hi: number[], norm: 'linf' | 'l2', grid: number): number {
  const n = w.length;
  let best = Number.POSITIVE_INFINITY;
  const d = new Array<number>(n).fill(0);
  const rec = (i: number): void => {
    if (i === n - 1) {
      let s = c;
      for (let j = 0; j < n - 1; j++) s -= w[j] * d[j];
      d[n - 1] = s / w[n - 1];
      if (d[n - 1] >= lo[n - 1] - 1e-12 && d[n - 1] <= hi[n - 1] + 1e-12) best = Math.min(best, normOf(d, norm));
      return;
    }
    for (let g = 0; g <= grid; g++) { d[i] = lo[i] + ((hi[i] - lo[i]) * g) / grid; rec(i + 1); }
  };
  rec(0);
  return best;
}

describe('projectToHyperplane', () => {
  it('solves a hand-worked case in each norm', () => {
    // w = (1, 2), c = 3, box [−1, 1]²: L∞ moves both coordinates by r with r + 2r = 3, so d = (1, 1);
    // L2 gives d = λw with 5λ = 3 → (0.6, 1.2), but d₂ ≤ 1 caps it: d₂ = 1 and d₁ = 3 − 2 = 1.
    expect(Array.from(projectToHyperplane([1, 2], 3, [-1, -1], [1, 1], 'linf'))).toEqual([1, 1]);
    const l2 = projectToHyperplane([1, 2], 3, [-1, -1], [1, 1], 'l2');
    expect(l2[0]).toBeCloseTo(1, 12); expect(l2[1]).toBeCloseTo(1, 12);
    // A roomy box: L2 is c·w/‖w‖² and L∞ is c·sign(w)/‖w‖₁.
    const free = projectToHyperplane([3, -4], -5, [-9, -9], [9, 9], 'l2');
    expect(free[0]).toBeCloseTo(-0.6, 12); expect(free[1]).toBeCloseTo(0.8, 12);
    const freeInf = projectToHyperplane([3, -4], -7, [-9, -9], [9, 9], 'linf');
    expect(freeInf[0]).toBeCloseTo(-1, 12); expect(freeInf[1]).toBeCloseTo(1, 12);
    // Out of reach: the corner of the box in w's direction.
    expect(Array.from(projectToHyperplane([1, -1], 10, [-0.5, -0.25], [0.5, 0.25], 'linf'))).toEqual([0.5, -0.25]);
    expect(Array.from(projectToHyperplane([1, 2], 0, [-1, -1], [1, 1], 'l2'))).toEqual([0, 0]);
  });

  it('matches a brute-force search on random 2- and 3-D problems, box constraints active', () => {
    const r = rng(7);
    let active = 0;
    for (let t = 0; t < 60; t++) {
      const n = t % 2 === 0 ? 2 : 3;
      const norm = t % 4 < 2 ? 'linf' : 'l2';
      const w = Array.from({ length: n }, () => (r() - 0.5) * 4);
      const lo = Array.from({ length: n }, () => -r());
      const hi = Array.from({ length: n }, () => r());
      // A reachable c: ⟨w, d⟩ for a random d of the box.
      const c = w.reduce((s, wi, i) => s + wi * (lo[i] + r() * (hi[i] - lo[i])), 0);
      const d = projectToHyperplane(w, c, lo, hi, norm);
      // On the hyperplane and inside the box.
      expect(Math.abs(w.reduce((s, wi, i) => s + wi * d[i], 0) - c)).toBeLessThan(1e-9);
      for (let i = 0; i < n; i++) { expect(d[i]).toBeGreaterThanOrEqual(lo[i] - 1e-12); expect(d[i]).toBeLessThanOrEqual(hi[i] + 1e-12); }
      const grid = n === 2 ? 20000 : 600;
      const bf = bruteForce(w, c, lo, hi, norm, grid);
      // Never worse than the grid's best, and no better than the grid allows (its spacing bounds the gap).
      const spacing = Math.max(...lo.map((l, i) => hi[i] - l)) / grid;
      const gap = spacing * (1 + Math.max(...w.map(Math.abs)) / Math.abs(w[n - 1])) * Math.sqrt(n);
      expect(normOf(d, norm)).toBeLessThanOrEqual(bf + 1e-9);
      expect(normOf(d, norm)).toBeGreaterThanOrEqual(bf - gap);
      // Count problems where the box, not only the norm, shapes the answer.
      if (d.some((v, i) => Math.abs(v - lo[i]) < 1e-12 || Math.abs(v - hi[i]) < 1e-12)) active++;
    }
    expect(active).toBeGreaterThan(10);
  });

  it('meets the optimality conditions on image-sized problems (many coordinates, ties at the ε-box)', () => {
    const r = rng(11);
    for (const [t, norm] of [[0, 'linf'], [1, 'linf'], [2, 'l2'], [3, 'l2']] as const) {
      const n = 20000;
      const w = Array.from({ length: n }, () => (r() - 0.5) * (r() < 0.1 ? 10 : 1));
      // Pixels of an image in an ε-ball of 2/255 cut by [0, 1]: most caps tie at ε, a few are cut by the box.
      const x = Array.from({ length: n }, () => (r() < 0.05 ? (r() < 0.5 ? 0 : 1) : r()));
      const eps = 2 / 255;
      const lo = x.map((v) => Math.max(0, v - eps) - v);
      const hi = x.map((v) => Math.min(1, v + eps) - v);
      const reach = w.reduce((s, wi, i) => s + Math.abs(wi) * (wi > 0 ? hi[i] : -lo[i]), 0);
      const c = (t % 2 === 0 ? 0.3 : 0.9) * reach * (t === 1 ? -1 : 1);
      const d = projectToHyperplane(w, c, lo, hi, norm);
      expect(Math.abs(w.reduce((s, wi, i) => s + wi * d[i], 0) - c)).toBeLessThan(1e-9 * reach);
      for (let i = 0; i < n; i++) { expect(d[i]).toBeGreaterThanOrEqual(lo[i] - 1e-15); expect(d[i]).toBeLessThanOrEqual(hi[i] + 1e-15); }
      const sgn = Math.sign(c);
      if (norm === 'linf') {
        // The most ⟨w, d⟩ a radius ρ reaches in the box: Σ |w_i|·min(ρ, room_i). A slightly smaller radius falls short.
        const most = (rho: number): number => w.reduce((s, wi, i) => s + Math.abs(wi) * Math.min(rho, sgn * wi > 0 ? hi[i] : -lo[i]), 0);
        const rad = normOf(d, 'linf');
        expect(most(rad * (1 - 1e-6))).toBeLessThan(Math.abs(c));
        expect(most(rad)).toBeGreaterThanOrEqual(Math.abs(c) * (1 - 1e-9));
      } else {
        // KKT: d = clip(λ·w, lo, hi) for one λ, read off a coordinate strictly inside its bounds.
        const free = Array.from(d).findIndex((v, i) => v > lo[i] + 1e-9 && v < hi[i] - 1e-9 && Math.abs(w[i]) > 0.1);
        const lambda = d[free] / w[free];
        for (let i = 0; i < n; i++) expect(Math.abs(d[i] - Math.min(Math.max(lambda * w[i], lo[i]), hi[i]))).toBeLessThan(1e-9);
      }
    }
  });
});

describe('fab', () => {
  // A linear 2-class model f(x) = z₁ − z₀ = ⟨w, x⟩ + b on 4×4×3 images, all pixels at 128/255 (far from the box),
  // whose distance to the boundary is |f(x₀)| / ‖w‖₁ in L∞ and |f(x₀)| / ‖w‖₂ in L2.
  const size = 4; const dim = size * size * 3;
  const r = rng(3);
  const wd = Float64Array.from({ length: dim }, () => (r() < 0.5 ? -1 : 1) * (0.5 + r()));
  const weights = new Float32Array(dim * 2);
  for (let i = 0; i < dim; i++) weights[i * 2 + 1] = wd[i];
  const x0v = 128 / 255;
  const sumW = wd.reduce((s, v) => s + v, 0);

  for (const norm of ['linf', 'l2'] as const) {
    it(`finds the analytic minimal ${norm === 'linf' ? 'L∞' : 'L2'} perturbation of a linear 2-class model`, async () => {
      const l1 = wd.reduce((s, v) => s + Math.abs(v), 0);
      const l2 = Math.sqrt(wd.reduce((s, v) => s + v * v, 0));
      const dist = norm === 'linf' ? 0.06 : 0.3;
      // b puts the clean image at distance `dist` on the class-0 side.
      const b = -dist * (norm === 'linf' ? l1 : l2) - x0v * sumW;
      const bias = Float32Array.of(0, b);
      const clf = linearModel(weights, 2, size, bias);
      const x = tf.fill<tf.Rank.R4>([1, size, size, 3], x0v);
      const before = tf.memory().numTensors;
      const res = await fab(clf, x, [0], { epsilon: norm === 'linf' ? 16 / 255 : 1, norm, targetClasses: 1, steps: 60, earlyStop: false });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(res.success).toEqual([true]);
      expect(Array.from(await predictions(clf, res.adversarial))).toEqual([1]);
      const dd = await distances(res.adversarial, x);
      const got = norm === 'linf' ? dd.linf[0] : dd.l2[0];
      // Adversarial, so never closer than the boundary; the 8-bit rounding adds at most half a step per pixel.
      const slack = norm === 'linf' ? 1 / 255 : Math.sqrt(dim) * (0.5 / 255) + 0.01;
      expect(got).toBeGreaterThanOrEqual(dist - 1e-6);
      expect(got).toBeLessThanOrEqual(dist + slack);
      // Without backtracking (early stop at the first hit) it overshoots by η = 1.05 at most (plus rounding).
      const first = await fab(clf, x, [0], { epsilon: norm === 'linf' ? 16 / 255 : 1, norm, targetClasses: 1, steps: 60 });
      const df = await distances(first.adversarial, x);
      expect(norm === 'linf' ? df.linf[0] : df.l2[0]).toBeLessThanOrEqual(1.05 * dist + slack);
      expect(first.steps[0]).toBe(1);
      tf.dispose([res.adversarial, first.adversarial, x]);
    });
  }

  it('reports no adversarial when the boundary is beyond ε', async () => {
    const l1 = wd.reduce((s, v) => s + Math.abs(v), 0);
    const clf = linearModel(weights, 2, size, Float32Array.of(0, -0.06 * l1 - x0v * sumW));
    const x = tf.fill<tf.Rank.R4>([1, size, size, 3], x0v);
    const res = await fab(clf, x, [0], { epsilon: 10 / 255, targetClasses: 1, steps: 30 });
    expect(res.success).toEqual([false]);
    const dd = await distances(res.adversarial, x);
    expect(dd.linf[0]).toBeLessThanOrEqual(10 / 255 + 1e-6);
    tf.dispose([res.adversarial, x]);
  });

  it('spends one gradient pass per iteration and target: the gradient of z_t − z_y in one backward pass', async () => {
    const l1 = wd.reduce((s, v) => s + Math.abs(v), 0);
    const clf = linearModel(weights, 2, size, Float32Array.of(0, -0.06 * l1 - x0v * sumW));
    // Count the model's passes, and those taped for a gradient.
    let passes = 0; let taped = 0;
    const counted = Object.create(clf) as typeof clf;
    counted.logits = (x: tf.Tensor4D) => {
      passes += 1;
      if ((tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0) taped += 1;
      return clf.logits(x);
    };
    const x = tf.fill<tf.Rank.R4>([1, size, size, 3], x0v);
    const res = await fab(counted, x, [0], { epsilon: 10 / 255, targetClasses: 1, steps: 30 });
    expect(res.success).toEqual([false]);
    // 30 linearisations (one backward pass each) and a forward pass after the last step; besides, the clean
    // predictions, the ranking of the target classes and the final predictions (queries leave out the ranking).
    expect(taped).toBe(30);
    expect(passes).toBe(30 + 1 + 3);
    expect(res.queries[0]).toBe(30 + 1 + 2);
    tf.dispose([res.adversarial, x]);
  });

  it('FAB-T breaks on a small CNN the images PGD breaks, inside the ball, 8-bit, without leaking tensors', async () => {
    const clf = tinyCnn({ seed: 21, classes: 5 });
    const x = images8bit(12, 16, 13);
    const labels = await predictions(clf, x);
    const eps = 3 / 255;
    const pgd = await runAttack(clf, x, labels, { kind: 'pgd', epsilon: eps, steps: 40, seed: 1 });
    const before = tf.memory().numTensors;
    const r = await runAttack(clf, x, labels, { kind: 'fab-t', epsilon: eps, steps: 40, seed: 1, targetClasses: 4 });
    expect(tf.memory().numTensors).toBe(before + 1);
    const pgdBroke = labels.filter((l, i) => pgd.predictions[i] !== l).length;
    expect(pgdBroke).toBeGreaterThan(3);
    const both = Array.from(labels).filter((l, i) => pgd.predictions[i] !== l && r.predictions[i] !== l).length;
    expect(both).toBeGreaterThanOrEqual(pgdBroke - 1);
    // What it reports is what the model says on the returned images.
    const pred = await predictions(clf, r.adversarial);
    expect(Array.from(pred)).toEqual(Array.from(r.predictions));
    expect(r.success).toEqual(Array.from(labels, (l, i) => pred[i] !== l));
    expect(Math.max(...(await distances(r.adversarial, x)).linf)).toBeLessThanOrEqual(eps + 1e-6);
    expect(await is8bit(r.adversarial)).toBe(true);
    expect(r.details!.targetClasses).toBe(4);
    tf.dispose([pgd.adversarial, r.adversarial, x]);
  });

  it('replays exactly with the same seed (random restarts), L∞ and L2, untargeted too', async () => {
    const clf = tinyCnn({ seed: 5, classes: 4 });
    const x = images8bit(6, 16, 2);
    const labels = await predictions(clf, x);
    for (const spec of [
      { kind: 'fab-t', epsilon: 2 / 255, steps: 8, restarts: 2, targetClasses: 2, earlyStop: false, seed: 9 },
      { kind: 'fab', norm: 'l2' as const, epsilon: 0.1, steps: 6, restarts: 2, seed: 4 },
    ]) {
      const a = await runAttack(clf, x, labels, spec);
      const b = await runAttack(clf, x, labels, spec);
      expect(Array.from(await a.adversarial.data())).toEqual(Array.from(await b.adversarial.data()));
      expect(Array.from(a.queries)).toEqual(Array.from(b.queries));
      tf.dispose([a.adversarial, b.adversarial]);
    }
    x.dispose();
  });

  it('untargeted FAB takes the closest linearised boundary among all classes', async () => {
    // Three classes on a linear model: class 2 is nearer than class 1, so untargeted FAB crosses into class 2.
    const w3 = new Float32Array(dim * 3);
    for (let i = 0; i < dim; i++) { w3[i * 3 + 1] = wd[i]; w3[i * 3 + 2] = -wd[i]; }
    const l1 = wd.reduce((s, v) => s + Math.abs(v), 0);
    const s0 = x0v * sumW;
    const clf = linearModel(w3, 3, size, Float32Array.of(0, -0.1 * l1 - s0, -0.04 * l1 + s0));
    const x = tf.fill<tf.Rank.R4>([1, size, size, 3], x0v);
    const r = await fab(clf, x, [0], { epsilon: 16 / 255, steps: 20 });
    expect(Array.from(r.predictions)).toEqual([2]);
    expect((await distances(r.adversarial, x)).linf[0]).toBeLessThanOrEqual(1.05 * 0.04 + 1 / 255);
    tf.dispose([r.adversarial, x]);
  });

  it('rejects bad options with the option named', async () => {
    const clf = tinyCnn({ seed: 5, classes: 4 });
    const x = images8bit(2, 16, 2);
    await expect(fab(clf, x, [0, 1], { steps: 0 })).rejects.toThrow(/steps must be an integer ≥ 1/);
    await expect(fab(clf, x, [0, 1], { beta: 1.5 })).rejects.toThrow(/beta must be a number in \(0, 1\]/);
    await expect(fab(clf, x, [0, 1], { objective: { kind: 'ce' } })).rejects.toThrow(/objective must be unset/);
    await expect(runAttack(clf, x, [0, 1], { kind: 'fab-t', objective: { kind: 'margin', target: 1 } })).rejects.toThrow(/does not apply/);
    x.dispose();
  });
});
