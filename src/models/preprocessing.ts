import * as tf from '../tf.js';
import { usageError } from '../errors.js';
import type { Preprocessing, PreprocessPreset } from './types.js';

/** The preprocessing presets: what common training recipes feed their models. */
export const PREPROCESS_PRESETS: Readonly<Record<PreprocessPreset, Preprocessing>> = {
  /** Pixels in [0, 1] as they are. */
  unit: { preset: 'unit', scale: 1, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'rgb' },
  /** torchvision: ImageNet mean and std on [0, 1] RGB. */
  torch: { preset: 'torch', scale: 1, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'rgb' },
  /** Caffe / Keras `caffe` mode: BGR, 0–255, ImageNet mean subtracted (B, G, R order). */
  caffe: { preset: 'caffe', scale: 255, mean: [103.939, 116.779, 123.68], std: [1, 1, 1], channelOrder: 'bgr' },
  /** Keras `tf` mode: [-1, 1]. */
  tf: { preset: 'tf', scale: 1, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channelOrder: 'rgb' },
};

/** Resolves a preset name or a full spec into a checked {@link Preprocessing}. */
export function resolvePreprocessing(spec: PreprocessPreset | Preprocessing | undefined, where = 'preprocessing'): Preprocessing {
  if (spec === undefined) return PREPROCESS_PRESETS.unit;
  if (typeof spec === 'string') {
    const p = PREPROCESS_PRESETS[spec];
    if (p === undefined) {
      throw usageError(`unknown preprocessing preset '${String(spec)}'`, {
        path: where, hint: `use one of: ${Object.keys(PREPROCESS_PRESETS).join(', ')}, or an object {scale, mean, std, channelOrder}`,
      });
    }
    return p;
  }
  const ok = typeof spec.scale === 'number' && spec.scale > 0
    && Array.isArray(spec.mean) && spec.mean.length === 3 && spec.mean.every(Number.isFinite)
    && Array.isArray(spec.std) && spec.std.length === 3 && spec.std.every((s) => Number.isFinite(s) && s > 0)
    && (spec.channelOrder === 'rgb' || spec.channelOrder === 'bgr');
  if (!ok) {
    throw usageError('preprocessing must have scale > 0, mean [3 numbers], std [3 numbers > 0] and channelOrder rgb|bgr', { path: where });
  }
  return { ...spec, preset: spec.preset ?? 'custom' };
}

/** Maps pixel-space images (NHWC in [0, 1]) to the model's input. Differentiable. */
export function applyPreprocessing(x: tf.Tensor4D, p: Preprocessing): tf.Tensor4D {
  return tf.tidy(() => {
    let y: tf.Tensor4D = x;
    if (p.channelOrder === 'bgr') y = tf.reverse(y, -1);
    const identity = p.scale === 1 && p.mean.every((m) => m === 0) && p.std.every((s) => s === 1);
    if (identity) return p.channelOrder === 'bgr' ? y : y.clone();
    const a = tf.tensor1d(p.std.map((s) => p.scale / s));
    const b = tf.tensor1d(p.mean.map((m, i) => -m / p.std[i]));
    return tf.add(tf.mul(y, a), b);
  });
}
