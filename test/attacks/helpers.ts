import * as tf from '../../src/tf.js';
import { fromLayersModel } from '../../src/models/classifier.js';
import type { Classifier } from '../../src/models/types.js';

/** Random 8-bit images `[n, size, size, 3]` in [0, 1]. */
export function images8bit(n: number, size = 16, seed = 1, lo = 0, hi = 1): tf.Tensor4D {
  return tf.tidy(() => tf.div<tf.Tensor4D>(tf.round(tf.mul(tf.randomUniform([n, size, size, 3], lo, hi, 'float32', seed), 255)), 255));
}

/**
 * A tiny CNN on 16×16 inputs: two 3×3 conv layers (`conv1`, `conv2`, ReLU), 2×2 max pooling and a dense
 * `logits` layer on the flattened maps. Seeded initialisation, so every test sees the same model.
 */
export function tinyCnn(opts: { classes?: number; seed?: number; size?: number; filters?: number } = {}): Classifier {
  const { classes = 3, seed = 3, size = 16, filters = 8 } = opts;
  const m = tf.sequential({ name: 'tiny' });
  m.add(tf.layers.conv2d({
    name: 'conv1', inputShape: [size, size, 3], filters, kernelSize: 3, padding: 'same', activation: 'relu',
    kernelInitializer: tf.initializers.heNormal({ seed }), biasInitializer: tf.initializers.constant({ value: 0.05 }),
  }));
  m.add(tf.layers.conv2d({
    name: 'conv2', filters, kernelSize: 3, padding: 'same', activation: 'relu',
    kernelInitializer: tf.initializers.heNormal({ seed: seed + 1 }), biasInitializer: tf.initializers.constant({ value: 0.05 }),
  }));
  m.add(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ name: 'logits', units: classes, kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 2 }) }));
  return fromLayersModel(m, { classNames: Array.from({ length: classes }, (_, i) => `c${i}`), name: 'tiny' });
}

/**
 * A hand-set colour classifier: `units` is a 1×1 conv whose units 0, 1, 2 pass the red, green and blue
 * channels (units 3–5 are colour differences), `gap` averages them and `logits` is 20 × the mean of units
 * 0–2, so the class is the dominant colour. Raising unit 1 and lowering unit 0 turns a red image green.
 */
export function colourModel(size = 16): Classifier {
  const m = tf.sequential({ name: 'colour' });
  m.add(tf.layers.conv2d({ name: 'units', inputShape: [size, size, 3], filters: 6, kernelSize: 1, activation: 'relu' }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ name: 'logits', units: 3 }));
  const k = [
    1, 0, 0, 1, 0, -1,
    0, 1, 0, -1, 1, 0,
    0, 0, 1, 0, -1, 1,
  ];
  m.layers[0].setWeights([tf.tensor4d(k, [1, 1, 3, 6]), tf.zeros([6])]);
  const d = new Float32Array(6 * 3);
  for (let i = 0; i < 3; i++) d[i * 3 + i] = 20;
  m.layers[2].setWeights([tf.tensor2d(d, [6, 3]), tf.zeros([3])]);
  return fromLayersModel(m, { classNames: ['red', 'green', 'blue'], name: 'colour' });
}

/**
 * 8-bit images for {@link colourModel}: a grey level plus a small per-channel tint (so the dominant colour
 * wins by a few 8-bit steps on average) and pixel noise.
 */
export function colourImages(n: number, size = 16, seed = 1, tint = 0.03): tf.Tensor4D {
  return tf.tidy(() => {
    const grey = tf.randomUniform([n, 1, 1, 1], 0.3, 0.7, 'float32', seed);
    const shift = tf.randomUniform([n, 1, 1, 3], -tint, tint, 'float32', seed + 1);
    const noise = tf.randomUniform([n, size, size, 3], -0.1, 0.1, 'float32', seed + 2);
    const x = tf.clipByValue(tf.add(tf.add(grey, shift), noise), 0, 1);
    return tf.div<tf.Tensor4D>(tf.round(tf.mul(x, 255)), 255);
  });
}

/** A linear classifier `z = W·flatten(x) + b` on `size×size×3` inputs with the given weights `[size·size·3, k]`. */
export function linearModel(w: Float32Array, classes: number, size = 4, bias?: Float32Array): Classifier {
  const m = tf.sequential({ name: 'linear' });
  m.add(tf.layers.flatten({ name: 'flat', inputShape: [size, size, 3] }));
  m.add(tf.layers.dense({ name: 'logits', units: classes }));
  m.layers[1].setWeights([tf.tensor2d(w, [size * size * 3, classes]), tf.tensor1d(bias ?? new Float32Array(classes))]);
  return fromLayersModel(m, { classNames: Array.from({ length: classes }, (_, i) => `k${i}`), name: 'linear' });
}

export async function predictions(clf: Classifier, x: tf.Tensor4D): Promise<Int32Array> {
  const p = tf.tidy(() => tf.argMax(clf.logits(x), 1));
  const out = Int32Array.from(await p.data());
  p.dispose();
  return out;
}

/** Per-image max |a − b| and L2 ‖a − b‖ computed in float64 from the data. */
export async function distances(a: tf.Tensor4D, b: tf.Tensor4D): Promise<{ linf: number[]; l2: number[] }> {
  const [da, db] = [await a.data(), await b.data()];
  const n = a.shape[0]; const per = da.length / n;
  const linf: number[] = []; const l2: number[] = [];
  for (let i = 0; i < n; i++) {
    let m = 0; let s = 0;
    for (let j = i * per; j < (i + 1) * per; j++) { const d = da[j] - db[j]; m = Math.max(m, Math.abs(d)); s += d * d; }
    linf.push(m); l2.push(Math.sqrt(s));
  }
  return { linf, l2 };
}

/** True when every value is within `tol` of a multiple of 1/255 and inside [0, 1]. */
export async function is8bit(x: tf.Tensor, tol = 1e-4): Promise<boolean> {
  const d = await x.data();
  for (const v of d) {
    if (v < 0 || v > 1) return false;
    if (Math.abs(v * 255 - Math.round(v * 255)) > tol) return false;
  }
  return true;
}
