/**
 * The engine of FAB, the fast adaptive boundary attack (Croce & Hein, ICML 2020), written from the paper: linearise
 * the decision boundary at the current point, project both the current point and the clean image onto that
 * hyperplane (inside the threat model), step to a convex combination of the two projections with a little
 * overshoot, and, when the step lands on an adversarial point, go back toward the clean image by a factor β so the
 * next steps look for a closer one. `fab.ts` is the validating entry above it.
 *
 * Differences from the reference code, each on purpose:
 * - the projection is onto the hyperplane intersected with the [0, 1] box and, for L∞, the ε-ball (an L∞ ball is a
 *   box too); for L2 the box only, and the step is then scaled back into the ε-ball. The iterates therefore never
 *   leave the threat model, and a hyperplane out of reach gives the corner that goes furthest toward it;
 * - one model pass per iteration: the pass that linearises the model at a point also says whether the previous
 *   step landed on an adversarial point (the reference makes a second pass for that);
 * - success is judged on the 8-bit rounding of the point, and with `earlyStop` an image stops at its first
 *   confirmed adversarial point (AutoAttack only asks whether an image can be broken within ε).
 */
import * as tf from '../../tf.js';
import { roundTo8Bit } from '../threat.js';
import type { AttackProgress, AttackResult } from '../types.js';
import { checkFirstGradient, finish, sanitize, type Prepared } from './engine.js';
import { dualNorm, normOf, projectToHyperplane } from './fab-projection.js';
import { imageKeys, subSeed } from './random.js';

/** What one FAB run does, fully resolved. */
export interface FabSettings {
  /** Iterations per run. */
  steps: number;
  /** Largest weight of the clean image's projection in the step (α_max). */
  alphaMax: number;
  /** Overshoot of the projections (η). */
  eta: number;
  /** Backward step toward the clean image after an adversarial point (β). */
  beta: number;
  /** Stop an image at its first adversarial point whose 8-bit rounding holds. */
  earlyStop: boolean;
  onProgress?: (p: AttackProgress) => void;
}

/** One FAB run: the target rank (1 = the most likely class after the true one; null: untargeted) and the start. */
export interface FabRound {
  targetRank: number | null;
  randomStart: boolean;
}

/**
 * Runs FAB with each of `rounds` in turn, each only on the images no earlier round broke (AutoAttack's order: target
 * ranks 1…n, restarts within each, the first restart from the clean image and the others from random points at half
 * the radius). `ranked[i]` are image i's classes by clean logit, highest first (needed by targeted rounds).
 */
export async function runFabRounds(
  attack: string, p: Prepared, s: FabSettings, rounds: readonly FabRound[], ranked: Int32Array[] | null, details: Record<string, unknown> = {},
): Promise<AttackResult> {
  const [, h, w, ch] = p.x0.shape;
  const per = h * w * ch;
  const x0 = Float32Array.from(await p.x0.data() as Float32Array);
  const steps = new Int32Array(p.n);
  const broken = Array.from({ length: p.n }, (_, i) => p.cleanPredictions[i] !== p.ctx.labels[i]);
  const out = new Float32Array(x0);
  const keys = imageKeys(x0, p.n);
  const perRound: number[] = [];
  for (const [r, round] of rounds.entries()) {
    const todo = Array.from({ length: p.n }, (_, i) => i).filter((i) => !broken[i] && (round.targetRank === null || round.targetRank < ranked![i].length));
    if (todo.length === 0) continue;
    perRound.push(todo.length);
    const roundSeed = subSeed(p.seed, r);
    const once = await fabOnce(attack, p, s, round, x0, todo, ranked, todo.map((i) => subSeed(roundSeed, keys[i])), r);
    todo.forEach((img, k) => {
      steps[img] += once.steps[k];
      if (!once.found[k]) return;
      broken[img] = true;
      out.set(once.x.subarray(k * per, (k + 1) * per), img * per);
    });
  }
  const adversarial = tf.tidy(() => roundTo8Bit(tf.tensor4d(out, [p.n, h, w, ch]), p.x0, p.epsilon, p.norm));
  return finish(attack, p, adversarial, steps, { ...details, roundsRun: perRound.length, imagesPerRound: perRound });
}

/** One FAB run on the images `global` of `p`: per image, its 8-bit adversarial point (when found) and its steps. */
async function fabOnce(
  attack: string, p: Prepared, s: FabSettings, round: FabRound, x0All: Float32Array, global: readonly number[],
  ranked: Int32Array[] | null, seeds: readonly number[], roundIndex: number,
): Promise<{ x: Float32Array; found: boolean[]; steps: Int32Array }> {
  const { classifier, epsilon: eps, norm } = p;
  const [, h, w, ch] = p.x0.shape;
  const per = h * w * ch;
  const m = global.length;
  const k = classifier.classNames.length;
  const labels = Int32Array.from(global, (i) => p.ctx.labels[i]);
  const targets = round.targetRank === null ? null : Int32Array.from(global, (i) => ranked![i][round.targetRank!]);
  const x0 = new Float32Array(m * per);
  global.forEach((img, r) => x0.set(x0All.subarray(img * per, (img + 1) * per), r * per));
  // The threat model as a box per pixel: [0, 1], cut by the ε-ball for L∞.
  const lower = new Float32Array(m * per);
  const upper = new Float32Array(m * per);
  for (let j = 0; j < m * per; j++) {
    lower[j] = norm === 'linf' ? Math.max(0, x0[j] - eps) : 0;
    upper[j] = norm === 'linf' ? Math.min(1, x0[j] + eps) : 1;
  }
  const x1 = round.randomStart ? await fabStart(x0, m, [h, w, ch], eps, norm, seeds, lower, upper) : Float32Array.from(x0);
  const found = new Array<boolean>(m).fill(false);
  const bestNorm = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
  const adv = new Float32Array(m * per);
  const stepsOut = new Int32Array(m);
  let active = Array.from({ length: m }, (_, r) => r);
  const rowsOf = (src: Float32Array, rows: readonly number[]): Float32Array => {
    const o = new Float32Array(rows.length * per);
    rows.forEach((r, q) => o.set(src.subarray(r * per, (r + 1) * per), q * per));
    return o;
  };

  // Logit differences (target or closest class minus true class), their input gradients and the predictions at x1.
  const linearise = async (rows: readonly number[], withGrad: boolean, first: boolean): Promise<{ df: Float64Array; grad: Float32Array | null; pred: Int32Array }> => {
    const xs = tf.tensor4d(rowsOf(x1, rows), [rows.length, h, w, ch]);
    try {
      const y = Int32Array.from(rows, (r) => labels[r]);
      if (!withGrad) {
        const pr = tf.tidy(() => tf.argMax(classifier.logits(xs), 1));
        const pred = Int32Array.from(await pr.data());
        pr.dispose();
        for (const r of rows) p.queries[global[r]] += 1;
        return { df: new Float64Array(rows.length), grad: null, pred };
      }
      // One class per pass: the target (FAB-T) or, untargeted, every other class in turn, keeping per image the one
      // whose linearised boundary is closest (|f| / ‖∇f‖_dual).
      const classes = targets ? [null] : Array.from({ length: k }, (_, c) => c);
      let pred: Int32Array | undefined;
      let checked = false;
      const bestDf = new Float64Array(rows.length);
      let bestGrad: Float32Array | null = null;
      const bestDist = new Float64Array(rows.length).fill(Number.POSITIVE_INFINITY);
      for (const c of classes) {
        const to = Int32Array.from(rows, (r) => (c === null ? targets![r] : c));
        if (c !== null && to.every((t, q) => t === y[q])) continue;
        const kept: tf.Tensor[] = [];
        const [v, g] = tf.tidy(() => {
          const mask = tf.sub(tf.oneHot(tf.tensor1d(to, 'int32'), k), tf.oneHot(tf.tensor1d(y, 'int32'), k));
          const vg = tf.valueAndGrad((xv: tf.Tensor4D) => {
            const z = classifier.logits(xv);
            if (pred === undefined && kept.length === 0) kept.push(tf.keep(tf.argMax(z, 1)));
            return tf.sum(tf.mul(z, mask), 1);
          })(xs);
          return [vg.value, sanitize(vg.grad)];
        });
        // The gradient check of the first pass (untargeted: on a class that differs from every row's label).
        if (first && roundIndex === 0 && !checked && to.every((t, q) => t !== y[q])) {
          checked = true;
          try {
            await checkFirstGradient(p, attack, xs, g, rows.map((r) => global[r]));
          } catch (err) {
            tf.dispose([v, g, ...kept]);
            throw err;
          }
        }
        const vals = await v.data();
        const grads = Float32Array.from(await g.data() as Float32Array);
        if (kept.length > 0) { pred = Int32Array.from(await kept[0].data()); }
        tf.dispose([v, g, ...kept]);
        for (const r of rows) p.queries[global[r]] += 1;
        if (c === null) return { df: Float64Array.from(vals), grad: grads, pred: pred! };
        if (bestGrad === null) bestGrad = new Float32Array(rows.length * per);
        rows.forEach((_, q) => {
          if (to[q] === y[q]) return;
          const gq = grads.subarray(q * per, (q + 1) * per);
          const dist = Math.abs(vals[q]) / (dualNorm(gq, norm) + 1e-12);
          if (dist < bestDist[q]) { bestDist[q] = dist; bestDf[q] = vals[q]; bestGrad!.set(gq, q * per); }
        });
      }
      return { df: bestDf, grad: bestGrad, pred: pred! };
    } finally {
      xs.dispose();
    }
  };

  // Rounds the points of `rows` to 8 bits inside the threat model and keeps those still misclassified.
  const confirm = async (rows: readonly number[]): Promise<boolean[]> => {
    const [xr, pr] = tf.tidy((): [tf.Tensor4D, tf.Tensor] => {
      const r8 = roundTo8Bit(tf.tensor4d(rowsOf(x1, rows), [rows.length, h, w, ch]), tf.tensor4d(rowsOf(x0, rows), [rows.length, h, w, ch]), eps, norm);
      return [r8, tf.argMax(classifier.logits(r8), 1)];
    });
    const xd = await xr.data() as Float32Array;
    const pd = await pr.data();
    tf.dispose([xr, pr]);
    for (const r of rows) p.queries[global[r]] += 1;
    return rows.map((r, q) => {
      if (pd[q] === labels[r]) return false;
      const d = new Float64Array(per);
      for (let j = 0; j < per; j++) d[j] = xd[q * per + j] - x0[r * per + j];
      const n = normOf(d, norm);
      if (n < bestNorm[r]) {
        bestNorm[r] = n;
        adv.set(xd.subarray(q * per, (q + 1) * per), r * per);
        found[r] = true;
      }
      return true;
    });
  };

  const d1 = new Float64Array(per); const d2 = new Float64Array(per);
  const lo = new Float64Array(per); const hi = new Float64Array(per);
  for (let it = 0; it <= s.steps && active.length > 0; it++) {
    const last = it === s.steps;
    let ev = await linearise(active, !last, it === 0);
    // Did the previous step land on an adversarial point? (At it = 0 the start is checked too.)
    const hit = active.filter((_, q) => ev.pred[q] !== labels[active[q]]);
    if (hit.length > 0) {
      const ok = await confirm(hit);
      const stop = new Set(s.earlyStop ? hit.filter((_, q) => ok[q]) : []);
      // The others go back toward the clean image by β and need the linearisation at their new point.
      const back = hit.filter((r) => !stop.has(r));
      for (const r of back) for (let j = r * per; j < (r + 1) * per; j++) x1[j] = x0[j] + s.beta * (x1[j] - x0[j]);
      if (stop.size > 0 || (back.length > 0 && !last)) {
        const kept = active.filter((r) => !stop.has(r));
        const redo = last ? null : await linearise(back, true, false);
        const pos = new Map(active.map((r, q) => [r, q]));
        const redoPos = new Map(back.map((r, q) => [r, q]));
        const df = new Float64Array(kept.length);
        const grad = last ? null : new Float32Array(kept.length * per);
        kept.forEach((r, q) => {
          const from = redoPos.has(r) && redo ? { ev: redo, q: redoPos.get(r)! } : { ev, q: pos.get(r)! };
          df[q] = from.ev.df[from.q];
          if (grad && from.ev.grad) grad.set(from.ev.grad.subarray(from.q * per, (from.q + 1) * per), q * per);
        });
        ev = { df, grad, pred: Int32Array.from(kept, (r) => (redoPos.has(r) && redo ? redo.pred[redoPos.get(r)!] : ev.pred[pos.get(r)!])) };
        active = kept;
      }
    }
    if (last || active.length === 0) break;
    const g = ev.grad!;
    active.forEach((r, q) => {
      stepsOut[r] += 1;
      const wq = g.subarray(q * per, (q + 1) * per);
      const base = r * per;
      // Hyperplane f + ⟨w, z − x1⟩ = 0, reached from x1 by ⟨w, d1⟩ = −f and from x0 by ⟨w, d2⟩ = −f + ⟨w, x1 − x0⟩.
      let wx = 0;
      for (let j = 0; j < per; j++) wx += wq[j] * (x1[base + j] - x0[base + j]);
      for (let j = 0; j < per; j++) { lo[j] = lower[base + j] - x1[base + j]; hi[j] = upper[base + j] - x1[base + j]; }
      projectToHyperplane(wq, -ev.df[q], lo, hi, norm, d1);
      for (let j = 0; j < per; j++) { lo[j] = lower[base + j] - x0[base + j]; hi[j] = upper[base + j] - x0[base + j]; }
      projectToHyperplane(wq, -ev.df[q] + wx, lo, hi, norm, d2);
      const a1 = Math.max(normOf(d1, norm), 1e-8);
      const a2 = Math.max(normOf(d2, norm), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), s.alphaMax);
      let sq = 0;
      for (let j = 0; j < per; j++) {
        const v = (x1[base + j] + s.eta * d1[j]) * (1 - alpha) + (x0[base + j] + s.eta * d2[j]) * alpha;
        const c = Math.min(Math.max(v, lower[base + j]), upper[base + j]);
        x1[base + j] = c;
        sq += (c - x0[base + j]) ** 2;
      }
      // L2: back into the ball (toward x0, which keeps the point in the box).
      if (norm === 'l2' && Math.sqrt(sq) > eps) {
        const f = eps / Math.sqrt(sq);
        for (let j = 0; j < per; j++) x1[base + j] = x0[base + j] + f * (x1[base + j] - x0[base + j]);
      }
    });
    s.onProgress?.({ attack, step: it + 1, total: s.steps, active: active.length, round: roundIndex });
  }
  return { x: adv, found, steps: stepsOut };
}

/**
 * A random start at half the radius: uniform noise scaled to L∞ norm ε/2, or Gaussian noise scaled to L2 norm ε/2,
 * kept in the threat model. One stream per image (`seeds`), so the start does not depend on the rest of the batch.
 */
async function fabStart(
  x0: Float32Array, m: number, [h, w, ch]: [number, number, number], eps: number, norm: 'linf' | 'l2', seeds: readonly number[],
  lower: Float32Array, upper: Float32Array,
): Promise<Float32Array> {
  const per = h * w * ch;
  const noise = tf.tidy(() => tf.concat(seeds.map((sd) => (norm === 'linf'
    ? tf.randomUniform([1, h, w, ch], -1, 1, 'float32', sd)
    : tf.randomNormal([1, h, w, ch], 0, 1, 'float32', sd)))));
  const t = await noise.data() as Float32Array;
  noise.dispose();
  const x = new Float32Array(m * per);
  for (let r = 0; r < m; r++) {
    const n = Math.max(normOf(t.subarray(r * per, (r + 1) * per), norm), 1e-12);
    for (let j = r * per; j < (r + 1) * per; j++) {
      x[j] = Math.min(Math.max(x0[j] + (0.5 * eps * t[j]) / n, lower[j]), upper[j]);
    }
  }
  return x;
}
