/**
 * The cost of dissecting through a segmenter against dissecting with exact masks, in CPU time (every thread of the
 * process, so helper threads count) and wall time, alternating the two three times on one thread after a warm-up:
 *
 *   npx tsx bench/segmented-cost.ts [--count 480] [--root DIR] [--segmenter SPEC]
 *
 * CPU time is the figure to compare on a shared machine. `--root` runs another checkout's sources (an A/B of a
 * change: `git worktree add /tmp/old REV`, link node_modules, then `--root /tmp/old`).
 */
import path from 'node:path';
import type * as Backend from '../src/engine/backend.js';
import type * as Io from '../src/models/io.js';
import type * as Dissect from '../src/dissection/dissect.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const root = path.resolve(arg('--root') ?? path.join(import.meta.dirname, '..'));
const count = Number(arg('--count') ?? 480);
// The segmenter to time (a folder, e.g. a wider net from `train-segmenter --init-from`, or a built-in one).
const seg = arg('--segmenter') ?? 'builtin:scenes-segmenter';

const { initBackend } = await import(path.join(root, 'src/engine/backend.js')) as typeof Backend;
const { loadClassifier } = await import(path.join(root, 'src/models/io.js')) as typeof Io;
const { dissect } = await import(path.join(root, 'src/dissection/dissect.js')) as typeof Dissect;
await initBackend({ backend: 'wasm' });
const clf = await loadClassifier('builtin:scenes-vgg16');
// Untimed: load the segmenter and warm the kernels of both paths up.
for (const segmenter of [undefined, seg]) await dissect(clf, 'builtin:scenes?count=32&seed=4', { cache: false, ...(segmenter ? { segmenter } : {}) });
const rows: Array<{ labels: string; cpu: number; wall: number }> = [];
for (const segmenter of [undefined, seg, undefined, seg, undefined, seg]) {
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await dissect(clf, `builtin:scenes?count=${count}&seed=5`, { cache: false, ...(segmenter ? { segmenter } : {}) });
  const c = process.cpuUsage(c0);
  rows.push({ labels: segmenter ?? 'exact masks', cpu: (c.user + c.system) / 1e6, wall: (performance.now() - t0) / 1000 });
  console.log(`${rows.at(-1)!.labels.padEnd(26)} CPU ${rows.at(-1)!.cpu.toFixed(1)} s, wall ${rows.at(-1)!.wall.toFixed(1)} s`);
}
const mean = (k: 'cpu' | 'wall', seg: boolean): number => {
  const r = rows.filter((x) => (x.labels !== 'exact masks') === seg);
  return r.reduce((a, x) => a + x[k], 0) / r.length;
};
console.log(`through ${seg} / exact masks (${count} scenes, ${root}): CPU ${(mean('cpu', true) / mean('cpu', false)).toFixed(2)}×, wall ${(mean('wall', true) / mean('wall', false)).toFixed(2)}×`);
