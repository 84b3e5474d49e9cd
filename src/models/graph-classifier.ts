import * as tf from '../tf.js';
import { UnitAttackError, nearestNames, usageError } from '../errors.js';
import { applyPreprocessing, resolvePreprocessing } from './preprocessing.js';
import type { Classifier, LayerInfo, Preprocessing, PreprocessPreset, RunOptions, RunResult, UnitEdit } from './types.js';

export interface FromGraphModelOptions {
  classNames?: readonly string[];
  name?: string;
  preprocessing?: PreprocessPreset | Preprocessing;
  defaultLayer?: string;
  fingerprint: string;
}

/**
 * Wraps a TensorFlow.js graph model. Taps work at any node name; edits and overrides need a layers model,
 * because a graph model cannot be re-entered in the middle.
 */
export function fromGraphModel(model: tf.GraphModel, options: FromGraphModelOptions): Classifier {
  return new GraphClassifier(model, options);
}

class GraphClassifier implements Classifier {
  readonly name: string;
  readonly inputSize: readonly [number, number];
  readonly classNames: readonly string[];
  readonly preprocessing: Preprocessing;
  readonly layers: readonly LayerInfo[];
  readonly defaultLayer: string;
  readonly fingerprint: string;
  readonly differentiable = true;
  private readonly outputName: string;
  private readonly nodeNames: string[];

  constructor(private readonly model: tf.GraphModel, options: FromGraphModelOptions) {
    const input = model.inputs[0];
    const shape = input?.shape;
    if (model.inputs.length !== 1 || !shape || shape.length !== 4 || shape[3] !== 3 || !(shape[1] > 0) || !(shape[2] > 0)) {
      throw new UnitAttackError('UA_MODEL', `a classifier takes one image input [N, H, W, 3] of fixed size; graph model input is ${JSON.stringify(shape)}`);
    }
    this.inputSize = [shape[1], shape[2]];
    this.outputName = model.outputs[0].name;
    const probe = tf.tidy(() => model.execute(tf.zeros([1, ...this.inputSize, 3])) as tf.Tensor);
    const numClasses = probe.shape[probe.shape.length - 1];
    probe.dispose();
    this.classNames = options.classNames ?? Array.from({ length: numClasses }, (_, i) => `class_${i}`);
    if (this.classNames.length !== numClasses) {
      throw usageError(`the model has ${numClasses} outputs but ${this.classNames.length} class names were given`, { path: 'classNames' });
    }
    this.name = options.name ?? 'graph-model';
    this.preprocessing = resolvePreprocessing(options.preprocessing);
    this.fingerprint = options.fingerprint;
    const topo = (model as unknown as { artifacts?: { modelTopology?: { node?: Array<{ name: string }> } } }).artifacts?.modelTopology;
    this.nodeNames = (topo?.node ?? []).map((n) => n.name);
    this.layers = [];
    this.defaultLayer = options.defaultLayer ?? this.outputName;
  }

  layer(name: string): LayerInfo {
    if (!this.nodeNames.includes(name)) {
      throw new UnitAttackError('UA_LAYER', `graph model '${this.name}' has no node '${name}'`, {
        path: 'layer', hint: `nearest node names: ${nearestNames(name, this.nodeNames).join(', ')}`,
      });
    }
    const out = tf.tidy(() => this.model.execute(tf.zeros([1, ...this.inputSize, 3]), name) as tf.Tensor);
    const info = { name, shape: out.shape.slice(1), className: 'GraphNode', spatial: out.rank === 4 };
    out.dispose();
    return info;
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return this.run(x).logits;
  }

  activations(x: tf.Tensor4D, layer: string): tf.Tensor {
    return tf.tidy(() => this.run(x, { taps: [layer] }).taps[layer]);
  }

  run(x: tf.Tensor4D | null, options: RunOptions = {}): RunResult {
    if (options.edits && Object.keys(options.edits).length > 0 || options.overrides && Object.keys(options.overrides).length > 0) {
      throw new UnitAttackError('UA_MODEL', 'unit edits and overrides need a layers model; this is a graph model', {
        hint: 'convert the model as a layers model (tensorflowjs_converter --output_format tfjs_layers_model)',
      });
    }
    if (x === null) throw usageError('run() on a graph model needs an input', { path: 'x' });
    const taps = options.taps ?? [];
    for (const t of taps) this.layer(t);
    return tf.tidy(() => {
      const input = applyPreprocessing(x, this.preprocessing);
      const outs = this.model.execute(input, [this.outputName, ...taps]) as tf.Tensor[];
      const tapped: Record<string, tf.Tensor> = {};
      taps.forEach((t, i) => { tapped[t] = outs[i + 1]!; });
      return { logits: outs[0] as tf.Tensor2D, taps: tapped };
    });
  }

  withEdits(_layer: string, _edit: UnitEdit): Classifier {
    throw new UnitAttackError('UA_MODEL', 'unit edits need a layers model; this is a graph model', {
      hint: 'convert the model as a layers model (tensorflowjs_converter --output_format tfjs_layers_model)',
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}
