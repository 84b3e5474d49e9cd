/**
 * Class gradients of units: how each class's logit answers a change of each unit, measured on the images of every
 * class. Ablation (see `importance.ts`) says which units a class *relies on*; the gradient says which units, when
 * *raised* on a source class's images, move the logits toward a target class — which is what a unit attack does.
 *
 * For images of class c and every class k, per unit u (with `z_k` the logit and `a_u(p)` the unit's activation at
 * position p of the layer):
 * - `gain[k][u]` = mean over the images of Σ_p ∂z_k/∂a_u(p): the change of z_k per unit of activation added to u at
 *   every position;
 * - `attribution[k][u]` = mean of Σ_p a_u(p)·∂z_k/∂a_u(p): to first order, how much z_k falls when u is zeroed.
 */
import * as tf from '../tf.js';
import type { Classifier } from '../models/types.js';
import { checkChunk, layerGeom, type ChunkSource } from './importance.js';

/** The class gradients measured on the images of one class. */
export interface ClassGradient {
  /** Images of the class measured. */
  count: number;
  /** `gain[k][u]`, k indexing the classifier's classes (see the module comment). */
  gain: number[][];
  /** `attribution[k][u]` (see the module comment). */
  attribution: number[][];
}

/** Options for {@link classGradients}. */
export interface ClassGradientOptions {
  /** Called after each chunk with images done. */
  onProgress?: (done: number) => void;
}

/**
 * Class gradients of the units of `layer`, for every class that has images in `chunks` (see the module comment).
 *
 * @example
 * const g = await classGradients(clf, 'block5_conv3', chunks);
 * // units that raise bedroom over ski_resort on ski_resort images, per unit of activation:
 * const t = clf.classNames.indexOf('bedroom'), s = clf.classNames.indexOf('ski_resort');
 * const pull = g.ski_resort.gain[t].map((v, u) => v - g.ski_resort.gain[s][u]);
 */
export async function classGradients(classifier: Classifier, layer: string, chunks: ChunkSource, options: ClassGradientOptions = {}): Promise<Record<string, ClassGradient>> {
  const geom = layerGeom(classifier, layer);
  const K = classifier.classNames.length;
  const U = geom.units;
  const gain = new Float64Array(K * K * U); // [class of the images][logit k][unit]
  const attr = new Float64Array(K * K * U);
  const count = new Float64Array(K);
  let done = 0;
  for await (const c of chunks()) {
    checkChunk(c, geom, K);
    if (c.n === 0) continue;
    const a = tf.tensor(c.acts, [c.n, ...geom.shape]);
    try {
      for (let k = 0; k < K; k++) {
        const [g, ag] = tf.tidy(() => {
          const logitK = (x: tf.Tensor): tf.Scalar => tf.sum(tf.gather(classifier.run(null, { overrides: { [layer]: x } }).logits, [k], 1));
          const grad = tf.grad(logitK)(a);
          const axes = geom.shape.slice(0, -1).map((_, i) => i + 1); // every axis but the batch and the units
          const flat = (t: tf.Tensor): tf.Tensor => (axes.length > 0 ? tf.sum(t, axes) : t);
          return [flat(grad), flat(tf.mul(grad, a))];
        });
        const [gv, av] = await Promise.all([g.data(), ag.data()]);
        g.dispose(); ag.dispose();
        for (let i = 0; i < c.n; i++) {
          const base = (c.labels[i] * K + k) * U;
          for (let u = 0; u < U; u++) { gain[base + u] += gv[i * U + u]; attr[base + u] += av[i * U + u]; }
        }
      }
    } finally {
      a.dispose();
    }
    for (const y of c.labels) count[y]++;
    done += c.n;
    options.onProgress?.(done);
  }
  const out: Record<string, ClassGradient> = {};
  for (let y = 0; y < K; y++) {
    if (count[y] === 0) continue;
    const rows = (t: Float64Array): number[][] => Array.from({ length: K }, (_, k) => Array.from({ length: U }, (_, u) => t[(y * K + k) * U + u] / count[y]));
    out[classifier.classNames[y]] = { count: count[y], gain: rows(gain), attribution: rows(attr) };
  }
  return out;
}

/**
 * The units that steer images of class `source` toward class `target`, per side, from their class gradients:
 * to excite, the units whose rise (by `scale[u]`, e.g. the unit's dissection threshold, at every position) raises
 * z_target − z_source most; to suppress, the units whose presence holds z_target − z_source down most (the most
 * negative attribution). Each list is sorted, best first, and holds every unit; units whose scale is 0 or not a
 * number (they never fire on the probe set) come last on both sides.
 */
export function steeringRanking(g: ClassGradient, source: number, target: number, scale: ArrayLike<number>): { excite: number[]; suppress: number[] } {
  const U = g.gain[target].length;
  // A unit that never fires (scale 0 or unknown) cannot be raised by a known amount or lowered: it goes last.
  const live = (u: number): boolean => Number.isFinite(scale[u]) && scale[u] > 0;
  const pull = Array.from({ length: U }, (_, u) => (live(u) ? (g.gain[target][u] - g.gain[source][u]) * scale[u] : Number.NEGATIVE_INFINITY));
  const hold = Array.from({ length: U }, (_, u) => (live(u) ? g.attribution[target][u] - g.attribution[source][u] : Number.POSITIVE_INFINITY));
  const units = [...Array(U).keys()];
  return {
    excite: [...units].sort((p, q) => (pull[q] === pull[p] ? p - q : pull[q] > pull[p] ? 1 : -1)),
    suppress: [...units].sort((p, q) => (hold[p] === hold[q] ? p - q : hold[p] > hold[q] ? 1 : -1)),
  };
}
