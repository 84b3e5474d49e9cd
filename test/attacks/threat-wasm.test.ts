import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { roundTo8Bit } from '../../src/attacks/threat.js';
import { initBackend } from '../../src/engine/backend.js';
import { distances, is8bit } from './helpers.js';

beforeAll(async () => { await initBackend({ backend: 'wasm' }); });

describe('roundTo8Bit on the wasm backend', () => {
  it('keeps every image of a batch inside the L∞ ball and the L2 cap, as when each is rounded alone', async () => {
    // A batch where the L2 cap binds after nearest rounding, so the greedy L2 rounding runs per row (it once read
    // other rows' pixels through a batched gather and stepped one level past ε).
    const n = 4; const side = 24; const eps = 8 / 255; const cap = 0.6;
    const [x, x0] = tf.tidy(() => {
      const x0t = tf.div<tf.Tensor4D>(tf.round(tf.mul(tf.randomUniform([n, side, side, 3], 0.1, 0.9, 'float32', 5), 255)), 255);
      const d = tf.mul(tf.randomUniform([n, side, side, 3], -1, 1, 'float32', 6), eps);
      return [tf.add<tf.Tensor4D>(x0t, d), x0t];
    });
    const r = roundTo8Bit(x, x0, eps, 'linf', cap);
    expect(await is8bit(r)).toBe(true);
    const d = await distances(r, x0);
    for (let i = 0; i < n; i++) {
      expect(d.linf[i]).toBeLessThanOrEqual(eps + 1e-5);
      expect(d.l2[i]).toBeLessThanOrEqual(cap + 1e-5);
      expect(d.l2[i]).toBeGreaterThan(cap - 0.1); // the cap binds: rounding stays close to it
      const one = tf.tidy(() => roundTo8Bit(tf.slice(x, [i], [1]), tf.slice(x0, [i], [1]), eps, 'linf', cap));
      const row = tf.tidy(() => tf.slice(r, [i], [1]));
      expect(Array.from(await row.data())).toEqual(Array.from(await one.data()));
      tf.dispose([one, row]);
    }
    tf.dispose([x, x0, r]);
  });
});
