/**
 * The pieces of a segmenter's decoder that its fast label grid needs: which layers are plain convolutions, the parts
 * a convolution's input channels come from (the inputs of a channel concatenation, and for a nearest ×2 upsampling
 * the map before it), and the merged taps with which a convolution of an upsampled map is read from the small map
 * itself ({@link upTaps}).
 */
import * as tf from '../tf.js';

type ConvConfig = { kernelSize?: number[]; strides?: number[]; padding?: string; dilationRate?: number | number[]; dataFormat?: string; activation?: string; useBias?: boolean };

/** Whether `l` is a Conv2D with a square kernel `kernel` accepts, stride 1, `padding` (any for 1×1), channels last, ReLU or linear. */
export function isPlainConv(l: tf.layers.Layer | undefined, kernel: (k: number) => boolean, padding: string): l is tf.layers.Layer {
  if (!l || l.getClassName() !== 'Conv2D') return false;
  const c = l.getConfig() as ConvConfig;
  const dil = Array.isArray(c.dilationRate) ? c.dilationRate : [c.dilationRate ?? 1, c.dilationRate ?? 1];
  return c.kernelSize?.[0] === c.kernelSize?.[1] && kernel(c.kernelSize![0]) && c.strides?.every((v) => v === 1) === true
    && (c.padding === padding || c.kernelSize![0] === 1) && dil.every((v) => v === 1) && (c.dataFormat ?? 'channelsLast') === 'channelsLast'
    && (c.activation === 'relu' || c.activation === 'linear');
}

/** The kernel side of a Conv2D layer. */
export const kernelSide = (l: tf.layers.Layer): number => (l.getConfig() as ConvConfig).kernelSize![0];

/** Adds a layer's bias (if any) and applies its activation (ReLU or linear, see {@link isPlainConv}). */
export function finishConv(l: tf.layers.Layer, y: tf.Tensor4D, bias: tf.Tensor | undefined): tf.Tensor4D {
  const b: tf.Tensor4D = bias ? tf.add<tf.Tensor4D>(y, bias) : y;
  return (l.getConfig() as ConvConfig).activation === 'relu' ? tf.relu(b) : b;
}

/** One part of a convolution's input channels: channels `from … from + channels − 1`, `up` when upsampled ×2 from `tensor`. */
export interface InputPart { tensor: tf.SymbolicTensor; from: number; channels: number; up: boolean }

/**
 * The input of a convolution layer as the parts its channels come from: each input of a channel concatenation, and
 * for an input that is a nearest ×2 upsampling, the map before it (`up`); a single part otherwise.
 */
export function inputParts(conv: tf.layers.Layer): InputPart[] {
  const node = conv.inboundNodes[0];
  const src = node.inboundLayers[0];
  const whole = [{ tensor: node.inputTensors[0], from: 0, channels: node.inputTensors[0].shape[3] ?? 0, up: false }];
  const axis = (src.getConfig() as { axis?: number }).axis;
  if (src.getClassName() !== 'Concatenate' || src.inboundNodes.length !== 1 || (axis !== -1 && axis !== 3)) return whole;
  let from = 0;
  const parts = src.inboundNodes[0].inputTensors.map((t) => {
    const l = t.sourceLayer;
    const c = l.getConfig() as { size?: number[]; interpolation?: string; dataFormat?: string };
    const up = l.getClassName() === 'UpSampling2D' && l.inboundNodes.length === 1 && c.interpolation === 'nearest'
      && c.size?.[0] === 2 && c.size[1] === 2 && (c.dataFormat ?? 'channelsLast') === 'channelsLast';
    const part = { tensor: up ? l.inboundNodes[0].inputTensors[0] : t, from, channels: t.shape[3] ?? 0, up };
    from += part.channels;
    return part;
  });
  return parts.every((p) => p.channels > 0) && parts.some((p) => p.up) ? parts : whole;
}

/**
 * A k×k 'same' convolution (k odd) of a nearest ×2 upsampled map X, read at the odd pixels 2o+1: tap t ∈ [−p, p]
 * (p = (k−1)/2) reads pixel 2o+1+t, which is X's pixel o + ⌊(1+t)/2⌋ (zero where that is outside X, as the padding
 * is outside the upsampled map). So it is a convolution of X at stride 1 with taps s = ⌊(1−p)/2⌋ … ⌊(1+p)/2⌋, each the
 * sum of the taps t that land on it: `matrix[s][t]` is 1 where they do, and X is padded by `before` and `after`.
 */
export function upTaps(k: number): { matrix: number[][]; before: number; after: number } {
  const p = (k - 1) / 2;
  const lo = Math.floor((1 - p) / 2); const hi = Math.floor((1 + p) / 2);
  const matrix = Array.from({ length: hi - lo + 1 }, (_, s) => Array.from({ length: k }, (_, j) => (Math.floor((1 + j - p) / 2) === s + lo ? 1 : 0)));
  return { matrix, before: 0 - lo, after: hi };
}

/** A kernel `[k, k, in, out]` with its taps merged by `matrix` (`[m][k]`) along both spatial axes: `[m, m, in, out]`. */
export function mergeTaps(kernel: tf.Tensor4D, matrix: number[][]): tf.Tensor4D {
  return tf.tidy(() => {
    const [k, , ci, co] = kernel.shape;
    const m = tf.tensor2d(matrix);
    const rows = tf.matMul(m, tf.reshape(kernel, [k, k * ci * co])); // [m, k·in·out]: rows merged
    const cols = tf.matMul(m, tf.reshape(tf.transpose(tf.reshape(rows, [matrix.length, k, ci * co]), [1, 0, 2]), [k, matrix.length * ci * co]));
    return tf.transpose(tf.reshape(cols, [matrix.length, matrix.length, ci, co]), [1, 0, 2, 3]);
  });
}
