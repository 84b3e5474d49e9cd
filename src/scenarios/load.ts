/**
 * Reads scenario files (YAML or JSON) into checked {@link Scenario}s. Every problem becomes a
 * {@link ScenarioIssue} with the file, the line and the field path, collected into one {@link ScenarioError}.
 */
import { promises as fs, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { attackNames } from '../attacks/registry.js';
import { editDistance, nearestNames } from '../errors.js';
import { BUILTIN_GENERATORS, isGeneratorSpec } from '../gan/generator.js';
import { BUILTIN_MODELS } from '../models/io.js';
import { BUILTIN_SEGMENTERS } from '../segment/segmenter.js';
import { ablationSizes, checkScenarioFile, isGeneratorScenario, type FieldIssue } from './check.js';
import { ROOT_PATH, ScenarioError, scenarioError, type ScenarioIssue, type ScenarioIssueCode } from './errors.js';
import { ATTACK_KEYS, readFraction, scenarioSchemaWith, unknownKeyMessage, type ScenarioFile } from './schema.js';
import type { Expectation, FolderInputs, LabelledFile, ModelRef, ResolvedAttack, Scenario, ScenarioSource, ScenarioTask } from './types.js';

/** File extensions read as scenario files when a folder is named. */
export const SCENARIO_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;

/** Default number of example images in the HTML report. */
export const DEFAULT_REPORT_IMAGES = 6;

/** Formats a path array as `a.b[1].c`; the empty path is `(root)`. */
export function formatPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of p) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += (s === '' ? '' : '.') + String(seg);
  }
  return s === '' ? ROOT_PATH : s;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing text

interface Parsed {
  data: unknown;
  source: ScenarioSource;
}

/** A parsed YAML/JSON document with the line of every field path. */
function parseText(text: string, file: string, format: 'yaml' | 'json'): Parsed {
  const lineCounter = new LineCounter();
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  const syntax = (message: string, offset: number | undefined, hint?: string): ScenarioError => {
    const pos = offset === undefined ? undefined : lineCounter.linePos(offset);
    return scenarioError({
      code: 'syntax', path: ROOT_PATH, message, file,
      ...(pos ? { line: pos.line, column: pos.col } : {}), ...(hint ? { hint } : {}),
    });
  };
  if (text.trim() === '') throw scenarioError({ code: 'syntax', path: ROOT_PATH, message: 'the scenario file is empty', file, line: 1, hint: 'see scenarios/*.yaml for examples' });
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, keepSourceTokens: false });
  } catch (err) {
    throw syntax(`cannot parse the file: ${(err as Error).message}`, undefined);
  }
  if (format === 'json') {
    try {
      JSON.parse(text);
    } catch (err) {
      const m = /position (\d+)/.exec((err as Error).message);
      throw syntax(`not valid JSON: ${(err as Error).message.replace(/ in JSON at position \d+.*$/, '')}`, m ? Number(m[1]) : undefined);
    }
  }
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw syntax(`not valid ${format === 'json' ? 'JSON' : 'YAML'}: ${msg}`, e.pos[0]);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw syntax(`cannot read the document: ${(err as Error).message}`, undefined);
  }
  const lines: Record<string, number> = {};
  const contents = doc.contents;
  lines[ROOT_PATH] = contents?.range ? lineAt(contents.range[0]) : 1;
  const walk = (node: unknown, p: PropertyKey[], depth: number): void => {
    if (depth > 64 || isAlias(node)) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const q = [...p, key];
        const at = (pair.key as Node | null)?.range?.[0] ?? (pair.value as Node | null)?.range?.[0];
        if (at !== undefined) lines[formatPath(q)] = lineAt(at);
        walk(pair.value, q, depth + 1);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const q = [...p, i];
        const at = (item as Node | null)?.range?.[0];
        if (at !== undefined) lines[formatPath(q)] = lineAt(at);
        walk(item, q, depth + 1);
      });
    }
  };
  walk(contents, [], 0);
  return { data, source: { file, lines } };
}

/** The line of a field path, or of its nearest ancestor that the file has. */
export function lineOf(source: ScenarioSource, p: readonly PropertyKey[]): number | undefined {
  for (let n = p.length; n >= 0; n--) {
    const line = source.lines[formatPath(p.slice(0, n))];
    if (line !== undefined) return line;
  }
  return undefined;
}

/** An issue of the scenario file at a field path, with its line. */
export function issueAt(source: ScenarioSource, code: ScenarioIssueCode, p: readonly PropertyKey[], message: string, hint?: string): ScenarioIssue {
  const line = lineOf(source, p);
  return { code, path: formatPath(p), message, file: source.file, ...(line !== undefined ? { line } : {}), ...(hint !== undefined ? { hint } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// zod issues → field issues

function valueAt(data: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 37) + '…' : v}'`;
  return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : typeof v;
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number', int: 'an integer', string: 'a string', boolean: 'true or false', object: 'a mapping (key: value)',
  array: 'a list', literal: 'a literal', tuple: 'a list',
};

function nameOf(p: readonly PropertyKey[]): string {
  for (let i = p.length - 1; i >= 0; i--) if (typeof p[i] === 'string') return String(p[i]) + (i < p.length - 1 ? formatPath(p.slice(i + 1)) : '');
  return p.length === 0 ? 'the scenario' : formatPath(p);
}

function fromZod(issues: readonly z.core.$ZodIssue[], data: unknown, base: readonly (string | number)[] = []): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const iss of issues) {
    const p: (string | number)[] = [...base, ...iss.path.map((k) => (typeof k === 'number' ? k : String(k)))];
    const name = nameOf(p);
    const value = valueAt(data, p);
    switch (iss.code) {
      case 'unrecognized_keys': {
        const messages = iss.message.split('\n');
        iss.keys.forEach((key, i) => {
          const m = messages[i] ?? `unknown key '${key}'`;
          out.push({ code: 'unknown_key', path: [...p, key], message: m, hint: `${p.length ? formatPath(p) : 'the scenario'} takes the keys listed in schema/scenario.schema.json` });
        });
        break;
      }
      case 'invalid_type': {
        if (value === undefined) {
          out.push({ code: 'missing_key', path: p, message: `${name} is required` });
        } else {
          out.push({ code: 'invalid_type', path: p, message: `${name} must be ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describeValue(value)}` });
        }
        break;
      }
      case 'too_big':
      case 'too_small': {
        const big = iss.code === 'too_big';
        const bound = big ? (iss).maximum : (iss).minimum;
        const inclusive = iss.inclusive ?? true;
        let message: string;
        if (iss.origin === 'string') message = big ? `${name} must have at most ${String(bound)} characters` : Number(bound) <= 1 ? `${name} must not be empty` : `${name} must have at least ${String(bound)} characters`;
        else if (iss.origin === 'array' || iss.origin === 'set') message = big ? `${name} must have at most ${String(bound)} items` : `${name} must have at least ${String(bound)} item${Number(bound) === 1 ? '' : 's'}`;
        else message = `${name} must be ${big ? (inclusive ? '≤' : '<') : (inclusive ? '≥' : '>')} ${String(bound)}, got ${describeValue(value)}`;
        out.push({ code: 'invalid_value', path: p, message });
        break;
      }
      case 'invalid_value': {
        const values = iss.values.map((v) => String(v));
        const near = typeof value === 'string' ? nearestNames(value, values, 1)[0] : undefined;
        const msg = values.length === 1 ? `${name} must be '${values[0]}', got ${describeValue(value)}`
          : `${name} must be one of ${values.join(', ')}, got ${describeValue(value)}` + (near !== undefined ? `; did you mean '${near}'?` : '');
        out.push({ code: 'invalid_value', path: p, message: msg });
        break;
      }
      case 'invalid_format':
        out.push({ code: 'invalid_value', path: p, message: `${name} ${iss.message.startsWith('must') ? iss.message : 'has the wrong format'}, got ${describeValue(value)}` });
        break;
      case 'invalid_union': {
        const u = iss;
        if ((u as { note?: string }).note === 'No matching discriminator' || (u.errors.length === 0 && 'discriminator' in u)) {
          const options = ((u as unknown as { options?: unknown[] }).options ?? []).map(String);
          if (value === undefined) {
            out.push({ code: 'missing_key', path: p, message: `${name} is required`, ...(options.length ? { hint: `one of: ${options.join(', ')}` } : {}) });
            // A misspelt discriminator is also an unknown key: point at it.
            const parent = valueAt(data, p.slice(0, -1));
            const key = String(p[p.length - 1]);
            if (parent !== null && typeof parent === 'object' && !Array.isArray(parent)) {
              const known = formatPath(p.slice(0, -1)) === 'attack' ? ATTACK_KEYS : [key];
              for (const k of Object.keys(parent)) {
                if (known.includes(k)) continue;
                if (known.length > 1 || editDistance(k.toLowerCase(), key.toLowerCase()) <= 2) {
                  out.push({ code: 'unknown_key', path: [...p.slice(0, -1), k], message: unknownKeyMessage(k, known) });
                }
              }
            }
          } else {
            const near = typeof value === 'string' ? nearestNames(value, options, 1)[0] : undefined;
            out.push({
              code: 'invalid_value', path: p,
              message: `${name} must be one of ${options.join(', ')}, got ${describeValue(value)}` + (near !== undefined ? `; did you mean '${near}'?` : ''),
            });
          }
          break;
        }
        // The branches whose type matched the value say what is wrong; if none did, the type is wrong.
        const matched = u.errors.filter((branch) => !branch.some((b) => b.code === 'invalid_type' && b.path.length === 0));
        if (matched.length > 0) {
          out.push(...fromZod(matched[0], data, p));
        } else {
          const expected = [...new Set(u.errors.flatMap((b) => b.filter((x) => x.code === 'invalid_type').map((x) => TYPE_NAMES[(x).expected] ?? (x).expected)))];
          out.push(value === undefined
            ? { code: 'missing_key', path: p, message: `${name} is required` }
            : { code: 'invalid_type', path: p, message: `${name} must be ${expected.join(' or ')}, got ${describeValue(value)}` });
        }
        break;
      }
      default:
        out.push({ code: 'invalid_value', path: p, message: `${name}: ${iss.message}` });
    }
  }
  return out;
}

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
        concept: a.concept!, sizes: ablationSizes(f), samples: a.samples ?? 500, seed: a.seed ?? 1, segmenter: segmenterSpec(a.segmenter, dir),
        ranking: a.ranking ?? 'iou', controlDraws: a.controlDraws ?? 3, ...(a.layer !== undefined ? { layer: a.layer } : {}),
        ...(a.rankSamples !== undefined ? { rankSamples: a.rankSamples } : {}), ...(a.causalSamples !== undefined ? { causalSamples: a.causalSamples } : {}),
        ...(a.quantile !== undefined ? { quantile: a.quantile } : {}),
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
    const g = t as { concept?: string; units?: number; ranking?: 'iou' | 'causal'; context?: string | string[]; on?: string | string[]; over?: string | string[] };
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

/**
 * Reads a labels file: CSV lines `file,class` (an optional header line naming `file` and `class` or `label`;
 * `#` comments) or JSON (`{"a.png": "bedroom"}` or `[{"file": "a.png", "class": "bedroom"}]`). Image paths are
 * relative to `folder`. Every image named must exist.
 */
export async function readLabelsFile(labelsFile: string, folder: string): Promise<LabelledFile[]> {
  let text: string;
  try {
    text = await fs.readFile(labelsFile, 'utf8');
  } catch (err) {
    throw scenarioError({ code: 'unreadable', path: ROOT_PATH, message: `cannot read the labels file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file: labelsFile });
  }
  const raw: Array<{ file: unknown; label: unknown; line: number; path: string }> = [];
  const issues: ScenarioIssue[] = [];
  if (path.extname(labelsFile).toLowerCase() === '.json') {
    const { data, source } = parseText(text, labelsFile, 'json');
    const line = (p: PropertyKey[]): number => lineOf(source, p) ?? 1;
    if (Array.isArray(data)) {
      data.forEach((e: unknown, i) => {
        const o = (e ?? {}) as Record<string, unknown>;
        raw.push({ file: o.file, label: o.class ?? o.label, line: line([i]), path: `[${i}]` });
      });
    } else if (data !== null && typeof data === 'object') {
      for (const [k, v] of Object.entries(data)) raw.push({ file: k, label: v, line: line([k]), path: k });
    } else {
      throw scenarioError({ code: 'invalid_type', path: ROOT_PATH, message: 'a JSON labels file must be a mapping {"file": "class"} or a list of {"file", "class"}', file: labelsFile, line: 1 });
    }
  } else {
    const rows = text.split(/\r?\n/);
    rows.forEach((row, i) => {
      const t = row.trim();
      if (t === '' || t.startsWith('#')) return;
      const cells = splitCsv(t);
      if (i === rows.findIndex((r) => r.trim() !== '' && !r.trim().startsWith('#'))
        && /^(file|filename|image|path)$/i.test(cells[0] ?? '') && /^(class|label|category)$/i.test(cells[1] ?? '')) return;
      raw.push({ file: cells[0], label: cells[1], line: i + 1, path: `line ${i + 1}` });
    });
  }
  const seen = new Set<string>();
  const out: LabelledFile[] = [];
  for (const r of raw) {
    const where = { file: labelsFile, line: r.line, path: r.path };
    if (typeof r.file !== 'string' || r.file.trim() === '') {
      issues.push({ ...where, code: 'invalid_value', message: 'an entry names no image file' });
      continue;
    }
    const label = typeof r.label === 'string' ? r.label.trim() : r.label;
    if (!((typeof label === 'string' && label !== '') || (typeof label === 'number' && Number.isInteger(label) && label >= 0))) {
      issues.push({ ...where, code: 'invalid_value', message: `the image '${r.file}' has no class`, hint: 'write file,class — a class name of the model or a class index' });
      continue;
    }
    const abs = path.resolve(folder, r.file.trim());
    if (seen.has(abs)) {
      issues.push({ ...where, code: 'conflict', message: `the image '${r.file}' is listed twice` });
      continue;
    }
    seen.add(abs);
    if (!existsSync(abs)) {
      issues.push({ ...where, code: 'not_found', message: `no image '${r.file}' in ${folder}` });
      continue;
    }
    out.push({ file: abs, label: label, line: r.line });
  }
  if (issues.length > 0) throw new ScenarioError(issues);
  if (out.length === 0) throw scenarioError({ code: 'invalid_value', path: ROOT_PATH, message: 'the labels file names no images', file: labelsFile, line: 1 });
  return out;
}

function splitCsv(line: string): string[] {
  const cells: string[] = [];
  let cur = ''; let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',' || ch === ';' || ch === '\t') { cells.push(cur.trim()); cur = ''; } else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

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
