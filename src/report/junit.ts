/**
 * JUnit XML: a `<testsuite>` per scenario and a `<testcase>` per expectation, so that CI systems (GitHub Actions
 * test reporters, GitLab `artifacts:reports:junit`, Jenkins) list every gate. A failed expectation is a
 * `<failure>` with the measured value and the threshold; a scenario that could not run is an `<error>`; inputs that
 * could not be read beyond `allowErrors` and baseline regressions are failing test cases of their own; the
 * expectations of a scenario that could not run are skipped.
 */
import { describeExpectation, formatMeasured } from './format.js';
import type { RunResults, ScenarioResult } from './types.js';

// Characters XML 1.0 does not allow at all (C0 controls but tab/newline/return, lone surrogates, U+FFFE/U+FFFF).
 
const INVALID_XML = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text for XML attributes and content, dropping characters XML cannot hold. */
export function xmlEscape(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\r/g, '&#13;');
}

const secs = (s: number): string => (Number.isFinite(s) && s >= 0 ? s : 0).toFixed(3);

interface Case {
  name: string;
  skipped?: string;
  failure?: { message: string; type: string; body: string };
  error?: { message: string; type: string; body: string };
}

function casesOf(s: ScenarioResult, results: RunResults): Case[] {
  const cases: Case[] = [];
  if (s.status === 'error' && s.error) {
    const e = s.error;
    const where = [e.path ? `at ${e.path}` : '', e.file ? `${e.file}${e.line !== undefined ? `:${e.line}` : ''}` : ''].filter(Boolean).join(' ');
    cases.push({
      name: 'scenario',
      error: { message: e.message, type: e.code, body: [e.message, where, e.hint ? `hint: ${e.hint}` : ''].filter(Boolean).join('\n') },
    });
  }
  for (const x of s.expectations) {
    const c: Case = { name: x.metric };
    if (s.status === 'error') {
      c.skipped = 'the scenario could not run';
    } else if (!x.passed) {
      const text = describeExpectation(x);
      c.failure = {
        message: text, type: 'expectation',
        body: `${text}\nmeasured: ${formatMeasured(x.metric, x.measured)}\n`
          + (x.threshold.min !== undefined ? `min: ${formatMeasured(x.metric, x.threshold.min)}\n` : '')
          + (x.threshold.max !== undefined ? `max: ${formatMeasured(x.metric, x.threshold.max)}\n` : ''),
      };
    }
    cases.push(c);
  }
  const errored = s.inputs.errored.length;
  if (errored > 0) {
    const c: Case = { name: 'inputs' };
    if (errored > s.inputs.allowErrors) {
      const message = `${errored} input${errored === 1 ? '' : 's'} could not be used; allowErrors is ${s.inputs.allowErrors}`;
      c.failure = { message, type: 'inputs', body: [message, ...s.inputs.errored.map((e) => `${e.id}: ${e.reason}`)].join('\n') };
    }
    cases.push(c);
  }
  for (const r of results.baseline?.regressions.filter((x) => x.scenario === s.name) ?? []) {
    const message = `${r.metric} regressed from ${formatMeasured(r.metric, r.baseline)} to ${formatMeasured(r.metric, r.measured)} (tolerance ${r.tolerance}; ${r.better} is better)`;
    cases.push({ name: `baseline ${r.metric}`, failure: { message, type: 'regression', body: message } });
  }
  return cases;
}

/**
 * The JUnit XML document of a run.
 *
 * @example
 * await writeAtomic('out/junit.xml', junitXml(results));
 */
export function junitXml(results: RunResults): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const suites = results.scenarios.map((s) => ({ s, cases: casesOf(s, results) }));
  const count = (pred: (c: Case) => boolean): number => suites.reduce((a, x) => a + x.cases.filter(pred).length, 0);
  out.push(`<testsuites name="unit-attack" tests="${count(() => true)}" failures="${count((c) => c.failure !== undefined)}" errors="${count((c) => c.error !== undefined)}" skipped="${count((c) => c.skipped !== undefined)}" time="${secs(results.durations.total)}">`);
  for (const { s, cases } of suites) {
    const total = s.durations.total ?? 0;
    const each = cases.length > 0 ? total / cases.length : 0;
    out.push(`  <testsuite name="${xmlEscape(s.name)}" tests="${cases.length}" failures="${cases.filter((c) => c.failure).length}" errors="${cases.filter((c) => c.error).length}" skipped="${cases.filter((c) => c.skipped !== undefined).length}" time="${secs(total)}" timestamp="${xmlEscape(results.created.replace(/\.\d+Z$/, ''))}" file="${xmlEscape(s.file)}">`);
    const props: Array<[string, string]> = [
      ['file', s.file], ['task', s.task],
      ...(s.model ? [['model', s.model.spec], ['model.fingerprint', s.model.fingerprint]] as Array<[string, string]> : []),
      ...Object.entries(s.seeds).map(([k, v]) => [`seed.${k}`, String(v)] as [string, string]),
      ...(results.backend ? [['backend', results.backend.name], ['tfjs', results.backend.tfjsVersion]] as Array<[string, string]> : []),
    ];
    out.push('    <properties>');
    for (const [k, v] of props) out.push(`      <property name="${xmlEscape(k)}" value="${xmlEscape(v)}"/>`);
    out.push('    </properties>');
    for (const c of cases) {
      const head = `    <testcase classname="${xmlEscape(s.name)}" name="${xmlEscape(c.name)}" file="${xmlEscape(s.file)}" time="${secs(each)}"`;
      if (c.skipped !== undefined) { out.push(`${head}><skipped message="${xmlEscape(c.skipped)}"/></testcase>`); continue; }
      const body = c.failure ?? c.error;
      if (!body) { out.push(head + '/>'); continue; }
      const tag = c.failure ? 'failure' : 'error';
      out.push(head + '>');
      out.push(`      <${tag} message="${xmlEscape(body.message)}" type="${xmlEscape(body.type)}">${xmlEscape(body.body)}</${tag}>`);
      out.push('    </testcase>');
    }
    const log = [
      ...Object.entries(s.metrics).map(([k, v]) => `${k} = ${formatMeasured(k, v)}`),
      ...s.warnings.map((w) => `warning: ${w}`),
    ];
    if (log.length > 0) out.push(`    <system-out>${xmlEscape(log.join('\n'))}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
