import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SRC, importsOf, importsOfText, srcRelative, tsFilesBelow } from '../import-scan.js';

// Image I/O (sharp) belongs to data/: every other folder encodes, decodes and composes pictures through it.

const DATA = path.join(SRC, 'data') + path.sep;

/** The files outside src/data that import sharp (statically or with `import()`). */
function sharpOutsideData(imports: (file: string) => ReturnType<typeof importsOf> = importsOf): string[] {
  return tsFilesBelow(SRC).filter((f) => !f.startsWith(DATA) && imports(f).some((e) => e.specifier === 'sharp')).map(srcRelative);
}

describe('sharp is imported in src/data only', () => {
  it('has no import of sharp outside src/data', () => {
    expect(sharpOutsideData()).toEqual([]);
  });

  it('finds the imports of sharp in src/data, and one added elsewhere', () => {
    const inData = tsFilesBelow(DATA).filter((f) => importsOf(f).some((e) => e.specifier === 'sharp')).map(srcRelative);
    expect(inData).toContain('data/codec.ts');
    const plot = path.join(SRC, 'report', 'plot.ts');
    const added = (f: string): ReturnType<typeof importsOf> => (f === plot ? importsOfText(f, "import sharp from 'sharp';\n") : importsOf(f));
    expect(sharpOutsideData(added)).toEqual(['report/plot.ts']);
    const dynamic = (f: string): ReturnType<typeof importsOf> => (f === plot ? importsOfText(f, "const s = await import('sharp');\n") : importsOf(f));
    expect(sharpOutsideData(dynamic)).toEqual(['report/plot.ts']);
  });
});
