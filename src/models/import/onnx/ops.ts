/**
 * ONNX operators → TensorFlow.js layers, one converter per operator type, looked up by name. Every converter
 * reads its inputs from the context (NHWC tensors or constants), builds one layer named after the node (plus, rarely,
 * a helper layer before it) and records the node's output.
 */
import * as tf from '../../../tf.js';
import { AffineClip, Arithmetic, ConstArithmetic, GroupConv2D, Pad2D, Pool2D, type ArithmeticOp } from '../layers.js';
import { transposeData } from './constants.js';
import { floats, type ConversionContext, type TensorValue, type WeightArray } from './context.js';
import { ONNX_DTYPE, type OnnxNode, type OnnxTensor } from './proto.js';

/** Converts one node. */
export type OpConverter = (ctx: ConversionContext, node: OnnxNode) => void;

const converters = new Map<string, OpConverter>();

/** Registers (or replaces) the converter of an ONNX operator type of the default domain. */
export function registerOnnxOp(opType: string, convert: OpConverter): void {
  converters.set(opType, convert);
}

export function onnxConverter(opType: string): OpConverter | undefined {
  return converters.get(opType);
}

/** Operator types with a converter, sorted. */
export function supportedOnnxOps(): string[] {
  return [...converters.keys()].sort();
}

type Pads = [number, number, number, number]; // top, bottom, left, right

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function transposed(data: Float32Array, dims: number[], perm: number[]): WeightArray {
  const out = new Float32Array(data.length);
  transposeData(data, dims, perm, out);
  return { data: out, shape: perm.map((p) => dims[p]) };
}

function spatial(ctx: ConversionContext, node: OnnxNode, v: TensorValue): [number, number] {
  const [, h, w] = v.t.shape;
  if (v.t.shape.length !== 4) throw ctx.error(node, `expects an NCHW image tensor, got rank ${v.t.shape.length}`);
  if (h == null || w == null) throw ctx.error(node, 'needs a known spatial size', 'give the input size with --input-size');
  return [h, w];
}

/** TF's 'same' padding `[begin, end]` on one axis. */
function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const eff = (k - 1) * d + 1;
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + eff - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** ONNX `pads`/`auto_pad` as `[top, bottom, left, right]`. */
function onnxPads(ctx: ConversionContext, node: OnnxNode, hw: [number, number], k: number[], s: number[], d: number[]): Pads {
  const auto = ctx.attr(node, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const [t, b] = samePads(hw[0], k[0], s[0], d[0]);
    const [l, r] = samePads(hw[1], k[1], s[1], d[1]);
    return auto === 'SAME_UPPER' ? [t, b, l, r] : [b, t, r, l];
  }
  const p = ctx.attr<number[]>(node, 'pads', [0, 0, 0, 0]);
  if (p.length !== 4) throw ctx.error(node, `has pads ${JSON.stringify(p)}; only 2-D operators are supported`);
  return [p[0], p[2], p[1], p[3]];
}

/** 'valid', 'same' when the pads are what TF's 'same' pads, else undefined. */
function paddingMode(pads: Pads, hw: [number, number], k: number[], s: number[], d: number[]): 'valid' | 'same' | undefined {
  if (pads.every((p) => p === 0)) return 'valid';
  const [t, b] = samePads(hw[0], k[0], s[0], d[0]);
  const [l, r] = samePads(hw[1], k[1], s[1], d[1]);
  return pads[0] === t && pads[1] === b && pads[2] === l && pads[3] === r ? 'same' : undefined;
}

function pair(ctx: ConversionContext, node: OnnxNode, name: string, fallback: number[]): [number, number] {
  const v = ctx.attr<number[]>(node, name, fallback);
  if (v.length !== 2) throw ctx.error(node, `has ${name} ${JSON.stringify(v)}; only 2-D operators are supported`);
  return [v[0], v[1]];
}

// ---------------------------------------------------------------------------------------------------------------
// Convolution and dense layers

registerOnnxOp('Conv', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  const w = ctx.constIn(node, 1, 'the weight');
  const b = ctx.constIn(node, 2, 'the bias');
  if (w === undefined) throw ctx.error(node, 'has no weight');
  if (w.dims.length !== 4) throw ctx.error(node, `has a ${w.dims.length - 2}-D kernel; only 2-D convolutions are supported`);
  const hw = spatial(ctx, node, x);
  const [m, cg, kh, kw] = w.dims as [number, number, number, number];
  const cin = x.t.shape[3]!;
  const groups = ctx.attr(node, 'group', 1);
  const k: [number, number] = [kh, kw];
  const s = pair(ctx, node, 'strides', [1, 1]);
  const d = pair(ctx, node, 'dilations', [1, 1]);
  if (cg * groups !== cin) throw ctx.error(node, `has a weight for ${cg * groups} input channels in ${groups} groups, but its input has ${cin}`);
  const pads = onnxPads(ctx, node, hw, k, s, d);
  const bias: WeightArray[] = b ? [{ data: floats(b), shape: [m] }] : [];
  let wdata = floats(w);
  const depthwise = groups > 1 && groups === cin && m % cin === 0;
  // tfjs-core has no conv2d gradient for dilations > 1, and tfjs-layers' DepthwiseConv2D ignores its dilation
  // rate: dilated kernels become dense ones with zeros between the taps, which computes the same and differentiates.
  if (d.some((v) => v > 1)) {
    wdata = dilateKernel(wdata, w.dims as [number, number, number, number], d);
    k[0] = (kh - 1) * d[0] + 1;
    k[1] = (kw - 1) * d[1] + 1;
    d[0] = 1; d[1] = 1;
  }
  const kdims = [m, cg, k[0], k[1]];
  if (groups > 1 && !depthwise) {
    const kernel = transposed(wdata, kdims, [2, 3, 1, 0]);
    const layer = new GroupConv2D({
      name: ctx.layerName(node), filters: m, kernelSize: k, strides: s, dilationRate: d, pads, groups, useBias: b !== undefined,
    });
    ctx.output(node, ctx.apply(node, layer, x, [kernel, ...bias]));
    return;
  }
  let input = x;
  let padding = paddingMode(pads, hw, k, s, d);
  if (padding === undefined) {
    const zp = tf.layers.zeroPadding2d({ name: ctx.helperName(node, 'pad'), padding: [[pads[0], pads[1]], [pads[2], pads[3]]] });
    input = ctx.apply(node, zp, x, [], false);
    padding = 'valid';
  }
  if (depthwise) {
    // ONNX [C·mult, 1, kh, kw] with output channel c·mult + j  →  tf [kh, kw, C, mult].
    const mult = m / cin;
    const kernel = transposed(wdata, [cin, mult, k[0], k[1]], [2, 3, 0, 1]);
    const layer = tf.layers.depthwiseConv2d({
      name: ctx.layerName(node), kernelSize: k, depthMultiplier: mult, strides: s, dilationRate: d, padding,
      useBias: b !== undefined, depthwiseInitializer: 'zeros', biasInitializer: 'zeros',
    });
    ctx.output(node, ctx.apply(node, layer, input, [kernel, ...bias]));
    return;
  }
  const kernel = transposed(wdata, kdims, [2, 3, 1, 0]); // OIHW → HWIO
  const layer = tf.layers.conv2d({
    name: ctx.layerName(node), filters: m, kernelSize: k, strides: s, dilationRate: d, padding,
    useBias: b !== undefined, kernelInitializer: 'zeros', biasInitializer: 'zeros',
  });
  ctx.output(node, ctx.apply(node, layer, input, [kernel, ...bias]));
});

/** An OIHW kernel with `d − 1` zeros between taps: `[o, i, (kh − 1)·dh + 1, (kw − 1)·dw + 1]`. */
function dilateKernel(w: Float32Array, dims: [number, number, number, number], d: [number, number]): Float32Array {
  const [o, i, kh, kw] = dims;
  const eh = (kh - 1) * d[0] + 1;
  const ew = (kw - 1) * d[1] + 1;
  const out = new Float32Array(o * i * eh * ew);
  for (let a = 0; a < o * i; a++) {
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) out[(a * eh + y * d[0]) * ew + x * d[1]] = w[(a * kh + y) * kw + x]!;
    }
  }
  return out;
}

/** A Dense layer for `a · kernel + bias`, with the kernel's rows reordered when `a` is a flattened NHWC map. */
function dense(ctx: ConversionContext, node: OnnxNode, a: TensorValue, kernel: Float32Array, k: number, m: number, bias?: Float32Array): void {
  let kern = kernel;
  if (a.flat) {
    const { h, w, c } = a.flat;
    kern = new Float32Array(kernel.length);
    // TF row (y, x, ch) is ONNX row (ch, y, x).
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let ch = 0; ch < c; ch++) {
          const tfRow = (y * w + xx) * c + ch;
          const onnxRow = (ch * h + y) * w + xx;
          kern.set(kernel.subarray(onnxRow * m, onnxRow * m + m), tfRow * m);
        }
      }
    }
  }
  const layer = tf.layers.dense({
    name: ctx.layerName(node), units: m, useBias: bias !== undefined, kernelInitializer: 'zeros', biasInitializer: 'zeros',
  });
  const weights: WeightArray[] = [{ data: kern, shape: [k, m] }];
  if (bias) weights.push({ data: bias, shape: [m] });
  ctx.output(node, ctx.apply(node, layer, a, weights));
}

function matrixInput(ctx: ConversionContext, node: OnnxNode): TensorValue {
  const a = ctx.tensorIn(node, 0);
  if (a.t.shape.length !== 2) {
    throw ctx.error(node, `multiplies a rank-${a.t.shape.length} tensor; only [batch, features] inputs are supported`,
      'flatten the feature map first (torch.flatten(x, 1)), as classifier heads do');
  }
  return a;
}

registerOnnxOp('Gemm', (ctx, node) => {
  if (ctx.attr(node, 'transA', 0) !== 0) throw ctx.error(node, 'has transA = 1');
  const a = matrixInput(ctx, node);
  const b = ctx.constIn(node, 1, 'B (the weight)');
  const c = ctx.constIn(node, 2, 'C (the bias)');
  if (b === undefined || b.dims.length !== 2) throw ctx.error(node, 'needs a 2-D constant weight B');
  const transB = ctx.attr(node, 'transB', 0) !== 0;
  const alpha = ctx.attr(node, 'alpha', 1);
  const beta = ctx.attr(node, 'beta', 1);
  const [k, m] = transB ? [b.dims[1], b.dims[0]] : [b.dims[0], b.dims[1]];
  if (k !== a.t.shape[1]) throw ctx.error(node, `has a weight for ${k} inputs, but its input has ${String(a.t.shape[1])} features`);
  const bd = floats(b);
  const kernel = new Float32Array(k * m);
  if (transB) {
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) kernel[j * m + i] = alpha * bd[i * k + j];
  } else {
    for (let i = 0; i < k * m; i++) kernel[i] = alpha * bd[i];
  }
  let bias: Float32Array | undefined;
  if (c !== undefined) {
    const n = size(c.dims);
    if (n !== 1 && n !== m) throw ctx.error(node, `has a bias C of shape ${JSON.stringify(c.dims)}; expected ${m} values or 1`);
    const cd = floats(c);
    bias = Float32Array.from({ length: m }, (_, i) => beta * cd[n === 1 ? 0 : i]);
  }
  dense(ctx, node, a, kernel, k, m, bias);
});

registerOnnxOp('MatMul', (ctx, node) => {
  const a = matrixInput(ctx, node);
  const b = ctx.constIn(node, 1, 'the second operand (the weight)');
  if (b === undefined || b.dims.length !== 2) throw ctx.error(node, 'needs a 2-D constant second operand');
  if (b.dims[0] !== a.t.shape[1]) throw ctx.error(node, `has a weight for ${b.dims[0]} inputs, but its input has ${String(a.t.shape[1])} features`);
  dense(ctx, node, a, floats(b), b.dims[0], b.dims[1]);
});

registerOnnxOp('BatchNormalization', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  if (ctx.attr(node, 'training_mode', 0) !== 0) throw ctx.error(node, 'is in training mode', 'export the model in eval mode (model.eval())');
  if (node.outputs.slice(1).some((o) => o !== '' && (ctx.consumers.get(o)?.length ?? 0) > 0)) {
    throw ctx.error(node, 'has its running statistics used as outputs (training mode)', 'export the model in eval mode (model.eval())');
  }
  const parts = [1, 2, 3, 4].map((i) => ctx.constIn(node, i, ['scale', 'bias', 'mean', 'variance'][i - 1]));
  const ch = x.t.shape[x.t.shape.length - 1]!;
  const weights = parts.map((p, i) => {
    if (p === undefined || size(p.dims) !== ch) throw ctx.error(node, `needs ${ch} values for its ${['scale', 'bias', 'mean', 'variance'][i]}`);
    return { data: floats(p), shape: [ch] };
  });
  const layer = tf.layers.batchNormalization({
    name: ctx.layerName(node), axis: -1, epsilon: ctx.attr(node, 'epsilon', 1e-5), momentum: ctx.attr(node, 'momentum', 0.9),
  });
  ctx.output(node, ctx.apply(node, layer, x, weights));
});

// ---------------------------------------------------------------------------------------------------------------
// Activations

function activation(ctx: ConversionContext, node: OnnxNode, layer: tf.layers.Layer): void {
  ctx.output(node, ctx.apply(node, layer, ctx.tensorIn(node, 0)));
}

registerOnnxOp('Relu', (ctx, node) => activation(ctx, node, tf.layers.reLU({ name: ctx.layerName(node) })));
registerOnnxOp('LeakyRelu', (ctx, node) => activation(ctx, node,
  tf.layers.leakyReLU({ name: ctx.layerName(node), alpha: ctx.attr(node, 'alpha', 0.01) })));
registerOnnxOp('Elu', (ctx, node) => activation(ctx, node, tf.layers.elu({ name: ctx.layerName(node), alpha: ctx.attr(node, 'alpha', 1) })));
for (const [op, fn] of [['Sigmoid', 'sigmoid'], ['Tanh', 'tanh'], ['Softplus', 'softplus']] as const) {
  registerOnnxOp(op, (ctx, node) => activation(ctx, node, tf.layers.activation({ name: ctx.layerName(node), activation: fn })));
}

function scalar(ctx: ConversionContext, node: OnnxNode, i: number, what: string): number | null {
  const t = ctx.constIn(node, i, what);
  if (t === undefined) return null;
  if (t.data.length !== 1) throw ctx.error(node, `has a ${what} of shape ${JSON.stringify(t.dims)}; expected a scalar`);
  return t.data[0];
}

registerOnnxOp('Clip', (ctx, node) => {
  let min: number | null;
  let max: number | null;
  if (ctx.opset >= 11) {
    min = scalar(ctx, node, 1, 'min');
    max = scalar(ctx, node, 2, 'max');
  } else {
    const lo = node.attributes.min; const hi = node.attributes.max;
    min = typeof lo === 'number' ? lo : null;
    max = typeof hi === 'number' ? hi : null;
  }
  if (min !== null && !Number.isFinite(min)) min = null;
  if (max !== null && !Number.isFinite(max)) max = null;
  const name = ctx.layerName(node);
  // ReLU6 (MobileNet) and ReLU as tfjs-layers' own ReLU; other ranges as AffineClip.
  const layer = min === 0 ? tf.layers.reLU({ name, ...(max !== null ? { maxValue: max } : {}) })
    : new AffineClip({ name, scale: 1, offset: 0, min, max });
  activation(ctx, node, layer);
});

registerOnnxOp('HardSigmoid', (ctx, node) => activation(ctx, node, new AffineClip({
  name: ctx.layerName(node), scale: ctx.attr(node, 'alpha', 0.2), offset: ctx.attr(node, 'beta', 0.5), min: 0, max: 1,
})));

registerOnnxOp('Softmax', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  const rank = x.t.shape.length;
  let axis = ctx.attr(node, 'axis', ctx.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  if (rank === 2 && axis === 1) activation(ctx, node, tf.layers.softmax({ name: ctx.layerName(node), axis: -1 }));
  else if (rank === 4 && axis === 1 && ctx.opset >= 13) activation(ctx, node, tf.layers.softmax({ name: ctx.layerName(node), axis: -1 }));
  else throw ctx.error(node, `takes a softmax over axis ${axis} of a rank-${rank} tensor; only over channels is supported`);
});

for (const op of ['Identity', 'Dropout']) {
  registerOnnxOp(op, (ctx, node) => {
    if (op === 'Dropout' && node.outputs[1] && (ctx.consumers.get(node.outputs[1])?.length ?? 0) > 0) {
      throw ctx.error(node, 'has its dropout mask used', 'export the model in eval mode (model.eval())');
    }
    ctx.output(node, ctx.tensorIn(node, 0));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling

/** Output size and the extra end padding ceil mode needs, as PyTorch computes them (a window must start inside). */
function poolAxis(size: number, k: number, s: number, padBegin: number, padEnd: number, ceil: boolean): { out: number; extra: number } {
  const span = size + padBegin + padEnd - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + padBegin) out--;
  return { out, extra: Math.max((out - 1) * s + k - (size + padBegin + padEnd), 0) };
}

function pool(ctx: ConversionContext, node: OnnxNode, mode: 'max' | 'avg'): void {
  const x = ctx.tensorIn(node, 0);
  const hw = spatial(ctx, node, x);
  if (node.outputs[1] && (ctx.consumers.get(node.outputs[1])?.length ?? 0) > 0) throw ctx.error(node, 'has its indices output used');
  const k = pair(ctx, node, 'kernel_shape', []);
  const s = pair(ctx, node, 'strides', [1, 1]);
  const d = pair(ctx, node, 'dilations', [1, 1]);
  if (d.some((v) => v !== 1)) throw ctx.error(node, `has dilations ${JSON.stringify(d)}; only 1 is supported`);
  const ceil = ctx.attr(node, 'ceil_mode', 0) !== 0;
  const declared = onnxPads(ctx, node, hw, k, s, d);
  const ah = poolAxis(hw[0], k[0], s[0], declared[0], declared[1], ceil);
  const aw = poolAxis(hw[1], k[1], s[1], declared[2], declared[3], ceil);
  const pads: Pads = [declared[0], declared[1] + ah.extra, declared[2], declared[3] + aw.extra];
  const includePad = mode === 'avg' && ctx.attr(node, 'count_include_pad', 0) !== 0;
  const name = ctx.layerName(node);
  let mod = paddingMode(pads, hw, k, s, d);
  // TF's 'same' average pooling leaves the padding out of the count.
  if (mod === 'same' && includePad) mod = undefined;
  let layer: tf.layers.Layer;
  if (mod !== undefined) {
    const args = { name, poolSize: k, strides: s, padding: mod };
    layer = mode === 'max' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
  } else {
    const countPads: Pads = includePad ? declared : [0, 0, 0, 0];
    layer = new Pool2D({ name, mode, poolSize: k, strides: s, pads, countPads });
  }
  ctx.output(node, ctx.apply(node, layer, x));
}

registerOnnxOp('MaxPool', (ctx, node) => pool(ctx, node, 'max'));
registerOnnxOp('AveragePool', (ctx, node) => pool(ctx, node, 'avg'));

/** A pool over the whole map, keeping it rank 4 (`[N, 1, 1, C]`) as ONNX does. */
function globalPool(ctx: ConversionContext, node: OnnxNode, mode: 'max' | 'avg'): void {
  const x = ctx.tensorIn(node, 0);
  const hw = spatial(ctx, node, x);
  const args = { name: ctx.layerName(node), poolSize: hw, strides: hw, padding: 'valid' as const };
  ctx.output(node, ctx.apply(node, mode === 'max' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args), x));
}

registerOnnxOp('GlobalAveragePool', (ctx, node) => globalPool(ctx, node, 'avg'));
registerOnnxOp('GlobalMaxPool', (ctx, node) => globalPool(ctx, node, 'max'));

registerOnnxOp('ReduceMean', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  const rank = x.t.shape.length;
  const axes = (ctx.opset >= 18 ? Array.from(ctx.constIn(node, 1, 'axes')?.data ?? []) : ctx.attr<number[]>(node, 'axes', []))
    .map((a) => (a < 0 ? a + rank : a)).sort();
  const keep = ctx.attr(node, 'keepdims', 1) !== 0;
  if (rank !== 4 || axes.length !== 2 || axes[0] !== 2 || axes[1] !== 3) {
    throw ctx.error(node, `averages over axes ${JSON.stringify(axes)} of a rank-${rank} tensor; only over the spatial axes (2, 3) is supported`);
  }
  if (keep) {
    globalPool(ctx, node, 'avg');
    return;
  }
  ctx.output(node, ctx.apply(node, tf.layers.globalAveragePooling2d({ name: ctx.layerName(node) }), x));
});

// ---------------------------------------------------------------------------------------------------------------
// Shapes

/**
 * Flattens a value to `[N, features]` in ONNX's (c, h, w) order. When every reader is a Gemm/MatMul, the map is
 * flattened as TF.js lays it out (h, w, c) and the reader reorders its weight rows; otherwise a Permute to NCHW
 * comes first, so any reader sees ONNX's order.
 */
function flatten(ctx: ConversionContext, node: OnnxNode, x: TensorValue): void {
  if (x.t.shape.length === 2) {
    ctx.output(node, x);
    return;
  }
  if (x.t.shape.length !== 4) throw ctx.error(node, `flattens a rank-${x.t.shape.length} tensor; only image maps and vectors are supported`);
  const [h, w] = spatial(ctx, node, x);
  const c = x.t.shape[3]!;
  const name = ctx.layerName(node);
  if (h * w === 1) {
    ctx.output(node, ctx.apply(node, tf.layers.flatten({ name }), x));
    return;
  }
  const readers = ctx.readersOf(node.outputs[0]);
  const byWeights = readers.length > 0 && readers.every((r) => (r.opType === 'Gemm' || r.opType === 'MatMul')
    && ctx.values.get(r.inputs[1] ?? '')?.kind === 'const'
    && (r.opType !== 'Gemm' || ctx.attr(r, 'transA', 0) === 0));
  if (byWeights) {
    const out = ctx.apply(node, tf.layers.flatten({ name }), x);
    ctx.output(node, { ...out, flat: { h, w, c } });
    return;
  }
  const nchw = ctx.apply(node, tf.layers.permute({ name: ctx.helperName(node, 'nchw'), dims: [3, 1, 2] }), x, [], false);
  ctx.output(node, ctx.apply(node, tf.layers.flatten({ name }), nchw));
}

registerOnnxOp('Flatten', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  const axis = ctx.attr(node, 'axis', 1);
  if (axis !== 1) throw ctx.error(node, `flattens from axis ${axis}; only axis 1 (keep the batch) is supported`);
  flatten(ctx, node, x);
});

/** Reshapes a tensor value to ONNX dims `target` (batch NaN at 0). */
function reshapeTo(ctx: ConversionContext, node: OnnxNode, x: TensorValue, target: number[]): void {
  const dims = ctx.onnxShape(x);
  const same = target.length === dims.length && target.every((t, i) => t === dims[i] || (Number.isNaN(t) && Number.isNaN(dims[i])));
  if (same) {
    ctx.output(node, x);
    return;
  }
  const features = size(dims.slice(1));
  if (target.length === 2 && target[1] === features) {
    flatten(ctx, node, x);
    return;
  }
  if (dims.length === 2 && target.length === 4 && target[2] === 1 && target[3] === 1 && target[1] === dims[1]) {
    ctx.output(node, ctx.apply(node, tf.layers.reshape({ name: ctx.layerName(node), targetShape: [1, 1, dims[1]] }), x));
    return;
  }
  throw ctx.error(node, `reshapes ${fmtDims(dims)} to ${fmtDims(target)}; only flattening to [N, features] and [N, C] ↔ [N, C, 1, 1] are supported`);
}

const fmtDims = (d: readonly number[]): string => `[${d.map((v) => (Number.isNaN(v) ? 'N' : String(v))).join(', ')}]`;

registerOnnxOp('Reshape', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  const shape = ctx.constIn(node, 1, 'the target shape');
  if (shape === undefined) throw ctx.error(node, 'has no target shape');
  const dims = ctx.onnxShape(x);
  const t = Array.from(shape.data);
  // The first entry is the batch when it is the batch's value, 0 (copy), -1 with the rest fixed, or 1 for a
  // model exported with a fixed batch of 1.
  const rest = t.slice(1);
  const batchLike = Number.isNaN(t[0]) || t[0] === 0 || t[0] === 1 || (t[0] === -1 && !rest.includes(-1));
  if (!batchLike) throw ctx.error(node, `reshapes ${fmtDims(dims)} to ${fmtDims(t)}, which moves the batch axis`);
  const known = size(dims.slice(1));
  const resolved = rest.map((v, i) => (v === 0 ? dims[i + 1] : v));
  const infer = resolved.indexOf(-1);
  if (infer >= 0) {
    const other = size(resolved.filter((_, i) => i !== infer));
    if (other === 0 || known % other !== 0) throw ctx.error(node, `cannot reshape ${fmtDims(dims)} to ${fmtDims(t)}`);
    resolved[infer] = known / other;
  }
  reshapeTo(ctx, node, x, [NaN, ...resolved]);
});

for (const op of ['Unsqueeze', 'Squeeze']) {
  registerOnnxOp(op, (ctx, node) => {
    const x = ctx.tensorIn(node, 0);
    const dims = ctx.onnxShape(x);
    const raw = ctx.opset >= 13 ? Array.from(ctx.constIn(node, 1, 'axes')?.data ?? []) : ctx.attr<number[]>(node, 'axes', []);
    let target: number[];
    if (op === 'Unsqueeze') {
      const rank = dims.length + raw.length;
      const set = new Set(raw.map((a) => (a < 0 ? a + rank : a)));
      target = [];
      let j = 0;
      for (let i = 0; i < rank; i++) target.push(set.has(i) ? 1 : dims[j++]);
    } else {
      const set = new Set(raw.map((a) => (a < 0 ? a + dims.length : a)));
      target = dims.filter((d, i) => (set.size === 0 ? d !== 1 : !set.has(i)));
    }
    if (!Number.isNaN(target[0])) throw ctx.error(node, `moves the batch axis (${fmtDims(dims)} → ${fmtDims(target)})`);
    reshapeTo(ctx, node, x, target);
  });
}

registerOnnxOp('Shape', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  let dims = ctx.onnxShape(x);
  const start = ctx.attr(node, 'start', 0);
  const end = node.attributes.end as number | undefined;
  dims = dims.slice(start, end);
  ctx.output(node, { kind: 'const', c: { name: node.outputs[0], dims: [dims.length], data: Float64Array.from(dims), dataType: ONNX_DTYPE.INT64 } });
});

registerOnnxOp('Concat', (ctx, node) => {
  const xs = node.inputs.map((_, i) => ctx.tensorIn(node, i));
  const rank = xs[0].t.shape.length;
  let axis = ctx.attr(node, 'axis', 1);
  if (axis < 0) axis += rank;
  if (axis === 0) throw ctx.error(node, 'concatenates along the batch axis');
  if (xs.some((x) => x.flat !== undefined)) throw ctx.error(node, 'concatenates flattened maps');
  const tfAxis = rank === 4 ? [0, 3, 1, 2][axis] : axis;
  if (xs.length === 1) {
    ctx.output(node, xs[0]);
    return;
  }
  ctx.output(node, ctx.apply(node, tf.layers.concatenate({ name: ctx.layerName(node), axis: tfAxis }), xs));
});

registerOnnxOp('Pad', (ctx, node) => {
  const x = ctx.tensorIn(node, 0);
  const mode = ctx.attr(node, 'mode', 'constant');
  let pads: number[];
  let value: number;
  if (ctx.opset >= 11) {
    const p = ctx.constIn(node, 1, 'pads');
    if (p === undefined) throw ctx.error(node, 'has no pads');
    pads = Array.from(p.data);
    value = scalar(ctx, node, 2, 'constant_value') ?? 0;
    if (node.inputs[3]) throw ctx.error(node, 'pads selected axes only (the axes input)');
  } else {
    pads = ctx.attr<number[]>(node, 'pads', []);
    value = ctx.attr(node, 'value', 0);
  }
  if (x.t.shape.length !== 4 || pads.length !== 8) throw ctx.error(node, 'pads a tensor that is not an NCHW image map');
  // ONNX [n0, c0, h0, w0, n1, c1, h1, w1].
  if (pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) throw ctx.error(node, 'pads the batch or channel axis');
  if (pads.some((p) => p < 0)) throw ctx.error(node, 'has negative pads (cropping)');
  const p: Pads = [pads[2], pads[6], pads[3], pads[7]];
  const name = ctx.layerName(node);
  let layer: tf.layers.Layer;
  if (mode === 'constant' && value === 0) layer = tf.layers.zeroPadding2d({ name, padding: [[p[0], p[1]], [p[2], p[3]]] });
  else if (mode === 'constant' || mode === 'reflect') layer = new Pad2D({ name, pads: p, mode, value });
  else throw ctx.error(node, `pads in mode '${mode}'; constant and reflect are supported`);
  ctx.output(node, ctx.apply(node, layer, x));
});

// ---------------------------------------------------------------------------------------------------------------
// Elementwise arithmetic

/** A constant broadcast against `x` in TF.js layout, without the batch axis. */
function constFor(ctx: ConversionContext, node: OnnxNode, c: OnnxTensor, x: TensorValue): WeightArray {
  const rank = x.t.shape.length;
  if (c.dims.length > rank) throw ctx.error(node, `broadcasts a constant of shape ${JSON.stringify(c.dims)} against a rank-${rank} tensor`);
  const padded = [...new Array<number>(rank - c.dims.length).fill(1), ...c.dims];
  if (padded[0] !== 1) throw ctx.error(node, `has a constant with a batch axis (shape ${JSON.stringify(c.dims)})`);
  if (x.flat !== undefined && size(c.dims) > 1) throw ctx.error(node, 'combines a flattened map with a constant');
  const data = floats(c);
  if (rank === 4) {
    const t = transposed(data, padded, [0, 2, 3, 1]);
    return { data: t.data, shape: t.shape.slice(1) };
  }
  return { data, shape: padded.slice(1) };
}

function arithmetic(op: ArithmeticOp): (ctx: ConversionContext, node: OnnxNode) => void {
  return (ctx, node) => {
    const a = ctx.value(node, 0);
    const b = ctx.value(node, 1);
    if (a === undefined || b === undefined) throw ctx.error(node, 'needs two inputs');
    const name = ctx.layerName(node);
    if (a.kind === 'tensor' && b.kind === 'tensor') {
      if (a.t.shape.length !== b.t.shape.length) {
        throw ctx.error(node, `combines tensors of rank ${a.t.shape.length} and ${b.t.shape.length}`);
      }
      if (a.flat !== undefined || b.flat !== undefined) throw ctx.error(node, 'combines flattened maps');
      const layer = op === 'add' ? tf.layers.add({ name }) : op === 'mul' ? tf.layers.multiply({ name }) : new Arithmetic({ name, op });
      ctx.output(node, ctx.apply(node, layer, [a, b]));
      return;
    }
    const [x, c, constFirst] = a.kind === 'tensor' ? [a, (b as { c: OnnxTensor }).c, false] : [b as TensorValue, a.c, true];
    const w = constFor(ctx, node, c, x);
    const layer = new ConstArithmetic({ name, op, constShape: w.shape.length === 0 ? [1] : w.shape, constFirst });
    ctx.output(node, ctx.apply(node, layer, x, [{ data: w.data, shape: w.shape.length === 0 ? [1] : w.shape }]));
  };
}

registerOnnxOp('Add', arithmetic('add'));
registerOnnxOp('Sub', arithmetic('sub'));
registerOnnxOp('Mul', arithmetic('mul'));
registerOnnxOp('Div', arithmetic('div'));
