/** The option and result types of the unit attack. */
import type { Atlas } from '../../dissection/atlas.js';
import type { MetricSummary, Rate, UnitEffect } from '../metrics.js';
import type { Norm } from '../threat.js';
import type { AttackProgress, AttackResult } from '../types.js';
import type { UnitShaping } from './objective.js';

export type { UnitShaping };

/** Which units to steer: by concept (needs an atlas), by class importance (needs an atlas) or by index, per side. */
export interface UnitSelection {
  /** Concepts whose units are lowered, e.g. `['snow', 'mountain']`. */
  suppress?: readonly string[];
  /** Concepts whose units are raised, e.g. `['bed']`. */
  excite?: readonly string[];
  /** Lower the units most important to this class, e.g. `'ski_resort'`. */
  suppressClass?: string;
  /** Raise the units most important to this class, e.g. `'bedroom'`. It is also the default `target`. */
  exciteClass?: string;
  /** Unit indices to lower. */
  suppressUnits?: readonly number[];
  /** Unit indices to raise. */
  exciteUnits?: readonly number[];
  /**
   * How `suppressClass` and `exciteClass` rank units. `gradient` — when both are given, by the atlas's class
   * gradients on the suppressed class's images: excite the units whose rise (by their dissection threshold) raises
   * the excited class's logit over the suppressed class's most, suppress the units that hold it down most;
   * `ablation` — each class's own importance ranking (the units it relies on, as in PNAS).
   * @defaultValue `ablation`
   */
  classRanking?: 'gradient' | 'ablation';
  /**
   * Units per side taken by class importance, and the cap on units per side taken by concept (best IoU first).
   * @defaultValue 10 for classes; every labelled unit for concepts
   */
  count?: number;
  /**
   * For a concept that labels no unit at the atlas's cut-off: take the units whose IoU with it (among their best
   * concepts in the atlas) is at least this instead of failing. Concepts that label units keep their labelled units.
   * @defaultValue undefined (a concept without units is an error that lists the concepts with units)
   */
  conceptIou?: number;
}

/** Options for {@link unitAttack}. */
export interface UnitAttackOptions extends UnitSelection {
  /** The atlas that maps concepts and classes to units. Needed to select by concept or class. */
  atlas?: Atlas;
  /** The steered layer. @defaultValue the atlas's layer, else the classifier's default layer */
  layer?: string;
  /**
   * The class the excited units stand for: used only to *measure* targeted success, never by the attack
   * (unless `classWeight` > 0). @defaultValue `exciteClass` when given, else none (no targeted success)
   */
  target?: string | number;
  /** A registered gradient attack: `pgd`, `fgsm` or `cw`. @defaultValue `'pgd'` */
  attack?: string;
  /** @defaultValue `4/255` (L∞), `0.5` (L2) */
  epsilon?: number | string;
  /** @defaultValue `'linf'` (`'l2'` for cw) */
  norm?: Norm;
  /** A PSNR floor in dB for every adversarial image, on top of ε (pgd and fgsm; see `AttackOptionsBase.minPsnr`). */
  minPsnr?: number;
  /** Gradient steps per restart (Adam steps per round for cw). @defaultValue 50 */
  steps?: number;
  /** PGD step size in pixel units. @defaultValue `2.5 · ε / steps` */
  stepSize?: number;
  /** PGD step-size schedule. @defaultValue `'cosine'` */
  schedule?: 'constant' | 'cosine';
  /** PGD restarts (per image the run with the best objective is kept). @defaultValue 1 */
  restarts?: number;
  /** PGD random start. @defaultValue true */
  randomStart?: boolean;
  /**
   * Spatial reduction of each unit's map: `mean`, `max`, or `typical` — a weighted mean with weights from where the
   * unit fires on its top-activating probe images (the atlas's `topImages` maps), so each unit is raised where it
   * usually fires rather than everywhere. @defaultValue `'mean'`
   */
  aggregate?: 'mean' | 'max' | 'typical';
  /**
   * With `aggregate: 'typical'`: the spatial weights to use instead of the atlas's top-image maps, `h·w·U` numbers in
   * `[h, w, U]` order (e.g. each unit's mean map on images of the class it stands for). Each unit's weights are
   * normalised to sum 1. @defaultValue from the atlas
   */
  spatialWeights?: Float32Array | readonly number[];
  /**
   * Per-unit scale of the objective: `'threshold'` divides each unit by its dissection threshold (needs the
   * atlas; floored at a tenth of the layer's median threshold), `'none'` uses raw activations, or one number per
   * unit of the layer.
   * @defaultValue `'threshold'` with an atlas, else `'none'`
   */
  unitScale?: 'threshold' | 'none' | Float32Array | readonly number[];
  /** @defaultValue `'linear'` */
  shaping?: UnitShaping;
  /** The cap of `capped` shaping, in units of the scale. @defaultValue 2 */
  cap?: number;
  /**
   * Weight of a targeted class term (cross-entropy at `target`). 0 is the pure unit attack, which never sees the
   * target. @defaultValue 0
   */
  classWeight?: number;
  /**
   * Stop an image as soon as it is predicted as `target`. Off by default, because stopping there would let the
   * target steer the pure unit attack. @defaultValue false
   */
  stopAtTarget?: boolean;
  /** Seed of the attack (random start) and of the control's units. @defaultValue 0 */
  seed?: number;
  /** Run the random-unit control. Only tests and timing switch it off. @defaultValue true */
  control?: boolean;
  /** Confidence of the unit-effect intervals. @defaultValue 0.99 */
  confidence?: number;
  /** Called after every step of either arm. */
  onProgress?: (arm: 'unit' | 'control', progress: AttackProgress) => void;
}

/** One arm of the experiment: the steered units or the random control. */
export interface UnitAttackArm {
  arm: 'unit' | 'control';
  suppress: number[];
  excite: number[];
  /** The attack's own result; `attack.adversarial` holds the 8-bit images (disposed by {@link disposeUnitAttack}). */
  attack: AttackResult;
  /** Predictions on the clean images and on the (rounded) adversarial images. */
  before: Int32Array;
  after: Int32Array;
  /** Images predicted as the target / images not of the target class; null without a target. */
  targetedSuccess: Rate | null;
  untargetedSuccess: Rate;
  robustAccuracy: Rate;
  psnr: MetricSummary;
  ssim: MetricSummary;
  linf: MetricSummary;
  l2: MetricSummary;
  /** Change of each unit's spatial-max activation (scaled like the objective), grouped. */
  unitEffect: UnitEffect;
  /** The seed the arm was attacked with. */
  seed: number;
  warnings: string[];
}

/** How the units of each side were chosen. */
export interface SideSelection {
  by: 'concept' | 'class' | 'index' | 'none';
  /** With `by: 'class'`, how the class ranked the units. */
  ranking?: 'gradient' | 'ablation';
  /** Concept names or the class name. */
  names: string[];
  units: number[];
  /** For each unit, its concept label in the atlas (null when unlabelled or without atlas). */
  concepts: (string | null)[];
}

/** Everything {@link unitAttack} measured. Dispose with {@link disposeUnitAttack}. */
export interface UnitAttackResult {
  model: string;
  layer: string;
  numUnits: number;
  selection: { suppress: SideSelection; excite: SideSelection };
  /** Target class index and name; null when none was given. */
  target: { index: number; name: string } | null;
  attack: string;
  objective: string;
  norm: Norm;
  epsilon: number;
  /** The PSNR floor the images were kept above, when one was asked for. */
  minPsnr?: number;
  steps: number;
  aggregate: 'mean' | 'max' | 'typical';
  shaping: UnitShaping;
  unitScale: 'threshold' | 'none' | 'custom';
  classWeight: number;
  labels: Int32Array;
  cleanPredictions: Int32Array;
  cleanAccuracy: Rate;
  unit: UnitAttackArm;
  /** Null only when `control: false`. */
  control: UnitAttackArm | null;
  seed: number;
  /** The seed the control units were drawn with. */
  controlSeed: number;
  backend: string;
  tfjsVersion: string;
  seconds: number;
  warnings: string[];
}
