import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeStaleActivationFiles } from '../../src/dissection/store.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/unit-attack.js');

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-interrupt-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

const actsFiles = async (d: string): Promise<string[]> => (await fs.readdir(d)).filter((n) => n.startsWith('unit-attack-acts-'));

/** Starts a long dissection with its own temp folder, waits for its activation file, sends `signal`, answers the exit code. */
async function interrupted(signal: NodeJS.Signals, tmp: string): Promise<number | null> {
  const child = spawn(process.execPath, [bin, 'dissect', '--probe', 'builtin:scenes?count=3000&seed=3', '--no-cache', '--quiet', '--workers', '2', '--out', path.join(tmp, 'out')], {
    env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' }, stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 600 && (await actsFiles(tmp)).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect((await actsFiles(tmp)).length).toBeGreaterThan(0);
  child.kill(signal);
  return exited;
}

describe('an interrupted dissection', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`leaves no activation files behind on ${signal}`, async () => {
      const tmp = path.join(dir, signal);
      await fs.mkdir(tmp);
      expect(await interrupted(signal, tmp)).toBe(code);
      expect(await actsFiles(tmp)).toEqual([]);
    }, 120_000);
  }

  it('finds the files of killed runs and removes them, and leaves those of live processes alone', async () => {
    const tmp = path.join(dir, 'stale');
    await fs.mkdir(tmp);
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']).stdout.toString().trim();
    await fs.writeFile(path.join(tmp, `unit-attack-acts-${dead}-abc-def.bin`), 'old');
    await fs.writeFile(path.join(tmp, `unit-attack-acts-${process.pid}-abc-def.bin`), 'mine');
    await fs.writeFile(path.join(tmp, 'unit-attack-acts-notapid.bin'), 'other');
    expect(await removeStaleActivationFiles(tmp)).toBe(1);
    expect((await actsFiles(tmp)).sort()).toEqual([`unit-attack-acts-${process.pid}-abc-def.bin`, 'unit-attack-acts-notapid.bin']);
  });
});
