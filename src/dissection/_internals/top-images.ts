/**
 * Per unit, the K probe images with the highest spatial maximum, with the unit's activation map on each.
 * A fixed-size table per unit; a new image replaces the weakest entry when it beats it.
 */
export interface TopEntry {
  index: number;
  value: number;
  map: Float32Array;
}

export class TopImages {
  private readonly values: Float32Array;
  private readonly indices: Int32Array;
  private readonly maps: Float32Array;
  private readonly filled: Int32Array;

  /** `pixels` = h·w of the layer's maps. */
  constructor(readonly units: number, readonly k: number, readonly pixels: number) {
    this.values = new Float32Array(units * k).fill(-Infinity);
    this.indices = new Int32Array(units * k).fill(-1);
    this.maps = new Float32Array(units * k * pixels);
    this.filled = new Int32Array(units);
  }

  /** Adds a batch of raw activations `[n, h, w, units]` (NHWC) of probe images `indices`. */
  add(acts: Float32Array, indices: readonly number[]): void {
    const U = this.units; const P = this.pixels; const K = this.k;
    if (K === 0) return;
    const max = new Float32Array(U);
    for (let b = 0; b < indices.length; b++) {
      const base = b * P * U;
      max.fill(-Infinity);
      for (let p = 0; p < P; p++) {
        const o = base + p * U;
        for (let u = 0; u < U; u++) { const v = acts[o + u]; if (v > max[u]) max[u] = v; }
      }
      for (let u = 0; u < U; u++) {
        const v = max[u];
        let slot: number;
        if (this.filled[u] < K) {
          slot = this.filled[u]++;
        } else {
          slot = 0;
          for (let s = 1; s < K; s++) if (this.values[u * K + s] < this.values[u * K + slot]) slot = s;
          if (!(v > this.values[u * K + slot])) continue;
        }
        const e = u * K + slot;
        this.values[e] = v;
        this.indices[e] = indices[b]!;
        const mo = e * P;
        for (let p = 0; p < P; p++) this.maps[mo + p] = acts[base + p * U + u]!;
      }
    }
  }

  /** A unit's entries, strongest first (ties: lower probe index first). */
  entries(u: number): TopEntry[] {
    const K = this.k; const P = this.pixels;
    const out: TopEntry[] = [];
    for (let s = 0; s < this.filled[u]; s++) {
      const e = u * K + s;
      out.push({ index: this.indices[e], value: this.values[e], map: this.maps.slice(e * P, (e + 1) * P) });
    }
    return out.sort((a, b) => b.value - a.value || a.index - b.index);
  }
}
