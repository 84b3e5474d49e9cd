import type * as tf from '../tf.js';
import { nearestNames, usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { poolFor } from '../parallel/executor.js';
import { finish, prepare } from './_internals/engine.js';
import { runAttackSharded } from './_internals/sharded.js';
import { apgd, type ApgdOptions } from './apgd.js';
import { autoattack, type AutoAttackOptions } from './autoattack.js';
import { cw, type CwOptions } from './cw.js';
import { fab, type FabOptions } from './fab.js';
import { fgsm, type FgsmOptions } from './fgsm.js';
import { pgd, type PgdOptions } from './pgd.js';
import { square, type SquareOptions } from './square.js';
import { roundTo8Bit } from './threat.js';
import type { AttackOptionsBase, AttackResult, Labels } from './types.js';
import { labelIndices } from './_internals/labels.js';

/** A built-in attack named by `kind`, with its options. */
export type AttackSpec =
  | ({ kind: 'fgsm' } & FgsmOptions)
  | ({ kind: 'pgd' } & PgdOptions)
  | ({ kind: 'cw' } & CwOptions)
  | ({ kind: 'square' } & SquareOptions)
  | ({ kind: 'apgd-ce' } & ApgdOptions)
  | ({ kind: 'apgd-dlr' } & ApgdOptions)
  | ({ kind: 'apgd-t' } & ApgdOptions)
  | ({ kind: 'fab' } & FabOptions)
  | ({ kind: 'fab-t' } & FabOptions)
  | ({ kind: 'autoattack' } & AutoAttackOptions);

/** A spec for an attack added with {@link registerAttack}. */
export type CustomAttackSpec = { kind: string } & AttackOptionsBase & Record<string, unknown>;

/** An attack as the registry knows it. `run` receives the whole spec, `kind` included. */
export interface AttackImpl<S extends { kind: string } = CustomAttackSpec> {
  /** One line for listings, e.g. `PGD (L∞/L2, restarts, early stop)`. */
  description?: string;
  run(classifier: Classifier, x: tf.Tensor4D, labels: Labels, spec: S): Promise<AttackResult>;
}

const registry = new Map<string, AttackImpl<never>>();

/**
 * Adds (or replaces) an attack under `name`, so scenario files can name it and {@link runAttack} can run it.
 *
 * @example
 * registerAttack('noise', { run: async (clf, x, labels, spec) => myNoiseAttack(clf, x, labels, spec) });
 */
export function registerAttack<S extends { kind: string }>(name: string, impl: AttackImpl<S>): void {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]*$/i.test(name)) {
    throw usageError(`attack name must be a word like 'pgd' or 'my-attack', got ${JSON.stringify(name)}`, { path: 'name' });
  }
  if (!impl || typeof impl.run !== 'function') throw usageError(`attack '${name}' needs a run(classifier, x, labels, spec) function`, { path: 'impl.run' });
  registry.set(name, impl);
}

/** The attack registered under `name`; a usage error listing the known ones if there is none. */
export function getAttack(name: string): AttackImpl<CustomAttackSpec> {
  const impl = registry.get(name);
  if (!impl) {
    const names = attackNames();
    throw usageError(`unknown attack '${name}'`, {
      path: 'attack.kind', hint: `known attacks: ${names.join(', ')}; did you mean ${nearestNames(name, names, 1)[0]}?`,
    });
  }
  return impl;
}

/** Names of the registered attacks. */
export function attackNames(): string[] {
  return [...registry.keys()];
}

/**
 * Runs the attack a spec names. `epsilon: 0` means "no attack" (as in ε lists): the result holds the clean
 * images, rounded to 8 bits, with their predictions. Inside `withPool` with a pool on this classifier, the
 * built-in attacks spread the images over the pool's workers, with the same result.
 *
 * @example
 * const r = await runAttack(clf, images, labels, { kind: 'pgd', epsilon: '4/255', steps: 50 });
 */
export async function runAttack(classifier: Classifier, x: tf.Tensor4D, trueLabels: Labels, spec: AttackSpec | CustomAttackSpec): Promise<AttackResult> {
  const labels = labelIndices(classifier.classNames, trueLabels);
  if (!spec || typeof spec !== 'object' || typeof spec.kind !== 'string') {
    throw usageError('an attack spec needs a kind, e.g. { kind: \'pgd\', epsilon: \'4/255\' }', { path: 'attack.kind', hint: `known attacks: ${attackNames().join(', ')}` });
  }
  const impl = getAttack(spec.kind);
  if (spec.epsilon !== undefined && Number(spec.epsilon) === 0) {
    const p = await prepare(spec.kind, classifier, x, labels, spec, {
      objective: { kind: ['cw', 'square', 'autoattack'].includes(spec.kind) ? 'margin' : 'ce' }, allowZeroEpsilon: true, minPsnr: true,
    });
    return finish(spec.kind, p, roundTo8Bit(x, x, 0, p.norm), new Int32Array(p.n));
  }
  const pool = poolFor(classifier);
  if (pool) {
    const sharded = await runAttackSharded(pool, x, labels, spec as CustomAttackSpec);
    if (sharded) return sharded;
  }
  return impl.run(classifier, x, labels, spec as CustomAttackSpec);
}

registerAttack<{ kind: 'fgsm' } & FgsmOptions>('fgsm', { description: 'FGSM: one signed-gradient step of size ε (L∞/L2)', run: (c, x, l, { kind: _k, ...o }) => fgsm(c, x, l, o) });
registerAttack<{ kind: 'pgd' } & PgdOptions>('pgd', { description: 'PGD: random start, restarts, step schedule, per-image early stop (L∞/L2)', run: (c, x, l, { kind: _k, ...o }) => pgd(c, x, l, o) });
registerAttack<{ kind: 'cw' } & CwOptions>('cw', { description: 'Carlini–Wagner L2: tanh variables, Adam, binary search over c', run: (c, x, l, { kind: _k, ...o }) => cw(c, x, l, o) });
registerAttack<{ kind: 'square' } & SquareOptions>('square', { description: 'Square Attack L∞: score-based random search, logits only', run: (c, x, l, { kind: _k, ...o }) => square(c, x, l, o) });
registerAttack<{ kind: 'apgd-ce' } & ApgdOptions>('apgd-ce', {
  description: 'APGD-CE: Auto-PGD on the cross-entropy, step size halved at checkpoints, momentum (L∞/L2)',
  run: (c, x, l, { kind: _k, ...o }) => apgd(c, x, l, { ...o, objective: apgdObjective('apgd-ce', 'ce', o.objective) }),
});
registerAttack<{ kind: 'apgd-dlr' } & ApgdOptions>('apgd-dlr', {
  description: 'APGD-DLR: Auto-PGD on the difference-of-logits-ratio loss (L∞/L2)',
  run: (c, x, l, { kind: _k, ...o }) => apgd(c, x, l, { ...o, objective: apgdObjective('apgd-dlr', 'dlr', o.objective) }),
});
registerAttack<{ kind: 'apgd-t' } & ApgdOptions>('apgd-t', {
  description: 'APGD-T: Auto-PGD on the targeted DLR loss over the top 9 other classes (L∞/L2)',
  run: (c, x, l, { kind: _k, ...o }) => apgd(c, x, l, { ...o, targetClasses: o.targetClasses ?? 9 }),
});
registerAttack<{ kind: 'fab' } & FabOptions>('fab', {
  description: 'FAB: fast adaptive boundary attack, untargeted (every class linearised per step; L∞/L2)',
  run: (c, x, l, { kind: _k, ...o }) => fab(c, x, l, fabOptions('fab', o)),
});
registerAttack<{ kind: 'fab-t' } & FabOptions>('fab-t', {
  description: 'FAB-T: fast adaptive boundary attack toward the top 9 other classes in turn (L∞/L2)',
  run: (c, x, l, { kind: _k, ...o }) => fab(c, x, l, { ...fabOptions('fab-t', o), targetClasses: o.targetClasses ?? 9 }),
});
registerAttack<{ kind: 'autoattack' } & AutoAttackOptions>('autoattack', {
  description: 'AutoAttack: APGD-CE, APGD-T, FAB-T and Square on the images still robust (standard), or APGD with EOT (rand)',
  run: (c, x, l, { kind: _k, ...o }) => autoattack(c, x, l, o),
});

/** The objective of `apgd-ce` / `apgd-dlr`: the attack's own loss, targeted when the spec's objective names a target. */
function apgdObjective(attack: string, loss: 'ce' | 'dlr', objective: AttackOptionsBase['objective']): NonNullable<AttackOptionsBase['objective']> {
  if (objective === undefined) return { kind: loss };
  if (objective.kind !== loss) {
    throw usageError(`${attack} uses the ${loss === 'ce' ? 'cross-entropy' : 'DLR'} loss, but objective.kind is '${objective.kind}'`, {
      path: 'objective.kind', hint: `drop objective.kind (keep target to aim at a class), or use ${loss === 'ce' ? 'apgd-dlr' : 'apgd-ce'}`,
    });
  }
  return objective;
}

/**
 * The options of `fab` / `fab-t` from a spec. FAB linearises the logit differences itself and succeeds on any
 * misclassification, so an untargeted `ce` or `margin` objective (what a generic caller such as the CLI passes) only
 * restates that and is dropped; any other objective, or a target, is a usage error.
 */
function fabOptions(attack: string, o: FabOptions): FabOptions {
  const obj = o.objective;
  if (obj === undefined) return o;
  if ((obj.kind === 'ce' || obj.kind === 'margin') && obj.target === undefined) {
    const rest = { ...o };
    delete rest.objective;
    return rest;
  }
  throw usageError(`${attack} measures untargeted robustness with its own loss, so objective ${JSON.stringify(obj)} does not apply`, {
    path: obj.target !== undefined ? 'target' : 'objective', hint: 'drop the objective (and --target); for a targeted attack use pgd or apgd-ce with a target',
  });
}
