/**
 * Dissection benchmark: wall time for 2,000 probe images on the built-in model (or, until it is trained, a
 * randomly initialised VGG-16 of the same topology: 96×96 input, width 3⁄16, 12 classes — the same amount of work), and
 * peak RSS for 2,000 vs 8,000 probe images, each measured in a fresh process.
 *
 *   npx tsx bench/dissection.ts                   # everything
 *   npx tsx bench/dissection.ts --count 2000      # one run in this process (prints JSON)
 *   npx tsx bench/dissection.ts --sketch          # the quantile sketch's ingest rate alone
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';
import { dissect, type DissectProgress } from '../src/dissection/dissect.js';
import { QuantileSketch } from '../src/dissection/quantile.js';
import { initBackend } from '../src/engine/backend.js';
import { fromLayersModel } from '../src/models/classifier.js';
import { BUILTIN_MODELS, loadClassifier } from '../src/models/io.js';
import type { Classifier } from '../src/models/types.js';
import { buildVgg16 } from '../src/models/vgg16.js';
import { SCENE_CLASSES } from '../src/data/scenes/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function model(): Promise<{ clf: Classifier; which: string }> {
  if (existsSync(path.join(BUILTIN_MODELS['scenes-vgg16'], 'model.json'))) {
    return { clf: await loadClassifier('builtin:scenes-vgg16'), which: 'builtin:scenes-vgg16' };
  }
  const m = buildVgg16({ inputSize: 96, numClasses: SCENE_CLASSES.length, widthMultiplier: 0.1875, fcWidth: 1024, seed: 1 });
  return {
    clf: fromLayersModel(m, { classNames: SCENE_CLASSES, name: 'vgg16-w0.1875-96 (random weights)' }),
    which: 'random-weight VGG-16 (96×96, width 0.1875) standing in for builtin:scenes-vgg16',
  };
}

async function one(count: number): Promise<void> {
  const backend = await initBackend({});
  const { clf, which } = await model();
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  const phases: Record<string, number> = {};
  const phaseCpu: Record<string, number> = {};
  let phase = ''; let t = Date.now(); let c = process.cpuUsage();
  const close = (): void => {
    const d = process.cpuUsage(c);
    phases[phase] = (Date.now() - t) / 1000;
    phaseCpu[phase] = (d.user + d.system) / 1e6;
  };
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const { atlas } = await dissect(clf, `builtin:scenes?count=${count}&seed=7`, {
    cache: false,
    onProgress: (p: DissectProgress) => {
      if (p.phase !== phase) { if (phase) close(); phase = p.phase; t = Date.now(); c = process.cpuUsage(); }
    },
  });
  close();
  const seconds = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const labelled = atlas.units.filter((u) => u.concept !== null).length;
  console.log(JSON.stringify({
    count, model: which, backend: backend.name, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, phases, phaseCpu, load: os.loadavg()[0], peakRssMB: Math.round(peak / 2 ** 20),
    units: atlas.units.length, labelled, tensors: tf.memory().numTensors,
  }));
  clf.dispose();
}

function sketchRate(): void {
  const n = 147_456_000 / 128; // one unit's share of 2,000 images × 24×24 pixels
  const data = new Float32Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; const u = x / 4294967296; data[i] = u < 0.5 ? 0 : -Math.log(u) * 2; }
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let unit = 0; unit < 128; unit++) {
    const s = new QuantileSketch({ seed: unit });
    for (let i = 0; i < n; i += 18_432) s.update(data, i, Math.min(n, i + 18_432));
    s.quantile(0.99);
  }
  const sec = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  console.log(`quantile sketch: 147M values (128 units × 2000 images × 24×24) in ${sec.toFixed(2)} s wall, ${cpuSec.toFixed(2)} s CPU `
    + `= ${(147.456 / cpuSec).toFixed(1)} M values per CPU second (load average ${os.loadavg()[0].toFixed(1)})`);
}

const args = process.argv.slice(2);
const countArg = args.indexOf('--count');
if (args.includes('--sketch')) {
  sketchRate();
} else if (countArg >= 0) {
  await one(Number(args[countArg + 1]));
} else {
  sketchRate();
  const results: Array<{
    count: number; seconds: number; cpuSeconds: number; load: number; peakRssMB: number; phases: Record<string, number>;
    phaseCpu: Record<string, number>; model: string; backend: string;
  }> = [];
  for (const count of [2000, 8000]) {
    const r = spawnSync(process.execPath, [...process.execArgv, path.join(here, 'dissection.ts'), '--count', String(count)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      results.push(JSON.parse(line) as (typeof results)[number]);
    } catch {
      console.error(`the run with ${count} images failed:\n${r.stdout}`);
      process.exit(1);
    }
    console.log(line);
  }
  const [a, b] = results as [(typeof results)[number], (typeof results)[number]];
  console.log(`\nmodel: ${a.model}; backend: ${a.backend}`);
  console.log(`2,000 probe images: ${a.seconds.toFixed(1)} s wall, ${a.cpuSeconds.toFixed(1)} s CPU (target ≤ 60 s; load average ${a.load.toFixed(1)} on ${os.cpus().length} cores) — ${Object.entries(a.phases).map(([k, v]) => `${k} ${v.toFixed(1)} s (CPU ${a.phaseCpu[k].toFixed(1)} s)`).join(', ')}`);
  console.log('(CPU time counts both threads: during pass 1 the render worker runs beside the model.)');
  console.log(`peak RSS: ${a.peakRssMB} MB for 2,000 images, ${b.peakRssMB} MB for 8,000 (${(((b.peakRssMB / a.peakRssMB) - 1) * 100).toFixed(1)}%, target ≤ 15%)`);
}
