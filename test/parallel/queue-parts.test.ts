/**
 * `attack --queue` and `run --queue` through BullMQ on a real Redis (Debian's redis-server on a loopback port, data in
 * a temporary folder) with two real worker processes (`bin/unit-attack.js worker`): the queued attack's output equals
 * the inline run's (result.json but for its timing fields, every picture byte for byte), the queued scenario run's
 * results equal the inline run's, every part is computed once (also when a worker is killed mid-part, and when a
 * coordinator is killed and started again), a part that fails on bad input fails once, and a finished run leaves no
 * job or stored keys behind.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { resultsSchema } from '../../src/report/json.js';
import { captureIO, cliRun as cli, expectSameOutput, filesOf, resultOf, writeTestImages } from '../cli/attack-fixtures.js';
import { findAll, parseXml } from '../report/xml.js';
import { BIN, HAVE_REDIS, ROOT, TestRedis, freePort, jobsDone as done, type WorkerProcess } from './redis-helpers.js';

const FIXTURES = path.join(ROOT, 'test/fixtures/scenarios');
const MODEL = path.join(FIXTURES, 'models/colour');

let dir: string;
let redis: TestRedis;
const startWorker = (): WorkerProcess => redis.startWorker({ lockSeconds: 5 });

describe.skipIf(!HAVE_REDIS)('attack --queue and run --queue on BullMQ and Redis', () => {
  let images: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-queue-parts-'));
    redis = new TestRedis(dir);
    await redis.start();
    images = path.join(dir, 'images');
    await fs.mkdir(images);
    await writeTestImages(images, 5, (k) => 2 + k * 2);
  }, 60_000);
  afterEach(async () => {
    await redis.reset();
  });
  afterAll(async () => {
    await redis.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const ATTACK = (steps = 3): string[] => ['attack', '--model', MODEL, '--images', images, '--seed', '3', '--suppress-units', '0', '--excite-units', '1',
    '--target', 'green', '--eps', '6/255', '--steps', String(steps), '--heatmaps', '3', '--quiet'];

  it('attack --queue with two worker processes writes what the inline attack writes, and leaves no run keys', async () => {
    const inline = path.join(dir, 'attack-inline');
    const a = await cli([...ATTACK(), '--workers', '1', '--out', inline]);
    expect(a.code, a.stderr).toBe(0);
    const ws = [startWorker(), startWorker()];
    const queued = path.join(dir, 'attack-queued');
    const q = await cli([...ATTACK().filter((x) => x !== '--quiet'), '--queue', redis.url, '--parts', '3', '--out', queued]);
    expect(q.code, q.stderr + ws.map((w) => w.log.join('\n')).join('\n')).toBe(0);
    expect(q.stderr).toMatch(/3\/3 parts done/);
    expect(done(ws, 'attack-part')).toBe(3);
    await expectSameOutput(inline, queued);
    expect(await redis.runKeys()).toEqual([]);
  }, 180_000);

  it('with --store DIR the parts go to a shared folder and the output is the same', async () => {
    const inline = path.join(dir, 'store-inline');
    expect((await cli([...ATTACK(), '--workers', '1', '--out', inline])).code).toBe(0);
    const w = startWorker();
    const store = path.join(dir, 'store');
    const q = await cli([...ATTACK(), '--queue', redis.url, '--store', store, '--parts', '2', '--out', path.join(dir, 'store-queued')]);
    expect(q.code, q.stderr + w.log.join('\n')).toBe(0);
    expect((await fs.readdir(store)).filter((n) => n.endsWith('.gz'))).toHaveLength(2);
    expect(await resultOf(path.join(dir, 'store-queued'))).toEqual(await resultOf(inline));
    expect(await redis.runKeys()).toEqual([]);
  }, 120_000);

  it('a worker killed mid-part (kill -9): another worker computes the part, each part counted once, the output unchanged', async () => {
    // Enough steps that a part lasts long enough to be killed in.
    const slow = ATTACK(150);
    const inline = path.join(dir, 'killed-inline');
    expect((await cli([...slow, '--workers', '1', '--out', inline])).code).toBe(0);
    const first = startWorker();
    const io = captureIO();
    const run = main(['--backend', 'cpu', ...slow, '--queue', redis.url, '--parts', '2', '--out', path.join(dir, 'killed')], io);
    for (let i = 0; i < 2400 && !first.log.some((l) => l.startsWith('started attack-part')); i++) await new Promise((r) => setTimeout(r, 25));
    first.kill('SIGKILL');
    const second = startWorker();
    expect(await run, io.stderr.join('\n')).toBe(0);
    expect(done([first], 'attack-part')).toBe(0);
    expect(done([second], 'attack-part')).toBe(2);
    expect(await resultOf(path.join(dir, 'killed'))).toEqual(await resultOf(inline));
    expect(await redis.runKeys()).toEqual([]);
  }, 240_000);

  it('a coordinator stopped and started again reuses the parts done: nothing is attacked twice', async () => {
    const args = [...ATTACK(), '--queue', redis.url, '--parts', '2'];
    // The first coordinator, a process of its own, enqueues and is killed before any worker runs.
    const coordinator = spawn(process.execPath, [BIN, '--backend', 'cpu', ...args, '--out', path.join(dir, 'stopped')], { stdio: 'ignore' });
    for (let i = 0; i < 2400 && (await redis.runKeys()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await redis.runKeys()).length).toBeGreaterThan(0);
    coordinator.kill('SIGKILL');
    const w = startWorker();
    for (let i = 0; i < 2400 && done([w], 'part-merge') === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(done([w], 'attack-part')).toBe(2);
    // The same command again: the run's jobs are done, so it only merges.
    const again = await cli([...args, '--out', path.join(dir, 'resumed')]);
    expect(again.code, again.stderr).toBe(0);
    expect(done([w], 'attack-part')).toBe(2);
    const inline = path.join(dir, 'resumed-inline');
    expect((await cli([...ATTACK(), '--workers', '1', '--out', inline])).code).toBe(0);
    expect(await resultOf(path.join(dir, 'resumed'))).toEqual(await resultOf(inline));
    expect(await redis.runKeys()).toEqual([]);
  }, 240_000);

  it('a part that fails on bad input fails once, not retried, and the coordinator exits 2 naming it', async () => {
    // An image that changes between the coordinator's reading and the worker's: the worker attacks another run (its
    // key differs from the one the coordinator asked for) and refuses it at once.
    const changing = path.join(dir, 'changing');
    await fs.mkdir(changing);
    await fs.copyFile(path.join(images, 'img-0.png'), path.join(changing, 'a.png'));
    await fs.copyFile(path.join(images, 'img-1.png'), path.join(changing, 'b.png'));
    const io = captureIO();
    const run = main(['--backend', 'cpu', 'attack', '--model', MODEL, '--images', changing, '--attack', 'fgsm',
      '--queue', redis.url, '--parts', '1', '--out', path.join(dir, 'bad')], io);
    for (let i = 0; i < 400 && (await redis.runKeys()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await redis.runKeys()).length).toBeGreaterThan(0);
    await fs.copyFile(path.join(images, 'img-2.png'), path.join(changing, 'b.png'));
    const w = startWorker();
    expect(await run).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/the queued attack failed: part 0\/1 failed after 1 try: .*attacks a different run/);
    expect(w.log.filter((l) => l.startsWith('failed attack-part'))).toHaveLength(1);
    expect(w.log.some((l) => l.includes('will be tried again'))).toBe(false);
  }, 120_000);

  it('a Redis that cannot be reached: exit 2 within 10 s naming the URL, for attack and run', async () => {
    const nobody = await freePort();
    for (const args of [[...ATTACK(), '--out', path.join(dir, 'unreachable')], ['--quiet', 'run', path.join(ROOT, 'scenarios')]]) {
      const t0 = Date.now();
      const r = await cli([...args, '--queue', `redis://127.0.0.1:${nobody}`]);
      expect(r.code, args[0]).toBe(2);
      expect(r.stderr).toContain(`cannot reach the queue's Redis at redis://127.0.0.1:${nobody}`);
      expect(Date.now() - t0).toBeLessThan(10_000);
    }
  }, 60_000);

  it('run --queue with two worker processes gives the results, JUnit suites and exit code of the inline run', async () => {
    const scenarios = path.join(dir, 'scenarios');
    await fs.mkdir(scenarios);
    const inputs = { folder: path.join(FIXTURES, 'images'), labels: path.join(FIXTURES, 'labels.csv') };
    const { stringify } = await import('yaml');
    const write = (name: string, s: unknown): Promise<void> => fs.writeFile(path.join(scenarios, `${name}.yaml`), stringify(s));
    await write('a-fgsm', { name: 'a fgsm', model: MODEL, inputs, attack: { kind: 'fgsm', epsilon: '1/255' }, expectations: { clean_accuracy: { min: 1 } } });
    await write('b-pgd', { name: 'b pgd', model: MODEL, inputs, attack: { kind: 'pgd', epsilon: '8/255', steps: 5 }, expectations: { robust_accuracy: { min: 0.9 } } });
    await write('c-clean', { name: 'c clean', model: MODEL, inputs, expectations: { clean_accuracy: { min: 1 } } });
    const inline = await cli(['--quiet', 'run', scenarios, '--workers', '1', '--out', path.join(dir, 'run-inline')]);
    expect(inline.code).toBe(1); // b pgd fails on purpose
    const ws = [startWorker(), startWorker()];
    const queued = await cli(['run', scenarios, '--queue', redis.url, '--out', path.join(dir, 'run-queued')]);
    expect(queued.code, queued.stderr + ws.map((w) => w.log.join('\n')).join('\n')).toBe(1);
    expect(queued.stderr).toMatch(/3\/3 parts done/);
    expect(done(ws, 'run-part')).toBe(3);
    const comparable = async (d: string): Promise<unknown> => {
      const r = resultsSchema.parse(JSON.parse(await fs.readFile(path.join(d, 'results.json'), 'utf8')));
      return { exitCode: r.exitCode, passed: r.passed, summary: r.summary, scenarios: r.scenarios.map((s) => ({ ...s, durations: undefined })) };
    };
    expect(await comparable(path.join(dir, 'run-queued'))).toEqual(await comparable(path.join(dir, 'run-inline')));
    const suites = async (d: string): Promise<string[]> => findAll(parseXml(await fs.readFile(path.join(d, 'junit.xml'), 'utf8')), 'testsuite').map((x) => x.attrs.name);
    expect(await suites(path.join(dir, 'run-queued'))).toEqual(['a fgsm', 'b pgd', 'c clean']);
    expect(await suites(path.join(dir, 'run-queued'))).toEqual(await suites(path.join(dir, 'run-inline')));
    const pngs = async (d: string): Promise<string[]> => (await filesOf(d)).filter((f) => f.endsWith('.png'));
    expect(await pngs(path.join(dir, 'run-queued'))).toEqual(await pngs(path.join(dir, 'run-inline')));
    for (const f of await pngs(path.join(dir, 'run-inline'))) {
      expect((await fs.readFile(path.join(dir, 'run-queued', f))).equals(await fs.readFile(path.join(dir, 'run-inline', f))), f).toBe(true);
    }
    expect(await redis.runKeys()).toEqual([]);
  }, 240_000);
});
