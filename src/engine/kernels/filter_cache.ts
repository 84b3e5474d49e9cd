/**
 * Filters derived from model filters (flipped for the input gradient, Winograd-transformed), cached for filters
 * seen more than once (model weights during an attack or inference: every call reuses them). A cached derived
 * filter also keeps XNNPACK's packed copy of it alive, which the wasm kernels cache by tensor id, so a repeated
 * call repacks nothing. Filters seen once (training, where weights change every step) are not cached.
 *
 * An entry is dropped as soon as its source filter is freed (checked on every use) or by {@link clearFilterCache}.
 * Cached entries count in `tf.memory().numDataBuffers`.
 */
import type { TensorInfo } from '../../tf.js';
import type { WasmBackendLike } from './util.js';

interface Entry { derived: TensorInfo[] | null; backend: WasmBackendLike; bytes: number; source: object }

/** By kind and source dataId. Sources seen once map to `null`; seen twice, to their cached derived filter. */
const entries = new Map<string, Map<object, Entry>>();
let cachedBytes = 0;

/**
 * Upper bound on the bytes held by cached derived filters. The full VGG-16 needs 59 MB of flipped filters and
 * 2 × 104 MB of Winograd-transformed ones (of its filters and of their flips).
 */
export const FILTER_CACHE_MAX_BYTES = 512 * 1024 * 1024;

type BackendWithMap = WasmBackendLike & { dataIdMap: { has(dataId: object): boolean } };

function sweep(): void {
  for (const byKind of entries.values()) {
    for (const e of byKind.values()) {
      if (!(e.backend as BackendWithMap).dataIdMap.has(e.source)) drop(byKind, e);
    }
  }
}

function drop(byKind: Map<object, Entry>, e: Entry): void {
  if (e.derived !== null) {
    for (const t of e.derived) e.backend.disposeData(t.dataId);
    cachedBytes -= e.bytes;
  }
  byKind.delete(e.source);
}

/** Frees every cached derived filter. */
export function clearFilterCache(): void {
  for (const byKind of entries.values()) for (const e of byKind.values()) drop(byKind, e);
}

/** Number of derived filters currently cached (of one kind, or of all). */
export function filterCacheSize(kind?: string): number {
  let n = 0;
  for (const [k, byKind] of entries) {
    if (kind !== undefined && k !== kind) continue;
    for (const e of byKind.values()) if (e.derived !== null) n++;
  }
  return n;
}

/**
 * Tensors derived from `filter` (a flipped or transformed filter), from the cache or made by `make`. The caller
 * must call `release` when done (it frees them unless the cache holds them).
 */
export function derivedFilter(
  kind: string, backend: WasmBackendLike, filter: TensorInfo, make: () => TensorInfo[],
): { derived: TensorInfo[]; release: () => void } {
  const free = (ts: TensorInfo[]) => () => {
    for (const t of ts) backend.disposeData(t.dataId);
  };
  if (typeof (backend as Partial<BackendWithMap>).dataIdMap?.has !== 'function') {
    const derived = make();
    return { derived, release: free(derived) };
  }
  sweep();
  let byKind = entries.get(kind);
  if (byKind === undefined) {
    byKind = new Map();
    entries.set(kind, byKind);
  }
  const e = byKind.get(filter.dataId);
  if (e?.derived != null) return { derived: e.derived, release: () => undefined };
  const derived = make();
  const bytes = derived.reduce((a, t) => a + 4 * t.shape.reduce((x, y) => x * y, 1), 0);
  if (e === undefined || cachedBytes + bytes > FILTER_CACHE_MAX_BYTES) {
    if (e === undefined) byKind.set(filter.dataId, { derived: null, backend, bytes: 0, source: filter.dataId });
    return { derived, release: free(derived) };
  }
  e.derived = derived;
  e.bytes = bytes;
  cachedBytes += bytes;
  return { derived, release: () => undefined };
}

/** The flipped filter of `filter` (see {@link derivedFilter}). */
export function flippedFilter(
  backend: WasmBackendLike, filter: TensorInfo, make: () => TensorInfo,
): { flipped: TensorInfo; release: () => void } {
  const { derived, release } = derivedFilter('flipped', backend, filter, () => [make()]);
  return { flipped: derived[0], release };
}
