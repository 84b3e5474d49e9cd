/**
 * Registers the fast wasm kernels in place of the shipped ones, keeping the shipped ones to fall back on and to
 * restore with {@link useShippedKernels}.
 */
import * as tf from '../../tf.js';
import type { KernelConfig, KernelFunc } from '../../tf.js';
import { makeBatchMatMul } from './batch_mat_mul.js';
import { makeConv2DBackpropFilter } from './conv2d_backprop_filter.js';
import { makeConv2DBackpropInput } from './conv2d_backprop_input.js';
import { makeDepthwiseConv2dNativeBackpropFilter, makeDepthwiseConv2dNativeBackpropInput } from './depthwise_conv2d_backprop.js';
import { makeConv2D, makeFusedConv2D } from './conv2d_winograd.js';
import { makeIdentity } from './identity.js';
import { makeMaxPoolGrad } from './max_pool_grad.js';
import { makeUnsortedSegmentSum } from './unsorted_segment_sum.js';

/** A fast kernel: its name and a maker that receives the shipped kernel function (if wasm has one). */
interface FastKernelSpec {
  kernelName: string;
  make: (shipped: KernelFunc | undefined) => KernelFunc;
}

const SPECS: readonly FastKernelSpec[] = [
  { kernelName: 'Conv2D', make: makeConv2D },
  { kernelName: 'FusedConv2D', make: makeFusedConv2D },
  { kernelName: 'Conv2DBackpropInput', make: makeConv2DBackpropInput },
  { kernelName: 'Conv2DBackpropFilter', make: makeConv2DBackpropFilter },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', make: makeDepthwiseConv2dNativeBackpropInput },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', make: makeDepthwiseConv2dNativeBackpropFilter },
  { kernelName: 'BatchMatMul', make: makeBatchMatMul },
  { kernelName: 'Identity', make: makeIdentity },
  { kernelName: 'MaxPoolGrad', make: makeMaxPoolGrad },
  { kernelName: 'UnsortedSegmentSum', make: makeUnsortedSegmentSum },
];

/** Shipped kernel configs by name (`null`: wasm has none), saved at the first registration. */
const shipped = new Map<string, KernelConfig | null>();
let fastActive = false;
const calls = new Map<string, number>();

function lookup(kernelName: string): KernelConfig | undefined {
  return tf.getKernelsForBackend('wasm').find((k) => k.kernelName === kernelName);
}

function setKernel(kernelName: string, config: KernelConfig | null): void {
  if (lookup(kernelName) !== undefined) tf.unregisterKernel(kernelName, 'wasm');
  if (config !== null) tf.registerKernel(config);
}

/**
 * Registers the fast wasm kernels (idempotent) and returns their names. Call after the wasm backend is
 * initialised, so that the shipped kernels it replaces have run their setup.
 */
export function registerFastKernels(): string[] {
  if (shipped.size === 0) {
    for (const spec of SPECS) shipped.set(spec.kernelName, lookup(spec.kernelName) ?? null);
  }
  useFastKernels();
  return fastKernelNames();
}

/** Switches to the fast kernels (after {@link registerFastKernels} has saved the shipped ones). */
export function useFastKernels(): void {
  if (shipped.size === 0) {
    registerFastKernels();
    return;
  }
  for (const spec of SPECS) {
    const orig = shipped.get(spec.kernelName) ?? null;
    const fast = spec.make(orig?.kernelFunc);
    const name = spec.kernelName;
    setKernel(name, {
      kernelName: name, backendName: 'wasm',
      kernelFunc: (args) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return fast(args);
      },
    });
  }
  fastActive = true;
}

/** Restores the shipped wasm kernels (a kernel wasm lacks is unregistered again). */
export function useShippedKernels(): void {
  if (shipped.size === 0) return;
  for (const spec of SPECS) setKernel(spec.kernelName, shipped.get(spec.kernelName) ?? null);
  fastActive = false;
}

/** Names of the fast kernels currently registered (empty when the shipped ones are in use). */
export function fastKernelNames(): string[] {
  return fastActive ? SPECS.map((s) => s.kernelName) : [];
}

/** How many times each fast kernel has been called (including calls it passed on to the shipped kernel). */
export function fastKernelCalls(): Record<string, number> {
  return Object.fromEntries(calls);
}

/** Names of every kernel this module can replace or add. */
export const FAST_KERNEL_NAMES: readonly string[] = SPECS.map((s) => s.kernelName);
