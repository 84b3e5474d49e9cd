/**
 * Dissection through a BullMQ queue on a real Redis (Debian's redis-server on a loopback port, data in a temporary
 * folder) with real worker processes (`bin/unit-attack.js worker`): the merged atlas equals an in-process run, a
 * worker killed mid-shard loses nothing, bad input fails once, a second enqueue does no work twice, a restarted
 * Redis is survived, a finished run leaves no job or tally keys behind, and its clean-up waits for a job still held.
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { bullConnection, parseQueueUrl, queueLibraries } from '../../src/parallel/queue/connect.js';
import { removeUnlocked, runDissectionOnQueue } from '../../src/parallel/queue/coordinator.js';
import { captureIO } from '../cli/attack-fixtures.js';
import { HAVE_REDIS, TestRedis, freePort, jobsDone, type WorkerProcess } from './redis-helpers.js';

let dir: string;
let redis: TestRedis;
// Locks of 10 s: a worker process starved of CPU by the rest of the suite renews them late without its job being taken
// again. The kill -9 test gives a short lock, so that the killed worker's shard comes back within seconds.
const startWorker = (concurrency = 1, lockSeconds = 10): WorkerProcess => redis.startWorker({ concurrency, lockSeconds });

async function waitFor(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** 192 scenes in batches of 16: a plan of 3 shards. */
const DISSECT = ['dissect', '--probe', 'builtin:scenes?count=192&seed=11', '--batch-size', '16', '--top-n', '3', '--quiet', '--workers', '1', '--no-cache', '--no-strips'];
const atlasOf = async (out: string): Promise<Record<string, unknown>> => ({ ...(JSON.parse(await fs.readFile(path.join(out, 'atlas.json'), 'utf8')) as Record<string, unknown>), created: undefined });
const done = (w: WorkerProcess, name: string): number => jobsDone([w], name);
/** What a failed run said, and its workers' logs: the message of an assertion on its exit code. */
const why = (io: { stderr: string[] }, ...ws: WorkerProcess[]): string => [io.stderr.join('\n'), ...ws.map((w, i) => `worker ${i + 1}:\n${w.log.join('\n')}`)].join('\n');
let inline: Record<string, unknown>;

describe.skipIf(!HAVE_REDIS)('dissect --queue on BullMQ and Redis', () => {
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-queue-'));
    redis = new TestRedis(dir);
    await redis.start();
    const io = captureIO();
    expect(await main([...DISSECT, '--out', path.join(dir, 'inline')], io)).toBe(0);
    inline = await atlasOf(path.join(dir, 'inline'));
  }, 120_000);
  afterEach(async () => {
    await redis.reset();
  });
  afterAll(async () => {
    await redis.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('two worker processes compute the shards; the merged atlas equals the in-process one, and no run keys are left', async () => {
    const [a, b] = [startWorker(), startWorker()];
    const io = captureIO();
    expect(await main([...DISSECT, '--queue', redis.url, '--out', path.join(dir, 'queued')], io), why(io, a, b)).toBe(0);
    expect(await atlasOf(path.join(dir, 'queued'))).toEqual(inline);
    expect(done(a, 'dissect-shard') + done(b, 'dissect-shard')).toBe(3);
    expect(await redis.runKeys()).toEqual([]);
  }, 120_000);

  it('with --store DIR the tallies go to a shared folder and the atlas is the same', async () => {
    const w = startWorker();
    const store = path.join(dir, 'store');
    const io = captureIO();
    expect(await main([...DISSECT, '--queue', redis.url, '--store', store, '--out', path.join(dir, 'queued-dir')], io), why(io, w)).toBe(0);
    expect(await atlasOf(path.join(dir, 'queued-dir'))).toEqual(inline);
    expect((await fs.readdir(store)).filter((n) => n.endsWith('.shard'))).toHaveLength(3);
    expect(await redis.runKeys()).toEqual([]);
  }, 120_000);

  it('a worker killed mid-shard (kill -9): the shard is computed by another worker, each shard counted once, the atlas unchanged', async () => {
    const first = startWorker(1, 2);
    const io = captureIO();
    const run = main([...DISSECT, '--queue', redis.url, '--out', path.join(dir, 'killed')], io);
    await waitFor('the first shard to start', () => first.log.some((l) => l.startsWith('started dissect-shard')));
    first.kill('SIGKILL');
    const second = startWorker(1, 2);
    expect(await run, why(io, first, second)).toBe(0);
    expect(done(first, 'dissect-shard')).toBe(0);
    expect(done(second, 'dissect-shard')).toBe(3);
    expect(await atlasOf(path.join(dir, 'killed'))).toEqual(inline);
  }, 180_000);

  it('the same run enqueued twice at once computes each shard once; both coordinators get the same shards', async () => {
    const w = startWorker(2);
    const spec = {
      queue: redis.url, store: { kind: 'redis' as const }, model: 'builtin:scenes-vgg16', probe: 'builtin:scenes?count=128&seed=2',
      options: { batchSize: 16, importance: false }, run: 'test-twice', plan: 2, pollMs: 100,
    };
    // The run key is the coordinator's claim: a worker that computes another key fails the shard, so ask for the real one.
    const { loadClassifier } = await import('../../src/models/io.js');
    const { dissectionPlan } = await import('../../src/dissection/split.js');
    const clf = await loadClassifier('builtin:scenes-vgg16');
    try {
      const plan = await dissectionPlan(clf, spec.probe, { ...spec.options, cache: false });
      const [x, y] = await Promise.all([runDissectionOnQueue({ ...spec, run: plan.run, plan: plan.plan }), runDissectionOnQueue({ ...spec, run: plan.run, plan: plan.plan })]);
      expect(x.shards).toEqual(y.shards);
      expect(done(w, 'dissect-shard')).toBe(plan.plan);
      await x.finish(true);
      await y.finish(true);
    } finally {
      clf.dispose();
    }
    expect(await redis.runKeys()).toEqual([]);
  }, 120_000);

  it('a shard that fails on bad input fails once, not retried, with its error named', async () => {
    const w = startWorker();
    const io = captureIO();
    // The coordinator's classifier has the layer; the worker's (a different model at the same spec) would not —
    // simulated by a run key no worker can produce: the worker refuses it without retrying.
    const err = await runDissectionOnQueue({
      queue: redis.url, store: { kind: 'redis' }, model: 'builtin:scenes-vgg16', probe: 'builtin:scenes?count=64&seed=1',
      options: { batchSize: 16, importance: false }, run: 'not-the-key', plan: 1, pollMs: 100,
    }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/the queued dissection failed: .*computes a different dissection/);
    expect(w.log.filter((l) => l.startsWith('failed dissect-shard'))).toHaveLength(1);
    expect(w.log.some((l) => l.includes('will be tried again'))).toBe(false);
    void io;
  }, 60_000);

  it('Redis restarted mid-run without persistence: the coordinator enqueues the lost shards again and the atlas is right', async () => {
    const io = captureIO();
    const run = main([...DISSECT, '--queue', redis.url, '--out', path.join(dir, 'restarted')], io);
    for (let i = 0; i < 100 && (await redis.runKeys()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await redis.runKeys()).length).toBeGreaterThan(0);
    await redis.stop();
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();
    startWorker();
    const code = await run;
    expect(io.stderr.join('\n')).toMatch(/no longer holds this run's jobs/);
    expect(io.stderr.join('\n')).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(await atlasOf(path.join(dir, 'restarted'))).toEqual(inline);
  }, 180_000);

  it('a job a worker still holds is waited for, not a failure: removal gives up after the wait, and succeeds once it ends', async () => {
    const { bullmq } = await queueLibraries();
    const connection = bullConnection(parseQueueUrl(redis.url));
    const queue = new bullmq.Queue('cleanup-test', { connection });
    const flows = new bullmq.FlowProducer({ connection });
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => { release = r; });
    let started = false;
    const worker = new bullmq.Worker('cleanup-test', async (job) => {
      if (job.name === 'part') { started = true; await held; }
      return job.name;
    }, { connection, concurrency: 2 });
    try {
      const flow = await flows.add({ name: 'merge', queueName: 'cleanup-test', children: [{ name: 'part', queueName: 'cleanup-test', data: {} }] });
      await waitFor('the part to start', () => started);
      const t0 = Date.now();
      expect(await removeUnlocked(flow.job, 600, 100)).toBe(false);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
      expect(await flow.job.getState()).toBe('waiting-children');
      // The held part ends while removal waits: the run's jobs go.
      setTimeout(release, 300);
      expect(await removeUnlocked(flow.job, 20_000, 100)).toBe(true);
      expect(await bullmq.Job.fromId(queue, flow.job.id!)).toBeUndefined();
      // Any other failure is not waited out.
      await expect(removeUnlocked({ remove: () => Promise.reject(new Error('Connection is closed.')) }, 5000)).rejects.toThrow(/Connection is closed/);
    } finally {
      release();
      await worker.close();
      await Promise.allSettled([queue.close(), flows.close()]);
    }
  }, 60_000);
});

describe('queue URLs that cannot work', () => {
  it('a Redis that is not there: exit 2 within 10 s, naming the URL', async () => {
    const p = await freePort(); // nothing listens there
    const io = captureIO();
    const t0 = Date.now();
    const out = path.join(os.tmpdir(), `ua-noredis-${process.pid}`);
    try {
      const code = await main([...DISSECT, '--queue', `redis://127.0.0.1:${p}`, '--out', out], io);
      expect(code).toBe(2);
      expect(Date.now() - t0).toBeLessThan(10_000 + 5_000); // + loading the model
      expect(io.stderr.join('\n')).toContain(`cannot reach the queue's Redis at redis://127.0.0.1:${p}`);
    } finally {
      await fs.rm(out, { recursive: true, force: true });
    }
  }, 30_000);

  it.each([
    ['http://localhost:6379', /--queue must be a Redis URL \(redis:\/\/ or rediss:\/\/\)/],
    ['localhost:6379', /--queue must be a Redis URL/],
    ['redis://localhost:6379/x', /names the database 'x'/],
  ])('--queue %s: exit 2 before anything is loaded', async (url, message) => {
    const io = captureIO();
    expect(await main([...DISSECT, '--queue', url, '--out', path.join(os.tmpdir(), 'never-written')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(message);
    expect(existsSync(path.join(os.tmpdir(), 'never-written'))).toBe(false);
  });

  it('--store without --queue, and --queue with --shard, are usage errors', async () => {
    const io = captureIO();
    expect(await main([...DISSECT, '--store', 'redis', '--out', path.join(os.tmpdir(), 'never-written')], io)).toBe(2);
    expect(io.stderr.join('\n')).toContain('--store applies to a run on a queue');
    const io2 = captureIO();
    expect(await main([...DISSECT, '--queue', 'redis://localhost:1', '--shard', '0/2', '--out', path.join(os.tmpdir(), 'never-written')], io2)).toBe(2);
    expect(io2.stderr.join('\n')).toContain('--queue and --shard both split the work');
  });
});
