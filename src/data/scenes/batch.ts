import * as tf from '../../tf.js';
import { renderScene } from './render.js';
import { sceneSeed } from './sample.js';

/** Renders scenes `[from, from+count)` of dataset `seed` as a batch: images [N,S,S,3] in [0,1] and class indices. */
export function sceneBatch(classes: readonly string[], datasetSeed: number, from: number, count: number, size: number): { x: tf.Tensor4D; y: Int32Array; seeds: number[] } {
  const pixels = new Float32Array(count * size * size * 3);
  const y = new Int32Array(count);
  const seeds: number[] = [];
  for (let i = 0; i < count; i++) {
    const index = from + i;
    const cls = classes[index % classes.length];
    const seed = sceneSeed(datasetSeed, index);
    seeds.push(seed);
    const scene = renderScene({ cls, seed, size });
    const off = i * size * size * 3;
    for (let k = 0; k < scene.image.length; k++) pixels[off + k] = scene.image[k] / 255;
    y[i] = classes.indexOf(cls);
  }
  return { x: tf.tensor4d(pixels, [count, size, size, 3]), y, seeds };
}
