import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArgv, main } from '../../src/cli/main.js';
import { initBackend } from '../../src/engine/backend.js';
import { resultsSchema } from '../../src/report/json.js';
import { findAll, parseXml } from '../report/xml.js';
import { captureIO, tempDir, writeScenario } from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/scenarios');
const failing = path.join(fixtures, 'fails-on-purpose.yaml');
const dir = tempDir('ua-cli-');
const model = path.join(fixtures, 'models/colour');
const inputs = { folder: path.join(fixtures, 'images'), labels: path.join(fixtures, 'labels.csv') };

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  // These tests read stdout exactly: when they run on GitHub Actions themselves, annotations would be mixed in.
  delete process.env.GITHUB_ACTIONS;
});

async function run(...args: string[]) {
  const io = captureIO();
  const code = await main(['run', '--backend', 'cpu', '--quiet', ...args], io);
  return { code, io, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

describe('unit-attack run: arguments', () => {
  it('parses files, --out, --baseline, --tolerance, --seed, --path and --workers', () => {
    const argv = buildArgv(['run', 'a.yaml', 'dir/', '--out', 'o', '--baseline', 'b.json', '--tolerance', '0.05', 'psnr=1', '--seed', '3', '--path', '1:2', '--workers', '2']);
    expect(argv.files).toEqual(['a.yaml', 'dir/']);
    expect(argv.tolerance).toEqual(['0.05', 'psnr=1']);
    expect(argv.seed).toBe(3);
    expect(argv.workers).toBe(2);
  });

  it('rejects --path without --seed, a bad path, --workers 0 and a bad tolerance as usage errors', () => {
    expect(() => buildArgv(['run', 'a.yaml', '--path', '1:2'])).toThrow(/--seed/);
    expect(() => buildArgv(['run', 'a.yaml', '--seed', '1', '--path', 'x'])).toThrow(/--path/);
    expect(() => buildArgv(['run', 'a.yaml', '--workers', '0'])).toThrow(/--workers/);
    expect(() => buildArgv(['run', 'a.yaml', '--baseline', 'b', '--tolerance', 'psnr=='])).toThrow(/--tolerance/);
    expect(() => buildArgv(['run', 'a.yaml', '--tolerance', '0.1'])).toThrow(/--baseline/);
  });
});

describe('unit-attack run: exit codes', () => {
  it('exits 0 when every expectation holds, and prints the table and where the report is', async () => {
    const file = writeScenario(dir, 'passes', {
      name: 'passes', model, inputs, attack: { kind: 'fgsm', epsilon: '1/255' }, expectations: { clean_accuracy: { min: 1 }, linf: { max: '1/255' } },
    });
    const out = path.join(dir, 'out-pass');
    const r = await run(file, '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/clean_accuracy\s+1\.000 \[0\.\d{3}, 1\.000\]\s+≥ 1\.000\s+✔ pass/); // with its 95% Wilson interval
    expect(r.stdout).toContain('1 scenario: 1 passed, 0 failed; 2/2 expectations held');
    expect(r.stdout).toContain(`report:  ${path.join(out, 'report.html')}`);
    for (const f of ['results.json', 'junit.xml', 'report.html']) expect(existsSync(path.join(out, f))).toBe(true);
  });

  it('exits 1 on the scenario that fails on purpose, with a JUnit <failure> giving measured vs threshold', async () => {
    const out = path.join(dir, 'out-fail');
    const r = await run(failing, '--out', out);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/robust_accuracy\s+0\.000 \[0\.000, 0\.\d{3}\]\s+≥ 0\.900\s+✖ fail/);
    const doc = parseXml(readFileSync(path.join(out, 'junit.xml'), 'utf8'));
    expect(doc.name).toBe('testsuites');
    const [suite] = findAll(doc, 'testsuite');
    expect(suite.attrs.name).toBe('fails on purpose');
    expect(suite.attrs.tests).toBe('3');
    expect(suite.attrs.failures).toBe('1');
    const failures = findAll(doc, 'failure');
    expect(failures).toHaveLength(1);
    expect(failures[0].attrs.message).toBe('robust_accuracy = 0.000, expected ≥ 0.900');
    const results = resultsSchema.parse(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')));
    expect(results.exitCode).toBe(1);
    expect(results.scenarios[0].images[0].files.adversarial).toMatch(/^images\/fails-on-purpose\/00-.*-adversarial\.png$/);
    expect(existsSync(path.join(out, results.scenarios[0].images[0].files.adversarial!))).toBe(true);
  });

  it('exits 2 on a bad epsilon, naming field, file and line', async () => {
    const file = path.join(dir, 'bad-eps.yaml');
    writeFileSync(file, ['name: bad', `model: ${model}`, 'inputs:', '  synthetic: { count: 2, seed: 1 }', 'attack:', '  kind: pgd', '  epsilon: 8', 'expectations:', '  robust_accuracy: { min: 0.5 }', ''].join('\n'));
    const r = await run(file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`✖ epsilon must be ≤ 1, got 8 → at attack.epsilon (${path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file)}:7)`);
    expect(r.stderr).toContain('hint: ε is in pixel units');
    expect(r.stdout).toBe('');
  });

  it('exits 2 on an unknown key with a suggestion, on a missing model and on a missing file', async () => {
    const typo = writeScenario(dir, 'typo', { name: 'typo', model, inputs, attack: { kind: 'pgd', epsilom: 0.01 }, expectations: { robust_accuracy: { min: 0.5 } } });
    let r = await run(typo);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/✖ unknown key 'epsilom'; did you mean 'epsilon'\? → at attack\.epsilom \(.*typo\.yaml:\d+\)/);
    const nomodel = writeScenario(dir, 'nomodel', { name: 'nomodel', model: './no-such-model', inputs, expectations: { clean_accuracy: { min: 0.5 } } });
    r = await run(nomodel);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/✖ no model at '.*no-such-model' → at model \(.*nomodel\.yaml:3\)/);
    r = await run(path.join(dir, 'no-such-file.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such scenario file or folder');
  });

  it('writes results.json and junit.xml with one errored case per invalid file, listing all its issues', async () => {
    const bad = path.join(dir, 'invalid-reports');
    const a = writeScenario(bad, 'a', { name: 'a', model, inputs, attack: { kind: 'pgd', epsilom: 0.01, steps: -3 }, expectations: { robust_accuracy: { min: 0.5 } } });
    writeScenario(bad, 'b', { name: 'b', model, inputs, expectations: { clean_accuracy: { min: 2 } } });
    const out = path.join(dir, 'invalid-out');
    const r = await run(bad, '--out', out);
    expect(r.code).toBe(2);
    const results = resultsSchema.parse(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')));
    expect(results.exitCode).toBe(2);
    const invalid = results.scenarios.filter((s) => s.task === 'invalid');
    expect(invalid.map((s) => s.name)).toContain('invalid: a.yaml');
    const ofA = invalid.find((s) => s.name === 'invalid: a.yaml')!;
    expect(ofA.status).toBe('error');
    const issues = (ofA.details as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['attack.epsilom']));
    expect(issues.length).toBeGreaterThanOrEqual(1);
    const xml = parseXml(readFileSync(path.join(out, 'junit.xml'), 'utf8'));
    const errors = findAll(xml, 'error');
    expect(errors.length).toBe(invalid.length);
    expect(JSON.stringify(errors)).toContain('epsilom');
    expect(path.basename(a)).toBe('a.yaml');
  });

  it('on GitHub Actions, annotates the scenario lines and writes the job summary, also for invalid files', async () => {
    const summary = path.join(dir, 'summary.md');
    const saved = { actions: process.env.GITHUB_ACTIONS, summary: process.env.GITHUB_STEP_SUMMARY };
    process.env.GITHUB_ACTIONS = 'true'; process.env.GITHUB_STEP_SUMMARY = summary;
    try {
      writeFileSync(summary, '');
      const failed = await run(failing);
      expect(failed.code).toBe(1);
      const yaml = readFileSync(failing, 'utf8').split('\n');
      const line = yaml.findIndex((l) => l.includes('robust_accuracy:')) + 1;
      expect(failed.stdout).toMatch(new RegExp(`::error file=[^,]*fails-on-purpose\\.yaml,line=${line},title=fails on purpose%3A robust_accuracy::`));
      const md = readFileSync(summary, 'utf8');
      expect(md).toContain('| fails on purpose | robust_accuracy |');
      expect(md).toMatch(/❌ \*\*failed\*\* \(exit code 1\)/);
      writeFileSync(summary, '');
      const typo = writeScenario(path.join(dir, 'gh-invalid'), 'typo', { name: 'typo', model, inputs, attack: { kind: 'pgd', epsilom: 0.01 }, expectations: { robust_accuracy: { min: 0.5 } } });
      const invalid = await run(typo);
      expect(invalid.code).toBe(2);
      const typoLine = readFileSync(typo, 'utf8').split('\n').findIndex((l) => l.includes('epsilom')) + 1;
      expect(invalid.stdout).toMatch(new RegExp(`::error file=[^,]*typo\\.yaml,line=${typoLine}(,col=\\d+)?,title=invalid scenario%3A attack\\.epsilom::unknown key 'epsilom'`));
      expect(readFileSync(summary, 'utf8')).toMatch(/invalid scenario file[\s\S]*`attack\.epsilom` \(line \d+\): unknown key 'epsilom'/);
    } finally {
      if (saved.actions === undefined) delete process.env.GITHUB_ACTIONS; else process.env.GITHUB_ACTIONS = saved.actions;
      if (saved.summary === undefined) delete process.env.GITHUB_STEP_SUMMARY; else process.env.GITHUB_STEP_SUMMARY = saved.summary;
    }
  });

  it('exits 2 when an input names a class the model does not have, after running the other scenarios', async () => {
    const sub = path.join(dir, 'mixed');
    writeScenario(sub, 'a-good', { name: 'good', model, inputs, expectations: { clean_accuracy: { min: 1 } } });
    writeScenario(sub, 'b-bad', { name: 'bad class', model, inputs: { synthetic: { class: 'beach', count: 2, seed: 1 } }, expectations: { clean_accuracy: { min: 1 } } });
    const r = await run(sub, '--out', path.join(sub, 'out'));
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/✔ good/);
    expect(r.stdout).toMatch(/! bad class[\s\S]*no class 'beach'/);
    const junit = parseXml(readFileSync(path.join(sub, 'out/junit.xml'), 'utf8'));
    expect(findAll(junit, 'error')).toHaveLength(1);
  });
});

describe('unit-attack run --baseline', () => {
  it('fails with exit 1 when a figure regresses beyond the tolerance, and passes within it', async () => {
    const file = writeScenario(dir, 'base', {
      name: 'base', model, inputs, attack: { kind: 'fgsm', epsilon: '2/255' }, expectations: { clean_accuracy: { min: 0.5 }, psnr: { min: 20 }, l2: { max: 2 } },
    });
    const out = path.join(dir, 'out-base');
    expect((await run(file, '--out', out)).code).toBe(0);
    const resultsFile = path.join(out, 'results.json');
    const baseline = JSON.parse(readFileSync(resultsFile, 'utf8')) as { scenarios: Array<{ metrics: Record<string, number> }> };
    const measured = baseline.scenarios[0].metrics;
    // The baseline was better: higher PSNR (a min metric) and lower L2 (a max-only metric).
    baseline.scenarios[0].metrics = { ...measured, psnr: measured.psnr + 1, l2: measured.l2 - 0.1 };
    const better = path.join(dir, 'better.json');
    writeFileSync(better, JSON.stringify(baseline));
    let r = await run(file, '--baseline', better, '--out', path.join(dir, 'out-reg'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/psnr regressed/);
    expect(r.stdout).toMatch(/l2 regressed/);
    expect(r.stdout).toContain('baseline: 2 regressions in 3 figures');
    const junit = parseXml(readFileSync(path.join(dir, 'out-reg/junit.xml'), 'utf8'));
    expect(findAll(junit, 'testcase').filter((t) => t.attrs.name?.startsWith('baseline ')).map((t) => t.attrs.name)).toEqual(['baseline psnr', 'baseline l2']);
    r = await run(file, '--baseline', better, '--tolerance', '0.02', '--tolerance', 'psnr=1.5');
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/psnr regressed/);
    r = await run(file, '--baseline', better, '--tolerance', '0.2', '--tolerance', 'psnr=1.5');
    expect(r.code).toBe(0);
  });

  it('exits 2 when the baseline is not a results file', async () => {
    const bogus = path.join(dir, 'bogus.json');
    writeFileSync(bogus, '{"format": "something-else"}');
    const r = await run(failing, '--baseline', bogus);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is not a unit-attack results file');
  });
});

describe('unit-attack run --seed --path', () => {
  it('replays a shrunk counterexample exactly', async () => {
    const file = writeScenario(dir, 'fuzz', {
      name: 'fuzz', model, inputs, fuzz: { runs: 100, seed: 5, brightness: 0.6, noise: '4/255' }, expectations: { property_holds: { min: 1 } },
    });
    const out = path.join(dir, 'out-fuzz');
    const first = await run(file, '--out', out);
    expect(first.code).toBe(1);
    const results = resultsSchema.parse(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')));
    const cx = results.scenarios[0].details.counterexample as { seed: number; path: string; corruption: unknown; replay: string };
    expect(first.stdout).toContain(`--seed ${cx.seed} --path ${cx.path}`);
    const png = readFileSync(path.join(out, results.scenarios[0].images[0].files.counterexample!));
    const out2 = path.join(dir, 'out-replay');
    const again = await run(file, '--seed', String(cx.seed), '--path', cx.path, '--out', out2);
    expect(again.code).toBe(1);
    const replayed = resultsSchema.parse(JSON.parse(readFileSync(path.join(out2, 'results.json'), 'utf8')));
    const cx2 = replayed.scenarios[0].details.counterexample as typeof cx;
    expect(cx2.corruption).toEqual(cx.corruption);
    expect(replayed.options).toMatchObject({ seed: cx.seed, path: cx.path });
    expect(readFileSync(path.join(out2, replayed.scenarios[0].images[0].files.counterexample!)).equals(png)).toBe(true);
  });
});
