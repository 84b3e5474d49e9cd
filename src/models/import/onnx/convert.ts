/**
 * ONNX graph → functional TensorFlow.js LayersModel in NHWC, one layer per ONNX node, named after the node.
 */
import * as tf from '../../../tf.js';
import { UnitAttackError } from '../../../errors.js';
import { moduleAliases, sanitizeLayerName } from '../names.js';
import { CONST_OPS, evalConstNode } from './constants.js';
import { ConversionContext, type TensorValue } from './context.js';
import { onnxConverter, supportedOnnxOps } from './ops.js';
import type { OnnxModel, OnnxNode, OnnxTensor } from './proto.js';

/** The ONNX opsets (default domain) the converter reads. */
export const SUPPORTED_OPSETS = { min: 7, max: 18 } as const;

/** Options for {@link convertOnnx}. */
export interface ConvertOnnxOptions {
  /** The file name used in messages. @defaultValue `'the ONNX model'` */
  file?: string;
  /** `[height, width]` for a model whose input has symbolic spatial dimensions. */
  inputSize?: readonly [number, number];
}

/** A converted model and what the sidecar needs to know about it. */
export interface OnnxConversion {
  model: tf.LayersModel;
  /** Names a user may give for a layer (ONNX node names, output names, module paths) → TF.js layer name. */
  aliases: Record<string, string>;
  /** The last layer with spatial maps (for dissection). */
  defaultLayer: string;
  inputSize: [number, number];
  numClasses: number;
  opset: number;
  producer: string;
  /** Changes the importer made that the user should know of (e.g. a final softmax dropped). */
  notes: string[];
}

/**
 * Converts a decoded ONNX model. Throws a `UA_MODEL` error listing every unsupported operator at once (with
 * counts), or naming the node whose configuration is unsupported.
 *
 * @example
 * const { model, aliases } = convertOnnx(decodeOnnx(bytes), { file: 'resnet18.onnx' });
 */
export function convertOnnx(onnx: OnnxModel, options: ConvertOnnxOptions = {}): OnnxConversion {
  const file = options.file ?? 'the ONNX model';
  const opset = onnx.opsets.get('') ?? onnx.opsets.get('ai.onnx');
  if (opset === undefined || opset < SUPPORTED_OPSETS.min || opset > SUPPORTED_OPSETS.max) {
    throw new UnitAttackError('UA_MODEL', `${file} uses ONNX opset ${opset ?? '(none declared)'}; the importer supports opsets `
      + `${SUPPORTED_OPSETS.min} to ${SUPPORTED_OPSETS.max}`, {
      file,
      hint: 'export again with torch.onnx.export(..., opset_version=13), or convert the file with '
        + `onnx.version_converter.convert_version(model, ${Math.min(Math.max(opset ?? 13, SUPPORTED_OPSETS.min), SUPPORTED_OPSETS.max)})`,
    });
  }
  const { graph } = onnx;
  const consumers = new Map<string, OnnxNode[]>();
  const index = new Map<OnnxNode, number>();
  graph.nodes.forEach((n, i) => {
    index.set(n, i);
    for (const inp of n.inputs) {
      const list = consumers.get(inp) ?? [];
      list.push(n);
      consumers.set(inp, list);
    }
  });
  checkOperators(graph.nodes, graph.initializers, file);

  const ctx = new ConversionContext(file, opset, consumers, index);
  for (const [name, t] of graph.initializers) ctx.values.set(name, { kind: 'const', c: t });
  const { input, inputSize } = makeInput(onnx, ctx, options.inputSize);

  if (graph.outputs.length !== 1) {
    throw new UnitAttackError('UA_MODEL', `${file} has ${graph.outputs.length} outputs; a classifier has one (the logits)`, { file });
  }
  const outputName = graph.outputs[0].name;
  const last = graph.nodes.find((n) => n.outputs.includes(outputName));
  if (last?.opType === 'Softmax') ctx.passThrough.add(last);

  let model: tf.LayersModel;
  try {
    model = convertNodes(ctx, graph.nodes, opset, outputName, input, file, graph.name);
  } catch (err) {
    ctx.disposeCreated();
    throw err;
  }
  // Layers of branches the output does not depend on are not part of the model: free their weights.
  const kept = new Set(model.layers);
  for (const layer of ctx.created) if (!kept.has(layer)) for (const w of layer.weights) w.dispose();
  const aliases = buildAliases(ctx, graph.nodes, [outputName], model);
  return {
    model, aliases, defaultLayer: defaultLayerOf(model), inputSize, numClasses: model.outputs[0].shape[1]!, opset,
    producer: `${onnx.producerName} ${onnx.producerVersion}`.trim(), notes: ctx.notes,
  };
}

/** Converts every node in order and builds the model from the input to `outputName`. */
function convertNodes(ctx: ConversionContext, nodes: readonly OnnxNode[], opset: number, outputName: string, input: TensorValue,
  file: string, graphName: string): tf.LayersModel {
  for (const node of nodes) {
    const ins = node.inputs.map((name) => (name === '' ? undefined : ctx.values.get(name)));
    if (ctx.passThrough.has(node) && ins[0]?.kind === 'tensor' && ins[0].t.shape.length === 2) {
      ctx.output(node, ins[0]);
      ctx.notes.push(`the final Softmax ('${node.name}') was dropped: the imported model outputs logits, as attacks need`);
      continue;
    }
    const allConst = ins.every((v) => v === undefined || v.kind === 'const');
    if (allConst && CONST_OPS.has(node.opType)) {
      const consts = ins.map((v) => (v === undefined ? undefined : (v as { c: OnnxTensor }).c));
      const outs = evalConstNode(node, consts, opset);
      if (outs !== undefined) {
        outs.forEach((c, i) => ctx.output(node, { kind: 'const', c }, i));
        continue;
      }
    }
    const convert = onnxConverter(node.opType);
    if (convert === undefined) throw ctx.error(node, 'has no converter for computed inputs');
    convert(ctx, node);
  }

  const out = ctx.values.get(outputName);
  if (out === undefined || out.kind !== 'tensor') {
    throw new UnitAttackError('UA_MODEL', `${file}: the output '${outputName}' is ${out === undefined ? 'never computed' : 'a constant'}`, { file });
  }
  if (out.t.shape.length !== 2) {
    throw new UnitAttackError('UA_MODEL', `${file}: the output '${outputName}' has shape [${ctx.onnxShape(out).map((d) => (Number.isNaN(d) ? 'N' : d)).join(', ')}]; `
      + 'a classifier outputs [N, classes]', { file, hint: 'export the classifier head too, so the model outputs one score per class' });
  }
  return tf.model({ inputs: input.t, outputs: out.t, name: sanitizeLayerName(graphName, 'onnx_model') });
}

/** Throws one error listing every operator the importer cannot convert, with counts. */
function checkOperators(nodes: readonly OnnxNode[], initializers: ReadonlyMap<string, OnnxTensor>, file: string): void {
  const constant = new Set(initializers.keys());
  const bad = new Map<string, number>();
  for (const n of nodes) {
    const domain = n.domain === 'ai.onnx' ? '' : n.domain;
    const allConst = n.inputs.every((i) => i === '' || constant.has(i));
    const folds = domain === '' && (n.opType === 'Shape' || (allConst && CONST_OPS.has(n.opType)));
    let key: string | undefined;
    if (domain !== '') key = `${domain}::${n.opType}`;
    else if (!folds && onnxConverter(n.opType) === undefined) key = CONST_OPS.has(n.opType) ? `${n.opType} (of computed tensors)` : n.opType;
    if (key !== undefined) bad.set(key, (bad.get(key) ?? 0) + 1);
    if (folds) for (const o of n.outputs) constant.add(o);
  }
  if (bad.size === 0) return;
  const list = [...bad].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([op, k]) => `${op} ×${k}`);
  throw new UnitAttackError('UA_MODEL', `${file} uses ${bad.size} operator type${bad.size > 1 ? 's' : ''} the importer does not support: ${list.join(', ')}`, {
    file,
    hint: `supported operators: ${supportedOnnxOps().join(', ')} (and shape arithmetic on constants). `
      + 'Replace those modules before export, or open an issue with the model',
  });
}

function makeInput(onnx: OnnxModel, ctx: ConversionContext, size: readonly [number, number] | undefined): { input: TensorValue; inputSize: [number, number] } {
  const { graph } = onnx;
  const file = ctx.file;
  const inputs = graph.inputs.filter((i) => !graph.initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new UnitAttackError('UA_MODEL', `${file} has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); a classifier takes one image batch`, { file });
  }
  const info = inputs[0];
  const shape = info.shape ?? [null, 3, null, null];
  if (shape.length !== 4 || shape[1] !== 3) {
    const nhwc = shape.length === 4 && shape[3] === 3;
    throw new UnitAttackError('UA_MODEL', `${file}: the input '${info.name}' has shape [${shape.map((d) => d ?? '?').join(', ')}]; `
      + 'the importer reads models that take NCHW images with 3 channels, as PyTorch exports them', {
      file, hint: nhwc ? 'this looks like an NHWC (TensorFlow) model: convert it with tensorflowjs_converter instead' : 'export the model with a [N, 3, H, W] input',
    });
  }
  const h = shape[2] ?? size?.[0];
  const w = shape[3] ?? size?.[1];
  if (h == null || w == null) {
    throw new UnitAttackError('UA_MODEL', `${file}: the input '${info.name}' has no fixed height and width`, {
      file, hint: 'give the size with --input-size (e.g. 224), or export with a fixed-size example input',
    });
  }
  if (size !== undefined && (size[0] !== h || size[1] !== w)) {
    throw new UnitAttackError('UA_USAGE', `${file} takes ${h}×${w} images, but an input size of ${size[0]}×${size[1]} was given`, {
      file, path: 'inputSize', hint: 'leave out --input-size for models exported with a fixed size',
    });
  }
  const name = ctx.names.unique(sanitizeLayerName(info.name, 'input'));
  const t = tf.input({ shape: [h, w, 3], name });
  const value: TensorValue = { kind: 'tensor', t, layer: null };
  ctx.values.set(info.name, value);
  return { input: value, inputSize: [h, w] };
}

function buildAliases(ctx: ConversionContext, nodes: readonly OnnxNode[], outputs: string[], model: tf.LayersModel): Record<string, string> {
  const layers = new Set(model.layers.map((l) => l.name));
  const aliases: Record<string, string> = {};
  const add = (alias: string, layer: string | null | undefined): void => {
    if (!layer || !layers.has(layer) || alias === '' || alias === layer || layers.has(alias) || alias in aliases) return;
    aliases[alias] = layer;
  };
  for (const [path, valueName] of moduleAliases(nodes, outputs)) {
    const v = ctx.values.get(valueName);
    if (v?.kind === 'tensor') add(path, v.layer);
  }
  for (const [node, layer] of ctx.nodeLayer) add(node, layer);
  for (const [name, v] of ctx.values) if (v.kind === 'tensor') add(name, v.layer);
  return aliases;
}

const NOT_DEFAULT = new Set(['MaxPooling2D', 'AveragePooling2D', 'UnitAttackPool2D', 'ZeroPadding2D', 'UnitAttackPad2D', 'Dropout', 'Permute']);

/** The last layer with spatial maps larger than 1×1 that is not a pool or a pad. */
export function defaultLayerOf(model: tf.LayersModel): string {
  let best: string | undefined;
  for (const l of model.layers) {
    const s = l.outputShape as Array<number | null>;
    if (!Array.isArray(s) || s.length !== 4 || NOT_DEFAULT.has(l.getClassName())) continue;
    if ((s[1] ?? 0) * (s[2] ?? 0) > 1) best = l.name;
  }
  return best ?? model.layers[model.layers.length - 1].name;
}
