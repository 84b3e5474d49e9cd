/**
 * A small seeded PRNG (mulberry32) for the random choices made in JavaScript
 * (Square Attack windows, random unit sets, bootstrap resamples, generator latents). Same seed → same stream.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed so that nearby seeds (0, 1, 2, …) give unrelated streams.
    this.state = hashSeed(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** −1 or +1 with equal probability. */
  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }
}

/** A 32-bit hash of a (possibly non-integer or large) numeric seed. */
export function hashSeed(seed: number): number {
  let h = 0x811c9dc5;
  const s = String(seed);
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** A derived seed for sub-stream `k` of `seed` (restarts, binary-search steps…), kept in the safe-integer range. */
export function subSeed(seed: number, k: number): number {
  return (hashSeed(seed) ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0;
}
