import * as tf from '../../src/tf.js';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { colormap, heatmapOverlay, heatmapPair, labelledStrip, perturbationAmplification, rgbToPng, sideBySide, unitMaps } from '../../src/report/heatmap.js';
import type { RgbImage } from '../../src/data/images.js';
import { expectNoLeak } from '../helpers.js';
import { colourImages, colourModel } from '../attacks/helpers.js';

function image(w: number, h: number, seed = 1): RgbImage {
  const data = new Uint8Array(w * h * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; data[i] = s >>> 24; }
  return { data, width: w, height: h };
}

describe('heatmapOverlay', () => {
  it('keeps the image size and encodes to a PNG of that size', async () => {
    const img = image(40, 24);
    const out = heatmapOverlay(img, Float32Array.from({ length: 6 * 10 }, (_, i) => i), 6, 10);
    expect([out.width, out.height, out.data.length]).toEqual([40, 24, 40 * 24 * 3]);
    const meta = await sharp(await rgbToPng(out)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 40, 24]);
  });

  it('gives back the bare image when the activation is zero everywhere', () => {
    const img = image(16, 16, 7);
    const out = heatmapOverlay(img, new Float32Array(4 * 4), 4, 4);
    expect(Buffer.from(out.data).equals(Buffer.from(img.data))).toBe(true);
    const alsoBare = heatmapOverlay(img, new Float32Array(4 * 4), 4, 4, { vmax: 3 });
    expect(Buffer.from(alsoBare.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('colours only where the map is active, more strongly where it is larger', () => {
    const img: RgbImage = { data: new Uint8Array(8 * 8 * 3).fill(128), width: 8, height: 8 };
    const map = new Float32Array(8 * 8);
    map[0] = 1; // top-left pixel only (same resolution, so no spreading)
    const out = heatmapOverlay(img, map, 8, 8, { alpha: 0.5 });
    expect(Array.from(out.data.slice(0, 3))).not.toEqual([128, 128, 128]);
    expect(Array.from(out.data.slice(3 * 63))).toEqual([128, 128, 128]);
    const c = colormap(1);
    expect(out.data[0]).toBe(Math.round(0.5 * 128 + 0.5 * c[0]));
  });

  it('rejects a map of the wrong size and an opacity outside [0, 1]', () => {
    expect(() => heatmapOverlay(image(4, 4), new Float32Array(5), 2, 2)).toThrow(/4 values|5 values/);
    expect(() => heatmapOverlay(image(4, 4), new Float32Array(4), 2, 2, { alpha: 2 })).toThrow(/alpha/);
  });
});

describe('heatmapPair and unitMaps', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('draws before and after on one scale', () => {
    const img = image(8, 8);
    const p = heatmapPair(img, img, Float32Array.from([0, 1, 0, 0]), Float32Array.from([0, 4, 0, 0]), 2, 2);
    expect(p.vmax).toBe(4);
    const q = heatmapPair(img, img, new Float32Array(4), new Float32Array(4), 2, 2);
    expect(Buffer.from(q.after.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('sums the chosen units per image and leaves no tensors behind', async () => {
    const clf = colourModel();
    const x = colourImages(2, 16, 3);
    const m = await expectNoLeak(() => unitMaps(clf, 'units', [0, 1], x));
    expect([m.h, m.w, m.maps.length]).toEqual([16, 16, 2]);
    const px = await x.data();
    // units 0 and 1 pass red and green through a ReLU: their sum at pixel 0 of image 0 is r + g.
    expect(m.maps[0][0]).toBeCloseTo(px[0] + px[1], 5);
    const none = unitMaps(clf, 'units', [], x);
    expect(none.maps[1].every((v) => v === 0)).toBe(true);
    x.dispose(); clf.dispose();
  });

  it('places panels side by side with a gap, scaled', () => {
    const s = sideBySide([image(4, 4), image(6, 4)], 2, 2);
    expect([s.width, s.height]).toEqual([8 + 2 + 12, 8]);
  });
});

describe('labelledStrip', () => {
  const panel = (v: number): { data: Uint8Array; width: number; height: number } => ({ data: new Uint8Array(40 * 30 * 3).fill(v), width: 40, height: 30 });

  it('puts the panels under a row of titles, unchanged, with the colour scale and the note below', async () => {
    const panels = [panel(10), panel(200), panel(90)];
    const png = await labelledStrip(panels, { titles: ['clean', 'adversarial', 'units'], scales: [{ label: 'suppressed', vmax: 2.5 }], note: 'amplified ×12.0' }, 4, 2);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const bare = sideBySide(panels, 4, 2);
    expect(info.width).toBe(Math.max(bare.width, 420));
    expect(info.height).toBe(20 + bare.height + 38);
    for (const [x, y] of [[0, 0], [100, 30], [bare.width - 1, bare.height - 1]]) {
      const at = ((20 + y) * info.width + x) * info.channels;
      const src = (y * bare.width + x) * 3;
      expect([data[at], data[at + 1], data[at + 2]]).toEqual([bare.data[src], bare.data[src + 1], bare.data[src + 2]]);
    }
    // The title row and the legend are drawn (not blank), and the colour bar runs dark to light.
    const rowInk = (y0: number, y1: number): number => {
      let ink = 0;
      for (let y = y0; y < y1; y++) for (let x = 0; x < info.width; x++) if (data[(y * info.width + x) * info.channels] < 128) ink++;
      return ink;
    };
    expect(rowInk(0, 20)).toBeGreaterThan(20);
    expect(rowInk(20 + bare.height, info.height)).toBeGreaterThan(20);
    const bar = (x: number): number => data[((20 + bare.height + 10) * info.width + x) * info.channels];
    expect(bar(12)).toBeLessThan(bar(128));
  });

  it('wants one title per panel', async () => {
    await expect(labelledStrip([panel(1), panel(2)], { titles: ['one'], scales: [] })).rejects.toThrow(/1 titles for 2 panels/);
  });
});

describe('perturbationAmplification', () => {
  it('is the factor that maps the largest change to full contrast', () => {
    const a = { data: new Uint8Array([10, 20, 30]), width: 1, height: 1 };
    expect(perturbationAmplification(a, { ...a, data: new Uint8Array([15, 20, 30]) })).toBeCloseTo(127.5 / 5, 10);
    expect(perturbationAmplification(a, a)).toBe(1);
  });
});
