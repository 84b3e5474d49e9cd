import * as tf from '../../src/tf.js';
import type { Classifier } from '../../src/models/types.js';

/**
 * `base` with its logits replaced by `logits(x)` (a softmax head, a random layer, a non-differentiable input path…):
 * the models the gradient-masking checks must flag.
 */
export function withLogits(base: Classifier, name: string, logits: (x: tf.Tensor4D) => tf.Tensor2D): Classifier {
  const clf: Classifier = {
    name, inputSize: base.inputSize, classNames: base.classNames, preprocessing: base.preprocessing, layers: base.layers,
    defaultLayer: base.defaultLayer, fingerprint: `${base.fingerprint}-${name}`, differentiable: true,
    logits: (x) => tf.tidy(() => logits(x)),
    activations: (x, layer) => base.activations(x, layer),
    run: (x) => ({ logits: clf.logits(x!), taps: {} }),
    withEdits: () => { throw new Error(`${name}: no edits`); },
    layer: (n) => base.layer(n),
    dispose: () => base.dispose(),
  };
  return clf;
}

/** Outputs probabilities: a softmax after the logits. */
export const softmaxHead = (base: Classifier): Classifier => withLogits(base, 'softmax-head', (x) => tf.softmax(base.logits(x)));

/** Adds fresh Gaussian noise (σ = 0.05) to every input: a different answer on every pass. */
export const randomLayer = (base: Classifier): Classifier =>
  withLogits(base, 'random-layer', (x) => base.logits(tf.clipByValue<tf.Tensor4D>(tf.add(x, tf.randomNormal(x.shape, 0, 0.05)), 0, 1)));

/** Feeds the model `relu(x − 2) + 0.5`: every input in [0, 1] gives the same, saturated, input; the gradient is zero. */
export const saturatedInput = (base: Classifier): Classifier =>
  withLogits(base, 'saturated-input', (x) => base.logits(tf.add<tf.Tensor4D>(tf.relu(tf.sub(x, 2)), 0.5)));

/** Sees the input rounded to 8 bits: a zero gradient everywhere, but score-based search still works. */
export const roundedInput = (base: Classifier): Classifier =>
  withLogits(base, 'rounded-input', (x) => base.logits(tf.div<tf.Tensor4D>(tf.round(tf.mul(x, 255)), 255)));

/** Adds 60 × the mean of the sub-8-bit part of the pixels to class 0: it answers differently once the image is rounded. */
export const subStepDetail = (base: Classifier): Classifier => withLogits(base, 'sub-step-detail', (x) => {
  const s = tf.mul(x, 255);
  const frac = tf.mean(tf.abs(tf.sub(s, tf.round(s))), [1, 2, 3]);
  const bonus = tf.mul(tf.oneHot(tf.zeros([x.shape[0]], 'int32'), base.classNames.length).toFloat(), tf.reshape(tf.mul(frac, 60), [-1, 1]));
  return tf.add(base.logits(x), bonus);
});
