import * as tf from '../../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertOnnx } from '../../../src/models/import/onnx/convert.js';
import { ONNX_DTYPE, type OnnxModel, type OnnxNode, type OnnxTensor } from '../../../src/models/import/onnx/proto.js';
import { relError } from '../../helpers.js';
import { expectError } from './helpers.js';

/**
 * Operator configurations the fixture networks do not cover, on hand-built ONNX graphs, against references
 * computed with tf ops on the cpu backend.
 */

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const f32 = (name: string, dims: number[], data: ArrayLike<number>): OnnxTensor => ({ name, dims, data: Float32Array.from(data), dataType: ONNX_DTYPE.FLOAT });
const i64 = (name: string, data: number[]): OnnxTensor => ({ name, dims: [data.length], data: Float64Array.from(data), dataType: ONNX_DTYPE.INT64 });
const node = (opType: string, inputs: string[], outputs: string[], attributes: OnnxNode['attributes'] = {}, name = ''): OnnxNode =>
  ({ name: name || outputs[0], opType, domain: '', inputs, outputs, attributes });

function model(nodes: OnnxNode[], inits: OnnxTensor[], inShape: [number, number, number, number], output: string, opset = 13): OnnxModel {
  return {
    irVersion: 7, producerName: 'test', producerVersion: '', opsets: new Map([['', opset]]),
    graph: {
      name: 'g', nodes, initializers: new Map(inits.map((t) => [t.name, t])),
      inputs: [{ name: 'x', shape: [null, ...inShape.slice(1)], elemType: 1 }], outputs: [{ name: output, shape: null, elemType: 1 }],
    },
  };
}

/** Runs the converted model on NCHW data `x` and returns NCHW (or [N, K]) values. */
function runConverted(m: OnnxModel, x: tf.Tensor4D): Float32Array {
  const c = convertOnnx(m, { file: 'test.onnx' });
  try {
    return tf.tidy(() => {
      const y = c.model.apply(tf.transpose(x, [0, 2, 3, 1])) as tf.Tensor;
      return (y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y).dataSync() as Float32Array;
    }).slice();
  } finally {
    c.model.dispose();
  }
}

/** A head that makes any NCHW map a valid classifier output: GlobalAveragePool → Flatten. */
const head = (from: string): OnnxNode[] => [node('GlobalAveragePool', [from], ['gap']), node('Flatten', ['gap'], ['out'], { axis: 1 })];

describe('Conv', () => {
  it.each([
    ['dilation 2 with stride 2', 1, 2, 2],
    ['grouped, dilation 2', 2, 2, 1],
    ['depthwise, dilation 2 with stride 2', 6, 2, 2],
    ['depthwise, dilation 3', 6, 3, 1],
  ])('%s computes the dilated convolution (kernels with zeros between the taps)', (_, groups, dil, stride) => {
    // x (3 channels) → 1×1 conv to 6 channels → the conv under test (6 → 6).
    const [n, h, w, c, m, k] = [2, 11, 10, 6, 6, 3];
    const x = tf.tensor4d(rand(n * 3 * h * w, 1), [n, 3, h, w]);
    const w0 = rand(c * 3, 3);
    const wdata = rand(m * (c / groups) * k * k, 2);
    const bias = [0.1, -0.2, 0.3, 0, 0.5, -0.5];
    const pads = [1, 2, 2, 1]; // top, left, bottom, right
    const onnx = model([
      node('Conv', ['x', 'w0'], ['x6'], { kernel_shape: [1, 1] }),
      node('Conv', ['x6', 'w', 'b'], ['y'], { group: groups, dilations: [dil, dil], strides: [stride, stride], pads, kernel_shape: [k, k] }),
    ], [f32('w0', [c, 3, 1, 1], w0), f32('w', [m, c / groups, k, k], wdata), f32('b', [m], bias)], [n, 3, h, w], 'y');
    const got = convertOnnxMap(onnx, x);
    const ref = tf.tidy(() => {
      const x6 = tf.conv2d(tf.transpose(x, [0, 2, 3, 1]), tf.transpose<tf.Tensor4D>(tf.tensor4d(w0, [c, 3, 1, 1]), [2, 3, 1, 0]), 1, 'valid');
      const xs = tf.split(tf.pad(x6, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]]), groups, 3);
      const ws = tf.split(tf.transpose(tf.tensor4d(wdata, [m, c / groups, k, k]), [2, 3, 1, 0]), groups, 3);
      const ys = xs.map((xg, i) => tf.conv2d(xg as tf.Tensor4D, ws[i] as tf.Tensor4D, 1, 'valid', 'NHWC', dil));
      let y = tf.add<tf.Tensor4D>(tf.concat(ys, 3), tf.tensor1d(bias));
      if (stride > 1) y = tf.stridedSlice(y, [0, 0, 0, 0], y.shape, [1, stride, stride, 1]) as tf.Tensor4D;
      return tf.transpose(y, [0, 3, 1, 2]).dataSync() as Float32Array;
    });
    expect(relError(got, ref)).toBeLessThan(1e-5);
    x.dispose();
  });
});

/** Converts a graph whose output is a map, flattened (in ONNX order) to make it a classifier output; returns NCHW values. */
function convertOnnxMap(m: OnnxModel, x: tf.Tensor4D): Float32Array {
  const out = m.graph.outputs[0].name;
  m.graph.nodes.push(node('Flatten', [out], ['flat'], { axis: 1 }));
  m.graph.outputs = [{ name: 'flat', shape: null, elemType: 1 }];
  return runConverted(m, x);
}

describe('other operators', () => {
  const x = (): tf.Tensor4D => tf.tensor4d(rand(2 * 3 * 6 * 5, 3), [2, 3, 6, 5]);

  it('Pad (reflect and constant), HardSigmoid, LeakyRelu, Sub and Div with constants on either side', () => {
    const xs = x();
    const onnx = model([
      node('Pad', ['x', 'pads'], ['p'], { mode: 'reflect' }),
      node('Pad', ['p', 'pads2', 'val'], ['q'], { mode: 'constant' }),
      node('HardSigmoid', ['q'], ['hs'], { alpha: 0.3, beta: 0.4 }),
      node('LeakyRelu', ['q'], ['lr'], { alpha: 0.2 }),
      node('Sub', ['c', 'hs'], ['s']), // constant first: c − hs
      node('Div', ['lr', 'c'], ['d']),
      node('Div', ['s', 'd2'], ['e']),
      node('Add', ['e', 'd'], ['y']),
    ], [i64('pads', [0, 0, 1, 2, 0, 0, 2, 1]), i64('pads2', [0, 0, 1, 0, 0, 0, 0, 1]), f32('val', [], [0.5]),
      f32('c', [3, 1, 1], [1, 2, 3]), f32('d2', [], [4])], [2, 3, 6, 5], 'y');
    const got = convertOnnxMap(onnx, xs);
    const ref = tf.tidy(() => {
      const t = tf.transpose(xs, [0, 2, 3, 1]);
      const p = tf.mirrorPad(t, [[0, 0], [1, 2], [2, 1], [0, 0]], 'reflect');
      const q = tf.pad(p, [[0, 0], [1, 0], [0, 1], [0, 0]], 0.5);
      const hs = tf.clipByValue(tf.add(tf.mul(q, 0.3), 0.4), 0, 1);
      const lr = tf.leakyRelu(q, 0.2);
      const c = tf.tensor1d([1, 2, 3]);
      const y = tf.add(tf.div(tf.sub(c, hs), 4), tf.div(lr, c));
      return tf.transpose(y, [0, 3, 1, 2]).dataSync() as Float32Array;
    });
    expect(relError(got, ref)).toBeLessThan(1e-5);
    xs.dispose();
  });

  it('Flatten before a non-linear reader keeps ONNX\'s channel-first order; before a Gemm it reorders the weight', () => {
    const xs = x();
    const k = 3 * 6 * 5;
    const wdata = rand(4 * k, 5);
    const inits = [f32('w', [4, k], wdata), f32('b', [4], [0, 1, 2, 3])];
    const direct = model([node('Flatten', ['x'], ['f'], { axis: 1 }), node('Gemm', ['f', 'w', 'b'], ['y'], { transB: 1 })], inits, [2, 3, 6, 5], 'y');
    const viaRelu = model([node('Flatten', ['x'], ['f'], { axis: 1 }), node('Relu', ['f'], ['r']),
      node('Gemm', ['r', 'w', 'b'], ['y'], { transB: 1, alpha: 0.5 })], inits, [2, 3, 6, 5], 'y');
    const ref = (relu: boolean, alpha: number): Float32Array => tf.tidy(() => {
      let f = tf.reshape(xs, [2, k]); // NCHW flatten: channel-first order
      if (relu) f = tf.relu(f);
      return tf.add(tf.mul(tf.matMul(f, tf.tensor2d(wdata, [4, k]), false, true), alpha), tf.tensor1d([0, 1, 2, 3])).dataSync() as Float32Array;
    });
    const c1 = convertOnnx(direct, { file: 't.onnx' });
    expect(c1.model.layers.map((l) => l.getClassName())).not.toContain('Permute');
    c1.model.dispose();
    expect(relError(runConverted(direct, xs), ref(false, 1))).toBeLessThan(1e-5);
    const c2 = convertOnnx(viaRelu, { file: 't.onnx' });
    expect(c2.model.layers.map((l) => l.getClassName())).toContain('Permute');
    c2.model.dispose();
    expect(relError(runConverted(viaRelu, xs), ref(true, 0.5))).toBeLessThan(1e-5);
    xs.dispose();
  });

  it('Unsqueeze/Reshape [N, C] → [N, C, 1, 1] feed a 1×1 conv (SE blocks built with Linear), ReduceMean without keepdims, GlobalMaxPool, Softmax inside', () => {
    const xs = x();
    const wc = rand(3 * 3, 7);
    const onnx = model([
      node('ReduceMean', ['x'], ['m'], { axes: [2, 3], keepdims: 0 }),
      node('Unsqueeze', ['m', 'axes'], ['u']),
      node('Conv', ['u', 'wc'], ['cu'], { kernel_shape: [1, 1] }),
      node('Sigmoid', ['cu'], ['sg']),
      node('Mul', ['x', 'sg'], ['scaled']),
      node('GlobalMaxPool', ['scaled'], ['gm']),
      node('Reshape', ['gm', 'shape'], ['flat']),
      node('Softmax', ['flat'], ['sm'], { axis: 1 }),
      node('Concat', ['flat', 'sm'], ['out'], { axis: 1 }),
    ], [i64('axes', [2, 3]), f32('wc', [3, 3, 1, 1], wc), i64('shape', [0, -1])], [2, 3, 6, 5], 'out');
    const got = runConverted(onnx, xs);
    const ref = tf.tidy(() => {
      const t = tf.transpose(xs, [0, 2, 3, 1]);
      const m = tf.mean(t, [1, 2]);
      const g = tf.sigmoid(tf.matMul(m, tf.tensor2d(wc, [3, 3]), false, true));
      const flat = tf.max(tf.mul(t, tf.reshape(g, [2, 1, 1, 3])), [1, 2]);
      return tf.concat([flat, tf.softmax(flat)], 1).dataSync() as Float32Array;
    });
    expect(relError(got, ref)).toBeLessThan(1e-5);
    xs.dispose();
  });

  it('folds shape arithmetic on constants (Shape, Gather, Unsqueeze, Concat, Slice, Transpose, Cast, ConstantOfShape)', () => {
    const xs = x();
    const onnx = model([
      node('Shape', ['x'], ['s']),
      node('Gather', ['s', 'zero'], ['n'], { axis: 0 }),
      node('Unsqueeze', ['n', 'zeroAxis'], ['nu']),
      node('Concat', ['nu', 'minus1'], ['target'], { axis: 0 }),
      node('ConstantOfShape', ['four'], ['zeros'], {}),
      node('Slice', ['zeros', 'sStart', 'sEnd'], ['sl']),
      node('Transpose', ['sl'], ['tr'], { perm: [0] }),
      node('Cast', ['tr'], ['ct'], { to: 7 }),
      node('Pad', ['x', 'padsFull'], ['padded'], { mode: 'constant' }),
      node('Reshape', ['padded', 'target'], ['out']),
    ], [i64('zero', [0]), i64('zeroAxis', [0]), i64('minus1', [-1]), i64('four', [4]), i64('sStart', [0]), i64('sEnd', [2]),
      i64('padsFull', [0, 0, 0, 0, 0, 0, 0, 0])], [2, 3, 6, 5], 'out');
    const got = runConverted(onnx, xs);
    expect(relError(got, xs.dataSync())).toBe(0);
    xs.dispose();
  });
});

describe('converter errors name the node', () => {
  it('says what is not supported and where', async () => {
    const inShape: [number, number, number, number] = [1, 3, 4, 4];
    await expectError(() => convertOnnx(model([node('Transpose', ['x'], ['t'], { perm: [0, 2, 3, 1] }, 'tp'), ...head('t')], [], inShape, 'out')),
      'UA_MODEL', /1 operator type .*Transpose \(of computed tensors\) ×1/);
    await expectError(() => convertOnnx(model([node('Flatten', ['x'], ['f'], { axis: 2 }, 'fl')], [], inShape, 'f')),
      'UA_MODEL', /ONNX node 'fl' \(Flatten\): flattens from axis 2/);
    await expectError(() => convertOnnx(model([node('Pad', ['x', 'p'], ['y'], { mode: 'edge' }, 'pad'), ...head('y')], [i64('p', [0, 0, 1, 1, 0, 0, 1, 1])], inShape, 'out')),
      'UA_MODEL', /'pad' \(Pad\): pads in mode 'edge'/);
    const before = tf.memory().numTensors;
    await expectError(() => convertOnnx(model([node('Conv', ['x', 'w'], ['y'], {}, 'c')], [f32('w', [2, 3, 1, 1], rand(6, 1))], inShape, 'y')),
      'UA_MODEL', /output 'y' has shape \[N, 2, 4, 4\]; a classifier outputs \[N, classes\]/);
    expect(tf.memory().numTensors).toBe(before); // the conv's weights were freed
    const nhwc = model(head('x'), [], [1, 3, 4, 4], 'out');
    nhwc.graph.inputs[0].shape = [null, 4, 4, 3];
    await expectError(() => convertOnnx(nhwc), 'UA_MODEL', /NCHW images with 3 channels[\s\S]*NHWC/);
  });
});
