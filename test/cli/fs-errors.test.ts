import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/unit-attack.js');
const fullDisk = path.join(root, 'test/fixtures/full-disk.mjs');
const image = path.join(root, 'examples/ski_resort.png');

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-fs-errors-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

/** Runs the CLI; answers its exit code and stderr. `full` is a folder whose disk is full. */
async function cli(args: string[], full?: string): Promise<{ code: number; stderr: string }> {
  const env = { ...process.env, NO_COLOR: '1', UNIT_ATTACK_WORKERS: '1', ...(full ? { UA_FULL_DISK: full } : {}) };
  try {
    const r = await run(process.execPath, [...(full ? ['--import', fullDisk] : []), bin, ...args], { env, cwd: dir });
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

/** Every file below `d` (none when it does not exist). */
async function filesIn(d: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    let entries;
    try { entries = await fs.readdir(p, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) await walk(path.join(p, e.name));
      else out.push(path.relative(d, path.join(p, e.name)));
    }
  };
  await walk(d);
  return out;
}

/** Commands that write, with their output folder in place of OUT. */
const WRITERS: Array<[name: string, args: string[]]> = [
  ['synth', ['synth', '--count', '3', '--size', '16', '--quiet', '--out', 'OUT']],
  ['attack', ['attack', '--image', image, '--attack', 'fgsm', '--eps', '2/255', '--quiet', '--out', 'OUT']],
  ['segment', ['segment', '--image', image, '--out', 'OUT']],
  ['dissect', ['dissect', '--probe', 'builtin:scenes?count=24&seed=3', '--no-cache', '--no-importance', '--quiet', '--out', 'OUT']],
  ['dissect-shard', ['dissect', '--probe', 'builtin:scenes?count=24&seed=3', '--shard', '0/1', '--quiet', '--out', 'OUT']],
];

describe('file-system failures are the environment\'s, not bugs: exit 2 with the path named', () => {
  for (const [name, args] of WRITERS) {
    it(`${name} into a path under a file`, async () => {
      const blocker = path.join(dir, `${name}-file`);
      await fs.writeFile(blocker, 'x');
      const out = path.join(blocker, 'out');
      const r = await cli(args.map((a) => (a === 'OUT' ? out : a)));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(blocker);
      expect(r.stderr).not.toMatch(/internal error/);
    }, 120_000);

    it(`${name} onto a full disk, leaving no half-written file`, async () => {
      const full = path.join(dir, `${name}-full`);
      await fs.mkdir(full);
      const r = await cli(args.map((a) => (a === 'OUT' ? path.join(full, 'out') : a)), full);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/no space left/i);
      expect(r.stderr).toContain(full);
      expect(r.stderr).not.toMatch(/internal error/);
      // Nothing with content was left: the writes failed, and no temporary file survives.
      const left = await filesIn(full);
      for (const f of left) expect((await fs.stat(path.join(full, f))).size, f).toBe(0);
      expect(left.filter((f) => f.includes('.tmp-'))).toEqual([]);
    }, 120_000);
  }
});
