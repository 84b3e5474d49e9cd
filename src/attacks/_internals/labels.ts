import * as tf from '../../tf.js';
import { nearestNames, usageError } from '../../errors.js';
import { findClass } from '../../models/classes.js';
import type { Labels } from '../types.js';

/** True labels with class names replaced by their indices in `classNames`; indices and tensors pass through. */
export function labelIndices(classNames: readonly string[], labels: Labels): ArrayLike<number> | tf.Tensor1D {
  if (labels instanceof tf.Tensor || !labels || typeof labels.length !== 'number') return labels as ArrayLike<number>;
  let named = false;
  for (let i = 0; i < labels.length && !named; i++) named = typeof labels[i] === 'string';
  if (!named) return labels as ArrayLike<number>;
  return Array.from(labels, (v, i) => {
    if (typeof v !== 'string') return v;
    const k = findClass(classNames, v);
    if (k < 0) {
      throw usageError(`labels[${i}] = '${v}' is not a class of this model`, {
        path: `labels[${i}]`, hint: `did you mean ${nearestNames(v, classNames, 3).map((c) => `'${c}'`).join(' or ')}? (or give class indices)`,
      });
    }
    return k;
  });
}
