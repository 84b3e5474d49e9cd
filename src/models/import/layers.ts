/**
 * The few TensorFlow.js layers an imported model needs beyond tfjs-layers' own: grouped convolution, pooling and
 * padding with explicit (asymmetric) pads, clipping to any range, elementwise arithmetic with a constant or between
 * two tensors. Importing this module registers them, so `tf.loadLayersModel` reads folders written by
 * `unit-attack import`. Every layer works on NHWC tensors and is differentiable.
 */
import * as tf from '../../tf.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Parameters<tf.layers.Layer['call']>[1];
type Shape = Array<number | null>;
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/** Pads `[top, bottom, left, right]` as tf's explicit NHWC padding. */
function explicit(p: readonly number[]): ExplicitPad {
  return [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
}

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

function convOut(size: number | null, k: number, s: number, d: number, padBegin: number, padEnd: number): number | null {
  if (size === null) return null;
  return Math.floor((size + padBegin + padEnd - ((k - 1) * d + 1)) / s) + 1;
}

export interface GroupConv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  dilationRate: [number, number];
  /** `[top, bottom, left, right]`. */
  pads: [number, number, number, number];
  groups: number;
  useBias: boolean;
}

/**
 * A convolution whose input and output channels are split into `groups` independent groups (ResNeXt, ShuffleNet),
 * neither a plain conv (`groups = 1`) nor a depthwise one. Kernel `[kh, kw, inChannels / groups, filters]`, where
 * output channels `[g·filters/groups, (g+1)·filters/groups)` see input channels `[g·in/groups, (g+1)·in/groups)`.
 */
export class GroupConv2D extends tf.layers.Layer {
  static className = 'UnitAttackGroupConv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly dilationRate: [number, number];
  readonly pads: [number, number, number, number];
  readonly groups: number;
  readonly useBias: boolean;
  private kernel: tf.LayerVariable | undefined;
  private bias: tf.LayerVariable | undefined;

  constructor(args: GroupConv2DArgs) {
    super(args);
    this.filters = args.filters; this.kernelSize = args.kernelSize; this.strides = args.strides;
    this.dilationRate = args.dilationRate; this.pads = args.pads; this.groups = args.groups; this.useBias = args.useBias;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = inputShape as Shape;
    const cin = shape[3]!;
    if (cin % this.groups !== 0 || this.filters % this.groups !== 0) {
      throw new Error(`${this.name}: ${cin} input and ${this.filters} output channels do not split into ${this.groups} groups`);
    }
    this.kernel = this.addWeight('kernel', [...this.kernelSize, cin / this.groups, this.filters], 'float32', tf.initializers.zeros());
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = inputShape as Shape;
    return [s[0] ?? null,
      convOut(s[1] ?? null, this.kernelSize[0], this.strides[0], this.dilationRate[0], this.pads[0], this.pads[1]),
      convOut(s[2] ?? null, this.kernelSize[1], this.strides[1], this.dilationRate[1], this.pads[2], this.pads[3]),
      this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const xs = tf.split(x, this.groups, 3);
      const ks = tf.split(this.kernel!.read(), this.groups, 3);
      const ys = xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ks[g] as tf.Tensor4D, this.strides, explicit(this.pads), 'NHWC', this.dilationRate));
      const y = tf.concat(ys, 3);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, strides: this.strides,
      dilationRate: this.dilationRate, pads: this.pads, groups: this.groups, useBias: this.useBias,
    };
  }
}

export interface Pool2DArgs extends LayerArgs {
  mode: 'max' | 'avg';
  poolSize: [number, number];
  strides: [number, number];
  /** `[top, bottom, left, right]`, including any extra bottom/right cells of ceil mode. */
  pads: [number, number, number, number];
  /**
   * For `avg`: the cells that count in each window's divisor, per axis `[begin, end]` relative to the input: with
   * padding counted they reach into the declared pads, else they stop at the input's edge. Cells added by ceil
   * mode never count.
   */
  countPads: [number, number, number, number];
}

/**
 * Max or average pooling with explicit pads, as ONNX and PyTorch define it: max pooling ignores padded cells,
 * average pooling divides by the cells that count (`count_include_pad`), ceil mode adds cells that never count.
 */
export class Pool2D extends tf.layers.Layer {
  static className = 'UnitAttackPool2D';
  readonly mode: 'max' | 'avg';
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly pads: [number, number, number, number];
  readonly countPads: [number, number, number, number];

  constructor(args: Pool2DArgs) {
    super(args);
    this.mode = args.mode; this.poolSize = args.poolSize; this.strides = args.strides;
    this.pads = args.pads; this.countPads = args.countPads;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = inputShape as Shape;
    return [s[0] ?? null,
      convOut(s[1] ?? null, this.poolSize[0], this.strides[0], 1, this.pads[0], this.pads[1]),
      convOut(s[2] ?? null, this.poolSize[1], this.strides[1], 1, this.pads[2], this.pads[3]),
      s[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const pad = explicit(this.pads);
      if (this.mode === 'max') {
        // The lowest float32, not -Infinity: padded cells never win, and no inf · 0 can reach a gradient.
        return tf.maxPool(tf.pad(x, pad, -3.4028234663852886e38), this.poolSize, this.strides, 'valid');
      }
      const sum = tf.avgPool(tf.pad(x, pad), this.poolSize, this.strides, 'valid');
      // The fraction of each window that counts, from a mask over the padded input (a constant: no gradient).
      const [, h, w] = x.shape;
      const [t, b, l, r] = this.pads;
      const [ct, cb, cl, cr] = this.countPads;
      const ones = tf.ones([1, h + ct + cb, w + cl + cr, 1]);
      const mask = tf.pad(ones, [[0, 0], [t - ct, b - cb], [l - cl, r - cr], [0, 0]]) as tf.Tensor4D;
      const frac = tf.avgPool(mask, this.poolSize, this.strides, 'valid');
      return tf.div(sum, frac);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode, poolSize: this.poolSize, strides: this.strides, pads: this.pads, countPads: this.countPads };
  }
}

export interface Pad2DArgs extends LayerArgs {
  /** `[top, bottom, left, right]`. */
  pads: [number, number, number, number];
  mode: 'constant' | 'reflect';
  value: number;
}

/** Spatial padding of an NHWC tensor with a constant or by reflection (ZeroPadding2D covers only zeros). */
export class Pad2D extends tf.layers.Layer {
  static className = 'UnitAttackPad2D';
  readonly pads: [number, number, number, number];
  readonly mode: 'constant' | 'reflect';
  readonly value: number;

  constructor(args: Pad2DArgs) {
    super(args);
    this.pads = args.pads; this.mode = args.mode; this.value = args.value;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = inputShape as Shape;
    const add = (v: number | null | undefined, a: number, b: number): number | null => (v == null ? null : v + a + b);
    return [s[0] ?? null, add(s[1], this.pads[0], this.pads[1]), add(s[2], this.pads[2], this.pads[3]), s[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const p = explicit(this.pads);
      return this.mode === 'reflect' ? tf.mirrorPad(x, p, 'reflect') : tf.pad(x, p, this.value);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), pads: this.pads, mode: this.mode, value: this.value };
  }
}

export interface AffineClipArgs extends LayerArgs {
  /** `y = clip(x · scale + offset, min, max)`; `null` bounds are open. */
  scale: number;
  offset: number;
  min: number | null;
  max: number | null;
}

/** `clip(x · scale + offset, min, max)`: ONNX Clip (any bounds) and HardSigmoid. */
export class AffineClip extends tf.layers.Layer {
  static className = 'UnitAttackAffineClip';
  readonly scale: number;
  readonly offset: number;
  readonly min: number | null;
  readonly max: number | null;

  constructor(args: AffineClipArgs) {
    super(args);
    this.scale = args.scale; this.offset = args.offset; this.min = args.min; this.max = args.max;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      let y = single(inputs);
      if (this.scale !== 1) y = tf.mul(y, this.scale);
      if (this.offset !== 0) y = tf.add(y, this.offset);
      if (this.min !== null && this.max !== null) return tf.clipByValue(y, this.min, this.max);
      if (this.min !== null) return tf.maximum(y, this.min);
      if (this.max !== null) return tf.minimum(y, this.max);
      return y.clone();
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset, min: this.min, max: this.max };
  }
}

export type ArithmeticOp = 'add' | 'sub' | 'mul' | 'div';

function arithmetic(op: ArithmeticOp, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  switch (op) {
    case 'add': return tf.add(a, b);
    case 'sub': return tf.sub(a, b);
    case 'mul': return tf.mul(a, b);
    case 'div': return tf.div(a, b);
  }
}

function broadcastShape(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x ?? y);
  }
  return out;
}

export interface ConstArithmeticArgs extends LayerArgs {
  op: ArithmeticOp;
  /** Shape of the constant (broadcast against the input without its batch axis). */
  constShape: number[];
  /** Whether the constant is the left operand (`c − x`, `c / x`). */
  constFirst: boolean;
}

/** Elementwise `x op c` (or `c op x`) with a constant `c` kept as a (non-trainable) weight. */
export class ConstArithmetic extends tf.layers.Layer {
  static className = 'UnitAttackConstArithmetic';
  readonly op: ArithmeticOp;
  readonly constShape: number[];
  readonly constFirst: boolean;
  private value: tf.LayerVariable | undefined;

  constructor(args: ConstArithmeticArgs) {
    super(args);
    this.op = args.op; this.constShape = args.constShape; this.constFirst = args.constFirst;
  }

  override build(): void {
    this.value = this.addWeight('value', this.constShape, 'float32', tf.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = inputShape as Shape;
    return [s[0] ?? null, ...broadcastShape(s.slice(1), this.constShape)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const c = this.value!.read();
      return this.constFirst ? arithmetic(this.op, c, x) : arithmetic(this.op, x, c);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), op: this.op, constShape: this.constShape, constFirst: this.constFirst };
  }
}

export interface ArithmeticArgs extends LayerArgs {
  op: ArithmeticOp;
}

/** Elementwise `a op b` of two tensors with broadcasting (tfjs-layers has Add and Multiply, not Sub or Div). */
export class Arithmetic extends tf.layers.Layer {
  static className = 'UnitAttackArithmetic';
  readonly op: ArithmeticOp;

  constructor(args: ArithmeticArgs) {
    super(args);
    this.op = args.op;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [a, b] = inputShape as Shape[];
    return broadcastShape(a, b);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const [a, b] = inputs as tf.Tensor[];
    return tf.tidy(() => arithmetic(this.op, a, b));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), op: this.op };
  }
}

/** The class names of the custom layers, for documentation and tests. */
export const CUSTOM_LAYER_CLASSES = [GroupConv2D, Pool2D, Pad2D, AffineClip, ConstArithmetic, Arithmetic] as const;

for (const cls of CUSTOM_LAYER_CLASSES) tf.serialization.registerClass(cls);
