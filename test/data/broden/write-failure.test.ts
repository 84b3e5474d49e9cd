import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

// Let the PNG encoder fail part-way through, as a full disk would.
let encodes = 0;
vi.mock('sharp', async (importOriginal) => {
  const real = (await importOriginal<{ default: (...args: unknown[]) => unknown }>()).default;
  return {
    default: (...args: unknown[]) => {
      if (++encodes > 7) throw new Error('no space left on device');
      return real(...args);
    },
  };
});

const { writeBrodenDataset } = await import('../../../src/data/broden/index.js');

describe('writeBrodenDataset on a failure part-way through', () => {
  it('rethrows the failure and leaves no folder, partial folder or created parent behind', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ua-broden-fail-'));
    try {
      const dir = join(root, 'new-parent', 'ds');
      await expect(writeBrodenDataset(dir, { count: 10, seed: 1, size: 8 })).rejects.toThrow(/no space left/);
      expect(existsSync(dir)).toBe(false);
      expect(await readdir(root)).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
