/**
 * `Identity` for the wasm backend that shares memory, as the cpu backend's does. The shipped one copies, and tfjs
 * runs Identity to save every input of every op for the backward pass, so an input gradient of VGG-16 copied its
 * 400 MB fc1 kernel on each call. Sharing is safe: wasm tensors are never written after their kernel returns, and
 * the backend counts references to shared memory (as for Reshape).
 */
import type { KernelFunc, TensorInfo } from '../../tf.js';
import type { KernelArgs, WasmBackendLike } from './util.js';

/** Makes the kernel; `shipped` handles string tensors. */
export function makeIdentity(shipped: KernelFunc | undefined): KernelFunc {
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string') {
      if (shipped === undefined) throw new Error('Identity: no shipped wasm kernel');
      return shipped(args);
    }
    (args.backend as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}
