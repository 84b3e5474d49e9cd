import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { runApgdRounds, type ApgdRound, type ApgdSettings } from './_internals/apgd.js';
import { prepare, type Prepared } from './_internals/engine.js';
import { checkInt, checkNumber } from './_internals/validate.js';
import { buildObjective, dlrMinClasses, dlrObjective, type ObjectiveSpec } from './objectives.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

export { apgdCheckpoints } from './_internals/apgd.js';

/** Options for {@link apgd}. */
export interface ApgdOptions extends AttackOptionsBase {
  /** Iterations per run (N_iter of the paper). @defaultValue 100 */
  steps?: number;
  /** Runs from different random starts; each runs only on the images not yet broken. @defaultValue 1 */
  restarts?: number;
  /** Start from a uniformly random point of the threat model (seeded). @defaultValue true */
  randomStart?: boolean;
  /**
   * APGD-T: run the targeted DLR loss once for each of the `targetClasses` classes with the highest clean logits
   * after the true one (capped at classes − 1), each only on the images the earlier targets did not break. Success is
   * any misclassification. `objective` must be unset. @defaultValue unset (one loss, from `objective`)
   */
  targetClasses?: number;
  /**
   * Gradients averaged per step, each from its own pass (expectation over transformation), for models that draw
   * random numbers in their forward pass. @defaultValue 1
   */
  eot?: number;
  /** Condition 1 of the step-size rule: halve when fewer than this share of the steps since the last checkpoint raised the loss. @defaultValue 0.75 */
  rho?: number;
  /** Weight of the new gradient step against the previous move (α of the paper). @defaultValue 0.75 */
  momentum?: number;
  /** Stop an image at the first point whose 8-bit rounding meets the goal. @defaultValue true */
  earlyStop?: boolean;
}

/**
 * Auto-PGD (Croce & Hein, ICML 2020): PGD without a step size to tune. The step starts at 2ε and is halved at the
 * checkpoints w_j = ⌈p_j·N⌉ (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) of an image whose
 * loss rose on fewer than 75% of the steps since the last checkpoint, or whose step size and best loss have not
 * changed since then; halving restarts the image from its best point. Each step mixes the projected gradient step
 * with the previous move (momentum 0.75). Per image it keeps the best point and the first adversarial point found
 * (early stop); it never returns a loss below that of its start. L∞ (signed steps) and L2 (normalised steps).
 *
 * The loss comes from `objective` — cross-entropy (APGD-CE, the default), DLR (APGD-DLR) or margin, targeted when the
 * objective names a target — or, with `targetClasses`, the targeted DLR loss over the most likely other classes
 * (APGD-T). DLR needs 3 classes (4 targeted); with fewer, APGD falls back to cross-entropy and says so in `warnings`.
 *
 * @example
 * const r = await apgd(clf, images, labels, { epsilon: '8/255', objective: { kind: 'ce' } });           // APGD-CE
 * const t = await apgd(clf, images, labels, { epsilon: '8/255', targetClasses: 9 });                    // APGD-T
 */
export async function apgd(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: ApgdOptions = {}): Promise<AttackResult> {
  const settings = resolveSettings(options);
  const { steps, restarts, eot } = settings;
  const k = classifier.classNames.length;
  if (k < 2) {
    throw usageError(`model '${classifier.name}' has a single output, so no image can be misclassified`, {
      path: 'model', hint: 'give the model one logit per class (a binary model as two logits, e.g. [0, z])',
    });
  }
  const targeted = options.targetClasses !== undefined;
  if (targeted) {
    checkInt(options.targetClasses, 'targetClasses', 1);
    if (options.objective !== undefined) {
      throw usageError('targetClasses runs the targeted DLR loss over the most likely classes, so objective must be unset', {
        path: 'objective', hint: "drop objective, or drop targetClasses and set objective: { kind: 'dlr', target } for one target",
      });
    }
  }
  const warnings: string[] = [];
  const spec = lossSpec(classifier, options.objective ?? { kind: 'ce' }, targeted, warnings);
  const name = targeted ? 'apgd-t' : `apgd-${spec.kind}`;
  // APGD-T compares its targets by the untargeted DLR (or margin, when DLR is undefined) of the 8-bit images.
  const scoreSpec: ObjectiveSpec = targeted ? { kind: k >= dlrMinClasses(false) ? 'dlr' : 'margin' } : spec;
  const p = await prepare(name, classifier, x, labels, { ...options, objective: scoreSpec }, { objective: scoreSpec });
  p.warnings.push(...warnings);
  if (!targeted) {
    const rounds: ApgdRound[] = Array.from({ length: restarts }, () => ({ loss: p.objective, targets: null }));
    return runApgdRounds(name, p, settings, rounds, { loss: p.objective.name, steps, restarts, eot });
  }
  const count = Math.min(options.targetClasses!, k - 1);
  const ranked = await rankedClasses(p, classifier);
  // The targeted DLR needs 4 classes (π4); with fewer, targeted cross-entropy aims at the same classes.
  const lossObj = k >= dlrMinClasses(true) ? dlrObjective(true, 'untargeted') : targetedCe(classifier);
  if (k < dlrMinClasses(true)) {
    p.warnings.push(`the targeted DLR loss needs at least 4 classes and model '${classifier.name}' has ${k}: APGD-T used the targeted cross-entropy loss instead`);
  }
  const rounds: ApgdRound[] = [];
  for (let t = 1; t <= count; t++) {
    const targets = Int32Array.from({ length: p.n }, (_, i) => ranked[i][t]);
    for (let r = 0; r < restarts; r++) rounds.push({ loss: lossObj, targets });
  }
  return runApgdRounds(name, p, settings, rounds, { loss: lossObj.name, steps, restarts, eot, targetClasses: count });
}

/** The run settings of `options`, checked, with their defaults. */
function resolveSettings(options: ApgdOptions): ApgdSettings {
  const steps = checkInt(options.steps ?? 100, 'steps', 1);
  const restarts = checkInt(options.restarts ?? 1, 'restarts', 1);
  const randomStart = options.randomStart ?? true;
  if (typeof randomStart !== 'boolean') throw usageError(`randomStart must be true or false, got ${String(randomStart)}`, { path: 'randomStart' });
  if (restarts > 1 && !randomStart) {
    throw usageError(`restarts is ${restarts} but randomStart is false, so every restart would repeat the first`, {
      path: 'restarts', hint: 'set randomStart: true or restarts: 1',
    });
  }
  const eot = checkInt(options.eot ?? 1, 'eot', 1, 1000);
  const rho = checkNumber(options.rho ?? 0.75, 'rho', { min: 0, max: 1, minExclusive: true });
  const momentum = checkNumber(options.momentum ?? 0.75, 'momentum', { min: 0, max: 1, minExclusive: true });
  const earlyStop = options.earlyStop ?? true;
  if (typeof earlyStop !== 'boolean') throw usageError(`earlyStop must be true or false, got ${String(earlyStop)}`, { path: 'earlyStop' });
  return { steps, restarts, randomStart, rho, momentum, eot, earlyStop, ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
}

/** The loss of an untargeted-by-objective run (DLR falls back to cross-entropy, with a warning, on too few classes). */
function lossSpec(classifier: Classifier, spec: ObjectiveSpec, targeted: boolean, warnings: string[]): ObjectiveSpec {
  const k = classifier.classNames.length;
  let out = spec;
  if (!targeted && spec.kind === 'dlr' && k < dlrMinClasses(spec.target !== undefined)) {
    warnings.push(`the ${spec.target !== undefined ? 'targeted ' : ''}DLR loss needs at least ${dlrMinClasses(spec.target !== undefined)} classes and model '${classifier.name}' has ${k}: `
      + 'APGD used the cross-entropy loss instead');
    out = { kind: 'ce', ...(spec.target !== undefined ? { target: spec.target } : {}) };
  }
  const probe = buildObjective(classifier, out);
  if (!probe.fromLogits) {
    throw usageError(`apgd works on losses of the logits, but objective '${probe.name}' needs more than logits`, {
      path: 'objective.kind', hint: "use objective kind 'ce', 'dlr' or 'margin'; for the unit objective use pgd",
    });
  }
  return out;
}

/** Per image, the classes in order of their clean logits, highest first. */
async function rankedClasses(p: Prepared, classifier: Classifier): Promise<Int32Array[]> {
  const k = classifier.classNames.length;
  const order = tf.tidy(() => tf.topk(classifier.logits(p.x0), k).indices);
  const data = await order.data();
  order.dispose();
  return Array.from({ length: p.n }, (_, i) => Int32Array.from(data.subarray(i * k, (i + 1) * k)));
}

/** Targeted cross-entropy aimed at `ctx.targets`, with the untargeted goal (APGD-T's fallback for 2–3 classes). */
function targetedCe(classifier: Classifier): ReturnType<typeof dlrObjective> {
  const ce = buildObjective(classifier, { kind: 'ce', target: 0 });
  return { ...ce, goal: 'untargeted' };
}
