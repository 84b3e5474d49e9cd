import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../../src/tf.js';
import * as h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { fromLayersModel } from '../../../src/models/classifier.js';
import { convertModelFile, importModel } from '../../../src/models/import/import.js';
import { readKerasH5 } from '../../../src/models/import/keras/h5.js';
import { loadClassifier } from '../../../src/models/io.js';
import { expectNoLeak, relError } from '../../helpers.js';
import { FIXTURES, expectError, kerasExpected, nchw, pixels } from './helpers.js';

const expected = kerasExpected();
let dir: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-keras-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('Keras .h5 reader', () => {
  it('reads layer names and weights in Keras\' layout (layer_names, weight_names, <layer>/<layer>/kernel:0)', async () => {
    const h5 = await readKerasH5(path.join(FIXTURES, expected.weights));
    expect(h5.modelConfig).toBeUndefined();
    expect(h5.kerasVersion).toBe('2.11.0');
    expect(h5.layers[0].name).toBe('input_1');
    const conv = h5.layers.find((l) => l.name === 'block1_conv1')!;
    expect(conv.weights.map((w) => [w.name, w.shortName, w.shape])).toEqual([
      ['block1_conv1/kernel:0', 'kernel', [3, 3, 3, 4]], ['block1_conv1/bias:0', 'bias', [4]],
    ]);
    expect(h5.layers.find((l) => l.name === 'block1_pool')!.weights).toEqual([]);
  });
});

describe('Keras .h5 import', () => {
  it('loads weights-only files into the VGG-16 builder, inferring width, fc width, input size and classes', async () => {
    const m = await convertModelFile(path.join(FIXTURES, expected.weights), { preprocess: 'caffe' });
    expect(m.format).toBe('keras-vgg16-weights');
    expect(m.inputSize).toEqual([expected.inputSize, expected.inputSize]);
    expect(m.model.getLayer('fc1').outputShape).toEqual([null, expected.fcWidth]);
    expect(m.defaultLayer).toBe('block5_conv3');
    const clf = fromLayersModel(m.model, { preprocessing: m.preprocess });
    const x = pixels(expected);
    await expectNoLeak(() => {
      const r = clf.run(x, { taps: ['block4_conv3'] });
      expect(relError(r.logits.dataSync(), expected.logits.flat())).toBeLessThan(1e-4);
      expect(relError(nchw(r.taps.block4_conv3), expected.tap.values)).toBeLessThan(1e-4);
      return r;
    });
    x.dispose();
    clf.dispose();
  });

  it('builds whole-model files from their model_config, making the softmax output linear', async () => {
    const out = path.join(dir, 'vgg-model');
    const r = await importModel(path.join(FIXTURES, expected.model), out, {});
    expect(r.format).toBe('keras-model');
    expect(r.preprocess).toBe('caffe'); // the Keras default
    expect(r.notes.join(' ')).toMatch(/softmax of the output layer 'predictions' was dropped/);
    const clf = await loadClassifier(out);
    const x = pixels(expected);
    const logits = clf.logits(x);
    expect(relError(logits.dataSync(), expected.logits.flat())).toBeLessThan(1e-4);
    tf.dispose([logits, x]);
    clf.dispose();
  });

  it('names each layer that does not fit the builder, with expected and found shapes', async () => {
    const e = await expectError(convertModelFile(path.join(FIXTURES, expected.bad)), 'UA_MODEL',
      /1 layer does not match the VGG-16 builder[\s\S]*block3_conv2: expects weights \[3, 3, 16, 16\], \[16\], found \[3, 3, 16, 12\], \[12\]/);
    expect(e.file).toContain(expected.bad);
  });

  it('says what is missing when a weights-only file is not VGG-16, and what a non-Keras HDF5 file is', async () => {
    const other = path.join(dir, 'other.h5');
    const f = new h5wasm.File(other, 'w');
    f.create_attribute('layer_names', ['dense_1']);
    const g = f.create_group('dense_1');
    g.create_attribute('weight_names', ['dense_1/kernel:0']);
    g.create_group('dense_1').create_dataset({ name: 'kernel:0', data: new Float32Array(6), shape: [2, 3], dtype: '<f' });
    f.close();
    await expectError(convertModelFile(other), 'UA_MODEL', /do not fit the VGG-16 builder: missing layers block1_conv1, .*predictions \(the file has dense_1\)/);
    const plain = path.join(dir, 'plain.h5');
    const p = new h5wasm.File(plain, 'w');
    p.create_dataset({ name: 'x', data: new Float32Array(4) });
    p.close();
    await expectError(convertModelFile(plain), 'UA_INPUT', /HDF5 but not in Keras' .h5 layout/);
    await expectError(convertModelFile(path.join(FIXTURES, expected.weights), { inputSize: 64 }), 'UA_USAGE', /--input-size applies to ONNX/);
  });
});
