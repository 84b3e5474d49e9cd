import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadAtlas, type Atlas } from '../../dissection/atlas.js';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { DEFAULT_ABLATION_SIZES, DEFAULT_ACE, DEFAULT_CONTROL_DRAWS, DEFAULT_CONTROL_SAMPLES, DEFAULT_GREEDY_CANDIDATES, RANKING_CHOICES, ablateConcept, checkSizes, type GeneratorAblation, type RankingChoice, type RankingKind } from '../../gan/ablate.js';
import { loadGenerator } from '../../gan/generator.js';
import { resolveConcept } from '../../gan/measure.js';
import { spatialLayer } from '../../gan/ranking.js';
import type { Generator } from '../../gan/types.js';
import { ABLATION_REPORT_ENTRIES, writeAblationReport } from '../../report/gan-report.js';
import { loadSegmenter, type Segmenter } from '../../segment/segmenter.js';
import type { CommandSpec, GlobalArgs } from '../command.js';
import { table } from '../format.js';
import { forceOption, prepareOutDir } from '../out-dir.js';
import { phaseProgress } from '../progress.js';
import { checkWorkersArg, workersOf, workersOption } from '../workers.js';

/** Parses a comma-separated list of non-negative integers (`--units 0,1,2`), naming the option when it is not one. */
export function parseIntList(value: unknown, option: string, example: string): number[] {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const out = parts.map(Number);
  if (parts.length === 0 || out.some((n) => !Number.isInteger(n) || n < 0)) {
    throw usageError(`${option} must be a comma-separated list of non-negative integers, got '${text}'`, { path: option, hint: `e.g. ${option} ${example}` });
  }
  return out;
}

function checkInt(argv: GlobalArgs, name: string, min: number): void {
  const v = argv[name];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw usageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`, { path: `--${name}`, hint: name === 'samples' ? 'e.g. --samples 2000' : undefined });
  }
}

/** Removes `out` when this command created it and left it empty (a run that failed before writing). */
export async function removeIfEmpty(out: string): Promise<void> {
  try {
    if ((await fs.readdir(out)).length === 0) await fs.rmdir(out);
  } catch { /* not there, or not ours to remove */ }
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '–');

/** The terminal table of an ablation: per size, each curve with its interval, the control, and the largest other concepts' change. */
export function ablationTable(r: GeneratorAblation, others = 3): string {
  const kinds = Object.keys(r.curves) as RankingKind[];
  const first = r.curves[kinds[0]] ?? [];
  const base = first[0]?.concepts ?? {};
  const shown = Object.entries(base).filter(([name]) => name !== r.concept.name).sort((a, b) => b[1].before - a[1].before).slice(0, others).map(([name]) => name);
  const header = ['units', ...kinds.map((k) => `${r.concept.name} removed (${k} ranking, ${r.level * 100}% interval)`), `random units (mean ± sd of ${r.controlDraws}${r.controlSamples < r.samples ? ` on ${r.controlSamples} latents` : ''})`,
    ...shown.map((c) => `${c} change (${kinds[0]})`)];
  const rows = first.map((p, i) => {
    const c = r.control.find((x) => x.n === p.n);
    return [
      String(p.n),
      ...kinds.map((k) => {
        const q = r.curves[k]![i];
        return q.n === 0 ? '0' : `${pct(q.removed.value)} [${pct(q.removed.interval[0])}, ${pct(q.removed.interval[1])}]`;
      }),
      p.n === 0 ? '0' : c ? `${pct(c.removed.mean)} ± ${pct(c.removed.sd)}` : '–',
      ...shown.map((name) => pct(p.concepts[name]?.change ?? Number.NaN)),
    ];
  });
  return table([header, ...rows], header.map((_, i) => (i === 0 ? 'r' : 'l')));
}

export const ablateCommand: CommandSpec = {
  name: 'ablate',
  describe: "Generator ablation: zero a concept's top units of a layer and measure the portion of its pixels removed, with a random-unit control",
  options: {
    model: { type: 'string', default: 'builtin:scenes-gan', describe: 'the generator: builtin:scenes-gan, or a generator folder / model.json' },
    concept: { type: 'string', demandOption: true, describe: 'the concept whose units are zeroed (a concept of the segmenter), e.g. tree' },
    units: { type: 'string', default: DEFAULT_ABLATION_SIZES.join(','), describe: 'numbers of top-ranked units zeroed, comma-separated' },
    samples: { type: 'number', default: 2000, describe: 'latents measured (0 … samples − 1 of the stream --seed), the same before and after' },
    layer: { type: 'string', describe: "the generator layer (default: the generator's default, layer4 for the built-in one)" },
    seed: { type: 'number', default: 1, describe: 'seed of the latents and of the control draws' },
    segmenter: { type: 'string', default: 'builtin:scenes-segmenter', describe: 'the segmenter that labels the generated images' },
    ranking: {
      type: 'string', choices: [...RANKING_CHOICES], default: 'both',
      describe: "rank units by IoU with the concept (PNAS), causally (each unit's own removal), greedily (each step adds the unit that removes most with those already zeroed; slower), by average causal effect (ace: a coefficient per unit learned by gradient descent through the generator and the segmenter, GAN Dissection's way), both (IoU and causal) or all",
    },
    'control-draws': { type: 'number', default: DEFAULT_CONTROL_DRAWS, describe: 'random-unit draws per size (0: no control)' },
    'control-samples': { type: 'number', describe: `latents each control draw is measured on, the first of the measured ones; at most --samples (default: ${DEFAULT_CONTROL_SAMPLES}, or --samples when fewer)` },
    'rank-samples': { type: 'number', default: 200, describe: 'held-out latents (after the measured ones) that rank units by IoU' },
    'causal-samples': { type: 'number', default: 32, describe: 'held-out latents that rank units causally (one generation per unit and latent), greedily (one per candidate, step and latent) and by ACE (a forward and backward pass per latent and epoch)' },
    'greedy-candidates': { type: 'number', default: DEFAULT_GREEDY_CANDIDATES, describe: "units a greedy step may add: the causal ranking's top ones" },
    'greedy-step': { type: 'number', default: 1, describe: 'units a greedy step adds (more is faster and coarser)' },
    'ace-epochs': { type: 'number', default: DEFAULT_ACE.epochs, describe: 'passes of the ACE ranking over its latents (one Adam step per batch)' },
    'ace-rate': { type: 'number', default: DEFAULT_ACE.learningRate, describe: "Adam's learning rate in the ACE ranking" },
    'ace-penalty': { type: 'number', default: DEFAULT_ACE.penalty, describe: "weight of the ACE ranking's penalty on the coefficients (Σ α²)" },
    quantile: { type: 'number', default: 0.01, describe: "top quantile of a unit's activations that counts as active, for the IoU ranking" },
    atlas: { type: 'string', describe: "a dissection atlas of the layer (atlas.json of `unit-attack dissect` on this generator): its thresholds and IoU order rank the units" },
    level: { type: 'number', default: 0.99, describe: 'confidence level of the intervals' },
    'batch-size': { type: 'number', default: 32, describe: 'latents per forward pass' },
    workers: { ...workersOption, describe: 'worker threads that generate and segment the batches of the ablation curve, each with its own copy of the generator and the segmenter (default: the cores, or $UNIT_ATTACK_WORKERS); 1 works on the main thread only; the result is the same for any number' },
    examples: { type: 'number', default: 4, describe: 'latents shown before and after (examples/ablation-<ranking>.png)' },
    out: { type: 'string', demandOption: true, describe: 'folder for ablation.json, ablation.csv, concepts.csv, ablation.png and examples/' },
    json: { type: 'boolean', default: false, describe: 'print ablation.json on stdout' },
    force: forceOption,
  },
  examples: [
    ['unit-attack ablate --concept tree --units 0,1,2,4,8,20,30 --samples 2000 --out out/ablate-tree', 'remove trees from the built-in generator\'s scenes'],
    ['unit-attack ablate --concept tree --units 5,20 --samples 200 --ranking iou --out out/quick', 'a quick look'],
    ['unit-attack ablate --concept tree --units 0,1,5,20 --ranking greedy --causal-samples 96 --out out/greedy', 'units chosen greedily by what they remove together'],
    ['unit-attack ablate --concept tree --units 5,20 --ranking ace --causal-samples 64 --out out/ace', 'units ranked by average causal effect (gradients through generator and segmenter)'],
  ],
  check(argv) {
    parseIntList(argv.units, '--units', '0,1,2,4,8,20,30');
    checkInt(argv, 'samples', 1);
    checkInt(argv, 'seed', 0);
    checkInt(argv, 'control-draws', 0);
    checkInt(argv, 'control-samples', 1);
    if ((argv['control-samples'] as number | undefined ?? 0) > (argv.samples as number)) {
      throw usageError(`--control-samples (${String(argv['control-samples'])}) must be at most --samples (${String(argv.samples)}): the control is measured on the first of the measured latents`, {
        path: '--control-samples', hint: `e.g. --control-samples ${Math.min(DEFAULT_CONTROL_SAMPLES, argv.samples as number)}`,
      });
    }
    checkInt(argv, 'rank-samples', 1);
    checkInt(argv, 'causal-samples', 1);
    checkInt(argv, 'greedy-candidates', 1);
    checkInt(argv, 'greedy-step', 1);
    checkInt(argv, 'ace-epochs', 1);
    const rate = argv['ace-rate'] as number;
    if (!(rate > 0) || !Number.isFinite(rate)) throw usageError(`--ace-rate must be a positive number, got ${String(rate)}`, { path: '--ace-rate', hint: `e.g. --ace-rate ${DEFAULT_ACE.learningRate}` });
    const penalty = argv['ace-penalty'] as number;
    if (!(penalty >= 0) || !Number.isFinite(penalty)) throw usageError(`--ace-penalty must be a number ≥ 0, got ${String(penalty)}`, { path: '--ace-penalty', hint: `e.g. --ace-penalty ${DEFAULT_ACE.penalty}` });
    checkInt(argv, 'batch-size', 1);
    checkInt(argv, 'examples', 0);
    checkWorkersArg(argv);
    const q = argv.quantile as number;
    if (!(q > 0 && q < 1)) throw usageError(`--quantile must be in (0, 1), got ${String(q)}`, { path: '--quantile' });
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
      // Everything that can be checked before the long work is checked before --out is touched.
      const layer = (argv.layer as string | undefined) ?? g.defaultLayer;
      const { units } = spatialLayer(g, layer);
      const sizes = checkSizes(parseIntList(argv.units, '--units', '0,1,2,4,8,20,30'), units, layer);
      resolveConcept(seg, argv.concept as string);
      await prepareOutDir(out, { force: argv.force as boolean, command: 'ablate', writes: ABLATION_REPORT_ENTRIES });
      const bars = phaseProgress(io, argv.quiet);
      let result: GeneratorAblation;
      let files;
      try {
        const r = await ablateConcept(g, seg, {
          concept: argv.concept as string, sizes, samples: argv.samples as number, layer, seed: argv.seed as number,
          ranking: argv.ranking as RankingChoice, controlDraws: argv['control-draws'] as number, ...(argv['control-samples'] !== undefined ? { controlSamples: argv['control-samples'] as number } : {}),
          rankSamples: argv['rank-samples'] as number, causalSamples: argv['causal-samples'] as number,
          greedyCandidates: argv['greedy-candidates'] as number, greedyStep: argv['greedy-step'] as number, quantile: argv.quantile as number,
          aceEpochs: argv['ace-epochs'] as number, aceLearningRate: argv['ace-rate'] as number, acePenalty: argv['ace-penalty'] as number,
          level: argv.level as number, batchSize: argv['batch-size'] as number, examples: argv.examples as number,
          ...(atlas ? { atlas } : {}),
          workers: workersOf(argv, io), onWarning: (m) => io.err(`warning: ${m}`),
          onProgress: bars.onProgress,
        });
        bars.stop();
        result = r.result;
        files = await writeAblationReport(r.result, r.examples, out);
      } catch (err) {
        bars.stop();
        await removeIfEmpty(out);
        throw err;
      }
      for (const w of result.warnings) io.err(`warning: ${w}`);
      if (argv.json) {
        io.out(JSON.stringify(result, null, 2));
        return 0;
      }
      io.out(`ablated ${result.concept.name} units of ${result.layer} [${result.layerShape.join('×')}] of ${result.generator.name}: ${result.samples} samples (seed ${result.seed}), `
        + `${result.concept.name} ${pct(result.baseline.conceptShare)} of pixels before, in ${result.seconds.toFixed(1)} s`);
      for (const [k, rk] of Object.entries(result.rankings)) io.out(`${k} ranking: ${rk.units.slice(0, Math.min(10, Math.max(...sizes))).join(', ')}${Math.max(...sizes) > 10 ? ', …' : ''} (${rk.source})`);
      io.out(ablationTable(result));
      io.out(`wrote ${path.join(out, 'ablation.json')} (ablation.csv, concepts.csv, ablation.png${files.examples.length ? `, ${files.examples.map((f) => path.relative(out, f)).join(', ')}` : ''})`);
      return 0;
    } finally {
      seg?.dispose();
      g.dispose();
    }
  },
};
