/**
 * `unit-attack run … --shard i/N` and `unit-attack merge`: the parts of a scenario run put back together give the
 * results of one run (same scenarios in the same order, same metrics and verdicts, the whole run's exit code, every
 * image), and bad sets of parts are refused with the part named.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { initBackend } from '../../src/engine/backend.js';
import { resultsSchema } from '../../src/report/json.js';
import { findAll, parseXml } from '../report/xml.js';
import { captureIO, tempDir, writeScenario } from './helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/scenarios');
const dir = tempDir('ua-shard-');
const model = path.join(fixtures, 'models/colour');
const inputs = { folder: path.join(fixtures, 'images'), labels: path.join(fixtures, 'labels.csv') };
let scenarios: string;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  delete process.env.GITHUB_ACTIONS;
  scenarios = path.join(dir, 'scenarios');
  // Three scenarios: two hold, one fails on purpose (exit code 1 for the whole run).
  writeScenario(scenarios, 'a-fgsm', { name: 'a fgsm', model, inputs, attack: { kind: 'fgsm', epsilon: '1/255' }, expectations: { clean_accuracy: { min: 1 }, linf: { max: '1/255' } } });
  writeScenario(scenarios, 'b-pgd', { name: 'b pgd', model, inputs, attack: { kind: 'pgd', epsilon: '8/255', steps: 5 }, expectations: { robust_accuracy: { min: 0.9 } } });
  writeScenario(scenarios, 'c-clean', { name: 'c clean', model, inputs, expectations: { clean_accuracy: { min: 1 } } });
});

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIO();
  const code = await main(['--backend', 'cpu', '--quiet', ...args], io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

const comparable = (file: string): unknown => {
  const r = resultsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  return {
    exitCode: r.exitCode, passed: r.passed, summary: r.summary,
    scenarios: r.scenarios.map((s) => ({ ...s, durations: undefined, images: s.images.map((i) => ({ ...i, files: Object.keys(i.files).sort() })) })),
  };
};

describe('unit-attack run --shard i/N and merge', () => {
  it('two parts merge into the results, JUnit and exit code of one run, images included', async () => {
    const whole = await run(['run', scenarios, '--out', path.join(dir, 'whole')]);
    expect(whole.code).toBe(1);
    const p0 = await run(['run', scenarios, '--shard', '0/2', '--out', path.join(dir, 'p0')]);
    const p1 = await run(['run', scenarios, '--shard', '1/2', '--out', path.join(dir, 'p1')]);
    expect(p0.stdout).toContain('part 0/2: 1 of 3 scenarios');
    expect(p1.stdout).toContain('part 1/2: 2 of 3 scenarios');
    expect(p0.code).toBe(0); // a fgsm holds
    expect(p1.code).toBe(1); // b pgd fails on purpose
    // Parts in any order.
    const merged = await run(['merge', path.join(dir, 'p1'), path.join(dir, 'p0'), '--out', path.join(dir, 'merged')]);
    expect(merged.stderr).toBe('');
    expect(merged.code).toBe(1);
    expect(merged.stdout).toContain('3 scenarios: 2 passed, 1 failed');
    expect(comparable(path.join(dir, 'merged/results.json'))).toEqual(comparable(path.join(dir, 'whole/results.json')));
    const results = resultsSchema.parse(JSON.parse(readFileSync(path.join(dir, 'merged/results.json'), 'utf8')));
    const files = results.scenarios.flatMap((s) => s.images.flatMap((i) => Object.values(i.files)));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(existsSync(path.join(dir, 'merged', f))).toBe(true);
    const suites = findAll(parseXml(readFileSync(path.join(dir, 'merged/junit.xml'), 'utf8')), 'testsuite').map((s) => s.attrs.name);
    expect(suites).toEqual(['a fgsm', 'b pgd', 'c clean']);
    expect(readFileSync(path.join(dir, 'merged/report.html'), 'utf8')).toContain('b pgd');
  }, 120_000);

  it('a missing part, parts of different runs, --shard without --out and a bad spec are refused (exit 2)', async () => {
    const missing = await run(['merge', path.join(dir, 'p0'), '--out', path.join(dir, 'never')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('parts 1/2 of the run are missing');
    expect(existsSync(path.join(dir, 'never'))).toBe(false);

    const other = await run(['run', path.join(scenarios, 'c-clean.yaml'), '--shard', '0/1', '--out', path.join(dir, 'other')]);
    expect(other.code).toBe(0);
    const mixed = await run(['merge', path.join(dir, 'p0'), path.join(dir, 'other'), '--out', path.join(dir, 'never')]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/are parts of different runs \(1 parts ≠ 2\)/);

    const noOut = await run(['run', scenarios, '--shard', '0/2']);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain('--shard writes its part to --out');
    for (const bad of ['2/2', '0/0', 'x']) {
      const r = await run(['run', scenarios, '--shard', bad, '--out', path.join(dir, 'never')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--shard must be i/N with 0 ≤ i < N, got '${bad}'`);
    }
  }, 120_000);
});
