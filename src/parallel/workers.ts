/**
 * The `--workers N` option: how many threads batch work uses. The default is the number of cores the process may
 * use (`os.availableParallelism()`), or `UNIT_ATTACK_WORKERS` when set (`0` and `1` both mean the calling thread only).
 */
import os from 'node:os';
import { usageError } from '../errors.js';

/** The environment variable that sets the default number of workers. */
export const WORKERS_ENV_VAR = 'UNIT_ATTACK_WORKERS';

/** The default `--workers`: `UNIT_ATTACK_WORKERS` if it holds an integer ≥ 0 (0 counts as 1), else the cores. */
export function defaultWorkers(): number {
  const env = process.env[WORKERS_ENV_VAR];
  if (env !== undefined && /^\d+$/.test(env.trim())) return Math.max(1, Number(env.trim()));
  return os.availableParallelism();
}

/**
 * Checks a `--workers` value: a positive integer. More workers than cores is allowed (each then gets less than a
 * core) and returns a warning to print.
 */
export function checkWorkers(value: unknown, flag = '--workers'): { workers: number; warning?: string } {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw usageError(`${flag} must be a whole number of worker threads ≥ 1, got ${typeof value === 'string' ? `'${value}'` : String(value)}`, {
      path: flag, hint: `use ${flag} 1 to work on the main thread only, or up to ${os.availableParallelism()} (the cores of this machine)`,
    });
  }
  const cores = os.availableParallelism();
  if (n > cores) {
    return { workers: n, warning: `${flag} ${n} is more than the ${cores} core${cores === 1 ? '' : 's'} of this machine: the workers will share cores and each holds its own copy of the model` };
  }
  return { workers: n };
}
