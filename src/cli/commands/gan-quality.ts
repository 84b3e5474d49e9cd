import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../../engine/backend.js';
import { UnitAttackError, usageError } from '../../errors.js';
import { BUILTIN_GENERATORS, loadGenerator } from '../../gan/generator.js';
import { measureGeneratorQuality, qualityCardSection, QUALITY_CONCEPTS, QUALITY_REAL_SEED, untrainedGenerator, withQualitySection, type GeneratorQuality } from '../../gan/quality.js';
import { readGeneratorSidecar } from '../../gan/save.js';
import type { Generator } from '../../gan/types.js';
import { loadClassifier } from '../../models/io.js';
import type { Classifier } from '../../models/types.js';
import { loadSegmenter, type Segmenter } from '../../segment/segmenter.js';
import { writeAtomic, writeJsonAtomic } from '../../util/atomic.js';
import { jsonOption, type CommandSpec, type GlobalArgs } from '../command.js';
import { table } from '../format.js';
import { phaseProgress } from '../progress.js';

/** The folder of a generator spec (`builtin:NAME`, a folder, or its `model.json`). */
export function generatorFolder(spec: string): string {
  if (spec.startsWith('builtin:')) {
    const d = BUILTIN_GENERATORS[spec.slice('builtin:'.length)];
    if (d === undefined) throw new UnitAttackError('UA_MODEL', `unknown built-in generator '${spec}'`, { path: '--model', hint: `built-in generators: ${Object.keys(BUILTIN_GENERATORS).map((k) => `builtin:${k}`).join(', ')}` });
    return d;
  }
  return spec.endsWith('.json') ? path.dirname(spec) : spec;
}

const int = (argv: GlobalArgs, name: string, min: number, example: string): void => {
  const v = argv[name];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw usageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`, { path: `--${name}`, hint: `e.g. --${name} ${example}` });
  }
};

const list = (v: unknown): string[] => String(v).split(',').map((s) => s.trim()).filter((s) => s !== '');
const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '–');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}%` : '–');

/** The terminal report of a quality measurement. */
export function qualityReport(q: GeneratorQuality): string {
  const shares = table([
    ['concept', 'generated', 'real (A)', 'relative', 'real B vs A', `within ±${(q.tolerance * 100).toFixed(0)}%`],
    ...q.concepts.map((c) => [c.concept, pct(c.generated), pct(c.real), signed(c.relative), signed(c.realRelative), c.pass ? 'pass' : 'FAIL']),
  ], ['l', 'r', 'r', 'r', 'r', 'l']);
  const f = q.frechet;
  const fd = table([
    [`Fréchet distance (${q.classifier.name} ${f.layer}, ${f.dims} dims) to real set A`, ''],
    ['generated samples', f.generatedVsReal.toFixed(2)],
    ['real set B (floor)', f.realVsReal.toFixed(2)],
    [`untrained generator${f.untrained ? ` (${f.untrained.name})` : ''}`, f.untrainedVsReal === null ? 'not measured' : f.untrainedVsReal.toFixed(2)],
  ], ['l', 'r']);
  return `${shares}\n\n${fd}`;
}

export const ganQualityCommand: CommandSpec = {
  name: 'gan-quality',
  describe: "A generator's quality against real scenes of its training classes: concept pixel shares by the segmenter (±30%) and the Fréchet distance on the classifier's fc2 features",
  options: {
    model: { type: 'string', default: 'builtin:scenes-gan', describe: 'the generator: builtin:scenes-gan, or a generator folder / model.json' },
    samples: { type: 'number', default: 2000, describe: 'samples, and real scenes in each of the two real sets' },
    seed: { type: 'number', default: 1, describe: 'latent stream of the samples (latents 0 … samples − 1)' },
    'real-seed': { type: 'number', default: QUALITY_REAL_SEED, describe: 'seed of the real scenes (training draws its scenes with its own seed, real.png with seed + 1)' },
    classes: { type: 'string', describe: "scene classes of the real scenes (default: the generator sidecar's \"classes\")" },
    concepts: { type: 'string', default: QUALITY_CONCEPTS.join(','), describe: 'concepts whose pixel shares are compared' },
    tolerance: { type: 'number', default: 0.3, describe: 'largest relative difference of a concept\'s pixel share that passes' },
    segmenter: { type: 'string', default: 'builtin:scenes-segmenter', describe: 'the segmenter that labels samples and real scenes' },
    classifier: { type: 'string', default: 'builtin:scenes-vgg16', describe: 'the classifier whose features the Fréchet distance compares' },
    layer: { type: 'string', default: 'fc2', describe: 'the classifier layer of the features' },
    untrained: { type: 'boolean', default: true, describe: 'also measure an untrained generator of the same architecture (--no-untrained skips it)' },
    'untrained-seed': { type: 'number', describe: "seed of the untrained generator's weights (default: the sidecar's training seed, else 1: the run's step-0 weights)" },
    'batch-size': { type: 'number', default: 32, describe: 'images per forward pass' },
    card: { type: 'boolean', default: false, describe: "write quality.json and a Quality section into the generator folder's MODEL_CARD.md (replacing an earlier one)" },
    json: jsonOption,
  },
  examples: [
    ['unit-attack gan-quality --samples 2000', 'the quality figures of the built-in generator'],
    ['unit-attack gan-quality --model runs/gan --card', 'measure a trained generator and put the figures into runs/gan/MODEL_CARD.md'],
  ],
  check(argv) {
    int(argv, 'samples', 2, '2000');
    int(argv, 'seed', 0, '1');
    int(argv, 'real-seed', 0, String(QUALITY_REAL_SEED));
    int(argv, 'untrained-seed', 0, '1');
    int(argv, 'batch-size', 1, '32');
    const t = argv.tolerance;
    if (typeof t !== 'number' || !(t > 0)) throw usageError(`--tolerance must be a positive number, got ${JSON.stringify(t)}`, { path: '--tolerance', hint: 'e.g. --tolerance 0.3 for ±30%' });
    if (argv.classes !== undefined && list(argv.classes).length === 0) throw usageError('--classes names no class', { path: '--classes', hint: 'e.g. --classes field,mountain_lake,ski_resort' });
    if (list(argv.concepts).length === 0) throw usageError('--concepts names no concept', { path: '--concepts', hint: `e.g. --concepts ${QUALITY_CONCEPTS.join(',')}` });
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const spec = argv.model as string;
    const dir = generatorFolder(spec);
    const sidecar = existsSync(path.join(dir, 'unit-attack.json')) ? await readGeneratorSidecar(dir) : undefined;
    const classes = argv.classes !== undefined ? list(argv.classes) : sidecar?.classes;
    if (!classes || classes.length === 0) {
      throw usageError(`the generator '${spec}' does not name its training classes (no "classes" in ${path.join(dir, 'unit-attack.json')})`, {
        path: '--classes', hint: 'give the scene classes it was trained on, e.g. --classes field,mountain_lake,ski_resort',
      });
    }
    const card = path.join(dir, 'MODEL_CARD.md');
    const g: Generator = await loadGenerator(spec);
    let seg: Segmenter | undefined; let clf: Classifier | undefined; let untrained: Generator | undefined;
    try {
      seg = await loadSegmenter(argv.segmenter as string);
      clf = await loadClassifier(argv.classifier as string);
      clf.layer(argv.layer as string);
      if (argv.untrained) {
        const seed = (argv['untrained-seed'] as number | undefined) ?? sidecar?.seed ?? 1;
        const u = untrainedGenerator(g, seed);
        if (u.generator) untrained = u.generator;
        else io.err(`warning: no untrained generator to compare with: ${u.reason ?? ''}`);
      }
      const bars = phaseProgress(io, argv.quiet);
      let q: GeneratorQuality;
      try {
        q = await measureGeneratorQuality(g, seg, clf, {
          classes, samples: argv.samples as number, seed: argv.seed as number, realSeed: argv['real-seed'] as number,
          concepts: list(argv.concepts), tolerance: argv.tolerance as number, featureLayer: argv.layer as string,
          batchSize: argv['batch-size'] as number, ...(untrained ? { untrained } : {}), onProgress: bars.onProgress,
        });
      } finally {
        bars.stop();
      }
      if (argv.card) {
        const command = `unit-attack gan-quality --model ${spec} --samples ${q.samples} --seed ${q.seed} --real-seed ${q.real.seed}`;
        const old = existsSync(card) ? await fs.readFile(card, 'utf8') : `# ${path.basename(dir)}\n`;
        await writeJsonAtomic(path.join(dir, 'quality.json'), q);
        await writeAtomic(card, withQualitySection(old, qualityCardSection(q, command)));
      }
      if (argv.json) {
        io.out(JSON.stringify(q, null, 2));
        return 0;
      }
      io.out(`quality of ${q.generator.name}: ${q.samples} samples (seed ${q.seed}) against 2 × ${q.samples} real scenes of ${q.real.classes.join(', ')} (seed ${q.real.seed}), in ${q.seconds.toFixed(1)} s`);
      io.out(qualityReport(q));
      if (argv.card) io.out(`wrote ${path.join(dir, 'quality.json')} and the Quality section of ${card}`);
      return 0;
    } finally {
      untrained?.dispose();
      clf?.dispose();
      seg?.dispose();
      g.dispose();
    }
  },
};
