import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import {
  checkFirstGradient, finish, gatherRows, mergeRows, predict, prepare, sanitize, type Prepared,
} from './_internals/engine.js';
import { checkInt, checkNumber } from './_internals/validate.js';
import { successOf } from './objectives.js';
import { perImageL2, roundTo8Bit } from './threat.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

/** Options for {@link cw}. */
export interface CwOptions extends AttackOptionsBase {
  /**
   * Optional cap on the L2 norm: an image counts as a success only within it. C&W itself minimises the
   * norm. @defaultValue Infinity (no cap)
   */
  epsilon?: number | string;
  /** Adam steps per binary-search round. @defaultValue 100 */
  steps?: number;
  /** Binary-search rounds over the constant c (per image). @defaultValue 5 */
  binarySteps?: number;
  /** Starting constant c that weighs the objective against ‖δ‖². @defaultValue 1 */
  initialConst?: number;
  /** Adam learning rate in tanh space. @defaultValue 0.01 */
  learningRate?: number;
  /**
   * κ: the objective counts only up to κ, so the attack stops pushing once the margin reaches it. Higher κ
   * gives more confident (and larger) perturbations. @defaultValue 0
   */
  confidence?: number;
}

/**
 * Carlini–Wagner L2 attack (2017), the attack of the PNAS unit-role experiment: minimise
 * `‖x − x0‖² − c · min(objective, κ)` over `x = (tanh(w) + 1) / 2` (so x stays in the box) with Adam, and
 * binary-search c per image. Every candidate is rounded to 8 bits before it is judged, so the smallest
 * rounded image that meets the goal is returned; images never fooled come back unchanged.
 *
 * @example
 * const r = await cw(clf, images, labels, { objective: { kind: 'margin', target: 'bedroom' }, steps: 200 });
 */
export async function cw(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: CwOptions = {}): Promise<AttackResult> {
  if (options.norm !== undefined && options.norm !== 'l2') {
    throw usageError(`cw is an L2 attack; norm '${options.norm}' is not supported`, { path: 'norm', hint: "omit norm or set it to 'l2'; use pgd for L∞" });
  }
  const steps = checkInt(options.steps ?? 100, 'steps', 1);
  const binarySteps = checkInt(options.binarySteps ?? 5, 'binarySteps', 1);
  const initialConst = checkNumber(options.initialConst ?? 1, 'initialConst', { min: 0, minExclusive: true });
  const learningRate = checkNumber(options.learningRate ?? 0.01, 'learningRate', { min: 0, minExclusive: true });
  const confidence = checkNumber(options.confidence ?? 0, 'confidence', { min: 0 });
  const p = await prepare('cw', classifier, x, labels, { ...options, norm: 'l2' }, {
    objective: { kind: 'margin' }, norms: ['l2'], epsilonOptional: true,
  });
  if (p.objective.goal === 'none') {
    throw usageError(`cw needs an objective with a success criterion; '${p.objective.name}' has none`, {
      path: 'objective.target', hint: 'give the unit objective a target class, or use pgd for the pure unit attack',
    });
  }
  return runCw(p, { steps, binarySteps, initialConst, learningRate, confidence, onProgress: options.onProgress });
}

interface CwSettings {
  steps: number; binarySteps: number; initialConst: number; learningRate: number; confidence: number;
  onProgress: AttackOptionsBase['onProgress'];
}

async function runCw(p: Prepared, s: CwSettings): Promise<AttackResult> {
  const { classifier, objective, x0, n, ctx, epsilon } = p;
  const c = new Float32Array(n).fill(s.initialConst);
  const lower = new Float64Array(n);
  const upper = new Float64Array(n).fill(1e10);
  const bestL2 = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let best = roundTo8Bit(x0, x0, epsilon, 'l2');
  const stepsDone = new Int32Array(n);
  const w0 = tf.tidy(() => tf.atanh(tf.clipByValue(tf.sub(tf.mul(x0, 2), 1), -1 + 1e-6, 1 - 1e-6)));
  const toX = (w: tf.Tensor): tf.Tensor4D => tf.tidy(() => tf.div<tf.Tensor4D>(tf.add(tf.tanh(w), 1), 2));
  const [b1, b2, adamEps] = [0.9, 0.999, 1e-8];
  const all = Array.from({ length: n }, (_, i) => i);

  for (let round = 0; round < s.binarySteps; round++) {
    const cT = tf.tensor1d(c);
    let w = w0.clone();
    let m = tf.zerosLike(w);
    let v = tf.zerosLike(w);
    const succeeded = new Array<boolean>(n).fill(false);
    for (let t = 0; t < s.steps; t++) {
      const grad = tf.tidy(() => tf.grad((wv: tf.Tensor) => {
        const xv = toX(wv);
        const dist = tf.sum(tf.square(tf.sub(xv, x0)), [1, 2, 3]);
        const obj = tf.minimum(objective.loss(classifier, xv, ctx), s.confidence);
        return tf.sub(dist, tf.mul(cT, obj));
      })(w));
      if (round === 0 && t === 0) {
        const xs = toX(w);
        try { await checkFirstGradient(p, 'cw', xs, grad as tf.Tensor4D, all); } finally { xs.dispose(); }
      }
      const lrT = (s.learningRate * Math.sqrt(1 - Math.pow(b2, t + 1))) / (1 - Math.pow(b1, t + 1));
      const [m2, v2, w2] = tf.tidy<[tf.Tensor, tf.Tensor, tf.Tensor]>(() => {
        const g = sanitize(grad as tf.Tensor4D);
        const mn = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vn = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        return [mn, vn, tf.sub(w, tf.div(tf.mul(mn, lrT), tf.add(tf.sqrt(vn), adamEps)))];
      });
      grad.dispose(); m.dispose(); v.dispose(); w.dispose();
      [m, v, w] = [m2, v2, w2];

      // Judge the rounded image: it is what would be saved.
      const xr = tf.tidy(() => roundTo8Bit(toX(w), x0, epsilon, 'l2'));
      const pred = await predict(classifier, xr);
      const l2T = tf.tidy(() => perImageL2(tf.sub(xr, x0)));
      const l2 = await l2T.data();
      l2T.dispose();
      const ok = successOf(objective.goal, pred, ctx);
      const improved: number[] = [];
      for (let i = 0; i < n; i++) {
        p.queries[i] += 2; stepsDone[i] += 1;
        if (ok[i] && l2[i] <= epsilon * (1 + 1e-6)) {
          succeeded[i] = true;
          if (l2[i] < bestL2[i]) { bestL2[i] = l2[i]!; improved.push(i); }
        }
      }
      if (improved.length > 0) {
        const rows = gatherRows(xr, improved);
        const merged = mergeRows(best, improved, rows);
        rows.dispose(); best.dispose();
        best = merged;
      }
      xr.dispose();
      s.onProgress?.({ attack: 'cw', step: t + 1, total: s.steps, active: n, round });
    }
    cT.dispose(); w.dispose(); m.dispose(); v.dispose();
    for (let i = 0; i < n; i++) {
      if (succeeded[i]) {
        upper[i] = Math.min(upper[i], c[i]);
        c[i] = (lower[i] + upper[i]) / 2;
      } else {
        lower[i] = Math.max(lower[i], c[i]);
        c[i] = upper[i] < 1e9 ? (lower[i] + upper[i]) / 2 : c[i] * 10;
      }
    }
  }
  w0.dispose();
  return finish('cw', p, best, stepsDone, {
    l2: Array.from(bestL2),
    constants: Array.from(upper, (u) => (u < 1e9 ? u : Number.NaN)),
  });
}
