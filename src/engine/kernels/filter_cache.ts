/**
 * Flipped filters for the input-gradient kernels, cached for filters seen more than once (model weights during an
 * attack: every step reuses them). A cached flipped filter also keeps XNNPACK's packed copy of it alive, which the
 * wasm Conv2D caches by tensor id, so a repeated input gradient repacks nothing.
 *
 * An entry is dropped as soon as its source filter is freed (checked on every use) or by {@link clearFilterCache}.
 * Cached entries count in `tf.memory().numDataBuffers`.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WasmBackendLike } from './util.js';

interface Entry { flipped: TensorInfo | null; backend: WasmBackendLike; bytes: number }

/** Sources seen once map to `null`; seen twice, to their cached flipped filter. */
const entries = new Map<object, Entry>();
let cachedBytes = 0;

/** Upper bound on the bytes held by cached flipped filters (the full VGG-16 needs 59 MB). */
export const FILTER_CACHE_MAX_BYTES = 256 * 1024 * 1024;

type BackendWithMap = WasmBackendLike & { dataIdMap: { has(dataId: object): boolean } };

function sweep(): void {
  for (const [source, e] of entries) {
    if (!(e.backend as BackendWithMap).dataIdMap.has(source)) drop(source, e);
  }
}

function drop(source: object, e: Entry): void {
  if (e.flipped !== null) {
    e.backend.disposeData(e.flipped.dataId);
    cachedBytes -= e.bytes;
  }
  entries.delete(source);
}

/** Frees every cached flipped filter. */
export function clearFilterCache(): void {
  for (const [source, e] of entries) drop(source, e);
}

/** Number of flipped filters currently cached. */
export function filterCacheSize(): number {
  let n = 0;
  for (const e of entries.values()) if (e.flipped !== null) n++;
  return n;
}

/**
 * The flipped filter of `filter`, from the cache or made by `make`. The caller must call `release` on the result
 * when done (it frees it unless the cache holds it).
 */
export function flippedFilter(
  backend: WasmBackendLike, filter: TensorInfo, make: () => TensorInfo,
): { flipped: TensorInfo; release: () => void } {
  const canTrack = typeof (backend as Partial<BackendWithMap>).dataIdMap?.has === 'function';
  if (!canTrack) {
    const flipped = make();
    return { flipped, release: () => backend.disposeData(flipped.dataId) };
  }
  sweep();
  const e = entries.get(filter.dataId);
  if (e?.flipped != null) return { flipped: e.flipped, release: () => undefined };
  const flipped = make();
  const bytes = 4 * flipped.shape.reduce((a, b) => a * b, 1);
  if (e === undefined || cachedBytes + bytes > FILTER_CACHE_MAX_BYTES) {
    if (e === undefined) entries.set(filter.dataId, { flipped: null, backend, bytes: 0 });
    return { flipped, release: () => backend.disposeData(flipped.dataId) };
  }
  e.flipped = flipped;
  e.bytes = bytes;
  cachedBytes += bytes;
  return { flipped, release: () => undefined };
}
