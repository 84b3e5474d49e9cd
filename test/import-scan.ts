/**
 * A static scan of the import statements of src/: what each file imports (`import … from`, `export … from`,
 * `import(…)` with a literal), read with the TypeScript parser without compiling anything.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const SRC = path.resolve(import.meta.dirname, '../src');

/** One import of a file: its specifier, the file it resolves to (relative imports only) and whether only types come in. */
export interface ImportEdge {
  specifier: string;
  /** Absolute path of the imported `.ts` file, for a relative specifier. */
  resolved?: string;
  typeOnly: boolean;
  /** The names taken in as values (`default` for a default import); empty for `export … from` and `import(…)`. */
  names: string[];
}

/** Every `.ts` file below `dir`, absolute, sorted. */
export function tsFilesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFilesBelow(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return path.resolve(path.dirname(from), specifier).replace(/\.js$/, '.ts');
}

/** The imports of a source text (`file` resolves relative specifiers). */
export function importsOfText(file: string, text: string): ImportEdge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: ImportEdge[] = [];
  const add = (specifier: string, typeOnly: boolean, names: string[] = []): void => {
    const resolved = resolve(file, specifier);
    out.push({ specifier, ...(resolved ? { resolved } : {}), typeOnly, names });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const typeOnly = !!clause && (clause.isTypeOnly || (!clause.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      const names = typeOnly || clause?.isTypeOnly ? [] : [...(clause?.name ? ['default'] : []), ...(named ?? []).filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text)];
      add(node.moduleSpecifier.text, typeOnly, names);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The imports of a file. */
export function importsOf(file: string): ImportEdge[] {
  return importsOfText(file, readFileSync(file, 'utf8'));
}

/** `start` and every file it imports (relative imports, transitively) for which `within` holds. */
export function importClosure(start: readonly string[], within: (file: string) => boolean): string[] {
  const seen = new Set<string>();
  const stack = [...start];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const e of importsOf(f)) if (e.resolved && within(e.resolved) && !seen.has(e.resolved)) stack.push(e.resolved);
  }
  return [...seen].sort();
}

/** `file` relative to src/, with forward slashes. */
export const srcRelative = (file: string): string => path.relative(SRC, file).split(path.sep).join('/');
