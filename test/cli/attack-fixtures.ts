/**
 * What the tests of an attack in parts share (`attack --shard` with `merge`, `attack --queue`): the command run in
 * this process with its output captured, small test images, and the check that two output folders hold the same
 * run (JSON equal but for its timing fields, every other file byte for byte).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';

/** An IO that keeps what the command writes, colours stripped. */
export function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

/** `unit-attack --backend cpu ARGS…` in this process. */
export async function cliRun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIO();
  const code = await main(['--backend', 'cpu', ...args], io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

/**
 * `count` greyish 16×16 PNGs `img-K.png` in `dir`, image K leaning to colour K mod 3 by `lean(K)` 8-bit steps, with a
 * little noise: some fall to an attack at small ε, some do not.
 */
export async function writeTestImages(dir: string, count: number, lean: (k: number) => number): Promise<void> {
  for (let k = 0; k < count; k++) {
    const px = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < 16 * 16; i++) {
      const n = ((i * 37 + k * 11) % 9) - 4;
      for (let ch = 0; ch < 3; ch++) px[3 * i + ch] = 124 + (ch === k % 3 ? lean(k) : 0) + (ch === 2 ? -n : n);
    }
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path.join(dir, `img-${k}.png`));
  }
}

/** Every file under `d`, relative. */
export async function filesOf(d: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(d, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) await walk(r); else out.push(r);
    }
  };
  await walk('');
  return out.sort();
}

/** A JSON document without its timing fields. */
export function withoutTiming(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTiming);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'created' && k !== 'seconds').map(([k, x]) => [k, withoutTiming(x)]));
  }
  return v;
}

/** A folder's result.json without its timing fields. */
export async function resultOf(d: string): Promise<unknown> {
  return withoutTiming(JSON.parse(await fs.readFile(path.join(d, 'result.json'), 'utf8')));
}

/** `merged` holds the files of the one-process run in `whole` (but its part files): JSON equal but for timing, everything else byte for byte. */
export async function expectSameOutput(whole: string, merged: string): Promise<void> {
  const files = (await filesOf(whole)).filter((f) => !f.startsWith('attack-part'));
  expect(await filesOf(merged)).toEqual(files);
  for (const f of files) {
    const [a, b] = await Promise.all([fs.readFile(path.join(whole, f)), fs.readFile(path.join(merged, f))]);
    if (f.endsWith('.json')) {
      const [ja, jb] = [JSON.parse(a.toString('utf8')) as unknown, JSON.parse(b.toString('utf8')) as unknown];
      expect(withoutTiming(jb), f).toEqual(withoutTiming(ja));
    } else {
      expect(b.equals(a), `${f} differs`).toBe(true);
    }
  }
}
