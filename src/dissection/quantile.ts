/**
 * A mergeable streaming quantile sketch with a rank-error guarantee (KLL: Karnin, Lang & Liberty, FOCS 2016).
 *
 * Values enter an unsorted staging buffer of `k` items (weight 1). A full buffer is sorted and *compacted*: every
 * other item (odd or even positions, by a seeded coin) moves up one level with twice the weight, the rest are
 * dropped. Level h holds sorted items of weight 2^h and is compacted when it reaches its capacity
 * `k · (2/3)^(top − h)`, so low levels stay small and the sketch holds about 3k items whatever the stream length.
 *
 * Each compaction at level h moves the rank of any query by at most 2^h, with zero mean; {@link
 * QuantileSketch.rankErrorBound} sums these worst cases (a hard bound), while the typical error is far smaller:
 * a standard deviation near 2n/k, i.e. about 0.01% of the ranks at the default `k`.
 * t-digest and DDSketch bound the *value* error instead, which is not what a top-quantile threshold needs.
 */
import { inputError, usageError } from '../errors.js';
import { radixSortFloat32 } from './_internals/radix.js';

/** Options for {@link QuantileSketch}. */
export interface QuantileSketchOptions {
  /**
   * Capacity of the staging buffer and of the top level. The rank error's standard deviation is about 2n/k.
   * @defaultValue 16384
   */
  k?: number;
  /** Seed of the coin that picks odd or even items at each compaction. @defaultValue 1 */
  seed?: number;
}

const MAGIC = 0x53514155; // 'UAQS' little-endian
const FORMAT_VERSION = 1;
const HEADER_BYTES = 56;
const DECAY = 2 / 3;
const MIN_CAPACITY = 8;

/** The 1-based rank an exact quantile `q` of `n` sorted values refers to: `max(1, ⌈q·n⌉)` (numpy's `inverted_cdf`). */
export function targetRank(q: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(q * n * (1 - 1e-12))));
}

/**
 * A KLL quantile sketch over float32 values, one per unit in dissection.
 *
 * @example
 * const s = new QuantileSketch();
 * s.update(new Float32Array([3, 1, 2]));
 * s.quantile(0.5); // 2
 */
export class QuantileSketch {
  readonly k: number;
  private levels: Float32Array[] = [];
  private sizes: number[] = [];
  private n = 0;
  private nan = 0;
  private errWeight = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private rng: number;
  private view: { values: Float32Array; cum: Float64Array } | undefined;
  /** Whether the staging buffer has items added since it was last sorted. */
  private dirty = false;

  constructor(options: QuantileSketchOptions = {}) {
    const k = options.k ?? 16384;
    if (!Number.isInteger(k) || k < 16 || k > 1 << 24) {
      throw usageError(`the sketch size k must be an integer in [16, 2^24], got ${String(k)}`, { path: 'k' });
    }
    this.k = k;
    const seed = options.seed ?? 1;
    this.rng = (Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 0x6d2b79f5;
    this.levels.push(new Float32Array(k));
    this.sizes.push(0);
  }

  /** Number of values seen (NaNs excluded). */
  get count(): number {
    this.settle();
    return this.n;
  }

  /** Number of NaN values seen and ignored. */
  get nanCount(): number {
    this.settle();
    return this.nan;
  }

  /** Smallest value seen (exact); `NaN` when empty. */
  get min(): number {
    this.settle();
    return this.n === 0 ? NaN : this.lo;
  }

  /** Largest value seen (exact); `NaN` when empty. */
  get max(): number {
    this.settle();
    return this.n === 0 ? NaN : this.hi;
  }

  /** Number of items the sketch holds now. */
  get retained(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  /**
   * A hard bound on the absolute rank error of any answer: the sum of 2^h over all compactions so far
   * (each compaction at level h shifts any rank by at most 2^h). The typical error is far below it.
   */
  rankErrorBound(): number {
    return this.errWeight;
  }

  /** Adds one value. Prefer {@link update} for many values. */
  add(value: number): void {
    this.view = undefined;
    this.dirty = true;
    const s = this.sizes[0];
    this.levels[0][s] = value;
    this.sizes[0] = s + 1;
    this.n++;
    if (s + 1 >= this.k) this.compress();
  }

  /** Adds `values[start … end)`; NaNs are counted and skipped. */
  update(values: ArrayLike<number>, start = 0, end: number = values.length): void {
    if (end <= start) return;
    this.view = undefined;
    this.dirty = true;
    const k = this.k;
    const typed = values instanceof Float32Array || values instanceof Float64Array;
    let i = start;
    while (i < end) {
      const buf = this.levels[0];
      const s = this.sizes[0];
      const take = Math.min(end - i, k - s);
      if (typed) {
        buf.set((values).subarray(i, i + take), s);
      } else {
        for (let j = 0; j < take; j++) buf[s + j] = values[i + j]!;
      }
      i += take;
      this.n += take;
      this.dirty = true;
      this.sizes[0] = s + take;
      if (s + take >= k) this.compress();
    }
  }

  /**
   * Merges another sketch into this one (both must have the same `k`). The result answers for the union of both
   * streams, with the sum of both error bounds plus the new compactions'.
   */
  merge(other: QuantileSketch): this {
    if (other.k !== this.k) {
      throw usageError(`cannot merge sketches of different sizes (k = ${this.k} and k = ${other.k})`, { path: 'k' });
    }
    if (other === this) return this.merge(QuantileSketch.deserialize(this.serialize()));
    this.settle();
    other.settle();
    this.view = undefined;
    while (this.levels.length < other.levels.length) this.addLevel();
    // Staging: append the other's unsorted items.
    const s0 = this.sizes[0]; const o0 = other.sizes[0];
    this.ensure(0, s0 + o0);
    this.levels[0].set(other.levels[0].subarray(0, o0), s0);
    this.sizes[0] = s0 + o0;
    this.dirty = o0 > 0;
    for (let h = 1; h < other.levels.length; h++) {
      const om = other.sizes[h];
      if (om === 0) continue;
      this.mergeInto(h, other.levels[h], 0, om, 1);
    }
    this.n += other.n;
    this.nan += other.nan;
    this.errWeight += other.errWeight;
    if (other.n > 0) {
      this.lo = Math.min(this.lo, other.lo);
      this.hi = Math.max(this.hi, other.hi);
    }
    this.compress();
    return this;
  }

  /**
   * The value at quantile `q ∈ [0, 1]`: an approximation of the ⌈q·n⌉-th smallest value
   * (see {@link targetRank}). `NaN` when the sketch is empty.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw usageError(`a quantile must be in [0, 1], got ${String(q)}`, { path: 'q' });
    this.settle();
    if (this.n === 0) return NaN;
    if (q === 0) return this.min;
    if (q === 1) return this.max;
    const { values, cum } = this.sortedView();
    const total = cum[cum.length - 1];
    const target = targetRank(q, total);
    let a = 0; let b = cum.length - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      if (cum[m] >= target) b = m; else a = m + 1;
    }
    return values[a];
  }

  /** Several quantiles at once. */
  quantiles(qs: readonly number[]): number[] {
    return qs.map((q) => this.quantile(q));
  }

  /** Approximate number of values ≤ `value`. */
  rank(value: number): number {
    this.settle();
    if (this.n === 0) return 0;
    const { values, cum } = this.sortedView();
    let a = 0; let b = values.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (values[m] <= value) a = m + 1; else b = m;
    }
    return a === 0 ? 0 : cum[a - 1];
  }

  /** A compact binary form (little-endian) that {@link QuantileSketch.deserialize} reads back, e.g. across workers. */
  serialize(): Uint8Array {
    this.settle();
    const L = this.levels.length;
    const items = this.retained;
    const bytes = new Uint8Array(HEADER_BYTES + 4 * L + 4 * items);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, FORMAT_VERSION, true);
    dv.setUint32(8, this.k, true);
    dv.setUint32(12, L, true);
    dv.setUint32(16, this.rng, true);
    dv.setFloat64(24, this.n, true);
    dv.setFloat64(32, this.errWeight, true);
    dv.setFloat64(40, this.nan, true);
    dv.setFloat32(48, this.n === 0 ? NaN : this.lo, true);
    dv.setFloat32(52, this.n === 0 ? NaN : this.hi, true);
    let off = HEADER_BYTES;
    for (let h = 0; h < L; h++) { dv.setUint32(off, this.sizes[h], true); off += 4; }
    for (let h = 0; h < L; h++) {
      const m = this.sizes[h];
      const lv = this.levels[h];
      for (let i = 0; i < m; i++) { dv.setFloat32(off, lv[i], true); off += 4; }
    }
    return bytes;
  }

  /** Reads a sketch written by {@link QuantileSketch.serialize}. Throws a `UA_INPUT` error on anything else. */
  static deserialize(bytes: Uint8Array): QuantileSketch {
    const bad = (why: string): never => { throw inputError(`not a serialized quantile sketch: ${why}`, { path: 'sketch' }); };
    if (bytes.byteLength < HEADER_BYTES) bad('too short');
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(0, true) !== MAGIC) bad('wrong magic number');
    const version = dv.getUint32(4, true);
    if (version !== FORMAT_VERSION) bad(`format version ${version}, this build reads version ${FORMAT_VERSION}`);
    const k = dv.getUint32(8, true);
    if (k < 16 || k > 1 << 24) bad(`k = ${k}`);
    const L = dv.getUint32(12, true);
    if (L < 1 || L > 64) bad(`${L} levels`);
    const s = new QuantileSketch({ k });
    s.rng = dv.getUint32(16, true) || 0x6d2b79f5;
    s.n = dv.getFloat64(24, true);
    s.errWeight = dv.getFloat64(32, true);
    s.nan = dv.getFloat64(40, true);
    const lo = dv.getFloat32(48, true); const hi = dv.getFloat32(52, true);
    s.lo = s.n === 0 ? Infinity : lo; s.hi = s.n === 0 ? -Infinity : hi;
    let off = HEADER_BYTES;
    const sizes: number[] = [];
    for (let h = 0; h < L; h++) { sizes.push(dv.getUint32(off, true)); off += 4; }
    const items = sizes.reduce((a, b) => a + b, 0);
    if (bytes.byteLength !== off + 4 * items) bad('length does not match the level sizes');
    let weight = 0;
    for (let h = 0; h < L; h++) {
      if (h > 0) s.addLevel();
      const m = sizes[h];
      s.ensure(h, m);
      const lv = s.levels[h];
      for (let i = 0; i < m; i++) { lv[i] = dv.getFloat32(off, true); off += 4; }
      s.sizes[h] = m;
      weight += m * 2 ** h;
    }
    s.dirty = sizes[0] > 0;
    if (weight !== s.n) bad(`the items weigh ${weight} but the count is ${s.n}`);
    return s;
  }

  // ---- internals ----

  private capacity(h: number): number {
    if (h === 0) return this.k;
    const top = this.levels.length - 1;
    return Math.max(MIN_CAPACITY, Math.floor(this.k * DECAY ** (top - h)));
  }

  private addLevel(): void {
    this.levels.push(new Float32Array(0));
    this.sizes.push(0);
  }

  private ensure(h: number, size: number): void {
    const lv = this.levels[h];
    if (lv.length >= size) return;
    const grown = new Float32Array(Math.max(size, Math.ceil(lv.length * 1.25)));
    grown.set(lv.subarray(0, this.sizes[h]));
    this.levels[h] = grown;
  }

  private nextBit(): number {
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x & 1;
  }

  /** Compacts every level at or over its capacity, bottom-up. */
  private compress(): void {
    for (let h = 0; h < this.levels.length; h++) {
      if (this.sizes[h] >= this.capacity(h)) this.compact(h);
    }
  }

  /**
   * Sorts the staging buffer if items were added since, drops its NaNs (the radix sort puts them at the ends)
   * and updates the exact min and max from it.
   */
  private settle(): void {
    if (!this.dirty) return;
    this.dirty = false;
    let m = this.sizes[0];
    if (m === 0) return;
    const a = this.levels[0];
    radixSortFloat32(a, m);
    let first = 0;
    while (first < m && a[first] !== a[first]) first++;
    while (m > first && a[m - 1] !== a[m - 1]) m--;
    const nans = first + (this.sizes[0] - m);
    if (nans > 0) {
      a.copyWithin(0, first, m);
      m -= first;
      this.sizes[0] = m;
      this.nan += nans;
      this.n -= nans;
    }
    if (m === 0) return;
    if (a[0] < this.lo) this.lo = a[0]!;
    if (a[m - 1] > this.hi) this.hi = a[m - 1]!;
  }

  private compact(h: number): void {
    if (h === 0) this.settle();
    if (h + 1 === this.levels.length) this.addLevel();
    const a = this.levels[h];
    const m = this.sizes[h];
    const odd = m & 1;
    const even = m - odd;
    const offset = this.nextBit();
    this.mergeInto(h + 1, a, offset, even, 2);
    if (h === 0) {
      if (a.length > this.k) this.levels[0] = new Float32Array(this.k); // grown by a merge: back to k
      if (odd) this.levels[0][0] = a[m - 1]!;
    } else {
      // Levels above the staging buffer hold exactly their items, so memory follows the (bounded) item count
      // instead of the largest size a level ever had.
      this.levels[h] = odd ? Float32Array.of(a[m - 1]) : new Float32Array(0);
    }
    this.sizes[h] = odd;
    this.errWeight += 2 ** h;
  }

  /** Merges the sorted items `src[start], src[start + step], …` below `end` into level `h` (sorted). */
  private mergeInto(h: number, src: Float32Array, start: number, end: number, step: number): void {
    const b = this.levels[h];
    const bm = this.sizes[h];
    const add = Math.ceil((end - start) / step);
    const total = bm + add;
    const out = new Float32Array(total);
    let i = start; let j = 0; let o = 0;
    while (i < end && j < bm) {
      const x = src[i]; const y = b[j];
      if (x <= y) { out[o++] = x; i += step; } else { out[o++] = y; j++; }
    }
    while (i < end) { out[o++] = src[i]!; i += step; }
    while (j < bm) out[o++] = b[j++]!;
    this.levels[h] = out;
    this.sizes[h] = total;
  }

  /** All retained items, sorted, with cumulative weights. Cached until the next change. */
  private sortedView(): { values: Float32Array; cum: Float64Array } {
    this.settle();
    if (this.view) return this.view;
    let vals: Float32Array = this.levels[0].slice(0, this.sizes[0]);
    let wts = new Float64Array(vals.length).fill(1);
    for (let h = 1; h < this.levels.length; h++) {
      const m = this.sizes[h];
      if (m === 0) continue;
      const b = this.levels[h];
      const w = 2 ** h;
      const nv = new Float32Array(vals.length + m);
      const nw = new Float64Array(vals.length + m);
      let i = 0; let j = 0; let o = 0;
      while (i < vals.length && j < m) {
        if (vals[i] <= b[j]) { nv[o] = vals[i]!; nw[o++] = wts[i++]!; } else { nv[o] = b[j++]!; nw[o++] = w; }
      }
      while (i < vals.length) { nv[o] = vals[i]!; nw[o++] = wts[i++]!; }
      while (j < m) { nv[o] = b[j++]!; nw[o++] = w; }
      vals = nv; wts = nw;
    }
    for (let i = 1; i < wts.length; i++) wts[i] = wts[i] + wts[i - 1];
    this.view = { values: vals, cum: wts };
    return this.view;
  }
}
