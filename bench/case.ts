/**
 * One case of `npm run bench` (bench/index.ts), in its own process so that its peak resident memory is its own:
 *
 *   npx tsx bench/case.ts <case> <workers> <runs> [--quick]
 *
 * Prints one line `BENCH {json}`: the figure of each timed run (after a warm-up run that also starts the workers),
 * its unit, the workers' start-up time and the process's peak resident memory.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../src/tf.js';
import { runAttack } from '../src/attacks/registry.js';
import { renderScene, sceneSeed, SCENE_CLASSES } from '../src/data/scenes/index.js';
import { dissect } from '../src/dissection/dissect.js';
import { dissectGenerator } from '../src/dissection/generated.js';
import { initBackend } from '../src/engine/backend.js';
import { splitRange, type WorkerPool } from '../src/parallel/executor.js';
import { loadClassifier, saveLayersModel } from '../src/models/io.js';
import type { Classifier } from '../src/models/types.js';
import { buildVgg16 } from '../src/models/vgg16.js';
import { startPool, withPool } from '../src/parallel/index.js';
import { loadSegmenter } from '../src/segment/segmenter.js';
import { DEFAULT_CONTROL_DRAWS, DEFAULT_CONTROL_SAMPLES, ablateConcept } from '../src/gan/ablate.js';
import { loadGenerator } from '../src/gan/generator.js';
import { forwardEach, fuzzJob, gradientEach, segmentScenes, type FuzzInput } from './tasks.js';

export const CASES = ['vgg16-forward', 'vgg16-gradient', 'dissect', 'dissect-segmented', 'segment', 'pgd50', 'fuzz', 'gan-ablate', 'gan-dissect'] as const;
export type CaseName = (typeof CASES)[number];

/** What a case process prints after `BENCH `. */
export interface CaseOutput {
  case: CaseName;
  workers: number;
  /** The figure of each timed run. */
  runs: number[];
  unit: string;
  /** Whether a larger figure is better (throughput) or a smaller one (time). */
  higherIsBetter: boolean;
  /** Seconds to start the workers and load the model in each (0 for one worker). */
  startupSeconds: number;
  /** Peak resident memory of the process, workers included, in MB. */
  peakRssMb: number;
  /** What one run did. */
  work: string;
}

const BUILTIN = 'builtin:scenes-vgg16';
const SEGMENTER = 'builtin:scenes-segmenter';

/** VGG-16 224×224 with 1000 classes (seeded random weights), saved once in the temp folder so workers can load it. */
async function vgg16Folder(): Promise<string> {
  const dir = path.join(os.tmpdir(), 'unit-attack-bench-vgg16-224-1000-seed0');
  if (!existsSync(path.join(dir, 'unit-attack.json'))) {
    const m = buildVgg16({ inputSize: 224, numClasses: 1000, seed: 0 });
    await saveLayersModel(m, dir, { description: 'VGG-16 224×224, 1000 classes, He-normal weights (seed 0), for benchmarks' });
    m.dispose();
  }
  return dir;
}

function scenes(clf: Classifier, n: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const [h] = clf.inputSize;
  const x = new Float32Array(n * h * h * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cls = SCENE_CLASSES[i % SCENE_CLASSES.length];
    const s = renderScene({ cls, seed: sceneSeed(seed, i), size: h });
    for (let k = 0; k < s.image.length; k++) x[i * s.image.length + k] = s.image[k] / 255;
    labels[i] = Math.max(0, clf.classNames.indexOf(cls));
  }
  return { x, labels };
}

const now = (): number => performance.now() / 1000;

/**
 * The removal curve of tree in `builtin:scenes-gan` (7 sizes, both rankings, the default control); seconds per run. With
 * more than one worker, generator threads (each loading both models, start-up inside the timed run) take the batches.
 */
async function ganAblateCase(workers: number, runs: number, quick: boolean): Promise<CaseOutput> {
  await initBackend({ backend: 'wasm' });
  const g = await loadGenerator('builtin:scenes-gan');
  const seg = await loadSegmenter(SEGMENTER);
  const samples = quick ? 40 : 2000;
  const sizes = [0, 1, 2, 4, 8, 20, 30];
  const figures: number[] = [];
  try {
    const once = async (n: number, rank: number, causal: number): Promise<number> => {
      const t = now();
      await ablateConcept(g, seg, { concept: 'tree', sizes, samples: n, ranking: 'both', rankSamples: rank, causalSamples: causal, examples: 0, workers });
      return now() - t;
    };
    await once(4, 4, 1);
    for (let r = 0; r < runs; r++) figures.push(await once(samples, quick ? 20 : 200, quick ? 2 : 32));
  } finally {
    seg.dispose();
    g.dispose();
  }
  return {
    case: 'gan-ablate', workers, runs: figures, unit: 's', higherIsBetter: false, startupSeconds: 0, peakRssMb: process.resourceUsage().maxRSS / 1024,
    work: `ablate tree in builtin:scenes-gan layer4: ${samples} samples, sizes ${sizes.join(',')}, IoU and causal rankings (${quick ? 20 : 200} / ${quick ? 2 : 32} held-out latents), the default control (${DEFAULT_CONTROL_DRAWS} random-unit draws per size on the first ${Math.min(samples, DEFAULT_CONTROL_SAMPLES)} latents); ${workers > 1 ? `${workers} generator workers` : 'one thread'}`,
  };
}

/**
 * Dissection of `layer4` of `builtin:scenes-gan` over its samples labelled by the built-in segmenter (the PNAS
 * experiment's 10,000; 200 with --quick), no cache; seconds per run. With one worker the models run on the calling
 * thread and the quantile sketches on a helper thread; with more, sample workers take the shards (their start-up is
 * inside the timed run, as in the CLI).
 */
async function ganDissectCase(workers: number, runs: number, quick: boolean): Promise<CaseOutput> {
  await initBackend({ backend: 'wasm' });
  const g = await loadGenerator('builtin:scenes-gan');
  const seg = await loadSegmenter(SEGMENTER);
  const samples = quick ? 200 : 10000;
  const figures: number[] = [];
  let labelled = 0;
  try {
    const once = async (n: number): Promise<number> => {
      const t = now();
      const { atlas } = await dissectGenerator(g, { segmenter: workers > 1 ? SEGMENTER : seg, workers, layer: 'layer4', samples: n, seed: 1, cache: false });
      labelled = atlas.units.filter((u) => u.concept !== null).length;
      return now() - t;
    };
    await once(32);
    for (let r = 0; r < runs; r++) figures.push(await once(samples));
  } finally {
    seg.dispose();
    g.dispose();
  }
  return {
    case: 'gan-dissect', workers, runs: figures, unit: 's', higherIsBetter: false, startupSeconds: 0, peakRssMb: process.resourceUsage().maxRSS / 1024,
    work: `dissect layer4 of builtin:scenes-gan on ${samples} samples (seed 1) labelled by ${SEGMENTER}, top-1% threshold, 32×32 labels; ${labelled} of 128 units labelled; ${workers > 1 ? `${workers} sample workers` : 'models on one thread, sketches on a helper thread'}`,
  };
}

export async function runCase(name: CaseName, workers: number, runs: number, quick: boolean): Promise<CaseOutput> {
  if (name === 'gan-ablate') return ganAblateCase(workers, runs, quick);
  if (name === 'gan-dissect') return ganDissectCase(workers, runs, quick);
  await initBackend({ backend: 'wasm' });
  const spec = name.startsWith('vgg16') ? await vgg16Folder() : BUILTIN;
  const clf = await loadClassifier(spec);
  let pool: WorkerPool | undefined;
  let startupSeconds = 0;
  if (workers > 1) {
    const t = now();
    pool = await startPool({ model: spec, classifier: clf, workers, modules: [new URL('./tasks.ts', import.meta.url).href] });
    startupSeconds = now() - t;
  }
  const figures: number[] = [];
  let unit = ''; let higherIsBetter = true; let work = '';
  try {
    const [h] = clf.inputSize;
    const per = h * h * 3;
    if (name === 'vgg16-forward' || name === 'vgg16-gradient') {
      // The same images for one worker and all: two per worker of the larger run (one each with --quick).
      const count = Math.max(2, workers) * (quick ? 1 : 2);
      const x = new Float32Array(count * per);
      for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) >>> 0) / 4294967296;
      const kind = name === 'vgg16-forward' ? 'bench-forward' : 'bench-gradient';
      const local = name === 'vgg16-forward' ? forwardEach : gradientEach;
      const once = async (): Promise<number> => {
        const t = now();
        if (pool) {
          await pool.map(splitRange(count, count).map(([a, b]) => ({ kind, input: { x: x.slice(a * per, b * per), count: b - a }, label: `image ${a}` })));
        } else {
          await local(clf, { x, count });
        }
        return (now() - t) / count;
      };
      await once();
      for (let r = 0; r < runs; r++) figures.push(await once());
      unit = 's/image'; higherIsBetter = false; work = `${count} images, batch 1`;
    } else if (name === 'dissect' || name === 'dissect-segmented') {
      const count = quick ? 160 : 960;
      const tmp = os.tmpdir();
      const segmenter = name === 'dissect-segmented' ? { segmenter: SEGMENTER } : {};
      const once = async (n: number, seed: number): Promise<number> => {
        const t = now();
        await withPool(pool, () => dissect(clf, `builtin:scenes?count=${n}&seed=${seed}`, { cache: false, tmpDir: tmp, ...segmenter }));
        return n / (now() - t);
      };
      await once(quick ? 32 : 64, 99);
      for (let r = 0; r < runs; r++) figures.push(await once(count, 7));
      unit = 'images/s';
      work = `block5_conv3 of ${BUILTIN} on ${count} scenes, class importance included${name === 'dissect-segmented' ? `, label maps from ${SEGMENTER}` : ''}`;
    } else if (name === 'segment') {
      const count = quick ? 200 : 2000;
      const size = 96;
      const seg = await loadSegmenter(SEGMENTER);
      const once = async (n: number, seed: number): Promise<number> => {
        const t = now();
        if (pool) {
          await pool.map<number>(splitRange(n, pool.size).map(([a, b]) => ({ kind: 'bench-segment', input: { from: a, count: b - a, seed, size }, label: `scenes ${a}–${b}` })));
        } else {
          segmentScenes(seg, { from: 0, count: n, seed, size });
        }
        return now() - t;
      };
      try {
        await once(quick ? 20 : 100, 99);
        for (let r = 0; r < runs; r++) figures.push(await once(count, 7));
      } finally {
        seg.dispose();
      }
      unit = 's'; higherIsBetter = false; work = `render and segment ${count} scenes at ${size}×${size} with ${SEGMENTER}, batches of 50`;
    } else if (name === 'pgd50') {
      const count = quick ? 8 : 16;
      const { x, labels } = scenes(clf, count, 5);
      const xt = tf.tensor4d(x, [count, h, h, 3]);
      const once = async (n: number): Promise<number> => {
        const xs = n === count ? xt : tf.slice(xt, [0, 0, 0, 0], [n, -1, -1, -1]);
        const t = now();
        const r = await withPool(pool, () => runAttack(clf, xs, labels.slice(0, n), { kind: 'pgd', epsilon: '4/255', steps: 50, seed: 1 }));
        const s = now() - t;
        r.adversarial.dispose();
        if (xs !== xt) xs.dispose();
        return n / s;
      };
      try {
        await once(Math.min(count, 2 * workers));
        for (let r = 0; r < runs; r++) figures.push(await once(count));
      } finally {
        xt.dispose();
      }
      unit = 'images/s'; work = `${count} scenes, L∞ 4/255, untargeted, per-image early stop`;
    } else {
      const total = quick ? 40 : 120;
      const n = 24;
      const { x, labels } = scenes(clf, n, 21);
      const images = Array.from({ length: n }, (_, i) => ({ data: Uint8Array.from(x.subarray(i * per, (i + 1) * per), (v) => Math.round(v * 255)), width: h, height: h }));
      const p = tf.tidy(() => tf.argMax(clf.logits(tf.tensor4d(x, [n, h, h, 3])), 1));
      const predictions = Int32Array.from(await p.data());
      p.dispose();
      const bounds = { noise: 4 / 255, brightness: 0.06, contrast: 0.1, blur: 0.6, jpeg: 80, shift: 2 };
      const job = (runsOf: number, seed: number): FuzzInput => ({ images, labels, predictions, runs: runsOf, seed, bounds });
      const once = async (checks: number): Promise<number> => {
        const t = now();
        let done = 0;
        if (pool) {
          const parts = splitRange(checks, pool.size);
          const r = await pool.map<number>(parts.map(([a, b], i) => ({ kind: 'bench-fuzz', input: job(b - a, 1 + i), label: `fuzz job ${i}` })));
          done = r.reduce((s, v) => s + v, 0);
        } else {
          done = await fuzzJob(clf, job(checks, 1));
        }
        return done / (now() - t);
      };
      await once(Math.max(8, 4 * workers));
      for (let r = 0; r < runs; r++) figures.push(await once(total));
      unit = 'checks/s';
      work = `${total} drawn corruptions (noise, brightness, contrast, blur, JPEG, shift) of ${n} scenes, shrinking included${pool ? `, split into ${pool.size} fast-check runs` : ''}`;
    }
  } finally {
    await pool?.close();
    clf.dispose();
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  return { case: name, workers, runs: figures, unit, higherIsBetter, startupSeconds, peakRssMb, work };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [name, w, r] = process.argv.slice(2);
  if (!CASES.includes(name as CaseName)) throw new Error(`unknown case '${name}': one of ${CASES.join(', ')}`);
  const out = await runCase(name as CaseName, Number(w), Number(r), process.argv.includes('--quick'));
  console.log(`BENCH ${JSON.stringify(out)}`);
}
