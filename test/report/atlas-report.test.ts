import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAtlas } from '../../src/dissection/atlas.js';
import type { ProbeItem, ProbeSet } from '../../src/dissection/probe.js';
import { ablationChart, atlasHtml, renderUnitStrip, writeAtlasReport } from '../../src/report/atlas-report.js';
import { sampleAtlas } from '../dissection/atlas-fixture.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-report-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

/** An 8×8 probe whose image i is flat grey level 10·i. */
function greyProbe(): ProbeSet {
  return {
    kind: 'test', spec: 'test', signature: 'test', count: 4, imageSize: [8, 8], labelPlanes: 1, concepts: [], classNames: undefined,
    load: (index) => Promise.resolve<ProbeItem>({ index, id: `img-${index}`, image: new Uint8Array(8 * 8 * 3).fill(10 * index + 100), labels: new Uint16Array(64) }),
  };
}

describe('renderUnitStrip', () => {
  it('outlines where the upsampled activation exceeds the threshold and dims the rest', async () => {
    const atlas = sampleAtlas();
    // Unit 0 (threshold 0.5): map [0, 1, 2.5, NaN] on a 2×2 grid → the bottom-left quarter and around it are active.
    const unit = { ...atlas.units[0], topImages: [{ index: 1, id: 'img-1', value: 2.5, map: [0, 0, 2.5, 0] }, { index: 2, id: 'img-2', value: 1, map: [1, 1, 1, 1] }] };
    const probe = greyProbe();
    const png = await renderUnitStrip(atlas, unit, (i) => probe.load(i));
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([8 * 2 + 2, 8]);
    const px = (x: number, y: number): number[] => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    expect(px(0, 7)).toEqual([255, 214, 0]); // the border of the active region is outlined
    expect(px(7, 0)).toEqual([Math.round(110 * 0.45 + 40), Math.round(110 * 0.45 + 40), Math.round(110 * 0.45 + 40)]); // inactive: dimmed
    expect(px(8, 0)).toEqual([255, 255, 255]); // the gap between images
    expect(px(10 + 3, 3)).toEqual([120, 120, 120]); // second image: all active, interior untouched
  });
});

describe('writeAtlasReport', () => {
  it('writes the atlas, CSVs, strips, plot and a sortable HTML page', async () => {
    const out = path.join(dir, 'report');
    const files = await writeAtlasReport(sampleAtlas(), out, { probe: greyProbe() });
    expect(await loadAtlas(files.atlas)).toEqual(sampleAtlas());
    expect(files.strips.map((f) => path.basename(f))).toEqual(['unit_0000.png', 'unit_0001.png', 'unit_0002.png', 'unit_0003.png']);
    expect((await sharp(files.plot).metadata()).width).toBeGreaterThan(800);
    expect(await fs.readFile(files.csv.units, 'utf8')).toContain('unit,threshold,concept');
    const html = await fs.readFile(files.html, 'utf8');
    expect(html).toContain('<img loading="lazy" src="strips/unit_0002.png"');
    expect(html.match(/<tr data-unit=/g)).toHaveLength(4);
    expect(html).toContain('data-key="iou"');
    expect(html).toContain('<svg'); // the plot, inline
    expect(html).toContain('3</b> of 4 units labelled');
  });

  it('draws each strip as tiles that wrap into rows of four on windows up to 1280 px wide', async () => {
    const atlas = sampleAtlas();
    const html = (await import('../../src/report/atlas-report.js')).atlasHtml(atlas, { strips: new Map([[2, 'strips/unit_0002.png']]) });
    const row = html.split('\n').find((l) => l.startsWith('<tr data-unit="2"'))!;
    const tiles = row.match(/<div class="tiles"[^>]*>(.*?)<\/div>/)!;
    expect(tiles[0]).toContain("--strip:url('strips/unit_0002.png')");
    const n = atlas.units.find((u) => u.unit === 2)!.topImages.length;
    expect(tiles[1].match(/<i style="background-position:/g)).toHaveLength(n);
    expect(html).toMatch(/@media \(max-width:1280px\)\{\.tiles\{max-width:calc\(4 \* var\(--tw\) \+ 6px\)\}\}/);
    expect(html).toMatch(/\.tiles\{display:flex;flex-wrap:wrap/);
  });

  it('embeds strips as data URIs on request, and can skip them', async () => {
    const a = await writeAtlasReport(sampleAtlas(), path.join(dir, 'embed'), { probe: greyProbe(), embedImages: true });
    expect(await fs.readFile(a.html, 'utf8')).toContain('src="data:image/png;base64,');
    const b = await writeAtlasReport(sampleAtlas(), path.join(dir, 'nostrips'), { probe: false });
    expect(b.strips).toEqual([]);
  });

  it('plots the asked classes and refuses unknown ones', () => {
    const chart = ablationChart(sampleAtlas(), ['a'])!;
    expect(chart.series.map((s) => s.name)).toEqual(['a: top-N ablated', 'a: only top-N kept', 'a: other classes']);
    expect(() => ablationChart(sampleAtlas(), ['zebra'])).toThrowError(/'zebra'/);
    expect(atlasHtml({ ...sampleAtlas(), ablation: {}, classImportance: {}, importanceNote: 'no classes' })).toContain('No class importance: no classes.');
  });
});
