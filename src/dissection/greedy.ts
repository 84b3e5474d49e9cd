/**
 * Greedy class importance. Single-unit ablation (the PNAS ranking) scores each unit alone, so it misses redundancy:
 * two units that carry the same evidence each look unimportant when zeroed alone, and a class's top-N units by
 * single drops can overlap in what they carry. The greedy ranking zeroes units cumulatively instead: step k keeps
 * the units chosen so far zeroed and adds the candidate whose extra ablation lowers the class's mean
 * log-probability most. Candidates are the class's top units by the single-unit ranking.
 */
import { usageError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { checkChunk, layerGeom, maskedPass, type ChunkSource, type ClassImportance, type ImportanceMetric } from './importance.js';

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
  /**
   * Weight λ of the other classes: a candidate scores its extra drop of the class's log-probability minus λ times
   * the extra mean drop of the other classes' log-probabilities on their own images, so that units every class
   * relies on rank below units this class relies on. 0 ranks by the class alone, as single-unit ablation does.
   * @defaultValue 0
   */
  specificity?: number;
  /**
   * What a step lowers: `logprob` — the class's mean log-probability; `accuracy` — its accuracy (images flipped),
   * ties broken by the log-probability drop. Accuracy aims the ranking at the figure the ablation curves measure.
   * @defaultValue `logprob`
   */
  metric?: ImportanceMetric;
  /** Images of the other classes used when `specificity` > 0 (spread over the classes). @defaultValue 120 */
  maxOthers?: number;
  /** Largest number of activation values stacked into one pass. @defaultValue 4 194 304 */
  maxElements?: number;
  /** Called after each greedy step with (steps done, steps in all). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Re-ranks the top of each class's single-unit ranking greedily (see the module comment). In the result,
 * `drops[i]` of the first `depth` units is the extra mean drop of the metric (log-probability or accuracy) that unit `ranking[i]`
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
  const specificity = options.specificity ?? 0;
  const maxOthers = options.maxOthers ?? 120;
  const metric = options.metric ?? 'logprob';
  if (metric !== 'logprob' && metric !== 'accuracy') throw usageError(`metric must be 'logprob' or 'accuracy', got '${String(metric)}'`, { path: 'metric' });
  if (!(specificity >= 0 && Number.isFinite(specificity))) throw usageError(`specificity must be a number ≥ 0, got ${String(specificity)}`, { path: 'specificity' });
  for (const [name, v] of [['depth', depth], ['candidates', candidates], ['maxImages', maxImages], ['maxOthers', maxOthers]] as const) {
    if (!Number.isInteger(v) || v < 1) throw usageError(`${name} must be a positive integer, got ${String(v)}`, { path: name });
  }
  const names = options.classes ?? Object.keys(single);
  for (const name of names) {
    if (!single[name]) throw usageError(`no single-unit ranking for class '${name}'`, { path: 'classes', hint: `ranked classes: ${Object.keys(single).join(', ')}` });
  }
  const wanted = new Set(names.map((n) => classifier.classNames.indexOf(n)));
  // Every class's images: up to maxImages for the classes re-ranked, and enough of the others for the specificity term.
  const perOther = specificity > 0 ? Math.max(1, Math.ceil(maxOthers / Math.max(1, K - 1))) : 0;
  const acts = new Map<number, Float32Array[]>();
  for await (const c of chunks()) {
    checkChunk(c, geom, K);
    for (let i = 0; i < c.n; i++) {
      const y = c.labels[i];
      const cap = Math.max(wanted.has(y) ? maxImages : 0, perOther);
      const list = acts.get(y) ?? [];
      if (list.length < cap) list.push(c.acts.slice(i * geom.per, (i + 1) * geom.per));
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
    // Rows 0…n-1: the class's images; then, with a specificity term, up to perOther images of each other class.
    const rows: Array<{ acts: Float32Array; y: number }> = list.map((v) => ({ acts: v, y }));
    if (specificity > 0) {
      for (const [d, l] of acts) if (d !== y) rows.push(...l.slice(0, perOther).map((v) => ({ acts: v, y: d })));
    }
    const m = rows.length;
    const a = new Float32Array(m * geom.per);
    rows.forEach((r, i) => a.set(r.acts, i * geom.per));
    const labels = Int32Array.from(rows, (r) => r.y);
    const base = await maskedPass(classifier, layer, geom, a, labels, new Uint8Array(U).fill(1), 1);
    const meanOf = (lp: ArrayLike<number>, off: number, from: number, to: number): number => {
      let sum = 0;
      for (let i = from; i < to; i++) sum += lp[off + i];
      return to > from ? sum / (to - from) : 0;
    };
    const level = (r: { logp: Float32Array; correct: Uint8Array }): ArrayLike<number> => (metric === 'logprob' ? r.logp : r.correct);
    const baseMean = meanOf(level(base), 0, 0, n);
    const baseOthers = meanOf(level(base), 0, n, m);
    const baseLogp = meanOf(base.logp, 0, 0, n);
    const pool = single[name].ranking.slice(0, Math.min(candidates, U));
    const chosen: number[] = [];
    const gains: number[] = [];
    let current = 0; // mean drop with `chosen` zeroed
    const steps = Math.min(depth, pool.length);
    for (let k = 0; k < steps; k++) {
      const rest = pool.filter((u) => !chosen.includes(u));
      const drops = new Float64Array(rest.length);
      const scores = new Float64Array(rest.length);
      const ties = new Float64Array(rest.length);
      const G = Math.max(1, Math.min(rest.length, Math.floor(maxElements / (m * geom.per))));
      for (let s = 0; s < rest.length; s += G) {
        const g = Math.min(G, rest.length - s);
        const masks = new Uint8Array(g * U).fill(1);
        for (let j = 0; j < g; j++) {
          for (const u of chosen) masks[j * U + u] = 0;
          masks[j * U + rest[s + j]] = 0;
        }
        const r = await maskedPass(classifier, layer, geom, a, labels, masks, g);
        for (let j = 0; j < g; j++) {
          drops[s + j] = baseMean - meanOf(level(r), j * m, 0, n);
          scores[s + j] = drops[s + j] - (m > n ? specificity * (baseOthers - meanOf(level(r), j * m, n, m)) : 0);
          ties[s + j] = baseLogp - meanOf(r.logp, j * m, 0, n);
        }
      }
      // the best score; ties go to the larger log-probability drop, then to the unit ranked higher alone (`rest`
      // keeps the single-unit order)
      let best = 0;
      for (let j = 1; j < rest.length; j++) if (scores[j] > scores[best] || (scores[j] === scores[best] && ties[j] > ties[best])) best = j;
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
