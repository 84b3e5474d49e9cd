import path from 'node:path';
import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { renderScene, sampleScenes } from '../../src/data/scenes/index.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadClassifier } from '../../src/models/io.js';
import { calibrateScenario, roundOutward, suggestThreshold } from '../../src/scenarios/calibrate.js';
import { loadScenario } from '../../src/scenarios/load.js';
import { captureIO, saveTinySceneModel, tempDir, writeScenario } from './helpers.js';

const dir = tempDir('ua-calib-');
const model = path.join(dir, 'scenes');
const SEED = 40;
const COUNT = 12;

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  await saveTinySceneModel(model);
});

/** Clean accuracy on the synthetic inputs of seed `seed`, computed directly from the scene world and the model. */
async function bruteForceAccuracy(seed: number): Promise<number> {
  const clf = await loadClassifier(model);
  const specs = sampleScenes({ count: COUNT, seed, classes: [...clf.classNames], size: 32 });
  let right = 0;
  for (const s of specs) {
    const r = renderScene({ cls: s.cls, seed: s.seed, size: 32 });
    const pred = tf.tidy(() => {
      const x = tf.div<tf.Tensor4D>(tf.tensor4d(Float32Array.from(r.image), [1, 32, 32, 3]), 255);
      return tf.argMax(clf.logits(x), 1).dataSync()[0];
    });
    if (clf.classNames[pred] === s.cls) right++;
  }
  clf.dispose();
  return right / COUNT;
}

describe('suggestThreshold', () => {
  it('should leave the margin under the lowest rate and over the highest, rounded outwards', () => {
    expect(suggestThreshold({ metric: 'targeted_success', min: 0.45 }, [0.52, 0.43, 0.5], 0.03)).toEqual({ min: 0.4 });
    expect(suggestThreshold({ metric: 'random_control_success', max: 0.1 }, [0.06, 0.12, 0.08], 0.03)).toEqual({ max: 0.15 });
    // Clamped to [0, 1].
    expect(suggestThreshold({ metric: 'clean_accuracy', min: 0.05 }, [0.02, 0.3], 0.03)).toEqual({ min: 0 });
    expect(suggestThreshold({ metric: 'robust_accuracy', max: 0.99 }, [0.99, 1], 0.03)).toEqual({ max: 1 });
  });

  it('should keep a threshold that every value already clears with the margin', () => {
    expect(suggestThreshold({ metric: 'targeted_success', min: 0.3 }, [0.52, 0.43], 0.03)).toEqual({ min: 0.3 });
    expect(suggestThreshold({ metric: 'random_control_success', max: 0.2 }, [0.06, 0.12], 0.03)).toEqual({ max: 0.2 });
  });

  it('should keep an enforced constraint that every sample meets about equally', () => {
    expect(suggestThreshold({ metric: 'psnr', min: 35 }, [35.2, 35.2, 35.2], 0.03)).toEqual({ min: 35 });
    expect(suggestThreshold({ metric: 'psnr', min: 35 }, [35.268, 35.297, 35.281], 0.03)).toEqual({ min: 35 });
    expect(suggestThreshold({ metric: 'linf', max: 5 / 255 }, [5 / 255, 5 / 255], 0.03)).toEqual({ max: 5 / 255 });
    // float32 measurements of ε sit a hair above the float64 bound.
    expect(suggestThreshold({ metric: 'linf', max: 2 / 255 }, [Math.fround(2 / 255), 2 / 255], 0.03)).toEqual({ max: 2 / 255 });
  });

  it('should leave the samples\' spread as room for metrics that are not fractions', () => {
    // Lowest 0.39, spread 0.026: 0.364 → 0.36.
    expect(suggestThreshold({ metric: 'unit_effect_excited', min: 0.4 }, [0.416, 0.39], 0.03)).toEqual({ min: 0.36 });
    // Lowest 30 dB, spread 2 dB: 28 dB.
    expect(suggestThreshold({ metric: 'psnr', min: 31 }, [30, 32], 0.03)).toEqual({ min: 28 });
    // Highest 0.5, spread 0.2: 0.7.
    expect(suggestThreshold({ metric: 'l2', max: 0.6 }, [0.3, 0.5], 0.03)).toEqual({ max: 0.7 });
  });

  it('should ignore values that could not be measured', () => {
    expect(suggestThreshold({ metric: 'clean_accuracy', min: 0.9 }, [Number.NaN, 0.8], 0.03)).toEqual({ min: 0.77 });
    expect(suggestThreshold({ metric: 'clean_accuracy', min: 0.9 }, [Number.NaN], 0.03)).toEqual({});
  });
});

describe('roundOutward', () => {
  it('should round down or up to 2 decimals, 3 below 0.1, without floating-point slips', () => {
    expect(roundOutward(0.4299, -1)).toBe(0.42);
    expect(roundOutward(0.43 - 0.03, -1)).toBe(0.4);
    expect(roundOutward(0.151, 1)).toBe(0.16);
    expect(roundOutward(0.0456, -1)).toBe(0.045);
    expect(roundOutward(0.0456, 1)).toBe(0.046);
  });
});

describe('calibrateScenario', () => {
  it('should run the scenario on its own seed and the others and gather what each measured', async () => {
    const file = writeScenario(dir, 'evaluate', {
      name: 'tiny', model, inputs: { synthetic: { count: COUNT, seed: SEED } }, expectations: { clean_accuracy: { min: 0 } },
    });
    const before = tf.memory().numTensors;
    const c = await calibrateScenario(await loadScenario(file), { seeds: 3 });
    expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
    expect(c.seeds).toEqual([SEED, SEED + 1, SEED + 2, SEED + 3]);
    expect(c.results.map((r) => r.seeds.inputs)).toEqual(c.seeds);
    const expected: number[] = [];
    for (const s of c.seeds) expected.push(await bruteForceAccuracy(s));
    const row = c.rows[0];
    expect(row.metric).toBe('clean_accuracy');
    row.values.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 10));
    expect(row.lowest).toBeCloseTo(Math.min(...expected), 10);
    expect(row.highest).toBeCloseTo(Math.max(...expected), 10);
    expect(c.held).toBe(true);
  });

  it('should refuse folder inputs, naming the field', async () => {
    const file = writeScenario(dir, 'folder', {
      name: 'folder', model, inputs: { synthetic: { count: COUNT, seed: SEED } }, expectations: { clean_accuracy: { min: 0 } },
    });
    const s = await loadScenario(file);
    const folder = { ...s, inputs: { kind: 'folder' as const, folder: dir, labelsFile: path.join(dir, 'labels.csv'), entries: [], fit: 'crop' as const } };
    await expect(calibrateScenario(folder)).rejects.toThrow(/synthetic inputs, but this scenario reads a folder/);
    await expect(calibrateScenario(s, { seeds: 0 })).rejects.toThrow(/--seeds/);
  });
});

describe('unit-attack calibrate', () => {
  it('should exit 1 and print thresholds to paste when a sample fails, 0 when all hold', async () => {
    const own = await bruteForceAccuracy(SEED);
    const others = [await bruteForceAccuracy(SEED + 1), await bruteForceAccuracy(SEED + 2)];
    // A threshold at the own sample's accuracy: it holds there, and on the others only where they are no lower.
    const file = writeScenario(dir, 'tight', {
      name: 'tight', model, inputs: { synthetic: { count: COUNT, seed: SEED } }, expectations: { clean_accuracy: { min: own } },
    });
    const io = captureIO();
    const code = await main(['calibrate', file, '--seeds', '2', '--backend', 'cpu', '--quiet', '--workers', '1'], io);
    const failing = others.some((a) => a < own);
    expect(code).toBe(failing ? 1 : 0);
    const text = io.text();
    expect(text).toContain(`${SEED} (own)`);
    if (failing) expect(text).toContain(`clean_accuracy: { min: ${roundOutward(Math.max(0, Math.min(own, ...others) - 0.03), -1)} }`);

    const loose = writeScenario(dir, 'loose', {
      name: 'loose', model, inputs: { synthetic: { count: COUNT, seed: SEED } }, expectations: { clean_accuracy: { min: 0 } },
    });
    const io2 = captureIO();
    expect(await main(['calibrate', loose, '--seeds', '2', '--backend', 'cpu', '--quiet', '--workers', '1', '--json'], io2)).toBe(0);
    const io3 = captureIO();
    expect(await main(['calibrate', loose, '--seeds', '2', '--backend', 'cpu', '--quiet', '--workers', '1'], io3)).toBe(0);
    expect(io3.text()).toMatch(/clean_accuracy .*≥ 0\.000 \(keep\)/);
    const json = JSON.parse(io2.stdout.join('\n')) as { seeds: number[]; rows: Array<{ values: number[] }> };
    expect(json.seeds).toEqual([SEED, SEED + 1, SEED + 2]);
    json.rows[0].values.forEach((v, i) => expect(v).toBeCloseTo([own, ...others][i], 10));
  });

  it('should exit 2 on bad options, naming them', async () => {
    const io = captureIO();
    expect(await main(['calibrate', 'x.yaml', '--seeds', '0'], io)).toBe(2);
    expect(io.text()).toMatch(/--seeds/);
    const io2 = captureIO();
    expect(await main(['calibrate', 'x.yaml', '--margin', '-1'], io2)).toBe(2);
    expect(io2.text()).toMatch(/--margin/);
  });
});
