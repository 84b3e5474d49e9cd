import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect, type DissectOptions } from '../../src/dissection/dissect.js';
import type { Atlas } from '../../src/dissection/atlas.js';
import { resumeDir } from '../../src/dissection/cache.js';
import { decodeShard, encodeShard, unfinishedJournals } from '../../src/dissection/_internals/shard-file.js';
import type { ShardOutput } from '../../src/dissection/_internals/shards.js';
import { colorModel, writeColorProbe } from './fixtures.js';

let dir: string;
let probeDir: string;
/** One model for every run: the cache key holds its fingerprint. */
let clf: ReturnType<typeof colorModel>;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-resume-'));
  probeDir = path.join(dir, 'probe');
  await writeColorProbe(probeDir, 24);
  clf = colorModel();
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** 48 images, batches of 4, shards of 16 images: 3 shards. */
const OPTIONS: DissectOptions = { quantile: 0.05, batchSize: 4, topImages: 3 };

/** The atlas without what differs between any two runs (the time it was made). */
const stable = (a: Atlas): unknown => ({ ...a, created: undefined });

class Stop extends Error {}

/** A dissection that throws once pass 1 has seen `after` images. */
async function interruptedRun(cacheDir: string, after: number): Promise<void> {
  await expect(dissect(clf, probeDir, {
    ...OPTIONS, cacheDir, tmpDir: dir,
    onProgress: (p) => { if (p.phase === 'activations' && p.done >= after) throw new Stop('stopped'); },
  })).rejects.toBeInstanceOf(Stop);
}

const shardFiles = async (d: string): Promise<string[]> => (await fs.readdir(d).catch(() => [] as string[])).filter((n) => n.endsWith('.bin')).sort();

describe('an interrupted dissection resumes', () => {
  it('from the shards it finished, to the same atlas as an uninterrupted run, and clears them when done', async () => {
    const whole = await dissect(clf, probeDir, { ...OPTIONS, cache: false, tmpDir: dir });

    const cacheDir = path.join(dir, 'cache-a');
    // Stops in the third shard: the first two (32 images) are kept.
    await interruptedRun(cacheDir, 36);
    const partial = (await fs.readdir(path.join(cacheDir, 'partial')))[0];
    const keep = path.join(cacheDir, 'partial', partial);
    expect(await shardFiles(keep)).toEqual(['shard-00000-of-3.bin', 'shard-00001-of-3.bin']);
    expect(unfinishedJournals().some((l) => l.includes(keep) && l.startsWith('2 of 3 shards'))).toBe(true);

    const warnings: string[] = [];
    const progress: number[] = [];
    const before = tf.memory().numTensors;
    const resumed = await dissect(clf, probeDir, {
      ...OPTIONS, cacheDir, tmpDir: dir, onWarning: (m) => warnings.push(m),
      onProgress: (p) => { if (p.phase === 'activations') progress.push(p.done); },
    });
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(0);
    expect(warnings.filter((w) => w.startsWith('resumed')).join()).toContain('2 of 3 shards were read');
    // The two kept shards count as done at once (16 + 16 images), then the third is computed batch by batch.
    expect([...new Set(progress)].slice(0, 2)).toEqual([16, 32]);
    expect(progress.at(-1)).toBe(48);
    expect(stable(resumed.atlas)).toEqual(stable(whole.atlas));
    expect(resumeDir(resumed.cacheFile!)).toBe(keep);
    await expect(fs.stat(keep)).rejects.toThrow(); // cleared once the atlas is cached
  }, 60_000);

  it('computes a shard again when its file is torn, changed or of another run', async () => {
    const whole = await dissect(clf, probeDir, { ...OPTIONS, cache: false, tmpDir: dir });
    const cacheDir = path.join(dir, 'cache-b');
    await interruptedRun(cacheDir, 36);
    const keep = path.join(cacheDir, 'partial', (await fs.readdir(path.join(cacheDir, 'partial')))[0]);
    const [first, second] = await shardFiles(keep);
    const bytes = await fs.readFile(path.join(keep, first));
    bytes[bytes.length - 5] ^= 0xff; // a changed activation
    await fs.writeFile(path.join(keep, first), bytes);
    await fs.truncate(path.join(keep, second), 100); // a torn file
    await fs.writeFile(path.join(keep, `${second}.tmp-999999999-abcdef`), 'left by a process that no longer runs');
    const warnings: string[] = [];
    const again = await dissect(clf, probeDir, { ...OPTIONS, cacheDir, tmpDir: dir, onWarning: (m) => warnings.push(m) });
    expect(warnings.some((w) => w.startsWith('resumed'))).toBe(false);
    expect(stable(again.atlas)).toEqual(stable(whole.atlas));
    await expect(fs.stat(keep)).rejects.toThrow();
  }, 60_000);

  it('keeps nothing without a cache', async () => {
    const cacheDir = path.join(dir, 'cache-c');
    await expect(dissect(clf, probeDir, {
      ...OPTIONS, cache: false, cacheDir, tmpDir: dir,
      onProgress: (p) => { if (p.phase === 'activations' && p.done >= 36) throw new Stop('stopped'); },
    })).rejects.toBeInstanceOf(Stop);
    await expect(fs.stat(path.join(cacheDir, 'partial'))).rejects.toThrow();
  }, 60_000);
});

describe('shard files', () => {
  const out: ShardOutput = {
    sketches: [Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 5])],
    acts: Float32Array.from([0.5, -1, 3.25]),
    labels: Uint16Array.from([7, 8, 9]), // 6 bytes: padded to 8
    indices: [10, 11], ids: ['a.png', 'b.png'], classIndex: Int32Array.from([1, -1]), skipped: [['c.png', 'not an image']],
  };

  it('round-trip every section, with and without classes', () => {
    for (const o of [out, { ...out, classIndex: null }]) {
      const { header, out: back } = decodeShard(encodeShard(o, 'run1', 2, 5), 'x.bin', { run: 'run1', shard: 2, shards: 5 });
      expect(header.images).toBe(2);
      expect(back.sketches.map((s) => [...s])).toEqual([[1, 2, 3], [4, 5]]);
      expect([...back.acts]).toEqual([0.5, -1, 3.25]);
      expect([...back.labels]).toEqual([7, 8, 9]);
      expect(back.classIndex ? [...back.classIndex] : null).toEqual(o.classIndex ? [1, -1] : null);
      expect(back.indices).toEqual([10, 11]);
      expect(back.ids).toEqual(['a.png', 'b.png']);
      expect(back.skipped).toEqual([['c.png', 'not an image']]);
    }
  });

  it('refuse another run or shard, a torn file, a changed byte and a foreign file, naming the file', () => {
    const bytes = encodeShard(out, 'run1', 2, 5);
    expect(() => decodeShard(bytes, 'x.bin', { run: 'run2', shard: 2, shards: 5 })).toThrow(/'x.bin' .*shard 3 of 5 of run run1, not shard 3 of 5 of run run2/);
    expect(() => decodeShard(bytes, 'x.bin', { run: 'run1', shard: 1, shards: 5 })).toThrow(/not shard 2 of 5/);
    expect(() => decodeShard(bytes.subarray(0, bytes.length - 1), 'x.bin')).toThrow(/payload/);
    const changed = Uint8Array.from(bytes);
    changed[changed.length - 1] ^= 1;
    expect(() => decodeShard(changed, 'x.bin')).toThrow(/checksum/);
    expect(() => decodeShard(new TextEncoder().encode('{"not":"a shard"}'), 'y.json')).toThrow(/'y.json' is not a usable shard file: it does not start/);
  });
});
