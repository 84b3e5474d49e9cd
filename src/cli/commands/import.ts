import path from 'node:path';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { importModel } from '../../models/import/import.js';
import type { PreprocessPreset } from '../../models/types.js';
import type { CommandSpec, GlobalArgs } from '../command.js';
import { table } from '../format.js';

/** Parses `--input-size`: `224` or `224x320`. */
export function parseInputSize(v: unknown): [number, number] | undefined {
  if (v === undefined) return undefined;
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : '';
  const m = /^(\d+)(?:[x×,](\d+))?$/.exec(text.trim());
  const h = m ? Number(m[1]) : NaN;
  const w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(h >= 1 && w >= 1)) {
    throw usageError(`--input-size must be a size like 224 or 224x320, got '${text}'`, { path: '--input-size' });
  }
  return [h, w];
}

export const importCommand: CommandSpec = {
  name: 'import',
  describe: 'Import an ONNX or Keras .h5 model into a model folder every command reads',
  options: {
    from: { type: 'string', demandOption: true, describe: 'the model file: .onnx (e.g. from torch.onnx.export) or Keras .h5' },
    out: { type: 'string', demandOption: true, describe: 'the folder to write (model.json, weights.bin, unit-attack.json)' },
    classes: { type: 'string', describe: 'class names: one per line (categories_places365.txt works as is) or a JSON array' },
    preprocess: {
      type: 'string', choices: ['torch', 'caffe', 'tf', 'unit'],
      describe: 'what the model expects: torch (ImageNet mean/std), caffe (BGR 0-255 minus mean), tf ([-1, 1]), unit ([0, 1]); default torch for ONNX, caffe for Keras',
    },
    'input-size': { type: 'string', describe: 'height[xwidth] for ONNX models exported without a fixed image size' },
    description: { type: 'string', describe: 'a description for the model folder' },
    force: { type: 'boolean', default: false, describe: 'replace a model already in --out' },
    json: { type: 'boolean', default: false, describe: 'print JSON' },
  },
  examples: [
    ['unit-attack import --from resnet18_places365.onnx --out models/resnet18-places365 --classes categories_places365.txt',
      'import a PyTorch model exported to ONNX'],
    ['unit-attack import --from vgg16_weights_tf_dim_ordering_tf_kernels.h5 --out models/vgg16 --classes imagenet.txt --preprocess caffe',
      'import Keras VGG-16 weights into the VGG-16 builder'],
  ],
  check(argv: GlobalArgs) {
    parseInputSize(argv['input-size']);
    if (path.resolve(String(argv.from)) === path.resolve(String(argv.out))) {
      throw usageError('--out must be a folder, not the model file itself', { path: '--out' });
    }
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const inputSize = parseInputSize(argv['input-size']);
    const started = Date.now();
    const r = await importModel(argv.from as string, argv.out as string, {
      ...(argv.classes !== undefined ? { classes: argv.classes as string } : {}),
      ...(argv.preprocess !== undefined ? { preprocess: argv.preprocess as PreprocessPreset } : {}),
      ...(inputSize ? { inputSize } : {}),
      ...(argv.description !== undefined ? { description: argv.description as string } : {}),
      overwrite: argv.force as boolean,
    });
    const seconds = (Date.now() - started) / 1000;
    if (argv.json) {
      io.out(JSON.stringify({ ...r, aliases: Object.keys(r.aliases).length, seconds }, null, 2));
      return 0;
    }
    const rows = [
      ['folder', r.dir],
      ['source', `${r.source.file} (${r.format}${r.source.opset !== undefined ? `, opset ${r.source.opset}` : ''}${r.source.producer ? `, ${r.source.producer}` : ''})`],
      ['input', `${r.inputSize[0]}×${r.inputSize[1]}×3, preprocessing ${r.preprocess}`],
      ['classes', `${r.classes.length} (${r.classes.slice(0, 3).join(', ')}${r.classes.length > 3 ? ', …' : ''})`],
      ['layers', `${r.layers} (${(r.parameters / 1e6).toFixed(2)} M parameters)`],
      ['default layer', r.defaultLayer],
      ['layer aliases', String(Object.keys(r.aliases).length)],
      ['time', `${seconds.toFixed(1)} s`],
    ];
    io.out(table([['imported', ''], ...rows]));
    for (const n of r.notes) if (!argv.quiet) io.err(`note: ${n}`);
    io.out(`check it: unit-attack predict --model ${r.dir} --image <image>`);
    return 0;
  },
};
