/**
 * Dissection through the queue against the same in-process (`npm run bench:queue`).
 *
 *   npx tsx bench/queue.ts [--count 8000] [--batch-size 32] [--markdown]
 *
 * Starts Debian's redis-server on a loopback port (data in a temporary folder), then times, each as a fresh
 * `unit-attack dissect` process with `--no-cache --no-strips --no-importance`, the same dissection of
 * `block5_conv3` of the built-in model on `builtin:scenes?count=N&seed=21`:
 *   - in-process on one thread (`--workers 1`),
 *   - through the queue with one worker process (`unit-attack worker --concurrency 1`),
 *   - through the queue with two worker processes (one thread each).
 * The workers are started (and have loaded nothing yet) before the coordinator; their model loads are inside the
 * timed run. Each queued atlas is checked equal to the in-process one. Prints the wall times, the overhead of the
 * queue with one worker and the speed-up of two.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/unit-attack.js');

const { values } = parseArgs({ options: { count: { type: 'string', default: '8000' }, 'batch-size': { type: 'string', default: '32' }, markdown: { type: 'boolean', default: false } } });
const count = Number(values.count);
const batch = Number(values['batch-size']);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

function run(args: string[]): Promise<{ code: number; seconds: number; err: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (code) => resolve({ code: code ?? -1, seconds: (Date.now() - t0) / 1000, err }));
  });
}

async function main(): Promise<void> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('bench/queue.ts needs redis-server (apt-get install redis-server)');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-bench-queue-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const workers: ChildProcess[] = [];
  try {
    await new Promise((r) => setTimeout(r, 500));
    const common = ['dissect', '--probe', `builtin:scenes?count=${count}&seed=21`, '--batch-size', String(batch), '--no-cache', '--no-strips', '--no-importance', '--quiet'];
    const atlas = async (out: string): Promise<string> => {
      const a = JSON.parse(await fs.readFile(path.join(out, 'atlas.json'), 'utf8')) as Record<string, unknown>;
      return JSON.stringify({ ...a, created: undefined });
    };
    const rows: Array<{ how: string; seconds: number }> = [];
    const inline = await run([...common, '--workers', '1', '--out', path.join(dir, 'inline')]);
    if (inline.code !== 0) throw new Error(`in-process dissection failed: ${inline.err}`);
    rows.push({ how: 'in process, 1 thread', seconds: inline.seconds });
    const reference = await atlas(path.join(dir, 'inline'));
    for (const n of [1, 2]) {
      for (let i = 0; i < n; i++) workers.push(spawn(process.execPath, [BIN, 'worker', '--queue', url, '--concurrency', '1'], { stdio: 'ignore' }));
      const out = path.join(dir, `queue-${n}`);
      const r = await run([...common, '--workers', '1', '--queue', url, '--out', out]);
      if (r.code !== 0) throw new Error(`queued dissection failed: ${r.err}`);
      if ((await atlas(out)) !== reference) throw new Error(`the atlas through the queue with ${n} worker(s) differs from the in-process one`);
      rows.push({ how: `queue, ${n} worker process${n > 1 ? 'es' : ''}`, seconds: r.seconds });
      for (const w of workers.splice(0)) w.kill('SIGKILL');
    }
    const [a, b, c] = rows.map((r) => r.seconds);
    const lines = [
      `dissection of block5_conv3, builtin:scenes?count=${count}&seed=21, batch ${batch}, no importance; ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(2)}`,
      '', '| how | wall time (s) | vs in process |', '| --- | ---: | ---: |',
      ...rows.map((r) => `| ${r.how} | ${r.seconds.toFixed(1)} | ${(r.seconds / a).toFixed(3)}× |`),
      '', `queue overhead with one worker: ${(100 * (b / a - 1)).toFixed(1)}% (target ≤ 10%); two workers against one: ${(b / c).toFixed(2)}× faster; every queued atlas equals the in-process one`,
    ];
    process.stdout.write(`${values.markdown ? lines.join('\n') : lines.join('\n').replace(/\|/g, ' ')}\n`);
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    redis.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
