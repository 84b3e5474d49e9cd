/** Tiny models, inputs and scenario files for the scenario tests, in temporary folders. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { stringify } from 'yaml';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { encodePng } from '../../src/data/images.js';
import { SCENE_CLASSES } from '../../src/data/scenes/index.js';
import { saveLayersModel } from '../../src/models/io.js';

export function tempDir(prefix = 'ua-scen-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function captureIO(): CliIO & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = []; const stderr: string[] = [];
  return {
    stdout, stderr, isTTY: false,
    out: (t) => { stdout.push(stripAnsi(t)); },
    err: (t) => { stderr.push(stripAnsi(t)); },
    text: () => [...stdout, ...stderr].join('\n'),
  };
}

/**
 * The colour classifier, saved: a 1×1 conv `units` whose units 0, 1, 2 pass red, green, blue (3–5 are colour
 * differences), global average pooling, and logits 20 × units 0–2. The class is the dominant colour, so raising unit
 * 1 and lowering unit 0 turns a red image green.
 */
export async function saveColourModel(dir: string, size = 16): Promise<string> {
  const m = tf.sequential({ name: 'colour' });
  m.add(tf.layers.conv2d({ name: 'units', inputShape: [size, size, 3], filters: 6, kernelSize: 1, activation: 'relu' }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ name: 'logits', units: 3 }));
  const k = [1, 0, 0, 1, 0, -1, 0, 1, 0, -1, 1, 0, 0, 0, 1, 0, -1, 1];
  m.layers[0].setWeights([tf.tensor4d(k, [1, 1, 3, 6]), tf.zeros([6])]);
  const d = new Float32Array(18);
  for (let i = 0; i < 3; i++) d[i * 3 + i] = 20;
  m.layers[2].setWeights([tf.tensor2d(d, [6, 3]), tf.zeros([3])]);
  await saveLayersModel(m, dir, { classes: ['red', 'green', 'blue'], preprocessing: 'unit', defaultLayer: 'units' });
  m.dispose();
  return dir;
}

/** A tiny seeded CNN on 32×32 inputs with the scene world's classes (untrained: predictions are arbitrary). */
export async function saveTinySceneModel(dir: string, size = 32, seed = 5): Promise<string> {
  const m = tf.sequential({ name: 'tiny-scenes' });
  m.add(tf.layers.conv2d({ name: 'conv1', inputShape: [size, size, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed }) }));
  m.add(tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }));
  m.add(tf.layers.conv2d({ name: 'conv2', filters: 12, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed + 1 }) }));
  m.add(tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ name: 'predictions', units: SCENE_CLASSES.length, kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 2 }) }));
  await saveLayersModel(m, dir, { classes: [...SCENE_CLASSES], preprocessing: 'unit', defaultLayer: 'conv2' });
  m.dispose();
  return dir;
}

/** Deterministic tinted grey images for the colour model: `n` per class, with their labels file. */
export async function writeColourImages(dir: string, perClass = 3, size = 16, tint = 12): Promise<{ folder: string; labels: string }> {
  const folder = path.join(dir, 'images');
  mkdirSync(folder, { recursive: true });
  const rows = ['file,class'];
  const classes = ['red', 'green', 'blue'];
  let state = 12345;
  const rand = (): number => { state = (state * 1103515245 + 12345) % 2147483648; return state / 2147483648; };
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < perClass; k++) {
      const grey = 90 + Math.floor(rand() * 80);
      const data = new Uint8Array(size * size * 3);
      for (let i = 0; i < size * size; i++) {
        for (let ch = 0; ch < 3; ch++) data[i * 3 + ch] = Math.max(0, Math.min(255, grey + (ch === c ? tint : 0) + Math.floor(rand() * 9) - 4));
      }
      const name = `${classes[c]}-${k}.png`;
      writeFileSync(path.join(folder, name), await encodePng({ data, width: size, height: size }));
      rows.push(`${name},${classes[c]}`);
    }
  }
  const labels = path.join(dir, 'labels.csv');
  writeFileSync(labels, rows.join('\n') + '\n');
  return { folder, labels };
}

/** Writes a scenario file (YAML with the schema comment) and returns its path. */
export function writeScenario(dir: string, name: string, doc: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.yaml`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, '# yaml-language-server: $schema=../schema/scenario.schema.json\n' + stringify(doc));
  return file;
}
