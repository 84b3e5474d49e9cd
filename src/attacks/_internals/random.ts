/**
 * The attacks' random streams: the seeded PRNG and sub-seeds (from `util/random`, re-exported for the attacks that
 * take them from here) and a key per image, so that each image's random choices do not depend on its batch.
 */
export { Prng, hashSeed, subSeed } from '../../util/random.js';

/**
 * A 32-bit key per image of `pixels` (`n` images, row-major), from the bits of its values. Seeding each image's
 * random choices with `subSeed(seed, key)` makes them depend on the image and the seed only, not on which other
 * images share the batch, so a batch split over workers gives the same images as one batch.
 */
export function imageKeys(pixels: Float32Array, n: number): Uint32Array {
  const per = n > 0 ? pixels.length / n : 0;
  const bits = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length);
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let h = 0x811c9dc5 ^ per;
    for (let j = i * per, end = (i + 1) * per; j < end; j++) h = Math.imul(h ^ bits[j], 0x01000193);
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13;
    keys[i] = h >>> 0;
  }
  return keys;
}
