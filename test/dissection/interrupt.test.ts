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

  it('keeps the shards it finished, says so, and the same command resumes to the atlas of an uninterrupted run', async () => {
    const tmp = path.join(dir, 'resume');
    await fs.mkdir(tmp);
    const cache = path.join(tmp, 'cache');
    const args = (out: string, ...more: string[]): string[] => [
      bin, 'dissect', '--probe', 'builtin:scenes?count=160&seed=5', '--batch-size', '8', '--no-importance', '--no-strips', '--quiet', '--workers', '1',
      '--out', path.join(tmp, out), ...more,
    ];
    const env = { ...process.env, TMPDIR: tmp, NO_COLOR: '1', UNIT_ATTACK_CACHE: cache };
    const child = spawn(process.execPath, args('a'), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const partial = path.join(cache, 'partial');
    const kept = async (): Promise<string[]> => {
      const runs = await fs.readdir(partial).catch(() => [] as string[]);
      return runs.length === 0 ? [] : (await fs.readdir(path.join(partial, runs[0]))).filter((n) => n.endsWith('.bin'));
    };
    for (let i = 0; i < 1200 && (await kept()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const shards = (await kept()).length;
    expect(shards).toBeGreaterThanOrEqual(2);
    expect(stderr).toMatch(/of 5 shards of the dissection are kept in '.*partial.*'; the same command resumes from there/);
    expect(await actsFiles(tmp)).toEqual([]);

    const resumed = spawnSync(process.execPath, args('a', '--force'), { env, encoding: 'utf8' });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain(`resumed an interrupted dissection: ${shards} of 5 shards were read`);
    expect(await fs.readdir(partial)).toEqual([]); // cleared once the atlas is cached
    const whole = spawnSync(process.execPath, args('b', '--no-cache'), { env, encoding: 'utf8' });
    expect(whole.status).toBe(0);
    const atlas = async (out: string): Promise<unknown> => ({ ...JSON.parse(await fs.readFile(path.join(tmp, out, 'atlas.json'), 'utf8')), created: undefined });
    expect(await atlas('a')).toEqual(await atlas('b'));
  }, 240_000);

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
