import { createHash } from 'node:crypto';
import * as tf from '../tf.js';
import { UnitAttackError, usageError } from '../errors.js';
import { graphLayer, layersGraph, runLayersGraph, type LayersGraph } from './layers-graph.js';
import { applyPreprocessing, resolvePreprocessing } from './preprocessing.js';
import type { GeneratorEdit } from '../gan/types.js';
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
  private readonly graph: LayersGraph;
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
      this.graph = shared.graph; this.fp = shared.fp;
      return;
    }
    this.graph = layersGraph(model);
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
    const infos = this.graph.layers;
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
    return graphLayer(this.graph, name, this.name);
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
      const input = x !== null ? applyPreprocessing(x, this.preprocessing) : null;
      const r = runLayersGraph(this.graph, input, {
        taps, overrides, edit: (layer, out) => { const e = edits[layer]; return e ? applyEdit(out, e) : out; },
      });
      return { logits: r.output as tf.Tensor2D, taps: r.taps };
    });
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

/** A classifier's unit edit or a generator's (per-unit values, a region of cells). */
export type AnyUnitEdit = UnitEdit | GeneratorEdit;

/**
 * Checks an edit against the layer it applies to: unit indices in range, one value per unit for a per-unit `set`,
 * finite numbers, and a region inside the layer's map. Errors name the option and the valid range.
 */
export function checkEdit(edit: AnyUnitEdit, info: LayerInfo): void {
  const channels = info.shape[info.shape.length - 1];
  for (const u of edit.units) {
    if (!Number.isInteger(u) || u < 0 || u >= channels) {
      throw usageError(`unit ${u} is out of range for layer '${info.name}', which has ${channels} units (0…${channels - 1})`, {
        path: 'units',
      });
    }
  }
  if (edit.op === 'set') {
    const v = edit.value;
    if (typeof v !== 'number' && v.length !== edit.units.length) {
      throw usageError(`a 'set' edit of layer '${info.name}' gives ${v.length} values for ${edit.units.length} units`, {
        path: 'value', hint: 'give one value for all the units, or one per unit in the order of `units`',
      });
    }
    if (!(typeof v === 'number' ? [v] : v).every(Number.isFinite)) throw usageError(`a 'set' edit of layer '${info.name}' has a value that is not a finite number`, { path: 'value' });
  }
  if (edit.op === 'scale' && !Number.isFinite(edit.factor)) throw usageError(`a 'scale' edit of layer '${info.name}' has factor ${edit.factor}`, { path: 'factor' });
  const region = 'region' in edit ? edit.region : undefined;
  if (region !== undefined) {
    if (!info.spatial || info.shape.length !== 3) {
      throw usageError(`an edit of layer '${info.name}' names a region, but the layer has no spatial map (shape [${info.shape.join(', ')}])`, { path: 'region' });
    }
    const [h, w] = info.shape;
    const ok = (r: readonly [number, number], n: number): boolean => Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] >= 0 && r[0] < r[1] && r[1] <= n;
    if (!ok(region.rows, h) || !ok(region.cols, w)) {
      throw usageError(`the region rows [${region.rows.join(', ')}) × cols [${region.cols.join(', ')}) is not inside the ${h}×${w} map of layer '${info.name}'`, {
        path: 'region', hint: `rows and cols are half-open ranges [start, end) with 0 ≤ start < end ≤ ${h} (rows) and ≤ ${w} (cols)`,
      });
    }
  }
}

/**
 * `y = x · mul + add` per channel (the last axis); with a region (a generator's edit), only at the cells of the
 * region: `y = x + mask · (x · mul + add − x)`.
 */
export function applyEdit(x: tf.Tensor, edit: AnyUnitEdit): tf.Tensor {
  const channels = x.shape[x.shape.length - 1];
  const mul = new Float32Array(channels).fill(edit.op === 'keep' ? 0 : 1);
  const add = new Float32Array(channels);
  edit.units.forEach((u, i) => {
    if (edit.op === 'zero') mul[u] = 0;
    else if (edit.op === 'keep') mul[u] = 1;
    else if (edit.op === 'scale') mul[u] = edit.factor;
    else { mul[u] = 0; add[u] = typeof edit.value === 'number' ? edit.value : edit.value[i]; }
  });
  const region = 'region' in edit ? edit.region : undefined;
  return tf.tidy(() => {
    let y = tf.mul(x, tf.tensor1d(mul));
    if (edit.op === 'set') y = tf.add(y, tf.tensor1d(add));
    if (region === undefined) return y;
    const [, h, w] = x.shape;
    const mask = new Float32Array(h * w);
    for (let r = region.rows[0]; r < region.rows[1]; r++) for (let c = region.cols[0]; c < region.cols[1]; c++) mask[r * w + c] = 1;
    return tf.add(x, tf.mul(tf.tensor4d(mask, [1, h, w, 1]), tf.sub(y, x)));
  });
}
