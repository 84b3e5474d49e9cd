/**
 * `attack --queue` and `run --queue` through BullMQ on a real Redis (Debian's redis-server on a loopback port, data in
 * a temporary folder) with two real worker processes (`bin/unit-attack.js worker`): the queued attack's output equals
 * the inline run's (result.json but for its timing fields, every picture byte for byte), the queued scenario run's
 * results equal the inline run's, every part is computed once (also when a worker is killed mid-part, and when a
 * coordinator is killed and started again), a part that fails on bad input fails once, and a finished run leaves no
 * job or stored keys behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';
import { resultsSchema } from '../../src/report/json.js';
import { findAll, parseXml } from '../report/xml.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/unit-attack.js');
const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
if (!HAVE_REDIS && process.env.UNIT_ATTACK_SKIP_REDIS !== '1') {
  throw new Error('these tests need Debian\'s redis-server on PATH (apt-get install redis-server), or UNIT_ATTACK_SKIP_REDIS=1 to skip them');
}
const FIXTURES = path.join(ROOT, 'test/fixtures/scenarios');
const MODEL = path.join(FIXTURES, 'models/colour');

let dir: string;
let port = 0;
let redis: ChildProcess | undefined;
const workers: ChildProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('redis-cli', ['-p', String(port), ...args]);
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', () => { clearTimeout(t); resolve(out); });
  });
}

/** Keys of jobs or stored outputs (the queue's own bookkeeping — meta, id, events, stalled-check — may stay). */
async function runKeys(): Promise<string[]> {
  return (await redisCli(['--scan'])).split('\n').filter((k) => k !== '' && !/^bull:unit-attack:(meta|id|events|stalled-check)$/.test(k));
}

function startWorker(): ChildProcess & { log: string[] } {
  const w = spawn(process.execPath, [BIN, 'worker', '--queue', `redis://127.0.0.1:${port}`, '--concurrency', '1', '--lock-seconds', '5'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UNIT_ATTACK_CACHE: path.join(dir, 'worker-cache') } }) as ChildProcess & { log: string[] };
  w.log = [];
  const take = (d: Buffer): void => { w.log.push(...d.toString().split('\n').filter((l) => l.trim() !== '')); };
  w.stdout?.on('data', take);
  w.stderr?.on('data', take);
  workers.push(w);
  return w;
}

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIO();
  const code = await main(['--backend', 'cpu', ...args], io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

const done = (ws: Array<{ log: string[] }>, name: string): number => ws.reduce((s, w) => s + w.log.filter((l) => l.startsWith(`done ${name} `)).length, 0);

async function filesOf(d: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(d, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) await walk(r); else out.push(r);
    }
  };
  await walk('');
  return out.sort();
}

function withoutTiming(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTiming);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'created' && k !== 'seconds').map(([k, x]) => [k, withoutTiming(x)]));
  return v;
}

describe.skipIf(!HAVE_REDIS)('attack --queue and run --queue on BullMQ and Redis', () => {
  let images: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-queue-parts-'));
    port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    for (let i = 0; i < 100 && (await redisCli(['ping'])).trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));
    images = path.join(dir, 'images');
    await fs.mkdir(images);
    for (let k = 0; k < 5; k++) {
      const px = Buffer.alloc(16 * 16 * 3);
      for (let i = 0; i < 16 * 16; i++) {
        const n = ((i * 37 + k * 11) % 9) - 4;
        for (let ch = 0; ch < 3; ch++) px[3 * i + ch] = 124 + (ch === k % 3 ? 2 + k * 2 : 0) + (ch === 2 ? -n : n);
      }
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path.join(images, `img-${k}.png`));
    }
  }, 60_000);
  afterEach(async () => {
    for (const w of workers.splice(0)) if (w.exitCode === null) w.kill('SIGKILL');
    await redisCli(['flushall']);
  });
  afterAll(async () => {
    const r = redis;
    if (r && r.exitCode === null) await new Promise<void>((resolve) => { r.once('exit', () => resolve()); r.kill('SIGKILL'); });
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
    const q = await cli([...ATTACK().filter((x) => x !== '--quiet'), '--queue', `redis://127.0.0.1:${port}`, '--parts', '3', '--out', queued]);
    expect(q.code, q.stderr + ws.map((w) => w.log.join('\n')).join('\n')).toBe(0);
    expect(q.stderr).toMatch(/3\/3 parts done/);
    expect(done(ws, 'attack-part')).toBe(3);
    const files = await filesOf(inline);
    expect(await filesOf(queued)).toEqual(files);
    for (const f of files) {
      const [x, y] = await Promise.all([fs.readFile(path.join(inline, f)), fs.readFile(path.join(queued, f))]);
      if (f.endsWith('.json')) expect(withoutTiming(JSON.parse(y.toString('utf8'))), f).toEqual(withoutTiming(JSON.parse(x.toString('utf8'))));
      else expect(y.equals(x), `${f} differs`).toBe(true);
    }
    expect(await runKeys()).toEqual([]);
  }, 180_000);

  it('with --store DIR the parts go to a shared folder and the output is the same', async () => {
    const inline = path.join(dir, 'store-inline');
    expect((await cli([...ATTACK(), '--workers', '1', '--out', inline])).code).toBe(0);
    const w = startWorker();
    const store = path.join(dir, 'store');
    const q = await cli([...ATTACK(), '--queue', `redis://127.0.0.1:${port}`, '--store', store, '--parts', '2', '--out', path.join(dir, 'store-queued')]);
    expect(q.code, q.stderr + w.log.join('\n')).toBe(0);
    expect((await fs.readdir(store)).filter((n) => n.endsWith('.gz'))).toHaveLength(2);
    const result = async (d: string): Promise<unknown> => withoutTiming(JSON.parse(await fs.readFile(path.join(d, 'result.json'), 'utf8')));
    expect(await result(path.join(dir, 'store-queued'))).toEqual(await result(inline));
    expect(await runKeys()).toEqual([]);
  }, 120_000);

  it('a worker killed mid-part (kill -9): another worker computes the part, each part counted once, the output unchanged', async () => {
    // Enough steps that a part lasts long enough to be killed in.
    const slow = ATTACK(150);
    const inline = path.join(dir, 'killed-inline');
    expect((await cli([...slow, '--workers', '1', '--out', inline])).code).toBe(0);
    const first = startWorker();
    const io = captureIO();
    const run = main(['--backend', 'cpu', ...slow, '--queue', `redis://127.0.0.1:${port}`, '--parts', '2', '--out', path.join(dir, 'killed')], io);
    for (let i = 0; i < 2400 && !first.log.some((l) => l.startsWith('started attack-part')); i++) await new Promise((r) => setTimeout(r, 25));
    first.kill('SIGKILL');
    const second = startWorker();
    expect(await run, io.stderr.join('\n')).toBe(0);
    expect(done([first], 'attack-part')).toBe(0);
    expect(done([second], 'attack-part')).toBe(2);
    const result = async (d: string): Promise<unknown> => withoutTiming(JSON.parse(await fs.readFile(path.join(d, 'result.json'), 'utf8')));
    expect(await result(path.join(dir, 'killed'))).toEqual(await result(inline));
    expect(await runKeys()).toEqual([]);
  }, 240_000);

  it('a coordinator stopped and started again reuses the parts done: nothing is attacked twice', async () => {
    const args = [...ATTACK(), '--queue', `redis://127.0.0.1:${port}`, '--parts', '2'];
    // The first coordinator, a process of its own, enqueues and is killed before any worker runs.
    const coordinator = spawn(process.execPath, [BIN, '--backend', 'cpu', ...args, '--out', path.join(dir, 'stopped')], { stdio: 'ignore' });
    for (let i = 0; i < 2400 && (await runKeys()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await runKeys()).length).toBeGreaterThan(0);
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
    const result = async (d: string): Promise<unknown> => withoutTiming(JSON.parse(await fs.readFile(path.join(d, 'result.json'), 'utf8')));
    expect(await result(path.join(dir, 'resumed'))).toEqual(await result(inline));
    expect(await runKeys()).toEqual([]);
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
      '--queue', `redis://127.0.0.1:${port}`, '--parts', '1', '--out', path.join(dir, 'bad')], io);
    for (let i = 0; i < 400 && (await runKeys()).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await runKeys()).length).toBeGreaterThan(0);
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
    const queued = await cli(['run', scenarios, '--queue', `redis://127.0.0.1:${port}`, '--out', path.join(dir, 'run-queued')]);
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
    expect(await runKeys()).toEqual([]);
  }, 240_000);
});
