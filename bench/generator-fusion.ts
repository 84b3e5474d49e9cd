/**
 * What fusing each convolution with its leaky ReLU saves on the built-in generator: the layers after `layer4` run on
 * a batch of 32 from `layer4`'s output, fused (`runLayersGraph` with `edited` given) and layer by layer (an edit
 * callback without `edited`), interleaved in one process; the median CPU milliseconds per image of each, and the
 * largest difference between their images.
 *
 *   npx tsx bench/generator-fusion.ts [--reps 12]
 */
import * as tf from '../src/tf.js';
import { initBackend } from '../src/engine/index.js';
import { loadGenerator } from '../src/gan/index.js';
import { layersGraph, runLayersGraph } from '../src/models/layers-graph.js';

const i = process.argv.indexOf('--reps');
const reps = i >= 0 ? Number(process.argv[i + 1]) : 12;
await initBackend({ backend: 'wasm' });
const g = await loadGenerator('builtin:scenes-gan');
const graph = layersGraph((g as unknown as { model: tf.LayersModel }).model);
const z = g.latents(1, 0, 32);
const tap = g.generate(z, { taps: [g.defaultLayer] });
const start = tap.taps[g.defaultLayer];
const keep = (_layer: string, t: tf.Tensor): tf.Tensor => t;
const images = (fused: boolean): tf.Tensor => runLayersGraph(graph, null, { overrides: { [g.defaultLayer]: start }, edit: keep, ...(fused ? { edited: new Set<string>() } : {}) }).output;
const cpuMs = (fused: boolean): number => {
  const c0 = process.cpuUsage();
  tf.tidy(() => { images(fused).dataSync(); });
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / 32;
};
const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(images(true), images(false)))).dataSync()[0]);
cpuMs(true); cpuMs(false);
const fused: number[] = []; const plain: number[] = [];
for (let r = 0; r < reps; r++) { fused.push(cpuMs(true)); plain.push(cpuMs(false)); }
const median = (x: number[]): number => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(`layers after ${g.defaultLayer}, batch 32, ${reps} interleaved runs: fused ${median(fused).toFixed(2)} CPU ms per image, layer by layer ${median(plain).toFixed(2)} (${(100 * (1 - median(fused) / median(plain))).toFixed(1)}% less); largest pixel difference ${diff}`);
tf.dispose([z, tap.images, ...Object.values(tap.taps)]);
g.dispose();
