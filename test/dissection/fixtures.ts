/**
 * A hand-built model whose units are wired to colours, and a probe folder whose concepts have those colours.
 *
 * Images are 32×32: a grey background (every channel in 0.3…0.7), a bottom strip labelled `ground`, and one
 * 16×16 square of saturated red (`redthing`, in class `red_scene`) or blue (`bluething`, in class `blue_scene`)
 * aligned to the 8-pixel grid. The model: a 1×1 conv `detect` with unit 0 = relu(r − g − b − 0.5) (fires only on
 * the red squares), unit 1 = relu(b − r − g − 0.5) (blue squares), unit 2 = brightness; an 8×8 average pool; a 1×1
 * identity conv `block` [4, 4, 3] (the layer dissected); global average pooling; logits
 * `blue_scene = 10·u1 + 0.1`, `red_scene = 10·u0` — unit 2 is ignored by the output.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import sharp from 'sharp';
import { fromLayersModel } from '../../src/models/classifier.js';
import type { Classifier } from '../../src/models/types.js';
import { encodeLabelPng } from '../../src/dissection/probe.js';
import { prng } from './helpers.js';

export const SIZE = 32;

export function colorModel(): Classifier {
  return fromLayersModel(colorLayersModel(), { classNames: ['blue_scene', 'red_scene'], name: 'colors' });
}

export function colorLayersModel(): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const detect = tf.layers.conv2d({ name: 'detect', filters: 3, kernelSize: 1, activation: 'relu' });
  const pool = tf.layers.averagePooling2d({ name: 'pool', poolSize: 8, strides: 8 });
  const block = tf.layers.conv2d({ name: 'block', filters: 3, kernelSize: 1, activation: 'relu' });
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' });
  const dense = tf.layers.dense({ name: 'logits', units: 2 });
  const out = dense.apply(gap.apply(block.apply(pool.apply(detect.apply(input))))) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: 'colors' });
  detect.setWeights([
    tf.tensor4d([[[[1, -1, 0.3], [-1, -1, 0.3], [-1, 1, 0.3]]]]),
    tf.tensor1d([-0.5, -0.5, 0]),
  ]);
  block.setWeights([tf.tensor4d([[[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]]), tf.zeros([3])]);
  // Classes in folder order: blue_scene, red_scene.
  dense.setWeights([tf.tensor2d([[0, 10], [10, 0], [0, 0]]), tf.tensor1d([0.1, 0])]);
  return model;
}

export const CONCEPTS_JSON = [
  { id: 1, name: 'redthing', category: 'object' },
  { id: 2, name: 'bluething', category: 'object' },
  { id: 3, name: 'ground', category: 'material' },
];

/** One image and its labels: a coloured square at grid cell (cx, cy) (cells of 8 px, square of 2×2 cells). */
export function colorScene(kind: 'red' | 'blue', seed: number): { image: Uint8Array; labels: Uint16Array } {
  const r = prng(seed);
  const image = new Uint8Array(SIZE * SIZE * 3);
  const labels = new Uint16Array(SIZE * SIZE);
  const cx = Math.floor(r() * 3); const cy = Math.floor(r() * 2); // the square stays above the ground strip
  const strength = 0.75 + 0.25 * r();
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = y * SIZE + x;
      let rgb = [0.3 + 0.4 * r(), 0.3 + 0.4 * r(), 0.3 + 0.4 * r()];
      if (y >= 24) labels[i] = 3;
      const inSquare = x >= cx * 8 && x < cx * 8 + 16 && y >= cy * 8 && y < cy * 8 + 16;
      if (inSquare) {
        const hi = strength - 0.05 * r(); const lo = 0.05 * r();
        rgb = kind === 'red' ? [hi, lo, lo] : [lo, lo, hi];
        labels[i] = kind === 'red' ? 1 : 2;
      }
      for (let c = 0; c < 3; c++) image[3 * i + c] = Math.round(rgb[c] * 255);
    }
  }
  return { image, labels };
}

/** Writes `perClass` images of each class into `dir/<class>/`, with label maps and concepts.json. */
export async function writeColorProbe(dir: string, perClass: number, options: { corrupt?: boolean } = {}): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'concepts.json'), JSON.stringify(CONCEPTS_JSON));
  for (const kind of ['red', 'blue'] as const) {
    const sub = path.join(dir, `${kind}_scene`);
    await fs.mkdir(sub, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const { image, labels } = colorScene(kind, (kind === 'red' ? 1000 : 2000) + i);
      const name = `img${String(i).padStart(3, '0')}`;
      await sharp(image, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(sub, `${name}.png`));
      await fs.writeFile(path.join(sub, `${name}_label.png`), await encodeLabelPng(labels, SIZE, SIZE));
    }
  }
  if (options.corrupt) {
    const { labels } = colorScene('red', 1);
    await fs.writeFile(path.join(dir, 'red_scene', 'broken.png'), Buffer.from('this is not a PNG file at all'));
    await fs.writeFile(path.join(dir, 'red_scene', 'broken_label.png'), await encodeLabelPng(labels, SIZE, SIZE));
  }
}
