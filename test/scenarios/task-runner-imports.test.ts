import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { SRC, importClosure, importsOf, importsOfText, srcRelative, tsFilesBelow, type ImportEdge } from '../import-scan.js';

// The scenario task runner runs tasks and returns data (metrics, details, example images, charts); the report layer
// draws the pictures and plots. This scans the import statements of the runner's files for report modules that draw.

const SCENARIOS = path.join(SRC, 'scenarios');
const REPORT = path.join(SRC, 'report');
const RUNNERS = ['tasks.ts', 'generator-tasks.ts'].map((f) => path.join(SCENARIOS, f));

/** Names of functions that make pictures: PNG, SVG, heatmaps, charts, strips, grids. */
const PICTURE_NAME = /png|svg|picture|heatmap|overlay|chart|strip|grid/i;
/** Return types of functions that make pictures: an RGB image or encoded bytes. */
const PICTURE_TYPE = /\b(RgbImage|Buffer)\b/;

/** Whether a function of the text declares that it returns a picture. */
function returnsPicture(file: string, text: string): boolean {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  let found = false;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && !ts.isFunctionTypeNode(node) && node.type && PICTURE_TYPE.test(node.type.getText(sf))) found = true;
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

const drawing = new Map<string, boolean>();
/**
 * A report module draws when it imports sharp, writes SVG, declares a function that returns an image or PNG bytes,
 * or takes in (as values) a picture-making function or a report module that draws.
 */
function draws(file: string): boolean {
  const known = drawing.get(file);
  if (known !== undefined) return known;
  drawing.set(file, false); // an import cycle does not draw by itself
  const text = readFileSync(file, 'utf8');
  const result = text.includes('<svg') || returnsPicture(file, text)
    || importsOfText(file, text).some((e) => !e.typeOnly && (e.specifier === 'sharp' || e.names.some((n) => PICTURE_NAME.test(n))
      || (e.resolved !== undefined && e.resolved.startsWith(REPORT + path.sep) && draws(e.resolved))));
  drawing.set(file, result);
  return result;
}

/** `runner → report module` for every import of a report module that draws. */
function drawingImports(files: readonly string[], imports: (file: string) => ImportEdge[] = importsOf): string[] {
  return files.flatMap((f) => imports(f)
    .filter((e) => e.resolved !== undefined && e.resolved.startsWith(REPORT + path.sep) && draws(e.resolved))
    .map((e) => `${srcRelative(f)} → ${srcRelative(e.resolved!)}`));
}

const runnerFiles = (): string[] => importClosure(RUNNERS, (f) => f.startsWith(SCENARIOS + path.sep));

describe('the scenario task runner draws nothing', () => {
  it('takes in the task files and what they import within scenarios/', () => {
    const files = runnerFiles().map(srcRelative);
    expect(files).toEqual(expect.arrayContaining(['scenarios/tasks.ts', 'scenarios/generator-tasks.ts', 'scenarios/task-context.ts']));
    expect(files).not.toContain('scenarios/run.ts');
  });

  it('imports nothing from report/ that draws', () => {
    expect(drawingImports(runnerFiles())).toEqual([]);
  });

  it('tells the report modules that draw from those that do not', () => {
    const drawn = tsFilesBelow(REPORT).filter(draws).map(srcRelative);
    expect(drawn).toEqual(expect.arrayContaining(['bars.ts', 'plot.ts', 'heatmap.ts', 'images.ts', 'gan-report.ts', 'scenario-pictures.ts'].map((f) => `report/${f}`)));
    for (const f of ['types.ts', 'attack-json.ts', 'curve-table.ts', 'format.ts', 'json.ts']) expect(drawn).not.toContain(`report/${f}`);
  });

  it('would name a drawing import added to a task file', () => {
    const tasks = path.join(SCENARIOS, 'tasks.ts');
    const withChart = (f: string): ImportEdge[] => importsOfText(f, readFileSync(f, 'utf8') + (f === tasks ? "\nimport { barChartSvg } from '../report/bars.js';\n" : ''));
    expect(drawingImports(runnerFiles(), withChart)).toEqual(['scenarios/tasks.ts → report/bars.ts']);
  });
});
