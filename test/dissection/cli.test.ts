import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { buildArgv, main } from '../../src/cli/main.js';
import { loadAtlas } from '../../src/dissection/atlas.js';
import { dissect } from '../../src/dissection/dissect.js';
import { loadClassifier, saveLayersModel } from '../../src/models/io.js';
import { colorLayersModel, writeColorProbe } from './fixtures.js';

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

let dir: string; let model: string; let probe: string;
const savedEnv = process.env.UNIT_ATTACK_CACHE;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-cli-dissect-'));
  model = path.join(dir, 'model');
  probe = path.join(dir, 'probe');
  await saveLayersModel(colorLayersModel(), model, { classes: ['blue_scene', 'red_scene'], preprocessing: 'unit' });
  await writeColorProbe(probe, 12, { corrupt: true });
  process.env.UNIT_ATTACK_CACHE = path.join(dir, 'cache');
});

afterAll(async () => {
  if (savedEnv === undefined) delete process.env.UNIT_ATTACK_CACHE; else process.env.UNIT_ATTACK_CACHE = savedEnv;
  await fs.rm(dir, { recursive: true, force: true });
});

describe('unit-attack dissect', () => {
  it('parses its options with the PNAS defaults and checks them', () => {
    const argv = buildArgv(['dissect', '--out', 'x']);
    expect(argv).toMatchObject({ model: 'builtin:scenes-vgg16', quantile: 0.01, 'iou-threshold': 0.04, 'top-n': 20, cache: true });
    expect(buildArgv(['dissect', '--out', 'x', '--no-cache']).cache).toBe(false);
    expect(() => buildArgv(['dissect', '--out', 'x', '--quantile', '1.5'])).toThrowError(/--quantile must be in \(0, 1\)/);
    expect(() => buildArgv(['dissect', '--out', 'x', '--top-n', '0'])).toThrowError(/--top-n/);
  });

  it('writes the report, prints a summary, warns about the skipped image, and hits the cache on a rerun', async () => {
    const out = path.join(dir, 'out');
    const args = ['dissect', '--backend', 'cpu', '--model', model, '--probe', probe, '--out', out, '--quantile', '0.05'];
    const io = captureIO();
    expect(await main(args, io)).toBe(0);
    const text = io.stdout.join('\n');
    expect(text).toContain('dissected block [4×4×3]');
    expect(text).toContain('24 images, 1 skipped');
    expect(text).toMatch(/units labelled: 3 of 3/);
    expect(text).toContain('redthing (1)');
    expect(text).toMatch(/ablation: Ablating each class's top 3 units/);
    expect(io.stderr.join('\n')).toContain('broken.png');
    const atlas = await loadAtlas(path.join(out, 'atlas.json'));
    expect(atlas.units[0].concept).toBe('redthing');
    for (const f of ['index.html', 'units.csv', 'importance.csv', 'ablation.csv', 'ablation.png', 'strips/unit_0000.png']) {
      await fs.access(path.join(out, f));
    }
    // A second run into the same folder is refused (files of two runs never mix) unless --force.
    const refused = captureIO();
    expect(await main(args, refused)).toBe(2);
    expect(refused.stderr.join('\n')).toMatch(/--out '.*' is not empty[\s\S]*--force/);
    await fs.writeFile(path.join(out, 'notes.txt'), 'mine');
    await fs.writeFile(path.join(out, 'strips', 'unit_9999.png'), 'stale');
    const again = captureIO();
    expect(await main([...args, '--force'], again)).toBe(0);
    expect(again.stdout.join('\n')).toContain('from the cache');
    expect(await fs.readFile(path.join(out, 'notes.txt'), 'utf8')).toBe('mine'); // not the command's: left alone
    await expect(fs.access(path.join(out, 'strips', 'unit_9999.png'))).rejects.toThrow(); // the command's: replaced
    await fs.access(path.join(out, 'strips/unit_0000.png'));
  });

  it('exits 2 naming the file when a probe label map is missing', async () => {
    const bad = path.join(dir, 'bad');
    await fs.mkdir(bad);
    await fs.copyFile(path.join(probe, 'red_scene', 'img000.png'), path.join(bad, 'lonely.png'));
    const io = captureIO();
    expect(await main(['dissect', '--backend', 'cpu', '--model', model, '--probe', bad, '--out', path.join(dir, 'o2')], io)).toBe(2);
    expect(io.stderr.join('\n')).toContain(path.join(bad, 'lonely.png'));
  });

  it('exits 2 listing the spatial layers for a layer without maps', async () => {
    const io = captureIO();
    expect(await main(['dissect', '--backend', 'cpu', '--model', model, '--probe', probe, '--layer', 'gap', '--out', path.join(dir, 'o3')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/without spatial maps[\s\S]*detect, pool, block/);
  });

  it('runs from the compiled build, rendering scenes in a worker thread', async () => {
    const bin = path.resolve(import.meta.dirname, '../../bin/unit-attack.js');
    const out = path.join(dir, 'spawned');
    const { stdout } = await promisify(execFile)(process.execPath, [
      bin, 'dissect', '--backend', 'cpu', '--model', model, '--probe', 'builtin:scenes?count=12&seed=2', '--out', out, '--no-cache', '--json',
    ], { env: { ...process.env, UNIT_ATTACK_CACHE: path.join(dir, 'cache2') } });
    const r = JSON.parse(stdout) as { summary: { units: number }; cached: boolean };
    expect(r.summary.units).toBe(3);
    expect(r.cached).toBe(false);
    const atlas = await loadAtlas(path.join(out, 'atlas.json'));
    expect(atlas.probe.used).toBe(12);
    expect(atlas.units[0].topImages.length).toBe(8);
    // The build renders scenes and sorts the sketches in worker threads; in process (here) both run on this thread.
    const clf = await loadClassifier(model);
    const local = (await dissect(clf, 'builtin:scenes?count=12&seed=2', { cache: false, tmpDir: dir })).atlas;
    expect(atlas.units.map((u) => [u.threshold, u.iou, u.concept])).toEqual(local.units.map((u) => [u.threshold, u.iou, u.concept]));
    clf.dispose();
  });
});
