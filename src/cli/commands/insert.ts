import path from 'node:path';
import { loadAtlas, type Atlas } from '../../dissection/atlas.js';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { loadGenerator } from '../../gan/generator.js';
import { checkCell, insertConcept, type GeneratorInsertion } from '../../gan/insert.js';
import { resolveConcept } from '../../gan/measure.js';
import { spatialLayer } from '../../gan/ranking.js';
import type { Generator } from '../../gan/types.js';
import { INSERTION_REPORT_ENTRIES, writeInsertionReport } from '../../report/gan-report.js';
import { loadSegmenter, type Segmenter } from '../../segment/segmenter.js';
import type { CommandSpec, GlobalArgs } from '../command.js';
import { table } from '../format.js';
import { forceOption, prepareOutDir } from '../out-dir.js';
import { phaseProgress } from '../progress.js';
import { parseIntList, removeIfEmpty } from './ablate.js';

function checkInt(argv: GlobalArgs, name: string, min: number): void {
  const v = argv[name];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw usageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`, { path: `--${name}` });
  }
}

/** Parses `--at ROW,COL`. */
export function parseCell(value: unknown): [number, number] {
  const cell = parseIntList(value, '--at', '3,4');
  if (cell.length !== 2) throw usageError(`--at must be ROW,COL, got '${String(value)}'`, { path: '--at', hint: 'e.g. --at 3,4 (row 3, column 4 of the layer\'s map)' });
  return [cell[0], cell[1]];
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '–');

/** The terminal table of an insertion: per context, placements and the share of the cell's region turned into the concept. */
export function insertionTable(r: GeneratorInsertion): string {
  const header = ['context before', 'placements', `${r.concept.name} added in the cell's region (${r.level * 100}% interval)`, `${r.concept.name} pixels added overall`];
  const row = (c: GeneratorInsertion['overall']): string[] => [c.context, String(c.count),
    `${pct(c.addedInRegion.value)} [${pct(c.addedInRegion.interval[0])}, ${pct(c.addedInRegion.interval[1])}]`, Number.isFinite(c.addedOverall) ? c.addedOverall.toFixed(1) : '–'];
  return table([header, ...r.byContext.map(row), row(r.overall)], ['l', 'r', 'l', 'r']);
}

export const insertCommand: CommandSpec = {
  name: 'insert',
  describe: "Generator insertion: set a concept's top units high at one cell (or every cell) and measure the concept added, by what was there before",
  options: {
    model: { type: 'string', default: 'builtin:scenes-gan', describe: 'the generator: builtin:scenes-gan, or a generator folder / model.json' },
    concept: { type: 'string', demandOption: true, describe: 'the concept inserted (a concept of the segmenter), e.g. door' },
    units: { type: 'number', default: 20, describe: 'how many of the concept\'s top units (by IoU) are set high' },
    at: { type: 'string', describe: 'ROW,COL of the cell of the layer\'s map (default: every cell, one at a time)' },
    samples: { type: 'number', default: 200, describe: 'latents measured (0 … samples − 1 of the stream --seed)' },
    quantile: { type: 'number', default: 0.995, describe: "the level each unit is set to: this quantile of its activations" },
    layer: { type: 'string', describe: "the generator layer (default: the generator's default, layer4 for the built-in one)" },
    seed: { type: 'number', default: 1, describe: 'seed of the latents' },
    segmenter: { type: 'string', default: 'builtin:scenes-segmenter', describe: 'the segmenter that labels the generated images' },
    'rank-samples': { type: 'number', default: 200, describe: 'held-out latents that rank the units by IoU and measure their levels' },
    atlas: { type: 'string', describe: 'a dissection atlas of the layer: its IoU order ranks the units' },
    level: { type: 'number', default: 0.99, describe: 'confidence level of the intervals' },
    'batch-size': { type: 'number', default: 32, describe: 'latents per forward pass' },
    examples: { type: 'number', default: 6, describe: 'example placements shown (one per context)' },
    out: { type: 'string', demandOption: true, describe: 'folder for insertion.json, insertion.csv, insertion.png and examples/' },
    json: { type: 'boolean', default: false, describe: 'print insertion.json on stdout' },
    force: forceOption,
  },
  examples: [
    ['unit-attack insert --concept door --units 20 --samples 100 --out out/insert-door', 'doors at every cell of layer4, grouped by what was there'],
    ['unit-attack insert --concept tree --units 5 --at 3,4 --samples 500 --out out/tree-at', 'trees at one cell'],
  ],
  check(argv) {
    if (argv.at !== undefined) parseCell(argv.at);
    checkInt(argv, 'units', 1);
    checkInt(argv, 'samples', 1);
    checkInt(argv, 'seed', 0);
    checkInt(argv, 'rank-samples', 1);
    checkInt(argv, 'batch-size', 1);
    checkInt(argv, 'examples', 0);
    const q = argv.quantile as number;
    if (!(q > 0 && q < 1)) throw usageError(`--quantile must be in (0, 1), got ${String(q)}`, { path: '--quantile', hint: 'e.g. 0.995' });
    const l = argv.level as number;
    if (!(l > 0 && l < 1)) throw usageError(`--level must be in (0, 1), got ${String(l)}`, { path: '--level', hint: 'e.g. 0.99' });
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const out = argv.out as string;
    let atlas: Atlas | undefined;
    if (argv.atlas !== undefined) atlas = await loadAtlas(argv.atlas as string);
    const g: Generator = await loadGenerator(argv.model as string);
    let seg: Segmenter | undefined;
    try {
      seg = await loadSegmenter(argv.segmenter as string);
      const layer = (argv.layer as string | undefined) ?? g.defaultLayer;
      const { h, w, units } = spatialLayer(g, layer);
      const at = argv.at !== undefined ? checkCell(parseCell(argv.at), h, w, layer) : undefined;
      if ((argv.units as number) > units) throw usageError(`--units must be an integer in 1…${units} (${layer} has ${units} units), got ${String(argv.units)}`, { path: '--units' });
      resolveConcept(seg, argv.concept as string);
      await prepareOutDir(out, { force: argv.force as boolean, command: 'insert', writes: INSERTION_REPORT_ENTRIES });
      const bars = phaseProgress(io, argv.quiet);
      let result: GeneratorInsertion;
      let files;
      try {
        const r = await insertConcept(g, seg, {
          concept: argv.concept as string, units: argv.units as number, ...(at ? { at } : {}), samples: argv.samples as number, layer,
          seed: argv.seed as number, quantile: argv.quantile as number, rankSamples: argv['rank-samples'] as number, level: argv.level as number,
          batchSize: argv['batch-size'] as number, examples: argv.examples as number, ...(atlas ? { atlas } : {}),
          onProgress: bars.onProgress,
        });
        bars.stop();
        result = r.result;
        files = await writeInsertionReport(r.result, r.examples, out);
      } catch (err) {
        bars.stop();
        await removeIfEmpty(out);
        throw err;
      }
      for (const warning of result.warnings) io.err(`warning: ${warning}`);
      if (argv.json) {
        io.out(JSON.stringify(result, null, 2));
        return 0;
      }
      io.out(`inserted ${result.concept.name} with ${result.units.length} units of ${result.layer} of ${result.generator.name} at ${result.cells === 'all' ? 'every cell' : `cell (${result.cells.join(', ')})`}, `
        + `${result.samples} samples (seed ${result.seed}), in ${result.seconds.toFixed(1)} s`);
      io.out(`units: ${result.units.join(', ')} (${result.rankingSource}); levels: ${result.levelSource}`);
      io.out(insertionTable(result));
      io.out(`wrote ${path.join(out, 'insertion.json')} (insertion.csv, insertion.png${files.examples.length ? ', examples/insertion.png' : ''})`);
      return 0;
    } finally {
      seg?.dispose();
      g.dispose();
    }
  },
};
