import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect } from '../../src/dissection/dissect.js';
import * as tf from '../../src/tf.js';
import { colorModel, writeColorProbe } from './fixtures.js';

let dir: string;
let probeDir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-dissect-iqr-'));
  probeDir = path.join(dir, 'probe');
  await writeColorProbe(probeDir, 12);
});

afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe('classifier dissection with the IQR threshold', () => {
  it('matches the red-square unit with redthing at a level far above the top 1%, where the fixed top-1% threshold is held down by the ceiling', async () => {
    const clf = colorModel();
    const fixed = await dissect(clf, probeDir, { quantile: 0.01, cache: false, importance: false, tmpDir: dir });
    const iqr = await dissect(clf, probeDir, { quantile: 0.01, threshold: 'iqr', cache: false, importance: false, tmpDir: dir });
    const f0 = fixed.atlas.units[0]; const q0 = iqr.atlas.units[0];
    expect(q0.concept).toBe('redthing');
    expect(iqr.atlas.params.threshold).toBe('iqr');
    const red = q0.topConcepts.find((c) => c.concept === 'redthing')!;
    expect(red.level).toBeGreaterThan(0.05);
    expect(red.iqr).toBeGreaterThan(0);
    expect(q0.iou).toBeGreaterThan(2 * f0.iou);
    // At the top 1% the unit can reach at most its ceiling: far below what the IQR level reaches.
    expect(f0.iou).toBeLessThanOrEqual(f0.ceiling! + 1e-9);
    expect(f0.ceiling!).toBeLessThan(q0.iou);
    // The unit's threshold stays its top-quantile level.
    expect(q0.threshold).toBe(f0.threshold);
    await expect(dissect(clf, probeDir, { threshold: 'best' as 'iqr', cache: false })).rejects.toMatchObject({ code: 'UA_USAGE', path: 'threshold' });
    clf.dispose();
  });
});
