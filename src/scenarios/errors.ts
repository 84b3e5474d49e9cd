/**
 * Scenario errors are data: each issue has a stable code, the field path (`attack.epsilon`), a message, and the
 * file and line it is about, and prints as `✖ epsilon must be ≤ 1 → at attack.epsilon (scenarios/x.yaml:7)`.
 */
import path from 'node:path';
import { UnitAttackError } from '../errors.js';

/** What is wrong with a scenario file. */
export type ScenarioIssueCode =
  | 'syntax' // not YAML / JSON, several documents, empty file
  | 'unknown_key' // a key the schema does not have
  | 'missing_key' // a required key is absent
  | 'invalid_type' // a value of the wrong type
  | 'invalid_value' // a value of the right type out of range or not among the choices
  | 'conflict' // keys that cannot go together, or a key that needs another
  | 'not_found' // a file, folder, model, class or concept the scenario names does not exist
  | 'unreadable'; // a file the scenario names cannot be read or parsed

/** One problem with a scenario file. */
export interface ScenarioIssue {
  code: ScenarioIssueCode;
  /** The field path, e.g. `attack.epsilon` or `inputs.synthetic.class[1]`; `(root)` for the whole file. */
  path: string;
  message: string;
  /** The file the issue is in (the scenario file, or e.g. the labels file it names). */
  file: string;
  /** 1-based line, when known. */
  line?: number;
  /** 1-based column, when known. */
  column?: number;
  /** What the user can do about it. */
  hint?: string;
}

/** The path of the whole document. */
export const ROOT_PATH = '(root)';

/** A file path as shown to the user: relative to the working folder when it is below it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** `file:line` (or `file` when the line is unknown), relative to the working folder. */
export function issueLocation(issue: Pick<ScenarioIssue, 'file' | 'line'>): string {
  return issue.line === undefined ? displayPath(issue.file) : `${displayPath(issue.file)}:${issue.line}`;
}

/** `✖ message → at path (file:line)` and the hint on the next line, without colour. */
export function formatIssue(issue: ScenarioIssue): string {
  const head = `✖ ${issue.message} → at ${issue.path} (${issueLocation(issue)})`;
  return issue.hint ? `${head}\n  hint: ${issue.hint.replace(/\n/g, '\n  ')}` : head;
}

/**
 * A scenario file that cannot be run. A `UA_INPUT` error (exit code 2 in the CLI) carrying every issue found;
 * `reason`, `path`, `file` and `line` are those of the first.
 */
export class ScenarioError extends UnitAttackError {
  readonly issues: readonly ScenarioIssue[];
  readonly reason: ScenarioIssueCode;
  override readonly path: string;
  override readonly file: string;
  readonly line: number | undefined;

  constructor(issues: readonly ScenarioIssue[], options: { cause?: unknown } = {}) {
    if (issues.length === 0) throw new UnitAttackError('UA_INTERNAL', 'a ScenarioError needs at least one issue');
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
    super('UA_INPUT', first.message + more, {
      path: first.path, file: first.file,
      ...(first.hint !== undefined ? { hint: first.hint } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.name = 'ScenarioError';
    this.issues = issues;
    this.reason = first.code;
    this.path = first.path;
    this.file = first.file;
    this.line = first.line;
  }

  /** Every issue, one per line, as `✖ message → at path (file:line)`. */
  format(): string {
    return this.issues.map(formatIssue).join('\n');
  }
}

/** A scenario error with one issue. */
export function scenarioError(issue: ScenarioIssue, cause?: unknown): ScenarioError {
  return new ScenarioError([issue], cause === undefined ? {} : { cause });
}
