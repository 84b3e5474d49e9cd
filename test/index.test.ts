import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

describe('the package entry point', () => {
  it('exports each stage of the pipeline by name', () => {
    const names = Object.keys(api);
    for (const name of [
      'initBackend', 'backendInfo', 'UnitAttackError', 'loadClassifier', 'fromLayersModel', 'buildVgg16', 'importModel',
      'loadImage', 'savePng', 'perturbationPicture', 'renderScene', 'writeBrodenDataset', 'readBrodenDataset',
      'dissect', 'loadAtlas', 'QuantileSketch', 'pgd', 'fgsm', 'cw', 'square', 'runAttack', 'ssim', 'psnr', 'unitEffect',
      'trainScenesModel',
    ]) expect(names, name).toContain(name);
  });
});
