import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

describe('the package entry point', () => {
  it('exports each stage of the pipeline by name', () => {
    const names = Object.keys(api);
    for (const name of [
      'initBackend', 'backendInfo', 'UnitAttackError', 'loadClassifier', 'fromLayersModel', 'buildVgg16', 'importModel',
      'loadImage', 'savePng', 'renderScene', 'writeBrodenDataset', 'readBrodenDataset',
      'dissect', 'loadAtlas', 'pgd', 'fgsm', 'cw', 'square', 'runAttack', 'ssim', 'psnr', 'unitEffect',
      'trainScenesModel',
    ]) expect(names, name).toContain(name);
  });
});

describe('a script that imports the package', () => {
  it('runs on the fastest backend without calling initBackend, and keeps a backend it chose itself', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const path = await import('node:path');
    const root = path.resolve(import.meta.dirname, '..');
    const run = async (code: string): Promise<string> => (await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root })).stdout.trim();
    const entry = JSON.stringify(path.join(root, 'src/index.ts'));
    const tfEntry = JSON.stringify(path.join(root, 'src/tf.ts'));
    expect(await run(`import { loadClassifier } from ${entry}; import * as tf from ${tfEntry};
      const clf = await loadClassifier('builtin:scenes-vgg16'); console.log(tf.getBackend()); clf.dispose();`)).toBe('wasm');
    expect(await run(`import { loadClassifier } from ${entry}; import * as tf from ${tfEntry};
      await tf.setBackend('cpu'); const clf = await loadClassifier('builtin:scenes-vgg16'); console.log(tf.getBackend()); clf.dispose();`)).toBe('cpu');
  }, 60_000);
});
