import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SRC, importsOf, srcRelative, tsFilesBelow } from '../import-scan.js';

// Finding a worker script (compiled beside the module, or its source through tsx, or the built package's copy) is
// done in parallel/thread.ts only; every folder that starts threads asks it.

const LOOKUP = /tsx\/esm\/api|`\.\/\$\{name\}\.(js|ts)`|'\.\/[\w-]+\.(js|ts)', import\.meta\.url/;

describe('the worker-script lookup', () => {
  it('exists once, in parallel/thread.ts', () => {
    const found = tsFilesBelow(SRC).filter((f) => LOOKUP.test(readFileSync(f, 'utf8'))).map(srcRelative);
    expect(found).toEqual(['parallel/thread.ts']);
  });

  it('is what the dissection and generator worker starters use', () => {
    const helper = path.join(SRC, 'parallel', 'thread.ts');
    for (const f of ['dissection/_internals/worker-source.ts', 'gan/pool.ts']) {
      expect(importsOf(path.join(SRC, f)).map((e) => e.resolved), f).toContain(helper);
    }
  });
});
