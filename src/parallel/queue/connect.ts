/**
 * The Redis behind a queue: its URL checked, BullMQ and ioredis loaded only when a queue is asked for (they are
 * optional dependencies), and the server reached within a deadline, so that a wrong URL or a server that is down is
 * a clear error (exit code 2) rather than a command that waits for ever.
 */
import { UnitAttackError, usageError } from '../../errors.js';
import type * as BullMQ from 'bullmq';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';

/** The queue all unit-attack jobs go through (one per Redis database; job names route them). */
export const QUEUE_NAME = 'unit-attack';

/** A checked `redis://HOST:PORT[/DB]` URL. */
export interface QueueUrl {
  url: string;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

/**
 * `redis://[user:password@]HOST[:PORT][/DB]` (or `rediss://` for TLS) checked, or a usage error naming the option.
 * @param option the option the URL came from, for the error (e.g. `queue`)
 */
export function parseQueueUrl(text: string, option = 'queue'): QueueUrl {
  const fix = 'give a Redis URL such as redis://localhost:6379 or redis://redis.internal:6379/2';
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw usageError(`${option} must be a Redis URL, got '${text}'`, { path: option, hint: fix });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw usageError(`${option} must be a Redis URL (redis:// or rediss://), got '${text}' (${u.protocol.replace(/:$/, '')})`, { path: option, hint: fix });
  }
  if (u.hostname === '') throw usageError(`${option} names no host: '${text}'`, { path: option, hint: fix });
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\d*$/.test(dbText)) {
    throw usageError(`${option} names the database '${dbText}', which is not a number 0…15: '${text}'`, { path: option, hint: fix });
  }
  return {
    url: text, host: u.hostname.replace(/^\[|\]$/g, ''), port, db, tls: u.protocol === 'rediss:',
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** ioredis options for a queue URL (BullMQ's workers need `maxRetriesPerRequest: null`). */
export function redisOptions(q: QueueUrl): RedisOptions {
  return {
    host: q.host, port: q.port, db: q.db, maxRetriesPerRequest: null,
    ...(q.username !== undefined ? { username: q.username } : {}),
    ...(q.password !== undefined ? { password: q.password } : {}),
    ...(q.tls ? { tls: {} } : {}),
  };
}

/** BullMQ and ioredis, loaded on first use. */
export interface QueueLibraries {
  bullmq: typeof BullMQ;
  Redis: typeof RedisClient;
}

let libraries: Promise<QueueLibraries> | undefined;

/** Loads BullMQ and ioredis (optional dependencies), or says how to install them. */
export function queueLibraries(): Promise<QueueLibraries> {
  libraries ??= (async () => {
    try {
      const [bullmq, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
      return { bullmq, Redis: ioredis.Redis };
    } catch (err) {
      libraries = undefined;
      throw usageError(`a queue needs the optional dependencies bullmq and ioredis, which are not installed: ${(err as Error).message}`, {
        path: 'queue', hint: 'npm install bullmq ioredis (or run without --queue)', cause: err,
      });
    }
  })();
  return libraries;
}

/**
 * A Redis client connected to the queue's server, or an error within `timeoutMs` naming the URL (exit code 2).
 * With `reconnect`, once connected it reconnects after a server restart (and commands wait for it), as BullMQ's
 * own clients do; without, it is a one-off probe.
 */
export async function connectRedis(q: QueueUrl, timeoutMs = 8000, reconnect = false): Promise<RedisClient> {
  const { Redis } = await queueLibraries();
  const client = new Redis({ ...redisOptions(q), lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined); // reported below, once
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => { await client.connect(); await client.ping(); })(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
    if (reconnect) {
      client.options.retryStrategy = (times: number) => Math.min(200 * times, 2000);
      client.options.enableOfflineQueue = true;
      client.options.maxRetriesPerRequest = null;
    }
    return client;
  } catch (err) {
    client.disconnect();
    throw new UnitAttackError('UA_QUEUE', `cannot reach the queue's Redis at ${q.url}: ${(err as Error).message}`, {
      path: 'queue', hint: 'start redis-server there, or check the host, port and database of the URL', cause: err,
    });
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** The `connection` option of BullMQ's Queue, Worker, FlowProducer and QueueEvents for a queue URL. */
export function bullConnection(q: QueueUrl): BullMQ.ConnectionOptions {
  return redisOptions(q);
}
