/**
 * Attacks split over parts of their images, and put back together.
 *
 * A part (`attack --shard i/N`) runs the whole attack command on a contiguous block of the images and *records*
 * every attack it runs on them: each call of an attack that works image by image (every registered attack but the
 * AutoAttack ensemble, whose components are recorded instead) is kept with its result — the 8-bit adversarial
 * images, predictions, steps, queries, details. The merge runs the same command on all the images and *replays*
 * those calls: each call's result is the parts' results for it, concatenated in image order, as the worker pool
 * concatenates its shards' results (`attacks/_internals/sharded.ts`). Everything computed around the attacks — the
 * ensemble's bookkeeping, the unit attack's measurements, the gradient-masking checks, metrics, pictures — is then
 * computed on the whole set, by the same code as a one-process run, so its output is that run's.
 *
 * This holds because an attack's result for an image does not depend on the other images of its batch: every
 * random choice is drawn from the seed and the image itself (`imageKeys`, `subSeed`), and the kernels compute each
 * image of a batch on its own — the same property that makes the worker pool's results independent of the number of
 * workers. A call whose parts do not add up to the merge's images (a custom attack that looks at its whole batch, or
 * inputs that changed) is an error, never a wrong result.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tf from '../tf.js';
import { UnitAttackError, inputError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { withPool, type WorkerPool } from '../parallel/index.js';
import { mergeResults, type AttackTaskOutput } from './_internals/sharded.js';
import { attackNames, getAttack, registerAttack, runAttack, type AttackImpl, type CustomAttackSpec } from './registry.js';
import type { AttackResult, Labels } from './types.js';

/** Attacks made of other attacks: they run in the merge on the replayed results of their components. */
const COMPOSITE = new Set(['autoattack']);

/** One recorded attack call of a part: which call, on which images, and its result as data. */
export interface AttackRecord {
  /** A hash of the call's spec, with `#k` for its k-th repetition. */
  key: string;
  /** The attack's name. */
  attack: string;
  /** Images of the call. */
  n: number;
  /** sha256 of the call's images and labels, so the merge can check that the parts line up with its images. */
  inputs: string;
  result: AttackResultData;
}

/** An {@link AttackResult} as plain data (the images as float32), as the worker pool's shards answer it. */
export type AttackResultData = AttackTaskOutput;

interface Context {
  mode: 'record' | 'replay';
  /** The pool the recorded calls run on (the part's threads). */
  pool?: WorkerPool;
  /** Inside a recorded call: nested calls run as they are. */
  inside?: boolean;
  records: AttackRecord[];
  /** Replay: each part's records, by key. */
  parts?: Array<Map<string, AttackRecord>>;
  seen: Map<string, number>;
}

const contexts = new AsyncLocalStorage<Context>();
const wrapped = new WeakSet<object>();

/** Wraps every registered attack (once) so that a record or replay context sees its calls; outside one they run as they are. */
function wrapAttacks(): void {
  for (const name of attackNames()) {
    const impl = getAttack(name);
    if (wrapped.has(impl)) continue;
    const wrapper: AttackImpl = {
      ...(impl.description !== undefined ? { description: impl.description } : {}),
      run: (classifier, x, labels, spec) => {
        const ctx = contexts.getStore();
        if (!ctx || ctx.inside || COMPOSITE.has(spec.kind)) return impl.run(classifier, x, labels, spec);
        return ctx.mode === 'record' ? recordCall(ctx, classifier, x, labels, spec) : replayCall(ctx, x, labels, spec);
      },
    };
    wrapped.add(wrapper);
    registerAttack(name, wrapper);
  }
}

/** A key for a call: its spec (functions such as onProgress left out), numbered by repetition. */
function callKey(ctx: Context, spec: CustomAttackSpec): string {
  const base = createHash('sha256').update(JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))).digest('hex').slice(0, 24);
  const k = ctx.seen.get(base) ?? 0;
  ctx.seen.set(base, k + 1);
  return `${spec.kind}:${base}#${k}`;
}

async function labelArray(labels: Labels, n: number): Promise<Int32Array> {
  const arr = labels instanceof tf.Tensor ? await labels.data() : labels;
  return Int32Array.from({ length: n }, (_, i) => Number(arr[i]));
}

/** sha256 of rows `[from, to)` of images and labels. */
function inputsHash(pixels: Float32Array, labels: Int32Array, from: number, to: number, per: number): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(pixels.buffer, pixels.byteOffset + from * per * 4, (to - from) * per * 4));
  h.update(new Uint8Array(labels.buffer, labels.byteOffset + from * 4, (to - from) * 4));
  return h.digest('hex');
}

async function recordCall(ctx: Context, classifier: Classifier, x: tf.Tensor4D, labels: Labels, spec: CustomAttackSpec): Promise<AttackResult> {
  const key = callKey(ctx, spec);
  const n = x.shape[0];
  const pixels = await x.data() as Float32Array;
  const y = await labelArray(labels, n);
  // The call runs as a one-process run would run it: on the part's threads when it has some.
  const r = await contexts.run({ ...ctx, inside: true }, () => withPool(ctx.pool, () => runAttack(classifier, x, labels, spec)));
  const { adversarial, ...rest } = r;
  const data: AttackResultData = structuredClone({ ...rest, adversarial: Float32Array.from(await adversarial.data() as Float32Array) });
  ctx.records.push({ key, attack: spec.kind, n, inputs: inputsHash(pixels, y, 0, n, n > 0 ? pixels.length / n : 0), result: data });
  return r;
}

async function replayCall(ctx: Context, x: tf.Tensor4D, labels: Labels, spec: CustomAttackSpec): Promise<AttackResult> {
  const key = callKey(ctx, spec);
  const n = x.shape[0];
  const found = (ctx.parts ?? []).map((p) => p.get(key)).filter((r): r is AttackRecord => r !== undefined && r.n > 0);
  const total = found.reduce((s, r) => s + r.n, 0);
  if (total !== n) {
    throw inputError(`the parts hold ${total} image(s) of the ${spec.kind} attack call ${key.split('#')[0]}, but the merge attacks ${n} there`, {
      hint: 'the parts were made with other options, images or another version of unit-attack, or the attack looks at its whole batch; run every part again with the same command',
    });
  }
  const pixels = await x.data() as Float32Array;
  const y = await labelArray(labels, n);
  const per = n > 0 ? pixels.length / n : 0;
  let at = 0;
  for (const r of found) {
    if (inputsHash(pixels, y, at, at + r.n, per) !== r.inputs) {
      throw inputError(`images ${at}–${at + r.n - 1} of the ${spec.kind} attack differ from those the part attacked`, {
        hint: 'the merge must read the same images (and labels) as the parts: the same files at the same paths, the same --synthetic seed',
      });
    }
    at += r.n;
  }
  return mergeResults(found.map((r) => r.result), x.shape);
}

/**
 * Runs `work` and records the attack calls it makes (each on `pool` when given).
 * The work must not itself run inside a pool: the recorded calls do.
 */
export async function recordAttacks<T>(pool: WorkerPool | undefined, work: () => Promise<T>): Promise<{ value: T; records: AttackRecord[] }> {
  wrapAttacks();
  const ctx: Context = { mode: 'record', ...(pool ? { pool } : {}), records: [], seen: new Map() };
  const value = await contexts.run(ctx, work);
  return { value, records: ctx.records };
}

/**
 * Runs `work` with every attack call answered from the parts' records (in part order) instead of attacking. `work`
 * must run without a worker pool, so that every call reaches the registry's attacks.
 */
export async function replayAttacks<T>(parts: ReadonlyArray<readonly AttackRecord[]>, work: () => Promise<T>): Promise<T> {
  wrapAttacks();
  const ctx: Context = { mode: 'replay', records: [], parts: parts.map((p) => new Map(p.map((r) => [r.key, r]))), seen: new Map() };
  return contexts.run(ctx, work);
}

/** The parts' results of a call put back together as the worker pool puts its shards' results together. */
export { mergeResults };

const TYPED = { Float32Array, Float64Array, Int32Array, Uint32Array, Uint8Array, Int8Array, Int16Array, Uint16Array } as const;
type TypedName = keyof typeof TYPED;

/** Records as bytes: gzipped JSON with typed arrays as base64 and non-finite numbers (and −0) tagged, so every bit comes back. */
export function encodeRecords(records: readonly AttackRecord[]): Uint8Array {
  const text = JSON.stringify({ format: 'unit-attack-attack-records', version: 1, records }, function (this: unknown, _k, v: unknown) {
    if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return { $num: Object.is(v, -0) ? '-0' : String(v) };
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor.name as TypedName;
      if (!(name in TYPED)) throw new UnitAttackError('UA_INTERNAL', `cannot record a ${name}`);
      return { $typed: name, base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    }
    return v;
  });
  return new Uint8Array(gzipSync(text));
}

/** The records of {@link encodeRecords}; an input error naming `file` when the bytes are not such records. */
export function decodeRecords(bytes: Uint8Array, file: string): AttackRecord[] {
  let doc: { format?: string; records?: AttackRecord[] };
  try {
    doc = JSON.parse(gunzipSync(bytes).toString('utf8'), (_k, v: unknown) => {
      if (v && typeof v === 'object' && '$num' in v) return Number((v as { $num: string }).$num);
      if (v && typeof v === 'object' && '$typed' in v) {
        const t = v as { $typed: TypedName; base64: string };
        const buf = Buffer.from(t.base64, 'base64');
        const Ctor = TYPED[t.$typed];
        const copy = new Uint8Array(buf.byteLength);
        copy.set(buf);
        return new Ctor(copy.buffer, 0, buf.byteLength / Ctor.BYTES_PER_ELEMENT);
      }
      return v;
    }) as { format?: string; records?: AttackRecord[] };
  } catch (err) {
    throw inputError(`'${file}' is not readable attack records: ${(err as Error).message}`, { file, hint: 'it was torn or changed; run that part again', cause: err });
  }
  if (doc.format !== 'unit-attack-attack-records' || !Array.isArray(doc.records)) {
    throw inputError(`'${file}' is not a file of attack records`, { file, hint: 'it is written by `unit-attack attack … --shard i/N`' });
  }
  return doc.records;
}
