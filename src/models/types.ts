import type * as tf from '../tf.js';

/**
 * How a model turns pixel-space input (float32 NHWC in [0, 1]) into its own input:
 * `y = (x · scale − mean) / std`, then channels reordered when `channelOrder` is `bgr`.
 * Attacks work in pixel space, so ε is always in pixel units whatever the model expects.
 */
export interface Preprocessing {
  /** A preset name, kept for display; the numbers below are what counts. */
  preset?: PreprocessPreset | 'custom';
  scale: number;
  /** Per-channel mean in the model's channel order, after scaling. */
  mean: readonly [number, number, number];
  /** Per-channel std in the model's channel order, after scaling. */
  std: readonly [number, number, number];
  channelOrder: 'rgb' | 'bgr';
}

export type PreprocessPreset = 'unit' | 'torch' | 'caffe' | 'tf';

/**
 * A change to some units (channels) of a layer's output: `y = x · mul + add`, per channel.
 * `zero` sets the units to 0, `scale` multiplies them, `set` replaces them by a constant.
 */
export type UnitEdit =
  | { op: 'zero'; units: readonly number[] }
  | { op: 'scale'; units: readonly number[]; factor: number }
  | { op: 'set'; units: readonly number[]; value: number }
  /** Keep only these units; zero every other one. */
  | { op: 'keep'; units: readonly number[] };

/** Options for {@link Classifier.run}. */
export interface RunOptions {
  /** Layers whose outputs to return. */
  taps?: readonly string[];
  /** Edits applied to a layer's output before the rest of the network sees it. */
  edits?: Readonly<Record<string, UnitEdit>>;
  /**
   * Replace a layer's output by this tensor (batch must match). Layers that only feed the
   * overridden one are not computed, so the rest of the network runs from there.
   */
  overrides?: Readonly<Record<string, tf.Tensor>>;
  /** The model input when only overrides drive the network: omit `x` then. */
}

export interface RunResult {
  logits: tf.Tensor2D;
  taps: Record<string, tf.Tensor>;
}

/** Description of a layer that can be tapped or edited. */
export interface LayerInfo {
  name: string;
  /** Output shape without the batch dimension, e.g. `[6, 6, 128]`. */
  shape: number[];
  /** Layer class name, e.g. `Conv2D`. */
  className: string;
  /** True when the output has spatial maps (rank 4, NHWC). */
  spatial: boolean;
}

/**
 * The adapter every stage works through. Inputs are pixel-space images: float32 NHWC in [0, 1] at
 * `inputSize`. Every method is pure with respect to tensors: outputs are new tensors the caller owns.
 */
export interface Classifier {
  /** A display name, e.g. `builtin:scenes-vgg16` or a path. */
  readonly name: string;
  /** `[height, width]` of the pixel-space input. */
  readonly inputSize: readonly [number, number];
  readonly classNames: readonly string[];
  readonly preprocessing: Preprocessing;
  /** Layers that can be tapped or edited, in network order. */
  readonly layers: readonly LayerInfo[];
  /** The layer dissection uses by default: the last layer with spatial maps. */
  readonly defaultLayer: string;
  /** A hash of topology and weights, for caches. */
  readonly fingerprint: string;
  /** Whether gradients can flow from logits to the input (false for score-only models). */
  readonly differentiable: boolean;

  /** Logits `[N, classes]` for pixel-space images `x` `[N, H, W, 3]`. */
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /** The output of `layer` for pixel-space images `x`. */
  activations(x: tf.Tensor4D, layer: string): tf.Tensor;
  /** Logits and tapped layer outputs in one pass, with optional edits and overrides. */
  run(x: tf.Tensor4D | null, options?: RunOptions): RunResult;
  /** A view of this classifier whose every pass applies `edit` at `layer`. Shares weights. */
  withEdits(layer: string, edit: UnitEdit): Classifier;
  /** Info on one layer; throws a `UA_LAYER` error listing the nearest names when unknown. */
  layer(name: string): LayerInfo;
  /** Frees the weights (not needed for views made by `withEdits`). */
  dispose(): void;
}
