/**
 * GitHub Actions output: workflow-command annotations that point at the scenario line of each failing expectation
 * or invalid field, and a Markdown job summary with the results table and every issue of invalid files.
 */
import { describeExpectation, formatMeasured } from './format.js';
import type { RunResults, ScenarioResult } from './types.js';

/** Where an expectation of a scenario is written, to point an annotation at it. */
export type LineOf = (scenario: ScenarioResult, metric: string) => number | undefined;

/** Escapes an annotation message (data) as the runner expects. */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes an annotation property (file, title). */
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function annotation(level: 'error' | 'warning', props: { file?: string; line?: number; col?: number; title: string }, message: string): string {
  const p = [
    props.file !== undefined ? `file=${escapeProperty(props.file)}` : '',
    props.line !== undefined ? `line=${props.line}` : '',
    props.col !== undefined ? `col=${props.col}` : '',
    `title=${escapeProperty(props.title)}`,
  ].filter(Boolean).join(',');
  return `::${level} ${p}::${escapeData(message)}`;
}

interface IssueDetail { path: string; message: string; file: string; line?: number; column?: number; hint?: string }

function issuesOf(s: ScenarioResult): IssueDetail[] {
  const issues = (s.details as { issues?: IssueDetail[] }).issues;
  return Array.isArray(issues) ? issues : [];
}

/**
 * The annotations of a run: one `::error` per failing expectation (at its line in the scenario file), per issue of an
 * invalid file (at the field), per scenario that could not run, and per regression; `::warning` for warnings.
 */
export function githubAnnotations(results: RunResults, lineOf: LineOf = () => undefined): string[] {
  const out: string[] = [];
  for (const s of results.scenarios) {
    if (s.task === 'invalid') {
      for (const i of issuesOf(s)) {
        out.push(annotation('error', { file: i.file, ...(i.line !== undefined ? { line: i.line } : {}), ...(i.column !== undefined ? { col: i.column } : {}), title: `invalid scenario: ${i.path}` },
          i.message + (i.hint ? `\nhint: ${i.hint}` : '')));
      }
      continue;
    }
    if (s.status === 'error' && s.error) {
      out.push(annotation('error', { file: s.error.file ?? s.file, ...(s.error.line !== undefined ? { line: s.error.line } : {}), title: `${s.name}: could not run` },
        s.error.message + (s.error.hint ? `\nhint: ${s.error.hint}` : '')));
    }
    for (const e of s.expectations) {
      if (e.passed) continue;
      const line = lineOf(s, e.metric);
      out.push(annotation('error', { file: s.file, ...(line !== undefined ? { line } : {}), title: `${s.name}: ${e.metric}` }, describeExpectation(e)));
    }
    for (const w of s.warnings) out.push(annotation('warning', { file: s.file, title: s.name }, w));
  }
  for (const r of results.baseline?.regressions ?? []) {
    const s = results.scenarios.find((x) => x.name === r.scenario);
    const line = s ? lineOf(s, r.metric) : undefined;
    out.push(annotation('error', { ...(s ? { file: s.file } : {}), ...(line !== undefined ? { line } : {}), title: `${r.scenario}: ${r.metric} regressed` },
      `${r.metric} regressed from ${formatMeasured(r.metric, r.baseline)} to ${formatMeasured(r.metric, r.measured)} (tolerance ${r.tolerance})`));
  }
  return out;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
}

/** The job summary: the verdict, a table of every expectation, and every issue of invalid files. Markdown. */
export function githubSummary(results: RunResults): string {
  const icon = (ok: boolean): string => (ok ? '✅' : '❌');
  const out: string[] = ['### unit-attack scenarios', ''];
  const sm = results.summary;
  out.push(`${icon(results.passed)} **${results.passed ? 'passed' : 'failed'}** (exit code ${results.exitCode}): ${sm.passed} of ${sm.scenarios} scenarios passed`
    + `${sm.failed ? `, ${sm.failed} failed` : ''}${sm.errored ? `, ${sm.errored} could not run` : ''}; ${sm.expectations - sm.failedExpectations} of ${sm.expectations} expectations held.`, '');
  const rows = results.scenarios.filter((s) => s.task !== 'invalid');
  if (rows.length > 0) {
    out.push('| scenario | expectation | measured | | status |', '| --- | --- | ---: | --- | --- |');
    for (const s of rows) {
      if (s.status === 'error') out.push(`| ${cell(s.name)} | could not run | | | ❌ ${cell(s.error?.message ?? '')} |`);
      for (const e of s.expectations) {
        const bound = [e.threshold.min !== undefined ? `≥ ${formatMeasured(e.metric, e.threshold.min)}` : '', e.threshold.max !== undefined ? `≤ ${formatMeasured(e.metric, e.threshold.max)}` : ''].filter(Boolean).join(', ');
        out.push(`| ${cell(s.name)} | ${cell(e.metric)} | ${cell(formatMeasured(e.metric, e.measured))} | ${cell(bound)} | ${icon(e.passed)} |`);
      }
    }
    out.push('');
  }
  const invalid = results.scenarios.filter((s) => s.task === 'invalid');
  if (invalid.length > 0) {
    out.push(`#### ${invalid.length} invalid scenario file${invalid.length === 1 ? '' : 's'}: nothing was run`, '');
    for (const s of invalid) {
      out.push(`**${cell(s.file)}**`, '');
      for (const i of issuesOf(s)) out.push(`- \`${i.path}\` (line ${i.line ?? '?'}): ${i.message}${i.hint ? ` — ${i.hint}` : ''}`);
      out.push('');
    }
  }
  for (const r of results.baseline?.regressions ?? []) {
    out.push(`- ❌ ${cell(r.scenario)}: ${r.metric} regressed from ${formatMeasured(r.metric, r.baseline)} to ${formatMeasured(r.metric, r.measured)} (tolerance ${r.tolerance})`);
  }
  return out.join('\n') + '\n';
}
