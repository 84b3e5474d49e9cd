/**
 * Typed errors with stable codes. The library throws these; only `src/cli` turns them
 * into colour, messages and exit codes.
 */

/** Stable error codes. `USAGE`/`INPUT` errors map to exit code 2 in the CLI. */
export type UnitAttackErrorCode =
  | 'UA_USAGE' // a bad argument or option value
  | 'UA_INPUT' // a bad input file (image, label map, model, scenario)
  | 'UA_MODEL' // a model that cannot be loaded or lacks what is asked of it
  | 'UA_LAYER' // a layer name the model does not have
  | 'UA_IO' // a file that cannot be read or written
  | 'UA_NUMERIC' // NaN, zero or otherwise unusable numbers (e.g. gradients)
  | 'UA_WORKER' // a worker failed or crashed
  | 'UA_QUEUE' // a job queue (Redis) that cannot be reached, or that lost or failed a run's jobs
  | 'UA_INTERNAL';

export interface UnitAttackErrorOptions {
  /** What the user can do about it. Printed after the message. */
  hint?: string;
  /** The file the error is about, if any. */
  file?: string;
  /** The field or argument the error is about, e.g. `attack.epsilon`. */
  path?: string;
  cause?: unknown;
}

export class UnitAttackError extends Error {
  readonly code: UnitAttackErrorCode;
  readonly hint?: string;
  readonly file?: string;
  readonly path?: string;

  constructor(code: UnitAttackErrorCode, message: string, options: UnitAttackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UnitAttackError';
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.file !== undefined) this.file = options.file;
    if (options.path !== undefined) this.path = options.path;
  }
}

/** True for errors that are the user's to fix (exit code 2 in the CLI). */
export function isUserError(err: unknown): err is UnitAttackError {
  return err instanceof UnitAttackError && err.code !== 'UA_INTERNAL';
}

export const usageError = (message: string, options?: UnitAttackErrorOptions): UnitAttackError =>
  new UnitAttackError('UA_USAGE', message, options);

export const inputError = (message: string, options?: UnitAttackErrorOptions): UnitAttackError =>
  new UnitAttackError('UA_INPUT', message, options);

/**
 * The `k` candidates closest to `name` by edit distance, for "did you mean" hints.
 */
export function nearestNames(name: string, candidates: readonly string[], k = 3): string[] {
  const scored = candidates.map((c) => ({ c, d: editDistance(name.toLowerCase(), c.toLowerCase()) }));
  scored.sort((a, b) => a.d - b.d || a.c.localeCompare(b.c));
  return scored.slice(0, k).map((s) => s.c);
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
