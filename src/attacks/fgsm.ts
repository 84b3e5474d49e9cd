import type * as tf from '../tf.js';
import type { Classifier } from '../models/types.js';
import { prepare } from './_internals/engine.js';
import { runIterative } from './_internals/iterative.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

/** Options for {@link fgsm}. */
export type FgsmOptions = AttackOptionsBase;

/**
 * Fast Gradient Sign Method: one step of size ε along the sign of the objective's input gradient (L∞), or
 * along the per-image normalised gradient (L2), then projection and 8-bit rounding.
 *
 * @example
 * const r = await fgsm(clf, images, labels, { epsilon: '4/255' });
 * r.adversarial.dispose();
 */
export async function fgsm(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: FgsmOptions = {}): Promise<AttackResult> {
  const p = await prepare('fgsm', classifier, x, labels, options, { objective: { kind: 'ce' }, minPsnr: true });
  return runIterative('fgsm', p, {
    steps: 1, stepSize: p.epsilon, schedule: 'constant', randomStart: false, restarts: 1, earlyStop: false,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
