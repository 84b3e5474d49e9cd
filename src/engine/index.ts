/**
 * The engine: TensorFlow.js backend choice and the faster wasm gradient kernels.
 */
export {
  BACKEND_ENV_VAR, BACKEND_NAMES, backendInfo, initBackend,
  type BackendInfo, type BackendName, type InitBackendOptions,
} from './backend.js';
export {
  FAST_KERNEL_NAMES, fastKernelCalls, fastKernelNames, registerFastKernels, useFastKernels, useShippedKernels,
} from './kernels/register.js';
export { clearFilterCache, filterCacheSize } from './kernels/filter_cache.js';
