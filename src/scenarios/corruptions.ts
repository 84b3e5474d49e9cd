/**
 * Image corruptions for property-based fuzzing: additive noise within ε, brightness, contrast, Gaussian blur,
 * small shifts and JPEG compression. Each is the identity at its zero value (noise 0, brightness 0, contrast 0,
 * blur 0, shift 0, JPEG quality 100), so that fast-check shrinks a failure towards the fewest, mildest corruptions.
 * Deterministic: the same parameters give the same bytes.
 */
import { jpegRoundTrip } from '../data/codec.js';
import type { RgbImage } from '../data/images.js';
import { UnitAttackError, usageError } from '../errors.js';

/** The corruptions applied to one image; an absent field is not applied. */
export interface Corruption {
  /** Shift in pixels (x right, y down); edges are repeated. */
  shift?: [dx: number, dy: number];
  /** Gaussian blur σ in pixels. */
  blur?: number;
  /** Contrast change c: pixels move away from the image mean by the factor 1 + c. */
  contrast?: number;
  /** Brightness offset in pixel units. */
  brightness?: number;
  /** Additive uniform noise in [−amplitude, amplitude], drawn from `seed`. */
  noise?: { amplitude: number; seed: number };
  /** JPEG quality 1…100; 100 means no compression. */
  jpeg?: number;
}

/** The order corruptions are applied in. */
export const CORRUPTION_ORDER = ['shift', 'blur', 'contrast', 'brightness', 'noise', 'jpeg'] as const;

/** mulberry32: a small seeded PRNG, so noise replays bit for bit. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shiftImage(src: Float32Array, w: number, h: number, dx: number, dy: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - dy));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(w - 1, Math.max(0, x - dx));
      const o = (y * w + x) * 3; const s = (sy * w + sx) * 3;
      out[o] = src[s]!; out[o + 1] = src[s + 1]!; out[o + 2] = src[s + 2]!;
    }
  }
  return out;
}

/** Separable Gaussian blur with repeated edges (radius ⌈3σ⌉). */
function blurImage(src: Float32Array, w: number, h: number, sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) { k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma)); sum += k[i + r]; }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let i = -r; i <= r; i++) v += k[i + r] * src[(y * w + Math.min(w - 1, Math.max(0, x + i))) * 3 + c];
        tmp[(y * w + x) * 3 + c] = v;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let i = -r; i <= r; i++) v += k[i + r] * tmp[(Math.min(h - 1, Math.max(0, y + i)) * w + x) * 3 + c];
        out[(y * w + x) * 3 + c] = v;
      }
    }
  }
  return out;
}

/**
 * Applies corruptions to an 8-bit image, in the order shift, blur, contrast, brightness, noise, then rounds to
 * 8 bits and, last, compresses as JPEG.
 *
 * @example
 * const out = await corrupt(img, { brightness: 0.05, noise: { amplitude: 4 / 255, seed: 1 }, jpeg: 80 });
 */
export async function corrupt(img: RgbImage, c: Corruption): Promise<RgbImage> {
  const { width: w, height: h } = img;
  if (img.data.length !== w * h * 3) throw usageError(`an RGB image of ${w}×${h} needs ${w * h * 3} bytes, got ${img.data.length}`, { path: 'image' });
  let v: Float32Array = new Float32Array(img.data.length);
  for (let i = 0; i < v.length; i++) v[i] = img.data[i] / 255;
  if (c.shift && (c.shift[0] !== 0 || c.shift[1] !== 0)) v = shiftImage(v, w, h, Math.round(c.shift[0]), Math.round(c.shift[1]));
  if (c.blur !== undefined && c.blur > 1e-3) v = blurImage(v, w, h, c.blur);
  if (c.contrast !== undefined && c.contrast !== 0) {
    let mean = 0;
    for (let i = 0; i < v.length; i++) mean += v[i];
    mean /= v.length;
    const f = 1 + c.contrast;
    for (let i = 0; i < v.length; i++) v[i] = (v[i] - mean) * f + mean;
  }
  if (c.brightness !== undefined && c.brightness !== 0) for (let i = 0; i < v.length; i++) v[i] += c.brightness;
  if (c.noise && c.noise.amplitude > 0) {
    const rand = mulberry32(c.noise.seed);
    for (let i = 0; i < v.length; i++) v[i] += c.noise.amplitude * (2 * rand() - 1);
  }
  const data = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, v[i])) * 255);
  const out: RgbImage = { data, width: w, height: h };
  if (c.jpeg !== undefined && c.jpeg < 100) {
    const q = Math.max(1, Math.min(100, Math.round(c.jpeg)));
    try {
      return await jpegRoundTrip(out, q);
    } catch (err) {
      throw new UnitAttackError('UA_INTERNAL', `JPEG compression at quality ${q} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** A corruption as one line, e.g. `shift (1, 0), brightness +0.031, JPEG q 85`; `none` when it is the identity. */
export function describeCorruption(c: Corruption): string {
  const parts: string[] = [];
  const n = (x: number): string => (Math.abs(x) >= 0.01 ? x.toFixed(3) : x.toPrecision(2));
  if (c.shift && (c.shift[0] !== 0 || c.shift[1] !== 0)) parts.push(`shift (${c.shift[0]}, ${c.shift[1]})`);
  if (c.blur !== undefined && c.blur > 1e-3) parts.push(`blur σ ${n(c.blur)}`);
  if (c.contrast) parts.push(`contrast ×${n(1 + c.contrast)}`);
  if (c.brightness) parts.push(`brightness ${c.brightness > 0 ? '+' : ''}${n(c.brightness)}`);
  if (c.noise && c.noise.amplitude > 0) parts.push(`noise ±${n(c.noise.amplitude)} (${(c.noise.amplitude * 255).toFixed(1)}/255, seed ${c.noise.seed})`);
  if (c.jpeg !== undefined && c.jpeg < 100) parts.push(`JPEG q ${c.jpeg}`);
  return parts.length ? parts.join(', ') : 'none';
}
