/**
 * Pooled intersection-over-union of unit activation masks and concept label masks over a whole probe set:
 * IoU(u, c) = Σ|A_u ∩ M_c| / Σ|A_u ∪ M_c|, with A_u = {pixels where the upsampled activation of u > its threshold}
 * and M_c = {pixels labelled c}. Sums run over every pixel of every image (not a mean of per-image IoUs).
 */
import { usageError } from '../errors.js';

/**
 * Counts |A_u|, |M_c| and |A_u ∩ M_c| batch by batch; {@link IouTally.iou} divides at the end.
 * Label values outside `[1, labelCount)` are ignored (0 means "no concept").
 */
export class IouTally {
  /** |A_u| per unit. */
  readonly activeCount: Float64Array;
  /** |M_c| per label value. */
  readonly labelCount: Float64Array;
  /** |A_u ∩ M_c|, unit-major: `intersection[u · labelCount + c]`. */
  readonly intersection: Float64Array;
  /** Pixels tallied. */
  pixels = 0;

  constructor(readonly units: number, readonly labelValues: number) {
    if (!Number.isInteger(units) || units < 1) throw usageError(`units must be a positive integer, got ${units}`, { path: 'units' });
    if (!Number.isInteger(labelValues) || labelValues < 1) throw usageError(`labelValues must be a positive integer, got ${labelValues}`, { path: 'labelValues' });
    this.activeCount = new Float64Array(units);
    this.labelCount = new Float64Array(labelValues);
    this.intersection = new Float64Array(units * labelValues);
  }

  /**
   * Adds a batch. `values` holds upsampled activations unit-major, `[units, images, pixels]`; `labels` holds
   * `[images, planes, pixels]` label maps (a pixel belongs to every concept any plane gives it).
   */
  add(values: Float32Array, thresholds: ArrayLike<number>, labels: Uint16Array, images: number, planes: number, pixels: number): void {
    const U = this.units; const L = this.labelValues;
    const P = images * pixels;
    if (values.length !== U * P) throw usageError(`values must hold ${U}×${images}×${pixels} numbers, got ${values.length}`, { path: 'values' });
    if (labels.length !== images * planes * pixels) throw usageError(`labels must hold ${images}×${planes}×${pixels} values, got ${labels.length}`, { path: 'labels' });
    const lc = this.labelCount;
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (l !== 0 && l < L) lc[l]++;
    }
    const inter = this.intersection;
    for (let u = 0; u < U; u++) {
      const t = thresholds[u];
      const base = u * P; const ibase = u * L;
      let active = 0;
      for (let b = 0; b < images; b++) {
        const vb = base + b * pixels; const lb = b * planes * pixels;
        for (let j = 0; j < pixels; j++) {
          if (values[vb + j] > t) {
            active++;
            for (let p = 0; p < planes; p++) {
              const l = labels[lb + p * pixels + j];
              if (l !== 0 && l < L) inter[ibase + l]++;
            }
          }
        }
      }
      this.activeCount[u] += active;
    }
    this.pixels += P;
  }

  /** Pooled IoU of unit `u` and label value `c` (0 when both masks are empty). */
  iou(u: number, c: number): number {
    const i = this.intersection[u * this.labelValues + c];
    const union = this.activeCount[u] + this.labelCount[c] - i;
    return union > 0 ? i / union : 0;
  }

  /** Adds another tally of the same shape (e.g. from a shard). */
  merge(other: IouTally): this {
    if (other.units !== this.units || other.labelValues !== this.labelValues) {
      throw usageError('cannot merge IoU tallies of different shapes', { path: 'other' });
    }
    for (let i = 0; i < this.activeCount.length; i++) this.activeCount[i] += other.activeCount[i];
    for (let i = 0; i < this.labelCount.length; i++) this.labelCount[i] += other.labelCount[i];
    for (let i = 0; i < this.intersection.length; i++) this.intersection[i] += other.intersection[i];
    this.pixels += other.pixels;
    return this;
  }
}
