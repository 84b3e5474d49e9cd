/**
 * Where the tallies of queued shards go. BullMQ keeps job data and return values as JSON in Redis, so a shard's
 * binary tallies never travel in them: a worker puts the bytes in a store — binary Redis keys, or a folder every
 * machine shares — and the job returns only `{ uri, sha256, shard }`, which the merge checks.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Redis as RedisClient } from 'ioredis';
import { UnitAttackError, usageError } from '../../errors.js';
import { writeAtomic } from '../../util/atomic.js';

/** What a shard job returns: where its bytes are and their checksum. */
export interface StoredShard {
  shard: number;
  uri: string;
  sha256: string;
  bytes: number;
}

/** `--store`: `redis` (binary keys on the queue's server) or a folder shared by the coordinator and every worker. */
export type StoreSpec = { kind: 'redis' } | { kind: 'dir'; dir: string };

/** How long stored shards live in Redis when a run is abandoned (a finished run removes them at once). */
export const STORE_TTL_SECONDS = 7 * 24 * 3600;

/** `--store` parsed: `redis`, or a folder. */
export function parseStore(text: string | undefined): StoreSpec {
  if (text === undefined || text === 'redis') return { kind: 'redis' };
  if (text.trim() === '') throw usageError('store must be redis or a folder shared by every machine', { path: 'store', hint: 'e.g. --store redis, or --store /mnt/shared/unit-attack' });
  return { kind: 'dir', dir: path.resolve(text) };
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The Redis key of a stored shard. */
export const storeKey = (run: string, shard: number): string => `unit-attack:store:${run}:${String(shard).padStart(5, '0')}`;

/** Puts a shard's bytes in the store and says where. */
export async function putShard(store: StoreSpec, redis: RedisClient | undefined, run: string, shard: number, bytes: Uint8Array, fileName: string): Promise<StoredShard> {
  const sum = sha256(bytes);
  if (store.kind === 'redis') {
    if (!redis) throw new UnitAttackError('UA_INTERNAL', 'a Redis store needs a Redis client');
    const key = storeKey(run, shard);
    await redis.set(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'EX', STORE_TTL_SECONDS);
    return { shard, uri: `redis:${key}`, sha256: sum, bytes: bytes.byteLength };
  }
  const file = path.join(store.dir, fileName);
  await fs.mkdir(store.dir, { recursive: true });
  await writeAtomic(file, bytes);
  return { shard, uri: pathToFileURL(file).href, sha256: sum, bytes: bytes.byteLength };
}

/** A stored shard's bytes, checked against its checksum. */
export async function getShard(redis: RedisClient | undefined, stored: StoredShard): Promise<Uint8Array> {
  let bytes: Uint8Array | null;
  if (stored.uri.startsWith('redis:')) {
    if (!redis) throw new UnitAttackError('UA_INTERNAL', 'a Redis store needs a Redis client');
    bytes = await redis.getBuffer(stored.uri.slice('redis:'.length));
  } else {
    bytes = await fs.readFile(fileURLToPath(stored.uri)).catch(() => null);
  }
  if (!bytes) {
    throw new UnitAttackError('UA_QUEUE', `shard ${stored.shard + 1} is gone from the store (${stored.uri})`, {
      hint: 'the store expired or was cleared; run the same command again: the shard is computed again',
    });
  }
  const sum = sha256(bytes);
  if (sum !== stored.sha256) {
    throw new UnitAttackError('UA_QUEUE', `shard ${stored.shard + 1} in the store (${stored.uri}) does not match its checksum (sha256 ${sum.slice(0, 12)}…, expected ${stored.sha256.slice(0, 12)}…)`, {
      hint: 'it was changed or torn after it was written; run the same command again',
    });
  }
  return bytes;
}

/** Removes the stored shards of a finished run (the files of a folder store stay: they are the user's folder). */
export async function removeShards(redis: RedisClient | undefined, stored: readonly StoredShard[]): Promise<void> {
  const keys = stored.filter((s) => s.uri.startsWith('redis:')).map((s) => s.uri.slice('redis:'.length));
  if (redis && keys.length > 0) await redis.del(...keys);
}
