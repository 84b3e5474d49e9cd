import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listImages, readImageRgb, type RgbImage } from '../../data/images.js';
import { initBackend } from '../../engine/backend.js';
import { UnitAttackError, usageError } from '../../errors.js';
import { colorizeLabels, conceptLegend, labelShares, segmentationSheet } from '../../report/segmentation.js';
import { encodePng } from '../../data/images.js';
import { loadSegmenter, type Segmenter } from '../../segment/segmenter.js';
import { writeAtomic, writeJsonAtomic } from '../../util/atomic.js';
import type { CliIO, CommandSpec } from '../command.js';
import { forceOption, prepareOutDir } from '../out-dir.js';
import { table } from '../format.js';

/** What `segment` found in one image. */
export interface ImageSegments {
  image: string;
  size: [number, number];
  /** Files written for it, relative to the output folder. */
  files: { sheet: string; maps: Record<string, string> };
  /** Concepts present, by category, largest share first. */
  concepts: Array<{ name: string; category: string; share: number }>;
}

export const segmentCommand: CommandSpec = {
  name: 'segment',
  describe: 'Label every pixel of images with a segmenter: colour-coded maps, a sheet per image and a legend',
  options: {
    image: { type: 'string', array: true, describe: 'image file(s): PNG, JPEG or WebP' },
    images: { type: 'string', describe: 'a folder of images (every PNG, JPEG and WebP in it)' },
    segmenter: { type: 'string', default: 'builtin:scenes-segmenter', describe: 'builtin:NAME or a segmenter folder (model.json + unit-attack.json)' },
    out: { type: 'string', demandOption: true, describe: 'folder for the sheets, the colour-coded maps, legend.png and segments.json' },
    'max-side': { type: 'number', default: 256, describe: 'larger images are scaled down so their longer side is at most this' },
    json: { type: 'boolean', default: false, describe: 'print segments.json instead of the table' },
    force: forceOption,
  },
  examples: [
    ['unit-attack segment --image examples/ski_resort.png --out out/segment', 'see what the built-in segmenter sees in a scene'],
    ['unit-attack segment --images photos/ --segmenter my-segmenter --out out/photos', 'segment a folder with your own segmenter'],
  ],
  check(argv) {
    const files = (argv.image as string[] | undefined) ?? [];
    if (files.length === 0 && argv.images === undefined) {
      throw usageError('name the images to segment', { path: '--image', hint: 'give --image FILE… or --images DIR' });
    }
    const max = argv['max-side'] as number;
    if (!Number.isInteger(max) || max < 8) throw usageError(`--max-side must be an integer ≥ 8, got ${String(argv['max-side'])}`, { path: '--max-side' });
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const files = [...((argv.image as string[] | undefined) ?? [])];
    if (argv.images !== undefined) {
      const dir = argv.images as string;
      const found = await listImages(dir);
      if (found.length === 0) {
        throw new UnitAttackError('UA_INPUT', `the folder '${dir}' has no PNG, JPEG or WebP images`, { file: dir, path: '--images' });
      }
      files.push(...found);
    }
    const out = argv.out as string;
    await prepareOutDir(out, { force: argv.force as boolean, command: 'segment', writes: await writtenBefore(out) });
    const seg = await loadSegmenter(argv.segmenter as string);
    try {
      const { results, skipped } = await segmentFiles(seg, files, out, argv['max-side'] as number, io);
      if (results.length === 0) {
        // Nothing to show: no legend or report that would look like a finished run.
        throw new UnitAttackError('UA_INPUT', `none of the ${files.length} image(s) could be read`, {
          path: '--image', hint: 'see the warnings above for why each was skipped (a shell pattern that matched no file is passed on as it is)',
        });
      }
      const report = {
        segmenter: { name: seg.name, fingerprint: seg.fingerprint },
        images: results,
        skipped,
      };
      await writeAtomic(path.join(out, 'legend.png'), await conceptLegend(seg.concepts));
      await writeJsonAtomic(path.join(out, 'segments.json'), report);
      if (argv.json) {
        io.out(JSON.stringify(report, null, 2));
      } else {
        for (const r of results) {
          io.out(`${r.image}  (${r.size[1]}×${r.size[0]}, ${r.files.sheet})`);
          io.out(table([['category', 'concept', 'share'], ...r.concepts.slice(0, 8).map((c) => [c.category, c.name, `${(100 * c.share).toFixed(1)}%`])], ['l', 'l', 'r']));
        }
        io.out(`wrote ${results.length} sheet(s), their colour-coded maps, legend.png and segments.json to ${out}`);
      }
      return 0;
    } finally {
      seg.dispose();
    }
  },
};

/** The files an earlier `segment` run wrote in `out`, from its segments.json (none when there is none). */
async function writtenBefore(out: string): Promise<string[]> {
  const names = ['segments.json', 'legend.png'];
  try {
    const old = JSON.parse(await fs.readFile(path.join(out, 'segments.json'), 'utf8')) as { images?: ImageSegments[] };
    for (const r of old.images ?? []) names.push(r.files.sheet, ...Object.values(r.files.maps));
  } catch {
    // No earlier run here, or not one of ours: only the two fixed names are ours.
  }
  return names;
}

/** Scales an image down so its longer side is at most `maxSide` (never up). */
async function readScaled(file: string, maxSide: number): Promise<RgbImage> {
  const img = await readImageRgb(file);
  const longer = Math.max(img.width, img.height);
  if (longer <= maxSide) return img;
  const k = maxSide / longer;
  return readImageRgb(file, { size: [Math.max(1, Math.round(img.height * k)), Math.max(1, Math.round(img.width * k))], fit: 'stretch' });
}

/** Distinct output names for the input files (the stem, with a counter when two stems collide). */
function outputStems(files: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const stem = path.basename(f, path.extname(f));
    const n = seen.get(stem) ?? 0;
    seen.set(stem, n + 1);
    return n === 0 ? stem : `${stem}-${n + 1}`;
  });
}

async function segmentFiles(seg: Segmenter, files: readonly string[], out: string, maxSide: number, io: CliIO): Promise<{ results: ImageSegments[]; skipped: Array<{ file: string; reason: string }> }> {
  const results: ImageSegments[] = [];
  const skipped: Array<{ file: string; reason: string }> = [];
  const stems = outputStems(files);
  for (const [f, file] of files.entries()) {
    let img: RgbImage;
    try {
      img = await readScaled(file, maxSide);
    } catch (err) {
      const reason = err instanceof UnitAttackError ? err.message : String(err);
      io.err(`warning: skipped '${file}': ${reason}`);
      skipped.push({ file, reason });
      continue;
    }
    const { width: w, height: h } = img;
    const [rh, rw] = seg.runSize(h, w);
    if (rh !== h || rw !== w) io.err(`note: '${file}' (${w}×${h}) is resized to ${rw}×${rh} for the segmenter, and its maps back to ${w}×${h}`);
    const pixels = new Float32Array(img.data.length);
    for (let i = 0; i < pixels.length; i++) pixels[i] = img.data[i] / 255;
    const labels = seg.segment(pixels, 1, h, w);
    results.push(await writeImageSegments(seg, img, labels, stems[f], out, { image: file, title: path.basename(file) }));
  }
  return { results, skipped };
}

/**
 * Writes the segmentation of one image into `out`: a colour-coded map per category (`<stem>.<category>.png`) and a
 * sheet (`<stem>.png`, or `sheetName`), and returns what `segments.json` records of it.
 *
 * @param labels the segmenter's maps of `img`, `[categories, height, width]`
 */
export async function writeImageSegments(
  seg: Segmenter, img: RgbImage, labels: Uint16Array, stem: string, out: string,
  options: { image: string; title: string; sheetName?: string },
): Promise<ImageSegments> {
  const { width: w, height: h } = img;
  const n = h * w;
  const byId = new Map(seg.concepts.map((c) => [c.id, c]));
  const maps = seg.categories.map((cat, k) => ({ category: cat.name, labels: labels.subarray(k * n, (k + 1) * n) }));
  const written: Record<string, string> = {};
  for (const m of maps) {
    const name = `${stem}.${m.category}.png`;
    await writeAtomic(path.join(out, name), await encodePng(colorizeLabels(m.labels, w, h, seg.concepts)));
    written[m.category] = name;
  }
  const sheet = options.sheetName ?? `${stem}.png`;
  await writeAtomic(path.join(out, sheet), await segmentationSheet(img, maps, seg.concepts, { title: options.title }));
  const concepts: ImageSegments['concepts'] = [];
  for (const m of maps) {
    for (const [id, share] of labelShares(m.labels)) {
      const c = byId.get(id);
      if (c) concepts.push({ name: c.name, category: c.category, share: Number(share.toFixed(6)) });
    }
  }
  concepts.sort((a, b) => b.share - a.share || a.name.localeCompare(b.name));
  return { image: options.image, size: [h, w], files: { sheet, maps: written }, concepts };
}
