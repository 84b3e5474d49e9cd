/**
 * How well a segmenter reads the scene world: pooled IoU per concept of its label maps against the exact ones.
 */
import { CONCEPTS, SCENE_CLASSES, renderScene, sceneLabelPlanes, sceneSeed } from '../data/scenes/index.js';
import { usageError } from '../errors.js';
import type { Segmenter } from './segmenter.js';

/** Options for {@link evaluateSegmenter}. */
export interface EvaluateSegmenterOptions {
  /** Held-out scenes. @defaultValue 2000 */
  count?: number;
  /** Dataset seed of the scenes; use one the segmenter was not trained on. @defaultValue 1_000_003 */
  seed?: number;
  /** Side length. @defaultValue 96 */
  size?: number;
  /** @defaultValue every scene class */
  classes?: readonly string[];
  /** @defaultValue 50 */
  batchSize?: number;
  /** Concepts covering at least this share of pixels enter the mean IoU. @defaultValue 0.005 */
  minShare?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Per-concept result of {@link evaluateSegmenter}. */
export interface ConceptScore {
  concept: string;
  category: string;
  /** Share of all pixels that the exact label maps give this concept. */
  share: number;
  /** Pooled IoU: Σ|pred ∩ true| / Σ|pred ∪ true| over all scenes. */
  iou: number;
  /** Share of the concept's pixels the segmenter finds, and of its predicted pixels that are right. */
  recall: number;
  precision: number;
}

export interface SegmenterEvaluation {
  count: number;
  seed: number;
  size: number;
  /** Mean IoU over the concepts with `share ≥ minShare`. */
  meanIou: number;
  minShare: number;
  concepts: ConceptScore[];
  seconds: number;
}

/**
 * Segments `count` fresh scenes and scores each concept's pooled IoU against the exact label planes (a pixel counts
 * for its visible concept and for the whole object under it, as in dissection).
 *
 * @example
 * const ev = await evaluateSegmenter(await loadSegmenter('builtin:scenes-segmenter'), { count: 200 });
 * ev.concepts.find((c) => c.concept === 'tree')?.iou;
 */
export async function evaluateSegmenter(segmenter: Segmenter, options: EvaluateSegmenterOptions = {}): Promise<SegmenterEvaluation> {
  const t0 = Date.now();
  const count = options.count ?? 2000; const seed = options.seed ?? 1_000_003; const size = options.size ?? 96;
  const classes = options.classes ?? SCENE_CLASSES; const batchSize = options.batchSize ?? 50; const minShare = options.minShare ?? 0.005;
  if (!Number.isInteger(count) || count < 1) throw usageError(`count must be a positive integer, got ${String(count)}`, { path: 'count' });
  if (!Number.isInteger(batchSize) || batchSize < 1) throw usageError(`batchSize must be a positive integer, got ${String(batchSize)}`, { path: 'batchSize' });
  const maxId = Math.max(CONCEPTS.length, ...segmenter.concepts.map((c) => c.id));
  // Scene-world concept id → the segmenter's id for the same name (0 when it does not label it).
  const predIdOf = new Int32Array(CONCEPTS.length + 1);
  for (const c of CONCEPTS) predIdOf[c.id] = segmenter.concepts.find((s) => s.name === c.name)?.id ?? 0;
  const inter = new Float64Array(maxId + 1); const truth = new Float64Array(maxId + 1); const pred = new Float64Array(maxId + 1);
  const n = size * size;
  const planes = segmenter.categories.length;
  const mark = new Uint8Array(maxId + 1);
  let pixels = 0;
  for (let from = 0; from < count; from += batchSize) {
    const m = Math.min(batchSize, count - from);
    const images = new Float32Array(m * n * 3);
    const exact: Uint16Array[] = [];
    for (let i = 0; i < m; i++) {
      const index = from + i;
      const scene = renderScene({ cls: classes[index % classes.length], seed: sceneSeed(seed, index), size });
      for (let k = 0; k < scene.image.length; k++) images[i * n * 3 + k] = scene.image[k] / 255;
      exact.push(sceneLabelPlanes(scene));
    }
    const maps = segmenter.segment(images, m, size, size);
    for (let i = 0; i < m; i++) {
      const e = exact[i];
      for (let p = 0; p < n; p++) {
        // Truth: the scene's concepts at this pixel, in the segmenter's ids; prediction: its label in each category.
        const t1 = predIdOf[e[p]] ?? 0; const t2 = predIdOf[e[n + p]] ?? 0;
        if (t1) { truth[t1]++; mark[t1] |= 1; }
        if (t2 && t2 !== t1) { truth[t2]++; mark[t2] |= 1; }
        for (let k = 0; k < planes; k++) {
          const v = maps[(i * planes + k) * n + p];
          if (v && !(mark[v] & 2)) { pred[v]++; mark[v] |= 2; if (mark[v] & 1) inter[v]++; }
        }
        if (t1) mark[t1] = 0;
        if (t2) mark[t2] = 0;
        for (let k = 0; k < planes; k++) mark[maps[(i * planes + k) * n + p]] = 0;
      }
      pixels += n;
    }
    options.onProgress?.(from + m, count);
    await new Promise((r) => setImmediate(r));
  }
  const concepts: ConceptScore[] = segmenter.concepts.map((c) => {
    const union = truth[c.id] + pred[c.id] - inter[c.id];
    return {
      concept: c.name, category: c.category, share: truth[c.id] / pixels,
      iou: union > 0 ? inter[c.id] / union : 0,
      recall: truth[c.id] > 0 ? inter[c.id] / truth[c.id] : 0,
      precision: pred[c.id] > 0 ? inter[c.id] / pred[c.id] : 0,
    };
  });
  const big = concepts.filter((c) => c.share >= minShare);
  const meanIou = big.length > 0 ? big.reduce((a, c) => a + c.iou, 0) / big.length : 0;
  return { count, seed, size, meanIou, minShare, concepts, seconds: (Date.now() - t0) / 1000 };
}
