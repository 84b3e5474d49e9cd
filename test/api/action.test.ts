import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');

interface Step { uses?: string; name?: string; id?: string; run?: string; env?: Record<string, string> }
interface Action { inputs: Record<string, { default?: string; deprecationMessage?: string }>; runs: { using: string; steps: Step[] } }

async function action(): Promise<Action> {
  return parse(await readFile(path.join(root, 'action.yml'), 'utf8')) as Action;
}

describe('the GitHub Action', () => {
  it('leaves the job\'s Node.js alone: no setup-node, and node-version is deprecated', async () => {
    const a = await action();
    expect(a.runs.steps.filter((s) => s.uses?.startsWith('actions/setup-node'))).toEqual([]);
    expect(a.inputs['node-version'].deprecationMessage).toMatch(/setup-node/);
  });

  it('installs the built package and compiles nothing', async () => {
    const a = await action();
    const install = a.runs.steps.find((s) => s.id === 'install');
    expect(install?.run).toBeDefined();
    const script = install!.run!;
    // `npm ci` in a source checkout would run the prepare script (tsc); only the built one is installed, without scripts.
    expect(script).not.toMatch(/\btsc\b|npm run build|tsx/);
    for (const line of script.split('\n').filter((l) => /npm ci\b/.test(l))) expect(line).toMatch(/--ignore-scripts/);
    expect(script).toMatch(/dist\/cli\/main\.js/);
    expect(script).toMatch(/npm install --prefix "\$prefix" --omit=dev/);
    const run = a.runs.steps.find((s) => s.id === 'run');
    expect(run?.env?.UA_BIN).toBe('${{ steps.install.outputs.bin }}');
    expect(run?.run).toMatch(/node "\$UA_BIN"/);
  });

  it('stops with advice on a Node.js older than 20.9, before installing anything', async () => {
    const a = await action();
    const script = a.runs.steps.find((s) => s.id === 'install')!.run!;
    const check = script.split('\n').slice(0, 4).join('\n') + '\necho checked';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ua-action-'));
    try {
      // A fake `node` that reports 18.19.0 (and runs the version check with the real Node otherwise).
      const fake = path.join(dir, 'node');
      await writeFile(fake, `#!/bin/sh\nif [ "$1" = "--version" ]; then echo v18.19.0; exit 0; fi\nexec "${process.execPath}" -e 'Object.defineProperty(process.versions, "node", { value: "18.19.0" }); eval(process.argv[1])' "$2"\n`, { mode: 0o755 });
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
      const err = await promisify(execFile)('bash', ['-c', check], { env }).then(() => undefined, (e: { code: number; stdout: string }) => e);
      expect(err?.code).toBe(2);
      expect(err?.stdout).toMatch(/::error::unit-attack needs Node\.js 20\.9 or later, the job has v18\.19\.0; add actions\/setup-node/);
      const ok = await promisify(execFile)('bash', ['-c', check]);
      expect(ok.stdout.trim()).toBe('checked');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
