import os from 'node:os';
import { usageError } from '../../errors.js';
import { parseQueueUrl } from '../../parallel/queue/connect.js';
import { startQueueWorker, type QueueWorkerEvent } from '../../parallel/queue/worker.js';
import { jsonOption, type CommandSpec } from '../command.js';

/**
 * `unit-attack worker --queue URL`: takes the shards and parts of queued runs (`dissect`, `attack` and `run --queue URL`) and computes them on
 * this machine's threads until stopped. A worker stopped mid-shard (Ctrl-C, SIGTERM, a crash, kill -9) gives the shard
 * back to the queue once its lock runs out (`--lock-seconds`), and another worker computes it.
 */
export const workerCommand: CommandSpec = {
  name: 'worker',
  describe: 'Take the shards and parts of queued runs (dissect, attack and run --queue) from Redis and compute them here, until stopped',
  options: {
    queue: { type: 'string', demandOption: true, describe: 'redis://HOST:PORT[/DB] of the queue (the same URL the coordinating command was given)' },
    concurrency: { type: 'number', describe: 'shards computed at once, each on a thread with its own copy of the model (default: the cores)' },
    'lock-seconds': { type: 'number', default: 30, describe: 'a shard\'s lock lasts this long unless renewed (every half of it while the shard runs); a killed worker\'s shard goes to another worker after about this long' },
    'exit-when-idle': { type: 'number', describe: 'stop after this many seconds without a job (default: run until stopped)' },
    json: { ...jsonOption, describe: 'print each event (a job started, done or failed; a queue error) as a line of JSON on stdout' },
  },
  examples: [
    ['unit-attack worker --queue redis://localhost:6379', 'compute queued shards on every core of this machine'],
    ['unit-attack worker --queue redis://redis.internal:6379/2 --concurrency 4', 'four shards at once'],
  ],
  check(argv) {
    parseQueueUrl(String(argv.queue), '--queue');
    const c = argv.concurrency;
    if (c !== undefined && (typeof c !== 'number' || !Number.isInteger(c) || c < 1)) {
      throw usageError(`--concurrency must be a whole number ≥ 1, got ${JSON.stringify(c)}`, { path: '--concurrency', hint: `e.g. --concurrency ${os.availableParallelism()} (the cores)` });
    }
    const l = argv['lock-seconds'];
    if (typeof l !== 'number' || !(l >= 1)) throw usageError(`--lock-seconds must be at least 1, got ${JSON.stringify(l)}`, { path: '--lock-seconds' });
    const idle = argv['exit-when-idle'];
    if (idle !== undefined && (typeof idle !== 'number' || !(idle > 0))) throw usageError(`--exit-when-idle must be a number of seconds > 0, got ${JSON.stringify(idle)}`, { path: '--exit-when-idle' });
  },
  async run(argv, io) {
    let active = 0;
    let lastError = '';
    let lastErrorAt = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    let stop: (() => void) | undefined;
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    const idleSeconds = argv['exit-when-idle'] as number | undefined;
    const armIdle = (): void => {
      if (idleSeconds === undefined) return;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => { if (active === 0) stop?.(); }, idleSeconds * 1000);
    };
    const onEvent = (e: QueueWorkerEvent): void => {
      if (argv.json) io.out(JSON.stringify({ ...e, time: new Date().toISOString() }));
      if (e.type === 'active') { active++; if (idleTimer) clearTimeout(idleTimer); io.err(`started ${e.name} ${e.job}`); return; }
      if (e.type === 'completed') { active--; armIdle(); io.err(`done ${e.name} ${e.job} in ${e.seconds.toFixed(1)} s`); return; }
      if (e.type === 'failed') { active--; armIdle(); io.err(`failed ${e.name} ${e.job}${e.willRetry ? ' (will be tried again)' : ''}: ${e.reason}`); return; }
      // A Redis that is away is reported once per message and minute, not at every reconnect attempt.
      const now = Date.now();
      if (e.message === lastError && now - lastErrorAt < 60_000) return;
      lastError = e.message;
      lastErrorAt = now;
      io.err(`warning: queue: ${e.message} (reconnecting)`);
    };
    const worker = await startQueueWorker(String(argv.queue), {
      lockSeconds: argv['lock-seconds'] as number, onEvent,
      ...(argv.concurrency !== undefined ? { concurrency: argv.concurrency as number } : {}),
    });
    io.err(`worker on ${String(argv.queue)}: taking shards${idleSeconds !== undefined ? ` (stops after ${idleSeconds} s without one)` : ' until stopped'}`);
    armIdle();
    try {
      await stopped;
    } finally {
      if (idleTimer) clearTimeout(idleTimer);
      await worker.close();
    }
    io.err('worker stopped');
    return 0;
  },
};
