/**
 * Checks that span fields, run once the schema has accepted a scenario file: ε against the norm, one task per
 * scenario, units named by concept or class need a dissection, and every expectation names a metric the task
 * measures.
 */
import { SCENE_CLASSES } from '../data/scenes/index.js';
import { nearestNames } from '../errors.js';
import { readEpsilon } from '../attacks/epsilon.js';
import { rankingKinds, type RankingKind } from '../gan/ablate-types.js';
import type { ScenarioIssueCode } from './errors.js';
import { GENERATOR_METRICS, METRICS, readFraction, type MetricName, type ScenarioFile } from './schema.js';

/** An issue found by {@link checkScenarioFile}, before the file and line are attached. */
export interface FieldIssue {
  code: ScenarioIssueCode;
  path: (string | number)[];
  message: string;
  hint?: string;
}

/** The metrics that are rates of images, with a 95% Wilson interval in the results (and `bound` in expectations). */
export const RATE_METRICS: ReadonlySet<string> = new Set(['clean_accuracy', 'robust_accuracy', 'untargeted_success', 'targeted_success', 'unit_success', 'random_control_success']);

/** Whether a scenario file tests a generator: an insertion block, or an ablation block naming a concept. */
export function isGeneratorScenario(file: Pick<ScenarioFile, 'ablation' | 'insertion'>): boolean {
  return file.insertion !== undefined || file.ablation?.concept !== undefined;
}

/** The sizes of a generator ablation block, as a list. */
export function ablationSizes(file: ScenarioFile): number[] {
  const u = file.ablation?.units;
  return u === undefined ? [] : Array.isArray(u) ? u : [u];
}

/** The metrics each task measures (besides `clean_accuracy`, which every classifier task measures). */
export function metricsOf(file: ScenarioFile): Set<MetricName> {
  if (isGeneratorScenario(file)) {
    if (file.insertion) return new Set<MetricName>(['concept_inserted', 'insertion_ratio']);
    const m = new Set<MetricName>(['concept_removed', 'concept_change']);
    if (file.ablation?.controlDraws !== 0) m.add('control_removed');
    return m;
  }
  const m = new Set<MetricName>(['clean_accuracy']);
  if (file.dissection) m.add('units_labelled');
  const a = file.attack;
  if (a) {
    for (const k of ['robust_accuracy', 'untargeted_success', 'psnr', 'ssim', 'linf', 'l2'] as const) m.add(k);
    if (a.target !== undefined || (a.kind === 'unit' && a.exciteClass !== undefined)) m.add('targeted_success');
    if (a.kind === 'unit') {
      m.add('unit_success');
      if (a.randomControl !== false) m.add('random_control_success');
      if (a.suppress !== undefined || a.suppressClass !== undefined) m.add('unit_effect_suppressed');
      if (a.excite !== undefined || a.exciteClass !== undefined) m.add('unit_effect_excited');
    }
  }
  if (file.ablation) m.add('ablation_accuracy_drop');
  if (file.fuzz) m.add('property_holds');
  return m;
}

function whyNot(metric: MetricName, file: ScenarioFile): string {
  switch (metric) {
    case 'units_labelled': return 'it needs a dissection block';
    case 'targeted_success': return file.attack ? 'it needs attack.target (or attack.exciteClass for the unit attack)' : 'it needs an attack with a target';
    case 'unit_success': return 'it needs the unit attack (attack.kind: unit)';
    case 'random_control_success': return file.attack?.kind === 'unit' ? 'attack.randomControl is false' : 'it needs the unit attack (attack.kind: unit)';
    case 'unit_effect_suppressed': return file.attack?.kind === 'unit' ? 'the unit attack suppresses no units' : 'it needs the unit attack (attack.kind: unit)';
    case 'unit_effect_excited': return file.attack?.kind === 'unit' ? 'the unit attack excites no units' : 'it needs the unit attack (attack.kind: unit)';
    case 'ablation_accuracy_drop': return 'it needs an ablation block';
    case 'property_holds': return 'it needs a fuzz block';
    case 'concept_removed':
    case 'concept_change': return "it needs a generator's ablation block (ablation: { concept, units })";
    case 'control_removed': return file.ablation?.concept !== undefined ? 'ablation.controlDraws is 0' : "it needs a generator's ablation block (ablation: { concept, units })";
    case 'concept_inserted':
    case 'insertion_ratio': return 'it needs an insertion block';
    case 'clean_accuracy': return 'a generator scenario has no images to classify';
    default: return 'it needs an attack block';
  }
}

function checkEpsilon(value: number | string, norm: 'linf' | 'l2', path: (string | number)[], issues: FieldIssue[], name = 'epsilon'): void {
  const r = readEpsilon(value);
  if (!r.ok && r.problem === 'divides-by-zero') {
    issues.push({ code: 'invalid_value', path, message: `${name} '${value}' divides by zero`, hint: 'write ε like 4/255 or 0.0157' });
    return;
  }
  const eps = r.ok ? r.value : Number.NaN;
  if (!Number.isFinite(eps) || eps <= 0) {
    issues.push({ code: 'invalid_value', path, message: `${name} must be > 0, got ${String(value)}`, hint: 'ε is in pixel units on [0, 1] images, e.g. 4/255' });
  } else if (norm === 'linf' && eps > 1) {
    issues.push({
      code: 'invalid_value', path, message: `${name} must be ≤ 1, got ${String(value)}`,
      hint: 'ε is in pixel units on [0, 1] images: write 4/255 for four 8-bit steps',
    });
  }
}

/** Every cross-field problem of a schema-valid scenario file. */
export function checkScenarioFile(file: ScenarioFile): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (isGeneratorScenario(file)) {
    checkGeneratorScenario(file, issues);
  } else if (file.inputs === undefined) {
    issues.push({
      code: 'missing_key', path: ['inputs'], message: 'inputs is required',
      hint: 'e.g. inputs: { synthetic: { class: ski_resort, count: 20, seed: 1 } } or inputs: { folder: images, labels: labels.csv }',
    });
  } else {
    checkInputs(file.inputs, issues);
  }
  checkTasks(file, issues);
  return issues;
}

/** The checks of a generator scenario: no images, no dissection, one concept, sizes that the expectations read. */
function checkGeneratorScenario(file: ScenarioFile, issues: FieldIssue[]): void {
  if (file.inputs !== undefined) {
    issues.push({
      code: 'conflict', path: ['inputs'], message: 'a generator scenario draws its own latents, so it takes no inputs',
      hint: `set ${file.insertion ? 'insertion' : 'ablation'}.samples and .seed instead, and drop inputs`,
    });
  }
  if (file.dissection !== undefined) {
    issues.push({ code: 'conflict', path: ['dissection'], message: 'a generator scenario ranks its units itself, on latents held out from the measured ones; it takes no dissection block', hint: 'drop dissection' });
  }
  const a = file.ablation;
  if (a) {
    for (const key of ['class', 'topN'] as const) {
      if (a[key] !== undefined) issues.push({ code: 'conflict', path: ['ablation', key], message: `ablation.${key} is for a classifier's ablation; this one names a concept (a generator's ablation)`, hint: 'keep concept and units, or class and topN' });
    }
    if (a.units === undefined) issues.push({ code: 'missing_key', path: ['ablation', 'units'], message: 'ablation.units is required: the numbers of top units zeroed', hint: 'e.g. units: [5, 20]' });
    const kinds = rankingKinds(a.ranking ?? 'iou');
    if (!kinds.includes('causal') && !kinds.includes('greedy') && !kinds.includes('ace') && a.causalSamples !== undefined) {
      issues.push({ code: 'conflict', path: ['ablation', 'causalSamples'], message: 'causalSamples needs ranking: causal, greedy, ace, both or all' });
    }
    for (const key of ['aceEpochs', 'aceLearningRate', 'acePenalty'] as const) {
      if (!kinds.includes('ace') && a[key] !== undefined) issues.push({ code: 'conflict', path: ['ablation', key], message: `${key} needs ranking: ace or all` });
    }
    for (const key of ['greedyCandidates', 'greedyStep'] as const) {
      if (!kinds.includes('greedy') && a[key] !== undefined) issues.push({ code: 'conflict', path: ['ablation', key], message: `${key} needs ranking: greedy or all` });
    }
    if (a.controlSamples !== undefined && a.controlSamples > (a.samples ?? GENERATOR_DEFAULT_SAMPLES)) {
      issues.push({
        code: 'invalid_value', path: ['ablation', 'controlSamples'],
        message: `controlSamples (${a.controlSamples}) must be at most samples (${a.samples ?? GENERATOR_DEFAULT_SAMPLES}): the control is measured on the first of the measured latents`,
        hint: `lower controlSamples or raise ablation.samples`,
      });
    }
    if (a.controlSamples !== undefined && a.controlDraws === 0) {
      issues.push({ code: 'conflict', path: ['ablation', 'controlSamples'], message: 'controlSamples needs a control: controlDraws is 0', hint: 'drop controlSamples, or set controlDraws ≥ 1' });
    }
  }
  const sizes = ablationSizes(file);
  const concept = a?.concept ?? file.insertion?.concept;
  for (const m of METRICS) {
    const t = file.expectations[m] as { units?: number; concept?: string; ranking?: string } | undefined;
    if (t === undefined || !GENERATOR_METRICS.has(m)) continue;
    if (t.units !== undefined && a && sizes.length > 0 && !sizes.includes(t.units)) {
      issues.push({ code: 'invalid_value', path: ['expectations', m, 'units'], message: `${m} reads ${t.units} units, but ablation.units measures ${sizes.join(', ')}`, hint: `add ${t.units} to ablation.units` });
    }
    if (m === 'concept_removed' && t.concept !== undefined && t.concept !== concept) {
      issues.push({ code: 'conflict', path: ['expectations', m, 'concept'], message: `concept_removed names '${t.concept}', but the ablation zeroes the units of '${String(concept)}'`, hint: 'one concept per scenario: drop concept here, or name the ablation\'s' });
    }
    if (m === 'concept_change' && t.concept === concept) {
      issues.push({ code: 'invalid_value', path: ['expectations', m, 'concept'], message: `concept_change is the change of another concept than the one ablated ('${String(concept)}')`, hint: 'gate the ablated concept with concept_removed' });
    }
    if (t.ranking !== undefined && a && !rankingKinds(a.ranking ?? 'iou').includes(t.ranking as RankingKind)) {
      issues.push({ code: 'conflict', path: ['expectations', m, 'ranking'], message: `${m} reads the ${t.ranking} ranking, but the ablation measures only the ${rankingKinds(a.ranking ?? 'iou').join(' and ')} ranking`, hint: `set ablation.ranking to ${t.ranking}, ${t.ranking === 'greedy' || t.ranking === 'ace' ? 'or all' : 'both or all'}` });
    }
  }
}

function checkInputs(inputs: NonNullable<ScenarioFile['inputs']>, issues: FieldIssue[]): void {

  // ---- inputs ----
  const hasSynthetic = inputs.synthetic !== undefined;
  const hasFolder = inputs.folder !== undefined;
  if (hasSynthetic && hasFolder) {
    issues.push({ code: 'conflict', path: ['inputs', 'folder'], message: 'inputs has both synthetic and folder', hint: 'keep one of them' });
  } else if (!hasSynthetic && !hasFolder) {
    issues.push({
      code: 'missing_key', path: ['inputs'], message: 'inputs needs synthetic or folder',
      hint: 'e.g. inputs: { synthetic: { class: ski_resort, count: 20, seed: 1 } } or inputs: { folder: images, labels: labels.csv }',
    });
  }
  if (hasFolder && inputs.labels === undefined) {
    issues.push({ code: 'missing_key', path: ['inputs', 'labels'], message: 'labels is required with inputs.folder', hint: 'a CSV (file,class) or JSON file mapping each image to its class' });
  }
  if (hasSynthetic && inputs.labels !== undefined) {
    issues.push({ code: 'conflict', path: ['inputs', 'labels'], message: 'labels only goes with inputs.folder; synthetic scenes carry their class' });
  }
  if (hasSynthetic && inputs.fit !== undefined) {
    issues.push({ code: 'conflict', path: ['inputs', 'fit'], message: 'fit only goes with inputs.folder' });
  }
  const cls = inputs.synthetic?.class;
  if (cls !== undefined) {
    const list = Array.isArray(cls) ? cls : [cls];
    list.forEach((c, i) => {
      if (!SCENE_CLASSES.includes(c)) {
        issues.push({
          code: 'not_found', path: Array.isArray(cls) ? ['inputs', 'synthetic', 'class', i] : ['inputs', 'synthetic', 'class'],
          message: `the scene world has no class '${c}'; did you mean '${nearestNames(c, SCENE_CLASSES, 1)[0]}'?`,
          hint: `scene classes: ${SCENE_CLASSES.join(', ')}`,
        });
      }
    });
    if (Array.isArray(cls) && new Set(cls).size !== cls.length) {
      issues.push({ code: 'invalid_value', path: ['inputs', 'synthetic', 'class'], message: 'class lists a class twice' });
    }
  }
}

/** A scenario runs one task. */
function checkOneTask(file: ScenarioFile, issues: FieldIssue[]): void {
  const tasks = (['attack', 'ablation', 'insertion', 'fuzz'] as const).filter((k) => file[k] !== undefined);
  if (tasks.length > 1) {
    issues.push({
      code: 'conflict', path: [tasks[1]], message: `a scenario runs one task, but this one has ${tasks.join(' and ')}`,
      hint: 'split it into one scenario file per task',
    });
  }
}

/** The attack block: norms the attack allows, targets, ε and step size (and the unit attack's own rules). */
function checkAttack(file: ScenarioFile, issues: FieldIssue[]): void {
  const a = file.attack;
  if (a) {
    const norm = a.norm ?? 'linf';
    if (a.kind === 'cw' && a.norm === 'linf') issues.push({ code: 'invalid_value', path: ['attack', 'norm'], message: 'the cw attack is an L2 attack: norm must be l2' });
    if (a.kind === 'square' && a.norm === 'l2') issues.push({ code: 'invalid_value', path: ['attack', 'norm'], message: 'the square attack is an L∞ attack: norm must be linf' });
    if ((a.kind === 'apgd-t' || a.kind === 'autoattack') && a.target !== undefined) {
      issues.push({
        code: 'conflict', path: ['attack', 'target'], message: `${a.kind} measures untargeted robustness and picks its own target classes, so it takes no target`,
        hint: 'drop target, or use kind apgd-ce / apgd-dlr / pgd for a targeted attack',
      });
    }
    if (a.epsilon !== undefined) checkEpsilon(a.epsilon, norm, ['attack', 'epsilon'], issues);
    if ('stepSize' in a && a.stepSize !== undefined) checkEpsilon(a.stepSize, 'l2', ['attack', 'stepSize'], issues, 'stepSize');
    if (a.kind === 'unit') checkUnitAttack(file, a, issues);
  }
}

/** The unit attack: units to steer, chosen one way per side, and a dissection for what needs its atlas. */
function checkUnitAttack(file: ScenarioFile, a: Extract<NonNullable<ScenarioFile['attack']>, { kind: 'unit' }>, issues: FieldIssue[]): void {
  if (a.optimizer === 'cw' && a.norm === 'linf') issues.push({ code: 'invalid_value', path: ['attack', 'norm'], message: 'the cw optimizer is an L2 attack: norm must be l2' });
  if (a.optimizer === 'cw' && a.target === undefined && a.exciteClass === undefined) {
    issues.push({ code: 'missing_key', path: ['attack', 'target'], message: 'the cw optimizer needs a target class to know when it succeeded', hint: 'set target, or use optimizer: pgd for the pure unit attack' });
  }
  const sides = [a.suppress, a.excite, a.suppressClass, a.exciteClass].filter((v) => v !== undefined);
  if (sides.length === 0) {
    issues.push({
      code: 'missing_key', path: ['attack', 'excite'], message: 'the unit attack needs units to suppress or excite',
      hint: 'set suppress / excite (concept names or unit indices) or suppressClass / exciteClass',
    });
  }
  if (a.suppress !== undefined && a.suppressClass !== undefined) {
    issues.push({ code: 'conflict', path: ['attack', 'suppressClass'], message: 'suppress and suppressClass cannot go together', hint: 'choose units by concept / index or by class' });
  }
  if (a.excite !== undefined && a.exciteClass !== undefined) {
    issues.push({ code: 'conflict', path: ['attack', 'exciteClass'], message: 'excite and exciteClass cannot go together', hint: 'choose units by concept / index or by class' });
  }
  for (const key of ['suppress', 'excite'] as const) {
    const list = a[key] ?? [];
    if (list.some((u) => typeof u === 'string') && list.some((u) => typeof u === 'number')) {
      issues.push({
        code: 'conflict', path: ['attack', key], message: `${key} mixes concept names and unit indices`,
        hint: 'choose the units of a side one way: by concept names, by indices, or by class',
      });
    }
  }
  if (!file.dissection) {
    for (const key of ['suppressClass', 'exciteClass'] as const) {
      if (a[key] !== undefined) issues.push({ code: 'conflict', path: ['attack', key], message: `${key} ranks units by class importance, so the scenario needs a dissection block` });
    }
    for (const key of ['suppress', 'excite'] as const) {
      const i = (a[key] ?? []).findIndex((u) => typeof u === 'string');
      if (i >= 0) {
        issues.push({
          code: 'conflict', path: ['attack', key, i],
          message: `${key} names the concept '${String(a[key]![i])}', so the scenario needs a dissection block`,
          hint: 'add dissection: {} (the built-in probe set) or name units by index',
        });
      }
    }
    for (const key of ['conceptIou', 'unitScale', 'aggregate'] as const) {
      if (a[key] !== undefined && (key !== 'unitScale' || a[key] === 'threshold') && (key !== 'aggregate' || a[key] === 'typical')) {
        issues.push({ code: 'conflict', path: ['attack', key], message: `${key}: ${String(a[key])} needs the atlas of a dissection block, which this scenario lacks` });
      }
    }
  } else if (a.layer !== undefined && file.dissection.layer !== undefined && a.layer !== file.dissection.layer) {
    issues.push({
      code: 'conflict', path: ['attack', 'layer'],
      message: `attack.layer '${a.layer}' differs from dissection.layer '${file.dissection.layer}'`,
      hint: 'the units are chosen from the dissected layer; drop attack.layer',
    });
  }
}

/** Latents a generator's ablation measures when its block names no `samples`. */
export const GENERATOR_DEFAULT_SAMPLES = 500;

/** A classifier's ablation: class and topN, no generator keys, and a dissection. */
function checkClassifierAblation(file: ScenarioFile, issues: FieldIssue[]): void {
  if (file.ablation && !isGeneratorScenario(file)) {
    for (const key of ['class', 'topN'] as const) {
      if (file.ablation[key] === undefined) {
        issues.push({ code: 'missing_key', path: ['ablation', key], message: `ablation.${key} is required`, hint: "a classifier's ablation zeroes the topN units of a class (a generator's names a concept and units)" });
      }
    }
    for (const key of ['units', 'ranking', 'controlDraws', 'controlSamples', 'causalSamples', 'greedyCandidates', 'greedyStep', 'aceEpochs', 'aceLearningRate', 'acePenalty', 'samples', 'seed', 'layer', 'segmenter', 'rankSamples', 'quantile'] as const) {
      if (file.ablation[key] !== undefined) issues.push({ code: 'conflict', path: ['ablation', key], message: `ablation.${key} is for a generator's ablation, which names a concept`, hint: "a classifier's ablation takes class and topN" });
    }
  }
  if (file.ablation && !file.dissection && !isGeneratorScenario(file)) {
    issues.push({ code: 'conflict', path: ['ablation'], message: 'ablation ranks units by class importance, so the scenario needs a dissection block', hint: 'add dissection: {}' });
  }
}

/** The fuzz block: at least one corruption, and a valid noise bound. */
function checkFuzz(file: ScenarioFile, issues: FieldIssue[]): void {
  const f = file.fuzz;
  if (f) {
    const corruptions = (['noise', 'brightness', 'contrast', 'blur', 'jpeg', 'shift'] as const).filter((k) => f[k] !== undefined);
    if (corruptions.length === 0) {
      issues.push({ code: 'missing_key', path: ['fuzz'], message: 'fuzz needs at least one corruption', hint: 'set noise, brightness, contrast, blur, jpeg or shift' });
    }
    if (f.noise !== undefined) checkEpsilon(f.noise, 'linf', ['fuzz', 'noise'], issues, 'noise');
  }
}

/** The expectations: at least one, each with a bound the scenario can measure. */
function checkExpectations(file: ScenarioFile, issues: FieldIssue[]): void {
  const measured = metricsOf(file);
  const named = METRICS.filter((m) => file.expectations[m] !== undefined);
  if (named.length === 0) {
    issues.push({
      code: 'missing_key', path: ['expectations'], message: 'expectations names no metric',
      hint: `a scenario gates on at least one of: ${[...measured].join(', ')}`,
    });
  }
  for (const m of named) {
    const t = file.expectations[m]!;
    if (t.min === undefined && t.max === undefined) {
      issues.push({ code: 'missing_key', path: ['expectations', m], message: `${m} needs min or max`, hint: `e.g. ${m}: { min: 0.8 }` });
      continue;
    }
    for (const k of ['min', 'max'] as const) {
      const v = t[k];
      if (v !== undefined && typeof v === 'string' && /\/\s*0*\.?0*\s*$/.test(v)) {
        issues.push({ code: 'invalid_value', path: ['expectations', m, k], message: `${k} '${v}' divides by zero` });
      }
    }
    if (t.min !== undefined && t.max !== undefined && readFraction(t.min) > readFraction(t.max)) {
      issues.push({ code: 'invalid_value', path: ['expectations', m, 'max'], message: `max (${String(t.max)}) is below min (${String(t.min)})` });
    }
    if (t.bound !== undefined && t.bound !== 'value' && !RATE_METRICS.has(m)) {
      issues.push({
        code: 'conflict', path: ['expectations', m, 'bound'], message: `${m} is not a rate, so it has no confidence interval to gate on`,
        hint: `bound applies to ${[...RATE_METRICS].join(', ')}; remove it here`,
      });
    }
    if (!measured.has(m)) {
      issues.push({
        code: 'conflict', path: ['expectations', m], message: `this scenario does not measure ${m}: ${whyNot(m, file)}`,
        hint: `it measures: ${[...measured].join(', ')}`,
      });
    }
  }
}

function checkTasks(file: ScenarioFile, issues: FieldIssue[]): void {
  checkOneTask(file, issues);
  checkAttack(file, issues);
  checkClassifierAblation(file, issues);
  checkFuzz(file, issues);
  checkExpectations(file, issues);
}
