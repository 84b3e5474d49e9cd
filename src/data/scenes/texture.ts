/**
 * Procedural textures: value noise, fractal noise and the pattern functions behind {@link Pattern}.
 * Everything is a pure function of unit-space coordinates and a seed, so a texture does not depend on the
 * order in which shapes are drawn or on the image size.
 */
import type { Pattern } from './description.js';
import { hash3f } from './rng.js';

/** A fixed 256×256 lattice of random values; seeds select an offset into it (period: 256 cells). */
const LATTICE = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = hash3f(i & 255, i >> 8, 0x1a77) ;
  return t;
})();

/** Smooth value noise in [0, 1) on an integer lattice (periodic every 256 cells). */
export function valueNoise(x: number, y: number, seed: number): number {
  const fx0 = Math.floor(x);
  const fy0 = Math.floor(y);
  const fx = x - fx0;
  const fy = y - fy0;
  const sx = fx * fx * (3 - 2 * fx);
  const sy = fy * fy * (3 - 2 * fy);
  const ix = (fx0 + seed) & 255;
  const iy = ((fy0 + (seed >>> 8)) & 255) << 8;
  const ix1 = (ix + 1) & 255;
  const iy1 = (iy + 256) & 0xff00;
  const a = LATTICE[iy + ix];
  const b = LATTICE[iy + ix1];
  const c = LATTICE[iy1 + ix];
  const d = LATTICE[iy1 + ix1];
  return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
}

/** Fractal (sum of octaves of) value noise, normalised to [0, 1). */
export function fbm(x: number, y: number, seed: number, octaves: number): number {
  let sum = 0;
  let amp = 1;
  let norm = 0;
  let f = 1;
  for (let o = 0; o < octaves; o++) {
    sum += amp * valueNoise(x * f, y * f, seed + o * 40503);
    norm += amp;
    amp *= 0.5;
    f *= 2.03;
  }
  return sum / norm;
}

const clamp01 = (t: number): number => (t < 0 ? 0 : t > 1 ? 1 : t);

/** A compiled pattern: unit-space point → t in [0, 1]. */
export type PatternFn = (u: number, v: number) => number;

/** Bounding box in unit space, used by patterns whose extent defaults to the shape. */
export interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** Compiles a pattern into a function, or `null` for a flat fill. */
export function compilePattern(pattern: Pattern | undefined, seed: number, box: Box): PatternFn | null {
  if (pattern === undefined) return null;
  switch (pattern.kind) {
    case 'flat':
      return null;
    case 'noise': {
      const s = pattern.scale;
      const sy = s * (pattern.stretch ?? 1);
      const oct = pattern.octaves ?? 2;
      const k = 2 * (pattern.contrast ?? 1);
      return (u, v) => clamp01(0.5 + (fbm(u * s, v * sy, seed, oct) - 0.5) * k);
    }
    case 'stripes': {
      const angle = pattern.angle ?? 0;
      const ca = Math.cos(angle);
      const sa = Math.sin(angle);
      const period = pattern.period;
      const duty = pattern.duty ?? 0.5;
      const warp = pattern.warp ?? 0;
      const soft = pattern.soft ?? false;
      return (u, v) => {
        let p = (u * ca + v * sa) * period;
        if (warp !== 0) p += warp * (valueNoise(u * 5, v * 5, seed) - 0.5) * 2;
        const f = p - Math.floor(p);
        if (soft) return 0.5 - 0.5 * Math.cos(2 * Math.PI * f);
        return f < duty ? 1 : 0;
      };
    }
    case 'wood': {
      const angle = pattern.angle ?? 0;
      const ca = Math.cos(angle);
      const sa = Math.sin(angle);
      const period = pattern.period;
      const warp = pattern.warp ?? 1;
      return (u, v) => {
        const across = u * ca + v * sa;
        const along = -u * sa + v * ca;
        const p = across * period + warp * valueNoise(across * 3, along * 0.8, seed) * 2.5;
        const f = p - Math.floor(p);
        const fine = valueNoise(across * period * 6, along * 4, seed + 7);
        return clamp01(f * f * 0.75 + fine * 0.35);
      };
    }
    case 'tiles': {
      const w = pattern.width;
      const h = pattern.height ?? w;
      const offset = pattern.offset ?? 0;
      const gx = pattern.grout ?? 0.08;
      const gy = (gx * h) / w;
      const jitter = pattern.jitter ?? 0.15;
      return (u, v) => {
        const ry = v * h;
        const row = Math.floor(ry);
        const cx = u * w + ((row & 1) === 1 ? offset : 0);
        const col = Math.floor(cx);
        const fx = cx - col;
        const fy = ry - row;
        if (fx < gx || fy < gy) return 1;
        return jitter * hash3f(col, row, seed);
      };
    }
    case 'checker': {
      const s = pattern.size;
      return (u, v) => ((Math.floor(u * s) + Math.floor(v * s)) & 1);
    }
    case 'vgradient': {
      const y0 = pattern.y0 ?? box.y0;
      const y1 = pattern.y1 ?? box.y1;
      const inv = y1 === y0 ? 0 : 1 / (y1 - y0);
      const curve = pattern.curve ?? 1;
      if (curve === 1) return (_u, v) => clamp01((v - y0) * inv);
      return (_u, v) => Math.pow(clamp01((v - y0) * inv), curve);
    }
    case 'radial': {
      const { cx, cy } = pattern;
      const inv = 1 / Math.max(pattern.r, 1e-6);
      return (u, v) => clamp01(Math.hypot(u - cx, v - cy) * inv);
    }
    case 'waves': {
      const s = pattern.scale;
      const amount = pattern.amount ?? 1;
      return (u, v) => {
        const n = fbm(u * s, v * s * 6, seed, 2);
        return clamp01((n - 0.56) * 4) * amount;
      };
    }
  }
}
