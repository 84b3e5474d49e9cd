import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ```ts blocks of a Markdown file, in order. */
export function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/**
 * Runs the TypeScript examples of a doc, as a user would (`from 'unit-attack'` is this package's source), each block a
 * module of its own, one after the other in one Node process, in a folder with the repository's examples/ and
 * scenarios/. Returns the process output; throws when a block throws.
 */
async function runBlocks(doc: string): Promise<{ stdout: string; blocks: number }> {
  const blocks = tsBlocks(readFileSync(path.join(root, doc), 'utf8'));
  const work = path.join(dir, doc.replace(/[/.]/g, '-'));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(work, { recursive: true });
  for (const d of ['examples', 'scenarios']) symlinkSync(path.join(root, d), path.join(work, d));
  const entry = JSON.stringify(pathToFileURL(path.join(root, 'src/index.ts')).href);
  blocks.forEach((code, i) => {
    writeFileSync(path.join(work, `block-${i + 1}.mts`), code.replace(/from 'unit-attack'/g, `from ${entry}`));
  });
  writeFileSync(path.join(work, 'run.mjs'), [
    `for (let i = 1; i <= ${blocks.length}; i++) {`,
    '  await import(`./block-${i}.mts`);',
    '  console.log(`[block ${i} done]`);',
    '}',
  ].join('\n'));
  const tsx = import.meta.resolve('tsx');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsx, 'run.mjs'], {
      cwd: work, maxBuffer: 64 << 20,
      env: { ...process.env, UNIT_ATTACK_WORKERS: '1', UNIT_ATTACK_CACHE: path.join(work, 'cache') },
    });
    return { stdout, blocks: blocks.length };
  } catch (err) {
    // Say which block failed and why (the last lines: a wasm module's minified source can precede the error).
    const e = err as { stdout?: string; stderr?: string };
    const done = [...(e.stdout ?? '').matchAll(/\[block (\d+) done\]/g)].length;
    throw new Error(`${doc}: block ${done + 1} of ${blocks.length} failed:\n${(e.stderr ?? '').split('\n').slice(-25).join('\n').slice(-4000)}`);
  }
}

describe('the examples in the docs', () => {
  it('finds the ```ts blocks of a Markdown file', () => {
    expect(tsBlocks('text\n```ts\nconst a = 1;\n```\n```sh\nls\n```\n```ts\nconst b = 2;\n```\n')).toEqual(['const a = 1;\n', 'const b = 2;\n']);
  });

  it('README.md: "Use it from TypeScript" runs', async () => {
    const { stdout, blocks } = await runBlocks('README.md');
    expect(blocks).toBeGreaterThanOrEqual(1);
    expect(stdout).toContain(`[block ${blocks} done]`);
    expect(stdout).toMatch(/\d+ of \d+ units labelled with a concept/);
    expect(stdout).toMatch(/robustness gate/);
  }, 300_000);

  it('docs/api.md: every example runs', async () => {
    const { stdout, blocks } = await runBlocks('docs/api.md');
    expect(blocks).toBeGreaterThanOrEqual(6);
    expect(stdout).toContain(`[block ${blocks} done]`);
    expect(stdout).toContain('the same adversarial images on 2 threads: true');
  }, 300_000);
});
