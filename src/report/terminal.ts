/**
 * The terminal report: per scenario, a table of expectations (measured value, threshold, verdict), errored inputs,
 * warnings and baseline regressions, then a summary line. Returns text; the CLI prints it.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { formatGate, formatMeasured, formatSeconds, formatWithInterval } from './format.js';
import type { RunResults, ScenarioResult } from './types.js';

/** Options for {@link terminalReport}. */
export interface TerminalReportOptions {
  /** Colour level (0 none … 3 truecolor). @defaultValue 0 */
  color?: 0 | 1 | 2 | 3;
  /** Also list metrics that no expectation names. @defaultValue false */
  allMetrics?: boolean;
}

 
const ANSI = /\u001b\[[0-9;]*m/g;
const visible = (s: string): number => [...s.replace(ANSI, '')].length;

function table(rows: string[][], c: ChalkInstance, indent = '  '): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => visible(r[i] ?? ''))));
  return rows.map((r, k) => {
    const line = r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i] - visible(cell)))).join('  ');
    return indent + (k === 0 ? c.bold(line) : line);
  });
}

function scenarioBlock(s: ScenarioResult, results: RunResults, c: ChalkInstance, allMetrics: boolean): string[] {
  const mark = s.status === 'passed' ? c.green('✔') : s.status === 'failed' ? c.red('✖') : c.magenta('!');
  const lines = [`${mark} ${c.bold(s.name)} ${c.dim(`(${s.file}, ${formatSeconds(s.durations.total ?? 0)})`)}`];
  if (s.error) {
    const where = [s.error.path ? `at ${s.error.path}` : '', s.error.file ? `(${s.error.file}${s.error.line !== undefined ? `:${s.error.line}` : ''})` : ''].filter(Boolean).join(' ');
    lines.push(`  ${c.red('✖')} ${s.error.message}${where ? c.dim(` → ${where}`) : ''}`);
    if (s.error.hint) lines.push(`    ${c.yellow('hint:')} ${s.error.hint.replace(/\n/g, '\n    ')}`);
  }
  if (s.expectations.length > 0) {
    const rows = [['metric', 'measured', 'threshold', 'verdict']];
    for (const e of s.expectations) {
      rows.push([e.metric, formatWithInterval(e.metric, e.measured, s.intervals?.[e.metric]), formatGate(e), e.passed ? c.green('✔ pass') : c.red('✖ fail')]);
    }
    if (allMetrics) {
      for (const [k, v] of Object.entries(s.metrics)) {
        if (!s.expectations.some((e) => e.metric === k)) rows.push([c.dim(k), c.dim(formatWithInterval(k, v, s.intervals?.[k])), c.dim('—'), '']);
      }
    }
    lines.push(...table(rows, c));
  }
  const errored = s.inputs.errored;
  if (errored.length > 0) {
    const over = errored.length > s.inputs.allowErrors;
    lines.push(`  ${over ? c.red('✖') : c.yellow('!')} ${errored.length} of ${s.inputs.total} inputs could not be used (allowErrors ${s.inputs.allowErrors})`);
    for (const e of errored.slice(0, 5)) lines.push(c.dim(`    ${e.id}: ${e.reason}`));
    if (errored.length > 5) lines.push(c.dim(`    … and ${errored.length - 5} more`));
  }
  for (const r of results.baseline?.regressions.filter((x) => x.scenario === s.name) ?? []) {
    lines.push(`  ${c.red('✖')} ${r.metric} regressed: ${formatMeasured(r.metric, r.baseline)} → ${formatMeasured(r.metric, r.measured)} (tolerance ${r.tolerance})`);
  }
  const cx = s.details.counterexample as { seed?: number; path?: string; replay?: string } | undefined;
  if (cx?.replay) lines.push(`  ${c.yellow('counterexample')} seed ${cx.seed} path ${cx.path}: replay with ${c.cyan(cx.replay)}`);
  for (const w of s.warnings) lines.push(`  ${c.yellow('warning:')} ${w}`);
  return lines;
}

/**
 * The run as text for a terminal.
 *
 * @example
 * io.out(terminalReport(results, { color: 1 }));
 */
export function terminalReport(results: RunResults, options: TerminalReportOptions = {}): string {
  const c = new Chalk({ level: options.color ?? 0 });
  const lines: string[] = [];
  for (const s of results.scenarios) {
    lines.push(...scenarioBlock(s, results, c, options.allMetrics ?? false), '');
  }
  const m = results.summary;
  const parts = [`${m.passed} passed`, m.failed > 0 ? c.red(`${m.failed} failed`) : `${m.failed} failed`];
  if (m.errored > 0) parts.push(c.magenta(`${m.errored} could not run`));
  let summary = `${m.scenarios} scenario${m.scenarios === 1 ? '' : 's'}: ${parts.join(', ')}; `
    + `${m.expectations - m.failedExpectations}/${m.expectations} expectations held`;
  if (results.baseline) {
    const n = results.baseline.regressions.length;
    summary += `; baseline: ${n === 0 ? 'no regression' : c.red(`${n} regression${n === 1 ? '' : 's'}`)} in ${results.baseline.compared} figures`;
  }
  summary += c.dim(` (${formatSeconds(results.durations.total)}${results.backend ? `, ${results.backend.name} backend` : ''})`);
  lines.push((results.passed ? c.green('✔ ') : c.red('✖ ')) + summary);
  return lines.join('\n');
}
