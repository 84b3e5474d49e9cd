/**
 * Runs an attack with its images spread over a worker pool: contiguous shards of the batch go to the workers, each
 * runs the same attack on its shard, and the answers are put back together in image order. Every per-image choice
 * of the attacks depends only on the image and the seed (see `imageKeys`), and the wasm kernels compute each image
 * of a batch on its own, so the adversarial images are the same as from one batch on one thread.
 */
import * as tf from '../../tf.js';
import { UnitAttackError } from '../../errors.js';
import { splitRange, type WorkerPool } from '../../parallel/executor.js';
import type { AttackProgress, AttackResult } from '../types.js';

/** The attacks whose code every worker has (custom ones may be registered on this thread only). */
const SHARDABLE = new Set(['fgsm', 'pgd', 'cw', 'square', 'apgd-ce', 'apgd-dlr', 'apgd-t', 'fab', 'fab-t']);

/** What the `attack` pool task receives. */
export interface AttackTaskInput {
  x: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** The attack spec without `onProgress`. */
  spec: { kind: string } & Record<string, unknown>;
}

/** What the `attack` pool task answers: an {@link AttackResult} with the images as data. */
export type AttackTaskOutput = Omit<AttackResult, 'adversarial'> & { adversarial: Float32Array };

/** An attack result as plain data for {@link AttackTaskOutput}; disposes the result's images. */
export async function attackResultToData(r: AttackResult): Promise<AttackTaskOutput> {
  const { adversarial, ...rest } = r;
  try {
    return { ...rest, adversarial: Float32Array.from(await adversarial.data() as Float32Array) };
  } finally {
    adversarial.dispose();
  }
}

/**
 * The inputs in the form the workers take, or `undefined` when this attack should run here: a custom attack, one
 * image, a spec that cannot be copied to a thread (functions), or inputs the attack itself will reject with a
 * precise message.
 */
async function shardable(x: tf.Tensor4D, labels: ArrayLike<number> | tf.Tensor1D, spec: { kind: string } & Record<string, unknown>, inputSize: readonly [number, number]): Promise<{ labels: Int32Array; spec: AttackTaskInput['spec'] } | undefined> {
  if (!SHARDABLE.has(spec.kind)) return undefined;
  if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.dtype !== 'float32' || x.shape[0] < 2) return undefined;
  if (x.shape[1] !== inputSize[0] || x.shape[2] !== inputSize[1] || x.shape[3] !== 3) return undefined;
  const arr = labels instanceof tf.Tensor ? await labels.data() : labels;
  if (!arr || arr.length !== x.shape[0]) return undefined;
  const rest: AttackTaskInput['spec'] = { ...spec };
  delete rest.onProgress;
  let copy: AttackTaskInput['spec'];
  try {
    copy = structuredClone(rest);
  } catch {
    return undefined;
  }
  const range = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]));
  const [lo, hi] = await range.data();
  range.dispose();
  if (!(lo >= 0 && hi <= 1)) return undefined;
  return { labels: Int32Array.from(arr), spec: copy };
}

/**
 * Runs `spec` on `x` over the pool's workers, or returns `undefined` when it should run on this thread instead
 * (see {@link shardable}).
 */
export async function runAttackSharded(
  pool: WorkerPool, x: tf.Tensor4D, labels: ArrayLike<number> | tf.Tensor1D, spec: { kind: string; onProgress?: (p: AttackProgress) => void } & Record<string, unknown>,
): Promise<AttackResult | undefined> {
  const ok = await shardable(x, labels, spec, pool.classifier.inputSize);
  if (!ok) return undefined;
  const [n, h, w, c] = x.shape;
  const per = h * w * c;
  const pixels = await x.data() as Float32Array;
  // Four shards per worker: images stop early after very different numbers of steps, and small shards keep both
  // workers busy until the end (PGD-50 on 16 images of the built-in model, 2 workers: 2.79 images/s, 2.52 with
  // two shards per worker).
  const shards = splitRange(n, pool.size * 4);
  const rounds = spec.kind === 'pgd' || spec.kind === 'apgd-ce' || spec.kind === 'apgd-dlr' || spec.kind === 'fab' ? Number(spec.restarts ?? 1)
    : spec.kind === 'apgd-t' || spec.kind === 'fab-t' ? Number(spec.restarts ?? 1) * Number(spec.targetClasses ?? 9)
      : spec.kind === 'cw' ? Number(spec.binarySteps ?? 5) : 1;
  const progress = progressMerger(shards.length, rounds, spec.onProgress);
  const settled = await Promise.allSettled(shards.map(async ([a, b], k) => {
    const input: AttackTaskInput = { x: pixels.slice(a * per, b * per), shape: [b - a, h, w, c], labels: ok.labels.slice(a, b), spec: ok.spec };
    const out = await pool.run<AttackTaskOutput>({
      kind: 'attack', input, label: `${spec.kind} on image${b - a > 1 ? `s ${a}–${b - 1}` : ` ${a}`}`, transfer: [input.x.buffer as ArrayBuffer],
      onProgress: (d) => progress.step(k, d as AttackProgress),
    });
    progress.finished(k);
    return out;
  }));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const parts = settled.map((r) => (r as PromiseFulfilledResult<AttackTaskOutput>).value);
  return mergeResults(parts, [n, h, w, c]);
}

/**
 * The results of consecutive blocks of images as one result, as one batch would have it: the worker pool's shards
 * here, and the parts of an attack (`attacks/parts.ts`) in a merge.
 */
export function mergeResults(parts: AttackTaskOutput[], shape: readonly number[]): AttackResult {
  const first = parts[0];
  if (!first) throw new UnitAttackError('UA_INTERNAL', 'no part results to merge');
  const cat = <A extends Int32Array | Float32Array>(get: (p: AttackTaskOutput) => A, make: (k: number) => A): A => {
    const out = make(parts.reduce((s, p) => s + get(p).length, 0));
    let o = 0;
    for (const p of parts) { out.set(get(p), o); o += get(p).length; }
    return out;
  };
  const details = mergeDetails(parts.map((p) => p.details), parts.map((p) => p.predictions.length));
  const result: AttackResult = {
    attack: first.attack,
    adversarial: tf.tensor4d(cat((p) => p.adversarial, (k) => new Float32Array(k)), shape as [number, number, number, number]),
    success: parts.flatMap((p) => p.success),
    predictions: cat((p) => p.predictions, (k) => new Int32Array(k)),
    cleanPredictions: cat((p) => p.cleanPredictions, (k) => new Int32Array(k)),
    objective: cat((p) => p.objective, (k) => new Float32Array(k)),
    steps: cat((p) => p.steps, (k) => new Int32Array(k)),
    queries: cat((p) => p.queries, (k) => new Int32Array(k)),
    norm: first.norm, epsilon: first.epsilon, ...(first.minPsnr !== undefined ? { minPsnr: first.minPsnr } : {}),
    goal: first.goal, objectiveName: first.objectiveName, seed: first.seed, backend: first.backend, tfjsVersion: first.tfjsVersion,
    warnings: mergeWarnings(parts),
  };
  if (details) result.details = details;
  return result;
}

/** The first-gradient check's message (`checkFirstGradient`): counts and image indices of one batch. */
const GRADIENT = /^(.+?): the input gradient is (NaN|zero) for (\d+) of (\d+) images \((images? [^)]*)\); ([\s\S]*)$/;
const SATURATED = /^the softmax is saturated on (\d+) of them ([\s\S]*)$/;

/**
 * The parts' warnings as one batch would have them: each message once, in the order first seen, and the messages of
 * the first-gradient check — which count images and name them by their place in the batch — added up over the
 * parts, with the images named by their place in the whole. When a part has such a message more than once, the
 * messages stay as they are.
 */
function mergeWarnings(parts: readonly AttackTaskOutput[]): string[] {
  const parsed = parts.map((p) => p.warnings.map((w) => GRADIENT.exec(w)));
  const kinds = new Map<string, Array<{ part: number; m: RegExpExecArray }>>();
  for (const [i, list] of parsed.entries()) {
    for (const m of list) if (m) { const k = `${m[1]}\u0000${m[2]}`; kinds.set(k, [...(kinds.get(k) ?? []), { part: i, m }]); }
  }
  const combined = new Map<string, string>();
  for (const [k, found] of kinds) {
    if (new Set(found.map((f) => f.part)).size !== found.length) continue;
    const offsets: number[] = [];
    let at = 0;
    for (const p of parts) { offsets.push(at); at += p.predictions.length; }
    let count = 0; let total = 0; let saturated = 0; let satText: string | undefined; let cause: string | undefined;
    const images: number[] = [];
    const by = new Map(found.map((f) => [f.part, f.m]));
    for (const [i, p] of parts.entries()) {
      const m = by.get(i);
      if (!m) { total += p.predictions.length; continue; }
      count += Number(m[3]); total += Number(m[4]);
      images.push(...(m[5].match(/\d+/g) ?? []).map((d) => Number(d) + offsets[i]));
      const sat = SATURATED.exec(m[6]);
      if (sat) { saturated += Number(sat[1]); satText = sat[2]; } else cause ??= m[6];
    }
    const [attack, kind] = k.split('\u0000');
    const sample = `image${count > 1 ? 's' : ''} ${images.slice(0, 5).join(', ')}${count > 5 ? ', …' : ''}`;
    const why = saturated > 0 ? `the softmax is saturated on ${saturated} of them ${satText ?? ''}` : (cause ?? '');
    combined.set(k, `${attack}: the input gradient is ${kind} for ${count} of ${total} images (${sample}); ${why}`);
  }
  const out: string[] = [];
  const seen = new Set<string>();
  for (const [i, p] of parts.entries()) {
    for (const [j, w] of p.warnings.entries()) {
      const m = parsed[i][j];
      const text = m ? combined.get(`${m[1]}\u0000${m[2]}`) ?? w : w;
      if (!seen.has(text)) { seen.add(text); out.push(text); }
    }
  }
  return out;
}

/**
 * Details put back together: per-image arrays concatenated, `imagesPerRestart` / `imagesPerRound` added up round by
 * round, `restartsRun` / `roundsRun` the most any part ran, anything else the first part's.
 */
function mergeDetails(all: Array<Record<string, unknown> | undefined>, sizes: number[]): Record<string, unknown> | undefined {
  if (all.every((d) => d === undefined)) return undefined;
  const out: Record<string, unknown> = {};
  const keys = new Set(all.flatMap((d) => Object.keys(d ?? {})));
  for (const key of keys) {
    const vals = all.map((d) => d?.[key]);
    if (key === 'restartsRun' || key === 'roundsRun') {
      out[key] = Math.max(...vals.map((v) => (typeof v === 'number' ? v : 0)));
    } else if (key === 'imagesPerRestart' || key === 'imagesPerRound') {
      const sum: number[] = [];
      for (const v of vals) (Array.isArray(v) ? v as number[] : []).forEach((k, i) => { sum[i] = (sum[i] ?? 0) + k; });
      out[key] = sum;
    } else if (vals.every((v, i) => Array.isArray(v) && v.length === sizes[i])) {
      out[key] = vals.flatMap((v) => v as unknown[]);
    } else {
      out[key] = vals.find((v) => v !== undefined);
    }
  }
  return out;
}

/**
 * Progress of the whole batch from the shards' progress: the shards' mean share of their steps done (a finished
 * shard counts as done, also when its images stopped early), reported as that share of one batch's steps, one
 * report per step, so a progress bar sees the steps of one batch.
 */
function progressMerger(shards: number, rounds: number, onProgress: ((p: AttackProgress) => void) | undefined): {
  step(shard: number, p: AttackProgress): void; finished(shard: number): void;
} {
  const share = new Float64Array(shards);
  const active = new Int32Array(shards);
  let reported = 0;
  let last: AttackProgress | undefined;
  const emit = (): void => {
    if (!onProgress || !last) return;
    const total = last.total * rounds;
    const mean = Math.floor((share.reduce((a, b) => a + b, 0) / shards) * total + 1e-9);
    const act = active.reduce((a, b) => a + b, 0);
    while (reported < Math.min(mean, total)) {
      reported++;
      onProgress({ attack: last.attack, step: ((reported - 1) % last.total) + 1, total: last.total, active: act, round: Math.floor((reported - 1) / last.total) });
    }
  };
  return {
    step(shard, p) {
      last = p;
      share[shard] = Math.min(1, (p.round * p.total + p.step) / (p.total * rounds));
      active[shard] = p.active;
      emit();
    },
    finished(shard) {
      share[shard] = 1;
      active[shard] = 0;
      emit();
    },
  };
}
