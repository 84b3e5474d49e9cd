/**
 * Running a segmenter's layers without the copies of its decoder: a k×k 'same' convolution over a concatenation (on
 * channels) of nearest ×2 upsamplings and other maps is the sum of one convolution per part of its input channels,
 * and the part of an upsampled map is computed from the small map itself (each output pixel's taps land on few of
 * its pixels, so their weights are summed: {@link upTaps}). No upsampled map and no concatenation is made, and the
 * upsampled parts take (p+1)²/k² of the multiplications (4/9 for k = 3).
 */
import * as tf from '../tf.js';
import { UnitAttackError } from '../errors.js';

type ConvConfig = { kernelSize?: number[]; strides?: number[]; padding?: string; dilationRate?: number | number[]; dataFormat?: string; activation?: string; useBias?: boolean };

/** Whether `l` is a Conv2D with a square kernel `kernel` accepts, stride 1, `padding` (any for 1×1), channels last, ReLU or linear. */
export function isPlainConv(l: tf.layers.Layer | undefined, kernel: (k: number) => boolean, padding: string): l is tf.layers.Layer {
  if (!l || l.getClassName() !== 'Conv2D') return false;
  const c = l.getConfig() as ConvConfig;
  const dil = Array.isArray(c.dilationRate) ? c.dilationRate : [c.dilationRate ?? 1, c.dilationRate ?? 1];
  return c.kernelSize?.[0] === c.kernelSize?.[1] && kernel(c.kernelSize![0]) && c.strides?.every((v) => v === 1) === true
    && (c.padding === padding || c.kernelSize![0] === 1) && dil.every((v) => v === 1) && (c.dataFormat ?? 'channelsLast') === 'channelsLast'
    && (c.activation === 'relu' || c.activation === 'linear');
}

/** The kernel side of a Conv2D layer. */
export const kernelSide = (l: tf.layers.Layer): number => (l.getConfig() as ConvConfig).kernelSize![0];

/** Adds a layer's bias (if any) and applies its activation (ReLU or linear, see {@link isPlainConv}). */
export function finishConv(l: tf.layers.Layer, y: tf.Tensor4D, bias: tf.Tensor | undefined): tf.Tensor4D {
  const b: tf.Tensor4D = bias ? tf.add<tf.Tensor4D>(y, bias) : y;
  return (l.getConfig() as ConvConfig).activation === 'relu' ? tf.relu(b) : b;
}

/** One part of a convolution's input channels: channels `from … from + channels − 1`, `up` when upsampled ×2 from `tensor`. */
export interface InputPart { tensor: tf.SymbolicTensor; from: number; channels: number; up: boolean }

/**
 * The input of a convolution layer as the parts its channels come from: each input of a channel concatenation, and
 * for an input that is a nearest ×2 upsampling, the map before it (`up`); a single part otherwise.
 */
export function inputParts(conv: tf.layers.Layer): InputPart[] {
  const node = conv.inboundNodes[0];
  const src = node.inboundLayers[0];
  const whole = [{ tensor: node.inputTensors[0], from: 0, channels: node.inputTensors[0].shape[3] ?? 0, up: false }];
  const axis = (src.getConfig() as { axis?: number }).axis;
  if (src.getClassName() !== 'Concatenate' || src.inboundNodes.length !== 1 || (axis !== -1 && axis !== 3)) return whole;
  let from = 0;
  const parts = src.inboundNodes[0].inputTensors.map((t) => {
    const l = t.sourceLayer;
    const c = l.getConfig() as { size?: number[]; interpolation?: string; dataFormat?: string };
    const up = l.getClassName() === 'UpSampling2D' && l.inboundNodes.length === 1 && c.interpolation === 'nearest'
      && c.size?.[0] === 2 && c.size[1] === 2 && (c.dataFormat ?? 'channelsLast') === 'channelsLast';
    const part = { tensor: up ? l.inboundNodes[0].inputTensors[0] : t, from, channels: t.shape[3] ?? 0, up };
    from += part.channels;
    return part;
  });
  return parts.every((p) => p.channels > 0) && parts.some((p) => p.up) ? parts : whole;
}

/**
 * A k×k 'same' convolution (k odd) of a nearest ×2 upsampled map X, at the output pixels 2o + `phase`: tap
 * t ∈ [−p, p] (p = (k−1)/2) reads pixel 2o + phase + t, which is X's pixel o + ⌊(phase + t)/2⌋ (zero where that is
 * outside X, as the padding is outside the upsampled map). So it is a convolution of X at stride 1 with taps
 * s = ⌊(phase − p)/2⌋ … ⌊(phase + p)/2⌋ (p + 1 of them), each the sum of the taps t that land on it: `matrix[s][t]`
 * is 1 where they do, and X is padded by `before` and `after`.
 */
export function upTaps(k: number, phase: 0 | 1 = 1): { matrix: number[][]; before: number; after: number } {
  const p = (k - 1) / 2;
  const lo = Math.floor((phase - p) / 2); const hi = Math.floor((phase + p) / 2);
  const matrix = Array.from({ length: hi - lo + 1 }, (_, s) => Array.from({ length: k }, (_, j) => (Math.floor((phase + j - p) / 2) === s + lo ? 1 : 0)));
  return { matrix, before: 0 - lo, after: hi };
}

/** A kernel `[k, k, in, out]` with its taps merged by `rows` (`[m][k]`) and `cols` (`[m′][k]`): `[m, m′, in, out]`. */
export function mergeTaps(kernel: tf.Tensor4D, rows: number[][], cols: number[][] = rows): tf.Tensor4D {
  return tf.tidy(() => {
    const [k, , ci, co] = kernel.shape;
    const r = tf.matMul(tf.tensor2d(rows), tf.reshape(kernel, [k, k * ci * co])); // [m, k·in·out]
    const t = tf.reshape(tf.transpose(tf.reshape(r, [rows.length, k, ci * co]), [1, 0, 2]), [k, rows.length * ci * co]);
    const c = tf.matMul(tf.tensor2d(cols), t); // [m′, m·in·out]
    return tf.transpose(tf.reshape(c, [cols.length, rows.length, ci, co]), [1, 0, 2, 3]);
  });
}

/**
 * The k×k 'same' convolution (stride 1, no bias) of X upsampled ×2 by nearest neighbour, `[n, 2h, 2w, out]`, from X
 * `[n, h, w, in]`: one convolution of X with the four phases' merged kernels side by side, each phase's outputs
 * taken where its taps start, then interleaved.
 */
export function upsampledConv(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    const [k, , , co] = kernel.shape;
    const ph = [upTaps(k, 0), upTaps(k, 1)];
    const before = Math.max(ph[0].before, ph[1].before); const after = Math.max(ph[0].after, ph[1].after);
    const kernels: tf.Tensor4D[] = [];
    for (const py of [0, 1]) for (const px of [0, 1]) kernels.push(mergeTaps(kernel, ph[py].matrix, ph[px].matrix));
    const y = tf.conv2d(tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]]), tf.concat(kernels, 3), 1, 'valid');
    const at = (py: number, px: number): tf.Tensor4D => {
      const oy = before - ph[py].before; const ox = before - ph[px].before;
      return tf.slice(y, [0, oy, ox, (2 * py + px) * co], [n, h, w, co]);
    };
    // [n, h, 2 (row phase), w, 2 (column phase), out] is [n, 2h, 2w, out] in memory.
    return tf.reshape(tf.stack([tf.stack([at(0, 0), at(0, 1)], 3), tf.stack([at(1, 0), at(1, 1)], 3)], 2), [n, 2 * h, 2 * w, co]);
  });
}

/** Output maps smaller than this many pixels are computed the plain way (the merging costs more than it saves there). */
export const MIN_UPSAMPLED_PIXELS = 512;

/**
 * Runs `outputs` of a layers model eagerly on `x`, layer by layer from the input, computing each k×k 'same'
 * convolution over a concatenation that holds nearest ×2 upsamplings (an output of at least
 * {@link MIN_UPSAMPLED_PIXELS} pixels) part by part, without its upsamplings and concatenation. Only the layers
 * `outputs` need run. Weights are read at each call (they stay live).
 */
export function forwardLayers(model: tf.LayersModel, x: tf.Tensor4D, outputs: readonly tf.SymbolicTensor[]): tf.Tensor4D[] {
  return tf.tidy(() => {
    const memo = new Map<number, tf.Tensor4D>();
    const [input] = model.inputs;
    const evaluate = (t: tf.SymbolicTensor): tf.Tensor4D => {
      if (t.id === input.id) return x;
      const known = memo.get(t.id);
      if (known) return known;
      const layer = t.sourceLayer;
      const node = layer.inboundNodes[t.nodeIndex];
      if (!node || layer.getClassName() === 'InputLayer') throw new UnitAttackError('UA_MODEL', `the segmenter's '${t.name}' does not come from its input: a layers segmenter must have one input`, { hint: 'export the segmenter with a single image input' });
      let y: tf.Tensor4D;
      const parts = layer.inboundNodes.length === 1 && isPlainConv(layer, (k) => k % 2 === 1, 'same') ? inputParts(layer) : [];
      const outPixels = (p: InputPart): number => { const [, h, w] = evaluate(p.tensor).shape; return (p.up ? 4 : 1) * h * w; };
      if (parts.length > 1 && outPixels(parts[0]) >= MIN_UPSAMPLED_PIXELS) {
        const [kernel, bias] = layer.getWeights() as [tf.Tensor4D, tf.Tensor | undefined];
        const k = kernel.shape[0];
        let sum: tf.Tensor4D | undefined;
        for (const p of parts) {
          const w = tf.slice(kernel, [0, 0, p.from, 0], [k, k, p.channels, -1]);
          const v = evaluate(p.tensor);
          const part = p.up ? upsampledConv(v, w) : tf.conv2d(v, w, 1, 'same');
          sum = sum ? tf.add(sum, part) : part;
        }
        y = finishConv(layer, sum!, bias);
      } else {
        const ins = node.inputTensors.map(evaluate);
        const out = layer.apply(ins.length === 1 ? ins[0] : ins) as tf.Tensor4D | tf.Tensor4D[];
        y = Array.isArray(out) ? out[t.tensorIndex ?? 0] : out;
      }
      memo.set(t.id, y);
      return y;
    };
    return outputs.map(evaluate);
  });
}
