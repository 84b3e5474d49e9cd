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
  /**
   * Scale the schedule's halving points (queries 10, 50, 200, 500, 1,000, 2,000, 4,000, 6,000 and 8,000 of 10,000) to
   * the budget, as the reference Square code does by default; `false` applies them to the query count as it is, as
   * AutoAttack runs Square (`resc_schedule=False`: with 5,000 queries the fraction ends at pInit / 128).
   * @defaultValue true
   */
  rescaleSchedule?: boolean;
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
  const rescale = options.rescaleSchedule ?? true;
  if (typeof rescale !== 'boolean') throw usageError(`rescaleSchedule must be true or false, got ${String(rescale)}`, { path: 'rescaleSchedule' });
  const p = await prepare('square', classifier, x, labels, options, { objective: { kind: 'margin' }, norms: ['linf'] });
  if (!p.objective.fromLogits) {
    throw usageError(`square only sees logits, but objective '${p.objective.name}' needs more than logits`, {
      path: 'objective.kind', hint: "use objective kind 'margin' or 'ce', or a gradient attack (pgd) for the unit objective",
    });
  }
  return runSquare(p, { budget, pInit, rescale, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
}

/**
 * The fraction of pixels to change at query `it` of `budget`: the schedule of the reference code, its halving points
 * scaled from 10,000 queries to `budget` (`rescale`, the default) or taken as they are (AutoAttack's Square).
 */
export function squareFraction(pInit: number, it: number, budget: number, rescale = true): number {
  const i = rescale ? Math.floor((it / budget) * 10000) : it;
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let k = 0;
  while (k < cuts.length && i > cuts[k]) k++;
  return pInit / Math.pow(2, k);
}

/** What one Square run does, fully resolved. */
interface SquareSettings {
  budget: number;
  pInit: number;
  rescale: boolean;
  onProgress?: AttackOptionsBase['onProgress'];
}

async function runSquare(p: Prepared, s: SquareSettings): Promise<AttackResult> {
  const eps = Math.floor(p.epsilon * 255 + 1e-4) / 255;
  if (eps === 0) {
    p.warnings.push(`square: ε = ${p.epsilon} is below one 8-bit step (1/255), so no 8-bit image differs from the input within the ball`);
    return finish('square', p, roundTo8Bit(p.x0, p.x0, p.epsilon, 'linf'), new Int32Array(p.n));
  }
  const run = new SquareRun(p, eps, await p.x0.data() as Float32Array);
  await run.begin();
  for (let it = 1; it < s.budget; it++) {
    const active = run.active();
    if (active.length === 0) break;
    // The reference's iteration index counts from 0 at the first proposal; the rescaled schedule keeps its own.
    const frac = squareFraction(s.pInit, s.rescale ? it : it - 1, s.budget, s.rescale);
    await run.query(active, frac);
    s.onProgress?.({ attack: 'square', step: it + 1, total: s.budget, active: active.length, round: 0 });
  }
  const [, h, w, ch] = p.x0.shape;
  const adversarial = tf.tidy(() => roundTo8Bit(tf.tensor4d(run.xCur, [p.n, h, w, ch]), p.x0, p.epsilon, 'linf'));
  return finish('square', p, adversarial, run.steps);
}

/**
 * The state of one Square run over all images: per image its current perturbation (whole 8-bit steps of ±ε), the
 * image it gives, the objective there, and whether it is done (succeeded, or misclassified before the attack).
 */
class SquareRun {
  readonly steps: Int32Array;
  readonly xCur: Float32Array;
  private readonly delta: Float32Array;
  private objCur: Float32Array = new Float32Array(0);
  private done: boolean[] = [];
  private readonly rngs: Prng[];
  private readonly shape: [number, number, number];
  private readonly per: number;

  constructor(private readonly p: Prepared, private readonly eps: number, private readonly x0: Float32Array) {
    const [, h, w, ch] = p.x0.shape;
    this.shape = [h, w, ch];
    this.per = h * w * ch;
    this.steps = new Int32Array(p.n);
    // One stream per image, keyed by the image: a batch split over workers draws the same windows and signs.
    this.rngs = Array.from(imageKeys(x0, p.n), (key) => new Prng(subSeed(p.seed, key)));
    this.delta = this.stripes();
    this.xCur = new Float32Array(p.n * this.per);
    for (let j = 0; j < this.xCur.length; j++) this.xCur[j] = clip01(x0[j] + this.delta[j]);
  }

  /** Vertical stripes: one sign per image, column and channel; none on images whose clean prediction already meets the goal. */
  private stripes(): Float32Array {
    const { p, per, eps } = this;
    const [h, w, ch] = this.shape;
    const delta = new Float32Array(p.n * per);
    const cleanDone = p.objective.goal === 'none' ? new Array<boolean>(p.n).fill(false) : successOf(p.objective.goal, p.cleanPredictions, p.ctx);
    for (let i = 0; i < p.n; i++) {
      const rng = this.rngs[i];
      for (let col = 0; col < w; col++) {
        for (let c = 0; c < ch; c++) {
          const v = rng.sign() * eps;
          for (let row = 0; row < h; row++) delta[i * per + (row * w + col) * ch + c] = v;
        }
      }
      if (cleanDone[i]) delta.fill(0, i * per, (i + 1) * per);
    }
    return delta;
  }

  /** The first query: the objective at the start, and the images it already breaks. */
  async begin(): Promise<void> {
    const { p } = this;
    const all = Array.from({ length: p.n }, (_, i) => i);
    const first = await this.score(this.xCur, all);
    this.objCur = first.obj;
    this.done = successOf(p.objective.goal, first.pred, p.ctx).map((ok) => ok && p.objective.goal !== 'none');
    this.steps.fill(1);
  }

  /** Images still searching. */
  active(): number[] {
    return this.done.flatMap((d, i) => (d ? [] : [i]));
  }

  /** One query per active image: a random window of side √(frac·h·w) set to ±ε per channel, kept when it helps. */
  async query(active: readonly number[], frac: number): Promise<void> {
    const { p, per } = this;
    const [h, w] = this.shape;
    const side = Math.min(h, w);
    const sq = Math.min(Math.max(Math.round(Math.sqrt(frac * h * w)), 1), side - 1 || 1);
    const cand = new Float32Array(active.length * per);
    const candDelta = new Float32Array(active.length * per);
    active.forEach((img, k) => this.propose(img, k, sq, cand, candDelta));
    const res = await this.score(cand, active);
    const ok = successOf(p.objective.goal, res.pred, subsetContext(p.ctx, active));
    active.forEach((img, k) => {
      this.steps[img] += 1;
      const success = ok[k] && p.objective.goal !== 'none';
      if (res.obj[k] > this.objCur[img] || success) {
        this.xCur.set(cand.subarray(k * per, (k + 1) * per), img * per);
        this.delta.set(candDelta.subarray(k * per, (k + 1) * per), img * per);
        this.objCur[img] = res.obj[k];
        if (success) this.done[img] = true;
      }
    });
  }

  /** Row k of `cand`/`candDelta`: image `img`'s current point with a random s×s window set to x₀ ± ε (one sign per channel). */
  private propose(img: number, k: number, s: number, cand: Float32Array, candDelta: Float32Array): void {
    const { per, eps, x0, xCur } = this;
    const [h, w, ch] = this.shape;
    cand.set(xCur.subarray(img * per, (img + 1) * per), k * per);
    candDelta.set(this.delta.subarray(img * per, (img + 1) * per), k * per);
    const rng = this.rngs[img];
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
            const nv = clip01(x0[img * per + j] + v);
            if (Math.abs(nv - xCur[img * per + j]) > 1e-7) changed = true;
            candDelta[k * per + j] = v;
            cand[k * per + j] = nv;
          }
        }
      }
      if (changed) break;
    }
  }

  /** The objective and predictions of `rows` (images `idx`), one forward pass. */
  private async score(rows: Float32Array, idx: readonly number[]): Promise<{ obj: Float32Array; pred: Int32Array }> {
    const { p } = this;
    const sub = subsetContext(p.ctx, idx);
    const fromLogits = p.objective.fromLogits!;
    const [o, pr] = tf.tidy<[tf.Tensor1D, tf.Tensor]>(() => {
      const logits = p.classifier.logits(tf.tensor4d(rows, [idx.length, ...this.shape]));
      return [fromLogits(logits, sub), tf.argMax(logits, 1)];
    });
    const out = { obj: Float32Array.from(await o.data()), pred: Int32Array.from(await pr.data()) };
    o.dispose(); pr.dispose();
    for (const i of idx) p.queries[i] += 1;
    return out;
  }
}

function clip01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
