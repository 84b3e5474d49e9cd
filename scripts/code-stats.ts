/**
 * Size figures of the source tree, measured with the TypeScript compiler API: the longest files, the longest
 * functions (declarations, methods, arrow functions and function expressions; a nested function also counts inside
 * the one that holds it), and how many exceed the limits the code aims for.
 *
 *   npx tsx scripts/code-stats.ts [dir=src] [--top N] [--file-limit 400] [--fn-limit 60]
 *
 * A function is marked `table` when its body is a single returned (or arrow-bodied) object or array literal, or a
 * `switch` whose cases only return: plain tables, which the function limit does not aim at.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

interface FnStat { file: string; name: string; line: number; lines: number; table: boolean }

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const root = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--'))) ?? 'src';
const top = flag('--top', 10);
const fileLimit = flag('--file-limit', 400);
const fnLimit = flag('--fn-limit', 60);

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await tsFiles(p));
    else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

function fnName(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.FunctionLikeDeclaration;
  if (named.name) return named.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  if (ts.isCallExpression(parent)) {
    const first = parent.arguments[0];
    const label = first && ts.isStringLiteral(first) ? `('${first.text}')` : '';
    return `${parent.expression.getText(sf)}${label} callback`;
  }
  return '(anonymous)';
}

function isTable(node: ts.FunctionLikeDeclaration): boolean {
  const body = node.body;
  if (!body) return false;
  const literal = (e: ts.Expression | undefined): boolean => {
    while (e && ts.isParenthesizedExpression(e)) e = e.expression;
    return !!e && (ts.isObjectLiteralExpression(e) || ts.isArrayLiteralExpression(e));
  };
  if (!ts.isBlock(body)) return literal(body);
  const stmts = body.statements;
  if (stmts.length === 1 && ts.isReturnStatement(stmts[0])) return literal(stmts[0].expression);
  if (stmts.length === 1 && ts.isSwitchStatement(stmts[0])) {
    return stmts[0].caseBlock.clauses.every((c) => c.statements.every((s) => ts.isReturnStatement(s)));
  }
  return false;
}

async function main(): Promise<void> {
  const files = await tsFiles(root);
  const fileStats: Array<{ file: string; lines: number }> = [];
  const fns: FnStat[] = [];
  for (const file of files) {
    const text = await fs.readFile(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    fileStats.push({ file, lines: sf.getLineAndCharacterOfPosition(text.length).line + (text.endsWith('\n') ? 0 : 1) });
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node)
        || ts.isConstructorDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
        if (node.body) {
          const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
          const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
          fns.push({ file, name: fnName(node, sf), line: start + 1, lines: end - start + 1, table: isTable(node) });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  fileStats.sort((a, b) => b.lines - a.lines);
  fns.sort((a, b) => b.lines - a.lines);
  const total = fileStats.reduce((s, f) => s + f.lines, 0);
  console.log(`code stats of ${root}/: ${fileStats.length} files, ${total} lines, ${fns.length} functions`);
  console.log(`\nlongest files:`);
  for (const f of fileStats.slice(0, top)) console.log(`  ${String(f.lines).padStart(5)}  ${f.file}`);
  console.log(`\nlongest functions:`);
  for (const f of fns.slice(0, top)) console.log(`  ${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}${f.table ? '  [table]' : ''}`);
  const bigFiles = fileStats.filter((f) => f.lines > fileLimit);
  const bigFns = fns.filter((f) => f.lines > fnLimit);
  console.log(`\ncounts:`);
  console.log(`  files over ${fileLimit} lines: ${bigFiles.length}`);
  console.log(`  functions over ${fnLimit} lines: ${bigFns.length} (${bigFns.filter((f) => f.table).length} of them plain tables)`);
  for (const f of bigFns) console.log(`    ${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}${f.table ? '  [table]' : ''}`);
}

await main();
