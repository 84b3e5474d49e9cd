import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-merge-cli-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

/** 160 scenes in batches of 8: a plan of 5 shards. */
const DISSECT = ['dissect', '--probe', 'builtin:scenes?count=160&seed=5', '--batch-size', '8', '--top-n', '5', '--quiet', '--workers', '1'];
const atlasOf = async (out: string): Promise<unknown> => ({ ...JSON.parse(await fs.readFile(path.join(out, 'atlas.json'), 'utf8')), created: undefined });

describe('unit-attack dissect --shard and merge', () => {
  it('parts written to one folder merge into the atlas of a one-process run', async () => {
    const shards = path.join(dir, 'shards');
    const parts: string[] = [];
    for (const part of ['0/3', '1/3', '2/3']) {
      const io = captureIO();
      expect(await main([...DISSECT, '--shard', part, '--out', shards], io)).toBe(0);
      parts.push(io.stdout.join('\n'));
    }
    expect(parts[0]).toMatch(/^part 0\/3 of dissection \w+: shards 1–1 of 5; 1 written to /);
    expect(parts[2]).toMatch(/shards 4–5 of 5; 2 written/);
    expect(parts[2]).toContain(`unit-attack merge ${shards} --out DIR`);
    expect((await fs.readdir(shards)).filter((n) => n.endsWith('.shard'))).toHaveLength(5);

    const io = captureIO();
    expect(await main(['merge', shards, '--out', path.join(dir, 'merged'), '--no-cache', '--no-strips', '--quiet'], io)).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/dissected block5_conv3 .* 160 images/);
    const whole = captureIO();
    expect(await main([...DISSECT, '--no-cache', '--no-strips', '--out', path.join(dir, 'whole')], whole)).toBe(0);
    expect(await atlasOf(path.join(dir, 'merged'))).toEqual(await atlasOf(path.join(dir, 'whole')));
  }, 240_000);

  it('names the missing shards, parts of another dissection, and a bad --shard; exit 2, nothing written', async () => {
    const a = path.join(dir, 'a');
    expect(await main([...DISSECT, '--shard', '0/2', '--out', a], captureIO())).toBe(0);
    let io = captureIO();
    expect(await main(['merge', a, '--out', path.join(dir, 'm1'), '--no-cache', '--quiet'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/3 of the 5 shards are missing: 3, 4, 5/);
    expect(existsSync(path.join(dir, 'm1', 'atlas.json'))).toBe(false);

    const b = path.join(dir, 'b');
    expect(await main([...DISSECT, '--quantile', '0.02', '--shard', '1/2', '--out', b], captureIO())).toBe(0);
    io = captureIO();
    expect(await main(['merge', a, b, '--out', path.join(dir, 'm2'), '--no-cache', '--quiet'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/parts of different dissections \(--quantile: 0\.01 ≠ 0\.02\)/);
    // The same folder for parts of two dissections is refused before anything is computed.
    io = captureIO();
    expect(await main([...DISSECT, '--quantile', '0.02', '--shard', '1/2', '--out', a], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/holds parts of another dissection \(--quantile: 0\.01 ≠ 0\.02\)/);

    for (const bad of ['3/2', '0/0', 'x', '1/-2']) {
      io = captureIO();
      expect(await main([...DISSECT, '--shard', bad, '--out', path.join(dir, 'never')], io)).toBe(2);
      expect(io.stderr.join('\n')).toMatch(/--shard must be i\/N with 0 ≤ i < N/);
    }
    expect(existsSync(path.join(dir, 'never'))).toBe(false);

    io = captureIO();
    expect(await main(['merge', dir, '--out', path.join(dir, 'm3'), '--quiet'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/holds dissect\.json, attack-part\.json or run-part\.json, the settings of a part/);
  }, 240_000);
});
