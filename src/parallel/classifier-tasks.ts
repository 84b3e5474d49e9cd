/**
 * The classifier context (a thread that loads one classifier by its spec, and reports its fingerprint, class names
 * and preprocessing) and the `predict` task. The attacks' and the dissection's tasks on a classifier are defined in
 * their folders (`attacks/tasks.ts`, `dissection/tasks.ts`).
 */
import * as tf from '../tf.js';
import { loadClassifier, type LoadClassifierOptions } from '../models/io.js';
import type { Classifier, Preprocessing } from '../models/types.js';
import { registerContext, registerPoolTask, type ClassifierResources } from './executor.js';

/** The overrides of `loadClassifier` a pool passes on to its workers (plain data). */
export type PoolLoadOptions = Pick<LoadClassifierOptions, 'preprocessing' | 'classNames'>;

/** The spec of a classifier context. */
export interface ClassifierContextSpec { model: string; load: PoolLoadOptions }

/** What a classifier thread reports when ready. */
export interface ClassifierIdentity { fingerprint: string; classNames: string[]; preprocessing: Preprocessing }

registerContext<ClassifierContextSpec, ClassifierResources>('classifier', {
  load: async (spec) => ({ classifier: await loadClassifier(spec.model, spec.load) }),
  identity: ({ classifier: c }): ClassifierIdentity => ({ fingerprint: c.fingerprint, classNames: [...c.classNames], preprocessing: c.preprocessing }),
  dispose: ({ classifier: c }) => c.dispose(),
});

/** The difference between a thread's classifier and `c`, or undefined when they are the same model. */
export function classifierMismatch(identity: ClassifierIdentity, c: Classifier): string | undefined {
  return identity.fingerprint !== c.fingerprint ? `weights (fingerprint ${identity.fingerprint}, the classifier's ${c.fingerprint})`
    : JSON.stringify(identity.classNames) !== JSON.stringify(c.classNames) ? 'class names'
      : JSON.stringify(identity.preprocessing) !== JSON.stringify(c.preprocessing) ? 'preprocessing' : undefined;
}

/** What the `predict` task takes: pixel-space images `[n, H, W, 3]`. */
export interface PredictTaskInput { x: Float32Array; count: number }

registerPoolTask<PredictTaskInput, Float32Array>('predict', async (ctx, input) => {
  const [h, w] = ctx.classifier.inputSize;
  const p = tf.tidy(() => tf.softmax(ctx.classifier.logits(tf.tensor4d(input.x, [input.count, h, w, 3]))));
  try {
    const value = Float32Array.from(await p.data() as Float32Array);
    return { value, transfer: [value.buffer] };
  } finally {
    p.dispose();
  }
});
