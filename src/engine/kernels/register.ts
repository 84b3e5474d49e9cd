/**
 * Registers the fast wasm kernels in place of the shipped ones, keeping the shipped ones to fall back on and to
 * restore with {@link useShippedKernels}.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { makeConv2DBackpropFilter } from './conv2d_backprop_filter.js';
import { makeConv2DBackpropInput } from './conv2d_backprop_input.js';

/** A fast kernel: its name and a maker that receives the shipped kernel function (if wasm has one). */
interface FastKernelSpec {
  kernelName: string;
  make: (shipped: KernelFunc | undefined) => KernelFunc;
}

const SPECS: readonly FastKernelSpec[] = [
  { kernelName: 'Conv2DBackpropInput', make: makeConv2DBackpropInput },
  { kernelName: 'Conv2DBackpropFilter', make: makeConv2DBackpropFilter },
];

/** Shipped kernel configs by name (`null`: wasm has none), saved at the first registration. */
const shipped = new Map<string, KernelConfig | null>();
let fastActive = false;

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
    setKernel(spec.kernelName, {
      kernelName: spec.kernelName, backendName: 'wasm', kernelFunc: spec.make(orig?.kernelFunc),
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

/** Names of every kernel this module can replace or add. */
export const FAST_KERNEL_NAMES: readonly string[] = SPECS.map((s) => s.kernelName);
