import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { finish, prepare, type Prepared } from './_internals/engine.js';
import { Prng, imageKeys, subSeed } from './_internals/random.js';
import { checkInt, checkNumber } from './_internals/validate.js';
import { subsetContext, successOf } from './objectives.js';
import { roundTo8Bit } from './threat.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

/** Options for {@link square}. */
export interface SquareOptions extends AttackOptionsBase {
  /** Query budget per image (model evaluations of the search, the first one included). @defaultValue 1000 */
  queries?: number;
  /** Starting fraction of pixels changed per query; halved on the schedule of the paper. @defaultValue 0.05 */
  pInit?: number;
}

/**
 * Square Attack, L∞ (Andriushchenko et al. 2020): a score-based random search that only calls
 * `classifier.logits`. It starts from vertical stripes of ±ε and proposes, per image and query, a random
 * square window set to ±ε per channel, keeping it when the objective improves. Works on models without
 * gradients. The perturbation uses whole 8-bit steps (⌊255·ε⌋/255), so every candidate is an 8-bit image
 * and success is judged on exactly what is saved.
 *
 * @example
 * const r = await square(clf, images, labels, { epsilon: '8/255', queries: 2000, seed: 1 });
 */
export async function square(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: SquareOptions = {}): Promise<AttackResult> {
  if (options.norm !== undefined && options.norm !== 'linf') {
    throw usageError(`square implements the L∞ threat model only; norm '${options.norm}' is not supported`, { path: 'norm', hint: "set norm: 'linf', or use pgd/cw for L2" });
  }
  const budget = checkInt(options.queries ?? 1000, 'queries', 1);
  const pInit = checkNumber(options.pInit ?? 0.05, 'pInit', { min: 0, max: 1, minExclusive: true });
  const p = await prepare('square', classifier, x, labels, options, { objective: { kind: 'margin' }, norms: ['linf'] });
  if (!p.objective.fromLogits) {
    throw usageError(`square only sees logits, but objective '${p.objective.name}' needs more than logits`, {
      path: 'objective.kind', hint: "use objective kind 'margin' or 'ce', or a gradient attack (pgd) for the unit objective",
    });
  }
  return runSquare(p, budget, pInit, options.onProgress);
}

/** The fraction of pixels to change at query `it` of `budget`: the schedule of the reference code. */
export function squareFraction(pInit: number, it: number, budget: number): number {
  const i = Math.floor((it / budget) * 10000);
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let k = 0;
  while (k < cuts.length && i > cuts[k]) k++;
  return pInit / Math.pow(2, k);
}

async function runSquare(p: Prepared, budget: number, pInit: number, onProgress: AttackOptionsBase['onProgress']): Promise<AttackResult> {
  const { classifier, objective, n, ctx } = p;
  const fromLogits = objective.fromLogits!;
  const [, h, w, ch] = p.x0.shape;
  const per = h * w * ch;
  const x0 = await p.x0.data() as Float32Array;
  const eps = Math.floor(p.epsilon * 255 + 1e-4) / 255;
  const steps = new Int32Array(n);
  if (eps === 0) {
    p.warnings.push(`square: ε = ${p.epsilon} is below one 8-bit step (1/255), so no 8-bit image differs from the input within the ball`);
    return finish('square', p, roundTo8Bit(p.x0, p.x0, p.epsilon, 'linf'), steps);
  }
  // One stream per image, keyed by the image: a batch split over workers draws the same windows and signs.
  const keys = imageKeys(x0, n);
  const rngs = Array.from(keys, (key) => new Prng(subSeed(p.seed, key)));
  const clip = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
  // Vertical stripes: one sign per image, column and channel.
  const delta = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const rng = rngs[i];
    for (let col = 0; col < w; col++) {
      for (let c = 0; c < ch; c++) {
        const v = rng.sign() * eps;
        for (let row = 0; row < h; row++) delta[i * per + (row * w + col) * ch + c] = v;
      }
    }
  }
  // Images whose clean prediction already meets the goal are left as they are.
  const cleanDone = objective.goal === 'none' ? new Array<boolean>(n).fill(false) : successOf(objective.goal, p.cleanPredictions, ctx);
  for (let i = 0; i < n; i++) if (cleanDone[i]) delta.fill(0, i * per, (i + 1) * per);
  const xCur = new Float32Array(n * per);
  for (let j = 0; j < xCur.length; j++) xCur[j] = clip(x0[j] + delta[j]);

  const score = async (rows: Float32Array, idx: number[]): Promise<{ obj: Float32Array; pred: Int32Array }> => {
    const sub = subsetContext(ctx, idx);
    const [o, pr] = tf.tidy<[tf.Tensor1D, tf.Tensor]>(() => {
      const logits = classifier.logits(tf.tensor4d(rows, [idx.length, h, w, ch]));
      return [fromLogits(logits, sub), tf.argMax(logits, 1)];
    });
    const out = { obj: Float32Array.from(await o.data()), pred: Int32Array.from(await pr.data()) };
    o.dispose(); pr.dispose();
    for (const i of idx) p.queries[i] += 1;
    return out;
  };

  const all = Array.from({ length: n }, (_, i) => i);
  const first = await score(xCur, all);
  const objCur = first.obj;
  const done = successOf(objective.goal, first.pred, ctx).map((ok) => ok && objective.goal !== 'none');
  for (const i of all) steps[i] = 1;

  const side = Math.min(h, w);
  for (let it = 1; it < budget; it++) {
    const active = all.filter((i) => !done[i]);
    if (active.length === 0) break;
    const frac = squareFraction(pInit, it, budget);
    const s = Math.min(Math.max(Math.round(Math.sqrt(frac * h * w)), 1), side - 1 || 1);
    const cand = new Float32Array(active.length * per);
    const candDelta = new Float32Array(active.length * per);
    active.forEach((img, k) => {
      cand.set(xCur.subarray(img * per, (img + 1) * per), k * per);
      candDelta.set(delta.subarray(img * per, (img + 1) * per), k * per);
      const rng = rngs[img];
      const r0 = rng.int(h - s + 1);
      const c0 = rng.int(w - s + 1);
      // Redraw the window's signs until the window actually changes (as the reference code does).
      for (let attempt = 0; attempt < 10; attempt++) {
        let changed = false;
        for (let c = 0; c < ch; c++) {
          const v = rng.sign() * eps;
          for (let row = r0; row < r0 + s; row++) {
            for (let col = c0; col < c0 + s; col++) {
              const j = (row * w + col) * ch + c;
              const nv = clip(x0[img * per + j] + v);
              if (Math.abs(nv - xCur[img * per + j]) > 1e-7) changed = true;
              candDelta[k * per + j] = v;
              cand[k * per + j] = nv;
            }
          }
        }
        if (changed) break;
      }
    });
    const res = await score(cand, active);
    const ok = successOf(objective.goal, res.pred, subsetContext(ctx, active));
    active.forEach((img, k) => {
      steps[img] += 1;
      const success = ok[k] && objective.goal !== 'none';
      if (res.obj[k] > objCur[img] || success) {
        xCur.set(cand.subarray(k * per, (k + 1) * per), img * per);
        delta.set(candDelta.subarray(k * per, (k + 1) * per), img * per);
        objCur[img] = res.obj[k]!;
        if (success) done[img] = true;
      }
    });
    onProgress?.({ attack: 'square', step: it + 1, total: budget, active: active.length, round: 0 });
  }
  const adversarial = tf.tidy(() => roundTo8Bit(tf.tensor4d(xCur, [n, h, w, ch]), p.x0, p.epsilon, 'linf'));
  return finish('square', p, adversarial, steps);
}
