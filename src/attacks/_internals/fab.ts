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

/** Logit differences (target or closest class minus true class), their input gradients and the predictions at some rows. */
interface Linearisation {
  df: Float64Array;
  grad: Float32Array | null;
  pred: Int32Array;
}

/** One FAB run on the images `global` of `p`: per image, its 8-bit adversarial point (when found) and its steps. */
async function fabOnce(
  attack: string, p: Prepared, s: FabSettings, round: FabRound, x0All: Float32Array, global: readonly number[],
  ranked: Int32Array[] | null, seeds: readonly number[], roundIndex: number,
): Promise<{ x: Float32Array; found: boolean[]; steps: Int32Array }> {
  const run = new FabRun(attack, p, s, round, x0All, global, ranked, roundIndex);
  if (round.randomStart) run.x1 = await fabStart(run.x0, run.m, run.shape, p.epsilon, p.norm, seeds, run.lower, run.upper);
  for (let it = 0; it <= s.steps && run.active.length > 0; it++) {
    const last = it === s.steps;
    const ev = await run.afterHits(await run.linearise(run.active, !last, it === 0), last);
    if (last || run.active.length === 0) break;
    run.active.forEach((r, q) => run.moveRow(r, ev.grad!.subarray(q * run.per, (q + 1) * run.per), ev.df[q]));
    s.onProgress?.({ attack, step: it + 1, total: s.steps, active: run.active.length, round: roundIndex });
  }
  return { x: run.adv, found: run.found, steps: run.stepsOut };
}

/**
 * The state of one FAB run, in plain arrays (row r of every array is image `global[r]`): the clean images, the box
 * of the threat model per pixel, the current points, and the closest adversarial point found so far.
 */
class FabRun {
  readonly shape: [number, number, number];
  readonly per: number;
  readonly m: number;
  readonly x0: Float32Array;
  /** The threat model as a box per pixel: [0, 1], cut by the ε-ball for L∞. */
  readonly lower: Float32Array;
  readonly upper: Float32Array;
  x1: Float32Array;
  readonly found: boolean[];
  readonly adv: Float32Array;
  readonly stepsOut: Int32Array;
  /** Rows still running. */
  active: number[];
  private readonly bestNorm: Float64Array;
  private readonly labels: Int32Array;
  private readonly targets: Int32Array | null;
  private readonly k: number;
  // Scratch space of one row's step.
  private readonly d1: Float64Array; private readonly d2: Float64Array;
  private readonly lo: Float64Array; private readonly hi: Float64Array;

  constructor(
    private readonly attack: string, private readonly p: Prepared, private readonly s: FabSettings, round: FabRound, x0All: Float32Array,
    private readonly global: readonly number[], ranked: Int32Array[] | null, private readonly roundIndex: number,
  ) {
    const [, h, w, ch] = p.x0.shape;
    this.shape = [h, w, ch];
    const per = this.per = h * w * ch;
    const m = this.m = global.length;
    this.k = p.classifier.classNames.length;
    this.labels = Int32Array.from(global, (i) => p.ctx.labels[i]);
    this.targets = round.targetRank === null ? null : Int32Array.from(global, (i) => ranked![i][round.targetRank!]);
    this.x0 = new Float32Array(m * per);
    global.forEach((img, r) => this.x0.set(x0All.subarray(img * per, (img + 1) * per), r * per));
    this.lower = new Float32Array(m * per);
    this.upper = new Float32Array(m * per);
    const { epsilon: eps, norm } = p;
    for (let j = 0; j < m * per; j++) {
      this.lower[j] = norm === 'linf' ? Math.max(0, this.x0[j] - eps) : 0;
      this.upper[j] = norm === 'linf' ? Math.min(1, this.x0[j] + eps) : 1;
    }
    this.x1 = Float32Array.from(this.x0);
    this.found = new Array<boolean>(m).fill(false);
    this.bestNorm = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
    this.adv = new Float32Array(m * per);
    this.stepsOut = new Int32Array(m);
    this.active = Array.from({ length: m }, (_, r) => r);
    [this.d1, this.d2, this.lo, this.hi] = [new Float64Array(per), new Float64Array(per), new Float64Array(per), new Float64Array(per)];
  }

  /** The rows `rows` of `src` as one batch. */
  private rowsOf(src: Float32Array, rows: readonly number[]): Float32Array {
    const per = this.per;
    const o = new Float32Array(rows.length * per);
    rows.forEach((r, q) => o.set(src.subarray(r * per, (r + 1) * per), q * per));
    return o;
  }

  /** The linearisation of `rows` at their current points (without `withGrad`: the predictions only, one forward pass). */
  async linearise(rows: readonly number[], withGrad: boolean, first: boolean): Promise<Linearisation> {
    const xs = tf.tensor4d(this.rowsOf(this.x1, rows), [rows.length, ...this.shape]);
    try {
      if (!withGrad) {
        const pr = tf.tidy(() => tf.argMax(this.p.classifier.logits(xs), 1));
        const pred = Int32Array.from(await pr.data());
        pr.dispose();
        for (const r of rows) this.p.queries[this.global[r]] += 1;
        return { df: new Float64Array(rows.length), grad: null, pred };
      }
      if (this.targets) {
        const to = Int32Array.from(rows, (r) => this.targets![r]);
        const pass = await this.gradientPass(xs, rows, to, true, first && to.every((t, q) => t !== this.labels[rows[q]]));
        return { df: Float64Array.from(pass.vals), grad: pass.grads, pred: pass.pred! };
      }
      return await this.closestClass(xs, rows, first);
    } finally {
      xs.dispose();
    }
  }

  /**
   * Untargeted: every other class in turn (one gradient pass each), keeping per image the one whose linearised
   * boundary is closest (|f| / ‖∇f‖_dual).
   */
  private async closestClass(xs: tf.Tensor4D, rows: readonly number[], first: boolean): Promise<Linearisation> {
    const { per } = this;
    const y = Int32Array.from(rows, (r) => this.labels[r]);
    let pred: Int32Array | undefined;
    let checked = false;
    const df = new Float64Array(rows.length);
    const grad = new Float32Array(rows.length * per);
    const bestDist = new Float64Array(rows.length).fill(Number.POSITIVE_INFINITY);
    for (let c = 0; c < this.k; c++) {
      const to = new Int32Array(rows.length).fill(c);
      if (to.every((t, q) => t === y[q])) continue;
      // The gradient check of the first pass, on a class that differs from every row's label.
      const check: boolean = first && !checked && to.every((t, q) => t !== y[q]);
      checked ||= check;
      const pass = await this.gradientPass(xs, rows, to, pred === undefined, check);
      pred ??= pass.pred;
      rows.forEach((_, q) => {
        if (to[q] === y[q]) return;
        const gq = pass.grads.subarray(q * per, (q + 1) * per);
        const dist = Math.abs(pass.vals[q]) / (dualNorm(gq, this.p.norm) + 1e-12);
        if (dist < bestDist[q]) { bestDist[q] = dist; df[q] = pass.vals[q]; grad.set(gq, q * per); }
      });
    }
    return { df, grad, pred: pred! };
  }

  /**
   * One forward and backward pass: f = z_to − z_label per row and its input gradient (one backward pass of the
   * difference), and the predictions when `withPred`; with `check`, the gradient check of the attack's first pass.
   */
  private async gradientPass(
    xs: tf.Tensor4D, rows: readonly number[], to: Int32Array, withPred: boolean, check: boolean,
  ): Promise<{ vals: Float32Array; grads: Float32Array; pred: Int32Array | undefined }> {
    const { classifier } = this.p;
    const k = this.k;
    const y = Int32Array.from(rows, (r) => this.labels[r]);
    const kept: tf.Tensor[] = [];
    const [v, g] = tf.tidy(() => {
      const mask = tf.sub(tf.oneHot(tf.tensor1d(to, 'int32'), k), tf.oneHot(tf.tensor1d(y, 'int32'), k));
      const vg = tf.valueAndGrad((xv: tf.Tensor4D) => {
        const z = classifier.logits(xv);
        if (withPred) kept.push(tf.keep(tf.argMax(z, 1)));
        return tf.sum(tf.mul(z, mask), 1);
      })(xs);
      return [vg.value, sanitize(vg.grad)];
    });
    try {
      if (check && this.roundIndex === 0) await checkFirstGradient(this.p, this.attack, xs, g, rows.map((r) => this.global[r]));
      const vals = Float32Array.from(await v.data());
      const grads = Float32Array.from(await g.data() as Float32Array);
      const pred = kept.length > 0 ? Int32Array.from(await kept[0].data()) : undefined;
      for (const r of rows) this.p.queries[this.global[r]] += 1;
      return { vals, grads, pred };
    } finally {
      tf.dispose([v, g, ...kept]);
    }
  }

  /**
   * Did the previous step land on an adversarial point? (At the first iteration the start is checked too.) Images
   * whose 8-bit point holds stop (early stop); the others go back toward the clean image by β and are linearised
   * again at their new point. Returns the linearisation of the rows still active.
   */
  async afterHits(ev: Linearisation, last: boolean): Promise<Linearisation> {
    const active = this.active;
    const hit = active.filter((_, q) => ev.pred[q] !== this.labels[active[q]]);
    if (hit.length === 0) return ev;
    const ok = await this.confirm(hit);
    const stop = new Set(this.s.earlyStop ? hit.filter((_, q) => ok[q]) : []);
    const back = hit.filter((r) => !stop.has(r));
    const { per, x0, x1 } = this;
    for (const r of back) for (let j = r * per; j < (r + 1) * per; j++) x1[j] = x0[j] + this.s.beta * (x1[j] - x0[j]);
    if (stop.size === 0 && (back.length === 0 || last)) return ev;
    const kept = active.filter((r) => !stop.has(r));
    const redo = last ? null : await this.linearise(back, true, false);
    const pos = new Map(active.map((r, q) => [r, q]));
    const redoPos = new Map(back.map((r, q) => [r, q]));
    const df = new Float64Array(kept.length);
    const grad = last ? null : new Float32Array(kept.length * per);
    const pred = new Int32Array(kept.length);
    kept.forEach((r, q) => {
      const from = redo && redoPos.has(r) ? { ev: redo, q: redoPos.get(r)! } : { ev, q: pos.get(r)! };
      df[q] = from.ev.df[from.q];
      pred[q] = from.ev.pred[from.q];
      if (grad && from.ev.grad) grad.set(from.ev.grad.subarray(from.q * per, (from.q + 1) * per), q * per);
    });
    this.active = kept;
    return { df, grad, pred };
  }

  /** Rounds the points of `rows` to 8 bits inside the threat model and keeps those still misclassified. */
  private async confirm(rows: readonly number[]): Promise<boolean[]> {
    const { per, x0, p } = this;
    const shape: [number, number, number, number] = [rows.length, ...this.shape];
    const [xr, pr] = tf.tidy((): [tf.Tensor4D, tf.Tensor] => {
      const r8 = roundTo8Bit(tf.tensor4d(this.rowsOf(this.x1, rows), shape), tf.tensor4d(this.rowsOf(x0, rows), shape), p.epsilon, p.norm);
      return [r8, tf.argMax(p.classifier.logits(r8), 1)];
    });
    const xd = await xr.data() as Float32Array;
    const pd = await pr.data();
    tf.dispose([xr, pr]);
    for (const r of rows) p.queries[this.global[r]] += 1;
    return rows.map((r, q) => {
      if (pd[q] === this.labels[r]) return false;
      const d = new Float64Array(per);
      for (let j = 0; j < per; j++) d[j] = xd[q * per + j] - x0[r * per + j];
      const n = normOf(d, p.norm);
      if (n < this.bestNorm[r]) {
        this.bestNorm[r] = n;
        this.adv.set(xd.subarray(q * per, (q + 1) * per), r * per);
        this.found[r] = true;
      }
      return true;
    });
  }

  /**
   * One FAB step of row r with the linearisation f + ⟨w, z − x1⟩ = 0: the projections d1 of x1 and d2 of x0 onto
   * it (inside the box), then x1 ← (x1 + η·d1)(1 − α) + (x0 + η·d2)·α in the box, α = min(‖d1‖ / (‖d1‖ + ‖d2‖), α_max).
   */
  moveRow(r: number, wq: Float32Array, f: number): void {
    const { per, x0, x1, lower, upper, d1, d2, lo, hi, s } = this;
    const norm = this.p.norm;
    this.stepsOut[r] += 1;
    const base = r * per;
    // The hyperplane is reached from x1 by ⟨w, d1⟩ = −f and from x0 by ⟨w, d2⟩ = −f + ⟨w, x1 − x0⟩.
    let wx = 0;
    for (let j = 0; j < per; j++) wx += wq[j] * (x1[base + j] - x0[base + j]);
    for (let j = 0; j < per; j++) { lo[j] = lower[base + j] - x1[base + j]; hi[j] = upper[base + j] - x1[base + j]; }
    projectToHyperplane(wq, -f, lo, hi, norm, d1);
    for (let j = 0; j < per; j++) { lo[j] = lower[base + j] - x0[base + j]; hi[j] = upper[base + j] - x0[base + j]; }
    projectToHyperplane(wq, -f + wx, lo, hi, norm, d2);
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
    const eps = this.p.epsilon;
    if (norm === 'l2' && Math.sqrt(sq) > eps) {
      const k = eps / Math.sqrt(sq);
      for (let j = 0; j < per; j++) x1[base + j] = x0[base + j] + k * (x1[base + j] - x0[base + j]);
    }
  }
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
