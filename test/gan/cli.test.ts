import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';
import { parseAtlas } from '../../src/dissection/atlas.js';
import { latentStream } from '../../src/gan/generator.js';

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIO();
  const code = await main(['--backend', 'wasm', ...args], io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-gan-cli-'));
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe('unit-attack generate', () => {
  it('writes the samples of latents 0…N−1, a contact sheet and their segmentations from builtin:scenes-gan', async () => {
    const out = path.join(dir, 'gen');
    const r = await run(['generate', '--model', 'builtin:scenes-gan', '--count', '3', '--seed', '5', '--batch-size', '2', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { count: number; seed: number; samples: Array<{ file: string; index: number; concepts: Array<{ name: string; category: string; share: number }> }> };
    expect(result.samples.map((s) => s.file)).toEqual(['sample-00000.png', 'sample-00001.png', 'sample-00002.png']);
    const files = await fs.readdir(out);
    for (const f of ['contact-sheet.png', 'segments.json', 'samples.json', 'legend.png', 'sample-00002.sheet.png']) expect(files).toContain(f);
    expect(files.some((f) => /^sample-00001\.\w+\.png$/.test(f) && !f.includes('sheet'))).toBe(true);
    const meta = await sharp(path.join(out, 'sample-00001.png')).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);
    // Each category's concept shares of a sample add up to at most 1 (the rest is "none of this category").
    expect(result.samples[0].concepts.length).toBeGreaterThan(0);
    const byCategory = new Map<string, number>();
    for (const c of result.samples[0].concepts) byCategory.set(c.category, (byCategory.get(c.category) ?? 0) + c.share);
    for (const v of byCategory.values()) expect(v).toBeLessThanOrEqual(1 + 1e-6);
    // The same seed and a different cut of the stream give the same sample 2.
    const out2 = path.join(dir, 'gen2');
    const r2 = await run(['generate', '--count', '3', '--seed', '5', '--batch-size', '3', '--no-segment', '--out', out2]);
    expect(r2.code).toBe(0);
    const a = await sharp(path.join(out, 'sample-00002.png')).raw().toBuffer();
    const b = await sharp(path.join(out2, 'sample-00002.png')).raw().toBuffer();
    expect(Buffer.compare(a, b)).toBe(0);
    expect(existsSync(path.join(out2, 'segments.json'))).toBe(false);
    expect(latentStream(5, 2, 1, 4)).toEqual(latentStream(5, 0, 3, 4).subarray(8, 12));
  });

  it('refuses --count < 1, a non-empty --out without --force, and an unknown generator, with exit code 2 and nothing written', async () => {
    const bad = await run(['generate', '--count', '0', '--out', path.join(dir, 'none')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--count must be a whole number ≥ 1/);
    expect(existsSync(path.join(dir, 'none'))).toBe(false);
    const full = path.join(dir, 'full');
    await fs.mkdir(full);
    await fs.writeFile(path.join(full, 'keep.txt'), 'x');
    const refused = await run(['generate', '--count', '1', '--out', full]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--out .* is not empty/);
    const unknown = await run(['generate', '--model', 'builtin:nope', '--count', '1', '--out', path.join(dir, 'nope')]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/builtin:scenes-gan/);
    expect(existsSync(path.join(dir, 'nope'))).toBe(false);
  });
});

describe('unit-attack dissect on a generator', () => {
  it('dissects layer4 of builtin:scenes-gan on 16 samples: atlas, strips and page, then the cache', async () => {
    const out = path.join(dir, 'dissect');
    const cache = path.join(dir, 'cache');
    const args = ['dissect', '--model', 'builtin:scenes-gan', '--layer', 'layer4', '--samples', '16', '--segmenter', 'builtin:scenes-segmenter', '--top-images', '2', '--json'];
    process.env.UNIT_ATTACK_CACHE = cache;
    try {
      const r = await run([...args, '--out', out]);
      expect(r.code).toBe(0);
      const res = JSON.parse(r.out) as { cached: boolean; summary: { units: number } };
      expect(res.cached).toBe(false);
      expect(res.summary.units).toBe(128);
      const atlas = parseAtlas(JSON.parse(await fs.readFile(path.join(out, 'atlas.json'), 'utf8')));
      expect(atlas.probe.spec).toBe('generated:builtin:scenes-gan?seed=1&count=16');
      expect(atlas.probe.segmenter?.name).toBe('builtin:scenes-segmenter');
      expect(atlas.layerShape).toEqual([8, 8, 128]);
      expect(atlas.units.every((u) => u.ceiling !== undefined && u.iou <= u.ceiling + 1e-6)).toBe(true);
      expect((await fs.readdir(path.join(out, 'strips'))).length).toBe(128);
      expect(await fs.readFile(path.join(out, 'index.html'), 'utf8')).toMatch(/Generated samples/);
      const again = await run([...args, '--out', path.join(dir, 'dissect2')]);
      expect((JSON.parse(again.out) as { cached: boolean }).cached).toBe(true);
    } finally {
      delete process.env.UNIT_ATTACK_CACHE;
    }
  });

  it('refuses --samples < 1, a layer without a spatial map, and --samples with a classifier: exit code 2, nothing written', async () => {
    const none = path.join(dir, 'none-dissect');
    const a = await run(['dissect', '--model', 'builtin:scenes-gan', '--samples', '0', '--out', none]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--samples must be a whole number ≥ 1/);
    const b = await run(['dissect', '--model', 'builtin:scenes-gan', '--layer', 'layer1_dense', '--samples', '4', '--out', none]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/spatial map/);
    expect(b.err).toMatch(/layer4 \(8×8\)/);
    const c = await run(['dissect', '--model', 'builtin:scenes-vgg16', '--samples', '4', '--out', none]);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--samples applies to a generator/);
    expect(existsSync(none)).toBe(false);
  });
});
