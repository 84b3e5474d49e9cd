import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClassifier, saveLayersModel } from '../../src/models/io.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-weights-'));
});
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

/** A tiny model saved to its own folder: a 1×1 convolution (3·2 + 2 floats = 32 bytes), global pooling, 2 classes. */
async function saved(name: string): Promise<string> {
  const m = tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [4, 4, 3], filters: 2, kernelSize: 1 }),
    tf.layers.globalAveragePooling2d({}),
  ] });
  const out = path.join(dir, name);
  await saveLayersModel(m, out, { classes: ['a', 'b'] });
  m.dispose();
  return out;
}

describe('the weight files of a model folder', () => {
  it('with bytes beyond its manifest: loads, and warns with the counts', async () => {
    const d = await saved('trailing');
    const weights = path.join(d, 'weights.bin');
    expect((await fs.stat(weights)).size).toBe(32);
    await fs.appendFile(weights, Buffer.alloc(12));
    const warnings: Error[] = [];
    const listen = (w: Error): void => { warnings.push(w); };
    process.on('warning', listen);
    try {
      const clf = await loadClassifier(d);
      clf.dispose();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', listen);
    }
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'UA_WEIGHTS_TRAILING');
    expect(ours).toHaveLength(1);
    expect(ours[0].message).toMatch(/12 bytes more than its weightsManifest describes \(32\)/);
  });

  it('with fewer bytes than its manifest: an error naming the model and the counts', async () => {
    const d = await saved('truncated');
    const weights = path.join(d, 'weights.bin');
    await fs.writeFile(weights, (await fs.readFile(weights)).subarray(0, 20));
    await expect(loadClassifier(d)).rejects.toMatchObject({ code: 'UA_MODEL', message: expect.stringMatching(/hold 20 bytes, but its weightsManifest describes 32/) as unknown });
  });
});
