import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UnitAttackError, usageError } from '../errors.js';

/** The `--force` option of commands that write a folder. */
export const forceOption = {
  type: 'boolean', default: false,
  describe: 'write into a --out folder that is not empty, first deleting what this command writes there',
} as const;

/**
 * Makes `out` ready for a command's files, before any long work: creates it when missing; refuses one that is not
 * empty, so files of two runs never mix, unless `force`, which deletes what the command writes there (`writes`:
 * top-level names) and leaves anything else alone.
 */
export async function prepareOutDir(out: string, options: { force: boolean; command: string; writes: readonly string[] }): Promise<void> {
  let entries: string[];
  try {
    const st = await fs.stat(out);
    if (!st.isDirectory()) {
      throw usageError(`--out '${out}' is a file, not a folder`, { path: '--out', file: out, hint: 'name a folder (it is created when missing)' });
    }
    entries = await fs.readdir(out);
  } catch (err) {
    if (err instanceof UnitAttackError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(out, { recursive: true });
    return;
  }
  if (entries.length === 0) return;
  if (!options.force) {
    const shown = entries.sort().slice(0, 5).join(', ') + (entries.length > 5 ? ', …' : '');
    throw usageError(`--out '${out}' is not empty (${shown})`, {
      path: '--out', file: out,
      hint: `choose a new folder, or add --force to replace what \`unit-attack ${options.command}\` writes there`,
    });
  }
  const ours = new Set(options.writes);
  for (const name of entries) {
    if (ours.has(name)) await fs.rm(path.join(out, name), { recursive: true, force: true });
  }
}
