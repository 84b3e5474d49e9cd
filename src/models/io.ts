import { createHash } from 'node:crypto';
import { promises as fs, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../util/package-root.js';
import * as tf from '../tf.js';
import { ensureBackend } from '../engine/backend.js';
import { UnitAttackError } from '../errors.js';
import { fromLayersModel } from './classifier.js';
import { fromGraphModel } from './graph-classifier.js';
import { withLayerAliases } from './import/aliases.js';
import './import/layers.js'; // registers the custom layers of imported models, so their folders load
import { resolvePreprocessing } from './preprocessing.js';
import { writeAtomic } from '../util/atomic.js';
import type { Classifier, Preprocessing, PreprocessPreset } from './types.js';

/**
 * The sidecar file `unit-attack.json` that sits beside `model.json` in a model folder:
 * ```json
 * { "format": "unit-attack-model", "version": 1,
 *   "classes": ["beach", "bedroom", ...],
 *   "preprocessing": "unit" | { "scale": 1, "mean": [..], "std": [..], "channelOrder": "rgb" },
 *   "defaultLayer": "block5_conv3", "description": "..." }
 * ```
 * Every field but `format` and `version` is optional: without `classes`, classes are named `class_0`…;
 * without `preprocessing`, pixels in [0, 1] are fed as they are.
 */
export interface ModelSidecar {
  format: 'unit-attack-model';
  version: 1;
  classes?: string[];
  preprocessing?: PreprocessPreset | Preprocessing;
  defaultLayer?: string;
  description?: string;
  /** Other names for layers (e.g. an imported model's module paths and ONNX names) → layer name. */
  layerAliases?: Record<string, string>;
  [extra: string]: unknown;
}

export const SIDECAR_FILE = 'unit-attack.json';

/** The model formats {@link loadClassifier} accepts, for error messages. */
export const ACCEPTED_MODEL_FORMATS = [
  'builtin:<name> (built-in models: ' + '%BUILTINS%' + ')',
  'a folder with a TensorFlow.js layers model (model.json + weight files, optional unit-attack.json)',
  'a folder with a TensorFlow.js graph model (model.json of format "graph-model")',
  'a path to such a model.json',
];

export { PACKAGE_ROOT };

/** Built-in models, by name, as folders inside the package. */
export const BUILTIN_MODELS: Readonly<Record<string, string>> = {
  'scenes-vgg16': path.join(PACKAGE_ROOT, 'models', 'scenes-vgg16'),
};

function formatsList(): string {
  return ACCEPTED_MODEL_FORMATS.map((f) => '  - ' + f.replace('%BUILTINS%', Object.keys(BUILTIN_MODELS).join(', '))).join('\n');
}

/** Options for {@link loadClassifier}. */
export interface LoadClassifierOptions {
  /** Overrides the sidecar's preprocessing. */
  preprocessing?: PreprocessPreset | Preprocessing;
  /** Overrides the sidecar's class names. */
  classNames?: string[];
}

/**
 * Loads a classifier from `builtin:NAME`, a model folder, or a `model.json` path.
 *
 * @example
 * const clf = await loadClassifier('builtin:scenes-vgg16');
 */
export async function loadClassifier(spec: string, options: LoadClassifierOptions = {}): Promise<Classifier> {
  await ensureBackend();
  let dir: string;
  let jsonPath: string;
  const name = spec;
  if (spec.startsWith('builtin:')) {
    const key = spec.slice('builtin:'.length);
    const d = BUILTIN_MODELS[key];
    if (d === undefined) {
      throw new UnitAttackError('UA_MODEL', `unknown built-in model '${spec}'`, {
        path: 'model', hint: `built-in models: ${Object.keys(BUILTIN_MODELS).map((k) => 'builtin:' + k).join(', ')}`,
      });
    }
    if (!existsSync(path.join(d, 'model.json'))) {
      throw new UnitAttackError('UA_MODEL', `the built-in model '${spec}' is missing its files at ${d}`, {
        hint: 'reinstall the package, or train it with `unit-attack train`',
      });
    }
    dir = d; jsonPath = path.join(d, 'model.json');
  } else {
    if (!existsSync(spec)) {
      throw new UnitAttackError('UA_MODEL', `no model at '${spec}'`, { file: spec, path: 'model', hint: `accepted formats:\n${formatsList()}` });
    }
    if (statSync(spec).isDirectory()) {
      dir = spec; jsonPath = path.join(spec, 'model.json');
      if (!existsSync(jsonPath)) {
        throw new UnitAttackError('UA_MODEL', `the folder '${spec}' has no model.json`, { file: spec, path: 'model', hint: `accepted formats:\n${formatsList()}` });
      }
    } else if (spec.endsWith('.json')) {
      dir = path.dirname(spec); jsonPath = spec;
    } else {
      const importable = /\.(onnx|h5|hdf5)$/i.test(spec) ? `\nimport it first: unit-attack import --from ${spec} --out DIR` : '';
      throw new UnitAttackError('UA_MODEL', `'${spec}' is not a model format unit-attack reads`, {
        file: spec, path: 'model', hint: `accepted formats:\n${formatsList()}${importable}`,
      });
    }
  }
  const sidecar = await readSidecar(dir);
  const { artifacts, fingerprint } = await readArtifacts(jsonPath);
  const classNames = options.classNames ?? sidecar?.classes;
  const preprocessing = resolvePreprocessing(options.preprocessing ?? sidecar?.preprocessing, `${SIDECAR_FILE}: preprocessing`);
  const format = (artifacts.format ?? '').toLowerCase();
  const isGraph = format === 'graph-model' || (artifacts.modelTopology as { node?: unknown } | undefined)?.node !== undefined;
  try {
    if (isGraph) {
      const gm = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
      return fromGraphModel(gm, {
        name, preprocessing, fingerprint,
        ...(classNames ? { classNames } : {}),
        ...(sidecar?.defaultLayer ? { defaultLayer: sidecar.defaultLayer } : {}),
      });
    }
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const clf = fromLayersModel(model, {
      name, preprocessing, fingerprint,
      ...(classNames ? { classNames } : {}),
      ...(sidecar?.defaultLayer ? { defaultLayer: sidecar.defaultLayer } : {}),
    });
    return sidecar?.layerAliases ? withLayerAliases(clf, sidecar.layerAliases) : clf;
  } catch (err) {
    if (err instanceof UnitAttackError) throw err;
    throw new UnitAttackError('UA_MODEL', `could not load the model at '${jsonPath}': ${(err as Error).message}`, {
      file: jsonPath, cause: err, hint: `accepted formats:\n${formatsList()}`,
    });
  }
}

async function readSidecar(dir: string): Promise<ModelSidecar | undefined> {
  const file = path.join(dir, SIDECAR_FILE);
  if (!existsSync(file)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new UnitAttackError('UA_INPUT', `${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
  const d = data as Partial<ModelSidecar>;
  if (d.format !== 'unit-attack-model' || d.version !== 1) {
    throw new UnitAttackError('UA_INPUT', `${file} must have "format": "unit-attack-model" and "version": 1`, { file, path: 'format' });
  }
  if (d.classes !== undefined && !(Array.isArray(d.classes) && d.classes.every((c) => typeof c === 'string'))) {
    throw new UnitAttackError('UA_INPUT', `${file}: "classes" must be an array of strings`, { file, path: 'classes' });
  }
  return d as ModelSidecar;
}

export async function readArtifacts(jsonPath: string): Promise<{ artifacts: tf.io.ModelArtifacts; fingerprint: string }> {
  let json: {
    modelTopology?: unknown; format?: string; generatedBy?: string; convertedBy?: string;
    weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  try {
    json = JSON.parse(await fs.readFile(jsonPath, 'utf8')) as typeof json;
  } catch (err) {
    throw new UnitAttackError('UA_MODEL', `${jsonPath} is not a readable model.json: ${(err as Error).message}`, {
      file: jsonPath, hint: `accepted formats:\n${formatsList()}`,
    });
  }
  if (json.modelTopology === undefined || !Array.isArray(json.weightsManifest)) {
    throw new UnitAttackError('UA_MODEL', `${jsonPath} is not a TensorFlow.js model.json (no modelTopology or weightsManifest)`, {
      file: jsonPath, hint: `accepted formats:\n${formatsList()}`,
    });
  }
  const hash = createHash('sha256');
  hash.update(JSON.stringify(json.modelTopology));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const file = path.join(path.dirname(jsonPath), p);
      try {
        const buf = await fs.readFile(file);
        buffers.push(buf);
        hash.update(buf);
      } catch (err) {
        throw new UnitAttackError('UA_MODEL', `a weight file of ${jsonPath} cannot be read: ${file}`, { file, cause: err });
      }
    }
  }
  const all = Buffer.concat(buffers);
  checkWeightBytes(jsonPath, specs, all.byteLength);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: specs, weightData,
    ...(json.format !== undefined ? { format: json.format } : {}),
  };
  return { artifacts, fingerprint: hash.digest('hex').slice(0, 16) };
}

const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, int16: 2, int8: 1, complex64: 8 };

/**
 * The bytes the manifest describes against the bytes of the weight files: too few is an error naming the file (tfjs
 * would fail deep inside), more is a warning (a weight file from another model, or a truncated manifest).
 */
export function checkWeightBytes(jsonPath: string, specs: readonly tf.io.WeightsManifestEntry[], actual: number): void {
  let expected = 0;
  for (const s of specs) {
    const dtype = s.quantization?.dtype ?? s.dtype;
    const per = DTYPE_BYTES[dtype];
    if (per === undefined) return; // strings and unknown types: sizes not computable from the manifest
    expected += s.shape.reduce((a, b) => a * b, 1) * per;
  }
  if (actual < expected) {
    throw new UnitAttackError('UA_MODEL', `the weight files of ${jsonPath} hold ${actual} bytes, but its weightsManifest describes ${expected}`, {
      file: jsonPath, hint: 'a weight file is truncated or belongs to another model: copy the model folder again',
    });
  }
  if (actual > expected) {
    process.emitWarning(`the weight files of ${jsonPath} hold ${actual - expected} bytes more than its weightsManifest describes (${expected}); the extra bytes are ignored — check that the weights belong to this model.json`, { code: 'UA_WEIGHTS_TRAILING' });
  }
}

/**
 * Saves a layers model into `dir` as `model.json` + `weights.bin` and the sidecar, atomically:
 * files are written under temporary names and renamed into place.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string, sidecar: Omit<ModelSidecar, 'format' | 'version'>): Promise<void> {
  await writeLayersModel(model, dir, { format: 'unit-attack-model', version: 1, ...sidecar });
}

/**
 * Saves a layers model into `dir` as `model.json` + `weights.bin` with `sidecar` as `unit-attack.json`, atomically.
 * The sidecar is written as given (a classifier's, a segmenter's or a generator's).
 */
export async function writeLayersModel(model: tf.LayersModel, dir: string, sidecar: object): Promise<void> {
  await fs.mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot create the folder '${dir}': ${(err as Error).message}`, { file: dir, cause: err });
  });
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weightData = artifacts.weightData;
    const bytes = weightData === undefined ? new Uint8Array(0)
      : Array.isArray(weightData) ? Buffer.concat(weightData.map((b) => Buffer.from(b))) : new Uint8Array(weightData);
    const modelJson = {
      format: 'layers-model', generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    };
    await writeAtomic(path.join(dir, 'weights.bin'), bytes);
    await writeAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    await writeAtomic(path.join(dir, SIDECAR_FILE), JSON.stringify(sidecar, null, 2) + '\n');
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.byteLength } };
  }));
}
