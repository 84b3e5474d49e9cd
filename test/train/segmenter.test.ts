import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderScene, sceneLabelPlanes, sceneSeed, CONCEPTS } from '../../src/data/scenes/index.js';
import { initBackend } from '../../src/engine/backend.js';
import { buildSegmenterNet, SCENE_SEGMENTER_CATEGORIES } from '../../src/segment/net.js';
import { augmentScene, balanceWeights, conceptShares, FOCUS_MIN_SHARE, focusClasses, focusScene, lovaszWeights, LOVASZ_WEIGHT, MAX_BALANCE_RATIO, sceneTargets, segmenterBatch, segmenterLossSum } from '../../src/train/segmenter-batch.js';
import fc from 'fast-check';
import { trainSegmenter, widenWeight, type TrainSegmenterOptions } from '../../src/train/segmenter.js';
import { loadSegmenter } from '../../src/segment/segmenter.js';
import { relError } from '../helpers.js';

/** A tiny segmenter and world: 32×32 scenes, two encoder levels of 4 and 8 channels. */
const tiny = (out: string, extra: Partial<TrainSegmenterOptions> = {}): TrainSegmenterOptions => ({
  out, seed: 5, steps: 6, batchSize: 4, learningRate: 0.01, sizes: [32], encoderWidths: [4, 8], decoderWidths: [4],
  checkpointEvery: 2, evalCount: 4, classes: ['ski_resort', 'street'], ...extra,
});

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'ua-train-seg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function weights(model: tf.LayersModel): Float32Array {
  return Float32Array.from(model.getWeights().flatMap((w) => Array.from(w.dataSync())));
}

describe('segmenter training data and loss', () => {
  it('targets give each category the concept the exact label planes give it', () => {
    const scene = renderScene({ cls: 'street', seed: 11, size: 48 });
    const targets = sceneTargets(scene);
    const planes = sceneLabelPlanes(scene);
    const n = 48 * 48;
    let checked = 0;
    SCENE_SEGMENTER_CATEGORIES.forEach((cat, k) => {
      for (let i = 0; i < n; i++) {
        const t = targets[k * n + i];
        const name = t === 0 ? undefined : cat.concepts[t - 1];
        // The concepts the exact planes give this pixel, in this category.
        const exact = [planes[i], planes[n + i]].filter((id) => id > 0).map((id) => CONCEPTS.find((c) => c.id === id)!)
          .filter((c) => c.category === cat.name).map((c) => c.name);
        expect(exact.length <= 1 ? exact[0] : exact).toEqual(name);
        checked++;
      }
    });
    expect(checked).toBe(SCENE_SEGMENTER_CATEGORIES.length * n);
  });

  it('colour, blur and noise touch the image only; flips and shifts move the targets with it', () => {
    const scene = renderScene({ cls: 'ski_resort', seed: 3, size: 32 });
    const t = sceneTargets(scene);
    const planes = SCENE_SEGMENTER_CATEGORIES.length;
    const photometric = augmentScene(scene.image, t, planes, 32, 7, { flip: false, shift: 0 });
    expect(Array.from(photometric.targets)).toEqual(Array.from(t));
    for (const v of photometric.image) expect(v >= 0 && v <= 1).toBe(true);
    // Geometric only: each output pixel's colour is the input colour found where its target came from.
    const geo = augmentScene(scene.image, t, planes, 32, 7, { color: false, blur: false, noise: false, blocky: false });
    let same = 0;
    for (let i = 0; i < 32 * 32; i++) {
      for (let j = 0; j < 32 * 32; j++) {
        if (Math.abs(geo.image[3 * i] * 255 - scene.image[3 * j]) < 0.5 && Math.abs(geo.image[3 * i + 1] * 255 - scene.image[3 * j + 1]) < 0.5
          && Math.abs(geo.image[3 * i + 2] * 255 - scene.image[3 * j + 2]) < 0.5 && geo.targets[i] === t[j]) { same++; break; }
      }
    }
    expect(same).toBe(32 * 32);
  });

  it('the loss is cross-entropy plus soft Dice, worked by hand on two pixels', () => {
    // One category with concepts a, b (channels none, a, b); pixel 0 is a, pixel 1 is none.
    const cats = [{ name: 'object', concepts: ['a', 'b'] }];
    const z = [[1, 2, 0], [0.5, -1, 0]];
    const loss = tf.tidy(() => segmenterLossSum(tf.tensor4d(z.flat(), [1, 1, 2, 3]), Int32Array.from([1, 0]), cats).arraySync());
    const softmax = (v: number[]): number[] => { const e = v.map(Math.exp); const s = e.reduce((a, b) => a + b); return e.map((x) => x / s); };
    const p = z.map(softmax);
    const ce = -(Math.log(p[0][1]) + Math.log(p[1][0])) / 2;
    // Dice over the concepts present (only a): 1 − (2·p(a at pixel 0) + 1) / (p(a)summed + 1 + 1).
    const dice = 1 - (2 * p[0][1] + 1) / (p[0][1] + p[1][1] + 1 + 1);
    expect(loss).toBeCloseTo(ce + dice, 5);
  });

  it('with weights, each pixel\'s cross-entropy is scaled by its target channel\'s weight; the Dice term is unchanged', () => {
    const cats = [{ name: 'object', concepts: ['a', 'b'] }];
    const z = [[1, 2, 0], [0.5, -1, 0], [0, 0.3, 1.2]];
    const target = Int32Array.from([1, 0, 2]);
    const w = [0.5, 3, 1.5];
    const loss = tf.tidy(() => segmenterLossSum(tf.tensor4d(z.flat(), [1, 1, 3, 3]), target, cats, [w]).arraySync());
    const softmax = (v: number[]): number[] => { const e = v.map(Math.exp); const s = e.reduce((a, b) => a + b); return e.map((x) => x / s); };
    const p = z.map(softmax);
    const ce = -(w[1] * Math.log(p[0][1]) + w[0] * Math.log(p[1][0]) + w[2] * Math.log(p[2][2])) / 3;
    // Dice over the concepts present (a at pixel 0, b at pixel 2), averaged.
    const diceA = 1 - (2 * p[0][1] + 1) / (p[0][1] + p[1][1] + p[2][1] + 1 + 1);
    const diceB = 1 - (2 * p[2][2] + 1) / (p[0][2] + p[1][2] + p[2][2] + 1 + 1);
    expect(loss).toBeCloseTo(ce + (diceA + diceB) / 2, 5);
    // All-ones weights are the unweighted loss.
    const plain = tf.tidy(() => segmenterLossSum(tf.tensor4d(z.flat(), [1, 1, 3, 3]), target, cats).arraySync());
    const ones = tf.tidy(() => segmenterLossSum(tf.tensor4d(z.flat(), [1, 1, 3, 3]), target, cats, [[1, 1, 1]]).arraySync());
    expect(ones).toBeCloseTo(plain, 6);
  });

  it('Lovász weights: on hard predictions Σ e·G is 1 − IoU of each image that shows the concept, by brute force', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 1e6 }),
      (images, n, seed) => {
        let r = seed;
        const bit = (): number => { r = (r * 1103515245 + 12345) % 2147483648; return r % 3 === 0 ? 1 : 0; };
        const fg = Float32Array.from({ length: images * n }, bit);
        const pred = Float32Array.from({ length: images * n }, bit);
        const errors = fg.map((t, i) => Math.abs(t - pred[i]));
        const g = lovaszWeights(errors, fg, images, n);
        let want = 0;
        for (let b = 0; b < images; b++) {
          let inter = 0; let union = 0; let shown = 0;
          for (let i = b * n; i < (b + 1) * n; i++) { inter += fg[i] * pred[i]; union += Math.max(fg[i], pred[i]); shown += fg[i]; }
          if (shown > 0) want += 1 - inter / union;
        }
        const got = errors.reduce((a, e, i) => a + e * g[i], 0);
        expect(got).toBeCloseTo(want, 6);
      },
    ), { numRuns: 200 });
  });

  it('Lovász weights: in between, the loss lies on the convex extension (never above the IoU loss of a rounding)', () => {
    // For one image, errors e ∈ [0,1]: the extension at e is a convex combination of 1 − IoU at the sets {e > t}.
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 10 }), (pix) => {
      const fg = Float32Array.from(pix, ([t]) => (t ? 1 : 0));
      if (fg.every((v) => v === 0)) return;
      const e = Float32Array.from(pix, ([, v]) => v);
      const g = lovaszWeights(e, fg, 1, pix.length);
      const got = e.reduce((a, x, i) => a + x * g[i], 0);
      // Brute force: integrate over thresholds t of (1 − IoU of the set of pixels wrong at t = {e > t}).
      const ts = [0, ...[...e].sort((a, b) => a - b)];
      let want = 0;
      for (let k = 1; k < ts.length; k++) {
        const t = (ts[k - 1] + ts[k]) / 2;
        let fn = 0; let fp = 0; let gts = 0;
        e.forEach((x, i) => { gts += fg[i]; if (x > t) { if (fg[i]) fn++; else fp++; } });
        want += (ts[k] - ts[k - 1]) * (1 - (gts - fn) / (gts + fp));
      }
      expect(got).toBeCloseTo(want, 5);
    }), { numRuns: 200 });
  });

  it('pooled Lovász weights: on hard predictions Σ e·G is Σ over groups of size × (1 − the group\'s pooled IoU), by brute force', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }),
      (images, pool, n, seed) => {
        let r = seed;
        const bit = (): number => { r = (r * 1103515245 + 12345) % 2147483648; return r % 3 === 0 ? 1 : 0; };
        const fg = Float32Array.from({ length: images * n }, bit);
        const pred = Float32Array.from({ length: images * n }, bit);
        const errors = fg.map((t, i) => Math.abs(t - pred[i]));
        const g = lovaszWeights(errors, fg, images, n, pool);
        let want = 0;
        for (let b = 0; b < images; b += pool) {
          const k = Math.min(pool, images - b);
          let inter = 0; let union = 0; let shown = 0;
          for (let i = b * n; i < (b + k) * n; i++) { inter += fg[i] * pred[i]; union += Math.max(fg[i], pred[i]); shown += fg[i]; }
          // a group that never shows the concept adds nothing, whatever is drawn in it (as a per-image term)
          if (shown > 0) want += k * (1 - inter / union);
        }
        const got = errors.reduce((a, e, i) => a + e * g[i], 0);
        expect(got).toBeCloseTo(want, 5);
      },
    ), { numRuns: 300 });
    // A concept drawn on an image without it: per image that costs nothing, pooled with an image that shows it, it does.
    const fg = Float32Array.from([1, 0, 0, 0]); const pred = Float32Array.from([1, 0, 1, 1]);
    const e = fg.map((t, i) => Math.abs(t - pred[i]));
    const loss = (pool: number): number => lovaszWeights(e, fg, 2, 2, pool).reduce((a, w, i) => a + w * e[i], 0);
    expect(loss(1)).toBeCloseTo(0, 6); // image 0 is right; image 1 does not show the concept
    expect(loss(2)).toBeCloseTo(2 * (1 - 1 / 3), 6); // pooled: IoU 1/3
  });

  it('with lovasz, the loss adds the Lovász–Jaccard loss of the named channel, worked by hand', () => {
    const cats = [{ name: 'object', concepts: ['a', 'b'] }];
    const z = [[1, 2, 0], [0.5, -1, 0], [0, 0.3, 1.2]];
    const target = Int32Array.from([1, 0, 2]);
    const plain = tf.tidy(() => segmenterLossSum(tf.tensor4d(z.flat(), [1, 1, 3, 3]), target, cats).arraySync());
    const withA = tf.tidy(() => segmenterLossSum(tf.tensor4d(z.flat(), [1, 1, 3, 3]), target, cats, undefined, [[1]]).arraySync());
    const softmax = (v: number[]): number[] => { const e = v.map(Math.exp); const s = e.reduce((a, b) => a + b); return e.map((x) => x / s); };
    const pa = z.map(softmax).map((p) => p[1]);
    // Errors of a: 1 − pa at pixel 0 (truth a), pa at pixels 1 and 2. Sorted decreasing, each adds its error times the
    // rise of 1 − IoU when that pixel is counted wrong (one true pixel: IoU 1/1 → 0 when it is missed; 1/(1+k) with k false).
    const e = [1 - pa[0], pa[1], pa[2]];
    const order = [0, 1, 2].sort((x, y) => e[y] - e[x] || x - y);
    let fn = 0; let fp = 0; let prev = 0; let lov = 0;
    for (const i of order) { if (i === 0) fn++; else fp++; const jac = 1 - (1 - fn) / (1 + fp); lov += e[i] * (jac - prev); prev = jac; }
    expect(withA - plain).toBeCloseTo(LOVASZ_WEIGHT * lov, 5);
  });

  it('balance weights: mean pixel weight 1, rarer channels weigh more, capped, all ones at alpha 0', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 1e-4, max: 1, noNaN: true }), { minLength: 2, maxLength: 8 }), fc.double({ min: 0, max: 1, noNaN: true }),
      (raw, alpha) => {
        const total = raw.reduce((a, b) => a + b, 0);
        const shares = raw.map((r) => r / total);
        const [w] = balanceWeights([shares], alpha);
        expect(shares.reduce((a, f, c) => a + f * w[c], 0)).toBeCloseTo(1, 9);
        const top = shares.indexOf(Math.max(...shares));
        for (let c = 0; c < shares.length; c++) {
          // Hand formula: min(cap, (top/f)^alpha), up to the common scale.
          const expected = Math.min(MAX_BALANCE_RATIO, (shares[top] / shares[c]) ** alpha);
          expect(w[c] / w[top]).toBeCloseTo(expected, 6);
          for (let d = 0; d < shares.length; d++) if (shares[c] < shares[d]) expect(w[c]).toBeGreaterThanOrEqual(w[d] - 1e-12);
          if (alpha === 0) expect(w[c]).toBeCloseTo(1, 12);
        }
      },
    ));
    // A channel never seen gets the cap (it cannot be weighed by its share).
    const [w] = balanceWeights([[0.9, 0.1, 0]], 0.5);
    expect(w[2] / w[0]).toBeCloseTo(MAX_BALANCE_RATIO, 9);
  });

  it('concept shares are the pixel counts of the exact label maps of the first scenes', () => {
    const classes = ['street', 'bedroom'];
    const shares = conceptShares(9, 3, 32, { classes });
    // Brute force from the exact label planes of each scene (scene i of the dataset has seed sceneSeed(9, i)).
    const n = 32 * 32;
    const scenes = [0, 1, 2].map((i) => sceneLabelPlanes(renderScene({ cls: classes[i % 2], seed: sceneSeed(9, i), size: 32 })));
    SCENE_SEGMENTER_CATEGORIES.forEach((cat, k) => {
      expect(shares[k].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      const counts = new Array<number>(cat.concepts.length + 1).fill(0);
      for (const planes of scenes) {
        for (let i = 0; i < n; i++) {
          const mine = [planes[i], planes[n + i]].map((id) => CONCEPTS.find((c) => c.id === id)).find((c) => c?.category === cat.name);
          counts[mine ? cat.concepts.indexOf(mine.name) + 1 : 0]++;
        }
      }
      counts.forEach((c, j) => expect(shares[k][j]).toBeCloseTo(c / (3 * n), 12));
    });
  });
});

describe('focused scenes', () => {
  const classes = ['desert', 'street', 'beach', 'living_room'];
  const door = CONCEPTS.find((c) => c.name === 'door')!.id;
  const doorPixels = (s: { labels: Uint16Array; objects: Uint16Array }): number => {
    let k = 0;
    for (let i = 0; i < s.labels.length; i++) if (s.labels[i] === door || s.objects[i] === door) k++;
    return k;
  };

  it('the classes that can show a concept, from the class registry', () => {
    expect(focusClasses(['door'], classes)).toEqual(['street', 'living_room']);
    expect(focusClasses(['door'], ['desert', 'beach'])).toEqual([]);
    expect(focusClasses(['sand', 'door'], [...classes, 'street'])).toEqual(['desert', 'street', 'beach', 'living_room']);
  });

  it('a share of the scenes shows the concept; the rest are the plain scenes; the stream is a pure function of (seed, index)', () => {
    const n = 200;
    let focused = 0; let withDoor = 0; let plainWithDoor = 0;
    for (let i = 0; i < n; i++) {
      const plain = renderScene({ cls: classes[i % classes.length], seed: sceneSeed(3, i), size: 32 });
      const f = focusScene(3, i, 32, classes, { concepts: ['door'], share: 0.5 });
      const again = focusScene(3, i, 32, classes, { concepts: ['door'], share: 0.5 });
      expect(again.seed).toBe(f.seed);
      expect(Array.from(again.scene.image)).toEqual(Array.from(f.scene.image));
      if (f.seed === sceneSeed(3, i)) {
        // Not drawn for the focus: exactly the plain scene.
        expect(Array.from(f.scene.labels)).toEqual(Array.from(plain.labels));
      } else {
        focused++;
        if (doorPixels(f.scene) >= Math.ceil(FOCUS_MIN_SHARE * 32 * 32)) withDoor++;
      }
      if (doorPixels(plain) > 0) plainWithDoor++;
    }
    // The share is drawn per scene: 100 expected, 4 standard deviations either side.
    expect(focused).toBeGreaterThan(100 - 4 * Math.sqrt(50));
    expect(focused).toBeLessThan(100 + 4 * Math.sqrt(50));
    // Most focused scenes show a door (redrawn until one does); far fewer plain scenes of these classes do.
    expect(withDoor / focused).toBeGreaterThan(0.8);
    expect(withDoor / focused).toBeGreaterThan(2 * (plainWithDoor / n));
    // Without focus, or when no class can show it, the stream is the plain one.
    expect(focusScene(3, 7, 32, classes, undefined).seed).toBe(sceneSeed(3, 7));
    expect(focusScene(3, 7, 32, ['desert', 'beach'], { concepts: ['door'], share: 1 }).seed).toBe(sceneSeed(3, 7));
  });

  it('segmenterBatch draws the focused stream', () => {
    const focus = { concepts: ['door'], share: 0.5 };
    const b = segmenterBatch(3, 10, 6, 32, { classes, focus, augment: false });
    for (let i = 0; i < 6; i++) {
      const s = focusScene(3, 10 + i, 32, classes, focus).scene;
      expect(Array.from(b.images.subarray(i * 32 * 32 * 3, (i + 1) * 32 * 32 * 3))).toEqual(Array.from(Float32Array.from(s.image, (v) => v / 255)));
    }
  });
});

describe('trainSegmenter', () => {
  it('a few steps on a tiny net lower the loss on a fixed batch, and leave no tensors behind', async () => {
    const batch = segmenterBatch(77, 0, 8, 32, { classes: ['ski_resort', 'street'], augment: false });
    const lossOf = (model: tf.LayersModel): number => tf.tidy(() =>
      segmenterLossSum(model.predict(tf.tensor4d(batch.images, [8, 32, 32, 3])) as tf.Tensor4D, batch.targets, SCENE_SEGMENTER_CATEGORIES).arraySync()) / 8;
    const untrained = buildSegmenterNet({ encoderWidths: [4, 8], decoderWidths: [4], seed: 5 });
    const before = lossOf(untrained);
    untrained.dispose();
    const tensors = tf.memory().numTensors;
    const r = await trainSegmenter(tiny(path.join(dir, 'short'), { steps: 16, checkpointEvery: 8 }));
    const after = lossOf(r.model);
    r.segmenter.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(r.lossHistory).toHaveLength(16);
    expect(Number.isFinite(after)).toBe(true);
    expect(after).toBeLessThan(0.9 * before);
  });

  it('an interrupted run resumed from its checkpoint ends with the same weights as an uninterrupted one', async () => {
    const whole = await trainSegmenter(tiny(path.join(dir, 'whole')));
    const wholeWeights = weights(whole.model);
    whole.segmenter.dispose();
    const out = path.join(dir, 'resumed');
    const first = await trainSegmenter(tiny(out, { maxSteps: 3 }));
    expect(first.finished).toBe(false);
    first.segmenter.dispose();
    const resumed = await trainSegmenter(tiny(out));
    expect(resumed.finished).toBe(true);
    expect(resumed.lossHistory.map((h) => h.loss)).toEqual(whole.lossHistory.map((h) => h.loss));
    expect(relError(weights(resumed.model), wholeWeights)).toBe(0);
    resumed.segmenter.dispose();
  });

  it('a balanced run gives the helper thread its weights: two threads end where one does, and not where an unbalanced run does', async () => {
    const one = await trainSegmenter(tiny(path.join(dir, 'bal-1'), { steps: 3, balance: 0.5, workers: 1 }));
    const two = await trainSegmenter(tiny(path.join(dir, 'bal-2'), { steps: 3, balance: 0.5, workers: 2 }));
    const plain = await trainSegmenter(tiny(path.join(dir, 'bal-0'), { steps: 3, workers: 1 }));
    expect(one.weights?.length).toBe(SCENE_SEGMENTER_CATEGORIES.length);
    expect(plain.weights).toBeUndefined();
    expect(relError(weights(two.model), weights(one.model))).toBeLessThan(1e-5);
    expect(two.lossHistory[0].loss).toBeCloseTo(one.lossHistory[0].loss, 4);
    expect(Math.abs(one.lossHistory[0].loss - plain.lossHistory[0].loss)).toBeGreaterThan(1e-3);
    await expect(trainSegmenter(tiny(path.join(dir, 'bal-bad'), { balance: 2 }))).rejects.toThrow(/balance must be a number in \[0, 1\]/);
    for (const r of [one, two, plain]) r.segmenter.dispose();
  });

  it('a focused run gives the helper thread its focus: two threads end where one does, and not where an unfocused run does', async () => {
    const focus = { focus: ['door'], focusShare: 1, classes: ['ski_resort', 'street', 'beach'] };
    const one = await trainSegmenter(tiny(path.join(dir, 'focus-1'), { steps: 3, ...focus, workers: 1 }));
    const two = await trainSegmenter(tiny(path.join(dir, 'focus-2'), { steps: 3, ...focus, workers: 2 }));
    const plain = await trainSegmenter(tiny(path.join(dir, 'focus-0'), { steps: 3, classes: focus.classes, workers: 1 }));
    expect(relError(weights(two.model), weights(one.model))).toBeLessThan(1e-5);
    expect(Math.abs(one.lossHistory[0].loss - plain.lossHistory[0].loss)).toBeGreaterThan(1e-3);
    for (const r of [one, two, plain]) r.segmenter.dispose();
    await expect(trainSegmenter(tiny(path.join(dir, 'focus-bad'), { focus: ['dragon'] }))).rejects.toThrow(/unknown concept 'dragon' in focus/);
    await expect(trainSegmenter(tiny(path.join(dir, 'focus-bad'), { focus: ['door'], classes: ['desert', 'beach'] }))).rejects.toThrow(/none of the classes desert, beach can show door/);
    await expect(trainSegmenter(tiny(path.join(dir, 'focus-bad'), { focus: ['door'], focusShare: 0 }))).rejects.toThrow(/focusShare must be a number in \(0, 1\]/);
  });

  it('a run with --lovasz gives the helper thread its Lovász channels: two threads end where one does, not where a plain run does', async () => {
    const opts = { classes: ['street', 'ski_resort'], focus: ['door'], focusShare: 1 };
    const one = await trainSegmenter(tiny(path.join(dir, 'lov-1'), { steps: 3, ...opts, lovasz: ['door', 'sky'], workers: 1 }));
    const two = await trainSegmenter(tiny(path.join(dir, 'lov-2'), { steps: 3, ...opts, lovasz: ['door', 'sky'], workers: 2 }));
    const plain = await trainSegmenter(tiny(path.join(dir, 'lov-0'), { steps: 3, ...opts, workers: 1 }));
    expect(relError(weights(two.model), weights(one.model))).toBeLessThan(1e-5);
    expect(one.lossHistory[0].loss - plain.lossHistory[0].loss).toBeGreaterThan(1e-3); // the Lovász terms are ≥ 0 and not 0 here
    for (const r of [one, two, plain]) r.segmenter.dispose();
    await expect(trainSegmenter(tiny(path.join(dir, 'lov-bad'), { lovasz: ['dragon'] }))).rejects.toThrow(/unknown concept 'dragon' in lovasz/);
  });

  it('a run with --lovasz-pool: two threads (whole groups each) end where one does, and not where per-image Lovász does', async () => {
    // 6 scenes in groups of 2: the threads take 4 and 2 (an even split, 3 and 3, would cut the second group in two)
    const opts = { classes: ['street', 'bedroom'], focus: ['door'], focusShare: 0.5, lovasz: ['door'], batchSize: 6 };
    const one = await trainSegmenter(tiny(path.join(dir, 'pool-1'), { steps: 3, ...opts, lovaszPool: 2, workers: 1 }));
    const two = await trainSegmenter(tiny(path.join(dir, 'pool-2'), { steps: 3, ...opts, lovaszPool: 2, workers: 2 }));
    const each = await trainSegmenter(tiny(path.join(dir, 'pool-0'), { steps: 3, ...opts, workers: 1 }));
    expect(relError(weights(two.model), weights(one.model))).toBeLessThan(1e-5);
    expect(relError(weights(each.model), weights(one.model))).toBeGreaterThan(1e-4);
    for (const r of [one, two, each]) r.segmenter.dispose();
    await expect(trainSegmenter(tiny(path.join(dir, 'pool-bad'), { lovasz: ['door'], lovaszPool: 3 }))).rejects.toThrow(/lovaszPool must be a positive integer that divides batchSize \(4\), got 3/);
  });

  it('refuses to resume a checkpoint made with other options, naming the option', async () => {
    const out = path.join(dir, 'mismatch');
    (await trainSegmenter(tiny(out, { maxSteps: 2 }))).segmenter.dispose();
    await expect(trainSegmenter(tiny(out, { batchSize: 2 }))).rejects.toThrow(/batchSize/);
  });

  it('resumes a checkpoint written before --balance and --focus existed as an unbalanced, unfocused run, and refuses it with either', async () => {
    const out = path.join(dir, 'pre-balance');
    (await trainSegmenter(tiny(out, { maxSteps: 2 }))).segmenter.dispose();
    const statePath = path.join(out, 'checkpoint', 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { options: Record<string, unknown> };
    delete state.options.balance; delete state.options.focus; delete state.options.focusShare; delete state.options.lovasz; delete state.options.lovaszPool;
    writeFileSync(statePath, JSON.stringify(state));
    await expect(trainSegmenter(tiny(out, { balance: 0.5 }))).rejects.toThrow(/made with balance = 0, not 0.5/);
    await expect(trainSegmenter(tiny(out, { focus: ['door'] }))).rejects.toThrow(/made with focus = \[\], not \["door"\]/);
    const resumed = await trainSegmenter(tiny(out));
    expect(resumed.finished).toBe(true);
    resumed.segmenter.dispose();
  });

  it('names the option when sizes do not fit the network', async () => {
    await expect(trainSegmenter(tiny(path.join(dir, 'bad'), { sizes: [30] }))).rejects.toThrow(/sizes must be multiples of 4/);
    await expect(trainSegmenter(tiny(path.join(dir, 'bad'), { classes: ['moon_base'] }))).rejects.toThrow(/unknown scene class 'moon_base'/);
  });
});

describe('trainSegmenter from earlier weights', () => {
  it('starts from the weights of a segmenter folder (the first step sees them), and refuses another architecture', async () => {
    const first = await trainSegmenter(tiny(path.join(dir, 'init-a'), { steps: 4 }));
    const { saveSegmenter } = await import('../../src/segment/save.js');
    const saved = path.join(dir, 'init-a-model');
    await saveSegmenter(first.model, saved, first.options);
    const trained = weights(first.model);
    first.segmenter.dispose();
    // One step from those weights: the loss it reports is the loss of the trained weights, not of a fresh net.
    const fromThem = await trainSegmenter(tiny(path.join(dir, 'init-b'), { steps: 1, initFrom: saved, learningRate: 1e-9 }));
    expect(relError(weights(fromThem.model), trained)).toBeLessThan(1e-6);
    fromThem.segmenter.dispose();
    await expect(trainSegmenter(tiny(path.join(dir, 'init-c'), { steps: 1, initFrom: saved, encoderWidths: [4, 4] }))).rejects.toThrow(/another architecture/);
    // A wider deepest encoder level comes first in the concatenation after it: starting from these weights would change
    // the output, so it is refused.
    await expect(trainSegmenter(tiny(path.join(dir, 'init-d'), { steps: 1, initFrom: saved, encoderWidths: [4, 16] }))).rejects.toThrow(/cannot start from the segmenter .* a wider layer feeds a concatenation/);

    // A wider last decoder level starts with the same output as the narrower net, and then trains its new channels.
    const wide = await trainSegmenter(tiny(path.join(dir, 'init-wide'), { steps: 1, initFrom: saved, decoderWidths: [7], learningRate: 1e-9 }));
    const narrow = await loadSegmenter(saved);
    const x = tf.randomUniform<tf.Rank.R4>([2, 32, 32, 3], 0, 1, 'float32', 3);
    const a = narrow.logits(x); const b = wide.segmenter.logits(x);
    expect(relError(await b.data(), await a.data())).toBeLessThan(1e-5);
    expect(wide.model.getLayer('dec1_conv').getWeights()[0].shape).toEqual([3, 3, 12, 7]);
    // So does a wider encoder level above the deepest: its channels come last in the concatenation that reads them.
    const wideEnc = await trainSegmenter(tiny(path.join(dir, 'init-wide-enc'), { steps: 1, initFrom: saved, encoderWidths: [6, 8], decoderWidths: [7], learningRate: 1e-9 }));
    const c = wideEnc.segmenter.logits(x);
    expect(relError(await c.data(), await a.data())).toBeLessThan(1e-5);
    expect(wideEnc.model.getLayer('enc1_conv2').getWeights()[0].shape).toEqual([3, 3, 6, 6]);
    expect(wideEnc.model.getLayer('dec1_conv').getWeights()[0].shape).toEqual([3, 3, 14, 7]);
    tf.dispose([x, a, b, c]);
    narrow.dispose(); wide.segmenter.dispose(); wideEnc.segmenter.dispose();
  });

  it('widenWeight: the old weights in the leading slice, zero from new inputs into old outputs, new outputs as initialised', () => {
    const from = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]); // [h, w, in, out]: in 0 → out (1, 2), in 1 → out (3, 4)
    const fresh = tf.fill<tf.Rank.R4>([1, 1, 3, 3], 9);
    const w = widenWeight(from, fresh);
    expect(w.arraySync()).toEqual([[[[1, 2, 9], [3, 4, 9], [0, 0, 9]]]]);
    const bias = widenWeight(tf.tensor1d([5, 6]), tf.tensor1d([7, 7, 7]));
    expect(Array.from(bias.dataSync())).toEqual([5, 6, 0]);
    tf.dispose([from, fresh, w, bias]);
  });
});
