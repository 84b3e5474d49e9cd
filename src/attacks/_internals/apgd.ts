/**
 * The engine of Auto-PGD (Croce & Hein, ICML 2020, Algorithm 1), written from the paper: projected steps with
 * momentum, a step size that starts at 2ε and is halved at checkpoints when progress stalls, and a restart from the
 * best point found whenever it is halved. `apgd.ts` is the validating entry above it.
 */
import * as tf from '../../tf.js';
import { subsetContext, successOf, type Objective, type ObjectiveContext } from '../objectives.js';
import { project, roundTo8Bit } from '../threat.js';
import type { AttackProgress, AttackResult } from '../types.js';
import { ascentStep, checkFirstGradient, finish, gatherRows, mergeRows, rowMask, sanitize, type Prepared } from './engine.js';
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

/** One APGD run from one start on `x0` (the images of `global`). */
async function apgdOnce(
  attack: string, p: Prepared, s: ApgdSettings, loss: Objective, x0: tf.Tensor4D, lossCtx: ObjectiveContext, scoreCtx: ObjectiveContext,
  global: readonly number[], seeds: readonly number[], round: number,
): Promise<RunOutput> {
  const { classifier, epsilon: eps, norm } = p;
  const lossFn = loss.fromLogits!;
  const scoreFn = p.objective.fromLogits!;
  const m = x0.shape[0];
  const per = x0.size / m;
  const windows = new Map<number, number>();
  const cps = apgdCheckpoints(s.steps);
  for (let j = 1; j < cps.length; j++) windows.set(cps[j], cps[j] - cps[j - 1]);

  const stepsOut = new Int32Array(m);
  // The first 8-bit point of each image that met the goal, with its loss and score.
  const found = new Map<number, { x: Float32Array; loss: number; score: number }>();

  // Loss, gradient and prediction of the active images at x: one pass per EOT draw (a forward pass without the gradient).
  const evaluate = async (x: tf.Tensor4D, ctx: ObjectiveContext, ids: readonly number[], withGrad: boolean): Promise<Evaluation> => {
    let sumV: tf.Tensor1D | undefined; let sumG: tf.Tensor4D | undefined; let pred: tf.Tensor | undefined;
    const draws = withGrad ? s.eot : 1;
    for (let e = 0; e < draws; e++) {
      const kept: tf.Tensor[] = [];
      const [v, g] = tf.tidy((): [tf.Tensor1D, tf.Tensor4D | undefined] => {
        if (!withGrad) {
          const z = classifier.logits(x);
          kept.push(tf.keep(tf.argMax(z, 1)));
          return [lossFn(z, ctx), undefined];
        }
        const vg = tf.valueAndGrad((xv: tf.Tensor4D) => {
          const z = classifier.logits(xv);
          if (e === 0) kept.push(tf.keep(tf.argMax(z, 1)));
          return lossFn(z, ctx);
        })(x);
        return [vg.value, sanitize(vg.grad)];
      });
      if (e === 0) pred = kept[0];
      if (sumV === undefined) { sumV = v; sumG = g; } else {
        const [ov, og] = [sumV, sumG!];
        sumV = tf.add(ov, v); sumG = tf.add(og, g!);
        tf.dispose([ov, og, v, g!]);
      }
    }
    for (const r of ids) p.queries[global[r]] += draws;
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
  };

  const start = s.randomStart ? randomStart(x0, eps, norm, seeds) : x0.clone();
  // Active state, one row per image still running (`ids` maps rows to images of this run).
  let ids = Array.from({ length: m }, (_, i) => i);
  let x0a = x0.clone();
  let x = start.clone();
  let xPrev = start.clone();
  let xMax = start.clone();
  let ctx = lossCtx;
  let ev: Evaluation | undefined;
  try {
    ev = await evaluate(x, ctx, ids, true);
    if (round === 0) await checkFirstGradient(p, attack, x, ev.grad!, ids.map((r) => global[r]));
  } catch (err) {
    tf.dispose([start, x0a, x, xPrev, xMax, ...(ev?.grad ? [ev.grad] : [])]);
    throw err;
  }
  let g = ev.grad!;
  let gMax = g.clone();
  let f = Float32Array.from(ev.value);
  let fMax = Float32Array.from(ev.value);
  let eta = new Float32Array(m).fill(2 * eps);
  let count = new Int32Array(m);
  let fMaxLast = Float32Array.from(ev.value);
  let reducedLast = new Array<boolean>(m).fill(false);

  const state = (): tf.Tensor[] => [x0a, x, xPrev, xMax, g, gMax];
  // Rounds the points of rows that meet the goal, checks them again on the 8-bit image, records those that hold.
  const confirm = async (pt: tf.Tensor4D, pred: Int32Array): Promise<number[]> => {
    if (loss.goal === 'none') return [];
    const hit = successOf(loss.goal, pred, ctx);
    const cand = ids.map((_, r) => r).filter((r) => hit[r] && !found.has(ids[r]));
    if (cand.length === 0) return [];
    const candCtx = subsetContext(ctx, cand);
    const candScore = subsetContext(scoreCtx, cand.map((r) => ids[r]));
    const xr = tf.tidy(() => roundTo8Bit(gatherRows(pt, cand), gatherRows(x0a, cand), eps, norm));
    const [pr, lv, sv] = tf.tidy((): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] => {
      const z = classifier.logits(xr);
      return [tf.argMax(z, 1), lossFn(z, candCtx), scoreFn(z, candScore)];
    });
    const [pa, la, sa, xa] = [await pr.data(), await lv.data(), await sv.data(), await xr.data() as Float32Array];
    tf.dispose([xr, pr, lv, sv]);
    for (const r of cand) p.queries[global[ids[r]]] += 1;
    const ok = successOf(loss.goal, pa, candCtx);
    const confirmed: number[] = [];
    cand.forEach((r, k) => {
      if (!ok[k]) return;
      found.set(ids[r], { x: xa.slice(k * per, (k + 1) * per), loss: la[k], score: sa[k] });
      confirmed.push(r);
    });
    return confirmed;
  };
  // Drops the rows of images that stopped.
  const compact = (gone: readonly number[]): void => {
    const drop = new Set(gone);
    const keep = ids.map((_, r) => r).filter((r) => !drop.has(r));
    const pick = <T extends tf.Tensor>(t: T): T => { const o = gatherRows(t, keep); t.dispose(); return o; };
    [x0a, x, xPrev, xMax, g, gMax] = [pick(x0a), pick(x), pick(xPrev), pick(xMax), pick(g), pick(gMax)];
    const sel = <A extends Float32Array | Int32Array>(a: A): A => a.filter((_, r) => !drop.has(r)) as A;
    [f, fMax, eta, fMaxLast] = [sel(f), sel(fMax), sel(eta), sel(fMaxLast)];
    count = sel(count);
    reducedLast = reducedLast.filter((_, r) => !drop.has(r));
    ids = keep.map((r) => ids[r]);
    ctx = subsetContext(ctx, keep);
  };

  try {
    const atStart = await confirm(x, ev.pred);
    if (s.earlyStop && atStart.length > 0) compact(atStart);
    for (let k = 0; k < s.steps && ids.length > 0; k++) {
      // A checkpoint closes the window (w_{j−1}, w_j]: halve the step where it stalled and go back to the best point.
      const window = windows.get(k);
      if (window !== undefined) {
        const halve = ids.map((_, r) => count[r] < s.rho * window || (!reducedLast[r] && fMax[r] === fMaxLast[r]));
        if (halve.some(Boolean)) {
          halve.forEach((h, r) => { if (h) { eta[r] /= 2; f[r] = fMax[r]; } });
          const [ox, og] = [x, g];
          [x, g] = tf.tidy(() => {
            const mask = rowMask(halve, ox.shape);
            return [tf.where<tf.Tensor4D>(mask, xMax, ox), tf.where<tf.Tensor4D>(mask, gMax, og)];
          });
          tf.dispose([ox, og]);
        }
        reducedLast = halve;
        fMaxLast = Float32Array.from(fMax);
        count.fill(0);
        s.onCheckpoint?.(k, halve, Float32Array.from(eta));
      }
      const etaNow = eta;
      const xNew = tf.tidy(() => {
        const z = project(ascentStep(x, g, tf.tensor1d(etaNow), norm), x0a, eps, norm);
        if (k === 0) return z;
        const moved = tf.add(tf.add(x, tf.mul(tf.sub(z, x), s.momentum)), tf.mul(tf.sub(x, xPrev), 1 - s.momentum));
        return project(moved as tf.Tensor4D, x0a, eps, norm);
      });
      const last = k === s.steps - 1;
      let next: Evaluation;
      try {
        next = await evaluate(xNew, ctx, ids, !last);
      } catch (err) {
        xNew.dispose();
        throw err;
      }
      for (const i of ids) stepsOut[i] += 1;
      const better = ids.map((_, r) => next.value[r] > fMax[r]);
      ids.forEach((_, r) => {
        if (next.value[r] > f[r]) count[r] += 1;
        if (better[r]) fMax[r] = next.value[r];
      });
      if (better.some(Boolean)) {
        const [om, og] = [xMax, gMax];
        [xMax, gMax] = tf.tidy(() => {
          const mask = rowMask(better, om.shape);
          return [tf.where<tf.Tensor4D>(mask, xNew, om), next.grad ? tf.where<tf.Tensor4D>(mask, next.grad, og) : og.clone()];
        });
        tf.dispose([om, og]);
      }
      xPrev.dispose(); g.dispose();
      xPrev = x; x = xNew; g = next.grad ?? tf.zerosLike(xNew);
      f = Float32Array.from(next.value);
      const hit = await confirm(xNew, next.pred);
      if (s.earlyStop && hit.length > 0) compact(hit);
      s.onProgress?.({ attack, step: k + 1, total: s.steps, active: ids.length, round });
    }

    // Each image still running ends at the better of its best point and its start, both rounded to 8 bits (a
    // rounded best point can lose a little, never below the start); an adversarial point found on the way wins.
    const outX = new Float32Array(m * per);
    const success = new Array<boolean>(m).fill(false);
    const score = new Float32Array(m);
    for (const [i, v] of found) {
      if (ids.includes(i)) continue;
      outX.set(v.x, i * per); success[i] = true; score[i] = v.score;
    }
    if (ids.length > 0) {
      const startRows = gatherRows(start, ids);
      const sc = subsetContext(scoreCtx, ids);
      const evalRounded = async (pt: tf.Tensor4D): Promise<{ x: Float32Array; pred: Int32Array; loss: Float32Array; score: Float32Array }> => {
        const xr = roundTo8Bit(pt, x0a, eps, norm);
        const [pr, lv, sv] = tf.tidy((): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] => {
          const z = classifier.logits(xr);
          return [tf.argMax(z, 1), lossFn(z, ctx), scoreFn(z, sc)];
        });
        const out = {
          x: Float32Array.from(await xr.data()), pred: Int32Array.from(await pr.data()),
          loss: Float32Array.from(await lv.data()), score: Float32Array.from(await sv.data()),
        };
        tf.dispose([xr, pr, lv, sv]);
        for (const i of ids) p.queries[global[i]] += 1;
        return out;
      };
      const a = await evalRounded(xMax);
      const b = await evalRounded(startRows);
      startRows.dispose();
      const okA = loss.goal === 'none' ? ids.map(() => false) : successOf(loss.goal, a.pred, ctx);
      const okB = loss.goal === 'none' ? ids.map(() => false) : successOf(loss.goal, b.pred, ctx);
      ids.forEach((i, r) => {
        const cands = [
          { x: a.x.subarray(r * per, (r + 1) * per), ok: okA[r], loss: a.loss[r], score: a.score[r] },
          { x: b.x.subarray(r * per, (r + 1) * per), ok: okB[r], loss: b.loss[r], score: b.score[r] },
        ];
        const fnd = found.get(i);
        if (fnd) cands.push({ x: fnd.x, ok: true, loss: fnd.loss, score: fnd.score });
        let pick = cands[0];
        for (const c of cands.slice(1)) if ((c.ok && !pick.ok) || (c.ok === pick.ok && c.loss > pick.loss)) pick = c;
        outX.set(pick.x, i * per); success[i] = pick.ok; score[i] = pick.score;
      });
    }
    const [, h, w, c] = x0.shape;
    return { x: tf.tensor4d(outX, [m, h, w, c]), success, score, steps: stepsOut };
  } finally {
    tf.dispose([start, ...state()]);
  }
}
