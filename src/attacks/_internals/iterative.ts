import * as tf from '../../tf.js';
import { predict, ascentStep, rowMask, checkFirstGradient, evaluate, finish, gatherRows, mergeRows, sanitize, valueAndGrad, type Prepared } from './engine.js';
import { subsetContext, successOf, type ObjectiveContext } from '../objectives.js';
import { perImage, project, roundTo8Bit } from '../threat.js';
import type { AttackProgress, AttackResult } from '../types.js';
import { imageKeys, subSeed } from './random.js';

/** How the step size changes over the steps of a run. */
export type StepSchedule =
  | 'constant'
  /** `α · ½(1 + cos(π t / T))`. */
  | 'cosine'
  /** `α · factor^⌊t / every⌋`. */
  | { kind: 'step'; every: number; factor: number };

export interface IterativeSettings {
  steps: number;
  stepSize: number;
  schedule: StepSchedule;
  randomStart: boolean;
  restarts: number;
  earlyStop: boolean;
  onProgress?: (p: AttackProgress) => void;
}

export function stepSizeAt(s: IterativeSettings, t: number): number {
  const sch = s.schedule;
  if (sch === 'constant') return s.stepSize;
  if (sch === 'cosine') return s.stepSize * 0.5 * (1 + Math.cos((Math.PI * t) / s.steps));
  return s.stepSize * Math.pow(sch.factor, Math.floor(t / sch.every));
}

/**
 * A random point of the threat model around `x0` (uniform in the L∞ box; uniform direction and radius for L2).
 * `seed` is one seed for the whole batch, or one per image (then each image's noise is its own stream, whatever
 * else is in the batch).
 */
export function randomStart(x0: tf.Tensor4D, eps: number, norm: 'linf' | 'l2', seed: number | readonly number[], maxL2 = Number.POSITIVE_INFINITY): tf.Tensor4D {
  return tf.tidy(() => {
    const one = (shape: [number, number, number, number], s: number): tf.Tensor4D => {
      if (norm === 'linf') return tf.randomUniform<tf.Rank.R4>(shape, -eps, eps, 'float32', s);
      const g = tf.randomNormal(shape, 0, 1, 'float32', s);
      const n = tf.sqrt(tf.sum(tf.square(g), [1, 2, 3]));
      const radius = tf.mul(tf.randomUniform([shape[0]], 0, 1, 'float32', s + 1), eps);
      return tf.mul<tf.Tensor4D>(tf.div(g, perImage(tf.maximum<tf.Tensor1D>(n, 1e-12))), perImage(radius as tf.Tensor1D));
    };
    const [m, h, w, c] = x0.shape;
    const noise = typeof seed === 'number' ? one([m, h, w, c], seed) : tf.concat(seed.map((s) => one([1, h, w, c], s)));
    return project(tf.add(x0, noise), x0, eps, norm, maxL2);
  });
}

/**
 * Projected gradient ascent with restarts (FGSM is one step of it without a random start). Each restart runs
 * only on the images that have not succeeded yet; per image the best result is kept (success first, then
 * the higher objective on the rounded image).
 */
export async function runIterative(attack: string, p: Prepared, s: IterativeSettings): Promise<AttackResult> {
  const goal = p.objective.goal;
  const stopsEarly = s.earlyStop && goal !== 'none';
  const steps = new Int32Array(p.n);
  let best = roundTo8Bit(p.x0, p.x0, p.epsilon, p.norm);
  // Images the clean model already gets "wrong" for the goal need no attack.
  const bestSuccess = goal === 'none' ? new Array<boolean>(p.n).fill(false) : successOf(goal, p.cleanPredictions, p.ctx);
  const bestObjective = new Float32Array(p.n).fill(Number.NEGATIVE_INFINITY);
  const runs: number[] = [];
  // Per-image seeds keyed by the image itself: a batch split over workers starts from the same points.
  const keys = s.randomStart ? imageKeys(await p.x0.data() as Float32Array, p.n) : new Uint32Array(p.n);
  for (let round = 0; round < s.restarts; round++) {
    // Without a success criterion every image takes part in every restart.
    const todo = Array.from({ length: p.n }, (_, i) => i).filter((i) => goal === 'none' || !bestSuccess[i]);
    if (todo.length === 0) break;
    runs.push(todo.length);
    const x0 = gatherRows(p.x0, todo);
    const roundSeed = subSeed(p.seed, round);
    const once = await runOnce(attack, p, s, x0, subsetContext(p.ctx, todo), todo, todo.map((i) => subSeed(roundSeed, keys[i])), round, stopsEarly);
    x0.dispose();
    const better: number[] = []; const betterIdx: number[] = [];
    todo.forEach((img, k) => {
      steps[img] += once.steps[k];
      const ok = goal === 'none' ? false : once.success[k];
      if ((ok && !bestSuccess[img]) || (ok === bestSuccess[img] && once.objective[k] > bestObjective[img])) {
        better.push(k); betterIdx.push(img);
        bestSuccess[img] = ok; bestObjective[img] = once.objective[k]!;
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
  return finish(attack, p, best, steps, { restartsRun: runs.length, imagesPerRestart: runs });
}

/** One run from a (random) start; returns rounded images, their success and objective. */
async function runOnce(
  attack: string, p: Prepared, s: IterativeSettings, x0: tf.Tensor4D, ctx: ObjectiveContext, global: number[],
  seeds: readonly number[], round: number, stopsEarly: boolean,
): Promise<{ x: tf.Tensor4D; success: boolean[]; objective: Float32Array; steps: Int32Array }> {
  const m = x0.shape[0];
  const { classifier, objective, epsilon: eps, norm, maxL2 } = p;
  let x = s.randomStart ? randomStart(x0, eps, norm, seeds, maxL2) : x0.clone();
  const steps = new Int32Array(m);
  const stopped = new Array<boolean>(m).fill(false);
  let active = Array.from({ length: m }, (_, i) => i);
  for (let t = 0; t < s.steps && active.length > 0; t++) {
    const all = active.length === m;
    const xa = all ? x : gatherRows(x, active);
    const x0a = all ? x0 : gatherRows(x0, active);
    const ctxa = all ? ctx : subsetContext(ctx, active);
    const { value, grad } = valueAndGrad(classifier, objective, xa, ctxa);
    value.dispose();
    for (const k of active) { p.queries[global[k]] += 1; steps[k] += 1; }
    if (t === 0 && round === 0) {
      try {
        await checkFirstGradient(p, attack, xa, grad, active.map((k) => global[k]));
      } catch (err) {
        grad.dispose(); x.dispose();
        if (!all) { xa.dispose(); x0a.dispose(); }
        throw err;
      }
    }
    let xNew = tf.tidy(() => project(ascentStep(xa, sanitize(grad), stepSizeAt(s, t), norm), x0a, eps, norm, maxL2));
    grad.dispose();
    if (stopsEarly) {
      const xr = roundTo8Bit(xNew, x0a, eps, norm, maxL2);
      const pred = await predict(classifier, xr);
      for (const k of active) p.queries[global[k]] += 1;
      const ok = successOf(objective.goal, pred, ctxa);
      if (ok.some(Boolean)) {
        // A stopped image is kept as the rounded image that succeeded, so rounding it again changes nothing.
        const prev = xNew;
        const kept = tf.tidy(() => tf.where(rowMask(ok, prev.shape), xr, prev));
        xNew.dispose();
        xNew = kept;
        ok.forEach((b, j) => { if (b) stopped[active[j]] = true; });
      }
      xr.dispose();
    }
    const merged = all ? xNew : mergeRows(x, active, xNew);
    if (!all) { xa.dispose(); x0a.dispose(); xNew.dispose(); }
    x.dispose();
    x = merged;
    active = active.filter((k) => !stopped[k]);
    s.onProgress?.({ attack, step: t + 1, total: s.steps, active: active.length, round });
  }
  const xr = roundTo8Bit(x, x0, eps, norm, maxL2);
  x.dispose();
  const ev = await evaluate(classifier, objective, xr, ctx);
  for (let k = 0; k < m; k++) p.queries[global[k]] += ev.passes;
  return { x: xr, success: successOf(objective.goal, ev.predictions, ctx), objective: ev.objective, steps };
}
