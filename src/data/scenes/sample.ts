/**
 * Datasets of scenes: which class and seed scene `i` of a dataset has. Every scene is a pure function of
 * (dataset seed, index), so shards and workers can render any subset on their own.
 */
import { usageError } from '../../errors.js';
import { SCENE_CLASSES } from './classes.js';
import { DEFAULT_SCENE_SIZE, checkSize, classIndexOf, renderScene, seedWords, type RenderedScene } from './render.js';
import { Rng, hash32 } from './rng.js';

const SCENE_SALT = 0x5ce9e;
const BLOCK_SALT = 0xb10c;
const PICK_SALT = 0x9c1c;

/** The seed of scene `index` in the dataset with seed `datasetSeed` (an unsigned 32-bit integer). */
export function sceneSeed(datasetSeed: number, index: number): number {
  const [lo, hi] = seedWords(datasetSeed);
  const [ilo, ihi] = seedWords(index);
  return hash32(lo, hi, ilo, ihi, SCENE_SALT);
}

/** Which scene to render: pass it to `renderScene` as is. */
export interface SceneSpec {
  readonly index: number;
  readonly cls: string;
  readonly classIndex: number;
  readonly seed: number;
  readonly size: number;
}

/** Options for {@link sampleScenes}. */
export interface SampleScenesOptions {
  /** Number of scenes. */
  count: number;
  /** Dataset seed. */
  seed: number;
  /** Side length. @defaultValue 96 */
  size?: number;
  /** Classes to draw from. @defaultValue every class */
  classes?: readonly string[];
  /**
   * Balanced: every consecutive block of `classes.length` scenes holds each class once, in a seeded order.
   * Otherwise each scene's class is drawn independently. @defaultValue true
   */
  balanced?: boolean;
  /** Index of the first scene, for shards. @defaultValue 0 */
  start?: number;
}

function checkClasses(classes: readonly string[] | undefined): readonly string[] {
  if (classes === undefined) return SCENE_CLASSES;
  const list: unknown = classes;
  if (!Array.isArray(list) || list.length === 0) {
    throw usageError(`Option 'classes' must be a non-empty list of scene classes. Valid classes: ${SCENE_CLASSES.join(', ')}.`, { path: 'classes' });
  }
  classes.forEach((c, i) => classIndexOf(String(c), `classes[${i}]`));
  if (new Set(classes).size !== classes.length) throw usageError(`Option 'classes' lists a class twice: ${classes.join(', ')}.`, { path: 'classes' });
  return classes;
}

function checkCount(value: unknown, path: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw usageError(`Option '${path}' must be an integer ≥ ${min}, got ${String(value)}.`, { path });
  }
  return value;
}

/** The spec of scene `index` of a dataset, computed on its own. */
export function sceneSpec(datasetSeed: number, index: number, options: { size?: number; classes?: readonly string[]; balanced?: boolean } = {}): SceneSpec {
  const classes = checkClasses(options.classes);
  const size = checkSize(options.size ?? DEFAULT_SCENE_SIZE);
  checkCount(index, 'index', 0);
  if (!Number.isSafeInteger(datasetSeed)) throw usageError(`Option 'seed' must be a safe integer, got ${String(datasetSeed)}.`, { path: 'seed' });
  return specOf(datasetSeed, index, classes, options.balanced ?? true, size);
}

function specOf(datasetSeed: number, index: number, classes: readonly string[], balanced: boolean, size: number): SceneSpec {
  const [lo, hi] = seedWords(datasetSeed);
  const n = classes.length;
  let cls: string;
  if (balanced) {
    const block = Math.floor(index / n);
    const order = new Rng(hash32(lo, hi, block, BLOCK_SALT)).shuffle(classes);
    cls = order[index % n]!;
  } else {
    cls = classes[hash32(lo, hi, index, PICK_SALT) % n]!;
  }
  return { index, cls, classIndex: SCENE_CLASSES.indexOf(cls), seed: sceneSeed(datasetSeed, index), size };
}

/**
 * The specs of scenes `start … start + count - 1` of a dataset, with balanced class assignment by default.
 *
 * @example
 * const scenes = sampleScenes({ count: 120, seed: 1 }).map(renderScene);
 */
export function sampleScenes(options: SampleScenesOptions): SceneSpec[] {
  const count = checkCount(options.count, 'count', 0);
  const start = checkCount(options.start ?? 0, 'start', 0);
  if (!Number.isSafeInteger(options.seed)) throw usageError(`Option 'seed' must be a safe integer, got ${String(options.seed)}.`, { path: 'seed' });
  const size = checkSize(options.size ?? DEFAULT_SCENE_SIZE);
  const classes = checkClasses(options.classes);
  const balanced = options.balanced ?? true;
  const out: SceneSpec[] = [];
  for (let i = start; i < start + count; i++) out.push(specOf(options.seed, i, classes, balanced, size));
  return out;
}

/** Renders a list of specs. */
export function renderScenes(specs: readonly SceneSpec[]): RenderedScene[] {
  return specs.map((s) => renderScene(s));
}

/** Packs rendered scenes (all of one size) into one NHWC float32 array with values in [0, 1]. */
export function scenesToFloat32(scenes: readonly { image: Uint8Array; size: number }[]): Float32Array {
  if (scenes.length === 0) return new Float32Array(0);
  const size = scenes[0].size;
  const per = size * size * 3;
  const out = new Float32Array(per * scenes.length);
  scenes.forEach((s, i) => {
    if (s.size !== size || s.image.length !== per) {
      throw usageError(`All scenes must have the same size: scene ${i} is ${s.size}×${s.size}, scene 0 is ${size}×${size}.`, { path: `scenes[${i}]` });
    }
    const o = i * per;
    for (let k = 0; k < per; k++) out[o + k] = s.image[k] / 255;
  });
  return out;
}
