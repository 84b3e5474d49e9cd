/**
 * TensorFlow.js as this package uses it, as one namespace: `import * as tf from './tf.js'`.
 *
 * The parts are `@tensorflow/tfjs-core` (tensors, ops, gradients, `tf.io`, `tf.serialization`), `-layers`
 * (`tf.layers`, `tf.model`, `tf.input`, `tf.loadLayersModel`, `tf.initializers`), `-converter` (`tf.loadGraphModel`)
 * and `-backend-cpu` (registered here, the fallback backend); `src/engine/backend.ts` loads `-backend-wasm` and, when
 * installed, `tfjs-node`. The all-in-one `@tensorflow/tfjs` also installs the WebGL backend and tfjs-data, which
 * never run in Node (about 90 MB), so the code imports this module instead (eslint forbids the all-in-one).
 */
import * as core from '@tensorflow/tfjs-core';
// The layers bundle registers the gradients of every core op (as the all-in-one does), which attacks and training need.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
// Types of the chained ops (`x.square().sum()`), which the all-in-one registers; registered below at run time.
import type {} from '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export * from '@tensorflow/tfjs-converter';
export * from '@tensorflow/tfjs-backend-cpu';

/** Chained ops whose method calls the op of the same name with the tensor first: `x.op(...a)` is `tf.op(x, ...a)`. */
const SAME_NAME = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'avgPool',
  'batchToSpaceND', 'batchNorm', 'broadcastTo', 'cast', 'ceil', 'clipByValue', 'conv1d', 'conv2d', 'conv2dTranspose', 'cos',
  'cosh', 'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d', 'dilation2d', 'div', 'divNoNan', 'dot', 'elu', 'equal', 'erf',
  'euclideanNorm', 'exp', 'expandDims', 'expm1', 'fft', 'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'ifft',
  'irfft', 'isFinite', 'isInf', 'isNaN', 'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p',
  'logSigmoid', 'logSoftmax', 'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maxPool',
  'maximum', 'mean', 'min', 'minimum', 'mirrorPad', 'mod', 'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad',
  'pool', 'pow', 'prelu', 'prod', 'reciprocal', 'relu', 'relu6', 'reshape', 'resizeBilinear', 'resizeNearestNeighbor',
  'reverse', 'rfft', 'round', 'rsqrt', 'selu', 'separableConv2d', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax',
  'softplus', 'spaceToBatchND', 'split', 'sqrt', 'square', 'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub',
  'sum', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique', 'unsortedSegmentSum', 'unstack', 'zerosLike',
] as const;

type Method = (this: core.Tensor, ...args: never[]) => unknown;

/** The chained ops of `tfjs-core/dist/public/chained_ops`, as its `register_all_chained_ops` defines them. */
function chainedOps(): Record<string, Method> {
  const ops = core as unknown as Record<string, (...args: unknown[]) => unknown>;
  const methods: Record<string, Method> = {};
  for (const name of SAME_NAME) methods[name] = function (this: core.Tensor, ...args: unknown[]) { return ops[name](this, ...args); };
  const reshape = (t: core.Tensor, shape: number[]): core.Tensor => core.reshape(t, shape);
  Object.assign(methods, {
    as1D(this: core.Tensor) { return reshape(this, [this.size]); },
    as2D(this: core.Tensor, r: number, c: number) { return reshape(this, [r, c]); },
    as3D(this: core.Tensor, r: number, c: number, d: number) { return reshape(this, [r, c, d]); },
    as4D(this: core.Tensor, r: number, c: number, d: number, d2: number) { return reshape(this, [r, c, d, d2]); },
    as5D(this: core.Tensor, r: number, c: number, d: number, d2: number, d3: number) { return reshape(this, [r, c, d, d2, d3]); },
    asScalar(this: core.Tensor) {
      core.util.assert(this.size === 1, () => 'The array must have only 1 element.');
      return reshape(this, []);
    },
    flatten(this: core.Tensor) { return reshape(this, [this.size]); },
    reshapeAs(this: core.Tensor, x: core.Tensor) { return reshape(this, x.shape); },
    asType(this: core.Tensor, dtype: core.DataType) { return core.cast(this, dtype); },
    toBool(this: core.Tensor) { return core.cast(this, 'bool'); },
    toFloat(this: core.Tensor) { return core.cast(this, 'float32'); },
    toInt(this: core.Tensor) { return core.cast(this, 'int32'); },
    concat(this: core.Tensor, x: core.Tensor | core.Tensor[], axis?: number) { return core.concat([this, ...(x instanceof core.Tensor ? [x] : x)], axis); },
    stack(this: core.Tensor, x: core.Tensor | core.Tensor[], axis?: number) { return core.stack([this, ...(x instanceof core.Tensor ? [x] : x)], axis); },
    where(this: core.Tensor, condition: core.Tensor, x: core.Tensor) { return core.where(condition, this, x); },
  });
  return methods;
}

/**
 * Adds the chained ops to the Tensor class tfjs-core shares between its copies, unless another copy of TensorFlow.js
 * (the all-in-one, or tfjs-node, which imports it) has added them already.
 */
function registerChainedOps(): void {
  const proto = core.Tensor.prototype as unknown as Record<string, unknown>;
  for (const [name, method] of Object.entries(chainedOps())) {
    if (typeof proto[name] === 'function') continue;
    proto[name] = function (this: core.Tensor, ...args: never[]) {
      this.throwIfDisposed();
      return method.apply(this, args);
    };
  }
}

registerChainedOps();
