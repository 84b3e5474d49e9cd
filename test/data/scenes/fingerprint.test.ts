import { describe, expect, it } from 'vitest';
import { SCENE_CLASSES, SCENE_WORLD_VERSION, renderScene } from '../../../src/data/scenes/index.js';

/** FNV-1a over bytes. */
function fnv(h: number, bytes: Uint8Array): number {
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

describe('the scene world', () => {
  it('renders the same bytes as when this version was recorded (bump SCENE_WORLD_VERSION and the hash when changing it)', () => {
    let h = 2166136261;
    for (const cls of SCENE_CLASSES) {
      const s = renderScene({ cls, seed: 0, size: 32 });
      h = fnv(h, s.image);
      h = fnv(h, new Uint8Array(s.labels.buffer));
    }
    expect({ version: SCENE_WORLD_VERSION, hash: h.toString(16) }).toEqual({ version: 2, hash: 'db2b69e6' });
  });
});
