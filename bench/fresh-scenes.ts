/**
 * Fresh scenes for measuring a model: scenes of a dataset seed that the model's training never drew (its recipe in
 * `evaluation.json` gives the training seed and scene count). Shared by `bench/attacks.ts` and the fixture scripts
 * that must attack the very same images.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { renderScene, sceneSeed } from '../src/data/scenes/index.js';
import type { Classifier } from '../src/models/types.js';

/** Seeds of the scenes a model in `modelDir` was trained on (dataset seed and scene count from its recipe). */
export async function trainingSeeds(modelDir: string): Promise<Set<number>> {
  let seed = 1; let count = 6 * 8000;
  const file = path.join(modelDir, 'evaluation.json');
  if (existsSync(file)) {
    const r = (JSON.parse(await fs.readFile(file, 'utf8')) as { recipe?: { seed: number; epochs: number; scenesPerEpoch: number } }).recipe;
    if (r) { seed = r.seed; count = r.epochs * r.scenesPerEpoch; }
  }
  const s = new Set<number>();
  for (let i = 0; i < count; i++) s.add(sceneSeed(seed, i));
  return s;
}

/**
 * `n` fresh scenes of `classes` (cycled) from dataset `datasetSeed`, skipping seeds in `trained`: pixels NHWC in
 * [0, 1] at the classifier's input size, class indices, the scene seeds used and how many were skipped.
 */
export function freshScenes(clf: Classifier, classes: readonly string[], n: number, datasetSeed: number, trained: Set<number>): { pixels: Float32Array; y: Int32Array; seeds: number[]; skipped: number } {
  const size = clf.inputSize[0];
  const pixels = new Float32Array(n * size * size * 3);
  const y = new Int32Array(n);
  const seeds: number[] = [];
  let skipped = 0;
  for (let i = 0, index = 0; i < n; index++) {
    const seed = sceneSeed(datasetSeed, index);
    if (trained.has(seed)) { skipped++; continue; }
    const cls = classes[i % classes.length];
    const s = renderScene({ cls, seed, size });
    for (let k = 0; k < s.image.length; k++) pixels[i * s.image.length + k] = s.image[k] / 255;
    y[i] = clf.classNames.indexOf(cls);
    seeds.push(seed);
    i++;
  }
  return { pixels, y, seeds, skipped };
}
