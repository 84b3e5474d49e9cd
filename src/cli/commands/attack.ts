import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../../tf.js';
import { robustnessCurve, unitAttackCurve, type RobustnessCurve } from '../../attacks/curve.js';
import { formatEpsilon, parseEpsilon, parseEpsilonList } from '../../attacks/epsilon.js';
import { AUTOATTACK_VERSIONS, type AutoAttackComponent } from '../../attacks/autoattack.js';
import { checkGradientMasking, maskingWarnings, type MaskingCheck } from '../../attacks/masking.js';
import { meanFinite, measureAttack } from '../../attacks/measure.js';
import type { Rate } from '../../attacks/metrics.js';
import { attackNames, runAttack } from '../../attacks/registry.js';
import type { AttackProgress, AttackResult } from '../../attacks/types.js';
import { disposeUnitAttack, unitAttack, type UnitAttackArm, type UnitAttackOptions, type UnitAttackResult } from '../../attacks/unit/index.js';
import { listImages, loadImage } from '../../data/images.js';
import { sceneBatch } from '../../data/scenes/batch.js';
import { SCENE_CLASSES } from '../../data/scenes/index.js';
import { loadAtlas, type Atlas } from '../../dissection/atlas.js';
import { dissect } from '../../dissection/dissect.js';
import { initBackend, type BackendInfo } from '../../engine/backend.js';
import { UnitAttackError, inputError, nearestNames, usageError } from '../../errors.js';
import { forceOption, prepareOutDir } from '../out-dir.js';
import { loadClassifier } from '../../models/io.js';
import { findClass } from '../../models/classes.js';
import type { Classifier } from '../../models/types.js';
import { curveJson, rateJson, unitAttackToJson } from '../../report/attack-json.js';
import { writeAttackReport, writeCurve } from '../../report/attack-report.js';
import { curveTable } from '../../report/curve-table.js';
import { writeJsonAtomic } from '../../util/atomic.js';
import type { CliIO, CommandSpec, GlobalArgs } from '../command.js';
import { table } from '../format.js';
import { phaseProgress, startProgress, type Progress } from '../progress.js';
import { checkWorkersArg, withWorkers, workersOption } from '../workers.js';
import { ATTACK_PART_DATA, ATTACK_PART_FILE, attackInParts } from '../attack-part.js';
import { parsePart } from '../part.js';
import { checkQueueArgs, queueOption, storeOption } from '../queue.js';

const ATTACKS = ['pgd', 'fgsm', 'cw', 'square', 'apgd-ce', 'apgd-dlr', 'apgd-t', 'fab', 'fab-t', 'autoattack'] as const;
/** The attacks that can optimise the unit objective. */
const UNIT_OPTIMIZERS = ['pgd', 'fgsm', 'cw'];
const APGD = ['apgd-ce', 'apgd-dlr', 'apgd-t', 'autoattack'];

/** `--steps`, or its default: 100 for APGD and AutoAttack (the paper's), 50 for the others. */
function stepsOf(argv: GlobalArgs): number {
  return (argv.steps as number | undefined) ?? (APGD.includes(argv.attack as string) ? 100 : 50);
}

/** A comma-separated option as a list (yargs gives a string, or an array when repeated). */
function list(v: unknown): string[] {
  if (v === undefined) return [];
  const items = (Array.isArray(v) ? v : [v]).map((s) => (typeof s === 'string' || typeof s === 'number' ? String(s) : ''));
  return items.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

function unitList(v: unknown, name: string): number[] {
  return list(v).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw usageError(`--${name} takes unit indices like 1,2,3; '${s}' is not one`, { path: `--${name}` });
    return n;
  });
}

/** `--attack` names a registered attack: a built-in one, or one added with registerAttack (e.g. by an --import module). */
function checkAttackName(name: string): void {
  const names = attackNames();
  if (names.includes(name)) return;
  throw usageError(`unknown attack '${name}'`, {
    path: '--attack',
    hint: `known attacks: ${names.join(', ')}; did you mean ${nearestNames(name, names, 1)[0]}? An attack of your own: --import a module that calls registerAttack`,
  });
}

/** True when the arguments name units to steer (a unit attack) rather than a logit attack. */
function isUnitAttack(argv: GlobalArgs): boolean {
  return ['suppress', 'excite', 'suppress-class', 'excite-class', 'suppress-units', 'excite-units'].some((k) => list(argv[k]).length > 0);
}

/**
 * `--attack unit` names the unit attack (as a scenario's `kind: unit` does): it needs units, and PGD optimises it.
 * Turns it into `--attack pgd` with the units named; a usage error when none are.
 */
function resolveUnitAttack(argv: GlobalArgs): void {
  if (argv.attack !== 'unit') return;
  if (!isUnitAttack(argv)) {
    throw usageError('--attack unit steers units, but none are named', {
      path: '--attack', hint: 'name them: --suppress-class ski_resort --excite-class bedroom (with --atlas or --probe), --excite bed, or --suppress-units 3,17',
    });
  }
  argv.attack = 'pgd';
}

export const attackCommand: CommandSpec = {
  name: 'attack',
  describe: 'Attack images: steer concept units (unit attack, with a random-unit control) or the logits; write images, heatmaps, JSON and curves',
  options: {
    model: { type: 'string', default: 'builtin:scenes-vgg16', describe: 'builtin:NAME, a model folder or a model.json' },
    image: { type: 'string', array: true, describe: 'image file(s): PNG, JPEG or WebP' },
    images: { type: 'string', describe: 'a folder of images' },
    synthetic: { type: 'string', describe: 'attack N fresh scenes of this class from the synthetic scene world' },
    count: { type: 'number', default: 16, describe: 'with --synthetic: how many scenes' },
    seed: { type: 'number', default: 1, describe: 'seed of the attack, of the random-unit control and of the --synthetic scenes (the library and a scenario\'s attack default to 0)' },
    label: { type: 'string', describe: 'true class of --image/--images, by name or index (default: the clean prediction)' },
    attack: {
      type: 'string', default: 'pgd',
      describe: `the optimizer: a logit attack (${ATTACKS.join(', ')}, or an attack added with registerAttack, see --import), or with units named the optimizer of the unit attack (pgd, fgsm, cw); unit: the unit attack with pgd`,
    },
    'aa-version': { type: 'string', describe: 'with --attack autoattack: standard (APGD-CE, APGD-T, FAB-T and Square, each on the images still robust; the default) or rand (APGD-CE and APGD-DLR with EOT, for random models)' },
    queries: { type: 'number', describe: 'query budget per image of square (default 1000) and of the Square step of autoattack (default 5000)' },
    'target-classes': { type: 'number', describe: 'target classes of apgd-t and of the APGD-T step of autoattack (default 9)' },
    eot: { type: 'number', describe: 'gradients averaged per step, for models with randomness: apgd-* (default 1) and autoattack --aa-version rand (default 20)' },
    checks: { type: 'boolean', default: true, describe: 'run the gradient-masking checks on a logit attack (--no-checks to skip)' },
    target: { type: 'string', describe: 'target class, by name or index: the logit attack aims at it; the unit attack only measures it' },
    layer: { type: 'string', describe: "the steered layer (default: the atlas's, else the model's last convolution)" },
    suppress: { type: 'string', describe: 'concepts whose units to lower, e.g. snow,mountain' },
    excite: { type: 'string', describe: 'concepts whose units to raise, e.g. bed' },
    'suppress-class': { type: 'string', describe: 'lower the units that hold this class up most' },
    'excite-class': { type: 'string', describe: 'raise the units that pull toward this class most (also the default --target)' },
    'class-ranking': { type: 'string', choices: ['gradient', 'ablation'], describe: 'how --suppress-class/--excite-class rank units: by each class\'s ablation importance (default) or by the class gradients of the pair (needs both)' },
    units: { type: 'number', describe: 'units per side by class importance (default 10), or the cap per side by concept' },
    'suppress-units': { type: 'string', describe: 'unit indices to lower, e.g. 1,2' },
    'excite-units': { type: 'string', describe: 'unit indices to raise, e.g. 3' },
    'concept-iou': { type: 'number', describe: 'choose concept units by IoU ≥ this instead of by label (for concepts that label no unit)' },
    atlas: { type: 'string', describe: 'an atlas.json made by `unit-attack dissect`' },
    probe: { type: 'string', describe: 'dissect on this probe set instead of --atlas (cached), e.g. builtin:scenes?count=1000&seed=7' },
    aggregate: { type: 'string', choices: ['mean', 'max', 'typical'], default: 'mean', describe: "spatial reduction of each unit's map (typical: weighted by where it fires on its top images)" },
    shaping: { type: 'string', choices: ['linear', 'capped', 'log'], default: 'linear', describe: 'shaping of each unit term of the objective' },
    'unit-scale': { type: 'string', choices: ['threshold', 'none'], describe: 'divide units by their dissection threshold (default with an atlas)' },
    'class-weight': { type: 'number', default: 0, describe: 'weight of a targeted class term (0: the pure unit attack never sees the target)' },
    eps: { type: 'string', default: '4/255', describe: 'budget in pixel units, or a list for a robustness curve: 0,1/255,2/255 (a scenario\'s epsilon; the library\'s logit attacks default to 8/255 L∞ or 0.5 L2, its unit attack to 4/255)' },
    norm: { type: 'string', choices: ['linf', 'l2'], describe: 'threshold norm (default linf; l2 for cw)' },
    'min-psnr': { type: 'number', describe: 'PSNR floor in dB: also cap each perturbation\'s L2 norm so that PSNR ≥ this (fgsm, pgd, unit)' },
    steps: { type: 'number', describe: 'gradient steps per restart (default 50; 100 for apgd-* and autoattack; the library\'s pgd() and a scenario\'s pgd default to 10)' },
    restarts: { type: 'number', default: 1, describe: 'PGD restarts' },
    heatmaps: { type: 'number', default: 16, describe: 'heatmap strips for at most this many images' },
    out: { type: 'string', demandOption: true, describe: 'folder for adversarial PNGs, perturbations, heatmaps, result.json and curves' },
    json: { type: 'boolean', default: false, describe: 'print the result as JSON' },
    force: forceOption,
    strict: { type: 'boolean', default: false, describe: 'exit 2 when any image cannot be read (default: skip it with a warning and list it in result.json)' },
    workers: workersOption,
    shard: { type: 'string', describe: 'attack part i of N of the images (e.g. 0/4, or $JOB_COMPLETION_INDEX/4), a contiguous block in their order; then `unit-attack merge` the parts\' folders into the whole run\'s output' },
    queue: { ...queueOption, describe: 'redis://HOST:PORT[/DB]: attack the images in parts on queue workers (`unit-attack worker --queue URL` on any machines) and merge them here' },
    store: { ...storeOption, describe: 'with --queue: where the parts\' outputs go — redis (binary keys on the queue\'s server; default) or a folder every machine mounts at the same path' },
    parts: { type: 'number', describe: 'with --queue: the number of parts (default: one per 4 images, at most 256)' },
  },
  examples: [
    ['unit-attack attack --synthetic ski_resort --count 32 --excite-class bedroom --suppress-class ski_resort --atlas out/dissect/atlas.json --out out/attack',
      'turn ski resorts into bedrooms by steering 10 + 10 units'],
    ['unit-attack attack --synthetic ski_resort --suppress snow,mountain --excite bed --target bedroom --probe "builtin:scenes?count=1000" --out out/a',
      'choose the units by concept (dissects first, cached)'],
    ['unit-attack attack --image photo.png --target bedroom --eps 0,1/255,2/255,4/255,8/255 --out out/curve', 'a targeted PGD robustness curve'],
    ['unit-attack attack --images photos/ --attack autoattack --eps 8/255 --out out/aa', 'robust accuracy under AutoAttack (standard), with the gradient-masking checks'],
    ['unit-attack attack --images photos/ --attack apgd-ce --shard 1/4 --out part-1', 'one of four jobs; then: unit-attack merge part-0 part-1 part-2 part-3 --out out'],
  ],
  check(argv) {
    checkWorkersArg(argv);
    resolveUnitAttack(argv);
    if (argv.shard !== undefined) parsePart(argv.shard);
    checkQueueArgs(argv);
    if (argv.parts !== undefined) {
      if (argv.queue === undefined) throw usageError('--parts applies to a run on a queue', { path: '--parts', hint: 'add --queue redis://HOST:PORT, or use --shard i/N for one part' });
      if (!Number.isInteger(argv.parts) || (argv.parts as number) < 1) throw usageError(`--parts must be a whole number ≥ 1, got ${JSON.stringify(argv.parts)}`, { path: '--parts' });
    }
    const sources = [argv.image !== undefined, argv.images !== undefined, argv.synthetic !== undefined].filter(Boolean).length;
    if (sources !== 1) {
      throw usageError(sources === 0 ? 'name the images to attack' : 'name the images one way only', {
        path: '--image', hint: 'use one of --image FILE, --images DIR or --synthetic CLASS --count N',
      });
    }
    const count = argv.count as number;
    if (!Number.isInteger(count) || count < 1) throw usageError(`--count must be a positive integer, got ${String(argv.count)}`, { path: '--count' });
    if (argv.steps !== undefined && (!Number.isInteger(argv.steps) || (argv.steps as number) < 1)) {
      throw usageError(`--steps must be an integer ≥ 1, got ${JSON.stringify(argv.steps)}`, { path: '--steps' });
    }
    for (const k of ['queries', 'target-classes', 'eot'] as const) {
      if (argv[k] !== undefined && (!Number.isInteger(argv[k]) || (argv[k] as number) < 1)) {
        throw usageError(`--${k} must be an integer ≥ 1, got ${JSON.stringify(argv[k])}`, { path: `--${k}` });
      }
    }
    const attack = argv.attack as string;
    // An attack added by an --import module is known only once the command runs (which checks it again).
    if (argv.import === undefined) checkAttackName(attack);
    if (argv['aa-version'] !== undefined) {
      if (attack !== 'autoattack') throw usageError(`--aa-version chooses the autoattack ensemble, but --attack is ${attack}`, { path: '--aa-version', hint: 'add --attack autoattack, or drop --aa-version' });
      if (!(AUTOATTACK_VERSIONS as readonly string[]).includes(argv['aa-version'] as string)) {
        throw usageError(`--aa-version must be ${AUTOATTACK_VERSIONS.join(' or ')}, got ${JSON.stringify(argv['aa-version'])}`, {
          path: '--aa-version', hint: 'standard for deterministic models; rand for models that draw random numbers in their forward pass',
        });
      }
    }
    if (argv.queries !== undefined && attack !== 'square' && attack !== 'autoattack') {
      throw usageError(`--queries is the budget of square and autoattack, not ${attack}`, { path: '--queries', hint: 'drop --queries' });
    }
    if (argv['target-classes'] !== undefined && attack !== 'apgd-t' && attack !== 'autoattack') {
      throw usageError(`--target-classes belongs to apgd-t and autoattack, not ${attack}`, { path: '--target-classes', hint: 'drop --target-classes' });
    }
    if (argv.eot !== undefined && !APGD.includes(attack)) {
      throw usageError(`--eot belongs to apgd-ce, apgd-dlr, apgd-t and autoattack, not ${attack}`, { path: '--eot', hint: 'use --attack apgd-ce, or autoattack --aa-version rand' });
    }
    if (argv.target !== undefined && (attack === 'apgd-t' || attack === 'autoattack') && !isUnitAttack(argv)) {
      throw usageError(`${attack} measures untargeted robustness and picks its own target classes, so --target does not apply`, {
        path: '--target', hint: 'drop --target, or use --attack apgd-ce / apgd-dlr / pgd for a targeted attack',
      });
    }
    const restarts = argv.restarts as number;
    if (!Number.isInteger(restarts) || restarts < 1) throw usageError(`--restarts must be an integer ≥ 1, got ${String(argv.restarts)}`, { path: '--restarts' });
    if (!Number.isSafeInteger(argv.seed)) throw usageError(`--seed must be an integer, got ${String(argv.seed)}`, { path: '--seed' });
    if (argv.units !== undefined && (!Number.isInteger(argv.units) || (argv.units as number) < 1)) {
      throw usageError(`--units must be a positive integer, got ${JSON.stringify(argv.units)}`, { path: '--units' });
    }
    const heat = argv.heatmaps as number;
    if (!Number.isInteger(heat) || heat < 0) throw usageError(`--heatmaps must be an integer ≥ 0, got ${String(argv.heatmaps)}`, { path: '--heatmaps' });
    const cw = argv['class-weight'] as number;
    if (typeof cw !== 'number' || !(cw >= 0)) throw usageError(`--class-weight must be a number ≥ 0, got ${String(argv['class-weight'])}`, { path: '--class-weight' });
    const norm = (argv.norm as 'linf' | 'l2' | undefined) ?? (argv.attack === 'cw' ? 'l2' : 'linf');
    if (!String(argv.eps).includes(',') && Number(argv.eps) === 0) {
      throw usageError('--eps must be in (0, 1] for a single attack; 0 is only allowed in a list', { path: '--eps', hint: 'e.g. --eps 4/255, or --eps 0,1/255,2/255' });
    }
    epsilonsOf(argv.eps, norm);
    if (argv.atlas !== undefined && argv.probe !== undefined) throw usageError('give --atlas or --probe, not both', { path: '--probe' });
    unitList(argv['suppress-units'], 'suppress-units');
    unitList(argv['excite-units'], 'excite-units');
    if (isUnitAttack(argv)) {
      if (argv.attack === 'square') {
        throw usageError('square only sees logits, so it cannot steer units', { path: '--attack', hint: 'use pgd, fgsm or cw for the unit attack' });
      }
      if (!UNIT_OPTIMIZERS.includes(attack)) {
        throw usageError(`the unit attack is optimised by pgd, fgsm or cw, not ${attack}`, { path: '--attack', hint: 'use --attack pgd for the unit attack; apgd-* and autoattack attack the logits' });
      }
      const byAtlas = ['suppress', 'excite', 'suppress-class', 'excite-class'].some((k) => list(argv[k]).length > 0);
      if (byAtlas && argv.atlas === undefined && argv.probe === undefined) {
        throw usageError('choosing units by concept or class needs a dissection', {
          path: '--atlas', hint: "pass --atlas out/dissect/atlas.json, or --probe 'builtin:scenes?count=1000&seed=7' to dissect now",
        });
      }
    } else if (argv['class-weight'] !== 0 || argv.units !== undefined) {
      throw usageError('--class-weight and --units belong to the unit attack, but no units were named', {
        path: '--excite', hint: 'name units with --excite/--suppress, --excite-class/--suppress-class or --excite-units/--suppress-units',
      });
    }
  },
  async run(argv, io) {
    resolveUnitAttack(argv);
    checkAttackName(argv.attack as string);
    await prepareOutDir(argv.out as string, { force: argv.force as boolean, command: 'attack', writes: ATTACK_ENTRIES });
    const backend = await initBackend({ backend: argv.backend });
    const clf = await loadClassifier(argv.model as string);
    let x: tf.Tensor4D | undefined;
    try {
      // Classes by index are named from here on (results and the library take the name).
      const target = argv.target as string | number | undefined;
      if (target !== undefined) argv.target = clf.classNames[classIndex(clf, String(target), '--target')];
      const norm = (argv.norm as 'linf' | 'l2' | undefined) ?? (argv.attack === 'cw' ? 'l2' : 'linf');
      const epsilons = epsilonsOf(argv.eps, norm);
      const input = await loadInputs(clf, argv, io);
      x = input.x;
      // A dissection (--probe) has many images even when the attack has one.
      const items = argv.probe !== undefined ? Number.POSITIVE_INFINITY : input.x.shape[0];
      const attack = (inp: Inputs): Promise<number> => attackWith(argv, io, clf, backend, norm, epsilons, inp);
      // A part (--shard), a merge of parts, or a run on the queue; else the attack here.
      const inParts = await attackInParts({ argv, io, clf, backend: backend.name, input, items, optionKeys: Object.keys(attackCommand.options) }, attack);
      if (inParts !== undefined) return inParts;
      return await withWorkers(argv, io, clf, items, () => attack(input));
    } finally {
      x?.dispose();
      clf.dispose();
    }
  },
};

/** The attack proper, on the loaded images (inside the worker pool, when there is one). */
async function attackWith(
  argv: GlobalArgs, io: CliIO, clf: Classifier, backend: BackendInfo, norm: 'linf' | 'l2', epsilons: number[], input: Inputs,
): Promise<number> {
  const x = input.x;
  const out = argv.out as string;
  await fs.mkdir(out, { recursive: true });
  const meta = {
    command: (argv.commandLine as string | undefined) ?? ['unit-attack', ...process.argv.slice(2)].join(' '), model: clf.name, fingerprint: clf.fingerprint,
    inputs: input.source, labelsFrom: input.labelsFrom, backend: backend.name, backendInfo: backend,
    skipped: input.skipped ?? [],
  };
  const unit = isUnitAttack(argv);
  const atlas = unit ? await resolveAtlas(clf, argv, io) : undefined;
  const single = epsilons.length === 1;
  const bigEps = Math.max(...epsilons);
  const arms = unit ? 2 : 1;
  const perEps = progressTotal(argv);
  const bar: Progress = startProgress(io, unit ? 'unit attack + control' : `${argv.attack as string} attack`,
    perEps * arms * epsilons.filter((e) => e > 0).length, argv.quiet);
  const tick = (p: AttackProgress): void => bar.tick(1, `${p.attack} step ${p.step}/${p.total} (${p.active} active)`);
  let curve: RobustnessCurve | undefined;
  let printed: string[] = [];
  let json: Record<string, unknown> = {};
  if (unit) {
    const opts = unitOptions(argv, atlas);
    const onResult = async (_eps: number, r: UnitAttackResult): Promise<void> => {
      if (_eps !== bigEps) return;
      await writeAttackReport(clf, x, { kind: 'unit', result: r }, out, { ids: input.ids, maxHeatmaps: argv.heatmaps as number, meta });
      printed = unitTable(r, clf.classNames);
      json = unitAttackToJson(r, clf.classNames);
    };
    if (single) {
      const r = await unitAttack(clf, x, input.labels, { ...opts, epsilon: bigEps, onProgress: (_a, p) => tick(p) });
      try { await onResult(bigEps, r); } finally { disposeUnitAttack(r); }
    } else {
      curve = await unitAttackCurve(clf, x, input.labels, opts, { epsilons, onArmProgress: (_a, p) => tick(p), onResult });
    }
  } else {
    const target = argv.target as string | undefined;
    const spec = logitSpec(argv, norm);
    // The model-level gradient-masking checks, once (autoattack runs them itself and reports them in its details).
    const checks: MaskingCheck[] = argv.checks === false || argv.attack === 'autoattack' ? [] : await checkGradientMasking(clf, x, input.labels);
    const onResult = async (eps: number, r: AttackResult): Promise<void> => {
      if (eps !== bigEps) return;
      const m = await logitMetrics(r, x, input.labels, target === undefined ? null : clf.classNames.indexOf(target));
      const all = [...checks, ...((r.details?.checks as MaskingCheck[] | undefined) ?? [])];
      m.json.checks = all;
      m.json.warnings = [...new Set([...(m.json.warnings as string[]), ...maskingWarnings(checks)])];
      if (r.attack === 'autoattack') {
        const comps = r.details!.components as AutoAttackComponent[];
        m.json.autoattack = { version: r.details!.version, components: comps };
        m.table.push('', ['autoattack component', 'images attacked → broken → robust after (seconds)'].join('\t'),
          ...comps.map((c) => [c.name, c.ran ? `${c.attacked} → ${c.broke} → ${c.robustAfter} (${c.seconds.toFixed(1)} s)` : `did not run: ${(c.reason ?? '').split(':')[0]}`].join('\t')));
      }
      await writeAttackReport(clf, x, { kind: 'logit', result: r, target: target ?? null, metrics: m.json }, out, { ids: input.ids, meta });
      printed = m.table;
      json = { kind: 'logit-attack', target: target ?? null, ...m.json };
    };
    if (single) {
      const r = await runAttack(clf, x, input.labels, { ...spec, epsilon: bigEps, onProgress: tick });
      try { await onResult(bigEps, r); } finally { r.adversarial.dispose(); }
    } else {
      curve = await robustnessCurve(clf, x, input.labels, spec, { epsilons, onProgress: tick, onResult });
    }
  }
  bar.stop();
  if (curve) {
    await writeCurve(curve, out);
    const resultFile = path.join(out, 'result.json');
    const body = JSON.parse(await fs.readFile(resultFile, 'utf8')) as Record<string, unknown>;
    await writeJsonAtomic(resultFile, { ...body, curve: curveJson(curve) });
  }
  if (argv.json) {
    io.out(JSON.stringify({ out, ...json, curve: curve ? curveJson(curve) : undefined }, null, 2));
    return 0;
  }
  io.out(`${unit ? 'unit attack' : `${argv.attack as string} attack`} on ${input.x.shape[0]} image(s) of ${input.source} — model ${clf.name}, `
    + `ε = ${formatEpsilon(bigEps)} (${norm === 'linf' ? 'L∞' : 'L2'}), ${budgetText(argv, unit)}, seed ${argv.seed as number}`);
  io.out(table(printed.map((l) => l.split('\t')), ['l', 'r', 'r']));
  if (curve) {
    io.out('');
    io.out(table(curveTable(curve), ['l', 'l', 'r', 'r', 'r', 'r', 'r']));
  }
  const warnings = [...new Set([...((json.warnings as string[] | undefined) ?? []), ...(curve?.warnings ?? [])])];
  for (const w of warnings) io.err(`warning: ${w}`);
  io.out(`wrote ${path.join(out, 'result.json')} (adversarial/, perturbation/${unit ? ', heatmaps/' : ''}${curve ? ', curve.txt/.csv/.json/.png' : ''})`);
  return 0;
}

/** The spec of a logit attack from the arguments. */
function logitSpec(argv: GlobalArgs, norm: 'linf' | 'l2'): { kind: string; norm: 'linf' | 'l2'; seed: number } & Record<string, unknown> {
  const attack = argv.attack as string;
  const target = argv.target as string | undefined;
  const own: Record<string, unknown> = {};
  if (attack !== 'square') own.steps = stepsOf(argv);
  if (argv['min-psnr'] !== undefined) own.minPsnr = argv['min-psnr'];
  if (attack === 'pgd' || attack === 'apgd-ce' || attack === 'apgd-dlr' || attack === 'apgd-t') own.restarts = argv.restarts;
  if (argv.queries !== undefined) own.queries = argv.queries;
  if (argv['target-classes'] !== undefined) own.targetClasses = argv['target-classes'];
  if (argv.eot !== undefined) own.eot = argv.eot;
  if (argv['aa-version'] !== undefined) own.version = argv['aa-version'];
  if (attack === 'autoattack') own.checks = argv.checks !== false;
  if (attack === 'apgd-ce' || attack === 'apgd-dlr') {
    own.objective = { kind: attack === 'apgd-ce' ? 'ce' : 'dlr', ...(target !== undefined ? { target } : {}) };
  } else if (attack !== 'apgd-t' && attack !== 'autoattack') {
    own.objective = target === undefined ? { kind: attack === 'cw' || attack === 'square' ? 'margin' : 'ce' } : { kind: 'margin', target };
  }
  return { kind: attack, norm, seed: argv.seed as number, ...own };
}

/** The attack's budget as the header says it: one step for FGSM, queries for Square, else the gradient steps. */
function budgetText(argv: GlobalArgs, unit: boolean): string {
  if (!unit && argv.attack === 'fgsm') return '1 step';
  if (!unit && argv.attack === 'square') return `${(argv.queries as number | undefined) ?? 1000} queries`;
  return `${stepsOf(argv)} steps`;
}

/** Progress-bar steps per ε: gradient steps (and queries) the attack takes per image at most. */
function progressTotal(argv: GlobalArgs): number {
  if (!isUnitAttack(argv) && argv.attack === 'fgsm') return 1;
  const steps = stepsOf(argv);
  const restarts = argv.restarts as number;
  const targets = (argv['target-classes'] as number | undefined) ?? 9;
  switch (argv.attack as string) {
    case 'pgd': case 'apgd-ce': case 'apgd-dlr': return steps * restarts;
    case 'apgd-t': return steps * restarts * targets;
    case 'fab-t': return steps * targets;
    case 'cw': return steps * 5;
    case 'square': return (argv.queries as number | undefined) ?? 1000;
    case 'autoattack': return argv['aa-version'] === 'rand' ? 2 * steps : steps * (1 + 2 * targets) + ((argv.queries as number | undefined) ?? 5000);
    default: return steps;
  }
}

/** `--eps`: one budget in (0, 1], or a comma-separated list for a curve (where 0 is the clean row). */
function epsilonsOf(v: unknown, norm: 'linf' | 'l2'): number[] {
  const text = String(v);
  return text.includes(',') ? parseEpsilonList(text, { path: '--eps', norm }) : [parseEpsilon(text, { path: '--eps', norm })];
}

interface Inputs {
  x: tf.Tensor4D;
  labels: Int32Array;
  ids: string[];
  source: string;
  labelsFrom: 'synthetic' | 'label' | 'prediction';
  /** Image files that could not be read, with why (skipped, unless --strict). */
  skipped?: Array<{ file: string; reason: string }>;
}

/** Every top-level entry `attack` may write in `--out` (what `--force` replaces). */
const ATTACK_ENTRIES: readonly string[] = [ATTACK_PART_FILE, ATTACK_PART_DATA, 'result.json', 'adversarial', 'perturbation', 'heatmaps', 'curve.txt', 'curve.csv', 'curve.json', 'curve.png'];

async function loadInputs(clf: Classifier, argv: GlobalArgs, io: CliIO): Promise<Inputs> {
  const [h, w] = clf.inputSize;
  if (argv.synthetic !== undefined) {
    const cls = argv.synthetic as string;
    if (!SCENE_CLASSES.includes(cls)) {
      throw usageError(`--synthetic: '${cls}' is not a scene class`, { path: '--synthetic', hint: `scene classes: ${SCENE_CLASSES.join(', ')}` });
    }
    const label = classIndex(clf, cls, '--synthetic');
    if (h !== w) throw usageError(`the scene world renders square images, but the model takes ${h}×${w}`, { path: '--synthetic' });
    const n = argv.count as number;
    const seed = argv.seed as number;
    const { x } = sceneBatch([cls], seed, 0, n, h);
    const ids = Array.from({ length: n }, (_, i) => `${cls}-${i}`);
    return { x, labels: new Int32Array(n).fill(label), ids, source: `${n} synthetic ${cls} scenes (dataset seed ${seed})`, labelsFrom: 'synthetic' };
  }
  const files = argv.images !== undefined ? await listImages(argv.images as string) : (argv.image as string[]);
  if (files.length === 0) throw usageError(`no images (.png, .jpg, .jpeg, .webp) in '${String(argv.images)}'`, { path: '--images' });
  const parts: tf.Tensor4D[] = [];
  const skipped: Array<{ file: string; reason: string }> = [];
  const read: string[] = [];
  try {
    // An unreadable file is skipped and named (--strict stops on it); only when none is readable is it an error.
    for (const f of files) {
      try {
        parts.push(await loadImage(f, { size: [h, w] }));
        read.push(f);
      } catch (err) {
        if (argv.strict || !(err instanceof UnitAttackError)) throw err;
        skipped.push({ file: f, reason: err.message });
        io.err(`warning: skipped '${f}': ${err.message}`);
      }
    }
    if (read.length === 0) throw inputError(`none of the ${files.length} image(s) could be read`, { path: '--image', hint: 'see the warnings above for why each was skipped' });
    const x = tf.concat<tf.Tensor4D>(parts);
    let labels: Int32Array;
    let labelsFrom: Inputs['labelsFrom'];
    if (argv.label !== undefined) {
      labels = new Int32Array(read.length).fill(classIndex(clf, argv.label as string, '--label'));
      labelsFrom = 'label';
    } else {
      const p = tf.tidy(() => tf.argMax(clf.logits(x), 1));
      labels = Int32Array.from(await p.data());
      p.dispose();
      labelsFrom = 'prediction';
    }
    const ids = read.map((f) => path.basename(f, path.extname(f)));
    return { x, labels, ids, source: typeof argv.images === 'string' ? argv.images : read.join(', '), labelsFrom, ...(skipped.length > 0 ? { skipped } : {}) };
  } finally {
    parts.forEach((t) => t.dispose());
  }
}

/** A class named by its name or by its index. */
function classIndex(clf: Classifier, name: string, option: string): number {
  const i = findClass(clf.classNames, name, { indexText: true });
  if (i < 0) {
    throw usageError(`${option}: the model has no class '${name}'`, {
      path: option, hint: `classes: ${clf.classNames.length <= 30 ? clf.classNames.join(', ') : nearestNames(name, clf.classNames, 5).join(', ') + ', …'}`,
    });
  }
  return i;
}

async function resolveAtlas(clf: Classifier, argv: GlobalArgs, io: CliIO): Promise<Atlas | undefined> {
  if (argv.atlas !== undefined) return loadAtlas(argv.atlas as string);
  if (argv.probe === undefined) return undefined;
  const bars = phaseProgress(io, argv.quiet, (phase: string) => `dissect: ${phase}`);
  const r = await dissect(clf, argv.probe as string, {
    ...(argv.layer !== undefined ? { layer: argv.layer as string } : {}),
    onWarning: (m) => io.err(`warning: ${m}`),
    onProgress: bars.onProgress,
  });
  bars.stop();
  if (r.cached) io.err(`dissection from the cache: ${r.cacheFile ?? ''}`);
  return r.atlas;
}

function unitOptions(argv: GlobalArgs, atlas: Atlas | undefined): Omit<UnitAttackOptions, 'epsilon'> {
  const s = list(argv.suppress); const e = list(argv.excite);
  const su = unitList(argv['suppress-units'], 'suppress-units'); const eu = unitList(argv['excite-units'], 'excite-units');
  return {
    ...(atlas ? { atlas } : {}),
    ...(argv.layer !== undefined ? { layer: argv.layer as string } : {}),
    ...(s.length ? { suppress: s } : {}), ...(e.length ? { excite: e } : {}),
    ...(argv['suppress-class'] !== undefined ? { suppressClass: argv['suppress-class'] as string } : {}),
    ...(argv['excite-class'] !== undefined ? { exciteClass: argv['excite-class'] as string } : {}),
    ...(argv['class-ranking'] !== undefined ? { classRanking: argv['class-ranking'] as 'gradient' | 'ablation' } : {}),
    ...(su.length ? { suppressUnits: su } : {}), ...(eu.length ? { exciteUnits: eu } : {}),
    ...(argv.units !== undefined ? { count: argv.units as number } : {}),
    ...(argv['concept-iou'] !== undefined ? { conceptIou: argv['concept-iou'] as number } : {}),
    ...(argv.target !== undefined ? { target: argv.target as string } : {}),
    ...(argv['unit-scale'] !== undefined ? { unitScale: argv['unit-scale'] as 'threshold' | 'none' } : {}),
    ...(argv.norm !== undefined ? { norm: argv.norm as 'linf' | 'l2' } : {}),
    ...(argv['min-psnr'] !== undefined ? { minPsnr: argv['min-psnr'] as number } : {}),
    attack: argv.attack as string, steps: stepsOf(argv), restarts: argv.restarts as number, seed: argv.seed as number,
    aggregate: argv.aggregate as 'mean' | 'max' | 'typical', shaping: argv.shaping as 'linear' | 'capped' | 'log', classWeight: argv['class-weight'] as number,
  };
}

const pct = (r: Rate | null): string => (r === null || !Number.isFinite(r.rate) ? '–' : `${(100 * r.rate).toFixed(1)}% (${r.count}/${r.total})`);
const f = (v: number, d = 2): string => (Number.isFinite(v) ? v.toFixed(d) : '–');
const ci = (g: { mean: number; ci: [number, number] }): string => `${f(g.mean)} [${f(g.ci[0])}, ${f(g.ci[1])}]`;

/** Tab-separated rows: what | unit attack | random control. */
function unitTable(r: UnitAttackResult, classNames: readonly string[]): string[] {
  const arms = [r.unit, r.control].filter((a): a is UnitAttackArm => a !== null);
  const row = (name: string, g: (a: UnitAttackArm) => string): string => [name, ...arms.map(g)].join('\t');
  const finiteMean = (v: number[]): number => { const x = v.filter(Number.isFinite); return x.length ? x.reduce((a, b) => a + b, 0) / x.length : Number.NaN; };
  const sel = (side: 'suppress' | 'excite'): string => {
    const s = r.selection[side];
    const what = [...s.names, ...(s.ranking ? [`${s.ranking} ranking`] : [])];
    return s.by === 'none' ? '' : ` by ${s.by}${what.length ? ` (${what.join(', ')})` : ''}`;
  };
  return [
    ['', 'unit attack', ...(r.control ? ['random control'] : [])].join('\t'),
    row('units suppressed', (a) => `${a.suppress.length}${a.arm === 'unit' ? sel('suppress') : ''}`),
    row('units excited', (a) => `${a.excite.length}${a.arm === 'unit' ? sel('excite') : ''}`),
    row(r.target ? `→ ${r.target.name} (targeted)` : 'targeted', (a) => pct(a.targetedSuccess)),
    row('untargeted success', (a) => pct(a.untargetedSuccess)),
    row('robust accuracy', (a) => pct(a.robustAccuracy)),
    row('PSNR dB (mean)', (a) => f(finiteMean(a.psnr.perImage), 1)),
    row('SSIM (mean)', (a) => f(a.ssim.mean, 4)),
    row('L∞ ×255 (max)', (a) => f(a.linf.max * 255, 1)),
    row('L2 (mean)', (a) => f(a.l2.mean, 3)),
    row(`Δ suppressed units (${Math.round(r.unit.unitEffect.confidence * 100)}% CI)`, (a) => ci(a.unitEffect.suppressed)),
    row('Δ excited units', (a) => ci(a.unitEffect.excited)),
    row('Δ other units', (a) => ci(a.unitEffect.other)),
    row('clean accuracy', () => pct(r.cleanAccuracy)),
    row('predictions after', (a) => topClasses(a.after, classNames)),
  ];
}

function topClasses(pred: Int32Array, classNames: readonly string[]): string {
  const counts = new Map<number, number>();
  for (const p of pred) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, k]) => `${classNames[c] ?? c} ${k}`).join(', ');
}

async function logitMetrics(r: AttackResult, x: tf.Tensor4D, labels: Int32Array, target: number | null): Promise<{ table: string[]; json: Record<string, unknown> }> {
  const m = await measureAttack(x, r, labels, { target });
  const [p, s, li, l2v, ts, us, ra, ca] = [m.psnr, m.ssim!, m.linf, m.l2, m.targetedSuccess, m.untargetedSuccess, m.robustAccuracy, m.cleanAccuracy];
  const psnrMean = meanFinite(p.perImage);
  const rj = rateJson;
  return {
    table: [
      ['', r.attack].join('\t'),
      ['objective', r.objectiveName].join('\t'),
      ...(ts ? [['targeted success', pct(ts)].join('\t')] : []),
      ['untargeted success', pct(us)].join('\t'),
      ['clean accuracy', pct(ca)].join('\t'),
      ['robust accuracy', pct(ra)].join('\t'),
      ['PSNR dB (mean)', f(psnrMean, 1)].join('\t'),
      ['SSIM (mean)', f(s.mean, 4)].join('\t'),
      ['L∞ ×255 (max)', f(li.max * 255, 1)].join('\t'),
      ['L2 (mean)', f(l2v.mean, 3)].join('\t'),
    ],
    json: {
      attack: r.attack, objective: r.objectiveName, epsilon: r.epsilon, norm: r.norm, ...(r.minPsnr !== undefined ? { minPsnr: r.minPsnr } : {}), seed: r.seed, backend: r.backend, tfjsVersion: r.tfjsVersion,
      targetedSuccess: rj(ts), untargetedSuccess: rj(us), cleanAccuracy: rj(ca), robustAccuracy: rj(ra),
      psnr: { mean: psnrMean, perImage: p.perImage.map((v) => (Number.isFinite(v) ? v : 1e9)) }, ssim: { mean: s.mean, perImage: s.perImage },
      linf: { max: li.max, perImage: li.perImage }, l2: { mean: l2v.mean, perImage: l2v.perImage },
      predictions: { before: Array.from(r.cleanPredictions), after: Array.from(r.predictions) },
      steps: Array.from(r.steps), queries: Array.from(r.queries), warnings: r.warnings,
    },
  };
}
