import { usageError } from '../errors.js';

const NUMBER = '[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?';
const FRACTION = new RegExp(`^\\s*(${NUMBER})\\s*\\/\\s*(${NUMBER})\\s*$`);
const DECIMAL = new RegExp(`^\\s*${NUMBER}\\s*$`);

/** The text forms of a budget: a decimal or a fraction like `4/255` (the scenario schema checks strings with it). */
export const EPSILON_TEXT = new RegExp(`^\\s*${NUMBER}\\s*(?:\\/\\s*${NUMBER}\\s*)?$`);

/** A budget as read from a number or text, before its range is checked. */
export type EpsilonReading =
  | { ok: true; value: number }
  | { ok: false; problem: 'divides-by-zero' | 'unreadable' | 'type' };

/**
 * Reads a budget written as a number, a decimal (`'0.03'`) or a fraction (`'4/255'`), without checking its range.
 * The one ε reader: {@link parseEpsilon}, the scenario schema and the scenario checks all read ε through it.
 */
export function readEpsilon(value: unknown): EpsilonReading {
  if (typeof value === 'number') return { ok: true, value };
  if (typeof value !== 'string') return { ok: false, problem: 'type' };
  const frac = FRACTION.exec(value);
  if (frac) {
    const den = Number(frac[2]);
    return den === 0 ? { ok: false, problem: 'divides-by-zero' } : { ok: true, value: Number(frac[1]) / den };
  }
  return DECIMAL.test(value) ? { ok: true, value: Number(value) } : { ok: false, problem: 'unreadable' };
}

function parseOne(value: string | number, path: string, allowZero: boolean, max: number): number {
  const r = readEpsilon(value);
  if (!r.ok) {
    if (r.problem === 'divides-by-zero') throw usageError(`${path}: '${String(value)}' divides by zero`, { path, hint: 'write ε like 4/255 or 0.0157' });
    if (r.problem === 'unreadable') {
      throw usageError(`${path}: cannot read '${String(value)}' as a number`, {
        path, hint: 'write ε in pixel units as a fraction or a decimal, e.g. 4/255 or 0.0157',
      });
    }
    throw usageError(`${path} must be a number or a string like '4/255', got ${typeof value}`, { path });
  }
  const eps = r.value;
  const ok = Number.isFinite(eps) && (allowZero ? eps >= 0 : eps > 0) && eps <= max;
  if (!ok) {
    const hiText = max === Number.POSITIVE_INFINITY ? '∞)' : `${max}]`;
    throw usageError(`${path} must be in ${allowZero ? '[0' : '(0'}, ${hiText} (pixel units), got ${String(value)}`, {
      path, hint: 'ε is in pixel units on [0, 1] images: 8-bit steps are k/255, e.g. 4/255' + (allowZero ? '' : '; 0 means no attack and is only allowed in ε lists'),
    });
  }
  return eps;
}

/** Options for {@link parseEpsilon} and {@link parseEpsilonList}. */
export interface ParseEpsilonOptions {
  /** The option name used in error messages. @defaultValue `'epsilon'` (`'epsilons'` for lists) */
  path?: string;
  /** The threat model's norm: L∞ budgets must be ≤ 1; L2 budgets may exceed 1. @defaultValue `'linf'` */
  norm?: 'linf' | 'l2';
}

/**
 * Reads a perturbation budget in pixel units: `"4/255"`, `"0.03"` or a number, in (0, 1] (L∞;
 * any positive number for L2).
 *
 * @example
 * parseEpsilon('4/255'); // 0.01568…
 */
export function parseEpsilon(value: string | number, options: ParseEpsilonOptions = {}): number {
  return parseOne(value, options.path ?? 'epsilon', false, options.norm === 'l2' ? Number.POSITIVE_INFINITY : 1);
}

/**
 * Reads a comma-separated list (or an array) of budgets, e.g. `"0,1/255,2/255"`. Zero is allowed
 * here and means "no attack" (the clean row of a robustness curve).
 */
export function parseEpsilonList(value: string | readonly (string | number)[], options: ParseEpsilonOptions = {}): number[] {
  const path = options.path ?? 'epsilons';
  const max = options.norm === 'l2' ? Number.POSITIVE_INFINITY : 1;
  const items = typeof value === 'string' ? value.split(',') : [...value];
  if (items.length === 0 || (items.length === 1 && typeof items[0] === 'string' && items[0].trim() === '')) {
    throw usageError(`${path} is empty`, { path, hint: "list budgets separated by commas, e.g. '0,1/255,2/255'" });
  }
  return items.map((item, i) => parseOne(typeof item === 'string' ? item.trim() : item, `${path}[${i}]`, true, max));
}

/** Formats ε as `k/255` when it is (close to) a whole number of 8-bit steps, else as a decimal. */
export function formatEpsilon(eps: number): string {
  const k = eps * 255;
  if (Math.abs(k - Math.round(k)) < 1e-6) return `${Math.round(k)}/255`;
  return String(Number(eps.toPrecision(4)));
}
