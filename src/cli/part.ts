import { usageError } from '../errors.js';

/** `i/N` of `--shard`, checked: part i of N, 0 ≤ i < N. */
export function parsePart(v: unknown): { index: number; of: number } {
  const m = typeof v === 'string' ? /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(v) : null;
  const index = m ? Number(m[1]) : NaN;
  const of = m ? Number(m[2]) : NaN;
  if (!m || of < 1 || index >= of) {
    throw usageError(`--shard must be i/N with 0 ≤ i < N, got '${String(v)}'`, { path: '--shard', hint: 'e.g. --shard 0/4 … --shard 3/4 for four jobs; on a Kubernetes Indexed Job --shard $JOB_COMPLETION_INDEX/4' });
  }
  return { index, of };
}
