import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { prepare, type Prepared } from './_internals/engine.js';
import { runFabRounds, type FabRound, type FabSettings } from './_internals/fab.js';
import { checkInt, checkNumber } from './_internals/validate.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

export { projectToHyperplane } from './_internals/fab-projection.js';

/** Options for {@link fab}. */
export interface FabOptions extends Omit<AttackOptionsBase, 'minPsnr'> {
  /** Iterations per run. @defaultValue 100 */
  steps?: number;
  /**
   * Runs per target (or untargeted): the first from the clean image, the others from random points at half the
   * radius; each only on the images not yet broken. @defaultValue 1
   */
  restarts?: number;
  /**
   * FAB-T: linearise toward each of the `targetClasses` classes with the highest clean logits after the true one
   * (capped at classes − 1), each only on the images the earlier targets left. Success is any misclassification.
   * Unset: untargeted FAB, which linearises every class per step (classes − 1 gradient passes per step).
   * @defaultValue unset
   */
  targetClasses?: number;
  /** Largest weight of the clean image's projection in a step (α_max of the paper). @defaultValue 0.1 */
  alphaMax?: number;
  /** Overshoot of the projections (η). @defaultValue 1.05 */
  eta?: number;
  /** Backward step toward the clean image after an adversarial point (β). @defaultValue 0.9 */
  beta?: number;
  /** Stop an image at its first adversarial point whose 8-bit rounding is misclassified. @defaultValue true */
  earlyStop?: boolean;
}

/**
 * FAB, the fast adaptive boundary attack (Croce & Hein, ICML 2020), as AutoAttack runs it within a threat model.
 * Each step linearises the logit difference f = z_t − z_y at the current point and projects both the point and the
 * clean image onto the hyperplane f = 0 inside the threat model (the [0, 1] box and, for L∞, the ε-ball), with the
 * minimal perturbation in the attack's norm; it steps to `(x + η·d₁)(1 − α) + (x₀ + η·d₂)·α`, α = min(‖d₁‖ /
 * (‖d₁‖ + ‖d₂‖), α_max), and after landing on an adversarial point goes back toward the clean image by β. L∞ and L2.
 *
 * FAB-T (`targetClasses`, AutoAttack uses 9) aims at the most likely other classes in turn; untargeted FAB takes the
 * class whose linearised boundary is closest at each step. The result's `objective` is the untargeted logit margin;
 * success is any misclassification of the 8-bit image. `objective` must be unset: FAB's losses are its own.
 *
 * @example
 * const r = await fab(clf, images, labels, { epsilon: '8/255', targetClasses: 9 });   // FAB-T
 */
export async function fab(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: FabOptions = {}): Promise<AttackResult> {
  const steps = checkInt(options.steps ?? 100, 'steps', 1);
  const restarts = checkInt(options.restarts ?? 1, 'restarts', 1);
  const alphaMax = checkNumber(options.alphaMax ?? 0.1, 'alphaMax', { min: 0, max: 1 });
  const eta = checkNumber(options.eta ?? 1.05, 'eta', { min: 0, minExclusive: true });
  const beta = checkNumber(options.beta ?? 0.9, 'beta', { min: 0, max: 1, minExclusive: true });
  const earlyStop = options.earlyStop ?? true;
  if (typeof earlyStop !== 'boolean') throw usageError(`earlyStop must be true or false, got ${String(earlyStop)}`, { path: 'earlyStop' });
  const targeted = options.targetClasses !== undefined;
  if (targeted) checkInt(options.targetClasses, 'targetClasses', 1);
  if (options.objective !== undefined) {
    throw usageError('fab linearises the logit differences itself, so objective must be unset', {
      path: 'objective', hint: targeted ? 'drop objective; FAB-T picks its targets from the clean logits' : 'drop objective, or set targetClasses for FAB-T',
    });
  }
  const k = classifier.classNames.length;
  if (k < 2) {
    throw usageError(`model '${classifier.name}' has a single output, so no image can be misclassified`, {
      path: 'model', hint: 'give the model one logit per class (a binary model as two logits, e.g. [0, z])',
    });
  }
  const name = targeted ? 'fab-t' : 'fab';
  const p = await prepare(name, classifier, x, labels, { ...options, objective: { kind: 'margin' } }, { objective: { kind: 'margin' } });
  const settings: FabSettings = { steps, alphaMax, eta, beta, earlyStop, ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
  const details = { steps, restarts, alphaMax, eta, beta };
  if (!targeted) {
    const rounds: FabRound[] = Array.from({ length: restarts }, (_, r) => ({ targetRank: null, randomStart: r > 0 }));
    return runFabRounds(name, p, settings, rounds, null, details);
  }
  const count = Math.min(options.targetClasses!, k - 1);
  const rounds: FabRound[] = [];
  for (let t = 1; t <= count; t++) for (let r = 0; r < restarts; r++) rounds.push({ targetRank: t, randomStart: r > 0 });
  return runFabRounds(name, p, settings, rounds, await rankedClasses(p, classifier), { ...details, targetClasses: count });
}

/** Per image, the classes in order of their clean logits, highest first (the true one, when predicted, first). */
async function rankedClasses(p: Prepared, classifier: Classifier): Promise<Int32Array[]> {
  const k = classifier.classNames.length;
  const order = tf.tidy(() => tf.topk(classifier.logits(p.x0), k).indices);
  const data = await order.data();
  order.dispose();
  return Array.from({ length: p.n }, (_, i) => Int32Array.from(data.subarray(i * k, (i + 1) * k)));
}
