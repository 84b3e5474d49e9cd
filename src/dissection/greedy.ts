/**
 * Greedy class importance. Single-unit ablation (the PNAS ranking) scores each unit alone, so it misses redundancy:
 * two units that carry the same evidence each look unimportant when zeroed alone, and a class's top-N units by
 * single drops can overlap in what they carry. The greedy ranking zeroes units cumulatively instead: step k keeps
 * the units chosen so far zeroed and adds the candidate whose extra ablation lowers the class's mean
 * log-probability most. Candidates are the class's top units by the single-unit ranking.
 */
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { checkChunk, layerGeom, maskedPass, type ChunkSource, type ClassImportance } from './importance.js';

/** Options for {@link greedyRanking}. */
export interface GreedyOptions {
  /** Units chosen greedily per class; the rest of the ranking follows the single-unit order. @defaultValue 20 */
  depth?: number;
  /** Candidates per step: the class's top units by the single-unit ranking. @defaultValue 40 */
  candidates?: number;
  /** Images per class used (the first ones met). @defaultValue 200 */
  maxImages?: number;
  /** Classes to re-rank. @defaultValue every class of `single` */
  classes?: readonly string[];
  /** Largest number of activation values stacked into one pass. @defaultValue 4 194 304 */
  maxElements?: number;
  /** Called after each greedy step with (steps done, steps in all). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Re-ranks the top of each class's single-unit ranking greedily (see the module comment). In the result,
 * `drops[i]` of the first `depth` units is the extra mean drop of the class's log-probability that unit `ranking[i]`
 * added when it was chosen; the units after them keep their single-unit order and drops.
 *
 * @example
 * const single = await rankUnits(clf, 'block5_conv3', chunks);
 * const greedy = await greedyRanking(clf, 'block5_conv3', chunks, single, { classes: ['ski_resort'] });
 */
export async function greedyRanking(
  classifier: Classifier, layer: string, chunks: ChunkSource, single: Readonly<Record<string, ClassImportance>>, options: GreedyOptions = {},
): Promise<Record<string, ClassImportance>> {
  const geom = layerGeom(classifier, layer);
  const U = geom.units;
  const K = classifier.classNames.length;
  const depth = options.depth ?? 20;
  const candidates = options.candidates ?? 40;
  const maxImages = options.maxImages ?? 200;
  const maxElements = options.maxElements ?? 1 << 22;
  for (const [name, v] of [['depth', depth], ['candidates', candidates], ['maxImages', maxImages]] as const) {
    if (!Number.isInteger(v) || v < 1) throw usageError(`${name} must be a positive integer, got ${String(v)}`, { path: name });
  }
  const names = options.classes ?? Object.keys(single);
  for (const name of names) {
    if (!single[name]) throw usageError(`no single-unit ranking for class '${name}'`, { path: 'classes', hint: `ranked classes: ${Object.keys(single).join(', ')}` });
  }
  const wanted = new Set(names.map((n) => classifier.classNames.indexOf(n)));
  // The class's own images, up to maxImages each.
  const acts = new Map<number, Float32Array[]>();
  for await (const c of chunks()) {
    checkChunk(c, geom, K);
    for (let i = 0; i < c.n; i++) {
      const y = c.labels[i];
      if (!wanted.has(y)) continue;
      const list = acts.get(y) ?? [];
      if (list.length < maxImages) list.push(c.acts.slice(i * geom.per, (i + 1) * geom.per));
      acts.set(y, list);
    }
  }
  const out: Record<string, ClassImportance> = { ...single };
  const total = names.length * Math.min(depth, U);
  let done = 0;
  for (const name of names) {
    const y = classifier.classNames.indexOf(name);
    const list = acts.get(y) ?? [];
    if (list.length === 0) continue;
    const n = list.length;
    const a = new Float32Array(n * geom.per);
    list.forEach((v, i) => a.set(v, i * geom.per));
    const labels = new Int32Array(n).fill(y);
    const base = await maskedPass(classifier, layer, geom, a, labels, new Uint8Array(U).fill(1), 1);
    const baseMean = base.logp.reduce((s, v) => s + v, 0) / n;
    const pool = single[name].ranking.slice(0, Math.min(candidates, U));
    const chosen: number[] = [];
    const gains: number[] = [];
    let current = 0; // mean drop with `chosen` zeroed
    const steps = Math.min(depth, pool.length);
    for (let k = 0; k < steps; k++) {
      const rest = pool.filter((u) => !chosen.includes(u));
      const drops = new Float64Array(rest.length);
      const G = Math.max(1, Math.min(rest.length, Math.floor(maxElements / (n * geom.per))));
      for (let s = 0; s < rest.length; s += G) {
        const g = Math.min(G, rest.length - s);
        const masks = new Uint8Array(g * U).fill(1);
        for (let j = 0; j < g; j++) {
          for (const u of chosen) masks[j * U + u] = 0;
          masks[j * U + rest[s + j]] = 0;
        }
        const r = await maskedPass(classifier, layer, geom, a, labels, masks, g);
        for (let j = 0; j < g; j++) {
          let sum = 0;
          for (let i = 0; i < n; i++) sum += r.logp[j * n + i];
          drops[s + j] = baseMean - sum / n;
        }
      }
      // the largest drop; ties go to the unit ranked higher alone (`rest` keeps the single-unit order)
      let best = 0;
      for (let j = 1; j < rest.length; j++) if (drops[j] > drops[best]) best = j;
      chosen.push(rest[best]);
      gains.push(drops[best] - current);
      current = drops[best];
      options.onProgress?.(++done, total);
    }
    const s = single[name];
    const tail = s.ranking.map((u, i) => [u, s.drops[i]] as const).filter(([u]) => !chosen.includes(u));
    out[name] = { ranking: [...chosen, ...tail.map(([u]) => u)], drops: [...gains, ...tail.map(([, d]) => d)], count: s.count };
  }
  return out;
}
