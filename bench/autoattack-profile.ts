/**
 * Where the time of the AutoAttack ensemble goes on the built-in model (issue #22), on one thread:
 *
 * 1. the cost of one model pass per image by batch size (forward; forward and input gradient), CPU and wall;
 * 2. a V8 CPU profile of APGD-T, FAB-T and Square on the images that survive APGD-CE, its self time grouped into the
 *    wasm kernels, tfjs's JavaScript, the attacks' own code and the rest (the five biggest non-wasm entries listed).
 *
 *   npx tsx bench/autoattack-profile.ts [--count 100] [--eps 2] [--targets 2] [--queries 1000] [--seed 777]
 *
 * The images are the AutoAttack section's (bench/attacks.ts): fresh scenes of all classes of dataset seed 777004,
 * training seeds skipped. `--targets` and `--queries` shorten APGD-T, FAB-T and Square (the ensemble runs 9, 9 and
 * 5,000); the shares do not depend on them.
 */
import { existsSync, readFileSync } from 'node:fs';
import inspector from 'node:inspector/promises';
import path from 'node:path';
import * as tf from '../src/tf.js';
import { runAttack } from '../src/attacks/registry.js';
import { SCENE_CLASSES, renderScene, sceneSeed } from '../src/data/scenes/index.js';
import { initBackend } from '../src/engine/backend.js';
import { BUILTIN_MODELS, loadClassifier } from '../src/models/io.js';
import type { Classifier } from '../src/models/types.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: string): string => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : def; };
const N = Number(opt('count', '100'));
const EPS = Number(opt('eps', '2')) / 255;
const TARGETS = Number(opt('targets', '2'));
const QUERIES = Number(opt('queries', '1000'));
const SEED = Number(opt('seed', '777'));

const cpuNow = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const load = (): string => (existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : '?');

/** The AutoAttack section's images: fresh scenes of all classes, dataset seed 777004, training seeds skipped. */
function images(clf: Classifier): { x: tf.Tensor4D; y: Int32Array } {
  let seed = 1; let count = 6 * 8000;
  const file = path.join(BUILTIN_MODELS['scenes-vgg16'], 'evaluation.json');
  if (existsSync(file)) {
    const r = (JSON.parse(readFileSync(file, 'utf8')) as { recipe?: { seed: number; epochs: number; scenesPerEpoch: number } }).recipe;
    if (r) { seed = r.seed; count = r.epochs * r.scenesPerEpoch; }
  }
  const trained = new Set<number>();
  for (let i = 0; i < count; i++) trained.add(sceneSeed(seed, i));
  const classes = SCENE_CLASSES.filter((c) => clf.classNames.includes(c));
  const size = clf.inputSize[0];
  const px = new Float32Array(N * size * size * 3);
  const y = new Int32Array(N);
  for (let i = 0, index = 0; i < N; index++) {
    const s = sceneSeed(777_004, index);
    if (trained.has(s)) continue;
    const cls = classes[i % classes.length];
    const scene = renderScene({ cls, seed: s, size });
    for (let k = 0; k < scene.image.length; k++) px[i * scene.image.length + k] = scene.image[k] / 255;
    y[i] = clf.classNames.indexOf(cls);
    i++;
  }
  return { x: tf.tensor4d(px, [N, size, size, 3]), y };
}

/** ms per image of a forward pass and of a forward pass with the input gradient of one logit per image, by batch size. */
function passCost(clf: Classifier): void {
  const [h, w] = clf.inputSize;
  const k = clf.classNames.length;
  console.log(`\nModel passes per image by batch size (load average ${load()}):`);
  console.log('batch  forward CPU ms  forward wall ms  gradient CPU ms  gradient wall ms');
  for (const b of [1, 2, 7, 14, 28, 56, 126]) {
    const x = tf.randomUniform<tf.Rank.R4>([b, h, w, 3], 0, 1, 'float32', 1);
    const mask = tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => i % k), 'int32'), k).toFloat();
    const fwd = (): void => { const z = tf.tidy(() => tf.argMax(clf.logits(x), 1)); z.dataSync(); z.dispose(); };
    const grd = (): void => { const g = tf.tidy(() => tf.grad((xv: tf.Tensor) => tf.sum(tf.mul(clf.logits(xv as tf.Tensor4D), mask)))(x)); g.dataSync(); g.dispose(); };
    fwd(); grd();
    const reps = Math.max(3, Math.round(84 / b));
    const time = (f: () => void): [number, number] => {
      const t0 = performance.now(); const c0 = cpuNow();
      for (let r = 0; r < reps; r++) f();
      return [(1000 * (cpuNow() - c0)) / reps / b, (performance.now() - t0) / reps / b];
    };
    const [fc, fw] = time(fwd);
    const [gc, gw] = time(grd);
    console.log(`${String(b).padStart(5)}  ${fc.toFixed(1).padStart(14)}  ${fw.toFixed(1).padStart(15)}  ${gc.toFixed(1).padStart(15)}  ${gw.toFixed(1).padStart(16)}`);
    tf.dispose([x, mask]);
  }
}

/** The category of a profile node's self time. */
function category(url: string, fn: string): string {
  if (url.startsWith('wasm://') || fn.startsWith('wasm-function') || fn.startsWith('js-to-wasm')) return 'wasm kernels';
  if (url.includes('/src/attacks/')) return 'attack code (src/attacks)';
  if (url.includes('/src/engine/kernels/')) return 'JS kernels (src/engine/kernels)';
  if (url.includes('@tensorflow')) return 'tfjs JavaScript';
  if (fn === '(garbage collector)') return 'GC';
  return 'other';
}

async function profileComponents(clf: Classifier, x: tf.Tensor4D, y: Int32Array): Promise<void> {
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  const ce = await runAttack(clf, x, y, { kind: 'apgd-ce', epsilon: EPS, seed: SEED });
  const surv = Array.from({ length: N }, (_, i) => i).filter((i) => ce.predictions[i] === y[i] && ce.cleanPredictions[i] === y[i]);
  ce.adversarial.dispose();
  console.log(`\nAPGD-CE at ${Math.round(EPS * 255)}/255 leaves ${surv.length} of ${N} images; the components on them (load average ${load()}):`);
  const xs = tf.tidy(() => tf.gather<tf.Tensor4D>(x, tf.tensor1d(surv, 'int32')));
  const ys = Int32Array.from(surv, (i) => y[i]);
  const base = { epsilon: EPS, seed: SEED };
  for (const spec of [
    { kind: 'apgd-t', ...base, targetClasses: TARGETS },
    { kind: 'fab-t', ...base, targetClasses: TARGETS },
    { kind: 'square', ...base, queries: QUERIES, pInit: 0.8, rescaleSchedule: false, objective: { kind: 'margin' as const } },
  ]) {
    await session.post('Profiler.start');
    const t0 = performance.now(); const c0 = cpuNow();
    const r = await runAttack(clf, xs, ys, spec);
    const wall = (performance.now() - t0) / 1000; const cpu = cpuNow() - c0;
    const { profile } = await session.post('Profiler.stop');
    const passes = Array.from(r.queries).reduce((a, b) => a + b, 0);
    r.adversarial.dispose();
    const nodes = new Map(profile.nodes.map((nd) => [nd.id, nd]));
    const byCat = new Map<string, number>(); const byFn = new Map<string, number>();
    const deltas = profile.timeDeltas ?? [];
    (profile.samples ?? []).forEach((id, k) => {
      const nd = nodes.get(id)!;
      const { url, functionName } = nd.callFrame;
      const c = category(url, functionName);
      const dt = (deltas[k] ?? 0) / 1e6;
      byCat.set(c, (byCat.get(c) ?? 0) + dt);
      if (c !== 'wasm kernels' && functionName !== '(idle)' && functionName !== '(program)') {
        const key = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}`;
        byFn.set(key, (byFn.get(key) ?? 0) + dt);
      }
    });
    const total = [...byCat.values()].reduce((a, b) => a + b, 0);
    const what = spec.kind === 'square' ? `${QUERIES} queries` : `${TARGETS} targets`;
    console.log(`\n${spec.kind} (${what}): wall ${wall.toFixed(1)} s, CPU ${cpu.toFixed(1)} s, ${passes} model passes, ${((1000 * cpu) / passes).toFixed(1)} CPU ms per pass and image`);
    for (const [c, v] of [...byCat].sort((a, b) => b[1] - a[1])) console.log(`  ${c.padEnd(32)} ${((100 * v) / total).toFixed(0).padStart(3)}%`);
    console.log(`  biggest outside wasm: ${[...byFn].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, v]) => `${f} ${((100 * v) / total).toFixed(1)}%`).join('; ')}`);
  }
  xs.dispose();
  session.disconnect();
}

const backend = await initBackend({});
const clf = await loadClassifier('builtin:scenes-vgg16');
console.log(`model ${clf.name} (${clf.fingerprint}), backend ${backend.name}, one thread, ${new Date().toISOString()}`);
passCost(clf);
const { x, y } = images(clf);
await profileComponents(clf, x, y);
x.dispose();
clf.dispose();
console.log(`\nload average at the end ${load()}`);
