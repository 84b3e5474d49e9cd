import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkGradientMasking } from '../../src/attacks/masking.js';
import { SCENE_CLASSES } from '../../src/data/scenes/index.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadClassifier } from '../../src/models/io.js';
import { sceneBatch } from '../../src/data/scenes/batch.js';

beforeAll(async () => { await initBackend({ backend: 'wasm' }); });

describe('gradient-masking checks on the built-in model', () => {
  it('stay quiet on 24 fresh scenes', async () => {
    const clf = await loadClassifier('builtin:scenes-vgg16');
    const { x, y } = sceneBatch(SCENE_CLASSES, 4_000_037, 0, 24, clf.inputSize[0]);
    const before = tf.memory().numTensors;
    const checks = await checkGradientMasking(clf, x, y);
    expect(tf.memory().numTensors).toBe(before);
    expect(checks.filter((c) => c.flagged).map((c) => c.message)).toEqual([]);
    expect(checks.find((c) => c.check === 'zero-gradients')!.value).toBe(0);
    x.dispose();
    clf.dispose();
  });
});
