/**
 * Entry points that turn a (class, seed) pair or a hand-written description into an image and its label map.
 */
import { nearestNames, usageError } from '../../errors.js';
import { SceneBuilder } from './builder.js';
import { RENDERABLE_SCENE_CLASSES, SCENE_CLASSES, sceneClassConfig } from './classes.js';
import type { SceneDescription } from './description.js';
import { rasterize } from './raster.js';
import { Rng, hash32 } from './rng.js';

/**
 * Version of the scene world's generators. Bump it whenever a change makes some (class, seed, size) render
 * different bytes, so that models, atlases and probe sets can record which world they were made from.
 */
export const SCENE_WORLD_VERSION = 2;

/** Default side length of rendered scenes (the built-in model's input size). */
export const DEFAULT_SCENE_SIZE = 96;
/** Largest side length accepted by the renderers. */
export const MAX_SCENE_SIZE = 4096;

/** Options for {@link renderScene}. */
export interface RenderSceneOptions {
  /** Scene class; when omitted the class is drawn from the seed. */
  cls?: string;
  /** Any integer; the same (seed, class, size) always gives the same bytes. */
  seed: number;
  /** Side length in pixels. @defaultValue 96 */
  size?: number;
}

/** A rendered scene: the image, its exact label map and what produced them. */
export interface RenderedScene {
  /** Row-major `size × size × 3` RGB bytes. */
  readonly image: Uint8Array;
  /** Row-major `size × size` concept ids (see `CONCEPTS`; 0 = none). */
  readonly labels: Uint16Array;
  /** Row-major `size × size` ids of the whole object under each pixel (a roof pixel of a house is house; 0 = none). */
  readonly objects: Uint16Array;
  readonly cls: string;
  readonly classIndex: number;
  readonly size: number;
  readonly seed: number;
}

/** Splits any safe integer into two 32-bit words for hashing. */
export function seedWords(seed: number): [number, number] {
  const lo = seed % 4294967296;
  const hi = Math.floor(seed / 4294967296);
  return [lo >>> 0, hi | 0];
}

function checkSeed(seed: unknown, path: string): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw usageError(`Option '${path}' must be a safe integer, got ${String(seed)}.`, { path, hint: 'Pass an integer seed such as 0 or 1234.' });
  }
  return seed;
}

/** Validates a side length (integer in 1…4096). */
export function checkSize(size: unknown, path = 'size'): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_SCENE_SIZE) {
    throw usageError(`Option '${path}' must be an integer from 1 to ${MAX_SCENE_SIZE}, got ${String(size)}.`, { path, hint: `The built-in model uses ${DEFAULT_SCENE_SIZE}.` });
  }
  return size;
}

/** The index of a scene class name; unknown names throw a usage error listing the valid ones. */
export function classIndexOf(cls: string, path = 'cls'): number {
  const i = RENDERABLE_SCENE_CLASSES.indexOf(cls);
  if (i < 0) {
    throw usageError(`Unknown scene class '${cls}'. Valid classes: ${RENDERABLE_SCENE_CLASSES.join(', ')}.`, {
      path,
      hint: `Did you mean ${nearestNames(cls, RENDERABLE_SCENE_CLASSES).map((n) => `'${n}'`).join(', ')}?`,
    });
  }
  return i;
}

const CLASS_SALT = 0x51ced;

/**
 * The scene description behind `renderScene({ cls, seed })`: the shapes in painter's order and the image
 * effects. It does not depend on the size, so one description renders at any resolution.
 */
export function describeScene(cls: string | undefined, seed: number): { description: SceneDescription; cls: string; classIndex: number } {
  checkSeed(seed, 'seed');
  const [lo, hi] = seedWords(seed);
  const classIndex = cls === undefined ? hash32(lo, hi, CLASS_SALT) % SCENE_CLASSES.length : classIndexOf(cls);
  const config = sceneClassConfig(classIndex);
  const rng = new Rng(hash32(lo, hi, classIndex));
  const b = new SceneBuilder(rng);
  const lighting = config.generate(b);
  const description: SceneDescription = {
    shapes: b.shapes,
    lighting,
    blur: rng.range(0, 0.75),
    noise: rng.weighted([[rng.range(1, 4), 3], [rng.range(4, 9), 2]] as const),
    seed: rng.uint32() | 0,
  };
  return { description, cls: config.name, classIndex };
}

/**
 * Renders one scene of the synthetic world: an RGB image and its per-pixel concept label map, both from
 * one scene description. Deterministic: the same (seed, class, size) always gives the same bytes.
 *
 * @example
 * const s = renderScene({ cls: 'ski_resort', seed: 7 });
 * s.image.length === 96 * 96 * 3; s.labels.length === 96 * 96;
 */
export function renderScene(options: RenderSceneOptions): RenderedScene {
  const size = checkSize(options.size ?? DEFAULT_SCENE_SIZE);
  const { description, cls, classIndex } = describeScene(options.cls, options.seed);
  const { image, labels, objects } = rasterize(description, size);
  return { image, labels, objects, cls, classIndex, size, seed: options.seed };
}

/**
 * Renders a hand-written scene description at `size`×`size`. A pixel takes the label of the last labelled shape
 * whose geometry contains its centre; the image gets the description's blur, lighting and noise.
 *
 * @example
 * const { labels } = renderDescription({ shapes: [{ concept: 'snow', geometry: { kind: 'rect', x0: 0.25, y0: 0.25, x1: 0.75, y1: 0.75 }, paint: { color: [250, 250, 250] } }] }, 16);
 */
export function renderDescription(description: SceneDescription, size = DEFAULT_SCENE_SIZE): { image: Uint8Array; labels: Uint16Array; objects: Uint16Array; size: number } {
  checkSize(size);
  if (description === null || typeof description !== 'object' || !Array.isArray(description.shapes)) {
    throw usageError('A scene description needs a `shapes` array.', { path: 'description.shapes' });
  }
  return rasterize(description, size);
}

/**
 * The label planes of a rendered scene for dissection, `[2, size, size]`: plane 0 is the visible concept of each
 * pixel, plane 1 the whole object under it where that differs (a house's roof, window or door pixels are house
 * there), else 0 — so a pixel counts once for each concept it belongs to.
 */
export function sceneLabelPlanes(scene: { labels: Uint16Array; objects: Uint16Array }): Uint16Array {
  const n = scene.labels.length;
  const planes = new Uint16Array(2 * n);
  planes.set(scene.labels);
  for (let i = 0; i < n; i++) if (scene.objects[i] !== scene.labels[i]) planes[n + i] = scene.objects[i];
  return planes;
}
