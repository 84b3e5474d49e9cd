/**
 * A generator folder: `model.json` + `weights.bin` (tf layers format) and the sidecar `unit-attack.json` of format
 * `unit-attack-generator`, which names the latent size, the output range and side, and the layers to dissect.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { UnitAttackError } from '../errors.js';
import { readArtifacts, writeLayersModel, SIDECAR_FILE } from '../models/io.js';
import { GENERATOR_OUTPUT_RANGE } from './net.js';

export const GENERATOR_FORMAT = 'unit-attack-generator';

/** The sidecar of a generator folder. */
export interface GeneratorSidecar {
  format: typeof GENERATOR_FORMAT;
  version: 1;
  /** Length of the latent vector, drawn from a standard normal. */
  latentSize: number;
  latentDistribution: 'normal';
  /** The range of the output pixels; `[-1, 1]` maps to [0, 1] by (x + 1) / 2. */
  outputRange: [number, number];
  /** Side of the square RGB output. */
  outputSize: number;
  /** The layers to dissect, in order (`layer1`…`layerN`). */
  layers: string[];
  /** The layer dissected by default. */
  defaultLayer: string;
  description?: string;
  /** The scene classes it was trained on, its training steps and seed (generators trained here). */
  classes?: string[];
  steps?: number;
  seed?: number;
}

/** Saves a generator into `dir` atomically with its sidecar. */
export async function saveGenerator(model: tf.LayersModel, dir: string, sidecar: Omit<GeneratorSidecar, 'format' | 'version'>): Promise<void> {
  await writeLayersModel(model, dir, { format: GENERATOR_FORMAT, version: 1, ...sidecar } satisfies GeneratorSidecar);
}

/** Reads and checks a generator folder's sidecar. */
export async function readGeneratorSidecar(dir: string): Promise<GeneratorSidecar> {
  const file = path.join(dir, SIDECAR_FILE);
  if (!existsSync(file)) {
    throw new UnitAttackError('UA_MODEL', `the generator folder '${dir}' has no ${SIDECAR_FILE}`, {
      file: dir, hint: `a generator folder needs a sidecar naming its latent size, output range and layers (format "${GENERATOR_FORMAT}")`,
    });
  }
  let d: Partial<GeneratorSidecar>;
  try {
    d = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<GeneratorSidecar>;
  } catch (err) {
    throw new UnitAttackError('UA_INPUT', `${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
  if (d.format !== GENERATOR_FORMAT || d.version !== 1) {
    throw new UnitAttackError('UA_INPUT', `${file} must have "format": "${GENERATOR_FORMAT}" and "version": 1`, { file, path: 'format' });
  }
  const range = d.outputRange;
  if (!Number.isInteger(d.latentSize) || (d.latentSize ?? 0) < 1) throw new UnitAttackError('UA_INPUT', `${file}: "latentSize" must be a positive integer`, { file, path: 'latentSize' });
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) {
    throw new UnitAttackError('UA_INPUT', `${file}: "outputRange" must be [low, high] with low < high`, { file, path: 'outputRange', hint: `e.g. [${GENERATOR_OUTPUT_RANGE.join(', ')}]` });
  }
  if (!Array.isArray(d.layers) || !d.layers.every((l) => typeof l === 'string')) throw new UnitAttackError('UA_INPUT', `${file}: "layers" must be an array of layer names`, { file, path: 'layers' });
  return d as GeneratorSidecar;
}

/** Loads a generator folder (or its `model.json`) as a tf layers model, with its sidecar. */
export async function loadGeneratorModel(spec: string): Promise<{ model: tf.LayersModel; sidecar: GeneratorSidecar }> {
  const dir = spec.endsWith('.json') ? path.dirname(spec) : spec;
  const jsonPath = spec.endsWith('.json') ? spec : path.join(spec, 'model.json');
  if (!existsSync(jsonPath)) {
    throw new UnitAttackError('UA_MODEL', `no generator at '${spec}' (no model.json)`, { file: spec, path: 'model', hint: 'train one with `unit-attack train-gan --out DIR`' });
  }
  const sidecar = await readGeneratorSidecar(dir);
  const { artifacts } = await readArtifacts(jsonPath);
  try {
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    return { model, sidecar };
  } catch (err) {
    throw new UnitAttackError('UA_MODEL', `could not load the generator at '${jsonPath}': ${(err as Error).message}`, { file: jsonPath, cause: err });
  }
}
