import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';
import { writeLayersModel } from '../../src/models/io.js';
import { colorizeLabels, conceptColor, labelShares } from '../../src/report/segmentation.js';
import { COLOR_CATEGORIES, colorSegmenterModel } from './fixtures.js';

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

let dir: string;
let segDir: string;
const W = 20; const H = 10;

/** A 20×10 image: columns 0–4 red, 5–9 blue, the rest grey (none). */
function stripes(): Uint8Array {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = 3 * (y * W + x);
      const rgb = x < 5 ? [230, 10, 10] : x < 10 ? [10, 10, 230] : [128, 128, 128];
      data.set(rgb, i);
    }
  }
  return data;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-segment-cmd-'));
  segDir = path.join(dir, 'seg');
  await writeLayersModel(colorSegmenterModel(), segDir, { format: 'unit-attack-segmenter', version: 1, categories: COLOR_CATEGORIES });
  await sharp(stripes(), { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(dir, 'stripes.png'));
  const good = await fs.readFile(path.join(dir, 'stripes.png'));
  await fs.writeFile(path.join(dir, 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('colour-coded label maps', () => {
  it('paints each pixel with its concept colour and none black, and counts shares by hand', () => {
    const labels = [0, 1, 1, 2, 9, 0];
    const img = colorizeLabels(labels, 3, 2, [{ id: 1, name: 'tree', category: 'object' }, { id: 2, name: 'zorb', category: 'object' }]);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(img.data.subarray(3, 6))).toEqual(conceptColor('tree'));
    expect(Array.from(img.data.subarray(9, 12))).toEqual(conceptColor('zorb'));
    expect(Array.from(img.data.subarray(12, 15))).toEqual([0, 0, 0]); // an id no concept has
    expect(labelShares(labels)).toEqual(new Map([[0, 2 / 6], [1, 2 / 6], [2, 1 / 6], [9, 1 / 6]]));
  });

  it('gives concepts without a fixed colour a stable colour of their own', () => {
    expect(conceptColor('zorb')).toEqual(conceptColor('zorb'));
    expect(conceptColor('zorb')).not.toEqual(conceptColor('blorp'));
    for (const c of conceptColor('quux')) expect(c >= 0 && c <= 255).toBe(true);
  });
});

describe('unit-attack segment', () => {
  it('writes colour-coded maps, a sheet, a legend and shares that match the image, and skips an unreadable file', async () => {
    const out = path.join(dir, 'out');
    const io = captureIO();
    const code = await main(['segment', '--backend', 'cpu', '--segmenter', segDir, '--image', path.join(dir, 'stripes.png'), path.join(dir, 'truncated.png'), '--out', out, '--json'], io);
    expect(code).toBe(0);
    expect(io.stderr.join('\n')).toMatch(/skipped '.*truncated\.png'/);
    const report = JSON.parse(await fs.readFile(path.join(out, 'segments.json'), 'utf8')) as {
      images: Array<{ size: number[]; concepts: Array<{ name: string; share: number }>; files: { sheet: string; maps: Record<string, string> } }>;
      skipped: Array<{ file: string }>;
    };
    expect(report.skipped.map((s) => path.basename(s.file))).toEqual(['truncated.png']);
    expect(report.images).toHaveLength(1);
    expect(report.images[0].size).toEqual([H, W]);
    expect(report.images[0].concepts).toEqual([{ name: 'bluething', category: 'object', share: 0.25 }, { name: 'redthing', category: 'object', share: 0.25 }]);
    const { data, info } = await sharp(path.join(out, report.images[0].files.maps.object)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([W, H]);
    const px = (x: number, y: number): number[] => Array.from(data.subarray(3 * (y * W + x), 3 * (y * W + x) + 3));
    expect(px(2, 4)).toEqual(conceptColor('redthing'));
    expect(px(7, 4)).toEqual(conceptColor('bluething'));
    expect(px(15, 4)).toEqual([0, 0, 0]);
    for (const f of ['legend.png', 'stripes.png']) expect((await sharp(path.join(out, f)).metadata()).format).toBe('png');
    expect((await fs.readdir(out)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // Again into the same folder: refused, then with --force the earlier run's files are replaced and others kept.
    const args = ['segment', '--backend', 'cpu', '--segmenter', segDir, '--image', path.join(dir, 'stripes.png'), '--out', out];
    let again = captureIO();
    expect(await main(args, again)).toBe(2);
    expect(again.stderr.join('\n')).toMatch(/not empty/);
    await fs.writeFile(path.join(out, 'mine.txt'), 'x');
    again = captureIO();
    expect(await main([...args, '--force'], again)).toBe(0);
    expect((await fs.readdir(out)).sort()).toEqual(['legend.png', 'mine.txt', 'segments.json', 'stripes.object.png', 'stripes.png']);
  });

  it('exits 2 when no image is readable, and when the output folder cannot be made', async () => {
    let io = captureIO();
    expect(await main(['segment', '--backend', 'cpu', '--segmenter', segDir, '--image', path.join(dir, 'truncated.png'), '--out', path.join(dir, 'out2')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/none of the 1 image/);
    // No legend or report that would pass for a finished run, and no "wrote" line.
    expect(existsSync(path.join(dir, 'out2', 'segments.json')) || existsSync(path.join(dir, 'out2', 'legend.png'))).toBe(false);
    expect(io.stdout.join('\n')).not.toMatch(/wrote/);
    io = captureIO();
    expect(await main(['segment', '--backend', 'cpu', '--segmenter', segDir, '--image', path.join(dir, 'stripes.png'), '--out', path.join(dir, 'stripes.png', 'sub')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/not a folder|is a file/);
    io = captureIO();
    expect(await main(['segment', '--backend', 'cpu', '--out', path.join(dir, 'out3')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--image/);
  });

  it('names the sidecar and the fix when a segmenter folder has none', async () => {
    const bare = path.join(dir, 'bare');
    await fs.mkdir(bare, { recursive: true });
    await fs.copyFile(path.join(segDir, 'model.json'), path.join(bare, 'model.json'));
    const io = captureIO();
    expect(await main(['segment', '--backend', 'cpu', '--segmenter', bare, '--image', path.join(dir, 'stripes.png'), '--out', path.join(dir, 'out4')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/unit-attack\.json/);
  });
});
