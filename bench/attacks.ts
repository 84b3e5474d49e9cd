/**
 * Attack benchmark on the built-in model: the unit-attack story (ski resort → bedroom), the PNAS unit-effect
 * measurement under a standard targeted PGD, robust accuracy under PGD-20, and PGD-50 timing.
 *
 *   npx tsx bench/attacks.ts                              # every section on builtin:scenes-vgg16
 *   npx tsx bench/attacks.ts --section story --count 100  # one section
 *   npx tsx bench/attacks.ts --section story --min-psnr 35   # every attack of the story also keeps PSNR ≥ 35 dB
 *   npx tsx bench/attacks.ts --section oracle             # the ceiling: direct edits of the layer, no pixels
 *   npx tsx bench/attacks.ts --section pnas --pnas-eps 4     # the PNAS measurement at 4/255 (--pnas-attack cw: C&W L2)
 *   npx tsx bench/attacks.ts --section variants --eps 16 --variants '[["max",{"aggregate":"max"}]]'
 *   npx tsx bench/attacks.ts --section autoattack --aa-count 500    # robust accuracy: PGD-20, APGD-CE, FAB-T, AutoAttack (standard)
 *   npx tsx bench/attacks.ts --section autoattack --aa-count 100 --aa-eps 2 --aa-fab false   # the time ratio AutoAttack / PGD-20 (issue #22: ≤ 10×)
 *   npx tsx bench/attacks.ts --section autoattack --aa-from 100 --aa-count 50 --json s3.json   # one shard; bench/autoattack-merge.ts joins them
 *
 * Images are fresh scenes: scene i of dataset seed 777_001 (story, PNAS, timing), 777_002 (robust accuracy) or 777_004
 * (AutoAttack), and
 * any scene whose seed the training run used is skipped. Success is measured on the 8-bit images, the class term is
 * off (the unit attack never sees the target) and the random-unit control has the same size as the steered set.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as tf from '../src/tf.js';
import type { AutoAttackComponent } from '../src/attacks/autoattack.js';
import type { MaskingCheck } from '../src/attacks/masking.js';
import { runAttack } from '../src/attacks/registry.js';
import { disposeUnitAttack, measureUnitEffect, unitAttack, type UnitAttackOptions, type UnitAttackResult } from '../src/attacks/unit/index.js';
import { cleanAccuracy, robustAccuracy, targetedSuccess, type Rate } from '../src/attacks/metrics.js';
import { randomUnits } from '../src/attacks/random-units.js';
import type { GroupEffect } from '../src/attacks/metrics.js';
import { SCENE_CLASSES } from '../src/data/scenes/index.js';
import { loadAtlas, type Atlas } from '../src/dissection/atlas.js';
import { dissect } from '../src/dissection/dissect.js';
import { initBackend } from '../src/engine/backend.js';
import { defaultWorkers, startPool, withPool } from '../src/parallel/index.js';
import { BUILTIN_MODELS, loadClassifier } from '../src/models/io.js';
import type { Classifier } from '../src/models/types.js';
import { freshScenes, trainingSeeds } from './fresh-scenes.js';

const argv = process.argv.slice(2);
const opt = (name: string, def?: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const MODEL = opt('model', 'builtin:scenes-vgg16')!;
const COUNT = Number(opt('count', '100'));
const STEPS = Number(opt('steps', '50'));
const SECTIONS = (opt('section', 'story,pnas,robust,timing')!).split(',');
const EPS = (opt('eps', '1,2,4,8,16')!).split(',').map(Number);
const SOURCE = 'ski_resort';
const TARGET = 'bedroom';
const UNITS = Number(opt('units', '10'));
const SEED = Number(opt('seed', '0'));
const JSON_OUT = opt('json');
/** A PSNR floor (dB) for every attack of the story, or none. */
const MIN_PSNR = opt('min-psnr') === undefined ? undefined : Number(opt('min-psnr'));

const report: Record<string, unknown> = {};

/** `n` fresh scenes of `classes` (cycled) from dataset `datasetSeed`, skipping seeds used in training. */
function scenes(clf: Classifier, classes: readonly string[], n: number, datasetSeed: number, trained: Set<number>): { x: tf.Tensor4D; y: Int32Array; skipped: number } {
  const size = clf.inputSize[0];
  const { pixels, y, skipped } = freshScenes(clf, classes, n, datasetSeed, trained);
  return { x: tf.tensor4d(pixels, [n, size, size, 3]), y, skipped };
}

const pct = (r: Rate | null | undefined): string => (r && Number.isFinite(r.rate) ? `${(100 * r.rate).toFixed(0)}%` : '–');
const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '–');
const ci = (g: GroupEffect): string => `${f2(g.mean)} [${f2(g.ci[0])}, ${f2(g.ci[1])}]`;
const meanFinite = (v: number[]): number => { const a = v.filter(Number.isFinite); return a.reduce((s, x) => s + x, 0) / a.length; };

function printTable(rows: string[][]): void {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  '));
}

async function getAtlas(clf: Classifier): Promise<Atlas> {
  const file = opt('atlas');
  if (file) return loadAtlas(file);
  const probe = opt('probe', 'builtin:scenes?count=2000&seed=7')!;
  console.log(`dissecting ${clf.defaultLayer} on ${probe} (cached in .unit-attack-cache) …`);
  const t0 = Date.now();
  const r = await dissect(clf, probe, { cache: true });
  console.log(`  ${r.cached ? 'from the cache' : `${((Date.now() - t0) / 1000).toFixed(0)} s`}`);
  return r.atlas;
}

/** The concept selection of the story: suppress snow and mountain, excite bed (by IoU when bed labels no unit). */
function conceptSelection(atlas: Atlas): Partial<UnitAttackOptions> & { note: string } {
  const labelled = new Set(atlas.units.map((u) => u.concept));
  if (labelled.has('bed')) return { suppress: ['snow', 'mountain'], excite: ['bed'], count: UNITS, note: 'units labelled snow, mountain / bed' };
  return {
    suppress: ['snow', 'mountain'], excite: ['bed'], conceptIou: 0.015, count: UNITS,
    note: 'snow and mountain by label; no unit is labelled bed at the atlas cut-off, so bed takes the units whose IoU with it is ≥ 0.015',
  };
}

/** The settings of the unit attack that the variants section found best (see docs/attacks.md). */
function bestUnitOptions(eps: number): Partial<UnitAttackOptions> {
  // Steps three times the PGD default (2.5·ε/steps): on the width-1/8 model, 55% instead of 49% at 8/255 and 35 dB.
  return {
    aggregate: 'mean', shaping: 'linear', unitScale: 'threshold', schedule: 'cosine', stepSize: (3 * 2.5 * eps) / STEPS,
    ...(MIN_PSNR !== undefined ? { minPsnr: MIN_PSNR } : {}),
  };
}

async function story(clf: Classifier, atlas: Atlas, x: tf.Tensor4D, y: Int32Array): Promise<void> {
  const t = clf.classNames.indexOf(TARGET);
  const concept = conceptSelection(atlas);
  const rows: string[][] = [['ε', 'PGD logits', 'unit: concept', 'unit: class', 'random control', 'PSNR dB', 'Δ suppressed', 'Δ excited', 'Δ other']];
  const data: unknown[] = [];
  let units = '';
  for (const e of EPS) {
    const eps = e / 255;
    const t0 = Date.now();
    const logit = await runAttack(clf, x, y, {
      kind: 'pgd', epsilon: eps, steps: STEPS, seed: SEED, objective: { kind: 'margin', target: TARGET }, ...(MIN_PSNR !== undefined ? { minPsnr: MIN_PSNR } : {}),
    });
    const logitRate = targetedSuccess(logit.predictions, y, t);
    logit.adversarial.dispose();
    const common: UnitAttackOptions = { atlas, target: TARGET, epsilon: eps, steps: STEPS, seed: SEED, ...bestUnitOptions(eps) };
    const conceptOpts: Partial<UnitAttackOptions> = { ...concept };
    delete (conceptOpts as { note?: string }).note;
    // The concept attack's own control is skipped to save time; the class attack's control is the reference.
    const byConcept = await unitAttack(clf, x, y, { ...common, ...conceptOpts, control: false });
    const byClass = await unitAttack(clf, x, y, { ...common, suppressClass: SOURCE, exciteClass: TARGET, count: UNITS });
    units = `concept: −${byConcept.unit.suppress.length} +${byConcept.unit.excite.length} (${byConcept.unit.excite.join(',')}); `
      + `class (${byClass.selection.excite.ranking ?? 'ablation'} ranking): −${byClass.unit.suppress.length} +${byClass.unit.excite.length}`;
    const u = byClass.unit;
    rows.push([`${e}/255`, pct(logitRate), pct(byConcept.unit.targetedSuccess), pct(u.targetedSuccess),
      pct(byClass.control!.targetedSuccess),
      f2(meanFinite(u.psnr.perImage)), ci(u.unitEffect.suppressed), ci(u.unitEffect.excited), ci(u.unitEffect.other)]);
    data.push({ eps: e, logit: logitRate, concept: summary(byConcept), class: summary(byClass), seconds: (Date.now() - t0) / 1000 });
    disposeUnitAttack(byConcept); disposeUnitAttack(byClass);
    console.error(`  ε = ${e}/255 done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  console.log(`\nStory: ${x.shape[0]} fresh ${SOURCE} scenes → ${TARGET}; PGD-${STEPS}, L∞${MIN_PSNR !== undefined ? ` and PSNR ≥ ${MIN_PSNR} dB` : ''}, success after rounding to 8 bits; class term off.`);
  console.log(`Units (${concept.note}): ${units}. Random control: same size as the class-selected set.`);
  console.log('Δ = change of spatial-max activation in units of the dissection threshold, mean [99% CI] over images (class-selected attack).');
  printTable(rows);
  report.story = data;
}

function summary(r: UnitAttackResult): Record<string, unknown> {
  const arm = (a: UnitAttackResult['unit']): Record<string, unknown> => ({
    suppress: a.suppress, excite: a.excite, targeted: a.targetedSuccess, untargeted: a.untargetedSuccess, psnr: meanFinite(a.psnr.perImage),
    ssim: a.ssim.mean, linf: a.linf.max, suppressed: { mean: a.unitEffect.suppressed.mean, ci: a.unitEffect.suppressed.ci },
    excited: { mean: a.unitEffect.excited.mean, ci: a.unitEffect.excited.ci }, other: { mean: a.unitEffect.other.mean, ci: a.unitEffect.other.ci },
  });
  return { unit: arm(r.unit), control: r.control ? arm(r.control) : null, seed: r.seed, controlSeed: r.controlSeed, warnings: r.warnings };
}

async function pnas(clf: Classifier, atlas: Atlas, x: tf.Tensor4D, y: Int32Array): Promise<void> {
  const eps = Number(opt('pnas-eps', '8')) / 255;
  const t = clf.classNames.indexOf(TARGET);
  // --pnas-attack cw: C&W L2, the attack of the PNAS experiment (minimal perturbations, no ε).
  const cw = opt('pnas-attack', 'pgd') === 'cw';
  const r = cw
    ? await runAttack(clf, x, y, { kind: 'cw', steps: STEPS, seed: SEED, objective: { kind: 'margin', target: TARGET } })
    : await runAttack(clf, x, y, { kind: 'pgd', epsilon: eps, steps: STEPS, seed: SEED, objective: { kind: 'ce', target: TARGET } });
  const excite = atlas.classImportance[TARGET].ranking.slice(0, UNITS);
  const suppress = atlas.classImportance[SOURCE].ranking.filter((u) => !excite.includes(u)).slice(0, UNITS);
  // The same scale as the unit attack: thresholds floored at a tenth of the layer's median (a nearly dead unit's tiny
  // threshold would otherwise blow its change up).
  const positive = atlas.units.map((u) => u.threshold).filter((v) => v > 0).sort((a, b) => a - b);
  const floor = 0.1 * (positive[Math.floor(positive.length / 2)] ?? 1);
  const scale = Float32Array.from(atlas.units, (u) => Math.max(u.threshold, floor));
  const all = await measureUnitEffect(clf, atlas.layer, x, r.adversarial, suppress, excite, { unitScale: scale, seed: SEED });
  const ok = Array.from(r.predictions.keys()).filter((i) => r.predictions[i] === t);
  let fooled: Awaited<ReturnType<typeof measureUnitEffect>> | null = null;
  if (ok.length >= 2) {
    const idx = tf.tensor1d(ok, 'int32');
    const [xs, as] = [tf.gather(x, idx), tf.gather(r.adversarial, idx)] as tf.Tensor4D[];
    fooled = await measureUnitEffect(clf, atlas.layer, xs, as, suppress, excite, { unitScale: scale, seed: SEED });
    [idx, xs, as].forEach((v) => v.dispose());
  }
  r.adversarial.dispose();
  const how = cw ? `C&W L2 (${STEPS} steps per constant, margin → ${TARGET})` : `PGD-${STEPS} (cross-entropy → ${TARGET}, ε = ${eps * 255}/255)`;
  console.log(`\nPNAS measurement: standard targeted ${how} on ${x.shape[0]} ${SOURCE} scenes; `
    + `success ${pct(targetedSuccess(r.predictions, y, t))}.`);
  console.log(`Change of spatial-max activation (÷ dissection threshold), mean [99% bootstrap CI] over images; top-${UNITS} units by class importance.`);
  printTable([
    ['units', 'all images', `fooled images (${ok.length})`],
    [`top ${UNITS} ${TARGET} (target)`, ci(all.excited), fooled ? ci(fooled.excited) : '–'],
    [`top ${UNITS} ${SOURCE} (source)`, ci(all.suppressed), fooled ? ci(fooled.suppressed) : '–'],
    [`other ${all.other.units.length} units`, ci(all.other), fooled ? ci(fooled.other) : '–'],
  ]);
  report.pnas = { eps, excite, suppress, all: { excited: all.excited.mean, suppressed: all.suppressed.mean, other: all.other.mean, ci: [all.excited.ci, all.suppressed.ci, all.other.ci] } };
}

async function robust(clf: Classifier, trained: Set<number>): Promise<void> {
  const n = Number(opt('robust-count', String(Math.max(COUNT, 120))));
  const { x, y } = scenes(clf, SCENE_CLASSES.filter((c) => clf.classNames.includes(c)), n, 777_002, trained);
  const rows = [['ε', 'clean accuracy', 'robust accuracy (PGD-20)']];
  const data: unknown[] = [];
  for (const e of [1, 2, 4]) {
    const r = await runAttack(clf, x, y, { kind: 'pgd', epsilon: e / 255, steps: 20, seed: SEED, objective: { kind: 'ce' } });
    rows.push([`${e}/255`, pct(cleanAccuracy(r.cleanPredictions, y)), pct(robustAccuracy(r.cleanPredictions, r.predictions, y))]);
    data.push({ eps: e, clean: cleanAccuracy(r.cleanPredictions, y), robust: robustAccuracy(r.cleanPredictions, r.predictions, y) });
    r.adversarial.dispose();
  }
  x.dispose();
  console.log(`\nRobust accuracy: untargeted PGD-20 (cross-entropy, L∞) on ${n} fresh scenes of all classes (dataset seed 777002).`);
  printTable(rows);
  report.robust = data;
}

/**
 * Robust accuracy under PGD-20, APGD-CE, FAB-T and the standard AutoAttack ensemble on the same fresh scenes of all
 * classes (L∞, untargeted), with the time of each and the ensemble's time per component. `--aa-count` images (default
 * 500), `--aa-eps` budgets in 8-bit steps (default 1,2,4), `--aa-steps` APGD and FAB iterations (default 100),
 * `--aa-queries` Square's budget (default 5000), `--aa-fab false` leaves out the FAB-T column (the ensemble still runs
 * FAB-T). PGD-20 runs before and after the ensemble, in this process, and the time ratio is taken against the mean of
 * the two, so that it holds on a loaded machine too; it is given in wall time and in CPU time of the process (every
 * thread), the one to compare on a shared machine. The
 * CPU time of a component runs from its first progress event to the next component's (one step off at each end).
 */
async function autoattackSection(clf: Classifier, trained: Set<number>): Promise<void> {
  const n = Number(opt('aa-count', '500'));
  const eps = (opt('aa-eps', '1,2,4')!).split(',').map(Number);
  const steps = Number(opt('aa-steps', '100'));
  const queries = Number(opt('aa-queries', '5000'));
  const withFab = opt('aa-fab', 'true') !== 'false';
  // A shard: images from…from+n−1 of the same stream. Every attack seeds each image from the image itself, so a shard
  // gives each image what a run over all of them gives it; bench/autoattack-merge.ts sums the shards' counts.
  const from = Number(opt('aa-from', '0'));
  if (!Number.isInteger(from) || from < 0) throw new Error(`--aa-from must be a whole number ≥ 0, got ${String(opt('aa-from'))}`);
  const all = scenes(clf, SCENE_CLASSES.filter((c) => clf.classNames.includes(c)), from + n, 777_004, trained);
  const x = all.x.slice([from, 0, 0, 0], [n, -1, -1, -1]); const y = all.y.slice(from); const skipped = all.skipped;
  all.x.dispose();
  console.log(`\nAutoAttack: ${n} fresh scenes of all classes (${from > 0 ? `images ${from}…${from + n - 1} of ` : ''}dataset seed 777004; ${skipped} skipped as training seeds), L∞, untargeted, attack seed ${SEED}.`);
  const rows = [['ε', 'clean', 'PGD-20', 'APGD-CE', 'FAB-T', 'AutoAttack', 'PGD-20 s (before, after)', 'APGD-CE s', 'FAB-T s', 'AutoAttack s', 'AA / PGD-20 time', 'AA / PGD-20 CPU']];
  const parts: string[][] = [['ε', 'component', 'attacked', 'broke', 'robust after', 'seconds', 'share of time', 'CPU s', 'share of CPU', 'model passes', 'CPU ms per pass']];
  const data: unknown[] = [];
  const cpuNow = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const timed = async (spec: Parameters<typeof runAttack>[3]): Promise<{ robust: Rate; clean: Rate; seconds: number; cpu: number; componentCpu: Map<string, number>; details?: Record<string, unknown>; warnings: string[] }> => {
    // CPU per component of the ensemble: from the first progress event of one to the first of the next.
    const componentCpu = new Map<string, number>();
    let current: string | undefined; let mark = 0;
    const onProgress = (p: { attack: string }): void => {
      if (p.attack === current) return;
      const now = cpuNow();
      if (current !== undefined) componentCpu.set(current, (componentCpu.get(current) ?? 0) + now - mark);
      current = p.attack; mark = now;
    };
    const t0 = performance.now(); const c0 = cpuNow();
    const r = await runAttack(clf, x, y, { ...spec, onProgress });
    const seconds = (performance.now() - t0) / 1000; const c1 = cpuNow();
    if (current !== undefined) componentCpu.set(current, (componentCpu.get(current) ?? 0) + c1 - mark);
    r.adversarial.dispose();
    return {
      robust: robustAccuracy(r.cleanPredictions, r.predictions, y), clean: cleanAccuracy(r.cleanPredictions, y), seconds, cpu: c1 - c0, componentCpu,
      ...(r.details ? { details: r.details } : {}), warnings: r.warnings,
    };
  };
  const load = (): string => (existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : '?');
  for (const e of eps) {
    const epsilon = e / 255;
    console.error(`  ε = ${e}/255: load average ${load()}`);
    const p20 = await timed({ kind: 'pgd', epsilon, steps: 20, seed: SEED, objective: { kind: 'ce' } });
    console.error(`  ε = ${e}/255: PGD-20 ${pct(p20.robust)} in ${p20.seconds.toFixed(0)} s (CPU ${p20.cpu.toFixed(0)} s)`);
    const ce = await timed({ kind: 'apgd-ce', epsilon, steps, seed: SEED });
    console.error(`  ε = ${e}/255: APGD-CE ${pct(ce.robust)} in ${ce.seconds.toFixed(0)} s (CPU ${ce.cpu.toFixed(0)} s)`);
    const fabT = withFab ? await timed({ kind: 'fab-t', epsilon, steps, seed: SEED }) : undefined;
    if (fabT) console.error(`  ε = ${e}/255: FAB-T ${pct(fabT.robust)} in ${fabT.seconds.toFixed(0)} s (CPU ${fabT.cpu.toFixed(0)} s)`);
    const aa = await timed({ kind: 'autoattack', epsilon, steps, queries, seed: SEED });
    console.error(`  ε = ${e}/255: AutoAttack ${pct(aa.robust)} in ${aa.seconds.toFixed(0)} s (CPU ${aa.cpu.toFixed(0)} s); load average ${load()}`);
    // PGD-20 once more after the ensemble: the ratio is taken against the mean of the runs before and after, so a
    // load that changes while the ensemble runs weighs on both sides.
    const again = await timed({ kind: 'pgd', epsilon, steps: 20, seed: SEED, objective: { kind: 'ce' } });
    console.error(`  ε = ${e}/255: PGD-20 again ${pct(again.robust)} in ${again.seconds.toFixed(0)} s (CPU ${again.cpu.toFixed(0)} s)`);
    const pgdSeconds = (p20.seconds + again.seconds) / 2;
    const pgdCpu = (p20.cpu + again.cpu) / 2;
    const comps = aa.details!.components as AutoAttackComponent[];
    const pcts = (r: Rate): string => `${(100 * r.rate).toFixed(1)}%`;
    rows.push([`${e}/255`, pcts(p20.clean), pcts(p20.robust), pcts(ce.robust), fabT ? pcts(fabT.robust) : '–', pcts(aa.robust),
      `${p20.seconds.toFixed(0)}, ${again.seconds.toFixed(0)}`, ce.seconds.toFixed(0), fabT ? fabT.seconds.toFixed(0) : '–', aa.seconds.toFixed(0),
      `${(aa.seconds / pgdSeconds).toFixed(1)}×`, `${(aa.cpu / pgdCpu).toFixed(1)}×`]);
    console.error(`  ε = ${e}/255: AutoAttack / PGD-20 on ${n} images: ${(aa.seconds / pgdSeconds).toFixed(1)}× wall, ${(aa.cpu / pgdCpu).toFixed(1)}× CPU (issue #22 asks ≤ 10×)`);
    for (const c of comps) {
      const cpu = aa.componentCpu.get(c.name);
      parts.push([`${e}/255`, c.name, c.ran ? String(c.attacked) : '–', c.ran ? String(c.broke) : '–', String(c.robustAfter),
        c.ran ? c.seconds.toFixed(0) : c.reason ?? '', c.ran ? `${((100 * c.seconds) / aa.seconds).toFixed(0)}%` : '',
        cpu !== undefined ? cpu.toFixed(0) : '', cpu !== undefined ? `${((100 * cpu) / aa.cpu).toFixed(0)}%` : '',
        c.ran ? String(c.queries) : '', cpu !== undefined && c.queries > 0 ? (1000 * cpu / c.queries).toFixed(1) : '']);
    }
    const rest = aa.seconds - comps.reduce((t, c) => t + c.seconds, 0);
    const restCpu = aa.cpu - [...aa.componentCpu.values()].reduce((t, v) => t + v, 0);
    parts.push([`${e}/255`, 'checks, bookkeeping', '', '', '', rest.toFixed(0), `${((100 * rest) / aa.seconds).toFixed(0)}%`, restCpu.toFixed(0), `${((100 * restCpu) / aa.cpu).toFixed(0)}%`, '', '']);
    const fired = (aa.details!.checks as MaskingCheck[]).filter((k) => k.flagged).map((k) => k.check);
    data.push({ eps: e, clean: p20.clean, pgd20: { robust: p20.robust, seconds: [p20.seconds, again.seconds], cpu: [p20.cpu, again.cpu] },
      apgdCe: { robust: ce.robust, seconds: ce.seconds, cpu: ce.cpu },
      ...(fabT ? { fabT: { robust: fabT.robust, seconds: fabT.seconds, cpu: fabT.cpu } } : {}), timeRatio: aa.seconds / pgdSeconds, cpuRatio: aa.cpu / pgdCpu,
      autoattack: { robust: aa.robust, seconds: aa.seconds, cpu: aa.cpu, components: comps, componentCpu: Object.fromEntries(aa.componentCpu), checksFired: fired },
      aboveGate: aa.robust.count > p20.robust.count });
    if (fired.length > 0) console.log(`  ε = ${e}/255: gradient-masking checks fired: ${fired.join(', ')}`);
  }
  x.dispose();
  printTable(rows);
  console.log(`\nAutoAttack per component (APGD and FAB ${steps} iterations, APGD-T and FAB-T over 9 targets, Square ${queries} queries; each on the images still robust):`);
  printTable(parts);
  const above = (data as Array<{ eps: number; aboveGate: boolean }>).filter((d) => d.aboveGate);
  console.log(above.length === 0 ? 'The ensemble is never above PGD-20.' : `The ensemble is ABOVE PGD-20 at ${above.map((d) => `${d.eps}/255`).join(', ')}.`);
  report.autoattack = { model: clf.fingerprint, images: n, from, steps, queries, seed: SEED, rows: data };
}

async function timing(clf: Classifier, x: tf.Tensor4D, y: Int32Array): Promise<void> {
  // Every image takes all 50 steps (no early stop), so the time is the full cost.
  const t0 = performance.now();
  const r = await runAttack(clf, x, y, { kind: 'pgd', epsilon: 4 / 255, steps: 50, seed: SEED, earlyStop: false, objective: { kind: 'margin', target: TARGET } });
  const sec = (performance.now() - t0) / 1000;
  r.adversarial.dispose();
  const n = x.shape[0];
  console.log(`\nTiming: PGD-50 on ${n} images (96×96, batch ${n}, ${tf.getBackend()}): ${sec.toFixed(1)} s = ${(1000 * sec / (50 * n)).toFixed(1)} ms per step per image.`);
  report.timing = { images: n, steps: 50, seconds: sec, msPerStepImage: 1000 * sec / (50 * n), backend: tf.getBackend() };
}

/** Each unit's mean activation map over fresh scenes of the target class, `[h, w, U]`. */
async function targetMaps(clf: Classifier, layer: string, trained: Set<number>): Promise<Float32Array> {
  const bed = scenes(clf, [TARGET], 48, 777_003, trained);
  const m = tf.tidy(() => tf.mean(clf.activations(bed.x, layer), 0));
  const w = Float32Array.from(await m.data());
  m.dispose(); bed.x.dispose();
  return w;
}

/** The objective and unit-choice variants, at one ε, on the same images: what moves the figure. */
async function variants(clf: Classifier, atlas: Atlas, x: tf.Tensor4D, y: Int32Array, trained: Set<number>): Promise<void> {
  const eps = EPS[0] / 255;
  const base: UnitAttackOptions = { atlas, target: TARGET, epsilon: eps, steps: STEPS, seed: SEED, suppressClass: SOURCE, exciteClass: TARGET, count: UNITS };
  const list: Array<[string, Partial<UnitAttackOptions>]> = JSON.parse(opt('variants', '[]')!) as Array<[string, Partial<UnitAttackOptions>]>;
  const rows = [['variant', 'units', '→ target', 'control', 'PSNR', 'Δ supp.', 'Δ exc.', 'Δ other', 'seconds']];
  for (const [name, v] of list) {
    const t0 = Date.now();
    // A null in a variant removes the base option (e.g. "suppressClass": null for an excite-only attack).
    const merged: Record<string, unknown> = { ...base, ...v };
    if ((v as { targetMaps?: boolean }).targetMaps) {
      // Weights from where each unit fires on fresh scenes of the target class (not the attacked images).
      delete merged.targetMaps;
      merged.aggregate = 'typical';
      merged.spatialWeights = await targetMaps(clf, atlas.layer, trained);
    }
    for (const [k, val] of Object.entries(merged)) if (val === null) delete merged[k];
    const r = await unitAttack(clf, x, y, merged);
    rows.push([name, `−${r.unit.suppress.length} +${r.unit.excite.length}`, pct(r.unit.targetedSuccess), pct(r.control?.targetedSuccess),
      f2(meanFinite(r.unit.psnr.perImage)), f2(r.unit.unitEffect.suppressed.mean), f2(r.unit.unitEffect.excited.mean), f2(r.unit.unitEffect.other.mean),
      ((Date.now() - t0) / 1000).toFixed(0)]);
    disposeUnitAttack(r);
    console.error(`  ${name} done`);
  }
  console.log(`\nVariants at ε = ${EPS[0]}/255 on ${x.shape[0]} ${SOURCE} scenes → ${TARGET} (PGD-${STEPS}, class term off):`);
  printTable(rows);
}

/**
 * The ceiling of any unit attack on these units: edit the layer directly (no pixels involved) — zero the suppressed
 * units and set each excited unit to k × its mean activation on bedroom scenes, either as a constant map or as its
 * mean bedroom *map* — and see what the rest of the network predicts on the ski scenes.
 */
function oracle(clf: Classifier, atlas: Atlas, x: tf.Tensor4D, trained: Set<number>): void {
  const L = atlas.layer;
  const n = x.shape[0];
  const bed = scenes(clf, [TARGET], Math.min(n, 60), 777_003, trained);
  const t = clf.classNames.indexOf(TARGET);
  const act = clf.activations(x, L) as tf.Tensor4D;
  const actBed = clf.activations(bed.x, L) as tf.Tensor4D;
  const U = act.shape[3];
  const bedMap = tf.mean(actBed, 0);
  const bedLevel = tf.mean(actBed, [0, 1, 2]);
  const rate = (excite: number[], suppress: number[], k: number, mode: 'constant' | 'map'): string => tf.tidy(() => {
    const em = tf.tensor1d(Array.from({ length: U }, (_, u) => (excite.includes(u) ? 1 : 0)));
    const keep = tf.tensor1d(Array.from({ length: U }, (_, u) => (excite.includes(u) || suppress.includes(u) ? 0 : 1)));
    const level = mode === 'constant' ? tf.mul(bedLevel, k) : tf.mul(bedMap, k);
    const edited = tf.add(tf.mul(act, keep), tf.mul(level, em));
    const pred = tf.argMax(clf.run(null, { overrides: { [L]: edited } }).logits, 1).dataSync();
    return pct({ rate: Array.from(pred).filter((p) => p === t).length / n, count: 0, total: n });
  });
  const imp = atlas.classImportance;
  const cases: Array<[string, number[], number[]]> = [
    [`excite top ${2 * UNITS} ${TARGET}`, imp[TARGET].ranking.slice(0, 2 * UNITS), []],
    [`excite top ${UNITS} ${TARGET}, zero top ${UNITS} ${SOURCE}`, imp[TARGET].ranking.slice(0, UNITS),
      imp[SOURCE].ranking.filter((u) => !imp[TARGET].ranking.slice(0, UNITS).includes(u)).slice(0, UNITS)],
    [`control: ${2 * UNITS} random units`, randomUnits({ count: 2 * UNITS, numUnits: U, exclude: imp[TARGET].ranking.slice(0, 2 * UNITS), seed: SEED }), []],
  ];
  const ks = [1, 2, 4, 8];
  const rows = [['edit at ' + L, ...ks.map((k) => `const ×${k}`), ...ks.map((k) => `map ×${k}`)]];
  for (const [name, e, s] of cases) rows.push([name, ...ks.map((k) => rate(e, s, k, 'constant')), ...ks.map((k) => rate(e, s, k, 'map'))]);
  console.log(`\nCeiling: direct edits of ${L} on the ${n} ${SOURCE} scenes (no perturbation): share predicted ${TARGET}. Excited units are set to k × their`);
  console.log(`mean activation on ${bed.x.shape[0]} fresh ${TARGET} scenes, as a constant map ("const") or as their mean ${TARGET} map ("map").`);
  printTable(rows);
  [act, actBed, bedMap, bedLevel, bed.x].forEach((v) => v.dispose());
  report.oracle = rows;
}

const backend = await initBackend({});
const clf = await loadClassifier(MODEL);
console.log(`model ${clf.name} (${clf.fingerprint}), backend ${backend.name}, ${new Date().toISOString()}`);
const trained = await trainingSeeds(MODEL.startsWith('builtin:') ? BUILTIN_MODELS[MODEL.slice(8)] : MODEL);
const needsStory = SECTIONS.some((s) => ['story', 'pnas', 'timing', 'variants', 'oracle'].includes(s));
const atlas = SECTIONS.some((s) => ['story', 'pnas', 'variants', 'oracle'].includes(s)) ? await getAtlas(clf) : undefined;
const ski = needsStory ? scenes(clf, [SOURCE], COUNT, 777_001, trained) : undefined;
if (ski) console.log(`${COUNT} fresh ${SOURCE} scenes (dataset seed 777001; ${ski.skipped} skipped as training seeds)`);
// Attacks split their images over a worker pool (the results are the same for any number of workers).
const WORKERS = Number(opt('workers', String(defaultWorkers())));
const pool = WORKERS > 1 ? await startPool({ model: MODEL, classifier: clf, workers: WORKERS }) : undefined;
console.log(`${WORKERS} worker${WORKERS === 1 ? '' : 's'}`);
try {
  await withPool(pool, async () => {
    for (const s of SECTIONS) {
      if (s === 'story') await story(clf, atlas!, ski!.x, ski!.y);
      else if (s === 'pnas') await pnas(clf, atlas!, ski!.x, ski!.y);
      else if (s === 'robust') await robust(clf, trained);
      else if (s === 'autoattack') await autoattackSection(clf, trained);
      else if (s === 'timing') await timing(clf, ski!.x, ski!.y);
      else if (s === 'variants') await variants(clf, atlas!, ski!.x, ski!.y, trained);
      else if (s === 'oracle') oracle(clf, atlas!, ski!.x, trained);
      else throw new Error(`unknown section '${s}' (story, pnas, robust, autoattack, timing, variants, oracle)`);
    }
  });
} finally {
  await pool?.close();
}
ski?.x.dispose();
if (JSON_OUT) await fs.writeFile(JSON_OUT, JSON.stringify(report, null, 2));
clf.dispose();
console.log(`\ntensors left after disposing the model: ${tf.memory().numTensors}`);
