/**
 * What the queue tests share: Debian's redis-server on a loopback port with its data in a temporary folder, and real
 * worker processes (`bin/unit-attack.js worker`) whose log lines are collected.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/unit-attack.js');

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
if (!HAVE_REDIS && process.env.UNIT_ATTACK_SKIP_REDIS !== '1') {
  throw new Error('these tests need Debian\'s redis-server on PATH (apt-get install redis-server), or UNIT_ATTACK_SKIP_REDIS=1 to skip them');
}

/** A loopback port nothing listens on (at the time of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** A worker process and the lines it logged. */
export type WorkerProcess = ChildProcess & { log: string[] };

/** How many jobs named `name` the workers logged as done. */
export const jobsDone = (ws: readonly WorkerProcess[], name: string): number => ws.reduce((s, w) => s + w.log.filter((l) => l.startsWith(`done ${name} `)).length, 0);

/** A redis-server of a test, and the worker processes that take jobs from it. */
export class TestRedis {
  port = 0;
  readonly workers: WorkerProcess[] = [];
  private server: ChildProcess | undefined;

  /** @param dir the folder of its data and of the workers' cache */
  constructor(readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Runs `redis-cli` against the server. */
  cli(args: string[], timeoutMs = 20_000): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      const p = spawn('redis-cli', ['-p', String(this.port), ...args]);
      let out = ''; let err = '';
      p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
      p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, out, err }); });
    });
  }

  /** Starts the server (on a free port the first time, on the same port again after {@link stop}), without persistence. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.server = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if ((await this.cli(['ping'])).out.trim() === 'PONG') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('redis-server did not start');
  }

  /** Kills the server (kill -9: what it holds is lost). */
  async stop(): Promise<void> {
    const r = this.server;
    this.server = undefined;
    if (!r || r.exitCode !== null) return;
    await new Promise<void>((resolve) => { r.once('exit', () => resolve()); r.kill('SIGKILL'); });
  }

  /** Keys of jobs or stored outputs (the queue's own bookkeeping — meta, id, events, stalled-check — may stay). */
  async runKeys(): Promise<string[]> {
    const keys = (await this.cli(['--scan'])).out.split('\n').filter((k) => k !== '');
    return keys.filter((k) => !/^bull:unit-attack:(meta|id|events|stalled-check)$/.test(k));
  }

  /** A worker process on the queue; its log lines are collected. */
  startWorker(options: { concurrency?: number; lockSeconds?: number } = {}): WorkerProcess {
    const args = [BIN, 'worker', '--queue', this.url, '--concurrency', String(options.concurrency ?? 1), '--lock-seconds', String(options.lockSeconds ?? 2)];
    const w = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UNIT_ATTACK_CACHE: path.join(this.dir, 'worker-cache') } }) as WorkerProcess;
    w.log = [];
    const take = (d: Buffer): void => { w.log.push(...d.toString().split('\n').filter((l) => l.trim() !== '')); };
    w.stdout?.on('data', take);
    w.stderr?.on('data', take);
    this.workers.push(w);
    return w;
  }

  /** After a test: its workers killed, the server emptied. */
  async reset(): Promise<void> {
    for (const w of this.workers.splice(0)) if (w.exitCode === null) w.kill('SIGKILL');
    await this.cli(['flushall']);
  }
}
