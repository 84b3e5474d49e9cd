/**
 * Reads scenario files (YAML or JSON) into checked {@link Scenario}s. Every problem becomes a
 * {@link ScenarioIssue} with the file, the line and the field path, collected into one {@link ScenarioError}.
 */
import { promises as fs, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { attackNames } from '../attacks/registry.js';
import { nearestNames } from '../errors.js';
import { BUILTIN_GENERATORS, isGeneratorSpec } from '../gan/generator.js';
import { BUILTIN_MODELS } from '../models/io.js';
import { BUILTIN_SEGMENTERS } from '../segment/segmenter.js';
import { DEFAULT_CONTROL_DRAWS } from '../gan/ablate-types.js';
import { GENERATOR_DEFAULT_SAMPLES, ablationSizes, checkScenarioFile, isGeneratorScenario, type FieldIssue } from './check.js';
import { ROOT_PATH, ScenarioError, scenarioError, type ScenarioIssue } from './errors.js';
import { readFraction, scenarioSchemaWith, type ScenarioFile } from './schema.js';
import { readLabelsFile } from './labels-file.js';
import { issueAt, parseText } from './source.js';
import type { Expectation, FolderInputs, ModelRef, ResolvedAttack, Scenario, ScenarioSource, ScenarioTask } from './types.js';
import { describeValue, fromZod } from './zod-issues.js';

export { readLabelsFile } from './labels-file.js';
export { formatPath, issueAt, lineOf } from './source.js';

/** File extensions read as scenario files when a folder is named. */
export const SCENARIO_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;

/** Default number of example images in the HTML report. */
export const DEFAULT_REPORT_IMAGES = 6;

// ---------------------------------------------------------------------------------------------------------------
// Resolving

function resolveModel(m: ScenarioFile['model'], dir: string): ModelRef {
  const spec = typeof m === 'string' ? m : m.path;
  const abs = spec.startsWith('builtin:') ? spec : path.resolve(dir, spec);
  if (typeof m === 'string') return { spec: abs };
  return { spec: abs, ...(m.preprocessing !== undefined ? { preprocessing: m.preprocessing } : {}), ...(m.classes ? { classes: m.classes } : {}) };
}

const segmenterSpec = (spec: string | undefined, dir: string): string => (spec === undefined ? 'builtin:scenes-segmenter' : spec.startsWith('builtin:') ? spec : path.resolve(dir, spec));

function resolveTask(f: ScenarioFile, dir: string): ScenarioTask {
  if (f.insertion) {
    const i = f.insertion;
    return {
      kind: 'insertion',
      insertion: {
        concept: i.concept, units: i.units ?? 20, samples: i.samples ?? 100, seed: i.seed ?? 1, segmenter: segmenterSpec(i.segmenter, dir),
        ...(i.at ? { at: [i.at[0], i.at[1]] as [number, number] } : {}), ...(i.layer !== undefined ? { layer: i.layer } : {}),
        ...(i.level !== undefined ? { level: i.level } : {}), ...(i.rankSamples !== undefined ? { rankSamples: i.rankSamples } : {}),
      },
    };
  }
  if (f.ablation && isGeneratorScenario(f)) {
    const a = f.ablation;
    return {
      kind: 'gan-ablation',
      ablation: {
        concept: a.concept!, sizes: ablationSizes(f), samples: a.samples ?? GENERATOR_DEFAULT_SAMPLES, seed: a.seed ?? 1, segmenter: segmenterSpec(a.segmenter, dir),
        ranking: a.ranking ?? 'iou', controlDraws: a.controlDraws ?? DEFAULT_CONTROL_DRAWS,
        ...(a.controlSamples !== undefined ? { controlSamples: a.controlSamples } : {}), ...(a.layer !== undefined ? { layer: a.layer } : {}),
        ...(a.rankSamples !== undefined ? { rankSamples: a.rankSamples } : {}), ...(a.causalSamples !== undefined ? { causalSamples: a.causalSamples } : {}),
        ...(a.quantile !== undefined ? { quantile: a.quantile } : {}),
        ...(a.greedyCandidates !== undefined ? { greedyCandidates: a.greedyCandidates } : {}), ...(a.greedyStep !== undefined ? { greedyStep: a.greedyStep } : {}),
        ...(a.aceEpochs !== undefined ? { aceEpochs: a.aceEpochs } : {}), ...(a.aceLearningRate !== undefined ? { aceLearningRate: a.aceLearningRate } : {}),
        ...(a.acePenalty !== undefined ? { acePenalty: a.acePenalty } : {}),
      },
    };
  }
  if (f.attack) {
    const { epsilon, ...rest } = f.attack;
    const stepSize = 'stepSize' in f.attack ? f.attack.stepSize : undefined;
    const attack = { ...rest } as Record<string, unknown>;
    delete attack.stepSize;
    if (epsilon !== undefined) attack.epsilon = readFraction(epsilon);
    if (stepSize !== undefined) attack.stepSize = readFraction(stepSize);
    return { kind: 'attack', attack: attack as ResolvedAttack };
  }
  if (f.ablation) return { kind: 'ablation', ablation: f.ablation };
  if (f.fuzz) {
    const { noise, ...rest } = f.fuzz;
    return { kind: 'fuzz', fuzz: { ...rest, ...(noise !== undefined ? { noise: readFraction(noise) } : {}) } };
  }
  return { kind: 'evaluate' };
}

function resolve(f: ScenarioFile, source: ScenarioSource): Scenario {
  const dir = path.dirname(source.file);
  const expectations: Expectation[] = [];
  const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
  for (const [metric, t] of Object.entries(f.expectations)) {
    if (t === undefined) continue;
    const g = t as { concept?: string; units?: number; ranking?: 'iou' | 'causal' | 'greedy' | 'ace'; context?: string | string[]; on?: string | string[]; over?: string | string[] };
    const context = list(g.context); const on = list(g.on); const over = list(g.over);
    expectations.push({
      metric: metric as Expectation['metric'],
      ...(t.min !== undefined ? { min: readFraction(t.min) } : {}),
      ...(t.max !== undefined ? { max: readFraction(t.max) } : {}),
      ...(t.bound !== undefined && t.bound !== 'value' ? { bound: t.bound } : {}),
      ...(g.concept !== undefined ? { concept: g.concept } : {}), ...(g.units !== undefined ? { units: g.units } : {}),
      ...(g.ranking !== undefined ? { ranking: g.ranking } : {}), ...(context ? { context } : {}), ...(on ? { on } : {}), ...(over ? { over } : {}),
    });
  }
  const gen = f.insertion ?? (isGeneratorScenario(f) ? f.ablation : undefined);
  const inputs: Scenario['inputs'] = !f.inputs ? { kind: 'latents', count: gen?.samples ?? (f.insertion ? 100 : 500), seed: gen?.seed ?? 1 } : f.inputs.synthetic
    ? {
      kind: 'synthetic',
      classes: f.inputs.synthetic.class === undefined ? undefined : Array.isArray(f.inputs.synthetic.class) ? f.inputs.synthetic.class : [f.inputs.synthetic.class],
      count: f.inputs.synthetic.count, seed: f.inputs.synthetic.seed, size: f.inputs.synthetic.size,
    }
    : {
      kind: 'folder', folder: path.resolve(dir, f.inputs.folder!), labelsFile: path.resolve(dir, f.inputs.labels!),
      entries: [], fit: f.inputs.fit ?? 'crop',
    };
  let dissection = f.dissection;
  if (dissection?.probe !== undefined && !dissection.probe.startsWith('builtin:')) {
    dissection = { ...dissection, probe: path.resolve(dir, dissection.probe) };
  }
  return {
    name: f.name,
    ...(f.description !== undefined ? { description: f.description } : {}),
    file: source.file,
    model: resolveModel(f.model, dir),
    inputs,
    allowErrors: f.inputs?.allowErrors ?? 0,
    ...(dissection ? { dissection } : {}),
    task: resolveTask(f, dir),
    expectations,
    reportImages: f.report?.images ?? DEFAULT_REPORT_IMAGES,
    source,
  };
}

/**
 * Parses the text of a scenario file into a checked scenario, without touching the file system (files the
 * scenario names are checked by {@link loadScenario}). Throws a {@link ScenarioError}.
 *
 * @example
 * const s = parseScenario(fs.readFileSync('scenarios/robustness-gate.yaml', 'utf8'), 'scenarios/robustness-gate.yaml');
 */
export function parseScenario(text: string, file: string): Scenario {
  const abs = path.resolve(file);
  const format = path.extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
  const { data, source } = parseText(text, abs, format);
  if (data === null || data === undefined) {
    throw scenarioError({ code: 'syntax', path: ROOT_PATH, message: 'the scenario file holds no document', file: abs, line: 1 });
  }
  const at = (fi: FieldIssue): ScenarioIssue => issueAt(source, fi.code, fi.path, fi.message, fi.hint);
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw scenarioError(at({
      code: 'invalid_type', path: [], message: `a scenario file must be a mapping of keys (name, model, inputs, …), got ${describeValue(data)}`,
      hint: 'see scenarios/*.yaml for examples',
    }));
  }
  // The schema takes every attack in the registry, those added with registerAttack included.
  const schema = scenarioSchemaWith(attackNames());
  const r = schema.safeParse(data);
  if (!r.success) {
    const issues = fromZod(r.error.issues, data).map(at);
    // When unknown keys are the only schema problems, the file without them still gets its semantic checks, so one
    // run reports every problem (a misspelt key does not hide a bad epsilon next to it).
    const lenient = schema.safeParse(withoutUnknownKeys(data, r.error.issues));
    if (lenient.success) {
      // Not what removing the keys caused: a problem of the block that held them (e.g. "names no metric").
      const parents = r.error.issues.filter((i) => i.code === 'unrecognized_keys').map((i) => i.path);
      const causedByRemoval = (p: readonly PropertyKey[]): boolean => parents.some((q) => p.length <= q.length && p.every((k, j) => k === q[j]));
      issues.push(...checkScenarioFile(lenient.data).filter((fi) => !causedByRemoval(fi.path)).map(at));
    }
    throw new ScenarioError(sortIssues(issues));
  }
  const semantic = checkScenarioFile(r.data);
  if (semantic.length > 0) throw new ScenarioError(sortIssues(semantic.map(at)));
  return resolve(r.data, source);
}

/** A copy of `data` without the keys that zod reported as unrecognized. */
function withoutUnknownKeys(data: unknown, issues: readonly z.core.$ZodIssue[]): unknown {
  const copy = structuredClone(data) as Record<string, unknown>;
  for (const iss of issues) {
    if (iss.code !== 'unrecognized_keys') continue;
    let node: unknown = copy;
    for (const k of iss.path) node = node !== null && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[k] : undefined;
    if (node !== null && typeof node === 'object') for (const k of iss.keys) delete (node as Record<string, unknown>)[k];
  }
  return copy;
}

function sortIssues(issues: ScenarioIssue[]): ScenarioIssue[] {
  return issues.map((x, i) => [x, i] as const).sort((a, b) => (a[0].line ?? 0) - (b[0].line ?? 0) || a[1] - b[1]).map(([x]) => x);
}

/** {@link parseScenario} that returns the error instead of throwing it (an unexpected crash becomes an internal error). */
export function safeParseScenario(text: string, file: string): { ok: true; scenario: Scenario } | { ok: false; error: ScenarioError } {
  try {
    return { ok: true, scenario: parseScenario(text, file) };
  } catch (err) {
    if (err instanceof ScenarioError) return { ok: false, error: err };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Files the scenario names

/** Checks the files a scenario names (model, input folder, labels, probe folder) and reads the labels. */
async function checkFiles(s: Scenario): Promise<Scenario> {
  const issues: ScenarioIssue[] = [];
  const src = s.source;
  const modelPath = src.lines['model.path'] !== undefined ? ['model', 'path'] : ['model'];
  const generatorTask = s.task.kind === 'gan-ablation' || s.task.kind === 'insertion';
  if (generatorTask) {
    const block = s.task.kind === 'insertion' ? 'insertion' : 'ablation';
    if (!isGeneratorSpec(s.model.spec)) {
      const names = Object.keys(BUILTIN_GENERATORS);
      const builtin = s.model.spec.startsWith('builtin:');
      issues.push(issueAt(src, 'not_found', modelPath, builtin
        ? `'${s.model.spec}' is not a built-in generator, and the ${block} block tests a generator`
        : existsSync(s.model.spec) ? `'${s.model.spec}' is not a generator (no unit-attack.json of format "unit-attack-generator" beside its model.json)` : `no generator at '${s.model.spec}'`,
      `built-in generators: ${names.map((n) => 'builtin:' + n).join(', ')}; a generator folder holds model.json, weights and a unit-attack.json sidecar; paths are relative to the scenario file`));
    }
    const seg = s.task.kind === 'insertion' ? s.task.insertion.segmenter : s.task.kind === 'gan-ablation' ? s.task.ablation.segmenter : '';
    const segPath = [block, 'segmenter'];
    if (seg.startsWith('builtin:') ? BUILTIN_SEGMENTERS[seg.slice('builtin:'.length)] === undefined : !existsSync(seg)) {
      issues.push(issueAt(src, 'not_found', segPath, seg.startsWith('builtin:') ? `unknown built-in segmenter '${seg}'` : `no segmenter at '${seg}'`,
        `built-in segmenters: ${Object.keys(BUILTIN_SEGMENTERS).map((n) => 'builtin:' + n).join(', ')}; paths are relative to the scenario file`));
    }
  } else if (isGeneratorSpec(s.model.spec)) {
    issues.push(issueAt(src, 'conflict', modelPath, `'${s.model.spec}' is a generator: it has no classes to attack, fuzz or evaluate`,
      "a generator scenario has an ablation block naming a concept (ablation: { concept: tree, units: [5, 20] }) or an insertion block, and no inputs"));
  } else if (s.model.spec.startsWith('builtin:')) {
    const key = s.model.spec.slice('builtin:'.length);
    const names = Object.keys(BUILTIN_MODELS);
    const dir = BUILTIN_MODELS[key];
    if (dir === undefined) {
      issues.push(issueAt(src, 'not_found', modelPath, `unknown built-in model '${s.model.spec}'; did you mean 'builtin:${nearestNames(key, names, 1)[0] ?? ''}'?`,
        `built-in models: ${names.map((n) => 'builtin:' + n).join(', ')}`));
    } else if (!existsSync(path.join(dir, 'model.json'))) {
      issues.push(issueAt(src, 'not_found', modelPath, `the built-in model '${s.model.spec}' is not installed (no model.json in ${dir})`,
        'reinstall the package, or train it with `unit-attack train --out ' + dir + '`'));
    }
  } else if (!existsSync(s.model.spec)) {
    issues.push(issueAt(src, 'not_found', modelPath, `no model at '${s.model.spec}'`, 'a model folder (model.json + weights), a model.json, or builtin:scenes-vgg16; paths are relative to the scenario file'));
  }
  let inputs = s.inputs;
  if (inputs.kind === 'folder') {
    const folder = inputs.folder;
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      issues.push(issueAt(src, 'not_found', ['inputs', 'folder'], `no folder '${folder}'`, 'paths are relative to the scenario file'));
    } else if (!existsSync(inputs.labelsFile)) {
      issues.push(issueAt(src, 'not_found', ['inputs', 'labels'], `no labels file '${inputs.labelsFile}'`, 'paths are relative to the scenario file'));
    } else {
      try {
        const entries = await readLabelsFile(inputs.labelsFile, folder);
        inputs = { ...inputs, entries } satisfies FolderInputs;
      } catch (err) {
        if (!(err instanceof ScenarioError)) throw err;
        issues.push(...err.issues);
      }
    }
  }
  const probe = s.dissection?.probe;
  if (probe !== undefined && !probe.startsWith('builtin:') && !existsSync(probe)) {
    issues.push(issueAt(src, 'not_found', ['dissection', 'probe'], `no probe folder '${probe}'`, 'use builtin:scenes?count=500&seed=7, or a folder of images with label maps'));
  }
  if (issues.length > 0) throw new ScenarioError(issues);
  return { ...s, inputs };
}

/**
 * Reads, checks and resolves one scenario file, including the files it names. Throws a {@link ScenarioError}.
 *
 * @example
 * const scenario = await loadScenario('scenarios/robustness-gate.yaml');
 */
export async function loadScenario(file: string): Promise<Scenario> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await fs.readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw scenarioError({
      code: code === 'ENOENT' ? 'not_found' : 'unreadable', path: ROOT_PATH, file: abs,
      message: code === 'ENOENT' ? 'no such scenario file' : `cannot read the scenario file: ${code ?? (err as Error).message}`,
    });
  }
  return checkFiles(parseScenario(text, abs));
}

/** The scenario files named: files as they are, folders expanded to their `.yaml`/`.yml`/`.json` files (sorted, recursive). */
export async function listScenarioFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const issues: ScenarioIssue[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') await walk(p);
      else if (e.isFile() && (SCENARIO_EXTENSIONS as readonly string[]).includes(path.extname(e.name).toLowerCase())) out.push(p);
    }
  };
  for (const p of paths) {
    const abs = path.resolve(p);
    if (!existsSync(abs)) {
      issues.push({ code: 'not_found', path: ROOT_PATH, message: 'no such scenario file or folder', file: abs });
    } else if (statSync(abs).isDirectory()) {
      const before = out.length;
      await walk(abs);
      if (out.length === before) issues.push({ code: 'not_found', path: ROOT_PATH, message: `the folder holds no scenario files (${SCENARIO_EXTENSIONS.join(', ')})`, file: abs });
    } else {
      out.push(abs);
    }
  }
  if (issues.length > 0) throw new ScenarioError(issues);
  return [...new Set(out)];
}

/**
 * Loads every scenario file named (folders expanded). Problems in all files are collected into one
 * {@link ScenarioError}, so a CI log lists them all at once; two scenarios with one name are an error too.
 */
export async function loadScenarios(paths: readonly string[]): Promise<Scenario[]> {
  const files = await listScenarioFiles(paths);
  const issues: ScenarioIssue[] = [];
  const scenarios: Scenario[] = [];
  for (const f of files) {
    try {
      scenarios.push(await loadScenario(f));
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      issues.push(...err.issues);
    }
  }
  const byName = new Map<string, Scenario>();
  for (const s of scenarios) {
    const other = byName.get(s.name);
    if (other) {
      issues.push(issueAt(s.source, 'conflict', ['name'], `the scenario name '${s.name}' is also used by ${path.basename(other.file)}`, 'names identify scenarios in reports and baselines; make them unique'));
    }
    byName.set(s.name, s);
  }
  if (issues.length > 0) throw new ScenarioError(issues);
  return scenarios;
}
