/**
 * Bilinear upsampling of activation maps to the label resolution, with half-pixel centres (PyTorch's
 * `interpolate(mode='bilinear', align_corners=False)`, as the PNAS code uses): output pixel y samples the input at
 * `(y + ½)·h/H − ½`, clamped to the border.
 */
import * as tf from '../tf.js';

/** Upsamples `[N, h, w, C]` activations to `[N, H, W, C]` (tfjs `resizeBilinear`, alignCorners false, half-pixel centres). */
export function upsampleActivations(acts: tf.Tensor4D, size: readonly [number, number]): tf.Tensor4D {
  const [h, w] = [acts.shape[1], acts.shape[2]];
  if (h === size[0] && w === size[1]) return acts.clone();
  return tf.image.resizeBilinear(acts, [size[0], size[1]], false, true);
}

/**
 * The same upsampling in plain JavaScript for one map `h×w` (row-major) → `H×W`. Used for the strips of a report
 * and as the reference the tests hold the tfjs path to.
 */
export function upsampleMap(map: ArrayLike<number>, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  const ry = h / H; const rx = w / W;
  const x0s = new Int32Array(W); const x1s = new Int32Array(W); const fx = new Float64Array(W);
  for (let x = 0; x < W; x++) {
    const s = Math.min(w - 1, Math.max(0, (x + 0.5) * rx - 0.5));
    x0s[x] = Math.floor(s); x1s[x] = Math.min(w - 1, x0s[x] + 1); fx[x] = s - x0s[x];
  }
  for (let y = 0; y < H; y++) {
    const s = Math.min(h - 1, Math.max(0, (y + 0.5) * ry - 0.5));
    const y0 = Math.floor(s); const y1 = Math.min(h - 1, y0 + 1); const fy = s - y0;
    for (let x = 0; x < W; x++) {
      const a = map[y0 * w + x0s[x]]; const b = map[y0 * w + x1s[x]];
      const c = map[y1 * w + x0s[x]]; const d = map[y1 * w + x1s[x]];
      const top = a + (b - a) * fx[x]; const bot = c + (d - c) * fx[x];
      out[y * W + x] = top + (bot - top) * fy;
    }
  }
  return out;
}
