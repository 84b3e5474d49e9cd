import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect, isTrainImage } from '../../src/dissection/dissect.js';
import { unitsForClass, unitsForConcepts } from '../../src/dissection/atlas.js';
import { steeringRanking } from '../../src/dissection/gradients.js';
import { fromLayersModel } from '../../src/models/classifier.js';
import { colorModel, writeColorProbe } from './fixtures.js';

let dir: string;
let probeDir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-dissect-'));
  probeDir = path.join(dir, 'probe');
  await writeColorProbe(probeDir, 24, { corrupt: true });
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('dissect', () => {
  it('finds the concept a hand-wired unit detects, skips the corrupt image, and leaves no tensors behind', async () => {
    const clf = colorModel();
    const warnings: string[] = [];
    const phases = new Set<string>();
    const before = tf.memory().numTensors;
    const { atlas, cached } = await dissect(clf, probeDir, {
      quantile: 0.05, cache: false, batchSize: 10, tmpDir: dir,
      onWarning: (m) => warnings.push(m), onProgress: (p) => phases.add(p.phase),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(cached).toBe(false);
    expect(atlas.layer).toBe('block'); // the default: the last layer with spatial maps
    expect(atlas.layerShape).toEqual([4, 4, 3]);
    expect(atlas.labelSize).toEqual([8, 8]);
    expect(atlas.skipped).toBe(1);
    expect(atlas.skippedIds).toEqual([path.join('red_scene', 'broken.png')]);
    expect(warnings.some((w) => w.includes('broken.png'))).toBe(true);
    expect(atlas.probe.used).toBe(48);
    expect([...phases]).toEqual(['activations', 'iou', 'importance', 'gradients', 'ablation']);

    const [u0, u1] = atlas.units;
    expect(u0.concept).toBe('redthing');
    expect(u0.category).toBe('object');
    expect(u0.iou).toBeGreaterThan(0.2);
    expect(u0.perCategory.material.concept).toBe('ground');
    expect(u0.perCategory.material.iou).toBe(0);
    expect(u1.concept).toBe('bluething');
    // The strongest images of unit 0 are red scenes, with maps of the layer's size.
    expect(u0.topImages).toHaveLength(8);
    expect(u0.topImages.every((t) => t.id.startsWith('red_scene'))).toBe(true);
    expect(u0.topImages[0].map).toHaveLength(16);
    expect(u0.topImages[0].value).toBeCloseTo(Math.max(...u0.topImages[0].map), 4);

    expect(unitsForConcepts(atlas, ['redthing'])).toEqual([0]);
    expect(() => unitsForConcepts(atlas, ['sky'])).toThrowError(/no unit .* 'sky'/);

    // Class importance: red_scene depends on unit 0, and ablating it breaks the class but not blue_scene.
    expect(unitsForClass(atlas, 'red_scene', 1)).toEqual([0]);
    expect(unitsForClass(atlas, 'blue_scene', 1)).toEqual([1]);
    const red = atlas.ablation.red_scene;
    expect(red.baseAccuracy).toBe(1);
    expect(red.N).toEqual([1, 2, 3]); // topN is capped at the number of units
    expect(red.ablateAccuracy[0]).toBe(0);
    expect(red.othersAccuracy[0]).toBe(1);
    expect(red.keepAccuracy[0]).toBe(1);
    // Unit 2 is ignored by the output: zeroing it changes no log-probability.
    const imp = atlas.classImportance.red_scene;
    expect(imp.drops[imp.ranking.indexOf(2)]).toBe(0);
    expect(imp.count + red.count).toBe(24);
    // Class gradients: the head is a global average pool and a dense layer, so Σ_p ∂z_k/∂a_u(p) is the dense
    // weight W[u][k] on every image (W = [[0, 10], [10, 0], [0, 0]]; classes blue_scene, red_scene).
    for (const name of ['red_scene', 'blue_scene']) {
      const g = atlas.classGradients![name];
      expect(g.count).toBe(atlas.classImportance[name].count);
      expect(g.split).toBe('train');
      [[0, 10, 0], [10, 0, 0]].forEach((row, k) => row.forEach((w, u) => expect(g.gain[k][u]).toBeCloseTo(w, 3)));
      // blue_scene's logit reads unit 1 only, red_scene's unit 0 only: their other attributions are 0
      for (const u of [0, 2]) expect(g.attribution[0][u]).toBeCloseTo(0, 6);
      for (const u of [1, 2]) expect(g.attribution[1][u]).toBeCloseTo(0, 6);
    }
    expect(atlas.classGradients!.red_scene.attribution[1][0]).toBeGreaterThan(0.1); // the red unit fires on red scenes
    // On red scenes the red unit 0 holds red_scene up against blue_scene: it is the first to suppress.
    expect(steeringRanking(atlas.classGradients!.red_scene, 1, 0, atlas.units.map((u) => u.threshold)).suppress[0]).toBe(0);
    clf.dispose();
  });

  it('finds the same label at the default 1% quantile', async () => {
    const clf = colorModel();
    const { atlas } = await dissect(clf, probeDir, { cache: false, importance: false, tmpDir: dir });
    expect(atlas.units[0].concept).toBe('redthing');
    expect(atlas.units[0].iou).toBeGreaterThan(0.04);
    expect(atlas.importanceNote).toMatch(/not asked/);
    expect(atlas.classImportance).toEqual({});
    clf.dispose();
  });

  it('caches results by model, layer, probe and parameters', async () => {
    const clf = colorModel();
    const cacheDir = path.join(dir, 'cache');
    const first = await dissect(clf, probeDir, { cacheDir, importance: false, tmpDir: dir });
    expect(first.cached).toBe(false);
    expect(first.cacheFile).toMatch(/dissect[/\\][0-9a-f]+\.json$/);
    const second = await dissect(clf, probeDir, { cacheDir, importance: false, tmpDir: dir });
    expect(second.cached).toBe(true);
    expect(second.cacheFile).toBe(first.cacheFile);
    expect(JSON.parse(JSON.stringify(second.atlas))).toEqual(JSON.parse(JSON.stringify(first.atlas)));
    const third = await dissect(clf, probeDir, { cacheDir, importance: false, tmpDir: dir, iouThreshold: 0.1 });
    expect(third.cached).toBe(false);
    expect(third.cacheFile).not.toBe(first.cacheFile);
    expect((await fs.readdir(path.join(cacheDir, 'dissect'))).filter((f) => f.endsWith('.json'))).toHaveLength(2);
    clf.dispose();
  });

  it('returns the atlas and warns when the cache cannot be written', async () => {
    const clf = colorModel();
    // A cache folder under a file: mkdir fails with ENOTDIR, whoever runs the test (root ignores permissions).
    const blocker = path.join(dir, 'not-a-folder');
    await fs.writeFile(blocker, 'x');
    const warnings: string[] = [];
    const r = await dissect(clf, probeDir, { cacheDir: path.join(blocker, 'cache'), importance: false, tmpDir: dir, onWarning: (m) => warnings.push(m) });
    expect(r.cached).toBe(false);
    expect(r.cacheFile).toBeUndefined();
    expect(r.atlas.units.length).toBeGreaterThan(0);
    expect(warnings.join('\n')).toMatch(/could not be cached[\s\S]*UNIT_ATTACK_CACHE/);
    clf.dispose();
  });

  it('two processes dissecting the same thing at once both finish, and leave one valid cache file', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const root = path.resolve(import.meta.dirname, '../..');
    const cacheDir = path.join(dir, 'cache-concurrent');
    const script = [
      `import { dissect } from ${JSON.stringify(path.join(root, 'src/dissection/dissect.ts'))};`,
      `import { colorModel } from ${JSON.stringify(path.join(root, 'test/dissection/fixtures.ts'))};`,
      `import * as tf from ${JSON.stringify(path.join(root, 'src/tf.ts'))};`,
      "await tf.setBackend('cpu');",
      `const r = await dissect(colorModel(), ${JSON.stringify(probeDir)}, { cacheDir: ${JSON.stringify(cacheDir)}, importance: false, tmpDir: ${JSON.stringify(dir)} });`,
      'console.log(JSON.stringify({ cached: r.cached, units: r.atlas.units.map((u) => u.iou) }));',
    ].join('\n');
    const run = promisify(execFile);
    const once = async (): Promise<{ cached: boolean; units: number[] }> =>
      JSON.parse((await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root })).stdout.trim().split('\n').pop()!) as { cached: boolean; units: number[] };
    const outs = await Promise.all([once(), once()]);
    expect(outs[0].units).toEqual(outs[1].units);
    const files = await fs.readdir(path.join(cacheDir, 'dissect'));
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(1);
    // A third process (a fresh one: in-memory models' fingerprints depend on the layer names a process gives them)
    // reads the file they left: it parses.
    const third = await once();
    expect(third.cached).toBe(true);
    expect(third.units).toEqual(outs[0].units);
  }, 120_000);

  it('re-ranks class importance greedily when asked, for the named classes, under its own cache entry', async () => {
    const clf = colorModel();
    const cacheDir = path.join(dir, 'cache-greedy');
    const single = await dissect(clf, probeDir, { cacheDir, quantile: 0.05, tmpDir: dir });
    const greedy = await dissect(clf, probeDir, { cacheDir, quantile: 0.05, tmpDir: dir, ranking: 'greedy', rankingClasses: ['red_scene'] });
    expect(greedy.cached).toBe(false);
    expect(greedy.cacheFile).not.toBe(single.cacheFile);
    expect(greedy.atlas.params.ranking).toBe('greedy');
    expect(greedy.atlas.params.rankingClasses).toEqual(['red_scene']);
    expect(single.atlas.params.ranking).toBeUndefined();
    // The red class still depends on unit 0 first; the blue class keeps its single-unit ranking.
    expect(greedy.atlas.classImportance.red_scene.ranking[0]).toBe(0);
    expect([...greedy.atlas.classImportance.red_scene.ranking].sort()).toEqual([0, 1, 2]);
    expect(greedy.atlas.classImportance.blue_scene).toEqual(single.atlas.classImportance.blue_scene);
    await expect(dissect(clf, probeDir, { cache: false, tmpDir: dir, ranking: 'greedy', rankingClasses: ['green_scene'] }))
      .rejects.toThrow(/'green_scene', which is not a class of the model/);
    clf.dispose();
  });

  it('names the layer when it has no spatial maps, and suggests names for an unknown one', async () => {
    const clf = colorModel();
    await expect(dissect(clf, probeDir, { layer: 'logits', cache: false })).rejects.toThrowError(/without spatial maps/);
    await expect(dissect(clf, probeDir, { layer: 'blok', cache: false })).rejects.toMatchObject({ code: 'UA_LAYER' });
    await expect(dissect(clf, probeDir, { quantile: 2, cache: false })).rejects.toThrowError(/quantile must be in/);
    clf.dispose();
  });

  it('leaves its temporary activation file nowhere', async () => {
    const tmp = path.join(dir, 'tmp-check');
    await fs.mkdir(tmp);
    const clf = colorModel();
    await dissect(clf, probeDir, { cache: false, importance: false, tmpDir: tmp });
    expect(await fs.readdir(tmp)).toEqual([]);
    clf.dispose();
  });

  it('works on a Sequential model without classes in the probe', async () => {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ name: 'c', inputShape: [32, 32, 3], filters: 2, kernelSize: 8, strides: 8, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tf.layers.flatten({}));
    m.add(tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
    const clf = fromLayersModel(m);
    const flat = path.join(dir, 'flat');
    await fs.mkdir(flat);
    for (const f of await fs.readdir(path.join(probeDir, 'blue_scene'))) await fs.copyFile(path.join(probeDir, 'blue_scene', f), path.join(flat, f));
    const { atlas } = await dissect(clf, flat, { cache: false, tmpDir: dir });
    expect(atlas.units).toHaveLength(2);
    expect(atlas.importanceNote).toMatch(/no classes/);
    clf.dispose();
  });
});

describe('isTrainImage', () => {
  it('splits about the asked share, the same way every time', () => {
    const n = 10_000;
    const train = Array.from({ length: n }, (_, i) => isTrainImage(i, 1, 0.5)).filter(Boolean).length;
    expect(Math.abs(train / n - 0.5)).toBeLessThan(0.02);
    expect(isTrainImage(17, 3, 0.3)).toBe(isTrainImage(17, 3, 0.3));
  });
});
