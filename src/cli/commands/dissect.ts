import { forceOption, prepareOutDir } from '../out-dir.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { atlasSummary } from '../../dissection/atlas.js';
import { dissect, type DissectOptions, type DissectProgress } from '../../dissection/dissect.js';
import { dissectShards } from '../../dissection/split.js';
import { dissectableLayer, dissectGenerator, generatedProbe } from '../../dissection/generated.js';
import type { ThresholdMethod } from '../../dissection/index.js';
import { isGeneratorSpec, loadGenerator } from '../../gan/generator.js';
import { loadSegmenter } from '../../segment/segmenter.js';
import { initBackend } from '../../engine/backend.js';
import { UnitAttackError, usageError } from '../../errors.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import { loadClassifier } from '../../models/io.js';
import { ATLAS_REPORT_ENTRIES, writeAtlasReport } from '../../report/atlas-report.js';
import type { CliIO, CommandSpec, GlobalArgs } from '../command.js';
import { phaseProgress, startProgress, type Progress } from '../progress.js';
import { checkWorkersArg, withWorkers, workersOf, workersOption } from '../workers.js';
import type { QueuedShards } from '../../parallel/queue/coordinator.js';
import { parsePart } from '../part.js';
import { checkQueueArgs, queueDissection, queueOption, specForWorkers, storeOption } from '../queue.js';

const PHASE_LABEL: Record<DissectProgress['phase'], string> = {
  activations: 'pass 1: activations',
  iou: 'pass 2: IoU',
  importance: 'class importance',
  greedy: 'greedy ranking',
  gradients: 'class gradients',
  ablation: 'ablation curves',
};

function checkNumber(argv: GlobalArgs, name: string, ok: (v: number) => boolean, what: string): void {
  const v = argv[name];
  if (v === undefined) return;
  if (typeof v !== 'number' || !ok(v)) throw usageError(`--${name} must be ${what}, got ${JSON.stringify(v)}`, { path: `--${name}` });
}

export const dissectCommand: CommandSpec = {
  name: 'dissect',
  describe: 'Network dissection: label the units of a layer with concepts, rank them by class importance, write an atlas',
  options: {
    model: { type: 'string', default: 'builtin:scenes-vgg16', describe: 'builtin:NAME, a model folder or a model.json; a generator (builtin:scenes-gan, or a folder whose unit-attack.json has format unit-attack-generator) is dissected on its own samples' },
    layer: { type: 'string', describe: "layer to dissect (default: the model's last convolution)" },
    probe: {
      type: 'string', default: 'builtin:scenes?count=2000&seed=7',
      describe: 'probe set: builtin:scenes?count=N&seed=S, a Broden-layout folder, or a folder of foo.png + foo_label.png (with --segmenter: any folder of images)',
    },
    segmenter: {
      type: 'string',
      describe: 'label the probe images with this segmenter (builtin:scenes-segmenter or a segmenter folder) instead of label maps; the probe may then be a folder of plain images. With a generator it labels the samples (default builtin:scenes-segmenter)',
    },
    samples: { type: 'number', describe: 'with a generator: dissect its samples of latents 0…N−1 of --seed (default 2000; the PNAS experiment used 10000)' },
    threshold: {
      type: 'string', choices: ['quantile', 'iqr'], default: 'quantile',
      describe: "active region of a unit: its top --quantile level (PNAS), or per unit and concept the level of highest information quality ratio on a log grid of top fractions 0.1%…50% (iqr, GAN Dissection)",
    },
    out: { type: 'string', demandOption: true, describe: 'folder for atlas.json, CSVs, strips, ablation.png and index.html' },
    quantile: { type: 'number', default: 0.01, describe: "top quantile of each unit's activations that counts as active" },
    'iou-threshold': { type: 'number', default: 0.04, describe: 'label a unit when its best IoU exceeds this' },
    'top-n': { type: 'number', default: 20, describe: 'ablation curves for N = 1 … top-n units' },
    'top-images': { type: 'number', default: 8, describe: 'top-activating probe images per unit (strips)' },
    metric: { type: 'string', choices: ['logprob', 'accuracy'], default: 'logprob', describe: 'class importance: drop of log-probability or of accuracy' },
    'train-fraction': { type: 'number', default: 0.5, describe: 'share of probe images that rank units; the rest are held out' },
    ranking: { type: 'string', choices: ['single', 'greedy'], default: 'single', describe: 'class importance: zero one unit at a time (PNAS), or re-rank each class\'s top units by zeroing them cumulatively' },
    'ranking-classes': { type: 'string', array: true, describe: 'with --ranking greedy: the classes to re-rank (default: all)' },
    'batch-size': { type: 'number', default: 32, describe: 'probe images per forward pass' },
    seed: { type: 'number', default: 1, describe: "seed of the sketches and of the train / held-out split; with a generator also the latent stream of its samples" },
    importance: { type: 'boolean', default: true, describe: 'class importance and ablation curves (--no-importance skips them)' },
    cache: { type: 'boolean', default: true, describe: 'reuse results from .unit-attack-cache (env UNIT_ATTACK_CACHE); --no-cache recomputes' },
    strips: { type: 'boolean', default: true, describe: 'draw a strip of top-activating images per unit (--no-strips skips)' },
    'embed-images': { type: 'boolean', default: false, describe: 'embed the strips in index.html instead of linking them' },
    'plot-classes': { type: 'string', array: true, describe: 'classes in the ablation plot (default: the 4 most affected)' },
    json: { type: 'boolean', default: false, describe: 'print the summary as JSON' },
    force: forceOption,
    workers: workersOption,
    shard: {
      type: 'string',
      describe: 'compute part i of N of the dissection (e.g. 0/4, or $JOB_COMPLETION_INDEX/4) and write its shard files to --out (a folder the parts may share); then `unit-attack merge` the folders into the atlas',
    },
    queue: queueOption,
    store: storeOption,
  },
  examples: [
    ['unit-attack dissect --out out/dissect', 'dissect block5_conv3 of the built-in model on 2000 synthetic scenes'],
    ['unit-attack dissect --model my-model --probe data/broden --layer conv5 --out out/conv5', 'dissect your own model on a Broden folder'],
    ['unit-attack dissect --probe photos/ --segmenter builtin:scenes-segmenter --out out/photos', 'dissect on a folder of plain images labelled by the built-in segmenter'],
    ['unit-attack dissect --model builtin:scenes-gan --layer layer4 --samples 10000 --segmenter builtin:scenes-segmenter --out out/gan', 'dissect layer4 of the built-in generator on 10,000 of its samples (the PNAS experiment)'],
    ['unit-attack dissect --probe "builtin:scenes?count=8000" --queue redis://localhost:6379 --out out/atlas', 'run the shards on queue workers (`unit-attack worker --queue redis://localhost:6379` on each machine) and merge here'],
  ],
  check(argv) {
    checkWorkersArg(argv);
    checkQueueArgs(argv);
    checkNumber(argv, 'quantile', (v) => v > 0 && v < 1, 'in (0, 1)');
    checkNumber(argv, 'iou-threshold', (v) => v >= 0 && v <= 1, 'in [0, 1]');
    checkNumber(argv, 'top-n', (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
    checkNumber(argv, 'top-images', (v) => Number.isInteger(v) && v >= 0 && v <= 64, 'an integer in 0…64');
    checkNumber(argv, 'train-fraction', (v) => v > 0 && v < 1, 'in (0, 1)');
    checkNumber(argv, 'batch-size', (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
    checkNumber(argv, 'seed', (v) => Number.isSafeInteger(v), 'an integer');
    if (argv.samples !== undefined && (typeof argv.samples !== 'number' || !Number.isInteger(argv.samples) || argv.samples < 1)) {
      throw usageError(`--samples must be a whole number ≥ 1, got ${JSON.stringify(argv.samples)}`, { path: '--samples', hint: 'e.g. --samples 10000 (the PNAS experiment), or 100 for a quick look' });
    }
    if (argv.samples !== undefined && !isGeneratorSpec(argv.model as string)) {
      throw usageError(`--samples applies to a generator, and '${String(argv.model)}' is not one`, { path: '--samples', hint: 'for a classifier, size the probe set instead: --probe builtin:scenes?count=N' });
    }
  },
  async run(argv, io) {
    if (argv.shard !== undefined) return dissectPartCommand(argv, io);
    if (isGeneratorSpec(argv.model as string)) return dissectGeneratorCommand(argv, io);
    await prepareOutDir(argv.out as string, { force: argv.force as boolean, command: 'dissect', writes: ATLAS_REPORT_ENTRIES });
    await initBackend({ backend: argv.backend });
    const clf = await loadClassifier(argv.model as string);
    let queued: QueuedShards | undefined;
    try {
      // With --queue, pass 1 runs on the queue's workers and is merged here like the parts of `unit-attack merge`.
      const probe = argv.queue !== undefined ? specForWorkers(argv.probe as string) : argv.probe as string;
      queued = argv.queue !== undefined ? await queueDissection(argv, io, clf, probe, dissectOptionsOf(argv)) : undefined;
      const fromShards = queued ? [queued.dir] : argv.fromShards as string[] | undefined;
      const bars = phaseBars(argv, io);
      // Shards of the probe set go to the workers; the atlas is the same with any number of them.
      const result = await withWorkers(argv, io, clf, Number.POSITIVE_INFINITY, () => dissect(clf, probe, {
        ...dissectOptionsOf(argv),
        ...(fromShards !== undefined ? { fromShards } : {}),
        onWarning: (m) => io.err(`warning: ${m}`),
        onProgress: bars.onProgress,
      }));
      bars.stop();
      const atlas = result.atlas;
      const out = argv.out as string;
      let stripBar: Progress | undefined;
      const files = await writeAtlasReport(atlas, out, {
        ...(argv.strips ? {} : { probe: false as const }),
        embedImages: argv['embed-images'] as boolean,
        ...(argv['plot-classes'] ? { plotClasses: argv['plot-classes'] as string[] } : {}),
        onProgress: (done, total) => {
          stripBar ??= startProgress(io, 'strips', total, argv.quiet);
          stripBar.tick(1, `unit ${done}`);
        },
      });
      stripBar?.stop();
      const s = atlasSummary(atlas);
      if (argv.json) {
        io.out(JSON.stringify({ atlas: files.atlas, html: files.html, cached: result.cached, seconds: result.seconds, summary: s }, null, 2));
        return 0;
      }
      io.out(`dissected ${atlas.layer} [${atlas.layerShape.join('×')}] of ${atlas.model} on ${atlas.probe.spec}: `
        + `${atlas.probe.used} images${atlas.skipped ? `, ${atlas.skipped} skipped` : ''}`
        + (result.cached ? ` (from the cache: ${result.cacheFile ?? ''})` : ` in ${result.seconds.toFixed(1)} s`));
      io.out(`units labelled: ${s.labelled} of ${s.units} (IoU > ${atlas.params.iouThreshold} at the top ${atlas.params.quantile * 100}%)`
        + (Object.keys(s.categories).length > 0 ? ` — ${Object.entries(s.categories).map(([c, n]) => `${c} ${n}`).join(', ')}` : ''));
      io.out(`concepts covered: ${s.concepts.length}${s.concepts.length ? ': ' + s.concepts.map((c) => `${c.concept} (${c.units})`).join(', ') : ''}`);
      io.out(s.headline ? `ablation: ${s.headline}` : `ablation: none (${atlas.importanceNote ?? 'no class importance'})`);
      io.out(`wrote ${path.join(out, 'index.html')} (atlas.json, units.csv, importance.csv, ablation.csv${files.plot ? ', ablation.png' : ''}`
        + `${files.strips.length ? `, ${files.strips.length} strips` : ''})`);
      await queued?.finish(true);
      queued = undefined;
      return 0;
    } finally {
      await queued?.finish(false);
      clf.dispose();
    }
  },
};

/** The library options a classifier dissection takes from the command line. */
function dissectOptionsOf(argv: GlobalArgs): DissectOptions {
  return {
    ...(argv.layer !== undefined ? { layer: argv.layer as string } : {}),
    quantile: argv.quantile as number, iouThreshold: argv['iou-threshold'] as number, topN: argv['top-n'] as number,
    topImages: argv['top-images'] as number, metric: argv.metric as 'logprob' | 'accuracy',
    trainFraction: argv['train-fraction'] as number, batchSize: argv['batch-size'] as number, seed: argv.seed as number,
    importance: argv.importance as boolean, cache: argv.cache as boolean, ranking: argv.ranking as 'single' | 'greedy',
    threshold: argv.threshold as ThresholdMethod,
    ...(argv.segmenter !== undefined ? { segmenter: argv.segmenter as string } : {}),
    ...(argv['ranking-classes'] !== undefined ? { rankingClasses: (argv['ranking-classes'] as string[]).flatMap((c) => c.split(',')).filter((c) => c.length > 0) } : {}),
  };
}

/** The command-line settings a part records for the merge (everything that decides the atlas, as given). */
export const PART_SETTINGS = [
  'model', 'probe', 'layer', 'segmenter', 'quantile', 'iou-threshold', 'top-n', 'top-images', 'metric', 'train-fraction', 'ranking',
  'ranking-classes', 'batch-size', 'seed', 'importance', 'threshold',
] as const;

/** The file in a part's folder that records its settings for `unit-attack merge`. */
export const PART_FILE = 'dissect.json';

/** `dissect --shard i/N`: pass 1 of one part, its shard files and settings written to --out for `unit-attack merge`. */
async function dissectPartCommand(argv: GlobalArgs, io: CliIO): Promise<number> {
  const part = parsePart(argv.shard);
  if (isGeneratorSpec(argv.model as string)) {
    throw usageError('--shard splits the dissection of a classifier; a generator is dissected in one process', { path: '--shard', hint: 'drop --shard (use --workers to use the cores of this machine)' });
  }
  const out = argv.out as string;
  const settings = Object.fromEntries(PART_SETTINGS.filter((k) => argv[k] !== undefined).map((k) => [k, argv[k]]));
  await writePartSettings(out, settings);
  await initBackend({ backend: argv.backend });
  const clf = await loadClassifier(argv.model as string);
  try {
    const bars = phaseBars(argv, io);
    const r = await withWorkers(argv, io, clf, Number.POSITIVE_INFINITY, () => dissectShards(clf, argv.probe as string, { ...part, out }, {
      ...dissectOptionsOf(argv), onWarning: (m) => io.err(`warning: ${m}`), onProgress: bars.onProgress,
    }));
    bars.stop();
    const which = r.shards.length === 0 ? 'no shards (there are more parts than shards)'
      : `shards ${r.shards[0] + 1}–${r.shards[r.shards.length - 1] + 1} of ${r.plan}`;
    if (argv.json) {
      io.out(JSON.stringify({ part: `${part.index}/${part.of}`, run: r.run, plan: r.plan, shards: r.shards, files: r.files, seconds: r.seconds }, null, 2));
      return 0;
    }
    io.out(`part ${part.index}/${part.of} of dissection ${r.run}: ${which}; ${r.files.length} written to ${out}`
      + `${r.files.length < r.shards.length ? ` (${r.shards.length - r.files.length} were there already)` : ''} in ${r.seconds.toFixed(1)} s`);
    io.out(`when every part is done: unit-attack merge ${out} --out DIR`);
    return 0;
  } finally {
    clf.dispose();
  }
}

/** Writes (or checks) the part settings in `out`: parts sharing a folder must be parts of the same dissection. */
async function writePartSettings(out: string, settings: Record<string, unknown>): Promise<void> {
  const file = path.join(out, PART_FILE);
  const earlier = await readPartSettings(file).catch(() => undefined);
  if (earlier) {
    const diff = settingDifferences(earlier, settings);
    if (diff.length > 0) {
      throw usageError(`'${out}' holds parts of another dissection (${diff.join('; ')})`, { path: '--out', file, hint: 'give each dissection its own shard folder' });
    }
    return;
  }
  try {
    await fs.mkdir(out, { recursive: true });
  } catch (err) {
    throw new UnitAttackError('UA_IO', `cannot create '${out}': ${(err as Error).message}`, { file: out, path: '--out', cause: err, hint: 'give --out a writable folder' });
  }
  await writeJsonAtomic(file, settings);
}

/** The settings recorded in a part folder's `dissect.json`. */
export async function readPartSettings(file: string): Promise<Record<string, unknown>> {
  const text = await fs.readFile(file, 'utf8');
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw usageError(`'${file}' is not a part's settings file: ${(err as Error).message}`, { file, hint: 'it is written by `unit-attack dissect --shard i/N`; write the part again' });
  }
}

/** `--name: a ≠ b` for every setting in which two parts differ. */
export function settingDifferences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `--${k}: ${JSON.stringify(a[k]) ?? '(not set)'} ≠ ${JSON.stringify(b[k]) ?? '(not set)'}`);
}

/** Progress bars for the phases of a dissection. */
function phaseBars(argv: GlobalArgs, io: CliIO): { onProgress: (p: DissectProgress) => void; stop: () => void } {
  return phaseProgress(io, argv.quiet, (phase) => PHASE_LABEL[phase as DissectProgress['phase']]);
}

/**
 * `dissect --model <generator>`: the generator's samples (latents 0…N−1 of --seed) labelled by a segmenter. Options
 * are checked before anything is written: the out folder is prepared only once the generator, the layer and the
 * segmenter are known to fit.
 */
async function dissectGeneratorCommand(argv: GlobalArgs, io: CliIO): Promise<number> {
  await initBackend({ backend: argv.backend });
  const g = await loadGenerator(argv.model as string);
  try {
    const layer = (argv.layer as string | undefined) ?? g.defaultLayer;
    dissectableLayer(g, layer);
    const segSpec = (argv.segmenter as string | undefined) ?? 'builtin:scenes-segmenter';
    const seg = await loadSegmenter(segSpec);
    try {
      if (seg.concepts.length === 0) {
        throw usageError(`the segmenter '${segSpec}' names no concepts, so there is nothing to match units with`, { path: '--segmenter', hint: 'use a segmenter whose unit-attack.json lists categories with concepts, e.g. builtin:scenes-segmenter' });
      }
      await prepareOutDir(argv.out as string, { force: argv.force as boolean, command: 'dissect', writes: ATLAS_REPORT_ENTRIES });
      const samples = (argv.samples as number | undefined) ?? 2000;
      const seed = argv.seed as number;
      const bars = phaseBars(argv, io);
      const result = await dissectGenerator(g, {
        // By spec, so that sample workers (--workers) load it too.
        segmenter: segSpec, workers: workersOf(argv, io), layer, samples, seed, quantile: argv.quantile as number, threshold: argv.threshold as ThresholdMethod,
        iouThreshold: argv['iou-threshold'] as number, topImages: argv['top-images'] as number, batchSize: argv['batch-size'] as number,
        cache: argv.cache as boolean, onWarning: (m) => io.err(`warning: ${m}`), onProgress: bars.onProgress,
      });
      bars.stop();
      const atlas = result.atlas;
      const out = argv.out as string;
      let stripBar: Progress | undefined;
      const files = await writeAtlasReport(atlas, out, {
        probe: argv.strips ? generatedProbe(g, seed, samples, atlas.probe.spec) : false,
        embedImages: argv['embed-images'] as boolean,
        onProgress: (done, total) => {
          stripBar ??= startProgress(io, 'strips', total, argv.quiet);
          stripBar.tick(1, `unit ${done}`);
        },
      });
      stripBar?.stop();
      const s = atlasSummary(atlas);
      const pixels = atlas.probe.used * atlas.labelSize[0] * atlas.labelSize[1];
      const shares = atlas.probe.concepts.filter((c) => c.pixels > 0).map((c) => ({ concept: c.name, share: c.pixels / pixels })).sort((a, b) => b.share - a.share);
      if (argv.json) {
        io.out(JSON.stringify({ atlas: files.atlas, html: files.html, cached: result.cached, seconds: result.seconds, summary: s, conceptShares: shares }, null, 2));
        return 0;
      }
      io.out(`dissected ${atlas.layer} [${atlas.layerShape.join('×')}] of the generator ${atlas.model} on ${atlas.probe.used} samples (latents 0…${atlas.probe.count - 1} of seed ${seed}) labelled by ${segSpec}`
        + (result.cached ? ` (from the cache: ${result.cacheFile ?? ''})` : ` in ${result.seconds.toFixed(1)} s`));
      io.out(`units labelled: ${s.labelled} of ${s.units} (IoU > ${atlas.params.iouThreshold}, ${atlas.params.threshold === 'iqr' ? 'threshold per unit and concept by IQR' : `at the top ${atlas.params.quantile * 100}%`})`
        + (Object.keys(s.categories).length > 0 ? ` — ${Object.entries(s.categories).map(([c, n]) => `${c} ${n}`).join(', ')}` : ''));
      io.out(`concepts covered: ${s.concepts.length}${s.concepts.length ? ': ' + s.concepts.map((c) => `${c.concept} (${c.units})`).join(', ') : ''}`);
      io.out(`pixel shares of the samples: ${shares.slice(0, 8).map((c) => `${c.concept} ${(100 * c.share).toFixed(1)}%`).join(', ')}`);
      io.out('class importance: none (a generator has no classes; see `unit-attack ablate` and `unit-attack insert`)');
      io.out(`wrote ${path.join(out, 'index.html')} (atlas.json, units.csv${files.strips.length ? `, ${files.strips.length} strips` : ''})`);
      return 0;
    } finally {
      seg.dispose();
    }
  } finally {
    g.dispose();
  }
}
