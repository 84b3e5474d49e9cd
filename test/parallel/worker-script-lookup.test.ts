import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SRC, importsOf, srcRelative, tsFilesBelow } from '../import-scan.js';

// Finding a worker script (compiled beside the module, or its source through tsx, or the built package's copy) is
// done in parallel/thread.ts only, and only the executor and the queue's processor start threads.

const LOOKUP = /tsx\/esm\/api|`\.\/\$\{name\}\.(js|ts)`|'\.\/[\w-]+\.(js|ts)', import\.meta\.url/;

describe('the worker-script lookup', () => {
  it('exists once, in parallel/thread.ts', () => {
    const found = tsFilesBelow(SRC).filter((f) => LOOKUP.test(readFileSync(f, 'utf8'))).map(srcRelative);
    expect(found).toEqual(['parallel/thread.ts']);
  });

  it('is used only inside src/parallel: every other folder runs its threads as executor tasks', () => {
    const helper = path.join(SRC, 'parallel', 'thread.ts');
    const users = tsFilesBelow(SRC).filter((f) => importsOf(f).some((e) => e.resolved === helper)).map(srcRelative).sort();
    expect(users).toEqual(['parallel/executor.ts', 'parallel/queue/worker.ts', 'parallel/threads.ts', 'parallel/worker.ts']);
  });
});
