/**
 * The text of a scenario file (YAML or JSON) with the line of every field, and issues placed at a field's line.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { ROOT_PATH, scenarioError, type ScenarioError, type ScenarioIssue, type ScenarioIssueCode } from './errors.js';
import type { ScenarioSource } from './types.js';

/** Formats a path array as `a.b[1].c`; the empty path is `(root)`. */
export function formatPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const seg of p) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += (s === '' ? '' : '.') + String(seg);
  }
  return s === '' ? ROOT_PATH : s;
}

/** A parsed scenario or labels file: its data, and the line of each field. */
export interface Parsed {
  data: unknown;
  source: ScenarioSource;
}

/** A parsed YAML/JSON document with the line of every field path. */
export function parseText(text: string, file: string, format: 'yaml' | 'json'): Parsed {
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
