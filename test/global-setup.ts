import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * The end-to-end tests spawn bin/unit-attack.js, which runs the compiled dist/: build it once.
 * Type errors do not stop the emit (vitest does not type-check either; `npm run typecheck` does).
 */
export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`tsc reported problems (the build was emitted anyway):\n${r.stdout.slice(0, 2000)}\n`);
}
