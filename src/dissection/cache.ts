/**
 * The result cache: `.unit-attack-cache/dissect/<hash>.json` under the working folder (or under the folder named by
 * `UNIT_ATTACK_CACHE`), keyed by a hash of everything that decides the result. Writes are atomic, and a cache file
 * that no longer parses is ignored and rewritten.
 */
import { createHash } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { UnitAttackError } from '../errors.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { parseAtlas, saveAtlas, type Atlas } from './atlas.js';

/** The environment variable that moves the cache folder. */
export const CACHE_ENV_VAR = 'UNIT_ATTACK_CACHE';

/** The cache's root folder: `$UNIT_ATTACK_CACHE`, else `.unit-attack-cache` in the working folder. */
export function cacheRoot(): string {
  const env = process.env[CACHE_ENV_VAR];
  return env !== undefined && env !== '' ? path.resolve(env) : path.resolve('.unit-attack-cache');
}

/** A stable hash of a JSON-able key (object keys sorted). */
export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex').slice(0, 24);
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return '[' + v.map(stableJson).join(',') + ']';
  return '{' + Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    .map((k) => JSON.stringify(k) + ':' + stableJson((v as Record<string, unknown>)[k])).join(',') + '}';
}

/**
 * Atlases shipped with the package (`models/atlases/dissect/<key>.json`), made by the project's own run of the
 * dissection they stand for: a first run of a shipped scenario finds its atlas there instead of computing it. They
 * are keyed like the cache, so any difference (model weights, probe, parameters, algorithm) misses them.
 */
export const SHIPPED_ATLASES = path.join(PACKAGE_ROOT, 'models', 'atlases');

/** The file of a dissection result. */
export function dissectCacheFile(key: string, root: string = cacheRoot()): string {
  return path.join(root, 'dissect', `${key}.json`);
}

/**
 * The folder that keeps the finished shards of the dissection cached in `cacheFile` while it runs
 * (`<cache>/partial/<key>/`): a run that stops early leaves them, and the same command resumes from them.
 */
export function resumeDir(cacheFile: string): string {
  return path.join(path.dirname(path.dirname(cacheFile)), 'partial', path.basename(cacheFile, '.json'));
}

/** Reads a cached atlas, or `undefined` when there is none or it does not parse. */
export async function readCachedAtlas(file: string): Promise<Atlas | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return parseAtlas(JSON.parse(await fs.readFile(file, 'utf8')), file);
  } catch {
    return undefined;
  }
}

/** Writes an atlas into the cache, atomically. */
export async function writeCachedAtlas(file: string, atlas: Atlas): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
  } catch (err) {
    throw new UnitAttackError('UA_IO', `cannot create the cache folder '${path.dirname(file)}': ${(err as Error).message}`, {
      file, cause: err, hint: `set ${CACHE_ENV_VAR} to a writable folder, or run with --no-cache`,
    });
  }
  await saveAtlas(atlas, file);
}

/**
 * Writes a finished atlas to the cache and answers the cache file, or warns and answers undefined when it cannot be
 * written: the atlas is whole, so a cache that cannot be written costs the next run its time, not this run its result.
 */
export async function cacheAtlasOrWarn(cacheFile: string | undefined, atlas: Atlas, warn: (message: string) => void): Promise<string | undefined> {
  if (!cacheFile) return undefined;
  try {
    await writeCachedAtlas(cacheFile, atlas);
    return cacheFile;
  } catch (err) {
    warn(`the atlas could not be cached (${(err as Error).message}); the next run will compute it again — set ${CACHE_ENV_VAR} to a writable folder, or use --no-cache`);
    return undefined;
  }
}
