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

/**
 * The best IoU any mask with `active` pixels can reach against a mask of `label` pixels: `min / max` of the two
 * sizes, reached when one mask holds the other. A unit active on the top 1% of pixels cannot pass IoU 0.04 for a
 * concept that covers more than 25% of them.
 */
export function iouCeiling(active: number, label: number): number {
  const hi = Math.max(active, label);
  return hi > 0 ? Math.min(active, label) / hi : 0;
}

/** `−Σ p log p` of counts over `total` (natural log), skipping empty cells. */
function entropy(counts: readonly number[], total: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) { const p = c / total; h -= p * Math.log(p); }
  return h;
}

/**
 * Information quality ratio of two binary masks over `total` pixels — the unit's (`active` pixels) and the concept's
 * (`label` pixels), overlapping on `both`: mutual information over joint entropy, `I(A; M) / H(A, M)`, in [0, 1]
 * (1 when the masks are equal, 0 when independent). GAN Dissection picks each unit's threshold per concept by it.
 */
export function informationQualityRatio(both: number, active: number, label: number, total: number): number {
  if (!(total > 0)) return 0;
  const joint = [both, active - both, label - both, total - active - label + both];
  const hAM = entropy(joint, total);
  if (!(hAM > 0)) return 0;
  const mi = entropy([active, total - active], total) + entropy([label, total - label], total) - hAM;
  return Math.max(0, Math.min(1, mi / hAM));
}

/**
 * The top fractions of pixels whose levels {@link LevelTally} tries as thresholds: a log grid from 0.1% to 50%
 * (`0.001 · 500^(g / (G − 1))`), so a unit can be matched with a small part or a concept covering half the image.
 */
export function thresholdGrid(levels = 24): number[] {
  return Array.from({ length: levels }, (_, g) => 0.001 * 500 ** (g / (levels - 1)));
}

/** The counts of a {@link LevelTally} as plain data. */
export interface LevelCounts { bins: Float64Array; binInter: Float64Array; labelCount: Float64Array; pixels: number }

/**
 * Counts for many thresholds per unit at once: for each unit, `G` levels `t_0 ≥ t_1 ≥ … ≥ t_{G−1}` (the unit's values
 * at the top fractions of {@link thresholdGrid}, from its quantile sketch) and, per level g, `|A_u,g|` and
 * `|A_u,g ∩ M_c|` with `A_u,g = {pixels where the unit > t_g}`. Each pixel value is placed once in the bin of the
 * levels it exceeds, so the cost is close to one threshold's; the counts at a level are sums over the bins above it.
 */
export class LevelTally {
  /** Pixels per unit and bin: bin k holds the values above exactly k levels (the k lowest). */
  private readonly bins: Float64Array;
  /** Per unit, bin and label value. */
  private readonly binInter: Float64Array;
  readonly labelCount: Float64Array;
  pixels = 0;

  /** `levels`: `[units, G]` thresholds, each unit's non-increasing in g. */
  constructor(readonly units: number, readonly labelValues: number, readonly levels: Float32Array, readonly G: number) {
    if (levels.length !== units * G) throw usageError(`levels must hold ${units}×${G} thresholds, got ${levels.length}`, { path: 'levels' });
    this.bins = new Float64Array(units * (G + 1));
    this.binInter = new Float64Array(units * (G + 1) * labelValues);
    this.labelCount = new Float64Array(labelValues);
  }

  /** Adds a batch, laid out as in {@link IouTally.add}. */
  add(values: Float32Array, labels: Uint16Array, images: number, planes: number, pixels: number): void {
    const U = this.units; const L = this.labelValues; const G = this.G;
    const P = images * pixels;
    if (values.length !== U * P) throw usageError(`values must hold ${U}×${images}×${pixels} numbers, got ${values.length}`, { path: 'values' });
    if (labels.length !== images * planes * pixels) throw usageError(`labels must hold ${images}×${planes}×${pixels} values, got ${labels.length}`, { path: 'labels' });
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (l !== 0 && l < L) this.labelCount[l]++;
    }
    for (let u = 0; u < U; u++) {
      const t = this.levels.subarray(u * G, (u + 1) * G);
      const base = u * P; const bbase = u * (G + 1);
      const lowest = t[G - 1];
      for (let b = 0; b < images; b++) {
        const vb = base + b * pixels; const lb = b * planes * pixels;
        for (let j = 0; j < pixels; j++) {
          const v = values[vb + j];
          if (!(v > lowest)) { this.bins[bbase]++; continue; }
          // k = number of levels v exceeds (≥ 1): the levels g ≥ G − k, since they fall with g.
          let lo = 0; let hi = G - 1; // find the first g with v > t[g]
          while (lo < hi) { const mid = (lo + hi) >> 1; if (v > t[mid]) hi = mid; else lo = mid + 1; }
          const k = G - lo;
          this.bins[bbase + k]++;
          const ib = (bbase + k) * L;
          for (let p = 0; p < planes; p++) {
            const l = labels[lb + p * pixels + j];
            if (l !== 0 && l < L) this.binInter[ib + l]++;
          }
        }
      }
    }
    this.pixels += P;
  }

  /** `|A_u,g|`: pixels of unit u above level g. */
  active(u: number, g: number): number {
    let s = 0;
    for (let k = this.G - g; k <= this.G; k++) s += this.bins[u * (this.G + 1) + k];
    return s;
  }

  /** `|A_u,g ∩ M_c|`. */
  intersection(u: number, g: number, c: number): number {
    let s = 0;
    const L = this.labelValues;
    for (let k = this.G - g; k <= this.G; k++) s += this.binInter[(u * (this.G + 1) + k) * L + c];
    return s;
  }

  /**
   * For unit u and concept c, the level with the highest information quality ratio (the lowest level among ties),
   * with its IoU and counts.
   */
  best(u: number, c: number): { level: number; iqr: number; iou: number; active: number; intersection: number } {
    let best = { level: 0, iqr: -1, iou: 0, active: 0, intersection: 0 };
    const M = this.labelCount[c];
    for (let g = 0; g < this.G; g++) {
      const A = this.active(u, g); const I = this.intersection(u, g, c);
      const q = informationQualityRatio(I, A, M, this.pixels);
      if (q > best.iqr) {
        const union = A + M - I;
        best = { level: g, iqr: q, iou: union > 0 ? I / union : 0, active: A, intersection: I };
      }
    }
    return best;
  }

  /** The counts as plain data (for a worker's answer). */
  counts(): LevelCounts {
    return { bins: this.bins, binInter: this.binInter, labelCount: this.labelCount, pixels: this.pixels };
  }

  /** Adds counts of the same shape (another batch or shard). */
  addCounts(c: LevelCounts): void {
    for (let i = 0; i < this.bins.length; i++) this.bins[i] += c.bins[i];
    for (let i = 0; i < this.binInter.length; i++) this.binInter[i] += c.binInter[i];
    for (let i = 0; i < this.labelCount.length; i++) this.labelCount[i] += c.labelCount[i];
    this.pixels += c.pixels;
  }
}
