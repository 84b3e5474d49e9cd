import * as tf from '../../src/tf.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { fastKernelCalls, useFastKernels, useShippedKernels } from '../../src/engine/kernels/register.js';

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
type Shape4 = [number, number, number, number];

/** max |a − b| / max |b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m === 0 ? d : d / m;
}

/** Runs `f` on the cpu backend and returns its values; the wasm backend is active again afterwards. */
async function onCpu(f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend('cpu');
  try {
    return tf.tidy(() => f().dataSync() as Float32Array).slice();
  } finally {
    await tf.setBackend('wasm');
  }
}

/** Runs `f` on wasm, checking that it leaves no tensor and no backend buffer behind. */
function onWasm(f: () => tf.Tensor): Float32Array {
  const before = tf.memory();
  const out = tf.tidy(() => f().dataSync() as Float32Array).slice();
  const after = tf.memory();
  expect(after.numTensors).toBe(before.numTensors);
  expect(after.numDataBuffers).toBe(before.numDataBuffers);
  return out;
}

function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Output shape of a conv, or undefined when it is empty or inconsistent. tfjs sizes a numeric padding with the
 * filter height on both axes, so e.g. a 1×5 filter with pad 1 gets outputs whose windows do not fit; the cpu
 * kernels (the reference) are wrong there, so such geometry is left out.
 */
function outShape(
  x: Shape4, f: Shape4, strides: number | [number, number], pad: Pad, dilations: [number, number] = [1, 1],
  depthwise = false,
): Shape4 | undefined {
  try {
    const info = tf.backend_util.computeConv2DInfo(x, f, strides, dilations, pad, undefined, depthwise);
    const p = info.padInfo;
    const fits = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight <= x[1] + p.top + p.bottom
      && (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth <= x[2] + p.left + p.right;
    return info.outHeight > 0 && info.outWidth > 0 && fits ? info.outShape : undefined;
  } catch {
    return undefined;
  }
}

const geometry = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 11 }),
  w: fc.integer({ min: 1, max: 11 }),
  cin: fc.integer({ min: 1, max: 5 }),
  cout: fc.integer({ min: 1, max: 5 }),
  kh: fc.constantFrom(1, 2, 3, 4, 7),
  kw: fc.constantFrom(1, 2, 3, 5),
  sh: fc.integer({ min: 1, max: 3 }),
  sw: fc.integer({ min: 1, max: 3 }),
  pad: fc.oneof(
    fc.constantFrom<Pad>('same', 'valid'),
    fc.integer({ min: 0, max: 3 }),
    fc.tuple(fc.nat(4), fc.nat(4), fc.nat(4), fc.nat(4))
      .map(([t, b, l, r]): Pad => [[0, 0], [t, b], [l, r], [0, 0]]),
  ),
  seed: fc.integer({ min: 1, max: 1e9 }),
});

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('fast Conv2DBackpropInput', () => {
  it('should agree with the shipped wasm kernel on random shapes, strides and paddings', () => {
    fc.assert(fc.property(geometry, (g) => {
      const x: Shape4 = [g.n, g.h, g.w, g.cin];
      const f: Shape4 = [g.kh, g.kw, g.cin, g.cout];
      const y = outShape(x, f, [g.sh, g.sw], g.pad);
      fc.pre(y !== undefined);
      const dyData = randomData(size(y), g.seed);
      const fData = randomData(size(f), g.seed + 1);
      const run = (): tf.Tensor => tf.conv2dTranspose(
        tf.tensor4d(dyData, y), tf.tensor4d(fData, f), x, [g.sh, g.sw], g.pad);
      useShippedKernels();
      const ref = onWasm(run);
      useFastKernels();
      const fast = onWasm(run);
      expect(relErr(fast, ref)).toBeLessThan(1e-4);
    }), { numRuns: 40, seed: 42 });
  });

  it('should fall back to the shipped kernel for NCHW', () => {
    useFastKernels();
    const dy = randomData(2 * 3 * 4 * 4, 7);
    const f = randomData(3 * 3 * 5 * 3, 8);
    const run = (): tf.Tensor => tf.tidy(() => tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput',
      { dy: tf.tensor4d(dy, [2, 3, 4, 4]), filter: tf.tensor4d(f, [3, 3, 5, 3]) },
      { strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 5, 4, 4] }));
    const fast = onWasm(run);
    useShippedKernels();
    const ref = onWasm(run);
    useFastKernels();
    expect(relErr(fast, ref)).toBe(0);
  });
});

describe('fast Conv2DBackpropFilter', () => {
  it('should agree with the cpu backend on random shapes, strides and paddings', async () => {
    await fc.assert(fc.asyncProperty(geometry, async (g) => {
      const x: Shape4 = [g.n, g.h, g.w, g.cin];
      const f: Shape4 = [g.kh, g.kw, g.cin, g.cout];
      const y = outShape(x, f, [g.sh, g.sw], g.pad);
      fc.pre(y !== undefined);
      const xData = randomData(size(x), g.seed);
      const dyData = randomData(size(y), g.seed + 1);
      const run = (): tf.Tensor => tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter',
        { x: tf.tensor4d(xData, x), dy: tf.tensor4d(dyData, y) },
        { strides: [g.sh, g.sw], pad: g.pad, dataFormat: 'NHWC', filterShape: f });
      const ref = await onCpu(run);
      const fast = onWasm(run);
      expect(relErr(fast, ref)).toBeLessThan(1e-4);
    }), { numRuns: 40, seed: 43 });
  });

  it('should be missing from the shipped wasm backend (so the fast one is what runs)', () => {
    useShippedKernels();
    expect(() => tf.tidy(() => tf.engine().runKernel('Conv2DBackpropFilter',
      { x: tf.ones([1, 3, 3, 1]), dy: tf.ones([1, 3, 3, 1]) },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 1, 1] }))).toThrow();
    useFastKernels();
  });
});

describe('fast BatchMatMul with transposed operands', () => {
  it('should agree with the shipped kernel for every transpose combination', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }),
      fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 1e9 }),
      (m, k, n, ta, tb, batch, seed) => {
        const aShape = [...(batch > 0 ? [batch] : []), ta ? k : m, ta ? m : k];
        const bShape = [...(batch > 0 ? [batch] : []), tb ? n : k, tb ? k : n];
        const aData = randomData(size(aShape), seed);
        const bData = randomData(size(bShape), seed + 1);
        const run = (): tf.Tensor => tf.matMul(tf.tensor(aData, aShape), tf.tensor(bData, bShape), ta, tb);
        useShippedKernels();
        const ref = onWasm(run);
        useFastKernels();
        const fast = onWasm(run);
        expect(relErr(fast, ref)).toBeLessThan(1e-4);
      }), { numRuns: 30, seed: 44 });
  });
});

describe('gradients through tfjs-layers on wasm with the fast kernels', () => {
  function smallModel(): tf.LayersModel {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({
      inputShape: [12, 12, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu',
      kernelInitializer: tf.initializers.heNormal({ seed: 1 }), biasInitializer: 'ones',
    }));
    m.add(tf.layers.conv2d({
      filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu',
      kernelInitializer: tf.initializers.heNormal({ seed: 2 }),
    }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
    return m;
  }

  it('should give the same input gradient as the cpu backend, through the fast kernels', async () => {
    useFastKernels();
    const xData = randomData(2 * 12 * 12 * 3, 5).map((v) => (v + 1) / 2);
    const weights = (() => {
      const m = smallModel();
      const w = m.getWeights().map((t) => ({ data: t.dataSync().slice(), shape: t.shape }));
      m.dispose();
      return w;
    })();
    const inputGrad = (): tf.Tensor => {
      const m = smallModel();
      m.setWeights(weights.map((w) => tf.tensor(w.data, w.shape)));
      const g = tf.grad((x: tf.Tensor) => (m.apply(x) as tf.Tensor).square().sum())(tf.tensor4d(xData, [2, 12, 12, 3]));
      m.dispose();
      return g;
    };
    const ref = await onCpu(inputGrad);
    const calls = fastKernelCalls()['Conv2DBackpropInput'] ?? 0;
    const fast = tf.tidy(() => inputGrad().dataSync() as Float32Array).slice();
    expect(fastKernelCalls()['Conv2DBackpropInput'] ?? 0).toBeGreaterThan(calls);
    expect(relErr(fast, ref)).toBeLessThan(1e-4);
  });

  it('should train: weight gradients of a conv(relu) model match the cpu backend', async () => {
    useFastKernels();
    const xData = randomData(2 * 12 * 12 * 3, 9);
    const grads = (): tf.Tensor => {
      const m = smallModel();
      const x = tf.tensor4d(xData, [2, 12, 12, 3]);
      const { grads: g } = tf.variableGrads(() => (m.apply(x) as tf.Tensor).square().mean<tf.Scalar>());
      const flat = tf.concat(m.trainableWeights.map((w) => g[w.originalName].flatten()));
      m.dispose();
      return flat;
    };
    const ref = await onCpu(grads);
    const calls = fastKernelCalls()['Conv2DBackpropFilter'] ?? 0;
    const fast = tf.tidy(() => grads().dataSync() as Float32Array).slice();
    expect(fastKernelCalls()['Conv2DBackpropFilter'] ?? 0).toBeGreaterThan(calls);
    expect(relErr(fast, ref)).toBeLessThan(1e-4);
  });
});

describe('fast depthwise conv gradients (missing on wasm as shipped)', () => {
  const dwGeometry = fc.record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 10 }),
    w: fc.integer({ min: 1, max: 10 }),
    c: fc.integer({ min: 1, max: 4 }),
    m: fc.integer({ min: 1, max: 3 }),
    kh: fc.constantFrom(1, 2, 3, 5),
    kw: fc.constantFrom(1, 3, 4),
    stride: fc.integer({ min: 1, max: 2 }),
    dilation: fc.integer({ min: 1, max: 3 }),
    pad: fc.oneof(fc.constantFrom<Pad>('same', 'valid'), fc.integer({ min: 0, max: 2 })),
    seed: fc.integer({ min: 1, max: 1e9 }),
  });

  /**
   * Depthwise gradients straight from the definition y[b, oy, ox, c·m + q] = Σ x[b, oy·s + i·d − top,
   * ox·s + j·d − left, c] · W[i, j, c, q]. (The cpu backend's depthwise backprop kernels ignore dilations.)
   */
  function depthwiseGradsByDefinition(
    x: Shape4, f: Shape4, y: Shape4, stride: number, dil: number, top: number, left: number,
    xData: Float32Array, fData: Float32Array, dyData: Float32Array,
  ): { dx: Float32Array; dw: Float32Array } {
    const [n, h, w, c] = x;
    const [kh, kw, , m] = f;
    const dx = new Float32Array(size(x));
    const dw = new Float32Array(size(f));
    for (let b = 0; b < n; b++) for (let oy = 0; oy < y[1]; oy++) for (let ox = 0; ox < y[2]; ox++) {
      for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
        const iy = oy * stride + i * dil - top;
        const ix = ox * stride + j * dil - left;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        for (let ch = 0; ch < c; ch++) for (let q = 0; q < m; q++) {
          const g = dyData[((b * y[1] + oy) * y[2] + ox) * c * m + ch * m + q];
          const xi = ((b * h + iy) * w + ix) * c + ch;
          const fi = ((i * kw + j) * c + ch) * m + q;
          dx[xi] += g * fData[fi];
          dw[fi] += g * xData[xi];
        }
      }
    }
    return { dx, dw };
  }

  it('should agree with the definition for input and filter gradients, with strides or dilations', () => {
    fc.assert(fc.property(dwGeometry, (g) => {
      const dilations: [number, number] = g.stride > 1 ? [1, 1] : [g.dilation, g.dilation];
      const x: Shape4 = [g.n, g.h, g.w, g.c];
      const f: Shape4 = [g.kh, g.kw, g.c, g.m];
      const y = outShape(x, f, g.stride, g.pad, dilations, true);
      fc.pre(y !== undefined);
      const xData = randomData(size(x), g.seed);
      const fData = randomData(size(f), g.seed + 1);
      const dyData = randomData(size(y), g.seed + 2);
      const attrs = { strides: g.stride, dilations, pad: g.pad };
      const dx = (): tf.Tensor => tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropInput',
        { dy: tf.tensor4d(dyData, y), filter: tf.tensor4d(fData, f) }, { ...attrs, inputShape: x });
      const dw = (): tf.Tensor => tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropFilter',
        { x: tf.tensor4d(xData, x), dy: tf.tensor4d(dyData, y) }, { ...attrs, filterShape: f });
      const { padInfo } = tf.backend_util.computeConv2DInfo(x, f, g.stride, dilations, g.pad, undefined, true);
      const ref = depthwiseGradsByDefinition(
        x, f, y, g.stride, dilations[0], padInfo.top, padInfo.left, xData, fData, dyData);
      expect(relErr(onWasm(dx), ref.dx)).toBeLessThan(1e-4);
      expect(relErr(onWasm(dw), ref.dw)).toBeLessThan(1e-4);
    }), { numRuns: 60, seed: 45 });
  });

  it('should let tf.grad flow through a depthwise conv layer', async () => {
    const xData = randomData(1 * 9 * 9 * 3, 11);
    const grads = (): tf.Tensor => {
      const layer = tf.layers.depthwiseConv2d({
        kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same',
        depthwiseInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      });
      const g = tf.grad((x: tf.Tensor) => (layer.apply(x) as tf.Tensor).square().sum())(tf.tensor4d(xData, [1, 9, 9, 3]));
      layer.dispose();
      return g;
    };
    expect(relErr(onWasm(grads), await onCpu(grads))).toBeLessThan(1e-4);
  });
});

describe('flipped-filter cache', () => {
  it('should cache a filter used twice, reuse it, and drop it when the filter is freed', async () => {
    const { filterCacheSize, clearFilterCache } = await import('../../src/engine/kernels/filter_cache.js');
    useFastKernels();
    clearFilterCache();
    const filter = tf.tensor4d(randomData(3 * 3 * 4 * 5, 3), [3, 3, 4, 5]);
    const dy = tf.tensor4d(randomData(1 * 6 * 6 * 5, 4), [1, 6, 6, 5]);
    const run = (): Float32Array =>
      tf.tidy(() => tf.conv2dTranspose(dy, filter, [1, 6, 6, 4], 1, 'same').dataSync() as Float32Array).slice();
    const first = run();
    expect(filterCacheSize()).toBe(0);
    const second = run();
    expect(filterCacheSize()).toBe(1);
    expect(run()).toEqual(second);
    expect(relErr(second, first)).toBe(0);
    filter.dispose();
    const other = tf.tensor4d(randomData(3 * 3 * 4 * 5, 5), [3, 3, 4, 5]);
    tf.tidy(() => tf.conv2dTranspose(dy, other, [1, 6, 6, 4], 1, 'same'));
    expect(filterCacheSize()).toBe(0);
    other.dispose();
    dy.dispose();
  });
});

describe('fast MaxPoolGrad', () => {
  it('should agree with the cpu backend on random pools (distinct values, so no ties)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }),
        c: fc.integer({ min: 1, max: 5 }), f: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 3 }),
        pad: fc.constantFrom<'same' | 'valid'>('same', 'valid'), seed: fc.integer({ min: 1, max: 1e9 }),
      }),
      async (g) => {
        fc.pre(g.pad === 'same' || (g.h >= g.f && g.w >= g.f));
        const shape: Shape4 = [g.n, g.h, g.w, g.c];
        const xData = randomData(size(shape), g.seed);
        const grad = (): tf.Tensor => tf.grad((x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, g.f, g.s, g.pad).square().sum())(
          tf.tensor4d(xData, shape));
        expect(relErr(onWasm(grad), await onCpu(grad))).toBeLessThan(1e-4);
      }), { numRuns: 25, seed: 46 });
  });
});

describe('input gradient through a conv without a fused activation (conv → batch norm)', () => {
  it('should work on wasm (it needs Conv2DBackpropFilter) and match the cpu backend', async () => {
    useFastKernels();
    const xData = randomData(1 * 8 * 8 * 3, 21);
    const grad = (): tf.Tensor => {
      const conv = tf.layers.conv2d({
        filters: 4, kernelSize: 3, padding: 'same', useBias: false,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }),
      });
      const bn = tf.layers.batchNormalization({ gammaInitializer: 'ones' });
      const g = tf.grad((x: tf.Tensor) => (bn.apply(conv.apply(x), { training: false }) as tf.Tensor).square().sum())(
        tf.tensor4d(xData, [1, 8, 8, 3]));
      conv.dispose();
      bn.dispose();
      return g;
    };
    expect(relErr(onWasm(grad), await onCpu(grad))).toBeLessThan(1e-4);
  });
});

describe('engine public API', () => {
  it('should export exactly these names', async () => {
    const api = await import('../../src/engine/index.js');
    expect(Object.keys(api).sort()).toEqual([
      'BACKEND_ENV_VAR', 'BACKEND_NAMES', 'FAST_KERNEL_NAMES', 'backendInfo', 'clearFilterCache', 'fastKernelCalls',
      'fastKernelNames', 'filterCacheSize', 'initBackend', 'registerFastKernels', 'useFastKernels', 'useShippedKernels',
    ]);
  });
});

describe('Winograd Conv2D and FusedConv2D (3×3, stride 1, ≥ 128 channels)', () => {
  it('should agree with the shipped XNNPACK kernels on random sizes, paddings, bias and ReLU', () => {
    fc.assert(fc.property(
      fc.record({
        n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }),
        ci: fc.constantFrom(128, 131), co: fc.constantFrom(128, 133),
        pad: fc.oneof(
          fc.constantFrom<Pad>('same', 'valid'), fc.integer({ min: 0, max: 2 }),
          fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2))
            .map(([t, b, l, r]): Pad => [[0, 0], [t, b], [l, r], [0, 0]])),
        fused: fc.constantFrom('none', 'linear', 'relu'), bias: fc.boolean(), seed: fc.integer({ min: 1, max: 1e9 }),
      }),
      (g) => {
        const x: Shape4 = [g.n, g.h, g.w, g.ci];
        const f: Shape4 = [3, 3, g.ci, g.co];
        fc.pre(outShape(x, f, 1, g.pad) !== undefined);
        const xData = randomData(size(x), g.seed);
        const fData = randomData(size(f), g.seed + 1);
        const bData = randomData(g.co, g.seed + 2);
        const run = (): tf.Tensor => g.fused === 'none'
          ? tf.conv2d(tf.tensor4d(xData, x), tf.tensor4d(fData, f), 1, g.pad)
          : tf.fused.conv2d({
            x: tf.tensor4d(xData, x), filter: tf.tensor4d(fData, f), strides: 1, pad: g.pad,
            activation: g.fused, ...(g.bias ? { bias: tf.tensor1d(bData) } : {}),
          });
        useShippedKernels();
        const ref = onWasm(run);
        useFastKernels();
        const calls = fastKernelCalls();
        const fast = onWasm(run);
        const name = g.fused === 'none' ? 'Conv2D' : 'FusedConv2D';
        expect(fastKernelCalls()[name]).toBeGreaterThan(calls[name] ?? 0);
        expect(relErr(fast, ref)).toBeLessThan(1e-4);
      }), { numRuns: 15, seed: 47 });
  });
});
