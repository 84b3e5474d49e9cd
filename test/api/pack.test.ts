import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

interface PackEntry { path: string; size: number }

/** The files `npm pack` would put in the tarball (dist/ is built by the test setup; scripts are not run again). */
async function packList(): Promise<string[]> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await promisify(execFile)(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 64 << 20 });
  const [pack] = JSON.parse(stdout) as [{ files: PackEntry[] }];
  return pack.files.map((f) => f.path).sort();
}

describe('the package tarball', () => {
  let files: string[] = [];
  beforeAll(async () => { files = await packList(); }, 60_000);

  it('ships the licence, the readme, the entry points, the built-in models and the shipped scenarios', () => {
    for (const f of [
      'LICENSE', 'README.md', 'package.json', 'bin/unit-attack.js', 'dist/index.js', 'dist/index.d.ts', 'dist/tf.js',
      'dist/cli/main.js', 'dist/parallel/worker.js', 'schema/scenario.schema.json', 'docs/api.md',
      'models/scenes-vgg16/model.json', 'models/scenes-vgg16/weights.bin', 'models/scenes-vgg16/unit-attack.json',
      'scenarios/ski-resort-to-bedroom.yaml',
    ]) expect(files, f).toContain(f);
  });

  it('ships every examples/ file and docs/ page the README names', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const named = [...new Set([...readme.matchAll(/\b((?:examples|docs)\/[\w./-]+\.\w+)/g)].map((m) => m[1]))];
    expect(named).toContain('examples/ski_resort.png');
    for (const f of named) expect(files, f).toContain(f);
  });

  it('ships no training checkpoints, sources, tests, caches or source maps', () => {
    const forbidden = files.filter((f) => /^(checkpoints|src|test|bench|scripts|node_modules|\.unit-attack-cache|out|tmp)\//.test(f)
      || f.endsWith('.map') || f.endsWith('.tsbuildinfo'));
    expect(forbidden).toEqual([]);
  });

  it('describes itself: licence, keywords, types and the optional native backends', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(path.join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    expect((pkg.keywords as string[]).length).toBeGreaterThan(3);
    expect(pkg.exports).toMatchObject({ '.': { types: './dist/index.d.ts', import: './dist/index.js' } });
    expect(pkg.peerDependenciesMeta).toEqual({ '@tensorflow/tfjs-node': { optional: true }, '@tensorflow/tfjs-node-gpu': { optional: true } });
    const deps = pkg.dependencies as Record<string, string>;
    for (const part of ['core', 'layers', 'converter', 'backend-cpu', 'backend-wasm']) expect(deps[`@tensorflow/tfjs-${part}`], part).toBe('4.22.0');
  });
});
