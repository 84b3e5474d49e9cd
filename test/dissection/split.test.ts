import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect, type DissectOptions } from '../../src/dissection/dissect.js';
import { dissectShards } from '../../src/dissection/split.js';
import type { Atlas } from '../../src/dissection/atlas.js';
import { colorModel, writeColorProbe } from './fixtures.js';

let dir: string;
let probeDir: string;
let clf: ReturnType<typeof colorModel>;
let whole: Atlas;

/** 49 images (one corrupt) in batches of 4: a plan of 4 shards of 16, 16, 16 and 1. */
const OPTIONS: DissectOptions = { quantile: 0.05, batchSize: 4, topImages: 3, cache: false };
const stable = (a: Atlas): unknown => ({ ...a, created: undefined });

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-split-'));
  probeDir = path.join(dir, 'probe');
  await writeColorProbe(probeDir, 24, { corrupt: true });
  clf = colorModel();
  whole = (await dissect(clf, probeDir, { ...OPTIONS, tmpDir: dir })).atlas;
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

let runs = 0;
const fresh = async (): Promise<string> => {
  const d = path.join(dir, `run-${runs++}`);
  await fs.mkdir(d);
  return d;
};

describe('a dissection split into parts and merged', () => {
  it('equals the one-process atlas for any number of parts, in one shared folder or one folder per part', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.boolean(), async (parts, shared) => {
      const base = await fresh();
      const outs: string[] = [];
      const covered: number[] = [];
      for (let i = 0; i < parts; i++) {
        const out = shared ? path.join(base, 'all') : path.join(base, `part-${i}`);
        const r = await dissectShards(clf, probeDir, { index: i, of: parts, out }, { ...OPTIONS, tmpDir: dir });
        expect(r.plan).toBe(4);
        expect(r.files).toHaveLength(r.shards.length);
        covered.push(...r.shards);
        if (!outs.includes(out)) outs.push(out);
      }
      // The parts cover the plan exactly once, each a contiguous block.
      expect(covered).toEqual([0, 1, 2, 3]);
      const before = tf.memory().numTensors;
      const merged = await dissect(clf, probeDir, { ...OPTIONS, tmpDir: dir, fromShards: outs });
      expect(tf.memory().numTensors - before).toBeLessThanOrEqual(0);
      expect(stable(merged.atlas)).toEqual(stable(whole));
    }), { numRuns: 6, seed: 7 });
  }, 120_000);

  it('does not compute a shard again that an earlier try of the same part wrote', async () => {
    const out = await fresh();
    const a = await dissectShards(clf, probeDir, { index: 0, of: 1, out }, { ...OPTIONS, tmpDir: dir });
    expect(a.files).toHaveLength(4);
    const b = await dissectShards(clf, probeDir, { index: 0, of: 1, out }, { ...OPTIONS, tmpDir: dir });
    expect(b.files).toEqual([]);
    expect(b.shards).toEqual([0, 1, 2, 3]);
  }, 60_000);

  it('says which shards are missing, which setting differs between runs, and which file is corrupt', async () => {
    const out = await fresh();
    await dissectShards(clf, probeDir, { index: 0, of: 3, out }, { ...OPTIONS, tmpDir: dir });
    await dissectShards(clf, probeDir, { index: 2, of: 3, out }, { ...OPTIONS, tmpDir: dir });
    await expect(dissect(clf, probeDir, { ...OPTIONS, tmpDir: dir, fromShards: [out] })).rejects.toThrow(/1 of the 4 shards are missing: 2\b/);

    const other = await fresh();
    await dissectShards(clf, probeDir, { index: 0, of: 1, out: other }, { ...OPTIONS, quantile: 0.1, tmpDir: dir });
    await expect(dissect(clf, probeDir, { ...OPTIONS, tmpDir: dir, fromShards: [out, other] }))
      .rejects.toThrow(/more than one dissection: .* \(quantile: 0\.05 ≠ 0\.1\)/);

    const torn = await fresh();
    const { files } = await dissectShards(clf, probeDir, { index: 0, of: 1, out: torn }, { ...OPTIONS, tmpDir: dir });
    const bytes = await fs.readFile(files[1]);
    bytes[bytes.length - 3] ^= 0x40;
    await fs.writeFile(files[1], bytes);
    await expect(dissect(clf, probeDir, { ...OPTIONS, tmpDir: dir, fromShards: [torn] })).rejects.toThrow(/is not a usable shard file: its checksum does not match/);

    const empty = await fresh();
    await expect(dissect(clf, probeDir, { ...OPTIONS, tmpDir: dir, fromShards: [empty] })).rejects.toThrow(/no shard files/);
  }, 60_000);

  it('refuses a part that is not i of N with 0 ≤ i < N', async () => {
    for (const [index, of] of [[3, 2], [0, 0], [-1, 2], [0.5, 2]]) {
      await expect(dissectShards(clf, probeDir, { index, of, out: dir }, OPTIONS)).rejects.toThrow(/shard must be a part i of N with 0 ≤ i < N/);
    }
  });

  it('writes nothing for a part beyond the plan (more parts than shards)', async () => {
    const out = await fresh();
    const r = await dissectShards(clf, probeDir, { index: 0, of: 5, out }, { ...OPTIONS, tmpDir: dir });
    expect(r.shards).toEqual([]);
    expect(await fs.readdir(out)).toEqual([]);
  });
});
