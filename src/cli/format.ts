import chalk from 'chalk';
import { UnitAttackError } from '../errors.js';
import { flagOf } from './flags.js';

/** Formats an error for the terminal: `✖ message → at path (file)` and the hint. */
export function formatError(err: unknown, debug: boolean): string {
  if (err instanceof UnitAttackError) {
    // A library error names its field; the command line shows the flag that sets it.
    const where = [err.path ? `at ${flagOf(err.path) ?? err.path}` : '', err.file && !err.message.includes(err.file) ? `(${err.file})` : '']
      .filter(Boolean).join(' ');
    let s = chalk.red('✖ ') + err.message + (where ? chalk.dim(` → ${where}`) : '');
    if (err.hint) s += '\n' + chalk.yellow('  hint: ') + err.hint.replace(/\n/g, '\n  ');
    if (debug && err.stack) s += '\n' + chalk.dim(err.stack);
    return s;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  let s = chalk.red('✖ internal error: ') + e.message;
  s += debug ? '\n' + chalk.dim(e.stack ?? '') : chalk.dim('\n  run again with --debug for the stack trace');
  return s;
}

/** A plain aligned table; the first row is the header. */
export function table(rows: string[][], align: Array<'l' | 'r'> = []): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => stripAnsi(r[c] ?? '').length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => {
      const pad = ' '.repeat(Math.max(0, widths[c] - stripAnsi(cell).length));
      return align[c] === 'r' ? pad + cell : cell + pad;
    }).join('  ').trimEnd();
    return i === 0 ? chalk.bold(line) : line;
  }).join('\n');
}

 
const ANSI = /\u001b\[[0-9;]*m/g;
export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}
