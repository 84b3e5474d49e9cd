/**
 * Pictures for the reports: heatmaps over an image, and PNG files that carry text (e.g. the seed and path that
 * replay a fuzzing counterexample) in `tEXt` chunks.
 */
import type { RgbImage } from '../data/images.js';
import { usageError } from '../errors.js';

/** Bilinear resampling of a `h×w` map to `H×W` (align-corners off, like `tf.image.resizeBilinear`). */
export function resampleMap(map: ArrayLike<number>, h: number, w: number, H: number, W: number): Float32Array {
  if (map.length !== h * w) throw usageError(`a ${h}×${w} map needs ${h * w} values, got ${map.length}`, { path: 'map' });
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const fy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / H - 0.5));
    const y0 = Math.floor(fy); const y1 = Math.min(h - 1, y0 + 1); const ty = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / W - 0.5));
      const x0 = Math.floor(fx); const x1 = Math.min(w - 1, x0 + 1); const tx = fx - x0;
      const a = map[y0 * w + x0] * (1 - tx) + map[y0 * w + x1] * tx;
      const b = map[y1 * w + x0] * (1 - tx) + map[y1 * w + x1] * tx;
      out[y * W + x] = a * (1 - ty) + b * ty;
    }
  }
  return out;
}

// Perceptual colour maps as a few stops, interpolated linearly.
const INFERNO: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164],
];
const DIVERGING: ReadonlyArray<readonly [number, number, number]> = [
  [33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199], [239, 138, 98], [178, 24, 43],
];

function colour(stops: ReadonlyArray<readonly [number, number, number]>, t: number): [number, number, number] {
  const p = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(p)); const f = p - i;
  const a = stops[i]; const b = stops[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** Options for {@link heatmapOverlay}. */
export interface HeatmapOptions {
  /** Signed maps use a blue–white–red scale centred on 0; unsigned maps use inferno from 0. @defaultValue false */
  signed?: boolean;
  /** Opacity of the colours over the greyscale image. @defaultValue 0.65 */
  alpha?: number;
  /** The value that maps to full colour. @defaultValue the largest |value| */
  scale?: number;
}

/**
 * Colours a map (any resolution) over a greyscale copy of `base`, e.g. where a perturbation changed the image or
 * where the excited units fire.
 */
export function heatmapOverlay(base: RgbImage, map: ArrayLike<number>, h: number, w: number, options: HeatmapOptions = {}): RgbImage {
  const { width: W, height: H } = base;
  const m = h === H && w === W ? Float32Array.from(map) : resampleMap(map, h, w, H, W);
  let scale = options.scale ?? 0;
  if (!(scale > 0)) for (const v of m) scale = Math.max(scale, Math.abs(v));
  if (!(scale > 0)) scale = 1;
  const alpha = options.alpha ?? 0.65;
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) {
    const grey = 0.299 * base.data[i * 3] + 0.587 * base.data[i * 3 + 1] + 0.114 * base.data[i * 3 + 2];
    const c = options.signed ? colour(DIVERGING, 0.5 + m[i] / (2 * scale)) : colour(INFERNO, m[i] / scale);
    for (let k = 0; k < 3; k++) data[i * 3 + k] = Math.round(grey * (1 - alpha) + c[k] * alpha);
  }
  return { data, width: W, height: H };
}

/** Per-pixel perturbation size `Σ_c |adv − orig|` of two 8-bit images, as a map in pixel units. */
export function perturbationMagnitude(original: RgbImage, adversarial: RgbImage): Float32Array {
  const n = original.width * original.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 3; k++) s += Math.abs(adversarial.data[i * 3 + k] - original.data[i * 3 + k]);
    out[i] = s / 255;
  }
  return out;
}

// ---- PNG text chunks ----

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Adds `tEXt` chunks (Latin-1 keyword and text) to PNG bytes, right after the header chunk. Image viewers show them
 * as metadata; `readPngText` reads them back.
 */
export function addPngText(png: Uint8Array, entries: Readonly<Record<string, string>>): Uint8Array {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (png.length < 33 || sig.some((b, i) => png[i] !== b)) throw usageError('not PNG bytes', { path: 'png' });
  const ihdrEnd = 8 + 12 + 13;
  const chunks: Buffer[] = [];
  for (const [key, text] of Object.entries(entries)) {
    if (!/^[\x20-\x7e]{1,79}$/.test(key)) throw usageError(`a PNG text keyword must be 1–79 printable ASCII characters, got '${key}'`, { path: 'key' });
    const body = Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(text.replace(/[^\x20-\xff\n]/g, '?'), 'latin1')]);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write('tEXt', 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    chunks.push(head, body, crc);
  }
  return Buffer.concat([Buffer.from(png.subarray(0, ihdrEnd)), ...chunks, Buffer.from(png.subarray(ihdrEnd))]);
}

/** The `tEXt` chunks of PNG bytes. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  for (let off = 8; off + 12 <= b.length;) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    if (type === 'tEXt') {
      const body = b.subarray(off + 8, off + 8 + len);
      const z = body.indexOf(0);
      if (z > 0) out[body.toString('latin1', 0, z)] = body.toString('latin1', z + 1);
    }
    if (type === 'IEND') break;
    off += 12 + len;
  }
  return out;
}
