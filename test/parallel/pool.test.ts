import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAttack } from '../../src/attacks/registry.js';
import { unitAttack, disposeUnitAttack } from '../../src/attacks/unit/index.js';
import type { AttackProgress } from '../../src/attacks/types.js';
import { buildArgv } from '../../src/cli/main.js';
import { dissect } from '../../src/dissection/dissect.js';
import { initBackend } from '../../src/engine/backend.js';
import type { WorkerPool } from '../../src/parallel/executor.js';
import { UnitAttackError } from '../../src/errors.js';
import { PACKAGE_ROOT, loadClassifier, saveLayersModel } from '../../src/models/io.js';
import type { Classifier } from '../../src/models/types.js';
import { checkWorkers, lazyPool, startPool, withPool } from '../../src/parallel/index.js';
import { colorLayersModel, writeColorProbe } from '../dissection/fixtures.js';

let dir: string;
let tinyDir: string;
let clf: Classifier;
let pool: WorkerPool;

/** A small seeded CNN on 16×16 inputs with 3 classes. */
function tinyLayersModel(): tf.LayersModel {
  const m = tf.sequential({ name: 'tiny' });
  const init = (seed: number): ReturnType<typeof tf.initializers.heNormal> => tf.initializers.heNormal({ seed });
  m.add(tf.layers.conv2d({ name: 'conv1', inputShape: [16, 16, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(3), biasInitializer: tf.initializers.constant({ value: 0.05 }) }));
  m.add(tf.layers.conv2d({ name: 'conv2', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(4), biasInitializer: tf.initializers.constant({ value: 0.05 }) }));
  m.add(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ name: 'logits', units: 3, kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }) }));
  return m;
}

function images(n: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.div<tf.Tensor4D>(tf.round(tf.mul(tf.randomUniform([n, 16, 16, 3], 0, 1, 'float32', seed), 255)), 255));
}

async function same(a: tf.Tensor, b: tf.Tensor): Promise<boolean> {
  const [x, y] = [await a.data(), await b.data()];
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-pool-'));
  tinyDir = path.join(dir, 'tiny');
  await saveLayersModel(tinyLayersModel(), tinyDir, { classes: ['a', 'b', 'c'] });
  clf = await loadClassifier(tinyDir);
  pool = await startPool({ model: tinyDir, classifier: clf, workers: 2 });
});

afterAll(async () => {
  await pool?.close();
  clf?.dispose();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('attacks over a worker pool', () => {
  it('PGD gives byte-identical adversarial images with 1 and 2 workers, with one progress report per step', async () => {
    const x = images(7, 11);
    const labels = [0, 1, 2, 0, 1, 2, 0];
    const spec = { kind: 'pgd', epsilon: '8/255', steps: 6, seed: 9, restarts: 2 } as const;
    const one = await runAttack(clf, x, labels, spec);
    const steps: AttackProgress[] = [];
    const before = tf.memory().numTensors;
    const two = await withPool(pool, () => runAttack(clf, x, labels, { ...spec, onProgress: (p) => steps.push(p) }));
    expect(tf.memory().numTensors).toBe(before + 1); // the result's adversarial images
    expect(await same(one.adversarial, two.adversarial)).toBe(true);
    expect(Array.from(two.predictions)).toEqual(Array.from(one.predictions));
    expect(Array.from(two.steps)).toEqual(Array.from(one.steps));
    expect(Array.from(two.queries)).toEqual(Array.from(one.queries));
    expect(two.success).toEqual(one.success);
    expect(two.details).toEqual(one.details);
    expect(steps.length).toBe(12);
    expect(steps.map((p) => p.step).slice(0, 7)).toEqual([1, 2, 3, 4, 5, 6, 1]);
    one.adversarial.dispose(); two.adversarial.dispose(); x.dispose();
  });

  it('the unit attack and its random control are identical with 1 and 2 workers', async () => {
    const x = images(5, 12);
    const labels = [0, 1, 2, 0, 1];
    const opts = { layer: 'conv2', suppressUnits: [1, 2], exciteUnits: [5], epsilon: '8/255', steps: 4, seed: 3 };
    const one = await unitAttack(clf, x, labels, opts);
    const two = await withPool(pool, () => unitAttack(clf, x, labels, opts));
    for (const arm of ['unit', 'control'] as const) {
      expect(await same(one[arm]!.attack.adversarial, two[arm]!.attack.adversarial)).toBe(true);
      expect(two[arm]!.unitEffect.suppressed.mean).toBe(one[arm]!.unitEffect.suppressed.mean);
    }
    disposeUnitAttack(one); disposeUnitAttack(two); x.dispose();
  });

  it('Square draws the same windows for an image whatever shard it is in', async () => {
    const x = images(4, 13);
    const spec = { kind: 'square', epsilon: '8/255', queries: 15, seed: 2 } as const;
    const one = await runAttack(clf, x, [0, 1, 2, 0], spec);
    const two = await withPool(pool, () => runAttack(clf, x, [0, 1, 2, 0], spec));
    expect(await same(one.adversarial, two.adversarial)).toBe(true);
    one.adversarial.dispose(); two.adversarial.dispose(); x.dispose();
  });

  it('APGD-T and the AutoAttack ensemble give the same images with 1 and 2 workers', async () => {
    const x = images(6, 15);
    const labels = [0, 1, 2, 0, 1, 2];
    for (const spec of [
      { kind: 'apgd-t', epsilon: '4/255', steps: 5, seed: 4, targetClasses: 2 },
      { kind: 'autoattack', epsilon: '4/255', steps: 4, seed: 4, targetClasses: 2, queries: 10 },
    ] as const) {
      const one = await runAttack(clf, x, labels, spec);
      const two = await withPool(pool, () => runAttack(clf, x, labels, spec));
      expect(await same(one.adversarial, two.adversarial), spec.kind).toBe(true);
      expect(Array.from(two.steps)).toEqual(Array.from(one.steps));
      one.adversarial.dispose(); two.adversarial.dispose();
    }
    x.dispose();
  });

  it('work on another classifier stays on this thread', async () => {
    const other = await loadClassifier(tinyDir);
    const x = images(3, 14);
    const r = await withPool(pool, () => runAttack(other, x, [0, 1, 2], { kind: 'fgsm', epsilon: '4/255' }));
    expect(r.backend).toBe('wasm');
    r.adversarial.dispose(); x.dispose(); other.dispose();
  });
});

describe('dissection over a worker pool', () => {
  it('writes the same atlas with 1 and 2 workers (thresholds, IoU, class importance, ablation)', async () => {
    const probeDir = path.join(dir, 'probe');
    await writeColorProbe(probeDir, 20);
    const modelDir = path.join(dir, 'colors');
    await saveLayersModel(colorLayersModel(), modelDir, { classes: ['blue_scene', 'red_scene'] });
    const colors = await loadClassifier(modelDir);
    const colorPool = await startPool({ model: modelDir, classifier: colors, workers: 2 });
    try {
      const opts = { quantile: 0.05, cache: false, batchSize: 4, tmpDir: dir, topN: 2 };
      const strip = (a: object): object => ({ ...a, created: undefined, seconds: undefined });
      const one = await dissect(colors, probeDir, opts);
      const phases: string[] = [];
      const two = await withPool(colorPool, () => dissect(colors, probeDir, { ...opts, onProgress: (p) => { if (!phases.includes(p.phase)) phases.push(p.phase); } }));
      expect(strip(two.atlas)).toEqual(strip(one.atlas));
      expect(phases).toEqual(['activations', 'iou', 'importance', 'gradients', 'ablation']);
      expect(one.atlas.units[0].concept).toBe('redthing');
      expect(Object.keys(one.atlas.classImportance).sort()).toEqual(['blue_scene', 'red_scene']);
    } finally {
      await colorPool.close();
      colors.dispose();
    }
  });
});

describe('a pool started on demand', () => {
  it('starts no more workers than a dissection has shards', async () => {
    const probeDir = path.join(dir, 'probe-one-shard');
    await writeColorProbe(probeDir, 8);
    const modelDir = path.join(dir, 'colors-limit');
    await saveLayersModel(colorLayersModel(), modelDir, { classes: ['blue_scene', 'red_scene'] });
    const colors = await loadClassifier(modelDir);
    const pool = lazyPool({ model: modelDir, classifier: colors, workers: 3 });
    try {
      // 16 images in batches of 64: one shard.
      const opts = { quantile: 0.05, cache: false, batchSize: 64, tmpDir: dir, importance: false };
      const one = await dissect(colors, probeDir, opts);
      const pooled = await withPool(pool, () => dissect(colors, probeDir, opts));
      expect(pool.size).toBe(1);
      expect(pooled.atlas.units).toEqual(one.atlas.units);
    } finally {
      await pool.close();
      colors.dispose();
    }
    const started = lazyPool({ model: modelDir, classifier: colors, workers: 2 });
    started.limit?.(5);
    expect(started.size).toBe(2); // a limit never raises the count
    await started.close();
  });
});

describe('failing workers', () => {
  let modulePath: string;
  beforeAll(async () => {
    modulePath = path.join(dir, 'crash-tasks.mjs');
    const poolModule = pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'parallel', 'executor.js')).href;
    await fs.writeFile(modulePath, [
      `import { registerPoolTask } from ${JSON.stringify(poolModule)};`,
      "registerPoolTask('echo', async (ctx, input) => ({ value: { n: input.n, worker: ctx.worker } }));",
      "registerPoolTask('exit', async () => { process.exit(7); });",
      "registerPoolTask('throw', async () => { throw new Error('boom'); });",
    ].join('\n'));
  });

  // One pool for the next two tests, in order: a task that throws keeps its worker; a worker that exits is lost.
  let shared: WorkerPool;
  beforeAll(async () => { shared = await startPool({ model: tinyDir, classifier: clf, workers: 2, modules: [modulePath] }); });
  afterAll(async () => { await shared?.close(); });

  it('turns a task that throws into a UA_WORKER error naming the worker and the item, and keeps the worker', async () => {
    await expect(shared.run({ kind: 'throw', input: {}, label: 'item 5' })).rejects.toMatchObject({
      code: 'UA_WORKER', message: expect.stringMatching(/^worker [12] of 2 failed on item 5: boom$/) as unknown,
    });
    const r = await shared.map<{ n: number; worker: number }>([0, 1, 2, 3].map((n) => ({ kind: 'echo', input: { n }, label: `item ${n}` })));
    expect(r.map((v) => v.n)).toEqual([0, 1, 2, 3]);
    expect(new Set(r.map((v) => v.worker)).size).toBe(2);
  });

  it('fails the task of a worker that exits, names the worker and the item, and carries on with the other worker', async () => {
    const runs = [
      shared.run({ kind: 'echo', input: { n: 0 }, label: 'item 0' }),
      shared.run({ kind: 'exit', input: {}, label: 'item 1' }),
      shared.run({ kind: 'echo', input: { n: 2 }, label: 'item 2' }),
      shared.run({ kind: 'echo', input: { n: 3 }, label: 'item 3' }),
    ];
    const settled = await Promise.allSettled(runs);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const err = (settled[1] as PromiseRejectedResult).reason as UnitAttackError;
    expect(err).toBeInstanceOf(UnitAttackError);
    expect(err.code).toBe('UA_WORKER');
    expect(err.message).toMatch(/^worker [12] of 2 exited with code 7 while running item 1$/);
    expect((settled[3] as PromiseFulfilledResult<{ n: number }>).value.n).toBe(3);
  });

  it('fails the tasks still queued when no worker is left, and map rejects with the first failure', async () => {
    const p = await startPool({ model: tinyDir, classifier: clf, workers: 1, modules: [modulePath] });
    try {
      const tasks = [{ kind: 'exit', input: {}, label: 'item 0' }, { kind: 'echo', input: { n: 1 }, label: 'item 1' }];
      await expect(p.map(tasks)).rejects.toThrow(/^worker 1 of 1 exited with code 7 while running item 0$/);
      await expect(p.run({ kind: 'echo', input: { n: 2 }, label: 'item 2' })).rejects.toThrow(/no worker is left to run item 2 \(worker 1 exited with code 7\)/);
    } finally {
      await p.close();
    }
  });

  it('refuses workers whose model differs from the classifier given (class names here)', async () => {
    await expect(startPool({ model: tinyDir, classifier: clf, workers: 1, load: { classNames: ['x', 'y', 'z'] } })).rejects.toMatchObject({
      code: 'UA_WORKER', message: expect.stringMatching(/loaded '.*' with other class names than the one given/) as unknown,
    });
  });

  it('fails to start with a clear error when the workers cannot load the model', async () => {
    await expect(startPool({ model: path.join(dir, 'missing'), classifier: clf, workers: 1 })).rejects.toMatchObject({
      code: 'UA_WORKER', message: expect.stringMatching(/^worker 1 of 1 could not load/) as unknown,
    });
  });
});

describe('--workers', () => {
  it('rejects 0, negative and fractional counts as usage errors naming the flag', () => {
    for (const bad of ['0', '-1', '1.5', 'two']) {
      expect(() => buildArgv(['attack', '--synthetic', 'beach', '--out', 'o', '--workers', bad])).toThrow(/--workers must be a whole number of worker threads ≥ 1/);
    }
    expect(() => buildArgv(['dissect', '--out', 'o', '--workers', '0'])).toThrow(/--workers/);
    expect(() => buildArgv(['predict', '--image', 'a.png', '--workers', '0'])).toThrow(/--workers/);
    expect(() => buildArgv(['run', 'a.yaml', '--workers', '0'])).toThrow(/--workers/);
    expect(buildArgv(['attack', '--synthetic', 'beach', '--out', 'o', '--workers', '2']).workers).toBe(2);
  });

  it('allows more workers than cores with a warning', () => {
    const cores = os.availableParallelism();
    expect(checkWorkers(cores)).toEqual({ workers: cores });
    const many = checkWorkers(cores + 1);
    expect(many.workers).toBe(cores + 1);
    expect(many.warning).toMatch(/more than the \d+ cores? of this machine/);
  });
});

describe('UNIT_ATTACK_WORKERS', () => {
  it('warns above the core count like --workers, keeps 0 on the main thread, and names itself when invalid', async () => {
    const { workersOf } = await import('../../src/cli/workers.js');
    const err: string[] = [];
    const io = { out: () => undefined, err: (t: string) => { err.push(t); }, isTTY: false };
    const saved = process.env.UNIT_ATTACK_WORKERS;
    try {
      process.env.UNIT_ATTACK_WORKERS = String(os.availableParallelism() + 3);
      expect(workersOf({ backend: 'auto', debug: false, quiet: false }, io)).toBe(os.availableParallelism() + 3);
      expect(err.join('\n')).toMatch(/UNIT_ATTACK_WORKERS \d+ is more than the \d+ core/);
      process.env.UNIT_ATTACK_WORKERS = '0';
      expect(workersOf({ backend: 'auto', debug: false, quiet: false }, io)).toBe(1);
      process.env.UNIT_ATTACK_WORKERS = 'lots';
      expect(() => workersOf({ backend: 'auto', debug: false, quiet: false }, io)).toThrow(/UNIT_ATTACK_WORKERS must be a whole number/);
    } finally {
      if (saved === undefined) delete process.env.UNIT_ATTACK_WORKERS; else process.env.UNIT_ATTACK_WORKERS = saved;
    }
  });
});
