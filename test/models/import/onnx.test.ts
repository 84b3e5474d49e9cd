import { promises as fs, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { fromLayersModel } from '../../../src/models/classifier.js';
import { convertModelFile, importModel, parseClassNames, resolveClasses } from '../../../src/models/import/import.js';
import { withLayerAliases } from '../../../src/models/import/aliases.js';
import { convertOnnx } from '../../../src/models/import/onnx/convert.js';
import { decodeOnnx } from '../../../src/models/import/onnx/proto.js';
import { modulePaths, sanitizeLayerName } from '../../../src/models/import/names.js';
import { loadClassifier } from '../../../src/models/io.js';
import { expectNoLeak, relError } from '../../helpers.js';
import { FIXTURES, expectError, nchw, onnxExpected, pixels } from './helpers.js';

const expected = onnxExpected();
const families = Object.entries(expected.families);
let dir: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-import-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('ONNX import of each CNN family (torch.onnx.export, opset 13)', () => {
  it.each(families)('%s reproduces PyTorch\'s logits and intermediate activation within 1e-4', async (name, f) => {
    const start = tf.memory().numTensors;
    const m = await convertModelFile(path.join(FIXTURES, f.model), { preprocess: f.preprocess });
    expect(m.format).toBe('onnx');
    expect(m.inputSize).toEqual([32, 32]);
    expect(m.source.opset).toBe(13);
    const clf = withLayerAliases(fromLayersModel(m.model, { preprocessing: m.preprocess, name }), m.aliases);
    const x = pixels(expected);
    await expectNoLeak(() => {
      const r = clf.run(x, { taps: [f.tap.module] });
      expect(relError(r.logits.dataSync(), f.logits.flat())).toBeLessThan(1e-4);
      const tap = r.taps[f.tap.module];
      expect([tap.shape[0], tap.shape[3], tap.shape[1], tap.shape[2]]).toEqual(f.tap.shape);
      expect(relError(nchw(tap), f.tap.values)).toBeLessThan(1e-4);
      return r;
    });
    x.dispose();
    clf.dispose();
    expect(tf.memory().numTensors).toBe(start); // disposing the model frees every weight the import made
  });

  it('names layers after the ONNX nodes and answers to module paths and ONNX output names', async () => {
    const f = expected.families.resnet_like;
    const m = await convertModelFile(path.join(FIXTURES, f.model), { preprocess: f.preprocess });
    const names = m.model.layers.map((l) => l.name);
    expect(names).toContain('layer2/layer2.0/conv2/Conv');
    expect(names).toContain('layer2/layer2.0/bn2/BatchNormalization');
    expect(m.aliases.layer2).toBe('layer2/layer2.0/relu_1/Relu');
    expect(m.aliases['/layer2/layer2.0/relu_1/Relu']).toBe('layer2/layer2.0/relu_1/Relu');
    expect(m.aliases[f.tap.onnxOutput!]).toBe('layer2/layer2.0/relu_1/Relu');
    expect(m.aliases['layer2.0.downsample.0']).toBe('layer2/layer2.0/downsample/downsample.0/Conv');
    // The grouped conv (groups = 4) is the custom layer; batch norm stays a layer of its own.
    expect(m.model.getLayer('layer2/layer2.0/conv2/Conv').getClassName()).toBe('UnitAttackGroupConv2D');
    expect(m.model.getLayer('layer1/layer1.0/bn1/BatchNormalization').getClassName()).toBe('BatchNormalization');
    expect(m.defaultLayer).toBe('layer3/layer3.0/relu_1/Relu');
    const clf = withLayerAliases(fromLayersModel(m.model, { preprocessing: m.preprocess }), m.aliases);
    const x = pixels(expected);
    const [a, b] = tf.tidy(() => [clf.activations(x, 'layer2'), clf.activations(x, f.tap.onnxOutput!)]);
    expect(relError(a.dataSync(), b.dataSync())).toBe(0);
    expect(clf.layer('layer2').name).toBe('layer2/layer2.0/relu_1/Relu');
    tf.dispose([a, b, x]);
    clf.dispose();
  });

  it('maps each operator to the layer it should become (depthwise, ReLU6, SiLU, squeeze-excite, pools)', async () => {
    const classes = async (name: string): Promise<Record<string, string>> => {
      const f = expected.families[name];
      const m = await convertModelFile(path.join(FIXTURES, f.model), { preprocess: f.preprocess });
      const out = Object.fromEntries(m.model.layers.map((l) => [l.name, l.getClassName()]));
      m.model.dispose();
      return out;
    };
    const mobile = await classes('mobilenet_like');
    expect(mobile['features/features.1/conv/conv.0/conv.0.0/Conv']).toBe('DepthwiseConv2D');
    expect(mobile['features/features.4/conv/conv.1/conv.1.0/Conv']).toBe('DepthwiseConv2D'); // channel multiplier 2
    expect(mobile['features/features.0/features.0.2/Clip']).toBe('ReLU'); // ReLU6
    const eff = await classes('efficientnet_like');
    expect(eff['features/features.1/block/block.1/avgpool/GlobalAveragePool']).toBe('AveragePooling2D');
    expect(eff['features/features.2/block/block.2/ReduceMean']).toBe('AveragePooling2D');
    expect(eff['features/features.1/block/block.1/scale_activation/Sigmoid']).toBe('Activation');
    expect(eff['features/features.1/block/block.1/Mul']).toBe('Multiply');
    const dense = await classes('densenet_like');
    expect(dense['features/denseblock1/Concat']).toBe('Concatenate');
    expect(dense['features/transition2/pool/AveragePool']).toBe('UnitAttackPool2D'); // ceil mode, padding not counted
    expect(dense['features/pool5/MaxPool']).toBe('MaxPooling2D'); // ceil mode on 5×5 = TF's 'same'
    expect(dense['features/pool0/MaxPool']).toBe('UnitAttackPool2D'); // 3×3/2 padding 1 on 32×32 ≠ 'same'
    expect(dense['features/transition1/norm/BatchNormalization']).toBe('BatchNormalization'); // after a concat: not folded
    const vgg = await classes('vgg_like');
    expect(vgg.Clip).toBe('UnitAttackAffineClip'); // clamp(-0.5, 2)
    expect(vgg.Pad).toBe('ZeroPadding2D');
    expect(vgg['classifier/classifier.3/MatMul']).toBe('Dense');
  });

  it('writes a model folder that loadClassifier reads, with classes, preprocessing and aliases', async () => {
    const f = expected.families.densenet_like;
    const out = path.join(dir, 'densenet');
    const r = await importModel(path.join(FIXTURES, f.model), out, {
      preprocess: f.preprocess, classes: path.join(FIXTURES, 'classes10.txt'),
    });
    expect(r.layers).toBeGreaterThan(20);
    expect(r.parameters).toBeGreaterThan(1000);
    const sidecar = JSON.parse(readFileSync(path.join(out, 'unit-attack.json'), 'utf8')) as Record<string, unknown>;
    expect(sidecar.preprocessing).toBe('caffe');
    expect((sidecar.source as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
    const clf = await loadClassifier(out);
    expect(clf.classNames[0]).toBe('class_a');
    expect(clf.preprocessing.preset).toBe('caffe');
    expect(clf.defaultLayer).toBe(r.defaultLayer);
    const x = pixels(expected);
    await expectNoLeak(() => {
      const res = clf.run(x, { taps: ['features.denseblock2'] });
      expect(relError(res.logits.dataSync(), f.logits.flat())).toBeLessThan(1e-4);
      expect(relError(nchw(res.taps['features.denseblock2']), f.tap.values)).toBeLessThan(1e-4);
      return res;
    });
    // Edits work through an alias too: zeroing every unit of the tapped block zeroes its output.
    const edited = clf.withEdits('features.denseblock2', { op: 'keep', units: [] });
    const t = edited.activations(x, 'features.denseblock2');
    expect(tf.max(tf.abs(t)).dataSync()[0]).toBe(0);
    tf.dispose([t, x]);
    clf.dispose();
    await expectError(importModel(path.join(FIXTURES, f.model), out, {}), 'UA_USAGE', /already holds a model[\s\S]*--force/);
    await importModel(path.join(FIXTURES, f.model), out, { overwrite: true, preprocess: f.preprocess });
  });

  it('drops a final Softmax, so the model outputs logits, and says so', async () => {
    const f = expected.families.tiny_softmax;
    const m = await convertModelFile(path.join(FIXTURES, f.model), { preprocess: f.preprocess });
    expect(m.notes.join(' ')).toMatch(/final Softmax .* dropped/);
    const clf = fromLayersModel(m.model, { preprocessing: m.preprocess });
    const x = pixels(expected);
    const logits = clf.logits(x);
    expect(relError(logits.dataSync(), f.logits.flat())).toBeLessThan(1e-4);
    tf.dispose([logits, x]);
    clf.dispose();
  });

  it('takes the input size from the user when the export left height and width symbolic', () => {
    const bytes = readFileSync(path.join(FIXTURES, 'mobilenet_like.onnx'));
    const onnx = decodeOnnx(bytes);
    onnx.graph.inputs[0].shape = [null, 3, null, null];
    expect(() => convertOnnx(onnx, { file: 'm.onnx' })).toThrow(/no fixed height and width/);
    const c = convertOnnx(onnx, { file: 'm.onnx', inputSize: [32, 32] });
    expect(c.inputSize).toEqual([32, 32]);
    c.model.dispose();
  });
});

describe('ONNX import errors', () => {
  it('lists every unsupported operator at once, with counts', async () => {
    const e = await expectError(convertModelFile(path.join(FIXTURES, 'unsupported.onnx')), 'UA_MODEL',
      /3 operator types .*not support: Einsum ×2, NonZero ×1, Resize ×1/);
    expect(e.hint).toMatch(/supported operators: .*Conv.*Gemm/);
  });

  it('says which opset was found and which are supported', async () => {
    await expectError(convertModelFile(path.join(FIXTURES, 'opset19.onnx')), 'UA_MODEL', /opset 19; the importer supports opsets 7 to 18[\s\S]*opset_version/);
    await expectError(convertModelFile(path.join(FIXTURES, 'opset6.onnx')), 'UA_MODEL', /opset 6; the importer supports opsets 7 to 18/);
  });

  it('refuses files that are neither ONNX nor HDF5, saying what they look like', async () => {
    const file = (name: string, bytes: Uint8Array | string): string => {
      const p = path.join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const random = new Uint8Array(4096);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    await expectError(convertModelFile(file('random.bin', random)), 'UA_INPUT', /neither an ONNX model nor a Keras HDF5 file/);
    await expectError(convertModelFile(file('model.json', '{"modelTopology": {}}')), 'UA_INPUT', /is JSON[\s\S]*needs no import/);
    await expectError(convertModelFile(file('m.keras', new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]))), 'UA_INPUT', /zip archive[\s\S]*model\.h5/);
    await expectError(convertModelFile(path.join(dir, 'missing.onnx')), 'UA_USAGE', /no file at/);
  });

  it('checks the class names against the output size', async () => {
    const f = expected.families.vgg_like;
    const classes = path.join(dir, 'three.txt');
    await fs.writeFile(classes, 'a\nb\nc\n');
    await expectError(convertModelFile(path.join(FIXTURES, f.model), { classes }), 'UA_USAGE', /has 3 class names, but the model outputs 10 classes[\s\S]*exactly 10/);
    await expectError(resolveClasses(['a', 'a'], 2), 'UA_USAGE', /'a' twice/);
    await expectError(resolveClasses(path.join(dir, 'nope.txt'), 2), 'UA_USAGE', /cannot read the classes file/);
  });
});

describe('class name files', () => {
  it('reads one name per line, JSON arrays, and categories_places365.txt as it is', () => {
    expect(parseClassNames('tench\ngoldfish\n\n')).toEqual(['tench', 'goldfish']);
    expect(parseClassNames('["a b", "c"]')).toEqual(['a b', 'c']);
    expect(parseClassNames('/a/airfield 0\n/a/airplane_cabin 1\n/b/bedroom 2\n')).toEqual(['airfield', 'airplane_cabin', 'bedroom']);
    expect(() => parseClassNames('[1, 2]')).toThrow(/JSON array of strings/);
  });
});

describe('layer names', () => {
  it('makes ONNX node names valid TF.js names and reads torch module paths from them', () => {
    expect(sanitizeLayerName('/layer1/layer1.0/conv1/Conv', 'x')).toBe('layer1/layer1.0/conv1/Conv');
    expect(sanitizeLayerName('onnx::Conv_57', 'x')).toBe('onnx__Conv_57');
    expect(sanitizeLayerName('::', 'Conv_3')).toBe('Conv_3');
    expect(modulePaths('/layer4/layer4.1/conv1/Conv')).toEqual(['layer4', 'layer4.1', 'layer4.1.conv1']);
    expect(modulePaths('/features/denseblock1/denselayer2/Concat')).toEqual(['features', 'features.denseblock1', 'features.denseblock1.denselayer2']);
    expect(modulePaths('/layer2/layer2.0/downsample/downsample.0/Conv')).toEqual(['layer2', 'layer2.0', 'layer2.0.downsample', 'layer2.0.downsample.0']);
    expect(modulePaths('/features/features.2/block/block.3/block.3.0/Conv')).toEqual(
      ['features', 'features.2', 'features.2.block', 'features.2.block.3', 'features.2.block.3.0']);
    expect(modulePaths('Conv_0')).toEqual([]);
  });
});

