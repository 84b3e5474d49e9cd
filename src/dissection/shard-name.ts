/**
 * The file names of a dissection's shards in a `--shard` output folder (`dissect --shard i/N` writes them, a queued
 * dissection's coordinator brings its shards home under them, `dissect --from-shards` reads any `*.shard` file).
 */
import { createHash } from 'node:crypto';

/** The name of shard `shard` of `shards` of run `run` in a `--shard` output folder: the run, the shard and a hash of the bytes. */
export function shardFileName(run: string, shard: number, shards: number, bytes: Uint8Array): string {
  return `${run}.${String(shard).padStart(5, '0')}-of-${shards}.${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.shard`;
}
