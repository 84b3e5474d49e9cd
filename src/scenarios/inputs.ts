/**
 * The inputs of a scenario as pixel-space images with class labels: synthetic scenes rendered at the model's input
 * size, or a folder of images with a labels file. An image that cannot be read is an *errored input*: it is left
 * out, recorded with the reason, and the rest run.
 */
import * as tf from '../tf.js';
import { resizeRgb } from '../data/codec.js';
import { readImageRgb, rgbToTensor, type RgbImage } from '../data/images.js';
import { SCENE_CLASSES, renderScene, sampleScenes } from '../data/scenes/index.js';
import { UnitAttackError, nearestNames } from '../errors.js';
import { findClass } from '../models/classes.js';
import type { Classifier } from '../models/types.js';
import type { ErroredInput } from '../report/types.js';
import { ScenarioError, scenarioError } from './errors.js';
import { issueAt } from './source.js';
import type { Scenario } from './types.js';

/** A scenario's usable inputs. */
export interface LoadedInputs {
  /** 8-bit images at the model's input size. */
  images: RgbImage[];
  /** Class index (of the model) per image. */
  labels: Int32Array;
  /** Display id per image: a file name relative to the folder, or `class-seed` for scenes. */
  ids: string[];
  errored: ErroredInput[];
  /** Inputs named, usable or not. */
  total: number;
}

/** Stacks 8-bit images into a pixel-space batch `[N, H, W, 3]` (the caller disposes it). */
export function stackImages(images: readonly RgbImage[]): tf.Tensor4D {
  if (images.length === 0) throw new UnitAttackError('UA_INTERNAL', 'stackImages needs at least one image');
  const { width: w, height: h } = images[0];
  const per = w * h * 3;
  const f = new Float32Array(per * images.length);
  images.forEach((img, i) => { for (let k = 0; k < per; k++) f[i * per + k] = img.data[k] / 255; });
  return tf.tensor4d(f, [images.length, h, w, 3]);
}

/** One image as a batch of one. */
export function imageTensor(img: RgbImage): tf.Tensor4D {
  return rgbToTensor(img);
}

async function resize(img: RgbImage, h: number, w: number): Promise<RgbImage> {
  if (img.width === w && img.height === h) return img;
  return resizeRgb(img, w, h);
}

function classList(classifier: Classifier): string {
  const names = classifier.classNames;
  return names.length <= 30 ? names.join(', ') : `${names.slice(0, 30).join(', ')}, … (${names.length} classes)`;
}

/**
 * Loads a scenario's inputs for a classifier. Classes the model does not have are a {@link ScenarioError} at the
 * field (or labels-file line) that names them; unreadable images are errored inputs.
 */
export async function loadInputs(scenario: Scenario, classifier: Classifier): Promise<LoadedInputs> {
  const [h, w] = classifier.inputSize;
  const src = scenario.source;
  const inputs = scenario.inputs;
  if (inputs.kind === 'synthetic') {
    const classes = inputs.classes ?? [...SCENE_CLASSES];
    const missing = classes.filter((c) => !classifier.classNames.includes(c));
    if (missing.length > 0) {
      const where = inputs.classes === undefined ? ['inputs', 'synthetic'] : ['inputs', 'synthetic', 'class'];
      throw scenarioError(issueAt(src, 'not_found', where,
        `the model '${classifier.name}' has no class ${missing.map((c) => `'${c}'`).join(', ')} of the scene world`,
        `the model's classes: ${classList(classifier)}` + (inputs.classes === undefined ? '; name the classes with inputs.synthetic.class' : '')));
    }
    const size = inputs.size ?? Math.max(h, w);
    const specs = sampleScenes({ count: inputs.count, seed: inputs.seed, classes, size });
    const images: RgbImage[] = [];
    for (const s of specs) {
      const r = renderScene({ cls: s.cls, seed: s.seed, size: s.size });
      images.push(await resize({ data: r.image, width: s.size, height: s.size }, h, w));
    }
    return {
      images,
      labels: Int32Array.from(specs, (s) => classifier.classNames.indexOf(s.cls)),
      ids: specs.map((s) => `${s.cls}-${s.index}`),
      errored: [],
      total: specs.length,
    };
  }
  if (inputs.kind === 'latents') throw new UnitAttackError('UA_INTERNAL', 'loadInputs: a generator scenario has latents, not images');
  const issues = [];
  const labels: number[] = [];
  const images: RgbImage[] = [];
  const ids: string[] = [];
  const errored: ErroredInput[] = [];
  for (const e of inputs.entries) {
    const k = findClass(classifier.classNames, e.label, { indexText: true });
    if (k < 0) {
      const near = typeof e.label === 'string' ? nearestNames(e.label, classifier.classNames, 1)[0] : undefined;
      issues.push({
        code: 'not_found' as const, path: `line ${e.line}`, file: inputs.labelsFile, line: e.line,
        message: `the model '${classifier.name}' has no class '${String(e.label)}'` + (near !== undefined ? `; did you mean '${near}'?` : ''),
        hint: `the model's classes: ${classList(classifier)}`,
      });
      continue;
    }
    const id = e.file.startsWith(inputs.folder) ? e.file.slice(inputs.folder.length).replace(/^[\\/]+/, '') : e.file;
    try {
      images.push(await readImageRgb(e.file, { size: [h, w], fit: inputs.fit }));
      labels.push(k);
      ids.push(id);
    } catch (err) {
      if (!(err instanceof UnitAttackError) || err.code !== 'UA_INPUT') throw err;
      errored.push({ id, reason: err.message.replace(`'${e.file}' `, '') });
    }
  }
  if (issues.length > 0) throw new ScenarioError(issues);
  return { images, labels: Int32Array.from(labels), ids, errored, total: inputs.entries.length };
}
