/**
 * Training batches for the scene segmenter: rendered scenes, their per-category targets, and the augmentation that
 * makes the segmenter read imperfect, generated-looking images (flips, small shifts, colour jitter, blur, noise and
 * blockiness). Every choice is drawn from the scene's seed, so a batch is a pure function of (dataset seed, index).
 */
import * as tf from '../tf.js';
import { CONCEPTS, Rng, SCENE_CLASSES, SCENE_CLASS_CONFIGS, EXTRA_SCENE_CLASS_CONFIGS, hash32, renderScene, sceneSeed, type RenderedScene } from '../data/scenes/index.js';
import { SCENE_SEGMENTER_CATEGORIES, type SegmenterCategory } from '../segment/net.js';

/** For each scene-world concept id, its category index and channel within that category (0 = not predicted). */
export function conceptChannels(categories: readonly SegmenterCategory[] = SCENE_SEGMENTER_CATEGORIES): { category: Int32Array; channel: Int32Array } {
  const n = CONCEPTS.length + 1;
  const category = new Int32Array(n).fill(-1);
  const channel = new Int32Array(n);
  categories.forEach((cat, k) => cat.concepts.forEach((name, j) => {
    const c = CONCEPTS.find((x) => x.name === name);
    if (c !== undefined) { category[c.id] = k; channel[c.id] = j + 1; }
  }));
  return { category, channel };
}

/**
 * Per-category targets of a rendered scene, `[categories, H·W]` channel indices (0 = none): the visible concept of
 * each pixel in its own category, and the whole object under it (a house under its roof, window or door) in the
 * object category — the same pixels the exact label planes give each concept.
 */
export function sceneTargets(
  scene: { labels: Uint16Array; objects: Uint16Array },
  categories: readonly SegmenterCategory[] = SCENE_SEGMENTER_CATEGORIES,
  lookup = conceptChannels(categories),
): Int32Array {
  const n = scene.labels.length;
  const out = new Int32Array(categories.length * n);
  for (let i = 0; i < n; i++) {
    for (const id of [scene.objects[i], scene.labels[i]]) {
      if (id === 0) continue;
      const k = lookup.category[id];
      if (k >= 0) out[k * n + i] = lookup.channel[id];
    }
  }
  return out;
}

/** Switches of {@link augmentScene}; all on by default. */
export interface AugmentOptions {
  flip?: boolean;
  /** Largest shift as a share of the side. @defaultValue 0.05 */
  shift?: number;
  color?: boolean;
  blur?: boolean;
  noise?: boolean;
  blocky?: boolean;
}

const AUGMENT_SALT = 0xa09e;

/**
 * Augments one scene in place of a copy: returns the image as floats in [0, 1] and the targets moved with it.
 * Flip and shift move image and targets alike (edges replicated); colour, blur, noise and blockiness touch the image
 * only. Deterministic in `seed`.
 */
export function augmentScene(
  image: Uint8Array, targets: Int32Array, planes: number, size: number, seed: number, options: AugmentOptions = {},
): { image: Float32Array; targets: Int32Array } {
  const rng = new Rng(hash32(seed >>> 0, AUGMENT_SALT));
  const n = size * size;
  const flip = (options.flip ?? true) && rng.next() < 0.5;
  const maxShift = Math.round((options.shift ?? 0.05) * size);
  const dx = maxShift > 0 ? rng.int(-maxShift, maxShift) : 0;
  const dy = maxShift > 0 ? rng.int(-maxShift, maxShift) : 0;
  const src = (x: number, y: number): number => {
    let sx = Math.min(size - 1, Math.max(0, x - dx));
    const sy = Math.min(size - 1, Math.max(0, y - dy));
    if (flip) sx = size - 1 - sx;
    return sy * size + sx;
  };
  let img: Float32Array<ArrayBuffer> = new Float32Array(n * 3);
  const tgt = new Int32Array(planes * n);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = y * size + x; const s = src(x, y);
      img[3 * d] = image[3 * s] / 255; img[3 * d + 1] = image[3 * s + 1] / 255; img[3 * d + 2] = image[3 * s + 2] / 255;
      for (let p = 0; p < planes; p++) tgt[p * n + d] = targets[p * n + s];
    }
  }
  if (options.color ?? true) {
    const gain = [rng.range(0.85, 1.15), rng.range(0.85, 1.15), rng.range(0.85, 1.15)];
    const contrast = rng.range(0.75, 1.25);
    const bright = rng.range(-0.08, 0.08);
    let mean = 0;
    for (let i = 0; i < img.length; i++) mean += img[i];
    mean /= img.length;
    for (let i = 0; i < img.length; i++) img[i] = (img[i] * gain[i % 3] - mean) * contrast + mean + bright;
  }
  if ((options.blocky ?? true) && rng.next() < 0.2) {
    // Average 2×2 blocks and repeat them: the coarse look of a generator's upsampled output.
    for (let y = 0; y + 1 < size; y += 2) {
      for (let x = 0; x + 1 < size; x += 2) {
        for (let c = 0; c < 3; c++) {
          const a = 3 * (y * size + x) + c; const b = a + 3; const e = a + 3 * size; const f = e + 3;
          const m = (img[a] + img[b] + img[e] + img[f]) / 4;
          img[a] = m; img[b] = m; img[e] = m; img[f] = m;
        }
      }
    }
  }
  if ((options.blur ?? true) && rng.next() < 0.35) {
    const passes = rng.next() < 0.5 ? 1 : 2;
    for (let k = 0; k < passes; k++) img = blur121(img, size);
  }
  if ((options.noise ?? true) && rng.next() < 0.5) {
    const sigma = rng.range(0, 0.05);
    for (let i = 0; i < img.length; i++) img[i] += sigma * rng.normal();
  }
  for (let i = 0; i < img.length; i++) img[i] = img[i] < 0 ? 0 : img[i] > 1 ? 1 : img[i];
  return { image: img, targets: tgt };
}

/** A separable [1, 2, 1] / 4 blur with replicated edges. */
function blur121(img: Float32Array, size: number): Float32Array<ArrayBuffer> {
  const tmp = new Float32Array(img.length);
  const out = new Float32Array(img.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const l = Math.max(0, x - 1); const r = Math.min(size - 1, x + 1);
      for (let c = 0; c < 3; c++) tmp[3 * (y * size + x) + c] = (img[3 * (y * size + l) + c] + 2 * img[3 * (y * size + x) + c] + img[3 * (y * size + r) + c]) / 4;
    }
  }
  for (let y = 0; y < size; y++) {
    const u = Math.max(0, y - 1); const d = Math.min(size - 1, y + 1);
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) out[3 * (y * size + x) + c] = (tmp[3 * (u * size + x) + c] + 2 * tmp[3 * (y * size + x) + c] + tmp[3 * (d * size + x) + c]) / 4;
    }
  }
  return out;
}

/** A batch of training scenes: images `[N, S, S, 3]` and targets `[N, categories, S·S]` flattened. */
export interface SegmenterBatch {
  images: Float32Array;
  targets: Int32Array;
  count: number;
  size: number;
}

/**
 * Oversampling of scenes that show some concepts (rare parts such as doors): a share of the scenes is drawn again,
 * from the classes that can show one of them, until one does. See {@link focusScene}.
 */
export interface SegmenterFocus {
  /** Concept names of the scene world. */
  concepts: readonly string[];
  /** Share of the scenes drawn this way, in (0, 1]. */
  share: number;
}

const FOCUS_SALT = 0xf0c5;
/** Draws a focused scene tries before it takes the last one whatever it shows. */
export const FOCUS_TRIES = 16;
/** A focused scene shows its concept on at least this share of its pixels. */
export const FOCUS_MIN_SHARE = 0.002;

/** The scene classes among `classes` that can show one of `concepts` (each once, in their order). */
export function focusClasses(concepts: readonly string[], classes: readonly string[] = SCENE_CLASSES): string[] {
  return [...new Set(classes)].filter((c) => [...SCENE_CLASS_CONFIGS, ...EXTRA_SCENE_CLASS_CONFIGS].find((k) => k.name === c)?.concepts.some((x) => concepts.includes(x)));
}

/**
 * Scene `index` of a focused stream: with probability `focus.share` (drawn from the scene's own seed) it is a scene of
 * one of the classes that can show a focus concept, redrawn (up to {@link FOCUS_TRIES} times, class and seed) until the concept
 * covers at least {@link FOCUS_MIN_SHARE} of its pixels; else the plain scene `index`. Deterministic in
 * (datasetSeed, index), so every thread draws the same batch.
 */
export function focusScene(
  datasetSeed: number, index: number, size: number, classes: readonly string[], focus: SegmenterFocus | undefined,
): { scene: RenderedScene; seed: number } {
  const seed = sceneSeed(datasetSeed, index);
  const plain = (): { scene: RenderedScene; seed: number } => ({ scene: renderScene({ cls: classes[index % classes.length], seed, size }), seed });
  if (!focus || focus.share <= 0) return plain();
  const pool = focusClasses(focus.concepts, classes);
  const rng = new Rng(hash32(seed >>> 0, FOCUS_SALT));
  if (pool.length === 0 || rng.next() >= focus.share) return plain();
  const ids = new Set(focus.concepts.map((name) => CONCEPTS.find((c) => c.name === name)?.id ?? -1));
  const need = Math.max(1, Math.ceil(FOCUS_MIN_SHARE * size * size));
  let last: { scene: RenderedScene; seed: number } | undefined;
  for (let t = 0; t < FOCUS_TRIES; t++) {
    const s = hash32(seed >>> 0, FOCUS_SALT + 1 + t);
    const scene = renderScene({ cls: pool[rng.int(0, pool.length - 1)], seed: s, size });
    last = { scene, seed: s };
    let hits = 0;
    for (let p = 0; p < scene.labels.length && hits < need; p++) if (ids.has(scene.labels[p]) || ids.has(scene.objects[p])) hits++;
    if (hits >= need) break;
  }
  return last!;
}

/**
 * Renders scenes `[from, from + count)` of dataset `datasetSeed` at `size`, cycling through `classes`, with their
 * targets; augmented unless `augment` is false; with `focus`, a share of them shows the focus concepts
 * ({@link focusScene}).
 */
export function segmenterBatch(
  datasetSeed: number, from: number, count: number, size: number,
  options: { classes?: readonly string[]; augment?: boolean | AugmentOptions; categories?: readonly SegmenterCategory[]; focus?: SegmenterFocus } = {},
): SegmenterBatch {
  const classes = options.classes ?? SCENE_CLASSES;
  const categories = options.categories ?? SCENE_SEGMENTER_CATEGORIES;
  const lookup = conceptChannels(categories);
  const planes = categories.length;
  const n = size * size;
  const images = new Float32Array(count * n * 3);
  const targets = new Int32Array(count * planes * n);
  for (let i = 0; i < count; i++) {
    const index = from + i;
    const { scene, seed } = focusScene(datasetSeed, index, size, classes, options.focus);
    const t = sceneTargets(scene, categories, lookup);
    if (options.augment === false) {
      for (let k = 0; k < scene.image.length; k++) images[i * n * 3 + k] = scene.image[k] / 255;
      targets.set(t, i * planes * n);
    } else {
      const a = augmentScene(scene.image, t, planes, size, seed, options.augment === true || options.augment === undefined ? {} : options.augment);
      images.set(a.image, i * n * 3);
      targets.set(a.targets, i * planes * n);
    }
  }
  return { images, targets, count, size };
}

/** Weight of the soft Dice term beside the cross-entropy. */
export const DICE_WEIGHT = 1;

/** Weight of the Lovász term of the concepts a run names in `lovasz`. */
export const LOVASZ_WEIGHT = 1;

/**
 * The Lovász extension of the Jaccard loss (Berman et al., CVPR 2018) of one concept, as weights on the pixel errors:
 * given the errors `e = |truth − p|` and the truth `fg` (0/1) of `images` images of `n` pixels, returns `G` such that
 * Σ_p e[p]·G[p] is, for each group of `pool` consecutive images (the last may be shorter) that shows the concept, the
 * Lovász hinge of the group's errors taken together (errors sorted in decreasing order, times the increments of
 * 1 − IoU as the sorted pixels are counted wrong one by one), times the group's image count, summed over the groups.
 * On hard predictions (p ∈ {0, 1}) a group's term is exactly its size × (1 − its pooled IoU); in between it is the
 * tight convex extension, so the IoU itself is what the gradient improves. With `pool` = 1 each image is taken on its
 * own, and an image without the concept gets weight 0; with more, a concept drawn on an image without it counts in
 * its group's IoU, as in the pooled IoU the figures measure.
 */
export function lovaszWeights(errors: ArrayLike<number>, fg: ArrayLike<number>, images: number, n: number, pool = 1): Float32Array {
  const g = new Float32Array(images * n);
  const order = new Int32Array(Math.min(pool, images) * n);
  for (let b = 0; b < images; b += pool) {
    const k = Math.min(pool, images - b);
    const o = b * n; const m = k * n;
    let gts = 0;
    for (let i = 0; i < m; i++) gts += fg[o + i];
    if (gts === 0) continue;
    const ord = order.subarray(0, m);
    for (let i = 0; i < m; i++) ord[i] = i;
    ord.sort((x, y) => errors[o + y] - errors[o + x] || x - y);
    let fgSeen = 0; let bgSeen = 0; let prev = 0;
    for (let i = 0; i < m; i++) {
      const q = ord[i];
      if (fg[o + q] > 0) fgSeen++; else bgSeen++;
      const jac = 1 - (gts - fgSeen) / (gts + bgSeen);
      g[o + q] = (jac - prev) * k;
      prev = jac;
    }
  }
  return g;
}

/**
 * The segmenter's training loss, summed over the images of a batch (so shards add up to the whole batch): per image
 * and category, the mean pixel cross-entropy of the category's softmax plus {@link DICE_WEIGHT} × the soft Dice loss
 * averaged over the concepts present in the image. Returns a scalar. With `weights` (one per channel of each category,
 * {@link balanceWeights}) the cross-entropy of a pixel is multiplied by the weight of its target channel, so rare
 * concepts count for more. With `lovasz` (channels per category), each named channel adds {@link LOVASZ_WEIGHT} ×
 * its Lovász–Jaccard loss on every image that shows it ({@link lovaszWeights}): a loss on the IoU itself, for
 * concepts whose IoU lags their pixel accuracy (thin or small ones, whose edges the cross-entropy gives up). With
 * `lovaszPool` > 1 that loss is taken on the pooled IoU of each group of that many consecutive images
 * ({@link lovaszWeights}), so a concept drawn where there is none counts too.
 */
export function segmenterLossSum(
  logits: tf.Tensor4D, targets: Int32Array, categories: readonly SegmenterCategory[], weights?: readonly (readonly number[])[],
  lovasz?: readonly (readonly number[])[], lovaszPool = 1,
): tf.Scalar {
  return tf.tidy(() => {
    const [N, H, W] = logits.shape;
    const n = H * W;
    const planes = categories.length;
    let total: tf.Tensor = tf.scalar(0);
    let off = 0;
    categories.forEach((cat, k) => {
      const depth = cat.concepts.length + 1;
      const slice = tf.slice(logits, [0, 0, 0, off], [N, H, W, depth]).reshape([N, n, depth]);
      off += depth;
      const idx = new Int32Array(N * n);
      const present = new Float32Array(N * depth);
      const w = weights?.[k];
      const pixelWeight = w ? new Float32Array(N * n) : undefined;
      for (let b = 0; b < N; b++) {
        for (let i = 0; i < n; i++) {
          const v = targets[(b * planes + k) * n + i];
          idx[b * n + i] = v;
          if (v > 0) present[b * depth + v] = 1;
          if (pixelWeight) pixelWeight[b * n + i] = w![v];
        }
      }
      const y = tf.oneHot(tf.tensor2d(idx, [N, n], 'int32'), depth).toFloat();
      const logp = tf.logSoftmax(slice);
      const pixelCe = tf.neg(tf.sum(tf.mul(y, logp), 2)); // [N, n]
      const ce = tf.sum(pixelWeight ? tf.mul(pixelCe, tf.tensor2d(pixelWeight, [N, n])) : pixelCe, 1).div(n); // [N]
      const p = tf.exp(logp);
      const inter = tf.sum(tf.mul(p, y), 1); // [N, depth]
      const psum = tf.sum(p, 1); const ysum = tf.sum(y, 1);
      const ratio = tf.div(tf.add(tf.mul(inter, 2), 1), tf.add(tf.add(psum, ysum), 1));
      const pres = tf.tensor2d(present, [N, depth]);
      const count = tf.maximum(tf.sum(pres, 1), 1);
      const dice = tf.div(tf.sum(tf.mul(tf.sub(1, ratio), pres), 1), count); // [N]
      total = tf.add(total, tf.sum(tf.add(ce, tf.mul(dice, DICE_WEIGHT))));
      for (const j of lovasz?.[k] ?? []) {
        const fg = new Float32Array(N * n);
        for (let i = 0; i < fg.length; i++) fg[i] = idx[i] === j ? 1 : 0;
        const e = tf.abs(tf.sub(tf.tensor2d(fg, [N, n]), tf.reshape(tf.slice(p, [0, 0, j], [N, n, 1]), [N, n])));
        const g = lovaszWeights(e.dataSync(), fg, N, n, lovaszPool);
        total = tf.add(total, tf.mul(tf.sum(tf.mul(e, tf.tensor2d(g, [N, n]))), LOVASZ_WEIGHT));
      }
    });
    return total as tf.Scalar;
  });
}

/** Each category's share of pixels per channel (channel 0: none of the category), as {@link conceptShares} measures it. */
export type CategoryShares = number[][];

/**
 * The share of pixels of each channel of each category over scenes `[0, count)` of dataset `datasetSeed` at side
 * `size`, un-augmented (the statistics {@link balanceWeights} turns into loss weights).
 */
export function conceptShares(
  datasetSeed: number, count: number, size: number,
  options: { classes?: readonly string[]; categories?: readonly SegmenterCategory[] } = {},
): CategoryShares {
  const categories = options.categories ?? SCENE_SEGMENTER_CATEGORIES;
  const counts = categories.map((c) => new Float64Array(c.concepts.length + 1));
  const planes = categories.length;
  const n = size * size;
  for (let from = 0; from < count; from += 32) {
    const batch = segmenterBatch(datasetSeed, from, Math.min(32, count - from), size, { ...options, categories, augment: false });
    for (let b = 0; b < batch.count; b++) {
      for (let k = 0; k < planes; k++) {
        const base = (b * planes + k) * n;
        for (let i = 0; i < n; i++) counts[k][batch.targets[base + i]]++;
      }
    }
  }
  return counts.map((c) => Array.from(c, (v) => v / (count * n)));
}

/** The largest weight {@link balanceWeights} gives, relative to the weight of the category's most common channel. */
export const MAX_BALANCE_RATIO = 25;

/**
 * Cross-entropy weights that make rare concepts count for more: channel c of a category gets a weight proportional
 * to share_c^(−alpha) (capped at {@link MAX_BALANCE_RATIO} times the weight of the category's most common channel;
 * channels never seen get the cap), scaled so that the mean weight of a pixel, Σ share_c · w_c, is 1 and the loss
 * keeps its scale. `alpha` 0 gives all ones; 1 is full inverse-frequency weighting.
 */
export function balanceWeights(shares: CategoryShares, alpha: number): number[][] {
  return shares.map((s) => {
    const top = Math.max(...s);
    const raw = s.map((f) => (f > 0 ? Math.min(MAX_BALANCE_RATIO, (top / f) ** alpha) : alpha > 0 ? MAX_BALANCE_RATIO : 1));
    const mean = s.reduce((a, f, c) => a + f * raw[c], 0);
    return raw.map((r) => (mean > 0 ? r / mean : 1));
  });
}
