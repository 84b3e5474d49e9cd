/**
 * The segmenter adapter: a fully convolutional network that labels every pixel of an image with one concept per
 * category (object, part, material, …). Dissection uses it in place of exact label maps, for a folder of plain
 * images or a generator's samples, as the PNAS code uses a segmentation network.
 *
 * A segmenter folder holds a TensorFlow.js layers or graph model (`model.json` + weights) and a sidecar
 * `unit-attack.json` of format `unit-attack-segmenter` that names its categories and concepts:
 * ```json
 * { "format": "unit-attack-segmenter", "version": 1, "preprocessing": "unit",
 *   "categories": [{ "name": "object", "concepts": ["sky", "tree"] }, { "name": "material", "concepts": ["grass"] }],
 *   "multiple": 32 }
 * ```
 * The model outputs logits `[N, H, W, C]` where each category takes `1 + concepts.length` channels in order: the
 * first means "none of this category", the others its concepts. Concept ids run from 1 over the categories in
 * order unless a category gives `ids`.
 */
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { ensureBackend } from '../engine/backend.js';
import { UnitAttackError, inputError } from '../errors.js';
import { PACKAGE_ROOT, readArtifacts } from '../models/io.js';
import { applyPreprocessing, resolvePreprocessing } from '../models/preprocessing.js';
import type { Preprocessing, PreprocessPreset } from '../models/types.js';
import { finishConv, inputParts, isPlainConv, kernelSide, mergeTaps, upTaps } from './decoder.js';
import { segmenterChannels, type SegmenterCategory } from './net.js';

/** A concept a segmenter labels: `id` is its value in the label maps it writes. */
export interface SegmenterConcept {
  readonly id: number;
  readonly name: string;
  readonly category: string;
}

/** The sidecar of a segmenter folder. */
export interface SegmenterSidecar {
  format: 'unit-attack-segmenter';
  version: 1;
  categories: Array<{ name: string; concepts: string[]; ids?: number[] }>;
  preprocessing?: PreprocessPreset | Preprocessing;
  /** Input sides must be multiples of this (inputs of other sizes are resized). @defaultValue 1 */
  multiple?: number;
  /** A fixed `[height, width]` input (graph models exported at one size). */
  inputSize?: [number, number];
  description?: string;
  [extra: string]: unknown;
}

export const SEGMENTER_FORMAT = 'unit-attack-segmenter';
const SIDECAR_FILE = 'unit-attack.json';

/** A loaded segmenter. */
export interface Segmenter {
  /** The spec it was loaded from, or a name given to an in-memory model. */
  readonly name: string;
  /** A hash of the topology and weights (part of dissection cache keys). */
  readonly fingerprint: string;
  readonly categories: readonly SegmenterCategory[];
  /** Every concept, with the id it has in label maps. */
  readonly concepts: readonly SegmenterConcept[];
  /** Input sides must be multiples of this. */
  readonly multiple: number;
  /** A fixed input size, when the model has one. */
  readonly inputSize?: readonly [number, number];
  /** Logits at the input resolution, for pixel-space images `[N, H, W, 3]` in [0, 1] (resized when the size does not fit). */
  logits(images: tf.Tensor4D): tf.Tensor4D;
  /**
   * Label maps of pixel-space images (`count × height × width × 3` floats in [0, 1]): `[count, categories, height,
   * width]` concept ids (0 = none of that category).
   */
  segment(images: Float32Array, count: number, height: number, width: number): Uint16Array;
  /**
   * The label maps of {@link segment} at a coarser grid only, `[count, categories, gridHeight, gridWidth]`: each grid
   * cell takes the label of the pixel at its centre (what dissection's `downsampleLabels` keeps), and equals it.
   * When the model ends in a bilinear ×2 upsampling and every sampled pixel falls on a pixel of the layer before it,
   * only that layer runs and is read at those pixels (the upsampling gives exactly its value there); else the full
   * label maps are computed and sampled.
   */
  segmentGrid?(images: Float32Array, count: number, height: number, width: number, gridHeight: number, gridWidth: number): Uint16Array;
  /** The size the model will actually run at for an input of this size (equal to it when no resize is needed). */
  runSize(height: number, width: number): [number, number];
  dispose(): void;
}

/** Built-in segmenters, by name, as folders inside the package. */
export const BUILTIN_SEGMENTERS: Readonly<Record<string, string>> = {
  'scenes-segmenter': path.join(PACKAGE_ROOT, 'models', 'scenes-segmenter'),
};

/** Options for {@link fromSegmenterModel}. */
export interface FromSegmenterModelOptions {
  categories: readonly SegmenterCategory[];
  /** Concept ids per category, in concept order. @defaultValue 1, 2, … over the categories in order */
  ids?: ReadonlyArray<readonly number[]>;
  preprocessing?: PreprocessPreset | Preprocessing;
  multiple?: number;
  inputSize?: readonly [number, number];
  name?: string;
  fingerprint?: string;
}

/** The pixel at the centre of each of `cells` equal cells along a side of `size` pixels (as `downsampleLabels`). */
function centres(size: number, cells: number): Int32Array {
  return Int32Array.from({ length: cells }, (_, i) => Math.min(size - 1, Math.floor(((i + 0.5) * size) / cells)));
}

type Runnable = { kind: 'layers'; model: tf.LayersModel } | { kind: 'graph'; model: tf.GraphModel };

/** The ids of each category's concepts (explicit, or running from 1). */
function conceptIds(categories: readonly SegmenterCategory[], ids: ReadonlyArray<readonly number[]> | undefined): SegmenterConcept[] {
  const out: SegmenterConcept[] = [];
  let next = 1;
  categories.forEach((cat, k) => cat.concepts.forEach((name, j) => {
    out.push({ id: ids?.[k]?.[j] ?? next, name, category: cat.name });
    next++;
  }));
  return out;
}

function adapt(run: Runnable, o: FromSegmenterModelOptions): Segmenter {
  if (run.model.inputs.length !== 1) {
    throw new UnitAttackError('UA_MODEL', `the segmenter '${o.name ?? 'segmenter'}' has ${run.model.inputs.length} inputs: a segmenter must have one input, the images`, {
      hint: 'export the segmenter with a single image input [N, H, W, 3]',
    });
  }
  const pre = resolvePreprocessing(o.preprocessing, `${SIDECAR_FILE}: preprocessing`);
  const categories = o.categories.map((c) => ({ name: c.name, concepts: [...c.concepts] }));
  const concepts = conceptIds(categories, o.ids);
  const channels = segmenterChannels(categories);
  const multiple = o.multiple ?? 1;
  const fixed = o.inputSize ? [o.inputSize[0], o.inputSize[1]] as const : undefined;
  const runSize = (h: number, w: number): [number, number] => fixed ? [fixed[0], fixed[1]]
    : [Math.max(multiple, Math.round(h / multiple) * multiple), Math.max(multiple, Math.round(w / multiple) * multiple)];
  // Label value of channel j of category k.
  const idOf: Int32Array[] = [];
  let c = 0;
  categories.forEach((cat) => {
    const ids = new Int32Array(cat.concepts.length + 1);
    for (let j = 0; j < cat.concepts.length; j++) ids[j + 1] = concepts[c++].id;
    idOf.push(ids);
  });
  const logits = (images: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => {
    const [, H, W] = images.shape;
    const [h, w] = runSize(H, W);
    const x = h === H && w === W ? images : tf.image.resizeBilinear(images, [h, w], false, true);
    const input = applyPreprocessing(x, pre);
    const y = (run.kind === 'layers' ? run.model.predict(input) : run.model.predict(input)) as tf.Tensor4D;
    if (y.rank !== 4 || y.shape[3] !== channels) {
      throw new UnitAttackError('UA_MODEL', `the segmenter '${o.name ?? 'segmenter'}' outputs shape [${y.shape.join(', ')}], but its sidecar's categories need ${channels} channels (one "none" channel per category plus one per concept)`, {
        path: 'categories', hint: 'list in the sidecar every concept the model predicts, category by category, in channel order',
      });
    }
    return y.shape[1] === H && y.shape[2] === W ? y : tf.image.resizeBilinear(y, [H, W], false, true);
  });
  const checkPixels = (images: Float32Array, count: number, height: number, width: number): void => {
    if (images.length !== count * height * width * 3) {
      throw new UnitAttackError('UA_INTERNAL', `segment: ${images.length} values is not ${count}×${height}×${width}×3`);
    }
  };
  // The model without its last layer, when that layer is a bilinear ×2 upsampling (the built-in segmenter's `logits`).
  let head: { model: tf.LayersModel; sub: tf.LayersModel } | null | undefined;
  const beforeUpsampling = (): { model: tf.LayersModel; sub: tf.LayersModel } | undefined => {
    if (head === undefined) {
      head = null;
      if (run.kind === 'layers' && run.model.layers.length > 1) {
        const last = run.model.layers[run.model.layers.length - 1];
        const cfg = last.getConfig() as { size?: number[]; interpolation?: string };
        if (last.getClassName() === 'UpSampling2D' && cfg.interpolation === 'bilinear' && cfg.size?.[0] === 2 && cfg.size[1] === 2
          && run.model.outputs.length === 1 && last.inboundNodes.length === 1) {
          head = { model: run.model, sub: tf.model({ inputs: run.model.inputs, outputs: last.input }) };
        }
      }
    }
    return head ?? undefined;
  };
  /**
   * When the layer before the upsampling is a 1×1 convolution fed by a k×k 'same' convolution (k odd, ≥ 3, stride 1;
   * ReLU or linear), the labels at the odd pixels (2i+1, 2j+1) of its map — where a grid of half as many cells reads
   * it — are the same two convolutions computed at stride 2 on the zero-padded input of the k×k one: a quarter of
   * their work. `trunk` runs the model up to that input; `tail` applies the two layers' own (live) weights.
   *
   * When that input is a concatenation (on channels) of nearest ×2 upsamplings and other maps, the trunk stops
   * before the upsamplings (and the concatenation: no copies), and each upsampled part is read at half resolution:
   * at the odd pixels a k×k tap lands on a pixel of the small map that several taps share, so its part of the
   * convolution is a convolution of the small map at stride 1 with those taps' weights summed ({@link upTaps}).
   */
  type Strided = { trunk: tf.LayersModel; tail: (xs: tf.Tensor4D[]) => tf.Tensor4D };
  let strided: Strided | null | undefined;
  const oddPixelsPath = (): Strided | undefined => {
    if (strided === undefined) {
      strided = null;
      const model = beforeUpsampling()?.model;
      const up = model?.layers[model.layers.length - 1];
      const single = (l: tf.layers.Layer): boolean => l.inboundNodes.length === 1 && l.outboundNodes.length === 1 && l.inboundNodes[0].inboundLayers.length === 1;
      const headLayer = up?.inboundNodes[0].inboundLayers[0];
      const convLayer = headLayer && single(headLayer) ? headLayer.inboundNodes[0].inboundLayers[0] : undefined;
      if (model && isPlainConv(headLayer, (k) => k === 1, 'valid') && convLayer && single(convLayer) && isPlainConv(convLayer, (k) => k >= 3 && k % 2 === 1, 'same')) {
        const conv = convLayer; const lin = headLayer;
        const k = kernelSide(conv);
        const pad = (k - 1) / 2;
        const parts = inputParts(conv);
        const taps = upTaps(k);
        strided = {
          trunk: tf.model({ inputs: model.inputs, outputs: parts.map((p) => p.tensor) }),
          tail: (xs) => {
            const [kernel, bias] = conv.getWeights() as [tf.Tensor4D, tf.Tensor | undefined];
            let sum: tf.Tensor4D | undefined;
            xs.forEach((x, i) => {
              const { from, channels, up: upsampled } = parts[i];
              const w = parts.length === 1 ? kernel : tf.slice(kernel, [0, 0, from, 0], [k, k, channels, -1]);
              const y = upsampled
                ? tf.conv2d(tf.pad(x, [[0, 0], [taps.before, taps.after], [taps.before, taps.after], [0, 0]]), mergeTaps(w, taps.matrix), 1, 'valid')
                : tf.conv2d(tf.pad(x, [[0, 0], [pad - 1, pad], [pad - 1, pad], [0, 0]]), w, 2, 'valid');
              sum = sum ? tf.add(sum, y) : y;
            });
            const [hk, hb] = lin.getWeights() as [tf.Tensor4D, tf.Tensor | undefined];
            return finishConv(lin, tf.conv2d(finishConv(conv, sum!, bias), hk, 1, 'valid'), hb);
          },
        };
      }
    }
    return strided ?? undefined;
  };
  /**
   * One pass over the logits in JS at rows `ys` and columns `xs` of the model's output: the first largest channel of
   * each category's slice (tf.argMax's choice on ties), without slicing the channels into copies.
   */
  const labelsAt = (images: Float32Array, count: number, height: number, width: number, f: (x: tf.Tensor4D) => tf.Tensor4D, ys: Int32Array, xs: Int32Array): Uint16Array => {
    const n = ys.length * xs.length;
    const out = new Uint16Array(count * categories.length * n);
    if (count === 0) return out;
    const y = tf.tidy(() => f(tf.tensor4d(images, [count, height, width, 3])));
    const [, oh, ow] = y.shape;
    const v = y.dataSync();
    y.dispose();
    if (ys.some((r) => r >= oh) || xs.some((c) => c >= ow)) {
      throw new UnitAttackError('UA_INTERNAL', `segment: logits of ${oh}×${ow} cannot be read at the rows and columns asked for`);
    }
    const sizes = categories.map((cat) => cat.concepts.length + 1);
    for (let b = 0; b < count; b++) {
      for (let r = 0; r < ys.length; r++) {
        for (let c = 0; c < xs.length; c++) {
          const i = r * xs.length + c;
          let off = ((b * oh + ys[r]) * ow + xs[c]) * channels;
          for (let k = 0; k < sizes.length; k++) {
            const d = sizes[k];
            let best = 0;
            let top = v[off];
            for (let j = 1; j < d; j++) if (v[off + j] > top) { top = v[off + j]; best = j; }
            out[(b * categories.length + k) * n + i] = idOf[k][best];
            off += d;
          }
        }
      }
    }
    return out;
  };
  return {
    name: o.name ?? 'segmenter',
    fingerprint: o.fingerprint ?? 'in-memory',
    categories, concepts, multiple, ...(fixed ? { inputSize: fixed } : {}),
    logits,
    runSize,
    segment(images, count, height, width) {
      checkPixels(images, count, height, width);
      const all = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
      return labelsAt(images, count, height, width, logits, all(height), all(width));
    },
    segmentGrid(images, count, height, width, gh, gw) {
      checkPixels(images, count, height, width);
      const ys = centres(height, gh); const xs = centres(width, gw);
      const [rh, rw] = runSize(height, width);
      const head = rh === height && rw === width ? beforeUpsampling() : undefined;
      // The centres on the odd pixels of the half-resolution map, one every two pixels over all of it.
      const oddHalf = (v: Int32Array, side: number): boolean => side === 4 * v.length && v.every((p, i) => p === 4 * i + 2);
      const tail = head && oddHalf(ys, height) && oddHalf(xs, width) ? oddPixelsPath() : undefined;
      if (tail) {
        const gridLogits = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => {
          const y = tail.trunk.predict(applyPreprocessing(x, pre)) as tf.Tensor4D | tf.Tensor4D[];
          return tail.tail(Array.isArray(y) ? y : [y]);
        });
        const all = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
        return labelsAt(images, count, height, width, gridLogits, all(gh), all(gw));
      }
      if (head && ys.every((y) => y % 2 === 0) && xs.every((x) => x % 2 === 0)) {
        // The bilinear ×2 upsampling (no corner alignment, no half-pixel centres) reads pixel 2i of its output from
        // pixel i of its input with weight 1: the same logits, without computing the other three quarters.
        const headLogits = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => head.sub.predict(applyPreprocessing(x, pre)) as tf.Tensor4D);
        return labelsAt(images, count, height, width, headLogits, ys.map((y) => y / 2), xs.map((x) => x / 2));
      }
      return labelsAt(images, count, height, width, logits, ys, xs);
    },
    dispose() { run.model.dispose(); },
  };
}

/**
 * Wraps a layers model as a segmenter (the model outputs logits, one slice per category).
 *
 * @example
 * const seg = fromSegmenterModel(buildSegmenterNet(), { categories: SCENE_SEGMENTER_CATEGORIES, multiple: 32 });
 */
export function fromSegmenterModel(model: tf.LayersModel | tf.GraphModel, options: FromSegmenterModelOptions): Segmenter {
  return adapt(model instanceof tf.GraphModel ? { kind: 'graph', model } : { kind: 'layers', model }, options);
}

function sidecarError(file: string, why: string, field: string): UnitAttackError {
  return inputError(`${file}: ${why}`, {
    file, path: field,
    hint: 'a segmenter sidecar is {"format": "unit-attack-segmenter", "version": 1, "categories": [{"name": "object", "concepts": ["sky", "tree", …]}, …]} (see docs/atlas.md)',
  });
}

/** Reads and checks a segmenter sidecar. */
export async function readSegmenterSidecar(dir: string): Promise<SegmenterSidecar> {
  const file = path.join(dir, SIDECAR_FILE);
  if (!existsSync(file)) {
    throw inputError(`the segmenter folder '${dir}' has no ${SIDECAR_FILE} naming its concepts`, {
      file, path: 'segmenter',
      hint: `write ${file} as {"format": "unit-attack-segmenter", "version": 1, "categories": [{"name": "object", "concepts": ["sky", …]}]} with one "none" channel plus one channel per concept in each category (see docs/atlas.md)`,
    });
  }
  let data: unknown;
  try { data = JSON.parse(await fs.readFile(file, 'utf8')); } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
  const d = data as Partial<SegmenterSidecar>;
  if (d.format !== SEGMENTER_FORMAT || d.version !== 1) {
    throw sidecarError(file, `"format" must be "${SEGMENTER_FORMAT}" and "version" 1${(d.format as string | undefined) === 'unit-attack-model' ? ' (this is a classifier\'s sidecar)' : ''}`, 'format');
  }
  if (!Array.isArray(d.categories) || d.categories.length === 0) throw sidecarError(file, '"categories" must be a non-empty array', 'categories');
  const names = new Set<string>();
  d.categories.forEach((c, k) => {
    if (typeof c?.name !== 'string' || c.name === '') throw sidecarError(file, `categories[${k}] needs a "name"`, `categories[${k}].name`);
    if (!Array.isArray(c.concepts) || c.concepts.length === 0 || !c.concepts.every((x) => typeof x === 'string' && x !== '')) {
      throw sidecarError(file, `categories[${k}].concepts must be a non-empty array of concept names`, `categories[${k}].concepts`);
    }
    for (const x of c.concepts) {
      if (names.has(x)) throw sidecarError(file, `the concept '${x}' appears twice`, `categories[${k}].concepts`);
      names.add(x);
    }
    if (c.ids !== undefined && !(Array.isArray(c.ids) && c.ids.length === c.concepts.length && c.ids.every((i) => Number.isInteger(i) && i >= 1 && i <= 65535))) {
      throw sidecarError(file, `categories[${k}].ids must give an integer id in 1…65535 for each concept`, `categories[${k}].ids`);
    }
  });
  if (d.multiple !== undefined && !(Number.isInteger(d.multiple) && d.multiple >= 1)) throw sidecarError(file, '"multiple" must be a positive integer', 'multiple');
  if (d.inputSize !== undefined && !(Array.isArray(d.inputSize) && d.inputSize.length === 2 && d.inputSize.every((v) => Number.isInteger(v) && v > 0))) {
    throw sidecarError(file, '"inputSize" must be [height, width]', 'inputSize');
  }
  return d as SegmenterSidecar;
}

/**
 * Loads a segmenter from `builtin:scenes-segmenter` or a folder (TensorFlow.js layers or graph model with a
 * `unit-attack.json` sidecar of format `unit-attack-segmenter`).
 *
 * @example
 * const seg = await loadSegmenter('builtin:scenes-segmenter');
 * const maps = seg.segment(pixels, 1, 96, 96); // [1, 3, 96, 96] concept ids
 */
export async function loadSegmenter(spec: string): Promise<Segmenter> {
  await ensureBackend();
  let dir: string;
  if (spec.startsWith('builtin:')) {
    const d = BUILTIN_SEGMENTERS[spec.slice('builtin:'.length)];
    if (d === undefined) {
      throw new UnitAttackError('UA_MODEL', `unknown built-in segmenter '${spec}'`, {
        path: 'segmenter', hint: `built-in segmenters: ${Object.keys(BUILTIN_SEGMENTERS).map((k) => 'builtin:' + k).join(', ')}`,
      });
    }
    if (!existsSync(path.join(d, 'model.json'))) {
      throw new UnitAttackError('UA_MODEL', `the built-in segmenter '${spec}' is missing its files at ${d}`, { hint: 'reinstall the package, or train it with `unit-attack train-segmenter`' });
    }
    dir = d;
  } else {
    if (!existsSync(spec)) throw new UnitAttackError('UA_MODEL', `no segmenter at '${spec}'`, { file: spec, path: 'segmenter', hint: 'give builtin:scenes-segmenter or a folder with model.json and unit-attack.json' });
    dir = statSync(spec).isDirectory() ? spec : path.dirname(spec);
    if (!existsSync(path.join(dir, 'model.json'))) {
      throw new UnitAttackError('UA_MODEL', `the folder '${dir}' has no model.json`, { file: dir, path: 'segmenter', hint: 'a segmenter folder holds a TensorFlow.js model (model.json + weights) and unit-attack.json' });
    }
  }
  const sidecar = await readSegmenterSidecar(dir);
  const jsonPath = path.join(dir, 'model.json');
  const { artifacts, fingerprint } = await readArtifacts(jsonPath);
  const isGraph = (artifacts.format ?? '').toLowerCase() === 'graph-model' || (artifacts.modelTopology as { node?: unknown } | undefined)?.node !== undefined;
  let model: tf.LayersModel | tf.GraphModel;
  try {
    model = isGraph ? await tf.loadGraphModel(tf.io.fromMemory(artifacts)) : await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    throw new UnitAttackError('UA_MODEL', `could not load the segmenter at '${jsonPath}': ${(err as Error).message}`, { file: jsonPath, cause: err });
  }
  const categories = sidecar.categories.map((c) => ({ name: c.name, concepts: c.concepts }));
  const channels = segmenterChannels(categories);
  if (model instanceof tf.LayersModel) {
    const shape = model.outputs[0]?.shape;
    const last = shape?.[shape.length - 1];
    if (typeof last === 'number' && last !== channels) {
      model.dispose();
      throw sidecarError(path.join(dir, SIDECAR_FILE), `the model outputs ${last} channels, but the categories name ${channels - categories.length} concepts in ${categories.length} categories, which need ${channels} (one "none" channel per category)`, 'categories');
    }
  }
  return fromSegmenterModel(model, {
    categories, name: spec, fingerprint,
    ...(sidecar.categories.some((c) => c.ids) ? { ids: sidecar.categories.map((c, k) => c.ids ?? conceptIds(categories, undefined).filter((x) => x.category === categories[k].name).map((x) => x.id)) } : {}),
    ...(sidecar.preprocessing !== undefined ? { preprocessing: sidecar.preprocessing } : {}),
    ...(sidecar.multiple !== undefined ? { multiple: sidecar.multiple } : {}),
    ...(sidecar.inputSize !== undefined ? { inputSize: sidecar.inputSize } : {}),
  });
}
