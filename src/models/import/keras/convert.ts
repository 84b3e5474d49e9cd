/**
 * Keras `.h5` → TensorFlow.js LayersModel: a whole model from its `model_config` (Keras 2 configs, which
 * tfjs-layers reads as they are), or weights only, into the VGG-16 builder.
 */
import * as tf from '../../../tf.js';
import { UnitAttackError } from '../../../errors.js';
import { VGG16_CONV_LAYERS, buildVgg16 } from '../../vgg16.js';
import { defaultLayerOf } from '../onnx/convert.js';
import type { KerasH5, KerasLayerWeights } from './h5.js';

/** A converted Keras model. */
export interface KerasConversion {
  model: tf.LayersModel;
  kind: 'keras-model' | 'keras-vgg16-weights';
  defaultLayer: string;
  inputSize: [number, number];
  numClasses: number;
  notes: string[];
}

const shapeText = (s: readonly (number | null)[]): string => `[${s.join(', ')}]`;

type Json = Record<string, unknown>;

/** Every `*_initializer` of a config becomes Zeros: weights are overwritten, so random initialisation is wasted time. */
function zeroInitializers(v: unknown): void {
  if (Array.isArray(v)) {
    v.forEach(zeroInitializers);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Json)) {
      if (k.endsWith('_initializer') && x !== null && typeof x === 'object') (v as Json)[k] = { class_name: 'Zeros', config: {} };
      else zeroInitializers(x);
    }
  }
}

function layerConfigs(config: Json): Json[] {
  const inner = config.config as Json | Json[] | undefined;
  if (Array.isArray(inner)) return inner; // old Sequential configs: a list of layers
  return (inner?.layers as Json[] | undefined) ?? [];
}

/** The output layer's config, when it can be found. */
function outputLayer(config: Json): Json | undefined {
  const layers = layerConfigs(config);
  const inner = config.config as Json | undefined;
  const outs = !Array.isArray(inner) ? (inner?.output_layers as unknown[] | undefined) : undefined;
  if (Array.isArray(outs) && outs.length === 1) {
    const first: unknown = outs[0];
    const name: unknown = Array.isArray(first) ? (first as unknown[])[0] : undefined;
    return layers.find((l) => (l.config as Json | undefined)?.name === name || l.name === name);
  }
  return layers[layers.length - 1];
}

/**
 * Builds the model of a whole-model Keras file and loads its weights. A softmax on the output layer becomes linear
 * (attacks need logits). Throws a `UA_MODEL` error naming every layer whose weights do not fit.
 */
export async function kerasModelFromH5(h5: KerasH5, file: string): Promise<KerasConversion> {
  const config = structuredClone(h5.modelConfig) as Json;
  const notes: string[] = [];
  zeroInitializers(config);
  const out = outputLayer(config);
  const outCfg = out?.config as Json | undefined;
  if (outCfg && outCfg.activation === 'softmax') {
    outCfg.activation = 'linear';
    notes.push(`the softmax of the output layer '${String(outCfg.name)}' was dropped: the imported model outputs logits, as attacks need`);
  } else if (out && (out.class_name === 'Softmax' || (out.class_name === 'Activation' && outCfg?.activation === 'softmax'))) {
    out.class_name = 'Activation';
    out.config = { ...outCfg, activation: 'linear' };
    notes.push(`the final softmax layer '${String(outCfg?.name)}' was made linear: the imported model outputs logits, as attacks need`);
  }
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: config } as unknown as Parameters<typeof tf.models.modelFromJSON>[0]);
  } catch (err) {
    const version = h5.kerasVersion ?? 'unknown';
    throw new UnitAttackError('UA_MODEL', `${file}: TensorFlow.js cannot build the model from its Keras config (Keras ${version}): ${(err as Error).message}`, {
      file, cause: err,
      hint: version.startsWith('3') ? 'Keras 3 configs are not read: save the model with Keras 2 (tf.keras), or save its weights and use a builder'
        : 'the model uses a layer TensorFlow.js does not have; convert it with tensorflowjs_converter to see which',
    });
  }
  setKerasWeights(model, h5.layers, file, 'the model config');
  return finish(model, 'keras-model', notes, file);
}

function finish(model: tf.LayersModel, kind: KerasConversion['kind'], notes: string[], file: string): KerasConversion {
  const inShape = model.inputs[0].shape;
  const outShape = model.outputs[0].shape;
  if (model.inputs.length !== 1 || inShape.length !== 4 || inShape[3] !== 3 || inShape[1] == null || inShape[2] == null) {
    model.dispose();
    throw new UnitAttackError('UA_MODEL', `${file}: the model takes ${shapeText(inShape)}; a classifier takes images [N, H, W, 3] of a fixed size`, { file });
  }
  if (model.outputs.length !== 1 || outShape.length !== 2) {
    model.dispose();
    throw new UnitAttackError('UA_MODEL', `${file}: the model outputs ${shapeText(outShape)}; a classifier outputs [N, classes]`, { file });
  }
  return { model, kind, defaultLayer: defaultLayerOf(model), inputSize: [inShape[1], inShape[2]], numClasses: outShape[1]!, notes };
}

/** Sets every layer's weights from the file, or throws naming each layer whose weights are missing or misshapen. */
function setKerasWeights(model: tf.LayersModel, layers: readonly KerasLayerWeights[], file: string, against: string): void {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const problems: string[] = [];
  const known = new Set(model.layers.map((l) => l.name));
  for (const l of layers) {
    if (l.weights.length > 0 && !known.has(l.name)) {
      problems.push(`${l.name}: in the file (weights ${l.weights.map((w) => `${w.shortName} ${shapeText(w.shape)}`).join(', ')}) but not in ${against}`);
    }
  }
  const plan: Array<[tf.layers.Layer, KerasLayerWeights]> = [];
  for (const layer of model.layers) {
    const want = layer.weights;
    if (want.length === 0) continue;
    const have = byName.get(layer.name);
    const expected = want.map((w) => shapeText(w.shape)).join(', ');
    if (have === undefined) {
      problems.push(`${layer.name}: expects weights ${expected}, but the file has no such layer`);
      continue;
    }
    const found = have.weights.map((w) => shapeText(w.shape)).join(', ');
    const fits = have.weights.length === want.length && want.every((w, i) => shapeText(w.shape) === shapeText(have.weights[i].shape));
    if (!fits) {
      problems.push(`${layer.name}: expects weights ${expected}, found ${found === '' ? 'none' : found}`);
      continue;
    }
    plan.push([layer, have]);
  }
  if (problems.length > 0) {
    model.dispose();
    throw new UnitAttackError('UA_MODEL', `${file}: ${problems.length} layer${problems.length > 1 ? 's do' : ' does'} not match ${against}:\n  `
      + problems.join('\n  '), {
      file, hint: 'give a file saved from the same architecture (layer names and weight shapes must match)',
    });
  }
  for (const [layer, have] of plan) {
    tf.tidy(() => layer.setWeights(have.weights.map((w) => tf.tensor(w.data, w.shape, 'float32'))));
  }
}

/**
 * Loads a weights-only Keras file into the VGG-16 builder ({@link buildVgg16}), inferring the width multiplier
 * (from `block1_conv1`), fc width (`fc1`), input size (`fc1`'s inputs) and class count (`predictions`).
 */
export function vgg16FromKerasWeights(h5: KerasH5, file: string): KerasConversion {
  const byName = new Map(h5.layers.map((l) => [l.name, l]));
  const required = [...VGG16_CONV_LAYERS.map(([n]) => n), 'fc1', 'fc2', 'predictions'];
  const missing = required.filter((n) => (byName.get(n)?.weights.length ?? 0) === 0);
  const found = h5.layers.filter((l) => l.weights.length > 0).map((l) => l.name);
  if (missing.length > 0) {
    throw new UnitAttackError('UA_MODEL', `${file} has no model config, and its weights do not fit the VGG-16 builder: `
      + `missing layer${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (the file has ${found.slice(0, 20).join(', ') || 'no weighted layers'}`
      + `${found.length > 20 ? ', …' : ''})`, {
      file, hint: 'for other architectures, save the whole model (model.save("model.h5")) or export it to ONNX',
    });
  }
  const kernel = (n: string): number[] => byName.get(n)!.weights[0].shape;
  const c1 = kernel('block1_conv1');
  if (c1.length !== 4 || c1[2] !== 3) {
    throw new UnitAttackError('UA_MODEL', `${file}: layer block1_conv1 has kernel ${shapeText(c1)}; the VGG-16 builder expects [3, 3, 3, filters]`, { file });
  }
  const widthMultiplier = c1[3] / 64;
  const width = (c: number): number => Math.max(1, Math.round(c * widthMultiplier));
  const fc1 = kernel('fc1');
  const pred = kernel('predictions');
  const c5 = width(512);
  const side = Math.sqrt((fc1[0] ?? 0) / c5) * 32;
  if (fc1.length !== 2 || !Number.isInteger(side) || side < 32 || pred.length !== 2) {
    throw new UnitAttackError('UA_MODEL', `${file}: layer fc1 has kernel ${shapeText(fc1)}, which does not follow a flatten of `
      + `block5_pool (${c5} channels at width multiplier ${widthMultiplier}, so ${c5}·(size/32)² inputs)`, {
      file, hint: 'the VGG-16 builder expects Keras VGG16 with include_top=True',
    });
  }
  const fcWidth = fc1[1] / widthMultiplier;
  const model = buildVgg16({ inputSize: side, numClasses: pred[1], widthMultiplier, fcWidth });
  setKerasWeights(model, h5.layers, file, `the VGG-16 builder (width multiplier ${widthMultiplier}, input ${side}×${side}, fc ${fc1[1]})`);
  return finish(model, 'keras-vgg16-weights', [], file);
}
