import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { UnitAttackError, nearestNames, usageError } from '../errors.js';
import { applyPreprocessing, resolvePreprocessing } from './preprocessing.js';
import type {
  Classifier, LayerInfo, Preprocessing, PreprocessPreset, RunOptions, RunResult, UnitEdit,
} from './types.js';

/** Options for {@link fromLayersModel}. */
export interface FromLayersModelOptions {
  classNames?: readonly string[];
  /** @defaultValue the model's name */
  name?: string;
  /** @defaultValue `unit` (pixels in [0, 1]) */
  preprocessing?: PreprocessPreset | Preprocessing;
  /** Layer dissection uses by default. @defaultValue the last layer with spatial maps */
  defaultLayer?: string;
  /** A precomputed fingerprint (e.g. the hash of the weight files). @defaultValue a hash of topology and weights */
  fingerprint?: string;
}

// The parts of tfjs-layers' graph that the executor walks (public fields, not in the .d.ts of LayersModel).
interface GraphNode {
  outboundLayer: tf.layers.Layer;
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
  callArgs?: Record<string, unknown>;
}
interface GraphModel {
  inputs: tf.SymbolicTensor[];
  outputs: tf.SymbolicTensor[];
  layers: tf.layers.Layer[];
  nodesByDepth: Record<string, GraphNode[]>;
}

/**
 * Wraps a TensorFlow.js LayersModel (Sequential or functional) as a {@link Classifier}.
 * Taps, edits and overrides work at any named layer: the wrapper runs the model's graph node by node,
 * the way `LayersModel.predict` does, so gradients flow through every path.
 *
 * @example
 * const clf = fromLayersModel(model, { classNames: ['cat', 'dog'] });
 * const logits = clf.logits(images); // images: [N, H, W, 3] in [0, 1]
 */
export function fromLayersModel(model: tf.LayersModel, options: FromLayersModelOptions = {}): Classifier {
  return new LayersClassifier(model, options);
}

class LayersClassifier implements Classifier {
  readonly name: string;
  readonly inputSize: readonly [number, number];
  readonly classNames: readonly string[];
  readonly preprocessing: Preprocessing;
  readonly layers: readonly LayerInfo[];
  readonly defaultLayer: string;
  readonly differentiable = true;
  private readonly graph: GraphModel;
  private readonly nodes: GraphNode[];
  private readonly layerOutputId = new Map<string, number>();
  private readonly layerIndex = new Map<string, LayerInfo>();
  private readonly fixedEdits: Readonly<Record<string, UnitEdit>>;
  private fp: string | undefined;

  constructor(
    readonly model: tf.LayersModel,
    options: FromLayersModelOptions,
    fixedEdits: Readonly<Record<string, UnitEdit>> = {},
    shared?: LayersClassifier,
  ) {
    this.fixedEdits = fixedEdits;
    if (shared) {
      this.name = shared.name; this.inputSize = shared.inputSize; this.classNames = shared.classNames;
      this.preprocessing = shared.preprocessing; this.layers = shared.layers; this.defaultLayer = shared.defaultLayer;
      this.graph = shared.graph; this.nodes = shared.nodes; this.layerOutputId = shared.layerOutputId;
      this.layerIndex = shared.layerIndex; this.fp = shared.fp;
      return;
    }
    if (model instanceof tf.Sequential) model.build();
    const inner = (model as unknown as { model?: GraphModel }).model;
    this.graph = inner && inner.nodesByDepth ? inner : model;
    if (this.graph.inputs.length !== 1 || this.graph.outputs.length !== 1) {
      throw new UnitAttackError('UA_MODEL', `a classifier needs one input and one output; model '${model.name}' has ` +
        `${this.graph.inputs.length} inputs and ${this.graph.outputs.length} outputs`);
    }
    const inShape = this.graph.inputs[0].shape;
    if (inShape.length !== 4 || inShape[3] !== 3 || inShape[1] == null || inShape[2] == null) {
      throw new UnitAttackError('UA_MODEL', `a classifier takes images [N, H, W, 3] of a fixed size; model input shape is ` +
        `${JSON.stringify(inShape)}`, { hint: 'build the model with a fixed input size and 3 channels (NHWC)' });
    }
    this.inputSize = [inShape[1], inShape[2]];
    const outShape = this.graph.outputs[0].shape;
    const numClasses = outShape[outShape.length - 1]!;
    if (outShape.length !== 2) {
      throw new UnitAttackError('UA_MODEL', `a classifier outputs [N, classes]; model output shape is ${JSON.stringify(outShape)}`);
    }
    this.classNames = options.classNames ?? Array.from({ length: numClasses }, (_, i) => `class_${i}`);
    if (this.classNames.length !== numClasses) {
      throw usageError(`the model has ${numClasses} outputs but ${this.classNames.length} class names were given`, {
        path: 'classNames', hint: 'give one class name per output unit, in output order',
      });
    }
    this.name = options.name ?? model.name;
    this.preprocessing = resolvePreprocessing(options.preprocessing);
    const depths = Object.keys(this.graph.nodesByDepth).map(Number).sort((a, b) => b - a);
    this.nodes = depths.flatMap((d) => this.graph.nodesByDepth[String(d)]);
    const infos: LayerInfo[] = [];
    for (const node of this.nodes) {
      const layer = node.outboundLayer;
      if (layer.getClassName() === 'InputLayer' || node.outputTensors.length !== 1) continue;
      if (this.layerIndex.has(layer.name)) continue; // a shared layer: tap its first use
      const out = node.outputTensors[0];
      const info: LayerInfo = {
        name: layer.name, shape: out.shape.slice(1) as number[], className: layer.getClassName(),
        spatial: out.shape.length === 4,
      };
      infos.push(info);
      this.layerIndex.set(layer.name, info);
      this.layerOutputId.set(layer.name, out.id);
    }
    this.layers = infos;
    // Pooling and dropout repeat the layer before them, so the default is the last other spatial layer.
    const spatial = infos.filter((l) => l.spatial && !/Pool|Dropout/.test(l.className));
    const last = spatial[spatial.length - 1];
    this.defaultLayer = options.defaultLayer ?? last?.name ?? infos[infos.length - 1].name;
    if (options.defaultLayer !== undefined) this.layer(options.defaultLayer);
    if (options.fingerprint !== undefined) this.fp = options.fingerprint;
  }

  get fingerprint(): string {
    if (this.fp === undefined) {
      const h = createHash('sha256');
      h.update(JSON.stringify(this.model.toJSON(null, false)));
      for (const w of this.model.weights) h.update(new Uint8Array((w.read().dataSync() as Float32Array).slice().buffer));
      this.fp = h.digest('hex').slice(0, 16);
    }
    return this.fp;
  }

  layer(name: string): LayerInfo {
    const info = this.layerIndex.get(name);
    if (!info) {
      const near = nearestNames(name, [...this.layerIndex.keys()]);
      throw new UnitAttackError('UA_LAYER', `model '${this.name}' has no layer '${name}'`, {
        path: 'layer', hint: `nearest layer names: ${near.join(', ')}`,
      });
    }
    return info;
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return this.run(x).logits;
  }

  activations(x: tf.Tensor4D, layer: string): tf.Tensor {
    return tf.tidy(() => {
      const r = this.run(x, { taps: [layer] });
      return r.taps[layer];
    });
  }

  withEdits(layer: string, edit: UnitEdit): Classifier {
    const info = this.layer(layer);
    checkEdit(edit, info);
    return new LayersClassifier(this.model, {}, { ...this.fixedEdits, [layer]: edit }, this);
  }

  run(x: tf.Tensor4D | null, options: RunOptions = {}): RunResult {
    const taps = options.taps ?? [];
    const edits = { ...this.fixedEdits, ...(options.edits ?? {}) };
    const overrides = options.overrides ?? {};
    for (const t of taps) this.layer(t);
    for (const [l, e] of Object.entries(edits)) checkEdit(e, this.layer(l));
    for (const l of Object.keys(overrides)) this.layer(l);
    if (x !== null) this.checkInput(x);
    else if (Object.keys(overrides).length === 0) {
      throw usageError('run() needs an input or at least one override', { path: 'x' });
    }
    return tf.tidy(() => {
      const values = new Map<number, tf.Tensor>();
      if (x !== null) values.set(this.graph.inputs[0].id, applyPreprocessing(x, this.preprocessing));
      const overridden = new Set(Object.keys(overrides));
      const tapped: Record<string, tf.Tensor> = {};
      for (const node of this.needed(overridden)) {
        const layer = node.outboundLayer;
        let out: tf.Tensor;
        if (overridden.has(layer.name)) {
          out = overrides[layer.name]!;
        } else {
          const ins = node.inputTensors.map((t) => {
            const v = values.get(t.id);
            if (v === undefined) {
              throw usageError(`layer '${layer.name}' needs an input that neither x nor the overrides provide`, { path: 'overrides' });
            }
            return v;
          });
          const kwargs = { ...(node.callArgs ?? {}), training: false };
          const res = layer.call(ins.length === 1 ? ins[0] : ins, kwargs);
          out = Array.isArray(res) ? res[0] : res;
        }
        const edit = edits[layer.name];
        if (edit) out = applyEdit(out, edit);
        values.set(node.outputTensors[0].id, out);
        if (taps.includes(layer.name)) tapped[layer.name] = out;
      }
      const logits = values.get(this.graph.outputs[0].id);
      if (logits === undefined) throw new UnitAttackError('UA_INTERNAL', 'the model output was not computed');
      return { logits: logits as tf.Tensor2D, taps: tapped };
    });
  }

  /** Nodes in execution order that the outputs (and taps) depend on, stopping at overridden layers. */
  private needed(overridden: Set<string>): GraphNode[] {
    if (overridden.size === 0) return this.nodes.filter((n) => n.outboundLayer.getClassName() !== 'InputLayer');
    const producer = new Map<number, GraphNode>();
    for (const n of this.nodes) for (const t of n.outputTensors) producer.set(t.id, n);
    const keep = new Set<GraphNode>();
    const stack = [...this.graph.outputs.map((t) => t.id)];
    while (stack.length > 0) {
      const node = producer.get(stack.pop()!);
      if (!node || keep.has(node)) continue;
      keep.add(node);
      if (overridden.has(node.outboundLayer.name)) continue;
      for (const t of node.inputTensors) stack.push(t.id);
    }
    return this.nodes.filter((n) => keep.has(n) && n.outboundLayer.getClassName() !== 'InputLayer'
      || overridden.has(n.outboundLayer.name));
  }

  private checkInput(x: tf.Tensor): void {
    const [h, w] = this.inputSize;
    if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== 3) {
      throw usageError(`model '${this.name}' takes images [N, ${h}, ${w}, 3]; got ${JSON.stringify(x.shape)}`, {
        path: 'x', hint: `load images at the model's input size (${h}×${w})`,
      });
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}

function checkEdit(edit: UnitEdit, info: LayerInfo): void {
  const channels = info.shape[info.shape.length - 1];
  for (const u of edit.units) {
    if (!Number.isInteger(u) || u < 0 || u >= channels) {
      throw usageError(`unit ${u} is out of range for layer '${info.name}', which has ${channels} units (0…${channels - 1})`, {
        path: 'units',
      });
    }
  }
}

/** `y = x · mul + add` per channel (the last axis). */
export function applyEdit(x: tf.Tensor, edit: UnitEdit): tf.Tensor {
  const channels = x.shape[x.shape.length - 1];
  const mul = new Float32Array(channels).fill(edit.op === 'keep' ? 0 : 1);
  const add = new Float32Array(channels);
  for (const u of edit.units) {
    if (edit.op === 'zero') mul[u] = 0;
    else if (edit.op === 'keep') mul[u] = 1;
    else if (edit.op === 'scale') mul[u] = edit.factor;
    else { mul[u] = 0; add[u] = edit.value; }
  }
  return tf.tidy(() => {
    let y = tf.mul(x, tf.tensor1d(mul));
    if (edit.op === 'set') y = tf.add(y, tf.tensor1d(add));
    return y;
  });
}
