import { promises as fs } from 'node:fs';
import { UnitAttackError } from '../errors.js';

/**
 * Writes a file under a temporary name, flushes it to disk, then renames it into place, so readers (and a reader
 * after a crash or power loss) never see half a file.
 */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw new UnitAttackError('UA_IO', `cannot write '${file}': ${(err as Error).message}`, { file, cause: err });
  }
}


/** Writes a JSON file atomically, pretty-printed. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
