import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SRC, importsOf, importsOfText, srcRelative, tsFilesBelow, type ImportEdge } from './import-scan.js';

// A folder's `_internals/` are its own: files of other folders use what it exposes in its public modules
// (`src/Y/_internals/…` may be imported from inside `src/Y/` only). Test files are not scanned.

/** The folder that owns the `_internals/` folder `file` lies in (absolute, with a trailing separator), if any. */
function internalsOwner(file: string): string | undefined {
  const parts = file.split(path.sep);
  const i = parts.lastIndexOf('_internals');
  return i > 0 ? parts.slice(0, i).join(path.sep) + path.sep : undefined;
}

/** The imports of src/ that reach into another folder's `_internals/`, as `importer -> imported` (relative to src/). */
function crossInternalImports(imports: (file: string) => ImportEdge[] = importsOf): string[] {
  const out: string[] = [];
  for (const f of tsFilesBelow(SRC)) {
    for (const e of imports(f)) {
      const owner = e.resolved ? internalsOwner(e.resolved) : undefined;
      if (owner && !f.startsWith(owner)) out.push(`${srcRelative(f)} -> ${srcRelative(e.resolved!)}`);
    }
  }
  return out;
}

describe("no folder imports another folder's _internals", () => {
  it('has no import of src/Y/_internals from outside src/Y', () => {
    expect(crossInternalImports()).toEqual([]);
  });

  it('allows a folder its own _internals, its subfolders included', () => {
    const run = path.join(SRC, 'attacks', 'unit', 'run.ts');
    expect(importsOf(run).some((e) => e.resolved && internalsOwner(e.resolved) === path.join(SRC, 'attacks') + path.sep)).toBe(true);
  });

  it('names an import of another folder\'s _internals added to a file, in any form', () => {
    const generator = path.join(SRC, 'gan', 'generator.ts');
    const coordinator = path.join(SRC, 'parallel', 'queue', 'coordinator.ts');
    const added = (file: string, text: string) => (f: string): ImportEdge[] => (f === file ? [...importsOf(f), ...importsOfText(f, text)] : importsOf(f));
    const cases: Array<[string, string, string]> = [
      [generator, "import { Prng } from '../attacks/_internals/random.js';\n", 'gan/generator.ts -> attacks/_internals/random.ts'],
      [coordinator, "import type { ShardOutput } from '../../dissection/_internals/shards.js';\n", 'parallel/queue/coordinator.ts -> dissection/_internals/shards.ts'],
      [coordinator, "export { shardTransfer } from '../../dissection/_internals/shards.js';\n", 'parallel/queue/coordinator.ts -> dissection/_internals/shards.ts'],
      [generator, "const m = await import('../dissection/_internals/passes.js');\n", 'gan/generator.ts -> dissection/_internals/passes.ts'],
    ];
    for (const [file, text, found] of cases) expect(crossInternalImports(added(file, text)), text).toEqual([found]);
  });
});
