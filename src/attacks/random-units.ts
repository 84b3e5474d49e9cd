import { usageError } from '../errors.js';
import { Prng } from '../util/random.js';
import { checkInt, checkSeed } from './_internals/validate.js';

/** Options for {@link randomUnits}. */
export interface RandomUnitsOptions {
  /** How many units to draw (the size of the steered set). */
  count: number;
  /** Units in the layer. */
  numUnits: number;
  /** Units never drawn (the steered ones). @defaultValue [] */
  exclude?: readonly number[];
  /** @defaultValue 0 */
  seed?: number;
}

/**
 * Draws `count` distinct units of a layer, none of them in `exclude`, for the random-unit control that is
 * reported beside every unit attack. Sorted ascending; the same seed gives the same units.
 *
 * @example
 * randomUnits({ count: 10, numUnits: 512, exclude: steered, seed: 7 });
 */
export function randomUnits(options: RandomUnitsOptions): number[] {
  const numUnits = checkInt(options.numUnits, 'numUnits', 1);
  const count = checkInt(options.count, 'count', 0);
  const seed = checkSeed(options.seed ?? 0);
  const exclude = new Set(options.exclude ?? []);
  const pool = Array.from({ length: numUnits }, (_, i) => i).filter((u) => !exclude.has(u));
  if (count > pool.length) {
    throw usageError(`count is ${count}, but only ${pool.length} of ${numUnits} units are left after excluding ${exclude.size}`, {
      path: 'count', hint: 'draw fewer units or exclude fewer',
    });
  }
  const rng = new Prng(seed);
  // Partial Fisher–Yates shuffle.
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count).sort((a, b) => a - b);
}
