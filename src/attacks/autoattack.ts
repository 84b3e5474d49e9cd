import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { finish, gatherRows, mergeRows, prepare, type Prepared } from './_internals/engine.js';
import { checkChoice, checkInt } from './_internals/validate.js';
import { checkGradientMasking, checkSquare, maskingWarnings, type MaskingCheck } from './masking.js';
import { runAttack, type CustomAttackSpec } from './registry.js';
import { roundTo8Bit } from './threat.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';

/** The ensembles {@link autoattack} knows. */
export const AUTOATTACK_VERSIONS = ['standard', 'rand'] as const;
export type AutoAttackVersion = (typeof AUTOATTACK_VERSIONS)[number];

/** Options for {@link autoattack}. */
export interface AutoAttackOptions extends Omit<AttackOptionsBase, 'objective' | 'minPsnr'> {
  /**
   * `standard`: APGD-CE, APGD-T (targeted DLR over the top `targetClasses` classes), FAB-T (over the same number of
   * target classes) and Square; `rand`, for
   * models that draw random numbers in their forward pass: APGD-CE and APGD-DLR, each averaging `eot` gradients per
   * step. @defaultValue `'standard'`
   */
  version?: AutoAttackVersion;
  /** APGD and FAB iterations per run. @defaultValue 100 */
  steps?: number;
  /** Target classes of APGD-T and of FAB-T. @defaultValue 9 */
  targetClasses?: number;
  /** Square's query budget per image. @defaultValue 5000 */
  queries?: number;
  /** Gradients averaged per step in the `rand` version. @defaultValue 20 */
  eot?: number;
  /** Run the gradient-masking checks (see `checkGradientMasking`) and add their flags to `warnings`. @defaultValue true */
  checks?: boolean;
}

/** Square's initial square size (share of the image) in the ensemble: the reference's 0.8, not Square's own default. */
export const SQUARE_P_INIT = 0.8;

/**
 * Square's schedule in the ensemble: the reference builds it with `resc_schedule=False`, so the square shrinks at
 * queries 10, 50, 200, 500, 1,000, 2,000 and 4,000 of the 5,000 (to 0.8 / 128 of the image), not twice as fast.
 */
export const SQUARE_RESCALE_SCHEDULE = false;

/** What one component of the ensemble did. */
export interface AutoAttackComponent {
  /** The attack's registry name, e.g. `apgd-t`. */
  name: string;
  /** False when it was skipped; `reason` says why. */
  ran: boolean;
  reason?: string;
  /** Images it attacked: those still robust when its turn came. */
  attacked: number;
  /** Of those, images it misclassified (on the 8-bit image). */
  broke: number;
  /** Images still robust after it. */
  robustAfter: number;
  seconds: number;
  /** Model passes it spent (forward, or forward and backward), summed over images. */
  queries: number;
}

/**
 * AutoAttack (Croce & Hein, ICML 2020), the ensemble RobustBench reports: each component runs only on the images every
 * earlier one left robust (correctly classified), and an image counts as broken by the first component that
 * misclassifies its 8-bit image. Version `standard`: APGD-CE, APGD-T over the top 9 target classes, FAB-T over the top
 * 9 target classes (100 iterations each) and Square (5,000 queries); Square is L∞ only, so it is skipped for L2, and
 * recorded as skipped with the reason. Version `rand`: APGD-CE and APGD-DLR with expectation over 20 draws. The result's `details` record
 * which components ran, what each broke, its time, and the gradient-masking checks; `adversarial` holds, per image,
 * the image of the component that broke it, else the clean image.
 *
 * @example
 * const r = await autoattack(clf, images, labels, { epsilon: '8/255' });
 * r.details!.components; // [{ name: 'apgd-ce', ran: true, attacked: 94, broke: 60, … }, …]
 */
export async function autoattack(classifier: Classifier, x: tf.Tensor4D, labels: Labels, options: AutoAttackOptions = {}): Promise<AttackResult> {
  const o = resolveOptions(classifier, options);
  const p = await prepare('autoattack', classifier, x, labels, { ...options, objective: { kind: 'margin' } }, { objective: { kind: 'margin' } });
  const checks = await modelChecks(p, x, o);
  const robust = Array.from({ length: p.n }, (_, i) => p.cleanPredictions[i] === p.ctx.labels[i]);
  const ledger: Ledger = { robust, steps: new Int32Array(p.n), adv: roundTo8Bit(p.x0, p.x0, p.epsilon, p.norm) };
  const components: AutoAttackComponent[] = [];
  try {
    for (const c of plan(p, o)) components.push(await runComponent(p, c, ledger, options.onProgress));
  } catch (err) {
    ledger.adv.dispose();
    throw err;
  }
  const sq = components.find((c) => c.name === 'square' && c.ran);
  if (sq && o.checks) {
    const flag = checkSquare(sq.broke, sq.attacked, p.n);
    checks.push(flag);
    p.warnings.push(...maskingWarnings([flag]));
  }
  const { version, steps, targetClasses, queries, eot } = o;
  return finish('autoattack', p, ledger.adv, ledger.steps, {
    version, components, componentsRun: components.filter((c) => c.ran).map((c) => c.name),
    componentsSkipped: components.filter((c) => !c.ran).map((c) => ({ name: c.name, reason: c.reason })),
    checks, steps, targetClasses, queries, ...(version === 'rand' ? { eot } : {}),
  });
}

/** The ensemble's options, checked, with their defaults. */
interface Resolved {
  version: AutoAttackVersion;
  steps: number;
  targetClasses: number;
  queries: number;
  eot: number;
  checks: boolean;
}

function resolveOptions(classifier: Classifier, options: AutoAttackOptions): Resolved {
  const version = checkChoice(options.version ?? 'standard', 'version', AUTOATTACK_VERSIONS);
  if ((options as AttackOptionsBase).objective !== undefined) {
    throw usageError('autoattack chooses the loss of each component itself, so objective must be unset', {
      path: 'objective', hint: 'drop objective; for one loss run apgd-ce or apgd-dlr',
    });
  }
  const steps = checkInt(options.steps ?? 100, 'steps', 1);
  const targetClasses = checkInt(options.targetClasses ?? 9, 'targetClasses', 1);
  const queries = checkInt(options.queries ?? 5000, 'queries', 1);
  const eot = checkInt(options.eot ?? 20, 'eot', 1, 1000);
  const checks = options.checks ?? true;
  if (typeof checks !== 'boolean') throw usageError(`checks must be true or false, got ${String(checks)}`, { path: 'checks' });
  if (classifier.classNames.length < 2) {
    throw usageError(`model '${classifier.name}' has a single output, so no image can be misclassified`, {
      path: 'model', hint: 'give the model one logit per class (a binary model as two logits, e.g. [0, z])',
    });
  }
  return { version, steps, targetClasses, queries, eot, checks };
}

/** The model-level gradient-masking checks (when asked), their warnings, and the warning of `rand` on a deterministic model. */
async function modelChecks(p: Prepared, x: tf.Tensor4D, o: Resolved): Promise<MaskingCheck[]> {
  const checks: MaskingCheck[] = o.checks ? await checkGradientMasking(p.classifier, x, p.ctx.labels) : [];
  p.warnings.push(...maskingWarnings(checks));
  if (o.version === 'rand') {
    const deterministic = o.checks ? !checks.find((c) => c.check === 'nondeterministic')!.flagged : await isDeterministic(p.classifier, x);
    if (deterministic) {
      p.warnings.push(`autoattack version 'rand' on a model that gives the same logits twice: its ${o.eot} draws per step all see the same gradient, `
        + "so it only costs time; use version 'standard' for a deterministic model");
    }
  }
  return checks;
}

/** One component of the ensemble: its attack spec, or why it cannot run. */
interface PlannedComponent { name: string; spec?: CustomAttackSpec; reason?: string }

/** The components of the version, in order, with the reference's settings. */
function plan(p: Prepared, o: Resolved): PlannedComponent[] {
  const base = { epsilon: p.epsilon, norm: p.norm, seed: p.seed, gradientCheck: p.gradientCheck };
  const { steps, targetClasses, queries, eot } = o;
  if (o.version === 'rand') {
    return [
      { name: 'apgd-ce', spec: { kind: 'apgd-ce', ...base, steps, eot } },
      { name: 'apgd-dlr', spec: { kind: 'apgd-dlr', ...base, steps, eot } },
    ];
  }
  return [
    { name: 'apgd-ce', spec: { kind: 'apgd-ce', ...base, steps } },
    { name: 'apgd-t', spec: { kind: 'apgd-t', ...base, steps, targetClasses } },
    { name: 'fab-t', spec: { kind: 'fab-t', ...base, steps, targetClasses } },
    p.norm === 'linf'
      ? {
        name: 'square',
        spec: { kind: 'square', ...base, queries, pInit: SQUARE_P_INIT, rescaleSchedule: SQUARE_RESCALE_SCHEDULE, objective: { kind: 'margin' } },
      }
      : { name: 'square', reason: 'Square is implemented for L∞ only; this run is L2' },
  ];
}

/** What the ensemble has so far: which images are still robust, their steps, and per image its adversarial image. */
interface Ledger {
  robust: boolean[];
  steps: Int32Array;
  adv: tf.Tensor4D;
}

/** Runs one component on the images still robust and books what it broke (or records why it did not run). */
async function runComponent(p: Prepared, c: PlannedComponent, ledger: Ledger, onProgress: AutoAttackOptions['onProgress']): Promise<AutoAttackComponent> {
  const { robust } = ledger;
  const todo = robust.flatMap((r, i) => (r ? [i] : []));
  const skipped = (reason: string): AutoAttackComponent => ({ name: c.name, ran: false, reason, attacked: 0, broke: 0, robustAfter: todo.length, seconds: 0, queries: 0 });
  if (!c.spec) {
    p.warnings.push(`autoattack: ${c.name} did not run: ${c.reason!}`);
    return skipped(c.reason!);
  }
  if (todo.length === 0) return skipped('no image was left robust');
  const t0 = performance.now();
  const xs = gatherRows(p.x0, todo);
  let r: AttackResult;
  try {
    r = await runAttack(p.classifier, xs, Int32Array.from(todo, (i) => p.ctx.labels[i]), { ...c.spec, ...(onProgress ? { onProgress } : {}) });
  } finally {
    xs.dispose();
  }
  const broken: number[] = []; const brokenIdx: number[] = [];
  let spent = 0;
  todo.forEach((img, k) => {
    ledger.steps[img] += r.steps[k];
    p.queries[img] += r.queries[k];
    spent += r.queries[k];
    if (r.predictions[k] !== p.ctx.labels[img]) { broken.push(k); brokenIdx.push(img); robust[img] = false; }
  });
  if (broken.length > 0) {
    const rows = gatherRows(r.adversarial, broken);
    const merged = mergeRows(ledger.adv, brokenIdx, rows);
    ledger.adv.dispose(); rows.dispose();
    ledger.adv = merged;
  }
  r.adversarial.dispose();
  for (const w of r.warnings) p.warnings.push(`${c.name}: ${w}`);
  return {
    name: c.name, ran: true, attacked: todo.length, broke: broken.length, robustAfter: robust.filter(Boolean).length,
    seconds: (performance.now() - t0) / 1000, queries: spent,
  };
}

async function isDeterministic(classifier: Classifier, x: tf.Tensor4D): Promise<boolean> {
  const d = tf.tidy(() => {
    const head = x.slice([0, 0, 0, 0], [Math.min(8, x.shape[0]), -1, -1, -1]);
    return tf.max(tf.abs(tf.sub(classifier.logits(head), classifier.logits(head))));
  });
  const v = (await d.data())[0];
  d.dispose();
  return v === 0;
}
