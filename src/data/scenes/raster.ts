/**
 * The rasteriser: draws a {@link SceneDescription} into an RGB image and a label map in one pass over the
 * shapes. A pixel belongs to a shape when its centre does, so the label map has no antialiasing and the last
 * labelled shape covering a pixel centre decides its label. Blur, lighting and noise touch the image only.
 *
 * A second map holds the whole object under each pixel, as Broden's object layer does: a shape of category
 * `object` writes itself, a part or material drawn as part of an object (`Shape.object`) writes that object, a
 * material on its own (snow on a mountain) keeps the object beneath, and a part on its own writes none.
 */
import { conceptById, conceptId } from './concepts.js';
import type { Geometry, Lighting, Paint, SceneDescription, Shape } from './description.js';
import { hash3f } from './rng.js';
import { compilePattern, fbm, type Box } from './texture.js';

/** An image and its label map as rendered. */
export interface Raster {
  /** Row-major H×W×3 RGB bytes. */
  readonly image: Uint8Array;
  /** Row-major H×W concept ids. */
  readonly labels: Uint16Array;
  /** Row-major H×W ids of the whole object each pixel belongs to (0 = none); equals `labels` on object pixels. */
  readonly objects: Uint16Array;
  readonly size: number;
}

/** The object-map value a labelled shape writes, or -1 when it keeps the object beneath. */
function objectValue(shape: Shape, id: number): number {
  if (shape.object !== undefined) return conceptId(shape.object);
  const category = conceptById(id)?.category;
  if (category === 'object') return id;
  return category === 'material' ? -1 : 0;
}

/** Calls `span(y, xStart, xEnd)` (inclusive pixel indices) for every run of covered pixel centres. */
type SpanFn = (y: number, xa: number, xb: number) => void;

function boundingBox(g: Geometry): Box {
  switch (g.kind) {
    case 'rect':
      return { x0: g.x0, y0: g.y0, x1: g.x1, y1: g.y1 };
    case 'ellipse':
      return { x0: g.cx - g.rx, y0: g.cy - g.ry, x1: g.cx + g.rx, y1: g.cy + g.ry };
    case 'polygon': {
      let x0 = Infinity;
      let y0 = Infinity;
      let x1 = -Infinity;
      let y1 = -Infinity;
      const p = g.points;
      for (let i = 0; i + 1 < p.length; i += 2) {
        const x = p[i];
        const y = p[i + 1];
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      return { x0, y0, x1, y1 };
    }
  }
}

const crossings = new Float64Array(1024);

function scan(g: Geometry, size: number, span: SpanFn): void {
  const n = size;
  switch (g.kind) {
    case 'rect': {
      const xa = Math.max(0, Math.ceil(g.x0 * n - 0.5));
      const xb = Math.min(n - 1, Math.ceil(g.x1 * n - 0.5) - 1);
      const ya = Math.max(0, Math.ceil(g.y0 * n - 0.5));
      const yb = Math.min(n - 1, Math.ceil(g.y1 * n - 0.5) - 1);
      if (xa > xb) return;
      for (let y = ya; y <= yb; y++) span(y, xa, xb);
      return;
    }
    case 'ellipse': {
      const { cx, cy, rx, ry } = g;
      if (!(rx > 0 && ry > 0)) return;
      const ya = Math.max(0, Math.ceil((cy - ry) * n - 0.5));
      const yb = Math.min(n - 1, Math.floor((cy + ry) * n - 0.5));
      for (let y = ya; y <= yb; y++) {
        const dy = ((y + 0.5) / n - cy) / ry;
        const q = 1 - dy * dy;
        if (q < 0) continue;
        const half = rx * Math.sqrt(q);
        const xa = Math.max(0, Math.ceil((cx - half) * n - 0.5));
        const xb = Math.min(n - 1, Math.floor((cx + half) * n - 0.5));
        if (xa <= xb) span(y, xa, xb);
      }
      return;
    }
    case 'polygon': {
      const p = g.points;
      const m = p.length >> 1;
      if (m < 3) return;
      let minY = Infinity;
      let maxY = -Infinity;
      for (let i = 1; i < p.length; i += 2) {
        if (p[i] < minY) minY = p[i]!;
        if (p[i] > maxY) maxY = p[i]!;
      }
      const ya = Math.max(0, Math.ceil(minY * n - 0.5));
      const yb = Math.min(n - 1, Math.ceil(maxY * n - 0.5) - 1);
      const xs = m <= crossings.length ? crossings : new Float64Array(m);
      for (let y = ya; y <= yb; y++) {
        const yc = (y + 0.5) / n;
        let k = 0;
        for (let i = 0, j = m - 1; i < m; j = i++) {
          const yi = p[2 * i + 1];
          const yj = p[2 * j + 1];
          if (yi <= yc !== yj <= yc) {
            const xi = p[2 * i];
            xs[k++] = xi + ((yc - yi) * (p[2 * j] - xi)) / (yj - yi);
          }
        }
        // Insertion sort: k is small.
        for (let a = 1; a < k; a++) {
          const v = xs[a];
          let b = a - 1;
          while (b >= 0 && xs[b] > v) {
            xs[b + 1] = xs[b]!;
            b--;
          }
          xs[b + 1] = v;
        }
        for (let a = 0; a + 1 < k; a += 2) {
          const xa = Math.max(0, Math.ceil(xs[a] * n - 0.5));
          const xb = Math.min(n - 1, Math.ceil(xs[a + 1] * n - 0.5) - 1);
          if (xa <= xb) span(y, xa, xb);
        }
      }
      return;
    }
  }
}

const GRAIN_SALT = 0x5bd1e995;
const MOTTLE_SALT = 7919;

function drawShape(shape: Shape, size: number, img: Float32Array, labels: Uint16Array, objects: Uint16Array, sceneSeed: number): void {
  const paint: Paint = shape.paint;
  const id = conceptId(shape.concept);
  const object = objectValue(shape, id);
  const writeLabel = shape.label !== false;
  const box = boundingBox(shape.geometry);
  const seed = (sceneSeed + Math.imul((paint.seed ?? 0) | 0, 0x9e3779b1)) | 0;
  const pattern = compilePattern(paint.pattern, seed, box);
  const [r1, g1, b1] = paint.color;
  const c2 = paint.color2 ?? [paint.color[0] * 0.7, paint.color[1] * 0.7, paint.color[2] * 0.7];
  const dr = c2[0] - r1;
  const dg = c2[1] - g1;
  const db = c2[2] - b1;
  const shadeX = paint.shade?.[0] ?? 0;
  const shadeY = paint.shade?.[1] ?? 0;
  const bw = box.x1 - box.x0 || 1;
  const bh = box.y1 - box.y0 || 1;
  const mottle = (paint.mottle ?? 0) * 2;
  const ms = paint.mottleScale ?? 6;
  const grain = (paint.grain ?? 0) * 2;
  const alpha = paint.alpha ?? 1;
  const inv = 1 / size;
  const grainSeed = seed ^ GRAIN_SALT;

  scan(shape.geometry, size, (y, xa, xb) => {
    const v = (y + 0.5) * inv;
    const rowShade = 1 + shadeY * ((v - box.y0) / bh - 0.5);
    let o = y * size + xa;
    for (let x = xa; x <= xb; x++, o++) {
      const u = (x + 0.5) * inv;
      const t = pattern === null ? 0 : pattern(u, v);
      let k = rowShade;
      if (shadeX !== 0) k += shadeX * ((u - box.x0) / bw - 0.5);
      if (mottle !== 0) k += mottle * (fbm(u * ms, v * ms, seed + MOTTLE_SALT, 2) - 0.5);
      if (grain !== 0) k += grain * (hash3f(x, y, grainSeed) - 0.5);
      const r = (r1 + dr * t) * k;
      const g = (g1 + dg * t) * k;
      const b = (b1 + db * t) * k;
      const p = o * 3;
      if (alpha >= 1) {
        img[p] = r;
        img[p + 1] = g;
        img[p + 2] = b;
      } else {
        img[p] += (r - img[p]) * alpha;
        img[p + 1] += (g - img[p + 1]) * alpha;
        img[p + 2] += (b - img[p + 2]) * alpha;
      }
      if (writeLabel) {
        labels[o] = id;
        if (object >= 0) objects[o] = object;
      }
    }
  });
}

/** 3-tap separable blur [a, 1-2a, a] with clamped edges, in place. */
function blur(img: Float32Array, size: number, strength: number): void {
  const a = Math.min(1, Math.max(0, strength)) / 3;
  if (a <= 0) return;
  const c = 1 - 2 * a;
  const tmp = new Float32Array(img.length);
  const row = size * 3;
  for (let y = 0; y < size; y++) {
    const base = y * row;
    for (let x = 0; x < size; x++) {
      const l = base + Math.max(0, x - 1) * 3;
      const m = base + x * 3;
      const r = base + Math.min(size - 1, x + 1) * 3;
      tmp[m] = a * (img[l] + img[r]) + c * img[m];
      tmp[m + 1] = a * (img[l + 1] + img[r + 1]) + c * img[m + 1];
      tmp[m + 2] = a * (img[l + 2] + img[r + 2]) + c * img[m + 2];
    }
  }
  for (let y = 0; y < size; y++) {
    const up = Math.max(0, y - 1) * row;
    const mid = y * row;
    const dn = Math.min(size - 1, y + 1) * row;
    for (let i = 0; i < row; i++) img[mid + i] = a * (tmp[up + i] + tmp[dn + i]) + c * tmp[mid + i];
  }
}

/** Applies lighting and noise and quantises to bytes. */
function finish(img: Float32Array, size: number, lighting: Lighting, noise: number, seed: number): Uint8Array {
  // A clamped array rounds and clamps on store, which is faster than doing it by hand.
  const out = new Uint8ClampedArray(img.length);
  const [tr, tg, tb] = lighting.tint ?? [1, 1, 1];
  const gain = lighting.brightness ?? 1;
  const contrast = lighting.contrast ?? 1;
  const sat = lighting.saturation ?? 1;
  const gAngle = lighting.gradient?.angle ?? 0;
  const gAmount = lighting.gradient?.amount ?? 0;
  const gx = Math.cos(gAngle) * gAmount;
  const gy = Math.sin(gAngle) * gAmount;
  const vig = lighting.vignette ?? 0;
  const inv = 1 / size;
  // xorshift32 for the noise: the sum of the two 16-bit halves of one draw is a triangular variable,
  // close enough to Gaussian for sensor noise and three times cheaper than summing three uniforms.
  let s = (seed ^ 0x2545f491) | 0 || 1;
  const sigma = noise / (65536 * Math.sqrt(1 / 6)); // u1 + u2 - 1 has standard deviation √(1/6)
  for (let y = 0; y < size; y++) {
    const v = (y + 0.5) * inv - 0.5;
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) * inv - 0.5;
      let k = gain * (1 + gx * u + gy * v);
      if (vig !== 0) k *= 1 - vig * 2 * (u * u + v * v);
      const p = (y * size + x) * 3;
      let r = img[p] * k * tr;
      let g = img[p + 1] * k * tg;
      let b = img[p + 2] * k * tb;
      if (sat !== 1) {
        const lum = 0.299 * r + 0.587 * g + 0.114 * b;
        r = lum + (r - lum) * sat;
        g = lum + (g - lum) * sat;
        b = lum + (b - lum) * sat;
      }
      if (contrast !== 1) {
        r = 128 + (r - 128) * contrast;
        g = 128 + (g - 128) * contrast;
        b = 128 + (b - 128) * contrast;
      }
      if (sigma > 0) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        r += ((s & 0xffff) + ((s >>> 16) & 0xffff) - 65535) * sigma;
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        g += ((s & 0xffff) + ((s >>> 16) & 0xffff) - 65535) * sigma;
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        b += ((s & 0xffff) + ((s >>> 16) & 0xffff) - 65535) * sigma;
      }
      out[p] = r;
      out[p + 1] = g;
      out[p + 2] = b;
    }
  }
  return new Uint8Array(out.buffer);
}

/**
 * Renders a scene description at `size`×`size`. Shapes are drawn in order; blur, lighting and per-pixel
 * noise then change the image only.
 */
export function rasterize(desc: SceneDescription, size: number): Raster {
  const n = size * size;
  const img = new Float32Array(n * 3);
  const labels = new Uint16Array(n);
  const objects = new Uint16Array(n);
  const seed = (desc.seed ?? 0) | 0;
  for (const shape of desc.shapes) drawShape(shape, size, img, labels, objects, seed);
  if ((desc.blur ?? 0) > 0) blur(img, size, desc.blur!);
  const image = finish(img, size, desc.lighting ?? {}, desc.noise ?? 0, hash3f(seed, size, 99) * 4294967296);
  return { image, labels, objects, size };
}
