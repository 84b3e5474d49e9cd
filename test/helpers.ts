import * as tf from '../src/tf.js';
import { expect } from 'vitest';

/** Runs `fn` and checks it leaves `tf.memory().numTensors` as it found it (after `keep` returned tensors are disposed). */
export async function expectNoLeak<T>(fn: () => T | Promise<T>, dispose: (result: T) => void = disposeAny): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  dispose(result);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

export function disposeAny(x: unknown): void {
  if (x instanceof tf.Tensor) x.dispose();
  else if (Array.isArray(x)) x.forEach(disposeAny);
  else if (x && typeof x === 'object') Object.values(x).forEach(disposeAny);
}

/** Max relative error: max |a-b| / max(|b|, tiny). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0; let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
