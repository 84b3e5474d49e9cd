import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tilesToPng } from '../../data/codec.js';
import { encodePng, type RgbImage } from '../../data/images.js';
import { sampleId } from '../../dissection/generated.js';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { loadGenerator } from '../../gan/generator.js';
import type { Generator } from '../../gan/types.js';
import { conceptLegend } from '../../report/segmentation.js';
import { loadSegmenter, type Segmenter } from '../../segment/segmenter.js';
import { writeAtomic, writeJsonAtomic } from '../../util/atomic.js';
import type { CliIO, CommandSpec, GlobalArgs } from '../command.js';
import { forceOption, prepareOutDir } from '../out-dir.js';
import { startProgress } from '../progress.js';
import { writeImageSegments, type ImageSegments } from './segment.js';

/** Samples drawn on the contact sheet (the first ones). */
const SHEET_MAX = 100;

/** Names `generate` writes in its folder, besides the samples' own files. */
const FIXED_ENTRIES = ['contact-sheet.png', 'samples.json', 'segments.json', 'legend.png'];

function checkInteger(argv: GlobalArgs, name: string, min: number, hint: string): void {
  const v = argv[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw usageError(`--${name} must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`, { path: `--${name}`, hint });
  }
}

export const generateCommand: CommandSpec = {
  name: 'generate',
  describe: 'Draw samples from a generator (latents 0…N−1 of a seed): PNG images, a contact sheet, and their segmentations',
  options: {
    model: { type: 'string', default: 'builtin:scenes-gan', describe: 'the generator: builtin:scenes-gan, a generator folder (model.json + weights + unit-attack.json) or its model.json' },
    count: { type: 'number', default: 16, describe: 'samples to draw: latents 0…count−1 of the stream --seed' },
    seed: { type: 'number', default: 1, describe: 'the latent stream: sample i is the same image for the same (seed, i), whatever --count and --batch-size' },
    out: { type: 'string', demandOption: true, describe: 'folder for sample-00000.png…, contact-sheet.png, samples.json and (with a segmenter) the segmentations' },
    segmenter: { type: 'string', default: 'builtin:scenes-segmenter', describe: 'segment every sample with this segmenter (builtin:NAME or a segmenter folder): colour-coded maps per category, a sheet per sample, legend.png and segments.json' },
    segment: { type: 'boolean', default: true, describe: 'write the segmentations (--no-segment: the images and the contact sheet only)' },
    'batch-size': { type: 'number', default: 32, describe: 'samples per forward pass' },
    json: { type: 'boolean', default: false, describe: 'print the result (files, per-sample concept shares) as JSON on stdout' },
    force: forceOption,
  },
  examples: [
    ['unit-attack generate --count 16 --seed 1 --out out/samples', 'draw 16 scenes from the built-in generator and segment them'],
    ['unit-attack generate --model my-gan --count 64 --no-segment --out out/my-gan', 'draw 64 samples from your own generator, images only'],
  ],
  check(argv) {
    checkInteger(argv, 'count', 1, 'e.g. --count 16');
    checkInteger(argv, 'batch-size', 1, 'e.g. --batch-size 32');
    if (typeof argv.seed !== 'number' || !Number.isSafeInteger(argv.seed)) {
      throw usageError(`--seed must be an integer, got ${JSON.stringify(argv.seed)}`, { path: '--seed' });
    }
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const out = argv.out as string;
    const count = argv.count as number;
    const seed = argv.seed as number;
    // Everything that can be refused is loaded and checked before the folder is touched.
    const g = await loadGenerator(argv.model as string);
    let seg: Segmenter | undefined;
    try {
      if (argv.segment) seg = await loadSegmenter(argv.segmenter as string);
      await prepareOutDir(out, { force: argv.force as boolean, command: 'generate', writes: await writtenBefore(out) });
      const result = await generateInto(g, seg, { out, count, seed, batchSize: argv['batch-size'] as number, segmenterSpec: argv.segmenter as string }, io, argv.quiet);
      if (argv.json) {
        io.out(JSON.stringify(result, null, 2));
        return 0;
      }
      io.out(`drew ${count} sample${count === 1 ? '' : 's'} (latents 0…${count - 1} of seed ${seed}) from ${g.name}`
        + (seg ? `, segmented by ${String(argv.segmenter)}` : ''));
      if (seg) {
        const mean = new Map<string, number>();
        for (const s of result.samples) for (const c of s.concepts ?? []) mean.set(c.name, (mean.get(c.name) ?? 0) + c.share / count);
        const top = [...mean.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
        io.out(`mean pixel shares: ${top.map(([c, v]) => `${c} ${(100 * v).toFixed(1)}%`).join(', ')}`);
      }
      io.out(`wrote ${path.join(out, 'contact-sheet.png')} and ${count} sample${count === 1 ? '' : 's'} (sample-00000.png…)${seg ? ' with their segmentations, legend.png and segments.json' : ''}`);
      return 0;
    } finally {
      seg?.dispose();
      g.dispose();
    }
  },
};

/** What `generate` records in `samples.json` and prints with --json. */
export interface GenerateOutput {
  generator: { name: string; fingerprint: string; latentSize: number; outputSize: number };
  seed: number;
  count: number;
  contactSheet: string;
  segmenter?: { name: string; fingerprint: string };
  samples: Array<{ index: number; file: string; sheet?: string; maps?: Record<string, string>; concepts?: ImageSegments['concepts'] }>;
}

/** The files an earlier `generate` run wrote in `out`: its fixed names and every `sample-NNNNN…` file. */
async function writtenBefore(out: string): Promise<string[]> {
  try {
    return [...FIXED_ENTRIES, ...(await fs.readdir(out)).filter((n) => /^sample-\d{5,}(\.|$)/.test(n))];
  } catch {
    return FIXED_ENTRIES;
  }
}

async function generateInto(
  g: Generator, seg: Segmenter | undefined, o: { out: string; count: number; seed: number; batchSize: number; segmenterSpec: string }, io: CliIO, quiet: boolean,
): Promise<GenerateOutput> {
  const S = g.outputSize;
  const bar = startProgress(io, 'samples', o.count, quiet);
  const samples: GenerateOutput['samples'] = [];
  const sheetImages: RgbImage[] = [];
  const segments: ImageSegments[] = [];
  for (let a = 0; a < o.count; a += o.batchSize) {
    const n = Math.min(o.batchSize, o.count - a);
    const z = g.latents(o.seed, a, n);
    const { images } = g.generate(z);
    z.dispose();
    let pixels: Float32Array;
    try {
      pixels = Float32Array.from(await images.data());
    } finally {
      images.dispose();
    }
    const labels = seg ? seg.segment(pixels, n, S, S) : undefined;
    const per = S * S * 3;
    for (let i = 0; i < n; i++) {
      const index = a + i;
      const stem = sampleId(index);
      const data = new Uint8Array(per);
      for (let k = 0; k < per; k++) data[k] = Math.round(Math.min(1, Math.max(0, pixels[i * per + k])) * 255);
      const img: RgbImage = { data, width: S, height: S };
      const file = `${stem}.png`;
      await writeAtomic(path.join(o.out, file), await encodePng(img));
      if (sheetImages.length < SHEET_MAX) sheetImages.push(img);
      if (seg && labels) {
        const planes = seg.categories.length;
        const mine = labels.subarray(i * planes * S * S, (i + 1) * planes * S * S);
        const r = await writeImageSegments(seg, img, mine, stem, o.out, { image: file, title: `${stem} (seed ${o.seed})`, sheetName: `${stem}.sheet.png` });
        segments.push(r);
        samples.push({ index, file, sheet: r.files.sheet, maps: r.files.maps, concepts: r.concepts });
      } else {
        samples.push({ index, file });
      }
      bar.tick(1, stem);
    }
  }
  bar.stop();
  const contactSheet = 'contact-sheet.png';
  await writeAtomic(path.join(o.out, contactSheet), await contactSheetPng(sheetImages));
  const result: GenerateOutput = {
    generator: { name: g.name, fingerprint: g.fingerprint, latentSize: g.latentSize, outputSize: S },
    seed: o.seed, count: o.count, contactSheet,
    ...(seg ? { segmenter: { name: o.segmenterSpec, fingerprint: seg.fingerprint } } : {}),
    samples,
  };
  if (seg) {
    await writeAtomic(path.join(o.out, 'legend.png'), await conceptLegend(seg.concepts));
    // The `segment` command's segments.json, with the generator and the seed of the samples.
    await writeJsonAtomic(path.join(o.out, 'segments.json'), { segmenter: result.segmenter, generator: result.generator, seed: o.seed, images: segments, skipped: [] });
  }
  await writeJsonAtomic(path.join(o.out, 'samples.json'), result);
  return result;
}

/** The samples in a grid (up to 10 columns), 2 px apart on white, each at twice its size. */
async function contactSheetPng(images: readonly RgbImage[]): Promise<Buffer> {
  const S = images[0]?.width ?? 1;
  const cell = 2 * S; const gap = 2;
  const cols = Math.max(1, Math.min(10, Math.ceil(Math.sqrt(images.length))));
  const rows = Math.max(1, Math.ceil(images.length / cols));
  const width = cols * cell + (cols + 1) * gap; const height = rows * cell + (rows + 1) * gap;
  const tiles = images.map((image, i) => ({ image, left: gap + (i % cols) * (cell + gap), top: gap + Math.floor(i / cols) * (cell + gap) }));
  return tilesToPng(width, height, tiles, cell);
}
