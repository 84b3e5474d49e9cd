import type * as tf from '../tf.js';
import type { Goal, ObjectiveSpec } from './objectives.js';
import type { Norm } from './threat.js';

/** True labels: one class per image, as its index or its name (`'ski_resort'`). */
export type Labels = ArrayLike<number | string> | tf.Tensor1D;

/** Progress reported by iterative attacks (for progress bars). */
export interface AttackProgress {
  attack: string;
  /** Step (or query round) just finished, counting from 1. */
  step: number;
  total: number;
  /** Images still being attacked. */
  active: number;
  /** Restart or binary-search round, counting from 0. */
  round: number;
}

/** Options every attack accepts. */
export interface AttackOptionsBase {
  /** Radius of the threat model in pixel units, e.g. `'4/255'`. @defaultValue `8/255` (L∞), `0.5` (L2); the CLI's `--eps` defaults to 4/255 */
  epsilon?: number | string;
  /** The threat model's norm. @defaultValue `'linf'` */
  norm?: Norm;
  /**
   * A PSNR floor in dB (peak 1): every adversarial image also keeps PSNR ≥ minPsnr against its clean image, i.e. the
   * perturbation's L2 norm is capped at √(H·W·3 · 10^(−minPsnr/10)) on top of the ε ball. For FGSM, PGD and the
   * unit attack. @defaultValue none
   */
  minPsnr?: number;
  /** What to maximise. @defaultValue `{ kind: 'ce' }` (untargeted cross-entropy); `margin` for C&W and Square */
  objective?: ObjectiveSpec;
  /** Seed for every random choice; recorded in the result. @defaultValue 0 (the CLI's `--seed` defaults to 1) */
  seed?: number;
  /**
   * What to do when the input gradient is NaN or zero for every image at the first step: record a warning
   * (`'warn'`) or throw a `UA_NUMERIC` error (`'throw'`). @defaultValue `'warn'`
   */
  gradientCheck?: 'warn' | 'throw';
  /** Called after each step. */
  onProgress?: (progress: AttackProgress) => void;
}

/** What every attack returns. The caller owns `adversarial` and must dispose it. */
export interface AttackResult {
  /** The attack's registry name, e.g. `pgd`. */
  attack: string;
  /** Adversarial images, rounded to 8 bits and inside the threat model: what is saved is what fools. */
  adversarial: tf.Tensor4D;
  /** Per image: the goal is met on the rounded image (for goal `none`: prediction ≠ label). */
  success: boolean[];
  /** Predicted class of each adversarial (rounded) image. */
  predictions: Int32Array;
  /** Predicted class of each clean image. */
  cleanPredictions: Int32Array;
  /** The objective on each adversarial (rounded) image. */
  objective: Float32Array;
  /** Gradient steps (or search iterations) spent on each image. */
  steps: Int32Array;
  /** Model evaluations (forward passes, with or without a backward pass) spent on each image. */
  queries: Int32Array;
  norm: Norm;
  /** Radius of the threat model (Infinity for an uncapped minimal-norm attack). */
  epsilon: number;
  /** The PSNR floor the images were kept above, when one was asked for. */
  minPsnr?: number;
  goal: Goal;
  /** Display name of the objective. */
  objectiveName: string;
  /** The seed that replays this result. */
  seed: number;
  /** TensorFlow.js backend and version the result was computed with. */
  backend: string;
  tfjsVersion: string;
  /** Things the user should know, e.g. a zero gradient and its likely cause. */
  warnings: string[];
  /** Attack-specific extras (e.g. the C&W constants found per image). */
  details?: Record<string, unknown>;
}
