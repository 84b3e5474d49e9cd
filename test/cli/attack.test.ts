import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { buildArgv, main } from '../../src/cli/main.js';
import { saveLayersModel } from '../../src/models/io.js';
import { UnitAttackError } from '../../src/errors.js';

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

/** The colour model of test/attacks/helpers.ts as a LayersModel: unit k of `units` passes colour channel k (k < 3). */
function colourLayersModel(): tf.LayersModel {
  const m = tf.sequential({ name: 'colour' });
  m.add(tf.layers.conv2d({ name: 'units', inputShape: [16, 16, 3], filters: 6, kernelSize: 1, activation: 'relu' }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ name: 'logits', units: 3 }));
  m.layers[0].setWeights([tf.tensor4d([1, 0, 0, 1, 0, -1, 0, 1, 0, -1, 1, 0, 0, 0, 1, 0, -1, 1], [1, 1, 3, 6]), tf.zeros([6])]);
  const d = new Float32Array(18);
  for (let i = 0; i < 3; i++) d[i * 3 + i] = 20;
  m.layers[2].setWeights([tf.tensor2d(d, [6, 3]), tf.zeros([3])]);
  return m;
}

let dir: string;
let model: string;
let images: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-attack-cli-'));
  model = path.join(dir, 'model');
  images = path.join(dir, 'images');
  await saveLayersModel(colourLayersModel(), model, { classes: ['red', 'green', 'blue'], preprocessing: 'unit', defaultLayer: 'units' });
  await fs.mkdir(images);
  // Reddish grey images with a little noise: the model calls them red by a few 8-bit steps.
  for (let k = 0; k < 3; k++) {
    const px = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < 16 * 16; i++) {
      const n = ((i * 37 + k * 11) % 9) - 4;
      px[3 * i] = 130 + n; px[3 * i + 1] = 124 + n; px[3 * i + 2] = 124 - n;
    }
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path.join(images, `red-${k}.png`));
  }
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('attack: buildArgv', () => {
  it('parses the unit-attack options with their defaults', () => {
    const argv = buildArgv(['attack', '--synthetic', 'ski_resort', '--count', '4', '--suppress', 'snow,mountain', '--excite', 'bed',
      '--target', 'bedroom', '--atlas', 'a.json', '--out', 'o']);
    expect(argv.model).toBe('builtin:scenes-vgg16');
    expect(argv.suppress).toBe('snow,mountain');
    expect(argv.eps).toBe('4/255');
    expect(argv.attack).toBe('pgd');
    expect(argv['class-weight']).toBe(0);
    expect(argv.aggregate).toBe('mean');
    expect(argv.steps).toBeUndefined(); // 50, or 100 for apgd-* and autoattack
    expect(argv.checks).toBe(true);
    expect(buildArgv(['attack', '--image', 'a.png', '--attack', 'autoattack', '--no-checks', '--out', 'o']).checks).toBe(false);
  });

  it('takes --attack unit as the unit attack optimised by pgd', () => {
    const argv = buildArgv(['attack', '--image', 'a.png', '--attack', 'unit', '--excite-units', '3,5', '--out', 'o']);
    expect(argv.attack).toBe('pgd');
    expect(argv['excite-units']).toBe('3,5');
  });

  it('rejects bad input with usage errors that name the option', () => {
    const bad: Array<[string[], RegExp]> = [
      [['attack', '--out', 'o'], /name the images/],
      [['attack', '--image', 'a.png', '--synthetic', 'beach', '--out', 'o'], /one way only/],
      [['attack', '--image', 'a.png', '--eps', '2', '--out', 'o'], /--eps.*\(0, 1\]/],
      [['attack', '--image', 'a.png', '--eps', '0', '--out', 'o'], /only allowed in a list/],
      [['attack', '--image', 'a.png', '--steps', '0', '--out', 'o'], /--steps must be an integer ≥ 1/],
      [['attack', '--image', 'a.png', '--excite', 'bed', '--out', 'o'], /needs a dissection/],
      [['attack', '--image', 'a.png', '--excite-units', '3', '--attack', 'square', '--out', 'o'], /square only sees logits/],
      [['attack', '--image', 'a.png', '--excite-units', 'x', '--out', 'o'], /unit indices/],
      [['attack', '--image', 'a.png', '--class-weight', '1', '--out', 'o'], /belong to the unit attack/],
      [['attack', '--image', 'a.png', '--atlas', 'a', '--probe', 'p', '--out', 'o'], /--atlas or --probe/],
      [['attack', '--image', 'a.png', '--attack', 'autoattack', '--aa-version', 'plus', '--out', 'o'], /--aa-version must be standard or rand, got "plus"/],
      [['attack', '--image', 'a.png', '--aa-version', 'rand', '--out', 'o'], /--aa-version chooses the autoattack ensemble/],
      [['attack', '--image', 'a.png', '--attack', 'autoattack', '--target', 'bed', '--out', 'o'], /picks its own target classes/],
      [['attack', '--image', 'a.png', '--attack', 'pgd', '--eot', '4', '--out', 'o'], /--eot belongs to apgd/],
      [['attack', '--image', 'a.png', '--attack', 'apgd-ce', '--queries', '9', '--out', 'o'], /--queries is the budget of square and autoattack/],
      [['attack', '--image', 'a.png', '--attack', 'apgd-ce', '--excite-units', '3', '--out', 'o'], /optimised by pgd, fgsm or cw/],
      [['attack', '--image', 'a.png', '--attack', 'autoattack', '--target-classes', '0', '--out', 'o'], /--target-classes must be an integer ≥ 1/],
      [['attack', '--image', 'a.png', '--attack', 'unit', '--out', 'o'], /--attack unit steers units, but none are named/],
    ];
    for (const [args, re] of bad) {
      let err: unknown;
      try { buildArgv(args); } catch (e) { err = e; }
      expect(err, args.join(' ')).toBeInstanceOf(UnitAttackError);
      expect((err as Error).message, args.join(' ')).toMatch(re);
    }
  });
});

describe('attack: in-process runs on a tiny saved model', () => {
  it('takes --target and --label by class index as well as by name', async () => {
    const run = async (name: string, args: string[]): Promise<Record<string, unknown>> => {
      const io = captureIO();
      const code = await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--attack', 'fgsm', '--eps', '8/255',
        '--out', path.join(dir, name), '--json', ...args], io);
      expect(code, io.stderr.join('\n')).toBe(0);
      return JSON.parse(io.stdout.join('\n')) as Record<string, unknown>;
    };
    const byName = await run('by-name', ['--target', 'green', '--label', 'red']);
    const byIndex = await run('by-index', ['--target', '1', '--label', '0']);
    expect(byIndex.target).toEqual(byName.target);
    expect(byName.target).toBe('green');
    expect(byIndex.labelsFrom).toEqual(byName.labelsFrom);
    expect(byIndex.images).toEqual(byName.images);
    const io = captureIO();
    expect(await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--target', '7', '--out', path.join(dir, 'bad-index')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--target: the model has no class '7'/);
  });

  it('runs the unit attack with its control and writes images, heatmaps and result.json', async () => {
    const out = path.join(dir, 'unit');
    const io = captureIO();
    const before = tf.memory().numTensors;
    const code = await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--suppress-units', '0', '--excite-units', '1',
      '--target', 'green', '--eps', '8/255', '--steps', '5', '--seed', '4', '--out', out], io);
    expect(code, io.stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const text = io.stdout.join('\n');
    expect(text).toContain('unit attack');
    expect(text).toContain('random control');
    expect(text).toContain('→ green');
    const files = (await fs.readdir(path.join(out, 'adversarial'))).sort();
    expect(files).toEqual(['red-0-control.png', 'red-0.png', 'red-1-control.png', 'red-1.png', 'red-2-control.png', 'red-2.png']);
    expect((await fs.readdir(path.join(out, 'perturbation'))).length).toBe(3);
    const strip = await sharp(path.join(out, 'heatmaps', 'red-0.png')).metadata();
    // Six 32-px panels (16 px images at scale 2) under a 20-px title row, over the colour scale and the note (38 px);
    // at least 420 px wide, so that the legend fits.
    expect([strip.width, strip.height]).toEqual([Math.max(6 * 32 + 5 * 4, 420), 20 + 32 + 38]);
    const result = JSON.parse(await fs.readFile(path.join(out, 'result.json'), 'utf8')) as {
      unit: { suppress: number[]; targetedSuccess: { total: number } }; control: { suppress: number[] };
    };
    expect(result).toMatchObject({ kind: 'unit-attack', seed: 4, epsilon: 8 / 255, labelsFrom: 'prediction', target: { name: 'green' } });
    expect(result.unit.suppress).toEqual([0]);
    expect(result.control.suppress).toHaveLength(1);
    expect(result.unit.targetedSuccess.total).toBe(3);
    // What is saved is what fools: the saved PNG is within ε of the clean image.
    const adv = await sharp(path.join(out, 'adversarial', 'red-0.png')).raw().toBuffer();
    const clean = await sharp(path.join(images, 'red-0.png')).raw().toBuffer();
    let maxDiff = 0;
    for (let i = 0; i < adv.length; i++) maxDiff = Math.max(maxDiff, Math.abs(adv[i] - clean[i]));
    expect(maxDiff).toBeLessThanOrEqual(8);
    expect(maxDiff).toBeGreaterThan(0);
  });

  it('draws a robustness curve of a logit attack for an ε list', async () => {
    const out = path.join(dir, 'curve');
    const io = captureIO();
    const code = await main(['attack', '--backend', 'cpu', '--model', model, '--image', path.join(images, 'red-1.png'), '--label', 'red',
      '--target', 'blue', '--eps', '0,2/255,8/255', '--steps', '4', '--out', out, '--json'], io);
    expect(code, io.stderr.join('\n')).toBe(0);
    const printed = JSON.parse(io.stdout.join('\n')) as { curve: { rows: Array<{ label: string }> } };
    expect(printed.curve.rows.map((r) => r.label)).toEqual(['0', '2/255', '8/255']);
    for (const f of ['curve.txt', 'curve.csv', 'curve.json', 'curve.png', 'result.json', 'adversarial/red-1.png']) {
      await expect(fs.stat(path.join(out, f)), f).resolves.toBeTruthy();
    }
    expect((await fs.readFile(path.join(out, 'curve.csv'), 'utf8')).split('\n')[0]).toMatch(/^epsilon,label,arm/);
    const result = JSON.parse(await fs.readFile(path.join(out, 'result.json'), 'utf8')) as { curve: unknown; kind: string };
    expect(result.kind).toBe('logit-attack');
    expect(result.curve).toBeTruthy();
  });

  it('runs autoattack and reports its components and the gradient-masking checks in the table and result.json', async () => {
    const out = path.join(dir, 'aa');
    const io = captureIO();
    const before = tf.memory().numTensors;
    const code = await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--label', 'red', '--attack', 'autoattack',
      '--eps', '2/255', '--steps', '5', '--target-classes', '2', '--queries', '20', '--out', out], io);
    expect(code, io.stderr.join('\n')).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const text = io.stdout.join('\n');
    expect(text).toMatch(/autoattack attack on 3 image/);
    expect(text).toMatch(/apgd-ce\s+3 → \d → \d/);
    expect(text).toMatch(/fab-t\s+(\d → \d → \d|did not run: no image was left robust)/);
    const result = JSON.parse(await fs.readFile(path.join(out, 'result.json'), 'utf8')) as {
      attack: string; checks: Array<{ check: string; flagged: boolean }>; autoattack: { version: string; components: Array<{ name: string }> }; warnings: string[];
    };
    expect(result.attack).toBe('autoattack');
    expect(result.autoattack.version).toBe('standard');
    expect(result.autoattack.components.map((c) => c.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(result.checks.map((c) => c.check)).toEqual(expect.arrayContaining(['accuracy-at-zero', 'nondeterministic', 'softmax-outputs', 'zero-gradients']));
    // The colour model has 3 classes: APGD-T falls back to targeted cross-entropy and says so.
    expect(io.stderr.join('\n')).toMatch(/warning: apgd-t: the targeted DLR loss needs at least 4 classes/);
  });

  it('runs apgd-ce and warns of gradient masking on a curve', async () => {
    const out = path.join(dir, 'apgd');
    const io = captureIO();
    const code = await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--label', 'red', '--attack', 'apgd-ce',
      '--eps', '0,1/255,2/255', '--steps', '4', '--out', out, '--json'], io);
    expect(code, io.stderr.join('\n')).toBe(0);
    const printed = JSON.parse(io.stdout.join('\n')) as { attack: string; checks: unknown[]; curve: { checks: Array<{ check: string }> } };
    expect(printed.attack).toBe('apgd-ce');
    expect(printed.checks).toHaveLength(4);
    expect(printed.curve.checks.map((c) => c.check)).toEqual(['curve-rises', 'accuracy-at-zero']);
  });

  it('skips and names an unreadable image (listed in result.json), and refuses to write over an earlier run unless --force', async () => {
    const mixed = path.join(dir, 'mixed');
    await fs.mkdir(mixed);
    await fs.copyFile(path.join(images, 'red-0.png'), path.join(mixed, 'red-0.png'));
    const good = await fs.readFile(path.join(images, 'red-1.png'));
    await fs.writeFile(path.join(mixed, 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
    const out = path.join(dir, 'skip');
    const args = ['attack', '--backend', 'cpu', '--model', model, '--images', mixed, '--label', 'red', '--attack', 'fgsm', '--eps', '8/255', '--out', out];
    const io = captureIO();
    expect(await main(args, io), io.stderr.join('\n')).toBe(0);
    expect(io.stderr.join('\n')).toMatch(/skipped '.*truncated\.png'/);
    expect(io.stdout.join('\n')).toMatch(/fgsm attack on 1 image\(s\) .*, 1 step, seed/); // one step, whatever --steps says
    const result = JSON.parse(await fs.readFile(path.join(out, 'result.json'), 'utf8')) as { skipped: Array<{ file: string; reason: string }> };
    expect(result.skipped.map((x) => path.basename(x.file))).toEqual(['truncated.png']);
    await expect(fs.stat(path.join(out, 'adversarial', 'red-0.png'))).resolves.toBeTruthy();
    const strict = captureIO();
    expect(await main([...args.slice(0, -2), '--out', path.join(dir, 'skip-strict'), '--strict'], strict)).toBe(2);
    const again = captureIO();
    expect(await main(args, again)).toBe(2);
    expect(again.stderr.join('\n')).toMatch(/not empty[\s\S]*--force/);
    await fs.writeFile(path.join(out, 'adversarial', 'stale.png'), 'old run');
    expect(await main([...args, '--force'], captureIO())).toBe(0);
    await expect(fs.stat(path.join(out, 'adversarial', 'stale.png'))).rejects.toThrow();
  });

  it('exits 2 with a clear message on bad input', async () => {
    const io = captureIO();
    expect(await main(['attack', '--backend', 'cpu', '--model', model, '--images', path.join(dir, 'nope'), '--out', path.join(dir, 'x')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/cannot read the folder/);
    const io2 = captureIO();
    expect(await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--target', 'purple', '--out', path.join(dir, 'y')], io2)).toBe(2);
    expect(io2.stderr.join('\n')).toMatch(/purple/);
    const io3 = captureIO();
    expect(await main(['attack', '--backend', 'cpu', '--model', model, '--images', images, '--excite-units', '9', '--out', path.join(dir, 'z')], io3)).toBe(2);
    expect(io3.stderr.join('\n')).toMatch(/unit 9/);
  });
});
