import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodePng } from '../../src/data/images.js';
import { compareWithBaseline, parseTolerances, toleranceFor } from '../../src/report/baseline.js';
import { formatMeasured, formatThreshold } from '../../src/report/format.js';
import { htmlReport } from '../../src/report/html.js';
import { addPngText, heatmapOverlay, readPngText, resampleMap } from '../../src/report/images.js';
import { parseResults, resultsSchema, resultsToJson } from '../../src/report/json.js';
import { junitXml, xmlEscape } from '../../src/report/junit.js';
import { terminalReport } from '../../src/report/terminal.js';
import { writeReports } from '../../src/report/write.js';
import { UnitAttackError } from '../../src/errors.js';
import { runOutput, runResults, scenarioResult } from './fixtures.js';
import { findAll, parseXml } from './xml.js';

describe('results.json', () => {
  it('validates against its zod schema and reads back non-finite numbers', async () => {
    const { results } = await runOutput();
    const text = resultsToJson(results);
    expect(text).toContain('"measured": "Infinity"');
    expect(text).toContain('"ssim": null');
    const back = parseResults(JSON.parse(text));
    expect(back.scenarios[0].expectations[1].measured).toBe(Number.POSITIVE_INFINITY);
    expect(back.scenarios[0].metrics.ssim).toBeNaN();
    expect(back.scenarios[2].error).toMatchObject({ code: 'UA_INPUT', line: 9 });
    expect(resultsSchema.safeParse(JSON.parse(text)).success).toBe(true);
  });

  it('should reject a file of another format or version, and a malformed one, naming the field', () => {
    expect(() => parseResults({ format: 'x' }, 'b.json')).toThrow(/not a unit-attack results file/);
    expect(() => parseResults({ format: 'unit-attack-results', version: 9 }, 'b.json')).toThrow(/version 9/);
    const bad = JSON.parse(resultsToJson(runResults([scenarioResult('a', 'passed')]))) as { scenarios: Array<{ status: string }> };
    bad.scenarios[0].status = 'maybe';
    try {
      parseResults(bad, 'b.json');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(UnitAttackError);
      expect((err as UnitAttackError).path).toBe('scenarios.0.status');
    }
  });
});

describe('junit.xml', () => {
  it('has a testsuite per scenario and a testcase per expectation, with failures, errors and times in seconds', async () => {
    const { results } = await runOutput();
    const doc = parseXml(junitXml(results));
    expect(doc.name).toBe('testsuites');
    expect(doc.attrs).toMatchObject({ tests: '8', failures: '1', errors: '1', skipped: '1', time: '2.500' });
    expect(findAll(findAll(doc, 'testsuite')[2], 'skipped')[0].attrs.message).toBe('the scenario could not run');
    const suites = findAll(doc, 'testsuite');
    expect(suites.map((s) => s.attrs.name)).toEqual([results.scenarios[0].name, 'robustness gate', 'broken']);
    expect(suites[0].attrs).toMatchObject({ tests: '3', failures: '1', errors: '0', time: '1.250', timestamp: '2026-01-02T03:04:05' });
    const cases = findAll(suites[0], 'testcase');
    expect(cases.map((c) => c.attrs.name)).toEqual(['targeted_success', 'psnr', 'linf']);
    expect(cases.reduce((a, c) => a + Number(c.attrs.time), 0)).toBeCloseTo(1.25, 2);
    const failure = findAll(cases[0], 'failure')[0];
    expect(failure.attrs.message).toBe('targeted_success = 0.350, expected ≥ 0.800');
    expect(failure.text).toContain('min: 0.800');
    const error = findAll(suites[2], 'error')[0];
    expect(error.attrs.type).toBe('UA_INPUT');
    expect(error.text).toContain('at attack.target scenarios/broken.yaml:9');
    const props = Object.fromEntries(findAll(suites[0], 'property').map((p) => [p.attrs.name, p.attrs.value]));
    expect(props).toMatchObject({ 'seed.attack': '3', 'seed.inputs': '11', model: 'builtin:scenes-vgg16', backend: 'cpu' });
  });

  it('escapes names and messages, and drops characters XML cannot hold', () => {
    const nasty = 'a <b> & "c" \'d\' \u0001\u0008 \uD800 é 😀';
    const doc = parseXml(junitXml(runResults([scenarioResult(nasty, 'failed', { warnings: [nasty] })])));
    const suite = findAll(doc, 'testsuite')[0];
    expect(suite.attrs.name).toBe('a <b> & "c" \'d\' \uFFFD\uFFFD \uFFFD é 😀');
    expect(findAll(doc, 'system-out')[0].text).toContain('warning: a <b> & "c"');
    expect(xmlEscape('<&>"\'')).toBe('&lt;&amp;&gt;&quot;&apos;');
  });

  it('adds failing test cases for inputs beyond allowErrors and for baseline regressions', () => {
    const s = scenarioResult('s', 'failed', { inputs: { kind: 'folder', total: 3, used: 1, errored: [{ id: 'x.png', reason: 'truncated' }, { id: 'y.png', reason: 'not an image' }], allowErrors: 1 } });
    const results = runResults([s], {
      baseline: { file: 'b.json', tolerance: { '*': 0.02 }, compared: 3, regressions: [{ scenario: 's', metric: 'psnr', baseline: 40, measured: 35, tolerance: 0.02, better: 'higher' }] },
    });
    const cases = findAll(parseXml(junitXml(results)), 'testcase');
    const inputs = cases.find((c) => c.attrs.name === 'inputs')!;
    expect(findAll(inputs, 'failure')[0].attrs.message).toBe('2 inputs could not be used; allowErrors is 1');
    const reg = cases.find((c) => c.attrs.name === 'baseline psnr')!;
    expect(findAll(reg, 'failure')[0].attrs.message).toContain('regressed from 40.00 dB to 35.00 dB');
  });
});

describe('terminal report', () => {
  it('shows measured value, threshold and verdict per expectation, errors with their place, and a summary', async () => {
    const { results } = await runOutput();
    const text = terminalReport(results);
    expect(text).toMatch(/targeted_success\s+0\.350\s+≥ 0\.800\s+✖ fail/);
    expect(text).toMatch(/psnr\s+∞\s+≥ 30\.00 dB\s+✔ pass/);
    expect(text).toMatch(/linf\s+0\.0314 \(8\/255\)\s+≤ 0\.0314 \(8\/255\)\s+✔ pass/);
    expect(text).toContain("✖ the model has no class 'purple' → at attack.target (scenarios/broken.yaml:9)");
    expect(text).toContain('3 scenarios: 1 passed, 1 failed, 1 could not run; 5/7 expectations held');
    expect(terminalReport(results, { color: 1 })).toContain('\u001b[');
    expect(text).not.toContain('\u001b[');
  });

  it('formats thresholds and measurements per metric', () => {
    expect(formatThreshold({ min: 0.2, max: 0.4 }, 'targeted_success')).toBe('in [0.200, 0.400]');
    expect(formatMeasured('psnr', 31.234)).toBe('31.23 dB');
    expect(formatMeasured('units_labelled', 12)).toBe('12');
    expect(formatMeasured('clean_accuracy', Number.NaN)).toBe('n/a');
  });
});

describe('HTML report', () => {
  it('is one self-contained file: inline CSS and JS, every picture a data URI, names escaped', async () => {
    const html = htmlReport(await runOutput());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(?!data:)/);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect((html.match(/src="data:image\/png;base64,/g) ?? []).length).toBe(8);
    expect((html.match(/src="data:image\/svg\+xml;base64,/g) ?? []).length).toBe(3);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('htmlReport example pictures', () => {
  it('caption a picture with what it shows, and a heatmap with its colour scale', async () => {
    const out = await runOutput();
    const pics = out.artifacts[0].images[0];
    pics[2] = { ...pics[2], caption: 'perturbation ×31.9' };
    pics[3] = { ...pics[3], caption: 'unit change (red: the attack\'s way)', scale: { kind: 'signed', max: 0.5 } };
    const html = htmlReport(out);
    expect(html).toContain('<figcaption>perturbation ×31.9</figcaption>');
    expect(html).toContain('<figcaption>unit change (red: the attack&#39;s way)<span class="scale"><span>−0.5</span><i class="signed"></i><span>+0.5</span></span></figcaption>');
    expect(html).toMatch(/\.scale i\.signed \{ background: linear-gradient/);
    expect(html).toContain('<figcaption>original</figcaption>');
  });
});

describe('writeReports', () => {
  it('writes results.json, junit.xml, report.html and the PNGs, with the image paths in results.json', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'ua-write-'));
    writeFileSync(path.join(out, 'results.json.tmp-123-abcdef'), 'stale half-written file');
    const w = await writeReports(await runOutput(), out);
    const results = parseResults(JSON.parse(readFileSync(w.results, 'utf8')));
    const files = results.scenarios[0].images[0].files;
    expect(Object.keys(files).sort()).toEqual(['adversarial', 'heatmap', 'original', 'perturbation']);
    for (const f of Object.values(files)) expect(existsSync(path.join(out, f))).toBe(true);
    expect(w.images).toHaveLength(8);
    expect(readdirSync(out).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('leaves complete files only when a write fails part-way', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'ua-write-'));
    const output = await runOutput();
    await writeReports(output, out);
    const before = readFileSync(path.join(out, 'report.html'), 'utf8');
    // report.html cannot be replaced by a file now: the last write fails after the others succeeded.
    const blocked = mkdtempSync(path.join(os.tmpdir(), 'ua-write-'));
    mkdirSync(path.join(blocked, 'report.html', 'x'), { recursive: true });
    await expect(writeReports(output, blocked)).rejects.toMatchObject({ code: 'UA_IO' });
    expect(parseResults(JSON.parse(readFileSync(path.join(blocked, 'results.json'), 'utf8'))).scenarios).toHaveLength(3);
    expect(parseXml(readFileSync(path.join(blocked, 'junit.xml'), 'utf8')).name).toBe('testsuites');
    expect(readdirSync(blocked).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toBe(before);
  });
});

describe('baseline comparison', () => {
  const base = runResults([scenarioResult('a', 'passed', {
    metrics: { targeted_success: 0.85, psnr: 45, linf: 8 / 255 },
  })]);

  it('should take a metric with a min as better higher and one with only a max as better lower', () => {
    const now = runResults([scenarioResult('a', 'passed', {
      expectations: [
        { metric: 'targeted_success', measured: 0.80, threshold: { min: 0.5 }, passed: true },
        { metric: 'linf', measured: 8 / 255 + 0.03, threshold: { max: 0.1 }, passed: true },
        { metric: 'psnr', measured: 40, threshold: { min: 30 }, passed: true },
      ],
    })]);
    const r = compareWithBaseline(now, base, parseTolerances([]));
    expect(r.compared).toBe(3);
    expect(r.regressions.map((x) => [x.metric, x.better])).toEqual([['targeted_success', 'higher'], ['linf', 'lower'], ['psnr', 'higher']]);
    expect(compareWithBaseline(now, base, parseTolerances(['0.05', 'psnr=1e9'])).regressions.map((x) => x.metric)).toEqual([]);
  });

  it('should not count improvements, equal infinities, NaN or scenarios the baseline lacks', () => {
    const now = runResults([
      scenarioResult('a', 'passed', { expectations: [
        { metric: 'targeted_success', measured: 0.95, threshold: { min: 0.5 }, passed: true },
        { metric: 'psnr', measured: 46, threshold: { min: 30 }, passed: true },
        { metric: 'linf', measured: Number.NaN, threshold: { max: 0.1 }, passed: false },
      ] }),
      scenarioResult('new', 'passed'),
    ]);
    const r = compareWithBaseline(now, base, parseTolerances([]));
    expect(r).toEqual({ compared: 2, regressions: [] });
    const inf = runResults([scenarioResult('a', 'passed', { metrics: { psnr: Number.POSITIVE_INFINITY } })]);
    const same = runResults([scenarioResult('a', 'passed', { expectations: [{ metric: 'psnr', measured: Number.POSITIVE_INFINITY, threshold: { min: 30 }, passed: true }] })]);
    expect(compareWithBaseline(same, inf, parseTolerances([])).regressions).toEqual([]);
  });

  it('reads tolerances: a default and per-metric values', () => {
    const t = parseTolerances(['0.05', 'psnr=0.5']);
    expect(toleranceFor(t, 'psnr')).toBe(0.5);
    expect(toleranceFor(t, 'ssim')).toBe(0.05);
    expect(toleranceFor(parseTolerances(undefined), 'ssim')).toBe(0.02);
    expect(() => parseTolerances(['psnr=-1'])).toThrow(/--tolerance/);
  });
});

describe('pictures', () => {
  it('round-trips PNG text chunks (seed and path of a counterexample)', async () => {
    const png = new Uint8Array(await encodePng({ data: new Uint8Array(4 * 4 * 3).fill(128), width: 4, height: 4 }));
    const tagged = addPngText(png, { 'unit-attack:seed': '42', 'unit-attack:path': '3:1:0' });
    expect(readPngText(tagged)).toEqual({ 'unit-attack:seed': '42', 'unit-attack:path': '3:1:0' });
    const sharp = (await import('sharp')).default;
    expect((await sharp(tagged).metadata()).width).toBe(4);
  });

  it('resamples maps bilinearly and colours heatmaps at the image size', () => {
    expect(Array.from(resampleMap([0, 1, 2, 3], 2, 2, 2, 2))).toEqual([0, 1, 2, 3]);
    const up = resampleMap([0, 2], 1, 2, 1, 4);
    expect(Array.from(up)).toEqual([0, 0.5, 1.5, 2]);
    const h = heatmapOverlay({ data: new Uint8Array(8 * 8 * 3).fill(200), width: 8, height: 8 }, [0, 1, -1, 0], 2, 2, { signed: true });
    expect(h.width).toBe(8);
    expect(h.data.length).toBe(8 * 8 * 3);
  });
});
