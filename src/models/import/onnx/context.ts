/**
 * The state of one ONNX → TensorFlow.js conversion: ONNX values as symbolic NHWC tensors or constants, layer
 * naming, weight setting, and errors that name the node.
 */
import * as tf from '../../../tf.js';
import { UnitAttackError } from '../../../errors.js';
import { NameTable, sanitizeLayerName } from '../names.js';
import type { OnnxAttribute, OnnxNode, OnnxTensor } from './proto.js';

/**
 * A flattened spatial map in TF.js order (h, w, c) where ONNX has (c, h, w): the Gemm or MatMul that consumes it
 * reorders its weight rows instead of the activations being transposed.
 */
export interface FlatOrder { h: number; w: number; c: number }

/** A value computed by the network. Rank-4 values are NHWC here and NCHW in the ONNX graph. */
export interface TensorValue {
  kind: 'tensor';
  t: tf.SymbolicTensor;
  /** The layer whose output this is (`null` for the model input). */
  layer: string | null;
  flat?: FlatOrder;
}

/** A value known at import time (initializers, Constant nodes, folded shape arithmetic). ONNX layout. */
export interface ConstValue { kind: 'const'; c: OnnxTensor }

export type Value = TensorValue | ConstValue;

/** A weight array for `layer.setWeights`, in the layer's layout. */
export interface WeightArray { data: Float32Array; shape: number[] }

export class ConversionContext {
  readonly values = new Map<string, Value>();
  readonly names = new NameTable();
  /** ONNX node name → the name of the layer that computes its output. */
  readonly nodeLayer = new Map<string, string>();
  readonly notes: string[] = [];
  /** Nodes to treat as Identity (a final Softmax). */
  readonly passThrough = new Set<OnnxNode>();
  /** Every layer applied so far, to free their weights when the conversion fails. */
  readonly created: tf.layers.Layer[] = [];
  private readonly primary = new Map<OnnxNode, string>();

  constructor(
    readonly file: string,
    readonly opset: number,
    /** value name → nodes that read it */
    readonly consumers: Map<string, OnnxNode[]>,
    /** node → its index in the graph, for unnamed nodes */
    readonly index: Map<OnnxNode, number>,
  ) {}

  /** An error about `node`, to throw. */
  error(node: OnnxNode, message: string, hint?: string): UnitAttackError {
    return new UnitAttackError('UA_MODEL', `${this.file}: ONNX node '${node.name || node.opType}' (${node.opType}): ${message}`, {
      file: this.file,
      hint: hint ?? 'this configuration of the operator is not supported by the importer; re-export without it or open an issue with the model',
    });
  }

  value(node: OnnxNode, i: number): Value | undefined {
    const name = node.inputs[i];
    if (name === undefined || name === '') return undefined;
    const v = this.values.get(name);
    if (v === undefined) throw this.error(node, `input '${name}' is not produced by any earlier node (the graph must be topologically sorted)`);
    return v;
  }

  tensorIn(node: OnnxNode, i: number): TensorValue {
    const v = this.value(node, i);
    if (v === undefined) throw this.error(node, `input ${i} is missing`);
    if (v.kind !== 'tensor') throw this.error(node, `input ${i} ('${node.inputs[i]}') must be computed from the image, but it is a constant`);
    return v;
  }

  constIn(node: OnnxNode, i: number, what: string): OnnxTensor | undefined {
    const v = this.value(node, i);
    if (v === undefined) return undefined;
    if (v.kind !== 'const') throw this.error(node, `${what} (input ${i}, '${node.inputs[i]}') must be a constant, but it is computed from the image`);
    return v.c;
  }

  /** An attribute's value, or `fallback` when the node does not set it. */
  attr(node: OnnxNode, name: string, fallback: number): number;
  attr(node: OnnxNode, name: string, fallback: string): string;
  attr<T extends OnnxAttribute>(node: OnnxNode, name: string, fallback: T): T;
  attr(node: OnnxNode, name: string, fallback: OnnxAttribute): OnnxAttribute {
    const v = node.attributes[name];
    return v === undefined ? fallback : v;
  }

  /** The ONNX (NCHW) shape of a tensor value; the batch is NaN. */
  onnxShape(v: TensorValue): number[] {
    const s = v.t.shape.map((d) => (d === null ? NaN : d));
    if (s.length === 4) return [s[0], s[3], s[1], s[2]];
    return s;
  }

  /** The name of the layer that computes `node`'s output. */
  layerName(node: OnnxNode): string {
    let name = this.primary.get(node);
    if (name === undefined) {
      name = this.names.unique(sanitizeLayerName(node.name, `${node.opType}_${this.index.get(node) ?? 0}`));
      this.primary.set(node, name);
    }
    return name;
  }

  /** The name of a helper layer of `node` (e.g. the padding before a conv). */
  helperName(node: OnnxNode, suffix: string): string {
    return this.names.unique(`${this.layerName(node)}_${suffix}`);
  }

  /**
   * Applies `layer` to `inputs`, sets its weights, and returns its output. `primary` layers compute the node's
   * output; helper layers only prepare it.
   */
  apply(node: OnnxNode, layer: tf.layers.Layer, inputs: TensorValue | TensorValue[], weights: WeightArray[] = [], primary = true): TensorValue {
    const ins = Array.isArray(inputs) ? inputs.map((v) => v.t) : inputs.t;
    let out: tf.SymbolicTensor;
    this.created.push(layer);
    try {
      out = layer.apply(ins) as tf.SymbolicTensor;
      if (weights.length > 0) {
        tf.tidy(() => layer.setWeights(weights.map((w) => tf.tensor(w.data, w.shape, 'float32'))));
      }
    } catch (err) {
      if (err instanceof UnitAttackError) throw err;
      throw this.error(node, `TensorFlow.js refused the converted layer: ${(err as Error).message}`,
        'this is likely an importer bug; please open an issue with the model');
    }
    if (primary) this.nodeLayer.set(node.name, layer.name);
    return { kind: 'tensor', t: out, layer: layer.name };
  }

  /** Frees the weights of every layer created so far (after a failed conversion). */
  disposeCreated(): void {
    for (const layer of this.created) for (const w of layer.weights) w.dispose();
    this.created.length = 0;
  }

  /** Records `node`'s output `i`. */
  output(node: OnnxNode, value: Value, i = 0): void {
    const name = node.outputs[i];
    if (name !== undefined && name !== '') this.values.set(name, value);
  }

  /** Nodes that read `valueName`, looking through Identity and Dropout. */
  readersOf(valueName: string): OnnxNode[] {
    const out: OnnxNode[] = [];
    for (const n of this.consumers.get(valueName) ?? []) {
      if ((n.opType === 'Identity' || n.opType === 'Dropout') && n.outputs[0]) out.push(...this.readersOf(n.outputs[0]));
      else out.push(n);
    }
    return out;
  }
}

/** A constant's values as float32 (integers convert exactly up to 2^24). */
export function floats(t: OnnxTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}
