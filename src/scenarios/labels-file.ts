/** Labels files of folder inputs: CSV or JSON lines that give each image its class. */
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT_PATH, ScenarioError, scenarioError, type ScenarioIssue } from './errors.js';
import { lineOf, parseText } from './source.js';
import type { LabelledFile } from './types.js';

/**
 * Reads a labels file: CSV lines `file,class` (an optional header line naming `file` and `class` or `label`;
 * `#` comments) or JSON (`{"a.png": "bedroom"}` or `[{"file": "a.png", "class": "bedroom"}]`). Image paths are
 * relative to `folder`. Every image named must exist.
 */
export async function readLabelsFile(labelsFile: string, folder: string): Promise<LabelledFile[]> {
  let text: string;
  try {
    text = await fs.readFile(labelsFile, 'utf8');
  } catch (err) {
    throw scenarioError({ code: 'unreadable', path: ROOT_PATH, message: `cannot read the labels file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file: labelsFile });
  }
  const raw: Array<{ file: unknown; label: unknown; line: number; path: string }> = [];
  const issues: ScenarioIssue[] = [];
  if (path.extname(labelsFile).toLowerCase() === '.json') {
    const { data, source } = parseText(text, labelsFile, 'json');
    const line = (p: PropertyKey[]): number => lineOf(source, p) ?? 1;
    if (Array.isArray(data)) {
      data.forEach((e: unknown, i) => {
        const o = (e ?? {}) as Record<string, unknown>;
        raw.push({ file: o.file, label: o.class ?? o.label, line: line([i]), path: `[${i}]` });
      });
    } else if (data !== null && typeof data === 'object') {
      for (const [k, v] of Object.entries(data)) raw.push({ file: k, label: v, line: line([k]), path: k });
    } else {
      throw scenarioError({ code: 'invalid_type', path: ROOT_PATH, message: 'a JSON labels file must be a mapping {"file": "class"} or a list of {"file", "class"}', file: labelsFile, line: 1 });
    }
  } else {
    const rows = text.split(/\r?\n/);
    rows.forEach((row, i) => {
      const t = row.trim();
      if (t === '' || t.startsWith('#')) return;
      const cells = splitCsv(t);
      if (i === rows.findIndex((r) => r.trim() !== '' && !r.trim().startsWith('#'))
        && /^(file|filename|image|path)$/i.test(cells[0] ?? '') && /^(class|label|category)$/i.test(cells[1] ?? '')) return;
      raw.push({ file: cells[0], label: cells[1], line: i + 1, path: `line ${i + 1}` });
    });
  }
  const seen = new Set<string>();
  const out: LabelledFile[] = [];
  for (const r of raw) {
    const where = { file: labelsFile, line: r.line, path: r.path };
    if (typeof r.file !== 'string' || r.file.trim() === '') {
      issues.push({ ...where, code: 'invalid_value', message: 'an entry names no image file' });
      continue;
    }
    const label = typeof r.label === 'string' ? r.label.trim() : r.label;
    if (!((typeof label === 'string' && label !== '') || (typeof label === 'number' && Number.isInteger(label) && label >= 0))) {
      issues.push({ ...where, code: 'invalid_value', message: `the image '${r.file}' has no class`, hint: 'write file,class — a class name of the model or a class index' });
      continue;
    }
    const abs = path.resolve(folder, r.file.trim());
    if (seen.has(abs)) {
      issues.push({ ...where, code: 'conflict', message: `the image '${r.file}' is listed twice` });
      continue;
    }
    seen.add(abs);
    if (!existsSync(abs)) {
      issues.push({ ...where, code: 'not_found', message: `no image '${r.file}' in ${folder}` });
      continue;
    }
    out.push({ file: abs, label: label, line: r.line });
  }
  if (issues.length > 0) throw new ScenarioError(issues);
  if (out.length === 0) throw scenarioError({ code: 'invalid_value', path: ROOT_PATH, message: 'the labels file names no images', file: labelsFile, line: 1 });
  return out;
}

function splitCsv(line: string): string[] {
  const cells: string[] = [];
  let cur = ''; let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',' || ch === ';' || ch === '\t') { cells.push(cur.trim()); cur = ''; } else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}
