import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ScenarioError, formatIssue } from '../../src/scenarios/errors.js';
import { listScenarioFiles, loadScenario, loadScenarios, parseScenario, readLabelsFile } from '../../src/scenarios/load.js';
import { validFuzzScenario, validPgdScenario, validUnitScenario } from './fixtures.js';

function errorOf(text: string, file = '/tmp/x.yaml'): ScenarioError {
  try {
    parseScenario(text, file);
  } catch (err) {
    if (err instanceof ScenarioError) return err;
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

const yamlOf = (o: unknown): string => stringify(o);

describe('parseScenario', () => {
  it('reads a valid unit-attack scenario with fractions, defaults and lines', () => {
    const s = parseScenario(yamlOf(validUnitScenario()), '/tmp/s/ski.yaml');
    expect(s.name).toBe('ski resort to bedroom');
    expect(s.model.spec).toBe('builtin:scenes-vgg16');
    expect(s.task.kind).toBe('attack');
    if (s.task.kind !== 'attack') return;
    expect(s.task.attack.epsilon).toBeCloseTo(8 / 255, 12);
    expect(s.expectations).toContainEqual({ metric: 'linf', max: 8 / 255 });
    expect(s.inputs).toEqual({ kind: 'synthetic', classes: ['ski_resort'], count: 20, seed: 11, size: undefined });
    expect(s.source.lines['attack.epsilon']).toBeGreaterThan(1);
    expect(s.reportImages).toBe(6);
  });

  it('reads JSON scenarios the same as YAML', () => {
    const a = parseScenario(JSON.stringify(validPgdScenario(), null, 2), '/tmp/p.json');
    const b = parseScenario(yamlOf(validPgdScenario()), '/tmp/p.yaml');
    expect({ ...a, file: '', source: undefined }).toEqual({ ...b, file: '', source: undefined });
  });

  it('resolves relative model paths against the scenario folder', () => {
    const s = parseScenario(yamlOf({ ...validPgdScenario(), model: '../models/candidate' }), '/work/ci/scenarios/gate.yaml');
    expect(s.model.spec).toBe('/work/ci/models/candidate');
  });

  it('should name the field, the file and the line when epsilon exceeds 1', () => {
    const text = [
      '# yaml-language-server: $schema=../schema/scenario.schema.json',
      'name: gate',
      'model: builtin:scenes-vgg16',
      'inputs:',
      '  synthetic: { count: 4, seed: 1 }',
      'attack:',
      '  kind: pgd',
      '  epsilon: 8',
      'expectations:',
      '  robust_accuracy: { min: 0.5 }',
    ].join('\n');
    const err = errorOf(text, path.join(process.cwd(), 'scenarios/x.yaml'));
    expect(err.reason).toBe('invalid_value');
    expect(err.path).toBe('attack.epsilon');
    expect(err.line).toBe(8);
    expect(formatIssue(err.issues[0])).toBe('✖ epsilon must be ≤ 1, got 8 → at attack.epsilon (scenarios/x.yaml:8)\n'
      + '  hint: ε is in pixel units on [0, 1] images: write 4/255 for four 8-bit steps');
  });

  it('should suggest the nearest key for an unknown key, at the key line', () => {
    const o = validUnitScenario();
    (o.attack as Record<string, unknown>).epsilonn = (o.attack as Record<string, unknown>).epsilon;
    delete (o.attack as Record<string, unknown>).epsilon;
    const err = errorOf(yamlOf(o));
    expect(err.reason).toBe('unknown_key');
    expect(err.path).toBe('attack.epsilonn');
    expect(err.message).toContain("did you mean 'epsilon'?");
    expect(err.line).toBe(yamlOf(o).split('\n').findIndex((l) => l.includes('epsilonn')) + 1);
  });

  it('should suggest the nearest metric and the nearest attack kind', () => {
    const o = validPgdScenario();
    o.expectations = { robust_acuracy: { min: 0.5 } };
    expect(errorOf(yamlOf(o)).message).toContain("did you mean 'robust_accuracy'?");
    const p = validPgdScenario();
    (p.attack as Record<string, unknown>).kind = 'pdg';
    const e = errorOf(yamlOf(p));
    expect(e.path).toBe('attack.kind');
    expect(e.message).toContain("did you mean 'pgd'?");
  });

  it('should report wrong types with the value it got', () => {
    const o = validPgdScenario();
    (o.attack as Record<string, unknown>).steps = 'ten';
    const e = errorOf(yamlOf(o));
    expect(e.reason).toBe('invalid_type');
    expect(e.message).toBe("steps must be a number, got 'ten'");
  });

  it('should report a missing required key at its parent', () => {
    const o = validPgdScenario();
    delete o.model;
    const e = errorOf(yamlOf(o));
    expect(e.reason).toBe('missing_key');
    expect(e.path).toBe('model');
    expect(e.line).toBe(1);
  });

  it('should reject an expectation the scenario does not measure', () => {
    const o = validPgdScenario();
    o.expectations = { unit_success: { min: 0.5 } };
    const e = errorOf(yamlOf(o));
    expect(e.reason).toBe('conflict');
    expect(e.path).toBe('expectations.unit_success');
    expect(e.message).toContain('unit attack');
  });

  it('should reject concept units without a dissection, and two tasks in one file', () => {
    const o = validUnitScenario();
    delete o.dissection;
    expect(errorOf(yamlOf(o)).issues.map((i) => i.path)).toContain('attack.suppress[0]');
    const p = { ...validPgdScenario(), fuzz: { noise: 0.01 } };
    expect(errorOf(yamlOf(p)).issues.map((i) => i.path)).toContain('fuzz');
  });

  it('should reject an unknown scene class with a suggestion', () => {
    const o = validUnitScenario();
    (o.inputs as { synthetic: { class: string } }).synthetic.class = 'ski_resrot';
    const e = errorOf(yamlOf(o));
    expect(e.path).toBe('inputs.synthetic.class');
    expect(e.message).toContain("did you mean 'ski_resort'?");
  });

  it('should report YAML syntax errors, duplicate keys, empty files and several documents with a line', () => {
    expect(errorOf('name: a\nmodel: [1, 2\n').reason).toBe('syntax');
    const dup = errorOf('name: a\nname: b\n');
    expect(dup.reason).toBe('syntax');
    expect(dup.line).toBe(2);
    expect(errorOf('').message).toContain('empty');
    expect(errorOf('a: 1\n---\nb: 2\n').reason).toBe('syntax');
    expect(errorOf('{"name": "a",}', '/tmp/x.json').reason).toBe('syntax');
    expect(errorOf('- 1\n- 2\n').message).toContain('must be a mapping');
  });

  it('should not expand alias bombs', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]'].join('\n');
    expect(errorOf(bomb).reason).toBe('syntax');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties: whatever the text, the loader answers with a scenario or a ScenarioError that has a path and a line.

function expectScenarioAnswer(text: string, file: string): 'ok' | 'error' {
  try {
    parseScenario(text, file);
    return 'ok';
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    expect(err.issues.length).toBeGreaterThan(0);
    for (const issue of err.issues) {
      expect(typeof issue.path).toBe('string');
      expect(issue.path.length).toBeGreaterThan(0);
      expect(issue.message.length).toBeGreaterThan(0);
      expect(issue.file).toBe(path.resolve(file));
      if (issue.line !== undefined) expect(issue.line).toBeGreaterThanOrEqual(1);
    }
    return 'error';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path of an object tree, objects and lists included. */
function pathsOf(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([...prefix, i], ...pathsOf(x, [...prefix, i])); });
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([...prefix, k], ...pathsOf(x, [...prefix, k]));
  return out;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function parentOf(root: Json, p: (string | number)[]): { parent: Record<string | number, Json>; key: string | number } {
  let cur = root as Record<string | number, Json>;
  for (const seg of p.slice(0, -1)) cur = cur[seg] as Record<string | number, Json>;
  return { parent: cur, key: p[p.length - 1] };
}

const validDocs = [validUnitScenario(), validPgdScenario(), validFuzzScenario()] as unknown as Json[];

/** A mutation of a valid scenario: delete, retype or rename a field, or damage the text. */
const mutated = fc.record({
  doc: fc.integer({ min: 0, max: validDocs.length - 1 }),
  which: fc.nat(),
  op: fc.constantFrom('delete', 'replace', 'rename', 'truncate', 'insert', 'json-replace'),
  value: fc.jsonValue({ maxDepth: 2 }),
  typo: fc.string({ minLength: 1, maxLength: 3 }),
  at: fc.nat(),
});

describe('loader properties', () => {
  it('never crashes on random YAML and JSON values: it answers with a scenario error that has a path', () => {
    let errors = 0;
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, asJson) => {
      const text = asJson ? JSON.stringify(value) : stringify(value);
      if (expectScenarioAnswer(text, asJson ? 'r.json' : 'r.yaml') === 'error') errors++;
    }), { numRuns: 600, seed: Number(process.env.FC_SEED ?? 42) });
    expect(errors).toBe(600);
  });

  it('never crashes on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      expect(expectScenarioAnswer(text, 't.yaml')).toBe('error');
    }), { numRuns: 200, seed: Number(process.env.FC_SEED ?? 7) });
  });

  it('answers mutated valid scenarios with a scenario or an error at a path, and pins renamed keys', () => {
    let errors = 0;
    fc.assert(fc.property(mutated, (m) => {
      const doc = clone(validDocs[m.doc]!);
      const paths = pathsOf(doc);
      const p = paths[m.which % paths.length];
      const { parent, key } = parentOf(doc, p);
      let text: string;
      let file = 'm.yaml';
      let renamedTo: string | undefined;
      switch (m.op) {
        case 'delete':
          if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key];
          text = stringify(doc);
          break;
        case 'replace':
          parent[key] = m.value as Json;
          text = stringify(doc);
          break;
        case 'json-replace':
          parent[key] = m.value as Json;
          text = JSON.stringify(doc, null, 2);
          file = 'm.json';
          break;
        case 'rename': {
          if (Array.isArray(parent) || typeof key !== 'string') { parent[key] = m.value as Json; text = stringify(doc); break; }
          const name = /^[A-Za-z0-9_$]+$/.test(m.typo) ? `${key}${m.typo}` : `${key}x`;
          const v = parent[key]!;
          delete parent[key];
          parent[name] = v;
          renamedTo = [...p.slice(0, -1), name].map((s, i) => (typeof s === 'number' ? `[${s}]` : (i === 0 ? s : `.${s}`))).join('');
          text = stringify(doc);
          break;
        }
        case 'truncate': {
          const full = stringify(doc);
          text = full.slice(0, m.at % full.length);
          break;
        }
        case 'insert': {
          const full = stringify(doc);
          const i = m.at % full.length;
          text = full.slice(0, i) + m.typo + full.slice(i);
          break;
        }
      }
      const answer = expectScenarioAnswer(text, file);
      if (answer === 'error') errors++;
      if (renamedTo !== undefined && !/^expectations\.[a-z_]+$/.test(renamedTo.replace(/\.(min|max)$/, '')) ) {
        // A renamed key is unknown; the error points at it (the rest of the file may have issues too).
        let err: ScenarioError | undefined;
        try { parseScenario(text, file); } catch (e) { err = e as ScenarioError; }
        expect(err?.issues.map((i) => i.path)).toContain(renamedTo);
      }
    }), { numRuns: 500, seed: Number(process.env.FC_SEED ?? 1234) });
    expect(errors).toBeGreaterThan(250);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Files

describe('loadScenario and loadScenarios', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-load-'));

  it('reads a folder input with a CSV labels file, and names a missing image at its labels line', async () => {
    const img = path.join(dir, 'imgs');
    mkdirSync(img, { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(path.join(img, 'a.png'));
    writeFileSync(path.join(dir, 'labels.csv'), 'file,class\na.png,beach\n# a comment\n\nb.png,bedroom\n');
    const f = path.join(dir, 'folder.yaml');
    const modelDir = path.join(dir, 'model');
    mkdirSync(modelDir, { recursive: true });
    writeFileSync(f, yamlOf({ ...validPgdScenario(), model: 'model', inputs: { folder: 'imgs', labels: 'labels.csv' } }));
    const err = await loadScenario(f).catch((e: unknown) => e) as ScenarioError;
    expect(err).toBeInstanceOf(ScenarioError);
    expect(err.reason).toBe('not_found');
    expect(err.file).toBe(path.join(dir, 'labels.csv'));
    expect(err.line).toBe(5);
    writeFileSync(path.join(dir, 'labels.csv'), 'a.png,beach\n');
    const s = await loadScenario(f);
    expect(s.inputs.kind === 'folder' && s.inputs.entries).toEqual([{ file: path.join(img, 'a.png'), label: 'beach', line: 1 }]);
  });

  it('reads JSON labels files of both shapes', async () => {
    const img = path.join(dir, 'imgs');
    writeFileSync(path.join(dir, 'l1.json'), JSON.stringify({ 'a.png': 'beach' }));
    writeFileSync(path.join(dir, 'l2.json'), JSON.stringify([{ file: 'a.png', class: 2 }], null, 2));
    expect(await readLabelsFile(path.join(dir, 'l1.json'), img)).toEqual([{ file: path.join(img, 'a.png'), label: 'beach', line: 1 }]);
    expect((await readLabelsFile(path.join(dir, 'l2.json'), img))[0].label).toBe(2);
  });

  it('names a missing model at the model line', async () => {
    const f = path.join(dir, 'nomodel.yaml');
    writeFileSync(f, yamlOf({ ...validPgdScenario(), model: './nowhere' }));
    const err = await loadScenario(f).catch((e: unknown) => e) as ScenarioError;
    expect(err.reason).toBe('not_found');
    expect(err.path).toBe('model');
    expect(err.line).toBe(2);
  });

  it('collects the issues of every file of a folder, and rejects duplicate names', async () => {
    const sub = path.join(dir, 'many');
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, 'a.yaml'), yamlOf({ ...validPgdScenario(), model: '../model' }));
    writeFileSync(path.join(sub, 'b.yml'), yamlOf({ ...validPgdScenario(), model: '../model' }));
    writeFileSync(path.join(sub, 'c.json'), '{ "name": 1 }');
    writeFileSync(path.join(sub, 'notes.txt'), 'not a scenario');
    expect((await listScenarioFiles([sub])).map((f) => path.basename(f))).toEqual(['a.yaml', 'b.yml', 'c.json']);
    const err = await loadScenarios([sub]).catch((e: unknown) => e) as ScenarioError;
    expect(err).toBeInstanceOf(ScenarioError);
    const files = new Set(err.issues.map((i) => path.basename(i.file)));
    expect(files).toEqual(new Set(['b.yml', 'c.json']));
    expect(err.issues.some((i) => i.message.includes('also used by a.yaml'))).toBe(true);
  });
});

describe('every problem of a file in one run', () => {
  it('a misspelt key does not hide a bad epsilon next to it', () => {
    const text = ['name: two', 'model: builtin:scenes-vgg16', 'inputs:', '  synthetic: { count: 2, seed: 1 }', 'attack:', '  kind: pgd',
      '  epsilon: 8', '  stepz: 3', 'expectations:', '  robust_accuracy: { min: 0.5 }', ''].join('\n');
    let err: unknown;
    try { parseScenario(text, 'two.yaml'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ScenarioError);
    const issues = (err as ScenarioError).issues.map((i) => [i.path, i.line]);
    expect(issues).toEqual([['attack.epsilon', 7], ['attack.stepz', 8]]);
  });
});
