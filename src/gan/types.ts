import type * as tf from '../tf.js';
import type { LayerInfo } from '../models/types.js';

/**
 * A rectangle of cells of a layer's map, half-open: rows `[r0, r1)`, columns `[c0, c1)`. One cell is
 * `{ rows: [r, r + 1], cols: [c, c + 1] }`.
 */
export interface CellRegion {
  rows: readonly [number, number];
  cols: readonly [number, number];
}

/**
 * A change to some units (channels) of a generator layer's output, applied where `region` says (every cell when
 * omitted), before the rest of the generator sees it.
 * - `zero`: the units become 0 (ablation).
 * - `scale`: the units are multiplied by `factor`.
 * - `set`: the units become `value`, one number for all of them or one per unit, in the order of `units`
 *   (insertion sets each unit to its own high quantile).
 * - `keep`: every other unit becomes 0.
 */
export type GeneratorEdit =
  | { op: 'zero'; units: readonly number[]; region?: CellRegion }
  | { op: 'scale'; units: readonly number[]; factor: number; region?: CellRegion }
  | { op: 'set'; units: readonly number[]; value: number | readonly number[]; region?: CellRegion }
  | { op: 'keep'; units: readonly number[]; region?: CellRegion };

/** Options for {@link Generator.generate}. */
export interface GenerateOptions {
  /** Layers whose outputs to return (`layer1`…). */
  taps?: readonly string[];
  /** Edits applied to a layer's output before the rest of the generator sees it; several layers may be edited. */
  edits?: Readonly<Record<string, GeneratorEdit | readonly GeneratorEdit[]>>;
  /**
   * Start from a layer's output computed before — the unedited tap of that layer from an earlier call on the same
   * latents — instead of from the latents: the layers before it are not run, and its own edits apply to this value.
   * The images are the same as a call without it. Edits and taps of the layers before it are refused. An ablation
   * that measures many edits of one layer on one batch runs the layers up to it once.
   */
  resume?: { layer: string; value: tf.Tensor };
}

/** What {@link Generator.generate} returns; the caller owns (and disposes) every tensor. */
export interface GenerateResult {
  /** Pixel-space images `[N, S, S, 3]` in [0, 1] (the output range mapped and clipped). */
  images: tf.Tensor4D;
  taps: Record<string, tf.Tensor>;
}

/**
 * The adapter every generator stage (generate, dissect, ablate, insert) works through, like {@link Classifier} for
 * classifiers. Every method is pure with respect to tensors: outputs are new tensors the caller owns.
 */
export interface Generator {
  /** A display name, e.g. `builtin:scenes-gan` or a path. */
  readonly name: string;
  readonly latentSize: number;
  /** Side of the square RGB output. */
  readonly outputSize: number;
  /** The range of the raw output that maps to pixels [0, 1], e.g. `[-1, 1]`. */
  readonly outputRange: readonly [number, number];
  /** Layers that can be tapped or edited, in network order. */
  readonly layers: readonly LayerInfo[];
  /** The layer dissected by default (`layer4` for the built-in generator). */
  readonly defaultLayer: string;
  /** A hash of topology and weights, for caches. */
  readonly fingerprint: string;

  /**
   * Latent vectors `[count, latentSize]` number `from` … `from + count − 1` of the stream `seed`. Latent i depends
   * only on (seed, i), not on how the stream is cut into batches, so before/after images pair up per latent.
   */
  latents(seed: number, from: number, count: number): tf.Tensor2D;
  /** Images (and tapped layers) for latents `z`, with optional edits. */
  generate(z: tf.Tensor2D, options?: GenerateOptions): GenerateResult;
  /** Info on one layer; throws a `UA_LAYER` error listing the nearest names when unknown. */
  layer(name: string): LayerInfo;
  /** Frees the weights. */
  dispose(): void;
}
