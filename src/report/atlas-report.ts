/**
 * The report of a dissection: `atlas.json`, CSV views, a strip per unit of its top-activating probe images with
 * the active region outlined, an ablation plot, and one sortable HTML page that ties them together.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { rawToPng } from '../data/codec.js';
import { atlasSummary, atlasToCsv, saveAtlas, type Atlas, type AtlasUnit } from '../dissection/atlas.js';
import { openProbe, type ProbeItem, type ProbeSet } from '../dissection/probe.js';
import { upsampleMap } from '../dissection/upsample.js';
import { UnitAttackError, usageError } from '../errors.js';
import { writeAtomic } from '../util/atomic.js';
import { PALETTE, escapeXml, lineChartSvg, svgToPng, type LineChartOptions, type LineSeries } from './plot.js';

/** Options for {@link writeAtlasReport}. */
export interface AtlasReportOptions {
  /**
   * The probe set the atlas was made from, for the strips. `undefined`: reopen `atlas.probe.spec`;
   * `false`: write no strips.
   */
  probe?: ProbeSet | false;
  /** Classes drawn in the ablation plot. @defaultValue the 4 classes whose accuracy falls most */
  plotClasses?: readonly string[];
  /** Embed strips in the HTML as data URIs instead of linking `strips/…png`. @defaultValue false */
  embedImages?: boolean;
  /** Called after each strip. */
  onProgress?: (done: number, total: number) => void;
}

/** The files {@link writeAtlasReport} wrote, as paths. */
export interface AtlasReportFiles {
  atlas: string;
  csv: { units: string; importance: string; ablation: string };
  html: string;
  plot?: string;
  strips: string[];
}

/** Every top-level entry {@link writeAtlasReport} may write in its folder. */
export const ATLAS_REPORT_ENTRIES: readonly string[] = ['atlas.json', 'units.csv', 'importance.csv', 'ablation.csv', 'ablation.png', 'index.html', 'strips'];

/**
 * Writes the whole report of an atlas into `outDir`.
 *
 * @example
 * const { atlas } = await dissect(clf, 'builtin:scenes?count=2000');
 * await writeAtlasReport(atlas, 'out/dissect');
 */
export async function writeAtlasReport(atlas: Atlas, outDir: string, options: AtlasReportOptions = {}): Promise<AtlasReportFiles> {
  await fs.mkdir(outDir, { recursive: true }).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot create the folder '${outDir}': ${(err as Error).message}`, { file: outDir, path: 'outDir', cause: err });
  });
  const files: AtlasReportFiles = {
    atlas: path.join(outDir, 'atlas.json'),
    csv: { units: path.join(outDir, 'units.csv'), importance: path.join(outDir, 'importance.csv'), ablation: path.join(outDir, 'ablation.csv') },
    html: path.join(outDir, 'index.html'),
    strips: [],
  };
  await saveAtlas(atlas, files.atlas);
  const csv = atlasToCsv(atlas);
  await writeAtomic(files.csv.units, csv.units);
  await writeAtomic(files.csv.importance, csv.importance);
  await writeAtomic(files.csv.ablation, csv.ablation);

  let plotSvg: string | undefined;
  const chart = ablationChart(atlas, options.plotClasses);
  if (chart) {
    plotSvg = lineChartSvg(chart);
    files.plot = path.join(outDir, 'ablation.png');
    await writeAtomic(files.plot, await svgToPng(plotSvg, 1.5));
  }

  const strips = new Map<number, string>();
  if (options.probe !== false && atlas.units.some((u) => u.topImages.length > 0)) {
    const probe = options.probe ?? await openProbe(atlas.probe.spec, { inputSize: atlas.inputSize });
    if (probe.imageSize[0] !== atlas.inputSize[0] || probe.imageSize[1] !== atlas.inputSize[1]) {
      throw usageError(`the probe set's images are ${probe.imageSize.join('×')}, the atlas was made at ${atlas.inputSize.join('×')}`, { path: 'probe' });
    }
    const stripDir = path.join(outDir, 'strips');
    await fs.mkdir(stripDir, { recursive: true });
    const cache = new Map<number, Promise<ProbeItem | null>>();
    const load = (i: number): Promise<ProbeItem | null> => {
      let p = cache.get(i);
      if (!p) { p = probe.load(i); cache.set(i, p); }
      return p;
    };
    let done = 0;
    const units = atlas.units.filter((u) => u.topImages.length > 0);
    // A few units at a time, so that image loading (a render worker, or file reads) overlaps PNG encoding.
    for (let i = 0; i < units.length; i += 4) {
      const group = units.slice(i, i + 4);
      const pngs = await Promise.all(group.map((u) => renderUnitStrip(atlas, u, load)));
      for (const [j, u] of group.entries()) {
        const png = pngs[j];
        const file = path.join(stripDir, `unit_${String(u.unit).padStart(4, '0')}.png`);
        await writeAtomic(file, png);
        files.strips.push(file);
        strips.set(u.unit, options.embedImages ? `data:image/png;base64,${png.toString('base64')}` : `strips/${path.basename(file)}`);
        options.onProgress?.(++done, units.length);
      }
      // Images seen by earlier units are rarely needed again: keep the cache small.
      if (cache.size > 512) cache.clear();
    }
  }
  await writeAtomic(files.html, atlasHtml(atlas, { strips, plotSvg }));
  return files;
}

const OUTLINE: readonly [number, number, number] = [255, 214, 0];
const GAP = 2;

/**
 * A unit's strip: its top-activating probe images side by side, the region where the unit's activation (upsampled
 * bilinearly to the image) exceeds its threshold outlined in yellow and the rest dimmed. PNG bytes.
 */
export async function renderUnitStrip(atlas: Atlas, unit: AtlasUnit, load: (index: number) => Promise<ProbeItem | null>): Promise<Buffer> {
  const [H, W] = atlas.inputSize;
  const [h, w] = [atlas.layerShape[0], atlas.layerShape[1]];
  const n = unit.topImages.length;
  const stripW = n * W + (n - 1) * GAP;
  const out = new Uint8Array(stripW * H * 3).fill(255);
  const items = await Promise.all(unit.topImages.map((t) => load(t.index)));
  for (const [k, t] of unit.topImages.entries()) {
    const item = items[k];
    const x0 = k * (W + GAP);
    const mask = new Uint8Array(H * W);
    if (t.map.length === h * w) {
      const up = upsampleMap(t.map, h, w, H, W);
      for (let i = 0; i < mask.length; i++) mask[i] = up[i] > unit.threshold ? 1 : 0;
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        const o = (y * stripW + x0 + x) * 3;
        const inside = mask[i] === 1;
        const edge = inside && (x === 0 || y === 0 || x === W - 1 || y === H - 1
          || mask[i - 1] === 0 || mask[i + 1] === 0 || mask[i - W] === 0 || mask[i + W] === 0);
        for (let c = 0; c < 3; c++) {
          const v = item ? item.image[3 * i + c] : 128;
          out[o + c] = edge ? OUTLINE[c] : inside ? v : Math.round(v * 0.45 + 40);
        }
      }
    }
  }
  return rawToPng(out, stripW, H, { compressionLevel: 9 });
}

/** The classes whose accuracy falls most when their top units are ablated, largest fall first. */
export function classesByAblationEffect(atlas: Atlas): string[] {
  const fall = (name: string): number => {
    const a = atlas.ablation[name];
    const i = Math.min(a.N.length, 10) - 1;
    return i >= 0 ? a.baseAccuracy - (a.ablateAccuracy[i] ?? a.baseAccuracy) : 0;
  };
  return Object.keys(atlas.ablation).sort((a, b) => fall(b) - fall(a) || a.localeCompare(b));
}

/**
 * The ablation plot: for each class, accuracy with its top-N units zeroed (solid), with only them kept (dashed),
 * and the other classes' mean accuracy under the same ablation (dotted), against N. `undefined` without ablation data.
 */
export function ablationChart(atlas: Atlas, classes?: readonly string[]): LineChartOptions | undefined {
  const names = classes ?? classesByAblationEffect(atlas).slice(0, 4);
  for (const c of names) {
    if (!atlas.ablation[c]) throw usageError(`the atlas has no ablation curve for '${c}'`, { path: 'plotClasses', hint: `classes: ${Object.keys(atlas.ablation).join(', ')}` });
  }
  if (names.length === 0) return undefined;
  const series: LineSeries[] = [];
  names.forEach((c, i) => {
    const a = atlas.ablation[c];
    const color = PALETTE[i % PALETTE.length];
    series.push({ name: `${c}: top-N ablated`, color, points: [[0, a.baseAccuracy], ...a.N.map((N, j) => [N, a.ablateAccuracy[j]] as const)] });
    series.push({ name: `${c}: only top-N kept`, color, dash: 'dashed', markers: false, points: a.N.map((N, j) => [N, a.keepAccuracy[j]] as const) });
    series.push({ name: `${c}: other classes`, color, dash: 'dotted', markers: false, width: 1.5, points: [[0, a.baseOthersAccuracy], ...a.N.map((N, j) => [N, a.othersAccuracy[j]] as const)] });
  });
  const maxN = Math.max(...names.map((c) => atlas.ablation[c].N.length));
  return {
    title: `Accuracy as a class's most important ${atlas.layer} units are ablated`,
    xLabel: 'N (units ablated or kept, by class importance)', yLabel: 'accuracy (held-out probe images)',
    series, yDomain: [0, 1], xDomain: [0, maxN], xTicks: Array.from({ length: maxN + 1 }, (_, i) => i).filter((i) => maxN <= 20 || i % 5 === 0),
    yTicks: [0, 0.2, 0.4, 0.6, 0.8, 1], width: 900, height: 480,
  };
}

const fmt = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

/**
 * A unit's strip as tiles that wrap: each tile shows one top image of the strip PNG (its background, shifted), so
 * that on a window up to 1280 px wide the strip breaks into rows of four instead of widening the table. The `<img>`
 * beside them (hidden) keeps the strip a plain image for text browsers, and the page's link to the file.
 */
function stripTiles(src: string, unit: AtlasUnit, [H, W]: readonly [number, number]): string {
  const n = unit.topImages.length;
  const d = Math.max(64, Math.min(128, H));
  const s = d / H;
  const px = (v: number): string => `${Math.round(v * 100) / 100}px`;
  const tiles = unit.topImages.map((t, k) => `<i style="background-position:${px(-k * (W + GAP) * s)} 0" title="${escapeXml(t.id)}"></i>`).join('');
  const vars = `--strip:url('${escapeXml(src)}');--tw:${px(W * s)};--th:${px(d)};--sw:${px((n * W + (n - 1) * GAP) * s)}`;
  return `<div class="tiles" role="img" aria-label="unit ${unit.unit}: top-activating images" style="${vars}">${tiles}</div>`
    + `<img loading="lazy" src="${escapeXml(src)}" alt="unit ${unit.unit}" title="${escapeXml(unit.topImages.map((t) => t.id).join(', '))}">`;
}

/** The self-contained HTML page of an atlas (inline CSS and JS; strips linked or embedded). */
export function atlasHtml(atlas: Atlas, parts: { strips?: ReadonlyMap<number, string>; plotSvg?: string } = {}): string {
  const s = atlasSummary(atlas);
  const categories = [...new Set(atlas.probe.concepts.map((c) => c.category))];
  const importantFor = new Map<number, string[]>();
  for (const [cls, imp] of Object.entries(atlas.classImportance)) {
    for (const u of imp.ranking.slice(0, 5)) importantFor.set(u, [...(importantFor.get(u) ?? []), cls]);
  }
  const withCeiling = atlas.units.some((u) => u.ceiling !== undefined);
  const iqr = atlas.params.threshold === 'iqr';
  const generated = atlas.generator !== undefined;
  const rows = atlas.units.map((u) => {
    const strip = parts.strips?.get(u.unit);
    const cats = categories.map((c) => {
      const m = u.perCategory[c];
      return `<td class="cat${m && m.iou > atlas.params.iouThreshold ? '' : ' weak'}">${m ? `${escapeXml(m.concept)} <span>${fmt(m.iou)}</span>` : ''}</td>`;
    }).join('');
    return `<tr data-unit="${u.unit}" data-iou="${Number.isFinite(u.iou) ? u.iou : -1}" data-concept="${escapeXml(u.concept ?? '~')}" `
      + `data-category="${escapeXml(u.category ?? '~')}" data-threshold="${Number.isFinite(u.threshold) ? u.threshold : -1}">`
      + `<td class="num">${u.unit}</td><td>${u.concept ? `<b>${escapeXml(u.concept)}</b>` : `<i>(${escapeXml(u.topConcepts[0]?.concept ?? 'none')})</i>`}</td>`
      + `<td>${escapeXml(u.category ?? '')}</td><td class="num">${fmt(u.iou)}</td>`
      + (withCeiling ? `<td class="num" title="the best IoU a mask of this unit's active size could reach for its best concept">${fmt(u.ceiling ?? NaN)}</td>` : '')
      + `<td class="num">${fmt(u.threshold, 4)}</td>${cats}`
      + `<td>${escapeXml((importantFor.get(u.unit) ?? []).join(', '))}</td>`
      + `<td class="strip">${strip ? stripTiles(strip, u, atlas.inputSize) : ''}</td></tr>`;
  }).join('\n');
  const headline = s.headline ? `<p>${escapeXml(s.headline)}</p>` : atlas.importanceNote ? `<p>No class importance: ${escapeXml(atlas.importanceNote)}.</p>` : '';
  const concepts = s.concepts.map((c) => `${escapeXml(c.concept)} (${c.units})`).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Unit atlas — ${escapeXml(atlas.model)} ${escapeXml(atlas.layer)}</title>
<style>
body{font-family:system-ui,"DejaVu Sans",sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin-bottom:.2em} .meta{color:#555;font-size:.9em}
table{border-collapse:collapse;margin-top:1em;font-size:.9em} th,td{padding:3px 8px;border-bottom:1px solid #e5e5e5;vertical-align:middle;text-align:left}
th{position:sticky;top:0;background:#f7f7f7;cursor:pointer;user-select:none;white-space:nowrap} th.sorted-asc::after{content:" ▲"} th.sorted-desc::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.cat span{color:#777;font-size:.85em} td.weak{color:#aaa}
td.strip img{display:none} .tiles{display:flex;flex-wrap:wrap;gap:2px} .tiles i{display:block;width:var(--tw);height:var(--th);background:var(--strip) 0 0/var(--sw) var(--th) no-repeat;image-rendering:pixelated}
@media (max-width:1280px){.tiles{max-width:calc(4 * var(--tw) + 6px)}} tr:hover{background:#fafaf0}
.plot svg{max-width:100%;height:auto} #filter{margin-top:1em;padding:3px 6px}
</style></head><body>
<h1>Unit atlas of <code>${escapeXml(atlas.layer)}</code> in ${escapeXml(atlas.model)}</h1>
<div class="meta">${generated ? `Generated samples <code>${escapeXml(atlas.probe.spec)}</code> (latents 0…${atlas.probe.count - 1} of seed ${atlas.generator?.seed ?? ''}), labelled by the segmenter <code>${escapeXml(atlas.probe.segmenter?.name ?? '')}</code>: ${atlas.probe.used} samples;`
  : `Probe <code>${escapeXml(atlas.probe.spec)}</code>: ${atlas.probe.used} images${atlas.skipped ? ` (${atlas.skipped} skipped)` : ''};`}
threshold: ${iqr ? `per unit and concept, the level of highest information quality ratio (the threshold column is the top-${atlas.params.quantile * 100}% level)` : `top ${atlas.params.quantile * 100}% of each unit's upsampled activations`}; label when IoU &gt; ${atlas.params.iouThreshold};${withCeiling ? ' the ceiling is the best IoU a mask of the unit\'s active size could reach for that concept;' : ''}
model fingerprint ${escapeXml(atlas.fingerprint)}; ${escapeXml(atlas.tool.name)} ${escapeXml(atlas.tool.version)} on ${escapeXml(atlas.tool.backend)}, ${escapeXml(atlas.created)}.</div>
<p><b>${s.labelled}</b> of ${s.units} units labelled, covering <b>${s.concepts.length}</b> concepts: ${concepts || 'none'}.</p>
${headline}
${parts.plotSvg ? `<div class="plot">${parts.plotSvg.replace(/^<\?xml[^>]*>/, '')}</div>` : ''}
<input id="filter" placeholder="filter by concept, category or class…" size="40">
<table id="units"><thead><tr>
<th data-key="unit" data-type="num">unit</th><th data-key="concept">concept</th><th data-key="category">category</th>
<th data-key="iou" data-type="num">IoU</th>${withCeiling ? '<th>ceiling</th>' : ''}<th data-key="threshold" data-type="num">threshold</th>
${categories.map((c) => `<th>best ${escapeXml(c)}</th>`).join('')}<th>top-5 unit of</th><th>top-activating ${generated ? 'samples' : 'probe images'}</th>
</tr></thead><tbody>
${rows}
</tbody></table>
<script>
(function () {
  var table = document.getElementById('units'), body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells, state = { key: 'unit', dir: 1 };
  function sortBy(key, type, dir) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.dataset[key], y = b.dataset[key];
      var c = type === 'num' ? Number(x) - Number(y) : x.localeCompare(y);
      return c * dir || Number(a.dataset.unit) - Number(b.dataset.unit);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) heads[i].className = heads[i].dataset.key === key ? (dir > 0 ? 'sorted-asc' : 'sorted-desc') : '';
  }
  for (var i = 0; i < heads.length; i++) {
    if (!heads[i].dataset.key) continue;
    heads[i].addEventListener('click', function (e) {
      var h = e.currentTarget, key = h.dataset.key;
      var dir = state.key === key ? -state.dir : (h.dataset.type === 'num' && key !== 'unit' ? -1 : 1);
      state = { key: key, dir: dir };
      sortBy(key, h.dataset.type, dir);
    });
  }
  document.getElementById('filter').addEventListener('input', function (e) {
    var q = e.target.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) { r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none'; });
  });
  sortBy('unit', 'num', 1);
})();
</script>
</body></html>
`;
}
