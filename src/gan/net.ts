/**
 * The scene GAN's networks. The generator is ProGAN-like without progressive growing: a latent vector becomes a 4×4
 * map, then every second layer doubles the side by nearest upsampling, each layer normalising its input per pixel
 * (pixel norm) before a 3×3 conv and a leaky ReLU. Its layers are named `layer1` … `layerN` like the ProGAN that the
 * PNAS paper dissects, so `layer4` is the second 8×8 layer. It is a tf layers model that saves and loads in the tf
 * layers format (the one custom layer, {@link PixelNorm}, is registered when this module is imported).
 *
 * The discriminator is used only in training, so it is plain tensors and variables: a 3×3 conv at full resolution,
 * then per level a 2×2 average pool and two 3×3 convs, every kernel spectrally normalised (one power iteration per
 * step), and a linear score. Pooling before stride-1 convs, not strided convs: the wasm backend's filter gradient of a
 * stride-2 conv was 5–20× slower than that of a stride-1 conv of the same size.
 */
import * as tf from '../tf.js';
import { usageError } from '../errors.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Shape = Array<number | null>;

/** Arguments of {@link PixelNorm}. */
export interface PixelNormArgs extends LayerArgs {
  /** Added to the mean square before the root. @defaultValue 1e-8 */
  epsilon?: number;
}

/**
 * Pixel normalisation (ProGAN): every position's feature vector divided by the root of its mean square over the
 * channels (the last axis), so it has unit average power. No weights.
 */
export class PixelNorm extends tf.layers.Layer {
  static className = 'UnitAttackPixelNorm';
  readonly epsilon: number;

  constructor(args: PixelNormArgs = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-8;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => pixelNorm(Array.isArray(inputs) ? inputs[0] : inputs, this.epsilon));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(PixelNorm);

/** `x / sqrt(mean(x², last axis) + ε)`. */
export function pixelNorm(x: tf.Tensor, epsilon = 1e-8): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))));
}

/** The generator's output range: images in [-1, 1] (a tanh), mapped to pixels by (x + 1) / 2. */
export const GENERATOR_OUTPUT_RANGE: readonly [number, number] = Object.freeze<[number, number]>([-1, 1]);

/** Default generator widths, one per layer: `layer1`…`layer10` at 4, 4, 8, 8, 16, 16, 32, 32, 64, 64 pixels. */
export const DEFAULT_GENERATOR_WIDTHS: readonly number[] = Object.freeze([128, 128, 128, 128, 64, 64, 32, 32, 16, 16]);

/** Options for {@link buildGenerator}. */
export interface GeneratorNetOptions {
  /** Size of the latent vector (drawn from a standard normal). @defaultValue 128 */
  latentSize?: number;
  /**
   * Units of `layer1`…`layerN`; an even number of layers, at least 4 (two per resolution from 4×4 up, so the output
   * side is 4·2^(N/2−1)). @defaultValue [128, 128, 128, 128, 64, 64, 32, 32, 16, 16] (64×64 output)
   */
  widths?: readonly number[];
  /** Seed of the He-normal initialisers. @defaultValue 0 */
  seed?: number;
}

/** The output side of a generator with these widths. */
export function generatorOutputSize(widths: readonly number[]): number {
  return 4 * 2 ** (widths.length / 2 - 1);
}

/** The side of `layer{k}`'s map (k from 1). */
export function generatorLayerSize(k: number): number {
  return 4 * 2 ** Math.floor((k - 1) / 2);
}

/** Checks generator options, naming the one that is wrong. */
export function checkGeneratorOptions(o: GeneratorNetOptions): Required<GeneratorNetOptions> {
  const latentSize = o.latentSize ?? 128;
  const widths = [...(o.widths ?? DEFAULT_GENERATOR_WIDTHS)];
  const seed = o.seed ?? 0;
  if (!Number.isInteger(latentSize) || latentSize < 1) {
    throw usageError(`latentSize must be a positive integer, got ${String(latentSize)}`, { path: 'latentSize', hint: 'e.g. 128' });
  }
  if (widths.length < 4 || widths.length % 2 !== 0 || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw usageError(`generator widths must be an even number (≥ 4) of positive integers, two per resolution from 4×4 up, got ${JSON.stringify(widths)}`, {
      path: 'widths', hint: `e.g. ${DEFAULT_GENERATOR_WIDTHS.join(',')} for 64×64 images`,
    });
  }
  if (!Number.isSafeInteger(seed)) throw usageError(`seed must be an integer, got ${String(seed)}`, { path: 'seed' });
  return { latentSize, widths, seed };
}

/**
 * Builds the generator: input `latent` `[N, latentSize]`, output `[N, S, S, 3]` in [-1, 1]. Layers: `layer1_norm`
 * (pixel norm of the latent), `layer1_dense` (to 4×4), `layer1_reshape`, `layer1` (leaky ReLU); for k ≥ 2
 * `layer{k}_norm`, `layer{k}_up` (odd k: nearest ×2), `layer{k}_conv` (3×3), `layer{k}` (leaky ReLU 0.2); then
 * `output_norm`, `output_conv` (1×1 to RGB) and `output` (tanh). Tap and edit a layer at `layer{k}`; the next layer's
 * pixel norm sees the edit (as in ProGAN, zeroing units rescales the others there).
 *
 * @example
 * const g = buildGenerator({ seed: 1 });
 * g.predict(tf.randomNormal([2, 128])).shape; // [2, 64, 64, 3]
 */
export function buildGenerator(options: GeneratorNetOptions = {}): tf.LayersModel {
  const { latentSize, widths, seed } = checkGeneratorOptions(options);
  let k = 0;
  const init = (): ReturnType<typeof tf.initializers.heNormal> => tf.initializers.heNormal({ seed: seed * 1000 + k++ });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor): tf.SymbolicTensor => layer.apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: [latentSize], name: 'latent' });
  let x = apply(new PixelNorm({ name: 'layer1_norm' }), input);
  x = apply(tf.layers.dense({ units: 16 * widths[0], kernelInitializer: init(), name: 'layer1_dense' }), x);
  x = apply(tf.layers.reshape({ targetShape: [4, 4, widths[0]], name: 'layer1_reshape' }), x);
  x = apply(tf.layers.leakyReLU({ alpha: 0.2, name: 'layer1' }), x);
  for (let i = 1; i < widths.length; i++) {
    const name = `layer${i + 1}`;
    x = apply(new PixelNorm({ name: `${name}_norm` }), x);
    if (i % 2 === 0) x = apply(tf.layers.upSampling2d({ size: [2, 2], interpolation: 'nearest', name: `${name}_up` }), x);
    x = apply(tf.layers.conv2d({ filters: widths[i], kernelSize: 3, padding: 'same', kernelInitializer: init(), name: `${name}_conv` }), x);
    x = apply(tf.layers.leakyReLU({ alpha: 0.2, name }), x);
  }
  x = apply(new PixelNorm({ name: 'output_norm' }), x);
  x = apply(tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: seed * 1000 + k++ }), name: 'output_conv' }), x);
  const out = apply(tf.layers.activation({ activation: 'tanh', name: 'output' }), x);
  return tf.model({ inputs: input, outputs: out, name: 'scenes_generator' });
}

/** The names of a generator's dissectable layers, `layer1`…`layerN`. */
export function generatorLayerNames(widths: readonly number[]): string[] {
  return widths.map((_, i) => `layer${i + 1}`);
}

/** Options for {@link createDiscriminator}. */
export interface DiscriminatorOptions {
  /** Side of the images it judges (a power of two ≥ 8). @defaultValue 64 */
  imageSize?: number;
  /**
   * Widths of its levels, one per halving down to 4×4 (log2(imageSize / 4) of them). Each level is a 2×2 average pool
   * and two 3×3 convs; the full-resolution conv before them has half the first level's width.
   * @defaultValue [32, 64, 128, 256] for 64×64 images
   */
  widths?: readonly number[];
  /** Seed of the initial weights and of the power-iteration vectors. @defaultValue 0 */
  seed?: number;
  /**
   * Minibatch standard deviation (ProGAN): before the last level's convs, one more channel holds the standard
   * deviation of the features across each group of this many consecutive images, averaged over features and cells,
   * so the discriminator sees how varied a batch is and can tell a collapsed generator from real scenes. 0 or 1
   * turns it off. @defaultValue 0
   */
  minibatchStdGroup?: number;
}

/** The discriminator's state: weights (trained) and the spectral-norm power-iteration vectors (carried along). */
export interface Discriminator {
  readonly imageSize: number;
  readonly widths: readonly number[];
  /** Group size of the minibatch standard deviation channel (≤ 1: none). */
  readonly minibatchStdGroup: number;
  /** Kernel, bias, kernel, bias, … (the full-resolution conv, two per level) and the final dense kernel and bias, in the order every thread flattens them. */
  readonly weights: tf.Variable[];
  /** One `u` vector per kernel (its output size), updated by {@link updateSpectralVectors}. */
  readonly spectral: tf.Variable[];
  dispose(): void;
}

/** Default discriminator widths for an image side. */
export function defaultDiscriminatorWidths(imageSize: number): number[] {
  const levels = Math.round(Math.log2(imageSize / 4));
  return Array.from({ length: levels }, (_, i) => Math.min(256, 32 * 2 ** i));
}

/** Checks discriminator options, naming the one that is wrong. */
export function checkDiscriminatorOptions(o: DiscriminatorOptions): Required<DiscriminatorOptions> {
  const imageSize = o.imageSize ?? 64;
  if (!Number.isInteger(imageSize) || imageSize < 8 || (imageSize & (imageSize - 1)) !== 0) {
    throw usageError(`the discriminator's image size must be a power of two ≥ 8, got ${String(imageSize)}`, { path: 'imageSize' });
  }
  const widths = [...(o.widths ?? defaultDiscriminatorWidths(imageSize))];
  const levels = Math.round(Math.log2(imageSize / 4));
  if (widths.length !== levels || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw usageError(`discriminator widths must be ${levels} positive integers for ${imageSize}×${imageSize} images (one per halving down to 4×4), got ${JSON.stringify(widths)}`, {
      path: 'discriminatorWidths', hint: `e.g. ${defaultDiscriminatorWidths(imageSize).join(',')}`,
    });
  }
  const minibatchStdGroup = o.minibatchStdGroup ?? 0;
  if (!(Number.isInteger(minibatchStdGroup) && minibatchStdGroup >= 0)) {
    throw usageError(`the minibatch standard deviation group must be an integer ≥ 0, got ${String(minibatchStdGroup)}`, {
      path: 'minibatchStdGroup', hint: 'e.g. 4 (ProGAN), or 0 for none',
    });
  }
  return { imageSize, widths, seed: o.seed ?? 0, minibatchStdGroup };
}

/** The width of the discriminator's full-resolution conv. */
function stemWidth(widths: readonly number[]): number {
  return Math.max(1, Math.floor(widths[0] / 2));
}

/**
 * The discriminator's kernel shapes, in order: the full-resolution 3×3 conv, two 3×3 convs per level (the last level's
 * first one with one more input, the minibatch standard deviation, when `stdChannel`), then the dense kernel as `[4·4·w, 1]`.
 */
function kernelShapes(widths: readonly number[], stdChannel: boolean): number[][] {
  let cin = stemWidth(widths);
  const shapes: number[][] = [[3, 3, 3, cin]];
  widths.forEach((w, level) => {
    shapes.push([3, 3, cin + (stdChannel && level === widths.length - 1 ? 1 : 0), w], [3, 3, w, w]);
    cin = w;
  });
  shapes.push([16 * cin, 1]);
  return shapes;
}

/**
 * Creates a discriminator with He-normal weights and random unit power-iteration vectors, both from `seed`.
 * Dispose it when done.
 */
export function createDiscriminator(options: DiscriminatorOptions = {}): Discriminator {
  const { imageSize, widths, seed, minibatchStdGroup } = checkDiscriminatorOptions(options);
  const weights: tf.Variable[] = [];
  const spectral: tf.Variable[] = [];
  kernelShapes(widths, minibatchStdGroup > 1).forEach((shape, i) => {
    const init = tf.tidy(() => tf.initializers.heNormal({ seed: seed * 1000 + 500 + i }).apply(shape));
    weights.push(tf.variable(init, true));
    init.dispose();
    const out = shape[shape.length - 1];
    const zeros = tf.zeros([out]);
    weights.push(tf.variable(zeros, true));
    zeros.dispose();
    spectral.push(tf.tidy(() => {
      const u = tf.randomNormal([out], 0, 1, 'float32', seed * 1000 + 700 + i);
      return tf.variable(tf.div(u, tf.add(tf.norm(u), 1e-12)), false);
    }));
  });
  return {
    imageSize, widths, minibatchStdGroup, weights, spectral,
    dispose() { tf.dispose([...weights, ...spectral]); },
  };
}

/** A kernel as a matrix `[fan-in, out]`. */
function asMatrix(kernel: tf.Tensor): tf.Tensor2D {
  const out = kernel.shape[kernel.shape.length - 1];
  return tf.reshape(kernel, [-1, out]);
}

/** One power iteration: `v = M u / |M u|`, `u' = Mᵀ v / |Mᵀ v|` for every kernel. Pure; the caller keeps the result. */
export function spectralVectors(d: Discriminator): Array<{ u: tf.Tensor1D; v: tf.Tensor1D }> {
  return tf.tidy(() => d.spectral.map((u, i) => {
    const m = asMatrix(d.weights[2 * i]);
    const mu = tf.squeeze(tf.matMul(m, tf.reshape(u, [-1, 1])), [1]);
    const v = tf.div(mu, tf.add(tf.norm(mu), 1e-12));
    const mtv = tf.squeeze(tf.matMul(m, tf.reshape(v, [-1, 1]), true, false), [1]);
    return { u: tf.div<tf.Tensor1D>(mtv, tf.add(tf.norm(mtv), 1e-12)), v: v as tf.Tensor1D };
  }));
}

/**
 * 2×2 average pooling times 2, as a reshape and a mean (whose gradient every backend has). The factor 2 makes its
 * operator norm 1, like the spectrally normalised convs around it: a plain average halves the norm of a smooth map at
 * every level, which kept the discriminator's scores (and so its hinge loss) pinned near zero.
 */
export function averagePool2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    return tf.mul<tf.Tensor4D>(tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]), 2);
  });
}

/** Keeps the power iteration's new `u` vectors (once per training step, after the discriminator's update). */
export function updateSpectralVectors(d: Discriminator): void {
  const vecs = spectralVectors(d);
  vecs.forEach(({ u }, i) => d.spectral[i].assign(u));
  tf.dispose(vecs.flatMap(({ u, v }) => [u, v]));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Features `[N, h, w, C]` with one more channel: per group of `group` consecutive images, the standard deviation of
 * each feature across the group (population, + 1e-8 under the root), averaged over features and cells, the same value
 * in every cell of every image of the group. `group` must divide N.
 */
export function minibatchStd(x: tf.Tensor4D, group: number): tf.Tensor4D {
  return tf.tidy<tf.Tensor4D>(() => {
    const [n, h, w, c] = x.shape;
    const g = tf.reshape(x, [n / group, group, h, w, c]);
    const centred = tf.sub(g, tf.mean(g, 1, true));
    const sd = tf.sqrt(tf.add(tf.mean(tf.square(centred), 1), 1e-8));
    const perGroup = tf.mean(tf.reshape(sd, [n / group, -1]), 1);
    // Tiled in ranks ≤ 4: tfjs has no gradient for tiling a rank-5 tensor.
    const perImage = tf.reshape(tf.tile(tf.reshape(perGroup, [n / group, 1]), [1, group]), [n, 1, 1, 1]);
    return tf.concat<tf.Tensor4D>([x, tf.tile(perImage as tf.Tensor4D, [1, h, w, 1])], 3);
  });
}

/**
 * The discriminator's scores `[N]` for images `[N, S, S, 3]` in [-1, 1], every kernel divided by its spectral norm
 * `σ = vᵀ M u` (u, v from {@link spectralVectors}, held constant, so the gradient is the spectral-norm one).
 * `parts` says the batch is that many equal parts (real scenes, then generated ones) that minibatch standard
 * deviation groups must not mix; a group is gcd(its size, N / parts) images.
 */
export function discriminate(d: Discriminator, images: tf.Tensor4D, vectors: ReadonlyArray<{ u: tf.Tensor1D; v: tf.Tensor1D }>, parts = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const normed = (i: number): tf.Tensor => {
      const kernel = d.weights[2 * i];
      const { u, v } = vectors[i];
      const sigma = tf.sum(tf.mul(v, tf.squeeze(tf.matMul(asMatrix(kernel), tf.reshape(u, [-1, 1])), [1])));
      return tf.div(kernel, sigma);
    };
    let k = 0;
    const conv = (x: tf.Tensor4D): tf.Tensor4D => {
      const y = tf.conv2d(x, normed(k) as tf.Tensor4D, 1, 'same');
      const out = tf.leakyRelu(tf.add<tf.Tensor4D>(y, d.weights[2 * k + 1]), 0.2);
      k++;
      return out;
    };
    let x = conv(images);
    for (let level = 0; level < d.widths.length; level++) {
      x = averagePool2(x);
      if (level === d.widths.length - 1 && d.minibatchStdGroup > 1) x = minibatchStd(x, gcd(d.minibatchStdGroup, x.shape[0] / parts));
      x = conv(conv(x));
    }
    const flat = tf.reshape(x, [x.shape[0], -1]);
    const score = tf.add(tf.matMul(flat, normed(k) as tf.Tensor2D), d.weights[2 * k + 1]);
    return tf.reshape(score, [-1]);
  });
}
