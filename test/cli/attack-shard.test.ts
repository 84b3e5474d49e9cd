/**
 * `unit-attack attack … --shard i/N` and `unit-attack merge`: the parts of an attack put back together give the
 * output of one run — result.json equal but for its timing fields (`created`, `seconds`), every picture, curve file
 * and CSV byte for byte — for random numbers of parts, and bad sets of parts are refused (exit code 2) with nothing
 * written.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '../../src/tf.js';
import { decodeRecords, encodeRecords, mergeResults, type AttackResultData } from '../../src/attacks/parts.js';
import { wholeCommandArgs } from '../../src/cli/attack-part.js';
import { cliRun, expectSameOutput, writeTestImages } from './attack-fixtures.js';

const root = path.resolve(import.meta.dirname, '../..');
const model = path.join(root, 'test/fixtures/scenarios/models/colour');
let dir: string;
let images: string;

const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => cliRun(['--quiet', ...args]);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-attack-shard-'));
  images = path.join(dir, 'images');
  await fs.mkdir(images);
  // Seven greyish images that lean to one colour by a few 8-bit steps, with a little noise: some fall to an attack
  // at small ε, some do not, so the attacks' per-image steps, restarts and early stops differ.
  await writeTestImages(images, 7, (k) => 2 + (k % 4) * 3);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const COMMON = ['attack', '--model', model, '--images', '', '--seed', '5', '--heatmaps', '4'];
const common = (seed = 5): string[] => COMMON.map((a) => (a === '' ? images : a === '5' ? String(seed) : a));

/** Attacks whose per-image results must not depend on the partition. */
const CASES: Record<string, string[]> = {
  'pgd with random start and restarts': ['--attack', 'pgd', '--eps', '3/255', '--steps', '4', '--restarts', '2', '--target', 'blue'],
  'unit attack with its random control': ['--suppress-units', '0', '--excite-units', '1', '--target', 'green', '--eps', '6/255', '--steps', '3'],
  'square (random search)': ['--attack', 'square', '--eps', '4/255', '--queries', '15', '--no-checks'],
  'a pgd robustness curve': ['--attack', 'pgd', '--eps', '0,2/255,6/255', '--steps', '3', '--label', 'red'],
  'cw (binary search per image)': ['--attack', 'cw', '--eps', '0.5', '--steps', '4', '--no-checks'],
  'fab (minimal norm, per image)': ['--attack', 'fab', '--eps', '8/255', '--steps', '3', '--no-checks'],
};

const wholeRuns = new Map<string, string>();
async function wholeRun(name: string): Promise<string> {
  let out = wholeRuns.get(name);
  if (out) return out;
  out = path.join(dir, `whole-${Object.keys(CASES).indexOf(name)}`);
  const r = await cli([...common(), ...CASES[name], '--workers', '1', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  wholeRuns.set(name, out);
  return out;
}

let runs = 0;
/** Runs N parts (in shuffled folders) and merges them; returns the merge's folder. */
async function partsAndMerge(args: string[], n: number, extra: string[] = []): Promise<{ merged: string; parts: string[]; code: number; stderr: string }> {
  const id = runs++;
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const out = path.join(dir, `r${id}-part-${i}`);
    const r = await cli([...common(), ...args, '--shard', `${i}/${n}`, '--out', out, ...extra]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`part ${i}/${n}:`);
    parts.push(out);
  }
  const merged = path.join(dir, `r${id}-merged`);
  const m = await cli(['merge', ...[...parts].reverse(), '--out', merged]);
  return { merged, parts, code: m.code, stderr: m.stderr };
}

describe('unit-attack attack --shard i/N and merge', () => {
  it('merges any number of parts into the output of one run (property: attack, N)', async () => {
    const before = tf.memory().numTensors;
    for (const name of Object.keys(CASES)) {
      await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 5 }), async (n) => {
        const whole = await wholeRun(name);
        const { merged, code, stderr } = await partsAndMerge(CASES[name], n, ['--workers', '1']);
        expect(code, stderr).toBe(0);
        await expectSameOutput(whole, merged);
      }), { numRuns: 2, seed: 18 });
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);

  it('merges parts of autoattack, whose components run on the images still robust, and parts that ran on worker threads', async () => {
    const aa = ['--attack', 'autoattack', '--eps', '3/255', '--steps', '3', '--target-classes', '2', '--queries', '10', '--label', 'red'];
    const whole = path.join(dir, 'whole-aa');
    const r = await cli([...common(), ...aa, '--workers', '1', '--out', whole]);
    expect(r.code, r.stderr).toBe(0);
    const m = await partsAndMerge(aa, 3, ['--workers', '1']);
    expect(m.code, m.stderr).toBe(0);
    await expectSameOutput(whole, m.merged);
    // A part that runs its attacks on two threads records the same results.
    const t = await partsAndMerge(CASES['pgd with random start and restarts'], 2, ['--workers', '2']);
    expect(t.code, t.stderr).toBe(0);
    await expectSameOutput(await wholeRun('pgd with random start and restarts'), t.merged);
  }, 300_000);

  it('the merge takes the attacks\' results from the parts: it does not attack again', async () => {
    const { parts } = await partsAndMerge(CASES['pgd with random start and restarts'], 2, ['--workers', '1']);
    // Part 1 says its first image took 999 steps (re-signed, so the checksum holds): the merge reports it.
    const data = path.join(parts[1], 'attack-part.data.gz');
    const records = decodeRecords(new Uint8Array(await fs.readFile(data)), data);
    expect(records).toHaveLength(1);
    records[0].result.steps[0] = 999;
    const bytes = encodeRecords(records);
    await fs.writeFile(data, bytes);
    const partFile = path.join(parts[1], 'attack-part.json');
    const part = JSON.parse(await fs.readFile(partFile, 'utf8')) as { images: { from: number }; data: { sha256: string } };
    part.data.sha256 = createHash('sha256').update(bytes).digest('hex');
    await fs.writeFile(partFile, JSON.stringify(part));
    const out = path.join(dir, 'replayed');
    const r = await cli(['merge', ...parts, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(await fs.readFile(path.join(out, 'result.json'), 'utf8')) as { steps: number[] };
    expect(result.steps[part.images.from]).toBe(999);
    expect(result.steps.filter((v) => v === 999)).toHaveLength(1);
  }, 120_000);

  it('more parts than images: the extra parts are empty and the merge still equals the whole', async () => {
    const name = 'square (random search)';
    const m = await partsAndMerge(CASES[name], 9, ['--workers', '1']);
    expect(m.code, m.stderr).toBe(0);
    await expectSameOutput(await wholeRun(name), m.merged);
  }, 300_000);

  it('refuses a missing part, parts of different runs and a torn or changed part, with exit code 2 and nothing written', async () => {
    const args = CASES['square (random search)'];
    const { parts } = await partsAndMerge(args, 3, ['--workers', '1']);
    const refused = async (dirs: string[], re: RegExp): Promise<void> => {
      const out = path.join(dir, `refused-${runs++}`);
      const r = await cli(['merge', ...dirs, '--out', out]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(existsSync(out) ? await fs.readdir(out) : []).toEqual([]);
    };
    await refused([parts[0], parts[2]], /part 1\/3 of the attack is missing/);
    await refused([parts[0]], /parts 1\/3, 2\/3 of the attack are missing/);
    // Another seed, and another number of parts.
    const other = path.join(dir, 'other-seed');
    expect((await cli([...common(6), ...args, '--shard', '1/3', '--out', other, '--workers', '1'])).code).toBe(0);
    await refused([parts[0], other, parts[2]], /parts of different attack runs \(options\.seed: 5 ≠ 6\)/);
    const otherN = path.join(dir, 'other-n');
    expect((await cli([...common(), ...args, '--shard', '1/2', '--out', otherN, '--workers', '1'])).code).toBe(0);
    await refused([parts[0], otherN], /parts of different attack runs \(parts: 3 ≠ 2\)/);
    // A changed data file, and a torn part file.
    const changed = path.join(dir, 'changed');
    await fs.cp(parts[1], changed, { recursive: true });
    const data = path.join(changed, 'attack-part.data.gz');
    const bytes = await fs.readFile(data);
    bytes[bytes.length >> 1] ^= 0xff;
    await fs.writeFile(data, bytes);
    await refused([parts[0], changed, parts[2]], /do not match their checksum/);
    const torn = path.join(dir, 'torn');
    await fs.cp(parts[1], torn, { recursive: true });
    const json = await fs.readFile(path.join(torn, 'attack-part.json'), 'utf8');
    await fs.writeFile(path.join(torn, 'attack-part.json'), json.slice(0, json.length >> 1));
    await refused([parts[0], torn, parts[2]], /attack-part\.json' is not valid JSON/);
    // Images that changed since the parts were made: the merge reads other pixels under the same names.
    const moved = path.join(dir, 'moved-images');
    await fs.cp(images, moved, { recursive: true });
    const movedParts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const out = path.join(dir, `moved-part-${i}`);
      expect((await cli([...common().map((a) => (a === images ? moved : a)), ...args, '--shard', `${i}/2`, '--out', out, '--workers', '1'])).code).toBe(0);
      movedParts.push(out);
    }
    await fs.copyFile(path.join(images, 'img-0.png'), path.join(moved, 'img-1.png'));
    await refused(movedParts, /the merge does not see the run the parts made \(pixels: the images' pixels or labels differ\)/);
    // A folder that is not a part at all, beside attack parts.
    await refused([parts[0], images], /holds no attack-part\.json/);
  }, 300_000);

  it('adds up the first-gradient warnings of the parts as one batch would word them', () => {
    const part = (n: number, warnings: string[]): AttackResultData => ({
      attack: 'pgd', adversarial: new Float32Array(n * 3), success: new Array<boolean>(n).fill(false), predictions: new Int32Array(n), cleanPredictions: new Int32Array(n),
      objective: new Float32Array(n), steps: new Int32Array(n), queries: new Int32Array(n), norm: 'linf', epsilon: 4 / 255, goal: 'untargeted',
      objectiveName: 'ce', seed: 1, backend: 'cpu', tfjsVersion: '4.22.0', warnings,
    });
    const sat = (k: number, m: number, imgs: string): string => `pgd: the input gradient is zero for ${k} of ${m} images (${imgs}); the softmax is saturated on ${k} of them (top probability rounds to 1 in float32), so the cross-entropy gradient underflows`;
    const r = mergeResults([
      part(4, ['a warning', sat(2, 4, 'images 1, 3')]),
      part(3, []),
      part(5, ['a warning', sat(5, 5, 'images 0, 1, 2, 3, 4'), 'another']),
    ], [12, 1, 1, 3]);
    expect(r.warnings).toEqual(['a warning', sat(7, 12, 'images 1, 3, 7, 8, 9, …'), 'another']);
    r.adversarial.dispose();
  });

  it('records the command line of the whole run: without --shard/--queue/--store/--parts, with the merge\'s --out', () => {
    expect(wholeCommandArgs(['attack', '--images', 'd', '--shard', '1/3', '--out', 'p1', '--seed', '2'], 'out')).toEqual(['attack', '--images', 'd', '--out', 'out', '--seed', '2']);
    expect(wholeCommandArgs(['attack', '--shard=1/3', '--out=p1', '--eps', '4/255'], 'o')).toEqual(['attack', '--out=o', '--eps', '4/255']);
    expect(wholeCommandArgs(['attack', '--queue', 'redis://h:1', '--store', 's', '--parts', '4', '--out', 'o'])).toEqual(['attack', '--out', 'o']);
  });

  it('rejects a bad --shard, --parts, --queue or --store with a usage error naming it (attack and run)', async () => {
    for (const spec of ['3/2', '0/0', '2/2', 'a/b']) {
      const r = await cli([...common(), '--attack', 'fgsm', '--shard', spec, '--out', path.join(dir, `bad-${runs++}`)]);
      expect(r.code, spec).toBe(2);
      expect(r.stderr, spec).toMatch(/--shard must be i\/N with 0 ≤ i < N/);
    }
    const bad: Array<[string[], RegExp]> = [
      [['--parts', '3'], /--parts applies to a run on a queue/],
      [['--queue', 'http://localhost:6379'], /--queue must be a Redis URL \(redis:\/\/ or rediss:\/\/\)/],
      [['--queue', 'redis://localhost:6379', '--shard', '0/2'], /--queue and --shard both split the work/],
      [['--queue', 'redis://localhost:6379', '--parts', '0'], /--parts must be a whole number ≥ 1/],
      [['--store', '/tmp/x'], /--store applies to a run on a queue/],
    ];
    for (const [args, re] of bad) {
      const r = await cli([...common(), '--attack', 'fgsm', ...args, '--out', path.join(dir, `bad-${runs++}`)]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
    const scenario = path.join(root, 'scenarios');
    for (const [args, re] of [[['--parts', '2'], /--parts applies to a run on a queue/], [['--queue', 'ftp://x'], /--queue must be a Redis URL/]] as Array<[string[], RegExp]>) {
      const r = await cli(['run', scenario, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });
});
