/**
 * The engine of Auto-PGD (Croce & Hein, ICML 2020, Algorithm 1), written from the paper: projected steps with
 * momentum, a step size that starts at 2ε and is halved at checkpoints when progress stalls, and a restart from the
 * best point found whenever it is halved. `apgd.ts` is the validating entry above it.
 */
import * as tf from '../../tf.js';
import { subsetContext, successOf, type Objective, type ObjectiveContext } from '../objectives.js';
import { project, roundTo8Bit } from '../threat.js';
import type { AttackProgress, AttackResult } from '../types.js';
import { ascentStep, checkFirstGradient, finish, gatherRows, mergeRows, sanitize, type Prepared } from './engine.js';
import { randomStart } from './iterative.js';
import { imageKeys, subSeed } from './random.js';

/** What one APGD run does, fully resolved. */
export interface ApgdSettings {
  /** Iterations (gradient steps) per run, N_iter. */
  steps: number;
  /** Runs per loss from different random starts (only images not yet broken take part). */
  restarts: number;
  randomStart: boolean;
  /** Condition 1: halve when fewer than `rho` of the steps since the last checkpoint raised the loss. */
  rho: number;
  /** Weight α of the new gradient step against the previous move. */
  momentum: number;
  /** Gradients averaged per step (expectation over transformation, for randomised models). */
  eot: number;
  /** Stop an image at the first point whose 8-bit rounding meets the goal. */
  earlyStop: boolean;
  onProgress?: (p: AttackProgress) => void;
  /** Sees every checkpoint: the iteration, which active images halved their step, and the step sizes after it. */
  onCheckpoint?: (iteration: number, halved: readonly boolean[], stepSizes: Float32Array) => void;
}

/** One loss to run APGD with: the loss and, for a targeted loss, the target of each image. */
export interface ApgdRound {
  loss: Objective;
  targets: Int32Array | null;
}

/**
 * The iterations at which APGD may halve its step size: w_j = ⌈p_j · N⌉ ≤ N with p_0 = 0, p_1 = 0.22 and
 * p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), repeated values dropped. Computed in hundredths, exactly, so that
 * 0.22 + 0.19 is 0.41 and not 0.41000000000000003 (whose ceiling would move the checkpoint by one).
 *
 * @example
 * apgdCheckpoints(100); // [0, 22, 41, 57, 70, 80, 87, 93, 99]
 */
export function apgdCheckpoints(steps: number): number[] {
  const out = [0];
  let prev = 0;
  let cur = 22;
  for (;;) {
    const w = Math.floor((cur * steps + 99) / 100);
    if (w > steps) break;
    if (w > out[out.length - 1]) out.push(w);
    const next = cur + Math.max(cur - prev - 3, 6);
    prev = cur;
    cur = next;
  }
  return out;
}

/**
 * Runs APGD with each of `rounds` in turn (restarts and, for APGD-T, target classes), each only on the images no
 * earlier round broke. Per image the result keeps the first round that succeeded, else the one with the highest
 * value of `p.objective` (the score every round is compared by) on its 8-bit image.
 */
export async function runApgdRounds(attack: string, p: Prepared, s: ApgdSettings, rounds: readonly ApgdRound[], details: Record<string, unknown> = {}): Promise<AttackResult> {
  const goal = p.objective.goal;
  const steps = new Int32Array(p.n);
  let best = roundTo8Bit(p.x0, p.x0, p.epsilon, p.norm);
  const bestSuccess = goal === 'none' ? new Array<boolean>(p.n).fill(false) : successOf(goal, p.cleanPredictions, p.ctx);
  const bestScore = new Float32Array(p.n).fill(Number.NEGATIVE_INFINITY);
  const perRound: number[] = [];
  // Per-image seeds keyed by the image itself: a batch split over workers starts from the same points.
  const keys = s.randomStart ? imageKeys(await p.x0.data() as Float32Array, p.n) : new Uint32Array(p.n);
  for (const [r, round] of rounds.entries()) {
    const todo = Array.from({ length: p.n }, (_, i) => i).filter((i) => goal === 'none' || !bestSuccess[i]);
    if (todo.length === 0) break;
    perRound.push(todo.length);
    const x0 = gatherRows(p.x0, todo);
    const lossCtx = subsetContext({ labels: p.ctx.labels, targets: round.targets ?? p.ctx.targets }, todo);
    const roundSeed = subSeed(p.seed, r);
    let once: RunOutput;
    try {
      once = await apgdOnce(attack, p, s, round.loss, x0, lossCtx, subsetContext(p.ctx, todo), todo, todo.map((i) => subSeed(roundSeed, keys[i])), r);
    } catch (err) {
      best.dispose();
      throw err;
    } finally {
      x0.dispose();
    }
    const better: number[] = []; const betterIdx: number[] = [];
    todo.forEach((img, k) => {
      steps[img] += once.steps[k];
      const ok = goal === 'none' ? false : once.success[k];
      if ((ok && !bestSuccess[img]) || (ok === bestSuccess[img] && once.score[k] > bestScore[img])) {
        better.push(k); betterIdx.push(img);
        bestSuccess[img] = ok; bestScore[img] = once.score[k];
      }
    });
    if (better.length > 0) {
      const rows = gatherRows(once.x, better);
      const merged = mergeRows(best, betterIdx, rows);
      best.dispose(); rows.dispose();
      best = merged;
    }
    once.x.dispose();
  }
  return finish(attack, p, best, steps, { ...details, roundsRun: perRound.length, imagesPerRound: perRound });
}

interface RunOutput {
  /** 8-bit images, one per image of the run. */
  x: tf.Tensor4D;
  success: boolean[];
  /** `p.objective` on `x`. */
  score: Float32Array;
  steps: Int32Array;
}

/** Loss values, their input gradient and the predictions at `x`, all at one point (averaged over `eot` draws). */
interface Evaluation {
  value: Float32Array;
  grad: tf.Tensor4D | null;
  pred: Int32Array;
}

/** A point of the end choice of one image: its 8-bit pixels, whether it meets the goal, its loss and score. */
interface Candidate {
  x: Float32Array;
  ok: boolean;
  loss: number;
  score: number;
}

/** One APGD run from one start on `x0` (the images of `global`). */
async function apgdOnce(
  attack: string, p: Prepared, s: ApgdSettings, loss: Objective, x0: tf.Tensor4D, lossCtx: ObjectiveContext, scoreCtx: ObjectiveContext,
  global: readonly number[], seeds: readonly number[], round: number,
): Promise<RunOutput> {
  const run = new ApgdRun(attack, p, s, loss, x0, lossCtx, scoreCtx, global, round, s.randomStart ? randomStart(x0, p.epsilon, p.norm, seeds) : x0.clone());
  try {
    await run.begin();
    for (let k = 0; k < s.steps && run.ids.length > 0; k++) await run.iterate(k);
    return await run.end();
  } finally {
    run.dispose();
  }
}

/**
 * The state of one APGD run: per image still running (row r of every tensor and array; `ids[r]` is its image in the
 * run) the current and previous points, the best point and its gradient, the losses and the step size. Images that
 * stop (early stop) are dropped from every row set at once ({@link ApgdRun.compact}).
 */
class ApgdRun {
  ids: number[];
  private x0a: tf.Tensor4D;
  private x: tf.Tensor4D;
  private xPrev: tf.Tensor4D;
  private xMax: tf.Tensor4D;
  private g: tf.Tensor4D | null = null;
  private gMax: tf.Tensor4D | null = null;
  private f = new Float32Array(0);
  private fMax = new Float32Array(0);
  private fMaxLast = new Float32Array(0);
  private eta: Float32Array;
  private count: Int32Array;
  private reducedLast: boolean[];
  private ctx: ObjectiveContext;
  /** L∞: the threat model as a box per pixel, [x₀ − ε, x₀ + ε] cut by [0, 1] (computed once, not at every projection). */
  private box: { lo: tf.Tensor4D; hi: tf.Tensor4D } | null = null;
  /** The first 8-bit point of each image that met the goal, with its loss and score. */
  private readonly found = new Map<number, { x: Float32Array; loss: number; score: number }>();
  private readonly stepsOut: Int32Array;
  /** Checkpoint iteration → length of the window it closes. */
  private readonly windows = new Map<number, number>();
  private readonly lossFn: NonNullable<Objective['fromLogits']>;
  private readonly scoreFn: NonNullable<Objective['fromLogits']>;
  private readonly m: number;
  private readonly per: number;

  constructor(
    private readonly attack: string, private readonly p: Prepared, private readonly s: ApgdSettings, private readonly loss: Objective,
    private readonly x0: tf.Tensor4D, lossCtx: ObjectiveContext, private readonly scoreCtx: ObjectiveContext,
    private readonly global: readonly number[], private readonly round: number, private readonly start: tf.Tensor4D,
  ) {
    this.lossFn = loss.fromLogits!;
    this.scoreFn = p.objective.fromLogits!;
    this.m = x0.shape[0];
    this.per = x0.size / this.m;
    const cps = apgdCheckpoints(s.steps);
    for (let j = 1; j < cps.length; j++) this.windows.set(cps[j], cps[j] - cps[j - 1]);
    this.stepsOut = new Int32Array(this.m);
    this.ids = Array.from({ length: this.m }, (_, i) => i);
    this.ctx = lossCtx;
    this.x0a = x0.clone();
    this.x = start.clone();
    this.xPrev = start.clone();
    this.xMax = start.clone();
    this.eta = new Float32Array(this.m).fill(2 * p.epsilon);
    this.count = new Int32Array(this.m);
    this.reducedLast = new Array<boolean>(this.m).fill(false);
    if (p.norm === 'linf') {
      const x0a = this.x0a; const eps = p.epsilon;
      this.box = tf.tidy(() => ({ lo: tf.maximum<tf.Tensor4D>(tf.sub(x0a, eps), 0), hi: tf.minimum<tf.Tensor4D>(tf.add(x0a, eps), 1) }));
    }
  }

  /** The loss and gradient at the start (with the gradient check of the first round), and any image already broken there. */
  async begin(): Promise<void> {
    const ev = await this.evaluate(this.x, true);
    this.g = ev.grad;
    if (this.round === 0) await checkFirstGradient(this.p, this.attack, this.x, ev.grad!, this.ids.map((r) => this.global[r]));
    this.gMax = ev.grad!.clone();
    this.f = Float32Array.from(ev.value);
    this.fMax = Float32Array.from(ev.value);
    this.fMaxLast = Float32Array.from(ev.value);
    const atStart = await this.confirm(this.x, ev.pred);
    if (this.s.earlyStop && atStart.length > 0) this.compact(atStart);
  }

  /** Iteration k: the checkpoint rule, one momentum step, its evaluation and the bookkeeping of the best point. */
  async iterate(k: number): Promise<void> {
    const window = this.windows.get(k);
    if (window !== undefined) this.checkpoint(k, window);
    const xNew = this.nextPoint(k);
    let next: Evaluation;
    try {
      next = await this.evaluate(xNew, k < this.s.steps - 1);
    } catch (err) {
      xNew.dispose();
      throw err;
    }
    for (const i of this.ids) this.stepsOut[i] += 1;
    this.keepBest(xNew, next);
    this.xPrev.dispose(); this.g!.dispose();
    this.xPrev = this.x; this.x = xNew; this.g = next.grad ?? tf.zerosLike(xNew);
    this.f = Float32Array.from(next.value);
    const hit = await this.confirm(xNew, next.pred);
    if (this.s.earlyStop && hit.length > 0) this.compact(hit);
    this.s.onProgress?.({ attack: this.attack, step: k + 1, total: this.s.steps, active: this.ids.length, round: this.round });
  }

  /**
   * A checkpoint closes the window (w_{j−1}, w_j]: halve the step of the images where the loss rose on fewer than ρ
   * of its steps, or where neither the step nor the best loss changed since the last checkpoint, and send them back to
   * their best point.
   */
  private checkpoint(k: number, window: number): void {
    const { count, fMax, fMaxLast, reducedLast, s } = this;
    const halve = this.ids.map((_, r) => count[r] < s.rho * window || (!reducedLast[r] && fMax[r] === fMaxLast[r]));
    if (halve.some(Boolean)) {
      halve.forEach((h, r) => { if (h) { this.eta[r] /= 2; this.f[r] = fMax[r]; } });
      const [ox, og, xMax, gMax] = [this.x, this.g!, this.xMax, this.gMax!];
      [this.x, this.g] = tf.tidy(() => {
        const mask = rowFlags(halve, ox.shape);
        return [tf.where<tf.Tensor4D>(mask, xMax, ox), tf.where<tf.Tensor4D>(mask, gMax, og)];
      });
      tf.dispose([ox, og]);
    }
    this.reducedLast = halve;
    this.fMaxLast = Float32Array.from(fMax);
    this.count.fill(0);
    s.onCheckpoint?.(k, halve, Float32Array.from(this.eta));
  }

  /** z = P(x + η·step(g)); from the second iteration on, x + α(z − x) + (1 − α)(x − x_prev), projected again. */
  private nextPoint(k: number): tf.Tensor4D {
    const { x, xPrev, g, eta } = this;
    const momentum = this.s.momentum;
    return tf.tidy(() => {
      const z = this.project(ascentStep(x, g!, tf.tensor1d(eta), this.p.norm));
      if (k === 0) return z;
      const moved = tf.add(tf.add(x, tf.mul(tf.sub(z, x), momentum)), tf.mul(tf.sub(x, xPrev), 1 - momentum));
      return this.project(moved as tf.Tensor4D);
    });
  }

  /**
   * Onto the threat model around the running images: `project` of threat.ts, and for L∞ the same clip to the box
   * written as two selections against the stored box — min(max(t, lo), hi) — because the wasm backend's
   * element-wise maximum and minimum of two tensors are about 10× slower than its selection.
   */
  private project(t: tf.Tensor4D): tf.Tensor4D {
    if (!this.box) return project(t, this.x0a, this.p.epsilon, this.p.norm);
    const { lo, hi } = this.box;
    return tf.tidy(() => {
      const up = tf.where<tf.Tensor4D>(tf.less(t, lo), lo, t);
      return tf.where<tf.Tensor4D>(tf.greater(up, hi), hi, up);
    });
  }

  /** Counts the rises of the loss and moves the best point (and its gradient) of the images whose loss beat it. */
  private keepBest(xNew: tf.Tensor4D, next: Evaluation): void {
    const better = this.ids.map((_, r) => next.value[r] > this.fMax[r]);
    this.ids.forEach((_, r) => {
      if (next.value[r] > this.f[r]) this.count[r] += 1;
      if (better[r]) this.fMax[r] = next.value[r];
    });
    if (!better.some(Boolean)) return;
    const [om, og] = [this.xMax, this.gMax!];
    [this.xMax, this.gMax] = tf.tidy(() => {
      const mask = rowFlags(better, om.shape);
      return [tf.where<tf.Tensor4D>(mask, xNew, om), next.grad ? tf.where<tf.Tensor4D>(mask, next.grad, og) : og.clone()];
    });
    tf.dispose([om, og]);
  }

  /** Loss, gradient and prediction of the running images at x: one pass per EOT draw (a forward pass without the gradient). */
  private async evaluate(x: tf.Tensor4D, withGrad: boolean): Promise<Evaluation> {
    const draws = withGrad ? this.s.eot : 1;
    let sumV: tf.Tensor1D | undefined; let sumG: tf.Tensor4D | undefined; let pred: tf.Tensor | undefined;
    for (let e = 0; e < draws; e++) {
      const [v, g, pr] = this.draw(x, withGrad, e === 0);
      if (pr) pred = pr;
      if (sumV === undefined) { sumV = v; sumG = g; } else {
        const [ov, og] = [sumV, sumG!];
        sumV = tf.add(ov, v); sumG = tf.add(og, g!);
        tf.dispose([ov, og, v, g!]);
      }
    }
    for (const r of this.ids) this.p.queries[this.global[r]] += draws;
    const value = Float32Array.from(await sumV!.data());
    const predArr = Int32Array.from(await pred!.data());
    tf.dispose([sumV!, pred!]);
    if (draws > 1) {
      for (let i = 0; i < value.length; i++) value[i] /= draws;
      const og = sumG!;
      sumG = tf.tidy(() => tf.div<tf.Tensor4D>(og, draws));
      og.dispose();
    }
    return { value, grad: sumG ?? null, pred: predArr };
  }

  /** One pass at x: the loss, its (sanitised) input gradient when asked, and the predictions when `withPred`. */
  private draw(x: tf.Tensor4D, withGrad: boolean, withPred: boolean): [tf.Tensor1D, tf.Tensor4D | undefined, tf.Tensor | undefined] {
    const { classifier } = this.p;
    const { lossFn, ctx } = this;
    const kept: tf.Tensor[] = [];
    const [v, g] = tf.tidy((): [tf.Tensor1D, tf.Tensor4D | undefined] => {
      if (!withGrad) {
        const z = classifier.logits(x);
        kept.push(tf.keep(tf.argMax(z, 1)));
        return [lossFn(z, ctx), undefined];
      }
      const vg = tf.valueAndGrad((xv: tf.Tensor4D) => {
        const z = classifier.logits(xv);
        if (withPred) kept.push(tf.keep(tf.argMax(z, 1)));
        return lossFn(z, ctx);
      })(x);
      return [vg.value, sanitize(vg.grad)];
    });
    return [v, g, kept[0]];
  }

  /** Rounds the points of rows that meet the goal, checks them again on the 8-bit image, records those that hold. */
  private async confirm(pt: tf.Tensor4D, pred: Int32Array): Promise<number[]> {
    const goal = this.loss.goal;
    if (goal === 'none') return [];
    const hit = successOf(goal, pred, this.ctx);
    const cand = this.ids.map((_, r) => r).filter((r) => hit[r] && !this.found.has(this.ids[r]));
    if (cand.length === 0) return [];
    const candCtx = subsetContext(this.ctx, cand);
    const { epsilon: eps, norm } = this.p;
    const xr = tf.tidy(() => roundTo8Bit(gatherRows(pt, cand), gatherRows(this.x0a, cand), eps, norm));
    const ev = await this.scoreRounded(xr, candCtx, subsetContext(this.scoreCtx, cand.map((r) => this.ids[r])));
    xr.dispose();
    for (const r of cand) this.p.queries[this.global[this.ids[r]]] += 1;
    const ok = successOf(goal, ev.pred, candCtx);
    const confirmed: number[] = [];
    cand.forEach((r, k) => {
      if (!ok[k]) return;
      this.found.set(this.ids[r], { x: ev.x.slice(k * this.per, (k + 1) * this.per), loss: ev.loss[k], score: ev.score[k] });
      confirmed.push(r);
    });
    return confirmed;
  }

  /** Prediction, loss and score of 8-bit images `xr` (one forward pass), with their pixels. */
  private async scoreRounded(xr: tf.Tensor4D, lossCtx: ObjectiveContext, scoreCtx: ObjectiveContext): Promise<{ x: Float32Array; pred: Int32Array; loss: Float32Array; score: Float32Array }> {
    const [pr, lv, sv] = tf.tidy((): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] => {
      const z = this.p.classifier.logits(xr);
      return [tf.argMax(z, 1), this.lossFn(z, lossCtx), this.scoreFn(z, scoreCtx)];
    });
    const out = {
      pred: Int32Array.from(await pr.data()), loss: Float32Array.from(await lv.data()),
      score: Float32Array.from(await sv.data()), x: Float32Array.from(await xr.data() as Float32Array),
    };
    tf.dispose([pr, lv, sv]);
    return out;
  }

  /** Drops the rows of images that stopped. */
  private compact(gone: readonly number[]): void {
    const drop = new Set(gone);
    const keep = this.ids.map((_, r) => r).filter((r) => !drop.has(r));
    const pick = <T extends tf.Tensor>(t: T): T => { const o = gatherRows(t, keep); t.dispose(); return o; };
    [this.x0a, this.x, this.xPrev, this.xMax] = [pick(this.x0a), pick(this.x), pick(this.xPrev), pick(this.xMax)];
    if (this.box) this.box = { lo: pick(this.box.lo), hi: pick(this.box.hi) };
    [this.g, this.gMax] = [pick(this.g!), pick(this.gMax!)];
    const sel = <A extends Float32Array | Int32Array>(a: A): A => a.filter((_, r) => !drop.has(r)) as A;
    [this.f, this.fMax, this.eta, this.fMaxLast] = [sel(this.f), sel(this.fMax), sel(this.eta), sel(this.fMaxLast)];
    this.count = sel(this.count);
    this.reducedLast = this.reducedLast.filter((_, r) => !drop.has(r));
    this.ids = keep.map((r) => this.ids[r]);
    this.ctx = subsetContext(this.ctx, keep);
  }

  /**
   * Each image still running ends at the better of its best point and its start, both rounded to 8 bits (a rounded
   * best point can lose a little, never below the start); an adversarial point found on the way wins.
   */
  async end(): Promise<RunOutput> {
    const { m, per, ids } = this;
    const outX = new Float32Array(m * per);
    const success = new Array<boolean>(m).fill(false);
    const score = new Float32Array(m);
    for (const [i, v] of this.found) {
      if (ids.includes(i)) continue;
      outX.set(v.x, i * per); success[i] = true; score[i] = v.score;
    }
    if (ids.length > 0) {
      const a = await this.roundedRows(this.xMax);
      const startRows = gatherRows(this.start, ids);
      const b = await this.roundedRows(startRows).finally(() => startRows.dispose());
      ids.forEach((i, r) => {
        const cands = [a(r), b(r)];
        const fnd = this.found.get(i);
        if (fnd) cands.push({ ...fnd, ok: true });
        let pick = cands[0];
        for (const c of cands.slice(1)) if ((c.ok && !pick.ok) || (c.ok === pick.ok && c.loss > pick.loss)) pick = c;
        outX.set(pick.x, i * per); success[i] = pick.ok; score[i] = pick.score;
      });
    }
    const [, h, w, c] = this.x0.shape;
    return { x: tf.tensor4d(outX, [m, h, w, c]), success, score, steps: this.stepsOut };
  }

  /** The running images' points `pt` rounded to 8 bits and scored (one forward pass), as one candidate per row. */
  private async roundedRows(pt: tf.Tensor4D): Promise<(r: number) => Candidate> {
    const { epsilon: eps, norm } = this.p;
    const xr = roundTo8Bit(pt, this.x0a, eps, norm);
    const ev = await this.scoreRounded(xr, this.ctx, subsetContext(this.scoreCtx, this.ids)).finally(() => xr.dispose());
    for (const i of this.ids) this.p.queries[this.global[i]] += 1;
    const ok = this.loss.goal === 'none' ? this.ids.map(() => false) : successOf(this.loss.goal, ev.pred, this.ctx);
    const per = this.per;
    return (r) => ({ x: ev.x.subarray(r * per, (r + 1) * per), ok: ok[r], loss: ev.loss[r], score: ev.score[r] });
  }

  dispose(): void {
    tf.dispose([this.start, this.x0a, this.x, this.xPrev, this.xMax, ...(this.g ? [this.g] : []), ...(this.gMax ? [this.gMax] : [])]);
    if (this.box) tf.dispose([this.box.lo, this.box.hi]);
  }
}

/**
 * A boolean tensor of `shape` that is true on the rows (images) flagged in `rows`, filled in JavaScript: the same
 * mask as `rowMask` of engine.ts without its tile of a row vector, which costs the wasm backend about 20× more.
 */
function rowFlags(rows: readonly boolean[], shape: readonly number[]): tf.Tensor {
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const flags = new Uint8Array(rows.length * per);
  rows.forEach((f, r) => { if (f) flags.fill(1, r * per, (r + 1) * per); });
  return tf.tensor(flags, [...shape], 'bool');
}
