import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImage, perturbationPicture, readImageRgb, savePng, tensorToRgb } from '../../src/data/images.js';
import { UnitAttackError } from '../../src/errors.js';

let dir: string;
beforeAll(async () => { await tf.setBackend('cpu'); dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-img-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

describe('PNG round trip', () => {
  it('writes and reads back bit-identical 8-bit RGB', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer(),
      async (w, h, seed) => {
        const data = new Uint8Array(w * h * 3);
        let s = seed >>> 0;
        for (let i = 0; i < data.length; i++) { s = (s * 1664525 + 1013904223) >>> 0; data[i] = s >>> 24; }
        const file = path.join(dir, `rt-${w}-${h}.png`);
        await savePng(file, { data, width: w, height: h });
        const back = await readImageRgb(file);
        expect(back.width).toBe(w); expect(back.height).toBe(h);
        expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
        // and through the float tensor path: [0,1] floats round back to the same bytes
        const t = await loadImage(file);
        expect(Buffer.from(tensorToRgb(t).data).equals(Buffer.from(data))).toBe(true);
        t.dispose();
      }), { numRuns: 15 });
  });
});

describe('fitting to the input size', () => {
  it('crop: resizes the shorter side and takes the centre', async () => {
    // 6×2 image whose columns are 0,40,80,120,160,200: cropping to 2×2 keeps the middle columns 80 and 120.
    const w = 6; const h = 2; const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = x * 40;
    const file = path.join(dir, 'wide.png');
    await savePng(file, { data, width: w, height: h });
    const img = await readImageRgb(file, { size: [2, 2], fit: 'crop' });
    expect([img.data[0], img.data[3]]).toEqual([80, 120]);
    const stretched = await readImageRgb(file, { size: [2, 2], fit: 'stretch' });
    expect(stretched.width).toBe(2);
    expect(stretched.data[0]).toBeLessThan(80); // the left half averages the leftmost columns
  });

  it('reads JPEG and WebP, and drops alpha', async () => {
    const rgba = Buffer.alloc(8 * 8 * 4, 200);
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    const translucent = Buffer.alloc(8 * 8 * 4, 200); // alpha 200 is dropped, not blended
    const jpg = path.join(dir, 'a.jpg'); const webp = path.join(dir, 'a.webp'); const png = path.join(dir, 'alpha.png');
    await sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } }).jpeg().toFile(jpg);
    await sharp(rgba, { raw: { width: 8, height: 8, channels: 4 } }).webp({ lossless: true }).toFile(webp);
    await sharp(translucent, { raw: { width: 8, height: 8, channels: 4 } }).png().toFile(png);
    for (const f of [jpg, webp, png]) {
      const t = await loadImage(f, { size: [4, 4] });
      expect(t.shape).toEqual([1, 4, 4, 3]);
      const m = t.mean().dataSync()[0];
      expect(Math.abs(m - 200 / 255)).toBeLessThan(0.02);
      t.dispose();
    }
  });
});

describe('bad images', () => {
  it('names the file that is not an image', async () => {
    const f = path.join(dir, 'notes.png');
    await fs.writeFile(f, 'hello, not a png');
    await expect(readImageRgb(f)).rejects.toSatisfy((e: unknown) =>
      e instanceof UnitAttackError && e.code === 'UA_INPUT' && e.message.includes(f));
  });

  it('names a truncated file', async () => {
    const f = path.join(dir, 'full.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toFile(f);
    const bytes = await fs.readFile(f);
    const t = path.join(dir, 'truncated.png');
    await fs.writeFile(t, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(readImageRgb(t)).rejects.toThrowError(/truncated\.png/);
  });

  it('names a missing file', async () => {
    await expect(readImageRgb(path.join(dir, 'nope.png'))).rejects.toThrowError(/nope\.png.*ENOENT/);
  });
});

describe('perturbationPicture', () => {
  it('maps no change to grey and the largest change to full contrast', () => {
    const a = { data: new Uint8Array([10, 10, 10, 100, 100, 100]), width: 2, height: 1 };
    const b = { data: new Uint8Array([10, 10, 10, 104, 96, 100]), width: 2, height: 1 };
    const p = perturbationPicture(a, b);
    expect(Array.from(p.data)).toEqual([128, 128, 128, 255, 0, 128]);
  });
});
