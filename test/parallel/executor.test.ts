import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import { renderScene, sceneLabelPlanes, sceneSpec } from '../../src/data/scenes/index.js';
import { QuantileSketch } from '../../src/dissection/quantile.js';
import { contextKind, InlineExecutor, poolTask, type Executor } from '../../src/parallel/executor.js';
import { startExecutor, startThreads } from '../../src/parallel/threads.js';
import { Prng } from '../../src/util/random.js';

// The executor's backends run the same registered handlers: the threads here run the built package (dist/), so
// `npm run build` must have run (the test runner's own prepare step does).

function values(units: number, perUnit: number, seed: number): Float32Array {
  const r = new Prng(seed);
  return Float32Array.from({ length: units * perUnit }, () => r.next() * 10 - 3);
}

/** Feeds three batches to a sketch bank on `exec` and reads it back. */
async function feed(exec: Executor): Promise<{ q: Float32Array; bytes: Uint8Array[]; afterReset: Float32Array }> {
  for (let b = 0; b < 3; b++) void exec.run({ kind: 'sketch-update', input: { values: values(4, 300, b + 1), perUnit: 300 }, label: `batch ${b}` });
  const q = await exec.run<Float32Array>({ kind: 'sketch-quantiles', input: { q: 0.9 }, label: 'q' });
  const bytes = await exec.run<Uint8Array[]>({ kind: 'sketch-serialize', input: null, label: 's' });
  await exec.run({ kind: 'sketch-reset', input: { seeds: [5, 6, 7, 8] }, label: 'r' });
  await exec.run({ kind: 'sketch-update', input: { values: values(4, 50, 9), perUnit: 50 }, label: 'after reset' });
  const afterReset = await exec.run<Float32Array>({ kind: 'sketch-quantiles', input: { q: 0.5 }, label: 'q2' });
  return { q, bytes, afterReset };
}

describe('the executor', () => {
  it('runs a stateful context (a bank of quantile sketches) to the same bytes inline and on a thread, and as the sketches themselves do', async () => {
    const spec = { k: 64, seeds: [1, 2, 3, 4] };
    const inline = new InlineExecutor(await (await contextKind('sketches')).load(spec) as object);
    const threads = await startThreads({ context: { kind: 'sketches', spec }, workers: 1 });
    try {
      expect(threads.backend).toBe('threads');
      const [a, b] = [await feed(inline), await feed(threads)];
      // Independently: the sketches fed by hand.
      const direct = spec.seeds.map((seed) => new QuantileSketch({ k: 64, seed }));
      for (let bi = 0; bi < 3; bi++) {
        const v = values(4, 300, bi + 1);
        direct.forEach((s, u) => s.update(v, u * 300, (u + 1) * 300));
      }
      expect(Array.from(a.q)).toEqual(direct.map((s) => Math.fround(s.quantile(0.9))));
      expect(Array.from(b.q)).toEqual(Array.from(a.q));
      expect(b.bytes.map((x) => Buffer.from(x).toString('hex'))).toEqual(a.bytes.map((x) => Buffer.from(x).toString('hex')));
      expect(Array.from(b.afterReset)).toEqual(Array.from(a.afterReset));
      const fresh = [5, 6, 7, 8].map((seed) => new QuantileSketch({ k: 64, seed }));
      const v = values(4, 50, 9);
      fresh.forEach((s, u) => s.update(v, u * 50, (u + 1) * 50));
      expect(Array.from(a.afterReset)).toEqual(fresh.map((s) => Math.fround(s.quantile(0.5))));
    } finally {
      await threads.close();
      await inline.close();
    }
  });

  it('renders a scene on a helper thread byte for byte as this thread does', async () => {
    const exec = await startThreads({ context: { kind: 'none', spec: {} }, workers: 1, unrefWhenIdle: true });
    try {
      const input = { seed: 7, index: 3, size: 64, classes: ['ski_resort', 'bedroom'] };
      const r = await exec.run<{ image: Uint8Array; labels: Uint16Array; cls: string }>({ kind: 'render-scene', input, label: 'scene 3' });
      const here = renderScene(sceneSpec(7, 3, { size: 64, classes: ['ski_resort', 'bedroom'] }));
      expect(r.cls).toBe(here.cls);
      expect(Buffer.from(r.image).equals(Buffer.from(here.image))).toBe(true);
      expect(Array.from(r.labels)).toEqual(Array.from(sceneLabelPlanes(here)));
    } finally {
      await exec.close();
    }
  });

  it('works inline when one thread is asked for, and with UNIT_ATTACK_WORKERS=0 even when threads are', async () => {
    const one = await startExecutor({ context: { kind: 'none', spec: {} }, workers: 1 });
    expect(one.backend).toBe('inline');
    await one.close();
    const before = process.env.UNIT_ATTACK_WORKERS;
    process.env.UNIT_ATTACK_WORKERS = '0';
    try {
      const off = await startExecutor({ context: { kind: 'none', spec: {} }, workers: 2, threads: true });
      expect(off.backend).toBe('inline');
      const r = await off.run<{ cls: string }>({ kind: 'render-scene', input: { seed: 1, index: 0, size: 32, classes: ['beach'] }, label: 'scene 0' });
      expect(r.cls).toBe('beach');
      await off.close();
    } finally {
      if (before === undefined) delete process.env.UNIT_ATTACK_WORKERS; else process.env.UNIT_ATTACK_WORKERS = before;
    }
  });

  it('starts threads of a context that a module given to them registers', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-executor-'));
    try {
      const module = path.join(dir, 'counter.mjs');
      const executor = pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'parallel', 'executor.js')).href;
      await fs.writeFile(module, [
        `import { registerContext, registerPoolTask } from ${JSON.stringify(executor)};`,
        "registerContext('counter', { load: async (spec) => ({ count: spec.start }), tensors: false });",
        "registerPoolTask('count', async (ctx) => ({ value: ++ctx.count }));",
      ].join('\n'));
      // The task's context object is a copy per task: a counter in it starts again each time.
      const exec = await startThreads({ context: { kind: 'counter', spec: { start: 41 } }, workers: 1, modules: [module] });
      try {
        expect(await exec.map([1, 2].map((i) => ({ kind: 'count', input: null, label: `count ${i}` })))).toEqual([42, 42]);
      } finally {
        await exec.close();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('names the unknown task or context and the known ones', async () => {
    await expect(poolTask('no-such-task')).rejects.toThrow(/no pool task 'no-such-task' is registered \(known: .*render-scene/);
    await expect(contextKind('no-such-context')).rejects.toThrow(/no worker context 'no-such-context' is registered \(known: .*none/);
    await expect(startThreads({ context: { kind: 'no-such-context', spec: {} }, workers: 1 })).rejects.toMatchObject({
      code: 'UA_WORKER', message: expect.stringMatching(/worker 1 of 1 could not load 'no-such-context': \[UA_INTERNAL\] no worker context 'no-such-context'/) as unknown,
    });
  });

  it('starts every built-in task\'s module by its name', async () => {
    const { BUILTIN_MODULES } = await import('../../src/parallel/builtin-tasks.js');
    for (const key of Object.keys(BUILTIN_MODULES)) {
      const [what, name] = key.split(':');
      if (what === 'task') expect(typeof await poolTask(name), key).toBe('function');
      else expect(typeof (await contextKind(name)).load, key).toBe('function');
    }
  });
});
