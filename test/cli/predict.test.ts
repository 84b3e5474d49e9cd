import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';
import { writeBrodenDataset } from '../../src/data/broden/index.js';

const root = path.resolve(import.meta.dirname, '../..');
let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-predict-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

describe('unit-attack predict over a folder', () => {
  it('classifies the readable images, skips and names a truncated one, and stops on it with --strict', async () => {
    const photos = path.join(dir, 'photos');
    await fs.mkdir(photos);
    for (const name of ['beach', 'bedroom', 'ski_resort']) await fs.copyFile(path.join(root, 'examples', `${name}.png`), path.join(photos, `${name}.png`));
    const good = await fs.readFile(path.join(root, 'examples', 'kitchen.png'));
    await fs.writeFile(path.join(photos, 'truncated.png'), good.subarray(0, Math.floor(good.length / 3)));
    const io = captureIO();
    expect(await main(['predict', '--images', photos, '--workers', '1', '--json'], io)).toBe(0);
    const r = JSON.parse(io.stdout.join('\n')) as { results: Array<{ image: string; top: Array<{ class: string }> }>; skipped: Array<{ file: string; reason: string }> };
    expect(r.results.map((x) => path.basename(x.image))).toEqual(['beach.png', 'bedroom.png', 'ski_resort.png']);
    expect(r.results.map((x) => x.top[0].class)).toEqual(['beach', 'bedroom', 'ski_resort']);
    expect(r.skipped.map((s) => path.basename(s.file))).toEqual(['truncated.png']);
    expect(io.stderr.join('\n')).toMatch(/skipped '.*truncated\.png'/);
    const strict = captureIO();
    expect(await main(['predict', '--images', photos, '--workers', '1', '--strict'], strict)).toBe(2);
    expect(strict.stderr.join('\n')).toContain('truncated.png');
  });

  it('finds the scenes of a folder written by synth, not its label maps', async () => {
    const synth = path.join(dir, 'synth');
    await writeBrodenDataset(synth, { count: 3, seed: 2, size: 96 });
    const io = captureIO();
    expect(await main(['predict', '--images', synth, '--workers', '1', '--json'], io)).toBe(0);
    const r = JSON.parse(io.stdout.join('\n')) as { results: Array<{ image: string }> };
    expect(r.results).toHaveLength(3);
    for (const x of r.results) expect(x.image).not.toMatch(/_(object|part|material|color|label)\.png$/);
  });

  it('shows --top-n classes; the deprecated --top still works, with a warning, and stays out of the help', async () => {
    const image = path.join(root, 'examples', 'ski_resort.png');
    const run = async (args: string[]): Promise<{ io: ReturnType<typeof captureIO>; top: Array<{ class: string }> }> => {
      const io = captureIO();
      expect(await main(['predict', '--image', image, '--workers', '1', '--json', ...args], io)).toBe(0);
      return { io, top: (JSON.parse(io.stdout.join('\n')) as { results: Array<{ top: Array<{ class: string }> }> }).results[0].top };
    };
    expect((await run([])).top).toHaveLength(5);
    const n = await run(['--top-n', '2']);
    expect(n.top).toHaveLength(2);
    expect(n.io.stderr.join('\n')).not.toMatch(/deprecated/);
    const old = await run(['--top', '3']);
    expect(old.top).toHaveLength(3);
    expect(old.io.stderr.join('\n')).toMatch(/--top is deprecated; use --top-n/);
    const help = captureIO();
    expect(await main(['predict', '--help'], help)).toBe(0);
    const text = help.stdout.join('\n');
    expect(text).toMatch(/--top-n .*how many classes to show \(--top, the former spelling, is deprecated/);
    expect(text).not.toMatch(/^\s*--top\s/m);
  });

  it('asks for images one way', async () => {
    const io = captureIO();
    expect(await main(['predict'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/name the images to classify/);
  });
});
