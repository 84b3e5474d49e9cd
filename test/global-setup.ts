import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The end-to-end tests spawn bin/unit-attack.js, which runs the compiled dist/: build it once.
 * Type errors do not stop the emit (vitest does not type-check either; `npm run typecheck` does).
 *
 * Every temporary file of the run (the tests', the commands' they spawn, the workers') goes into one folder, set as
 * TMPDIR for the test processes and removed at the end, so a test that leaves its folder behind leaves nothing.
 */
export default function setup(): () => void {
  const root = path.resolve(import.meta.dirname, '..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`tsc reported problems (the build was emitted anyway):\n${r.stdout.slice(0, 2000)}\n`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ua-test-run-'));
  process.env.TMPDIR = tmp;
  return () => rmSync(tmp, { recursive: true, force: true });
}
