import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SRC, importsOf, importsOfText, srcRelative, tsFilesBelow, type ImportEdge } from '../import-scan.js';

// Threads belong to parallel/: every other folder starts its worker threads and talks to its parent through
// parallel/thread.ts, never through node:worker_threads itself.

const PARALLEL = path.join(SRC, 'parallel') + path.sep;

const isWorkerThreads = (e: ImportEdge): boolean => e.specifier === 'node:worker_threads' || e.specifier === 'worker_threads';

/** The files outside src/parallel that import worker_threads (statically, types only, re-exported or with `import()`). */
function threadsOutsideParallel(imports: (file: string) => ImportEdge[] = importsOf): string[] {
  return tsFilesBelow(SRC).filter((f) => !f.startsWith(PARALLEL) && imports(f).some(isWorkerThreads)).map(srcRelative);
}

describe('worker_threads is imported in src/parallel only', () => {
  it('has no import of worker_threads outside src/parallel', () => {
    expect(threadsOutsideParallel()).toEqual([]);
  });

  it('finds the import in parallel/thread.ts', () => {
    const inParallel = tsFilesBelow(PARALLEL).filter((f) => importsOf(f).some(isWorkerThreads)).map(srcRelative);
    expect(inParallel).toContain('parallel/thread.ts');
  });

  it('names an import of worker_threads added elsewhere, in any form', () => {
    const pool = path.join(SRC, 'gan', 'pool.ts');
    const worker = path.join(SRC, 'scenarios', 'pool-tasks.ts');
    const added = (text: string) => (f: string): ImportEdge[] => (f === pool || f === worker ? importsOfText(f, text) : importsOf(f));
    for (const text of [
      "import { Worker } from 'node:worker_threads';\n",
      "import type { Worker } from 'node:worker_threads';\n",
      "import { parentPort } from 'worker_threads';\n",
      "export { workerData } from 'node:worker_threads';\n",
      "const { parentPort } = await import('node:worker_threads');\n",
    ]) {
      expect(threadsOutsideParallel(added(text)), text).toEqual(['gan/pool.ts', 'scenarios/pool-tasks.ts']);
    }
  });
});
