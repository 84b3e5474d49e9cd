import * as tf from '../../tf.js';

/** One-hot rows of `indices` over `k` classes, as floats. */
export function oneHot(indices: Int32Array, k: number): tf.Tensor2D {
  return tf.oneHot(tf.tensor1d(indices, 'int32'), k).toFloat() as tf.Tensor2D;
}

/** Per-image cross-entropy `logsumexp(z) − z_c` of class `cls`. */
export function crossEntropy(logits: tf.Tensor2D, cls: Int32Array): tf.Tensor1D {
  return tf.tidy(() => {
    const oh = oneHot(cls, logits.shape[1]);
    return tf.sub<tf.Tensor1D>(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oh), 1));
  });
}

/** Per-image `z_c − max_{j≠c} z_j`: positive when class `cls` wins. */
export function classMargin(logits: tf.Tensor2D, cls: Int32Array): tf.Tensor1D {
  return tf.tidy(() => {
    const oh = oneHot(cls, logits.shape[1]);
    const zc = tf.sum(tf.mul(logits, oh), 1);
    // Shifting the class's own logit far down leaves max() over the others exact.
    const others = tf.max(tf.sub(logits, tf.mul(oh, 1e9)), 1);
    return tf.sub<tf.Tensor1D>(zc, others);
  });
}
