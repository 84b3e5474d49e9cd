/**
 * `importModel`: an ONNX or Keras `.h5` file → a unit-attack model folder (TF.js layers `model.json` +
 * `weights.bin` + the `unit-attack.json` sidecar with classes, preprocessing, default layer and layer aliases).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '../../tf.js';
import { UnitAttackError, usageError } from '../../errors.js';
import { saveLayersModel } from '../io.js';
import { PREPROCESS_PRESETS } from '../preprocessing.js';
import type { PreprocessPreset } from '../types.js';
import './layers.js';

/** The formats {@link importModel} reads. */
export type ImportFormat = 'onnx' | 'keras-model' | 'keras-vgg16-weights';

/** Options for {@link convertModelFile} and {@link importModel}. */
export interface ImportOptions {
  /**
   * Class names, in output order: an array, or a file with one name per line (a trailing index, as in
   * `categories_places365.txt`, and a leading `/a/` folder are dropped) or a JSON array.
   * @defaultValue `class_0`, `class_1`, …
   */
  classes?: string | readonly string[];
  /** @defaultValue `torch` for ONNX files (torchvision's recipe), `caffe` for Keras files (keras.applications VGG16) */
  preprocess?: PreprocessPreset;
  /** `[height, width]` (or one side) for ONNX models exported without a fixed spatial size. */
  inputSize?: number | readonly [number, number];
  /** Written to the sidecar. @defaultValue `imported from <file>` */
  description?: string;
}

/** What {@link convertModelFile} returns: the model (the caller disposes it) and its sidecar fields. */
export interface ConvertedModel {
  model: tf.LayersModel;
  format: ImportFormat;
  inputSize: [number, number];
  classes: string[];
  preprocess: PreprocessPreset;
  defaultLayer: string;
  /** Other names for layers (module paths, ONNX node and output names) → layer name. */
  aliases: Record<string, string>;
  notes: string[];
  /** Facts about the source file, recorded in the sidecar. */
  source: { file: string; format: ImportFormat; sha256: string; bytes: number; opset?: number; producer?: string };
}

/** What {@link importModel} wrote. */
export interface ImportResult extends Omit<ConvertedModel, 'model'> {
  dir: string;
  layers: number;
  parameters: number;
}

const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Sniffs the format from the bytes: HDF5 has a signature (at 0 or after a user block); anything else is tried as ONNX. */
function sniff(bytes: Buffer): 'hdf5' | 'zip' | 'json' | 'other' {
  for (const off of [0, 512, 1024, 2048]) {
    if (bytes.length >= off + 8 && bytes.subarray(off, off + 8).equals(HDF5_MAGIC)) return 'hdf5';
  }
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50) return 'zip';
  const head = bytes.subarray(0, 64).toString('utf8').trimStart();
  if (head.startsWith('{') || head.startsWith('[')) return 'json';
  return 'other';
}

/**
 * Reads an ONNX or Keras `.h5` file into a TF.js LayersModel with everything the sidecar needs, without writing.
 *
 * @example
 * const m = await convertModelFile('resnet18_places365.onnx', { classes: 'categories_places365.txt' });
 */
export async function convertModelFile(file: string, options: ImportOptions = {}): Promise<ConvertedModel> {
  if (!existsSync(file)) throw usageError(`no file at '${file}'`, { file, path: 'file' });
  const bytes = await fs.readFile(file).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot read '${file}': ${(err as Error).message}`, { file, cause: err });
  });
  const kind = sniff(bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const base = path.basename(file);
  const inputSize = options.inputSize === undefined ? undefined
    : typeof options.inputSize === 'number' ? [options.inputSize, options.inputSize] as const : options.inputSize;
  if (kind === 'zip') {
    throw new UnitAttackError('UA_INPUT', `${file} is a zip archive (a Keras 3 .keras file?), not ONNX or HDF5`, {
      file, hint: 'save the model as HDF5 with model.save("model.h5") in Keras 2 (tf.keras), or export it to ONNX',
    });
  }
  if (kind === 'json') {
    throw new UnitAttackError('UA_INPUT', `${file} is JSON, not ONNX or HDF5`, {
      file, hint: 'a TensorFlow.js model.json needs no import: pass its folder to --model',
    });
  }
  let model: tf.LayersModel;
  let format: ImportFormat;
  let size: [number, number];
  let numClasses: number;
  let defaultLayer: string;
  let aliases: Record<string, string> = {};
  let notes: string[];
  const source: ConvertedModel['source'] = { file: base, format: 'onnx', sha256, bytes: bytes.byteLength };
  if (kind === 'hdf5') {
    if (inputSize !== undefined) throw usageError('--input-size applies to ONNX models only; a Keras model fixes its input size', { path: 'inputSize' });
    // Loaded on demand: h5wasm instantiates its wasm module on import, which no other command needs.
    const { readKerasH5 } = await import('./keras/h5.js');
    const { kerasModelFromH5, vgg16FromKerasWeights } = await import('./keras/convert.js');
    const h5 = await readKerasH5(file);
    const c = h5.modelConfig !== undefined ? await kerasModelFromH5(h5, file) : vgg16FromKerasWeights(h5, file);
    ({ model, inputSize: size, numClasses, defaultLayer, notes } = c);
    format = c.kind;
    if (h5.kerasVersion !== undefined) source.producer = `keras ${h5.kerasVersion}`;
  } else {
    const { decodeOnnx } = await import('./onnx/proto.js');
    const { convertOnnx } = await import('./onnx/convert.js');
    const onnx = decodeOnnx(bytes, file);
    const c = convertOnnx(onnx, { file, ...(inputSize ? { inputSize } : {}) });
    ({ model, inputSize: size, numClasses, defaultLayer, aliases, notes } = c);
    format = 'onnx';
    source.opset = c.opset;
    if (c.producer !== '') source.producer = c.producer;
  }
  source.format = format;
  try {
    const classes = await resolveClasses(options.classes, numClasses);
    const preprocess = options.preprocess ?? (format === 'onnx' ? 'torch' : 'caffe');
    if (!(preprocess in PREPROCESS_PRESETS)) {
      throw usageError(`unknown preprocessing preset '${String(preprocess)}'`, {
        path: 'preprocess', hint: `use one of: ${Object.keys(PREPROCESS_PRESETS).join(', ')}`,
      });
    }
    if (options.preprocess === undefined) {
      notes.push(`preprocessing '${preprocess}' assumed (${format === 'onnx' ? "torchvision's ImageNet mean/std" : "keras.applications VGG16's caffe mode"}); pass --preprocess to change it`);
    }
    return { model, format, inputSize: size, classes, preprocess, defaultLayer, aliases, notes, source };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Class names from an array or a file, checked against the model's output size. */
export async function resolveClasses(spec: string | readonly string[] | undefined, numClasses: number): Promise<string[]> {
  if (spec === undefined) return Array.from({ length: numClasses }, (_, i) => `class_${i}`);
  let names: string[];
  let where = 'the class list';
  if (typeof spec === 'string') {
    where = spec;
    let text: string;
    try {
      text = await fs.readFile(spec, 'utf8');
    } catch (err) {
      throw usageError(`cannot read the classes file '${spec}': ${(err as Error).message}`, { file: spec, path: 'classes' });
    }
    names = parseClassNames(text, spec);
  } else {
    names = [...spec];
  }
  if (names.length !== numClasses) {
    throw usageError(`${where} has ${names.length} class names, but the model outputs ${numClasses} classes`, {
      path: 'classes', ...(typeof spec === 'string' ? { file: spec } : {}),
      hint: `give exactly ${numClasses} names in output order, one per line or as a JSON array`,
    });
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw usageError(`${where} names the class '${dup}' twice`, { path: 'classes' });
  return names;
}

/** One name per line, or a JSON array. `categories_places365.txt` lines (`/a/airfield 0`) become `airfield`. */
export function parseClassNames(text: string, file = 'the classes file'): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(trimmed);
    } catch (err) {
      throw usageError(`${file} starts with '[' but is not a valid JSON array: ${(err as Error).message}`, { file, path: 'classes' });
    }
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
      throw usageError(`${file} must be a JSON array of strings`, { file, path: 'classes' });
    }
    return v;
  }
  const lines = trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const indexed = lines.length > 0 && lines.every((l) => /^\S+\s+\d+$/.test(l));
  return lines.map((l) => {
    let name = indexed ? l.replace(/\s+\d+$/, '') : l;
    if (/^\/[a-z]\//.test(name)) name = name.slice(3);
    return name;
  });
}

/**
 * Imports an ONNX or Keras `.h5` file into a model folder that every command reads (`--model DIR`).
 * Refuses to overwrite a folder that holds a model unless `overwrite` is set.
 *
 * @example
 * await importModel('resnet18_places365.onnx', 'models/resnet18-places365', { classes: 'categories_places365.txt' });
 */
export async function importModel(file: string, dir: string, options: ImportOptions & { overwrite?: boolean } = {}): Promise<ImportResult> {
  if (!options.overwrite && existsSync(path.join(dir, 'model.json'))) {
    throw usageError(`'${dir}' already holds a model`, { file: dir, path: 'dir', hint: 'choose another folder, or pass --force to replace it' });
  }
  const c = await convertModelFile(file, options);
  try {
    const description = options.description ?? `imported from ${c.source.file} (${c.format})`;
    await saveLayersModel(c.model, dir, {
      classes: c.classes, preprocessing: c.preprocess, defaultLayer: c.defaultLayer, description,
      ...(Object.keys(c.aliases).length > 0 ? { layerAliases: c.aliases } : {}),
      source: c.source, ...(c.notes.length > 0 ? { notes: c.notes } : {}),
    });
    const parameters = c.model.countParams();
    const { model, ...rest } = c;
    return { ...rest, dir, layers: model.layers.length, parameters };
  } finally {
    c.model.dispose();
  }
}

