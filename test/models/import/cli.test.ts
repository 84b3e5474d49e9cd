import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../../src/cli/command.js';
import { parseInputSize } from '../../../src/cli/commands/import.js';
import { stripAnsi } from '../../../src/cli/format.js';
import { buildArgv, main } from '../../../src/cli/main.js';
import { FIXTURES } from './helpers.js';

const root = path.resolve(import.meta.dirname, '..', '..', '..');
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-import-cli-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

describe('unit-attack import: arguments', () => {
  it('parses its options and checks --input-size and --out', () => {
    const argv = buildArgv(['import', '--from', 'm.onnx', '--out', 'dir', '--preprocess', 'caffe', '--input-size', '224x192']);
    expect(argv.from).toBe('m.onnx');
    expect(argv.preprocess).toBe('caffe');
    expect(argv.force).toBe(false);
    expect(parseInputSize(argv['input-size'])).toEqual([224, 192]);
    expect(parseInputSize('64')).toEqual([64, 64]);
    expect(() => buildArgv(['import', '--from', 'm.onnx', '--out', 'dir', '--input-size', 'big'])).toThrow(/--input-size must be a size like 224/);
    expect(() => buildArgv(['import', '--from', 'm.onnx', '--out', 'dir', '--preprocess', 'imagenet'])).toThrow(/preprocess/);
    expect(() => buildArgv(['import', '--from', 'm.onnx', '--out', 'm.onnx'])).toThrow(/--out must be a folder/);
    expect(() => buildArgv(['import', '--out', 'dir'])).toThrow(/from/);
  });
});

describe('unit-attack import: runs', () => {
  it('imports an ONNX model that predict then reads, with the class names given', async () => {
    const out = path.join(dir, 'vgg');
    const io = captureIO();
    const code = await main(['import', '--backend', 'wasm', '--from', path.join(FIXTURES, 'vgg_like.onnx'), '--out', out,
      '--classes', path.join(FIXTURES, 'classes10.txt'), '--preprocess', 'unit'], io);
    expect(io.stderr.join('\n')).toBe('');
    expect(code).toBe(0);
    const text = io.stdout.join('\n');
    expect(text).toContain('vgg_like.onnx (onnx, opset 13, pytorch 1.13');
    expect(text).toContain('32×32×3, preprocessing unit');
    expect(text).toContain(`unit-attack predict --model ${out}`);
    const p = captureIO();
    expect(await main(['predict', '--backend', 'wasm', '--model', out, '--image', path.join(root, 'examples', 'beach.png'), '--json'], p)).toBe(0);
    const res = JSON.parse(p.stdout.join('\n')) as { results: Array<{ top: Array<{ class: string; probability: number }> }> };
    expect(res.results[0].top).toHaveLength(5);
    expect(res.results[0].top[0].class).toMatch(/^class_[a-j]$/);
  });

  it('exits 2 with what was found and what to do, for every kind of bad input', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--from', path.join(FIXTURES, 'unsupported.onnx')], /Einsum ×2, NonZero ×1, Resize ×1/],
      [['--from', path.join(FIXTURES, 'opset19.onnx')], /opset 19; the importer supports opsets 7 to 18/],
      [['--from', path.join(FIXTURES, 'vgg16_keras_bad.h5')], /block3_conv2: expects weights \[3, 3, 16, 16\], \[16\], found \[3, 3, 16, 12\]/],
      [['--from', path.join(root, 'examples', 'beach.png')], /neither an ONNX model nor a Keras HDF5 file/],
      [['--from', path.join(FIXTURES, 'resnet_like.onnx'), '--classes', path.join(FIXTURES, 'onnx-expected.json')], /class names, but the model outputs 10 classes/],
      [['--from', path.join(dir, 'none.onnx')], /no file at/],
    ];
    for (const [args, text] of cases) {
      const io = captureIO();
      const code = await main(['import', '--backend', 'wasm', ...args, '--out', path.join(dir, 'bad')], io);
      expect(code, args.join(' ')).toBe(2);
      expect(io.stderr.join('\n')).toMatch(text);
    }
    await expect(fs.stat(path.join(dir, 'bad', 'model.json'))).rejects.toThrow();
  });
});
