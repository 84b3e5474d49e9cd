import { usageError } from '../../errors.js';

/** Throws a usage error unless `value` is an integer ≥ `min` (and ≤ `max` when given). */
export function checkInt(value: unknown, path: string, min: number, max = Number.POSITIVE_INFINITY): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.POSITIVE_INFINITY ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw usageError(`${path} must be ${range}, got ${String(value)}`, { path, hint: `set ${path} to ${range}` });
  }
  return value;
}

/** Throws a usage error unless `value` is a finite number in the given open/closed range. */
export function checkNumber(
  value: unknown, path: string,
  range: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {},
): number {
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY } = range;
  const ok = typeof value === 'number' && !Number.isNaN(value)
    && (range.minExclusive ? value > min : value >= min)
    && (range.maxExclusive ? value < max : value <= max)
    && (Number.isFinite(value) || max === Number.POSITIVE_INFINITY);
  if (!ok) {
    const lo = min === Number.NEGATIVE_INFINITY ? '(−∞' : `${range.minExclusive ? '(' : '['}${min}`;
    const hi = max === Number.POSITIVE_INFINITY ? '∞)' : `${max}${range.maxExclusive ? ')' : ']'}`;
    throw usageError(`${path} must be a number in ${lo}, ${hi}, got ${String(value)}`, { path });
  }
  return value;
}

/** Throws a usage error unless `value` is one of `choices`. */
export function checkChoice<T extends string>(value: unknown, path: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw usageError(`${path} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(value)}`, { path });
  }
  return value as T;
}

/** Throws a usage error unless `value` is an integer seed (any safe integer). */
export function checkSeed(value: unknown, path = 'seed'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw usageError(`${path} must be an integer, got ${String(value)}`, { path, hint: 'pass an integer seed, e.g. 0' });
  }
  return value;
}

/** Unit indices: integers in [0, numUnits), no duplicates. */
export function checkUnits(units: unknown, path: string, numUnits: number, layer: string): number[] {
  if (!Array.isArray(units) && !ArrayBuffer.isView(units)) {
    throw usageError(`${path} must be an array of unit indices, got ${String(units)}`, { path });
  }
  const list = Array.from(units as ArrayLike<unknown>);
  const seen = new Set<number>();
  for (const u of list) {
    if (typeof u !== 'number' || !Number.isInteger(u) || u < 0 || u >= numUnits) {
      throw usageError(`${path} has unit ${String(u)}, but layer '${layer}' has ${numUnits} units (0…${numUnits - 1})`, { path });
    }
    if (seen.has(u)) throw usageError(`${path} lists unit ${u} twice`, { path });
    seen.add(u);
  }
  return list as number[];
}
