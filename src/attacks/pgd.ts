import type * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { prepare } from './_internals/engine.js';
import { runIterative, type StepSchedule } from './_internals/iterative.js';
import { checkInt, checkNumber } from './_internals/validate.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

export type { StepSchedule } from './_internals/iterative.js';

/** Options for {@link pgd}. */
export interface PgdOptions extends AttackOptionsBase {
  /** Gradient steps per restart. @defaultValue 10 (the CLI's `attack --steps` defaults to 50) */
  steps?: number;
  /** Step size in pixel units (L∞: per pixel; L2: per image). @defaultValue `2.5 · ε / steps` */
  stepSize?: number;
  /** Step-size schedule. @defaultValue `'constant'` */
  schedule?: StepSchedule;
  /** Start from a uniformly random point of the threat model (seeded). @defaultValue true */
  randomStart?: boolean;
  /** Runs from different random starts; per image the best is kept. @defaultValue 1 */
  restarts?: number;
  /**
   * Stop an image once its rounded image meets the goal (targeted: prediction = target; untargeted:
   * prediction ≠ label). Stopped images do not move again. Objectives without a goal never stop early.
   * @defaultValue true
   */
  earlyStop?: boolean;
}

/**
 * Projected Gradient Descent (Madry et al. 2018): iterated signed-gradient (L∞) or normalised-gradient (L2)
 * ascent on the objective with projection onto the threat model after every step, random starts, restarts,
 * a step-size schedule and per-image early stopping.
 *
 * @example
 * const r = await pgd(clf, images, labels, { epsilon: '8/255', steps: 50, objective: { kind: 'margin', target: 'bedroom' } });
 */
export async function pgd(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: PgdOptions = {}): Promise<AttackResult> {
  const steps = checkInt(options.steps ?? 10, 'steps', 1);
  const restarts = checkInt(options.restarts ?? 1, 'restarts', 1);
  const randomStart = options.randomStart ?? true;
  if (typeof randomStart !== 'boolean') throw usageError(`randomStart must be true or false, got ${String(randomStart)}`, { path: 'randomStart' });
  if (restarts > 1 && !randomStart) {
    throw usageError(`restarts is ${restarts} but randomStart is false, so every restart would repeat the first`, {
      path: 'restarts', hint: 'set randomStart: true or restarts: 1',
    });
  }
  const schedule = checkSchedule(options.schedule ?? 'constant');
  const earlyStop = options.earlyStop ?? true;
  const p = await prepare('pgd', classifier, x, labels, options, { objective: { kind: 'ce' }, minPsnr: true });
  const stepSize = options.stepSize === undefined ? (2.5 * p.epsilon) / steps
    : checkNumber(options.stepSize, 'stepSize', { min: 0, minExclusive: true });
  return runIterative('pgd', p, {
    steps, stepSize, schedule, randomStart, restarts, earlyStop,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

function checkSchedule(s: unknown): StepSchedule {
  if (s === 'constant' || s === 'cosine') return s;
  if (s && typeof s === 'object' && (s as { kind?: unknown }).kind === 'step') {
    const o = s as { every: unknown; factor: unknown };
    checkInt(o.every, 'schedule.every', 1);
    checkNumber(o.factor, 'schedule.factor', { min: 0, max: 1, minExclusive: true });
    return s as StepSchedule;
  }
  throw usageError(`schedule must be 'constant', 'cosine' or { kind: 'step', every, factor }, got ${JSON.stringify(s)}`, { path: 'schedule' });
}
