/**
 * Scene-world benchmark: rendering speed (image + label map, one core) and the colour-histogram baseline.
 *
 *   npx tsx bench/scenes.ts [--size 96] [--count 2000] [--train 1000] [--test 500] [--seed 0]
 */
import { SCENE_CLASSES, histogramBaseline, renderScene, sampleScenes } from '../src/data/scenes/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const size = arg('size', 96);
const count = arg('count', 2000);
const trainCount = arg('train', 1000);
const testCount = arg('test', 500);
const seed = arg('seed', 0);

const specs = sampleScenes({ count, seed: seed + 77, size });
for (const s of specs.slice(0, Math.min(200, count))) renderScene(s); // warm up the JIT
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (const s of specs) renderScene(s);
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(`render ${size}x${size} image+labels: ${(count / wall).toFixed(0)} images/s wall, ${(count / cpuSeconds).toFixed(0)} images/s per CPU second (${count} scenes, ${SCENE_CLASSES.length} classes)`);

const perClass: string[] = [];
for (const cls of SCENE_CLASSES) {
  const t = performance.now();
  for (let i = 0; i < 50; i++) renderScene({ cls, seed: i, size });
  perClass.push(`${cls} ${((performance.now() - t) / 50).toFixed(2)}`);
}
console.log(`ms per scene by class: ${perClass.join(', ')}`);

for (const distance of ['l2', 'l1'] as const) {
  const t = performance.now();
  const r = histogramBaseline({ trainCount, testCount, seed, size, distance });
  const worst = Object.entries(r.perClass).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, a]) => `${c} ${a.toFixed(2)}`).join(', ');
  console.log(`histogram baseline (nearest centroid, 4x4x4 RGB bins, ${distance}, ${trainCount} train / ${testCount} test): accuracy ${r.accuracy.toFixed(3)} (chance ${r.chance.toFixed(3)}; best classes: ${worst}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
