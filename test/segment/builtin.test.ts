import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONCEPTS, renderScene, sceneLabelPlanes, sceneSeed } from '../../src/data/scenes/index.js';
import { initBackend } from '../../src/engine/backend.js';
import { evaluateSegmenter } from '../../src/segment/evaluate.js';
import { BUILTIN_SEGMENTERS, loadSegmenter, type Segmenter } from '../../src/segment/segmenter.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

let seg: Segmenter;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  seg = await loadSegmenter('builtin:scenes-segmenter');
});
afterAll(() => seg.dispose());

const idOf = (name: string): number => CONCEPTS.find((c) => c.name === name)!.id;

/** Renders scenes of held-out dataset seed 424242 (never trained on) and segments them. */
function segmented(cls: string, count: number, size: number): { exact: Uint16Array[]; maps: Uint16Array } {
  const n = size * size;
  const images = new Float32Array(count * n * 3);
  const exact: Uint16Array[] = [];
  for (let i = 0; i < count; i++) {
    const s = renderScene({ cls, seed: sceneSeed(424242, i), size });
    for (let k = 0; k < s.image.length; k++) images[i * n * 3 + k] = s.image[k] / 255;
    exact.push(sceneLabelPlanes(s));
  }
  return { exact, maps: seg.segment(images, count, size, size) };
}

/** IoU of one concept over a set of scenes, counted pixel by pixel from both label sets. */
function bruteIou(name: string, exact: Uint16Array[], maps: Uint16Array, size: number): number {
  const id = idOf(name);
  const n = size * size;
  const planes = seg.categories.length;
  let inter = 0; let union = 0;
  exact.forEach((e, i) => {
    for (let p = 0; p < n; p++) {
      const t = e[p] === id || e[n + p] === id;
      let q = false;
      for (let k = 0; k < planes; k++) if (maps[(i * planes + k) * n + p] === id) q = true;
      if (t && q) inter++;
      if (t || q) union++;
    }
  });
  return inter / union;
}

/** A ski resort, a bedroom and a street of dataset seed `seed`, as pixels in [0, 1]. */
function threeScenes(size: number, seed: number): Float32Array {
  const n = size * size;
  const images = new Float32Array(3 * n * 3);
  ['ski_resort', 'bedroom', 'street'].forEach((cls, i) => {
    const s = renderScene({ cls, seed: sceneSeed(seed, i), size });
    for (let k = 0; k < s.image.length; k++) images[i * n * 3 + k] = s.image[k] / 255;
  });
  return images;
}

describe('builtin:scenes-segmenter', () => {
  it('segment labels each pixel with the argmax of its category\'s logits, as tf.argMax over the channel slices does', () => {
    const size = 64;
    const count = 3;
    const n = size * size;
    const images = threeScenes(size, 515151);
    const before = tf.memory().numTensors;
    const maps = seg.segment(images, count, size, size);
    expect(tf.memory().numTensors).toBe(before);
    // The reference: tf.argMax over each category's slice of the logits, mapped to concept ids.
    const ref = tf.tidy(() => {
      const y = seg.logits(tf.tensor4d(images, [count, size, size, 3]));
      let off = 0;
      return seg.categories.map((cat) => {
        const d = cat.concepts.length + 1;
        const a = tf.argMax(tf.slice(y, [0, 0, 0, off], [count, size, size, d]), -1).dataSync();
        off += d;
        const ids = [0, ...cat.concepts.map((c) => seg.concepts.find((x) => x.name === c)!.id)];
        return Array.from(a, (j) => ids[j]);
      });
    });
    const K = seg.categories.length;
    let differ = 0;
    for (let b = 0; b < count; b++) for (let k = 0; k < K; k++) for (let p = 0; p < n; p++) if (maps[(b * K + k) * n + p] !== ref[k][b * n + p]) differ++;
    expect(differ).toBe(0);
    expect(new Set(maps).size).toBeGreaterThan(3);
  });

  it('segmentGrid gives the full label maps\' labels at each cell\'s centre, computing only the layer before the upsampling where it can', async () => {
    // The width of the last 3×3 convolution (the one before the 1×1 head), from the model's own topology.
    const topology = JSON.parse(readFileSync(path.join(BUILTIN_SEGMENTERS['scenes-segmenter'], 'model.json'), 'utf8')) as { modelTopology: { model_config?: { config: { layers: Array<{ name: string; config: { filters?: number } }> } }; config?: { layers: Array<{ name: string; config: { filters?: number } }> } } };
    const layers = (topology.modelTopology.model_config ?? topology.modelTopology).config!.layers;
    const lastWidth = layers.find((l) => l.name === 'dec1_conv')!.config.filters!;
    expect(lastWidth).toBeGreaterThan(0);
    for (const [size, grid, fast] of [[96, 24, true], [64, 16, true], [64, 32, false], [96, 25, false]] as const) {
      const count = 3;
      const n = size * size;
      const images = threeScenes(size, 616161);
      const full = seg.segment(images, count, size, size);
      const K = seg.categories.length;
      // Independently: the centre pixel of each cell, read from the full maps.
      const centre = (i: number, cells: number): number => Math.min(size - 1, Math.floor(((i + 0.5) * size) / cells));
      const expected = new Uint16Array(count * K * grid * grid);
      for (let b = 0; b < count; b++) for (let k = 0; k < K; k++) for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) {
        expected[((b * K + k) * grid + y) * grid + x] = full[(b * K + k) * n + centre(y, grid) * size + centre(x, grid)];
      }
      const before = tf.memory().numTensors;
      let got: Uint16Array | undefined;
      const profile = await tf.profile(() => { got = seg.segmentGrid!(images, count, size, size, grid, grid); });
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(got!), `${size} → ${grid}`).toEqual(Array.from(expected));
      // The fast path never runs the final upsampling.
      expect(profile.kernelNames.includes('ResizeBilinear'), `${size} → ${grid}`).toBe(!fast);
      // Where the cells' centres are the odd pixels of the half-resolution map (a grid of a quarter of the side), the
      // last two convolutions run at stride 2: no kernel outputs the half-resolution map of their widths.
      const half = size / 2;
      const fullMaps = profile.kernels.filter((kr) => /conv/i.test(kr.name) && kr.outputShapes.some((sh) => sh?.[1] === half && sh?.[2] === half && (sh?.[3] === lastWidth || sh?.[3] === seg.concepts.length + seg.categories.length)));
      expect(fullMaps.length, `${size} → ${grid}`).toBe(fast && grid * 4 === size ? 0 : fullMaps.length);
      if (fast && grid * 4 === size) expect(profile.kernels.some((kr) => /conv/i.test(kr.name) && kr.outputShapes.some((sh) => sh?.[1] === grid && sh?.[2] === grid && sh?.[3] === lastWidth))).toBe(true);
    }
  });

  it('labels rendered scenes close to their exact masks, at the classifier size and at the generator size', () => {
    const before = tf.memory().numTensors;
    for (const size of [96, 64]) {
      const ski = segmented('ski_resort', 6, size);
      expect(bruteIou('sky', ski.exact, ski.maps, size)).toBeGreaterThan(0.8);
      expect(bruteIou('snow', ski.exact, ski.maps, size)).toBeGreaterThan(0.6);
      const forest = segmented('forest_path', 6, size);
      expect(bruteIou('tree', forest.exact, forest.maps, size)).toBeGreaterThan(0.5);
      const bed = segmented('bedroom', 6, size);
      expect(bruteIou('wall', bed.exact, bed.maps, size)).toBeGreaterThan(0.6);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('evaluateSegmenter pools IoU the same way as a pixel-by-pixel count', async () => {
    // Scenes 0..5 of seed 424242 cycling through two classes, as evaluateSegmenter renders them.
    const size = 64;
    const classes = ['street', 'forest_path'];
    const ev = await evaluateSegmenter(seg, { count: 6, seed: 424242, size, classes, batchSize: 4 });
    const n = size * size;
    const images = new Float32Array(6 * n * 3);
    const exact: Uint16Array[] = [];
    for (let i = 0; i < 6; i++) {
      const s = renderScene({ cls: classes[i % 2], seed: sceneSeed(424242, i), size });
      for (let k = 0; k < s.image.length; k++) images[i * n * 3 + k] = s.image[k] / 255;
      exact.push(sceneLabelPlanes(s));
    }
    const maps = seg.segment(images, 6, size, size);
    for (const name of ['sky', 'tree', 'road', 'house']) {
      expect(ev.concepts.find((c) => c.concept === name)!.iou, name).toBeCloseTo(bruteIou(name, exact, maps, size), 10);
    }
  });
});
