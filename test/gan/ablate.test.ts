import * as tf from '../../src/tf.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { UnitAttackError } from '../../src/errors.js';
import { ablateConcept } from '../../src/gan/ablate.js';
import { PairedRatioTally } from '../../src/gan/measure.js';
import { resolveConcept } from '../../src/gan/measure.js';
import { rankFromAtlas, rankGreedy, removalBySets } from '../../src/gan/ranking.js';
import type { Atlas } from '../../src/dissection/atlas.js';
import { expectNoLeak } from '../helpers.js';
import { CELL, latentValues, tinyGenerator, tinySegmenter } from './tiny.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/**
 * Tree pixels of latents from … to − 1 of the tiny two-tree-unit generator with `zeroed` units zeroed, recounted from
 * the latents (unit 0 and unit 2 of each cell; a cell is tree when their sum exceeds 0.5).
 */
function treePixels(z: Float32Array, from: number, to: number, zeroed: readonly number[]): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    for (let c = 0; c < 4; c++) {
      const u0 = zeroed.includes(0) ? 0 : Math.max(0, z[i * 8 + c]);
      const u2 = zeroed.includes(2) ? 0 : Math.max(0, z[i * 8 + 4 + c]);
      if (u0 + u2 > 0.5) n += CELL * CELL;
    }
  }
  return n;
}

/** A deterministic normal draw (Box–Muller over a small LCG), for the coverage check. */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const u = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 0.5) / 2 ** 32; };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

describe('PairedRatioTally', () => {
  it('gives the portion removed and the delta-method interval of a hand-worked case', () => {
    const t = new PairedRatioTally();
    // before 10, 20, 30, 40; after 5, 10, 20, 20 → d = 5, 10, 10, 20; R = 45 / 100 = 0.45.
    [[10, 5], [20, 10], [30, 20], [40, 20]].forEach(([b, a]) => t.add(b, a));
    const e = t.estimate(0.99);
    expect(e.value).toBeCloseTo(0.45, 12);
    // residuals d − R·b: 0.5, 1, −3.5, 2; Σ² = 0.25 + 1 + 12.25 + 4 = 17.5; se = sqrt(17.5 / (4·3)) / 25.
    const se = Math.sqrt(17.5 / 12) / 25;
    expect(e.se).toBeCloseTo(se, 12);
    expect(e.interval[0]).toBeCloseTo(0.45 - 2.5758293035489 * se, 9);
    expect(e.interval[1]).toBeCloseTo(0.45 + 2.5758293035489 * se, 9);
    expect(e.meanBefore).toBe(25);
    expect(e.meanAfter).toBe(13.75);
  });

  it('merging two tallies equals tallying everything in one', () => {
    const a = new PairedRatioTally(); const b = new PairedRatioTally(); const all = new PairedRatioTally();
    for (let i = 0; i < 20; i++) {
      const before = 10 + (i * 7) % 13; const after = (i * 5) % 9;
      (i % 2 ? a : b).add(before, after);
      all.add(before, after);
    }
    expect(a.merge(b).estimate().value).toBeCloseTo(all.estimate().value, 12);
    expect(a.estimate().se).toBeCloseTo(all.estimate().se, 12);
  });

  it('has about its stated 99% coverage on paired counts with a known ratio', () => {
    // before ~ 100 + 30·N, removed = 0.4·before + 8·N: the true pooled ratio is 0.4.
    const draw = normals(7);
    let covered = 0;
    const reps = 2000;
    for (let r = 0; r < reps; r++) {
      const t = new PairedRatioTally();
      for (let i = 0; i < 200; i++) {
        const before = Math.max(0, 100 + 30 * draw());
        const d = 0.4 * before + 8 * draw();
        t.add(before, before - d);
      }
      const [lo, hi] = t.estimate(0.99).interval;
      if (lo <= 0.4 && 0.4 <= hi) covered++;
    }
    expect(covered / reps).toBeGreaterThan(0.98);
    expect(covered / reps).toBeLessThan(0.997);
  });

  it('is NaN when the concept never appeared', () => {
    const t = new PairedRatioTally();
    t.add(0, 0);
    expect(t.estimate().value).toBeNaN();
  });
});

describe('ablateConcept on a hand-built generator', () => {
  it('zeroing the one tree unit removes every tree pixel; a random unit that draws nothing removes none', async () => {
    const g = tinyGenerator();
    const seg = tinySegmenter();
    const { result, examples } = await expectNoLeak(() => ablateConcept(g, seg, {
      concept: 'tree', sizes: [0, 1], samples: 40, rankSamples: 16, causalSamples: 8, controlDraws: 3, batchSize: 16, examples: 2,
    }), () => undefined);
    expect(result.rankings.iou!.units[0]).toBe(0);
    expect(result.rankings.causal!.units[0]).toBe(0);
    expect(result.rankings.causal!.scores[0]).toBeCloseTo(1, 12);
    for (const kind of ['iou', 'causal'] as const) {
      const [p0, p1] = result.curves[kind]!;
      expect(p0.removed.value).toBe(0);
      expect(p1.units).toEqual([0]);
      expect(p1.removed.value).toBeCloseTo(1, 12);
      expect(p1.concepts.tree.after).toBe(0);
      expect(p1.concepts.sky.change).toBeGreaterThan(0);
    }
    // The control excludes the ranked unit: its draws are units 1 and 2, which draw nothing.
    expect(result.control[0].draws.every((d) => d.units[0] !== 0 && d.removed === 0)).toBe(true);
    expect(result.control[0].removed.mean).toBe(0);
    expect(examples.before).toHaveLength(2);
    expect(examples.after.iou![0]).toHaveLength(2);
    expect(result.baseline.conceptPixels).toBeGreaterThan(0);
  });

  it('the portion removed equals a brute-force recount of the tree pixels before and after', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const samples = 30;
    const { result } = await ablateConcept(g, seg, { concept: 'tree', sizes: [1, 2], samples, rankSamples: 16, causalSamples: 8, controlDraws: 0, batchSize: 7 });
    const z = latentValues(g, 1, 0, samples);
    for (const kind of ['iou', 'causal'] as const) {
      const p = result.curves[kind]![0];
      const zeroed = p.units[0];
      expect([0, 2]).toContain(zeroed);
      const before = treePixels(z, 0, samples, []); const after = treePixels(z, 0, samples, [zeroed]);
      expect(p.removed.value).toBeCloseTo((before - after) / before, 12);
      expect(p.removed.meanBefore).toBeCloseTo(before / samples, 9);
      expect(p.removed.interval[0]).toBeLessThan(p.removed.value);
      expect(p.removed.interval[1]).toBeGreaterThan(p.removed.value);
      // Both tree units zeroed: no tree left.
      expect(result.curves[kind]![1].removed.value).toBeCloseTo(1, 12);
    }
  });

  it('gives the same curve whatever the batch size', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const run = (batchSize: number) => ablateConcept(g, seg, { concept: 'tree', sizes: [1], samples: 20, ranking: 'iou', rankSamples: 8, controlDraws: 2, batchSize });
    const a = (await run(4)).result; const b = (await run(20)).result;
    expect(a.curves.iou![0].removed.value).toBe(b.curves.iou![0].removed.value);
    expect(a.control[0].removed.mean).toBe(b.control[0].removed.mean);
  });
});

describe('random-unit control on the first latents', () => {
  it('each draw removes what a brute-force recount over latents 0 … controlSamples − 1 finds; the curves use all latents', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const samples = 30; const controlSamples = 10;
    // Batches of 7 put the control's last latents in a batch that also holds latents it does not measure.
    const run = (batchSize: number) => ablateConcept(g, seg, { concept: 'tree', sizes: [1], samples, ranking: 'iou', rankSamples: 16, controlDraws: 6, controlSamples, batchSize });
    const { result } = await expectNoLeak(() => run(7), () => undefined);
    const z = latentValues(g, 1, 0, samples);
    expect(result.controlSamples).toBe(controlSamples);
    expect(result.latents.control).toEqual([0, controlSamples - 1]);
    expect(result.curves.iou![0].removed.count).toBe(samples);
    const zeroed = result.curves.iou![0].units;
    const all = treePixels(z, 0, samples, []);
    expect(result.curves.iou![0].removed.value).toBeCloseTo((all - treePixels(z, 0, samples, zeroed)) / all, 12);
    const before = treePixels(z, 0, controlSamples, []);
    const c = result.control[0];
    expect(c.draws).toHaveLength(6);
    const drawn = new Set(c.draws.map((d) => d.units[0]));
    expect(drawn.has(zeroed[0])).toBe(false);
    // Both units left (1, which draws nothing, and the other tree unit) are drawn, so the check sees a removal too.
    expect(drawn.size).toBe(2);
    for (const d of c.draws) expect(d.removed).toBeCloseTo((before - treePixels(z, 0, controlSamples, d.units)) / before, 12);
    expect(c.concepts.tree.before).toBeCloseTo(before / controlSamples, 9);
    const pooledAfter = c.draws.reduce((t, d) => t + treePixels(z, 0, controlSamples, d.units), 0) / c.draws.length;
    expect(c.concepts.tree.after).toBeCloseTo(pooledAfter / controlSamples, 9);
    // The batch size changes neither the control nor the curve.
    const other = (await run(30)).result;
    expect(other.control[0].draws).toEqual(c.draws);
    expect(other.curves.iou![0].removed.value).toBe(result.curves.iou![0].removed.value);
  });

  it('defaults to 6 draws on the first 500 latents (all of them when there are fewer), and refuses more than samples', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const { result } = await ablateConcept(g, seg, { concept: 'tree', sizes: [1], samples: 12, ranking: 'iou', rankSamples: 8 });
    expect(result.controlSamples).toBe(12);
    expect(result.controlDraws).toBe(6);
    expect(result.control[0].draws).toHaveLength(6);
    const err = await ablateConcept(g, seg, { concept: 'tree', sizes: [1], samples: 12, ranking: 'iou', rankSamples: 8, controlSamples: 13 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).path).toBe('controlSamples');
    expect((err as UnitAttackError).message).toMatch(/at most samples \(12\)/);
  });
});

describe('greedy ranking', () => {
  it('removalBySets equals a brute-force recount for every set', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const range = { seed: 3, from: 5, count: 23 };
    const sets = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];
    const got = await expectNoLeak(() => removalBySets(g, seg, 'layer1', resolveConcept(seg, 'tree'), range, sets, { batchSize: 6 }), () => undefined);
    const z = latentValues(g, range.seed, range.from, range.count);
    const before = treePixels(z, 0, range.count, []);
    expect(before).toBeGreaterThan(0);
    sets.forEach((set, k) => expect(got[k]).toBeCloseTo((before - treePixels(z, 0, range.count, set)) / before, 12));
  });

  it('each step adds the candidate that removes most with the units already chosen (brute force)', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const range = { seed: 2, from: 0, count: 24 };
    const r = await expectNoLeak(() => rankGreedy(g, seg, 'layer1', resolveConcept(seg, 'tree'), range, { size: 3, candidates: [1, 2, 0], batchSize: 5 }), () => undefined);
    const z = latentValues(g, range.seed, range.from, range.count);
    const before = treePixels(z, 0, range.count, []);
    const removal = (set: number[]): number => (before - treePixels(z, 0, range.count, set)) / before;
    // Brute force: at each step, the best of the remaining units (ties to the earlier candidate).
    const chosen: number[] = [];
    let left = [1, 2, 0];
    for (let step = 0; step < 3; step++) {
      const best = left.reduce((a, b) => (removal([...chosen, b]) > removal([...chosen, a]) ? b : a));
      expect(r.steps[step].added).toEqual([best]);
      chosen.push(best);
      expect(r.steps[step].removed).toBeCloseTo(removal(chosen), 12);
      expect(r.scores[best]).toBeCloseTo(removal(chosen), 12);
      left = left.filter((u) => u !== best);
    }
    expect(r.units).toEqual(chosen);
    // The two tree units together remove every tree pixel; unit 1 draws nothing, so it comes last.
    expect(new Set(chosen.slice(0, 2))).toEqual(new Set([0, 2]));
    expect(r.steps[1].removed).toBeCloseTo(1, 12);
  });

  it('stops at the candidates, then lists the other units; a step may add several units', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const concept = resolveConcept(seg, 'tree');
    const range = { seed: 2, from: 0, count: 24 };
    const one = await rankGreedy(g, seg, 'layer1', concept, range, { size: 3, candidates: [1, 2] });
    expect(one.steps).toHaveLength(2);
    expect(one.units.slice(0, 2).sort()).toEqual([1, 2]);
    expect(one.units[2]).toBe(0);
    expect(one.scores[0]).toBeNaN();
    const two = await rankGreedy(g, seg, 'layer1', concept, range, { size: 2, candidates: [0, 1, 2], step: 2 });
    expect(two.steps).toHaveLength(1);
    expect(new Set(two.steps[0].added)).toEqual(new Set([0, 2]));
  });

  it('bad options name their field', async () => {
    const g = tinyGenerator();
    const seg = tinySegmenter();
    const concept = resolveConcept(seg, 'tree');
    const range = { seed: 1, from: 0, count: 4 };
    const err = (o: Parameters<typeof rankGreedy>[5]) => rankGreedy(g, seg, 'layer1', concept, range, o).then(() => undefined, (e: unknown) => e as UnitAttackError);
    expect((await err({ size: 1, candidates: [0], step: 0 }))?.path).toBe('greedyStep');
    expect((await err({ size: 4, candidates: [0] }))?.path).toBe('size');
    expect((await err({ size: 1, candidates: [3] }))?.message).toMatch(/candidate unit 3 is out of range: layer1 has 3 units/);
    const door = await rankGreedy(g, seg, 'layer1', resolveConcept(seg, 'door'), range, { size: 1, candidates: [0] }).then(() => undefined, (e: unknown) => e as UnitAttackError);
    expect(door?.message).toMatch(/sees no 'door' pixels/);
  });

  it('ablateConcept measures the greedy curve, with the causal ranking it starts from', async () => {
    const g = tinyGenerator({ second: true });
    const seg = tinySegmenter();
    const { result } = await ablateConcept(g, seg, { concept: 'tree', sizes: [0, 1, 2], samples: 20, ranking: 'greedy', causalSamples: 12, controlDraws: 0, greedyCandidates: 3 });
    expect(Object.keys(result.curves)).toEqual(['greedy']);
    expect(result.rankings.causal).toBeDefined();
    expect(result.rankings.greedy!.steps).toHaveLength(2);
    expect(result.rankings.greedy!.source).toMatch(/greedy: each step adds the unit of the causal ranking's top 3/);
    expect(new Set(result.curves.greedy![2].units)).toEqual(new Set([0, 2]));
    expect(result.curves.greedy![2].removed.value).toBeCloseTo(1, 12);
  });
});

describe('ablateConcept bad input', () => {
  const g = tinyGenerator();
  const seg = tinySegmenter();
  const fails = async (options: Parameters<typeof ablateConcept>[2], path: string, message: RegExp): Promise<void> => {
    const before = tf.memory().numTensors;
    const err = await ablateConcept(g, seg, options).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).path).toBe(path);
    expect((err as UnitAttackError).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
  };
  it('a concept the segmenter lacks names --concept and lists its concepts', async () => {
    await fails({ concept: 'tre', samples: 4 }, 'concept', /does not label the concept 'tre'/);
    const err = await ablateConcept(g, seg, { concept: 'tre', samples: 4 }).then(() => undefined, (e: unknown) => e as UnitAttackError);
    expect(err?.hint).toMatch(/tree/);
  });
  it('a concept the generator never draws is refused', async () => {
    await fails({ concept: 'door', samples: 4, sizes: [1], rankSamples: 8 }, 'concept', /no 'door' pixels/);
    const err = await ablateConcept(g, seg, { concept: 'door', samples: 4, sizes: [1], rankSamples: 8 }).then(() => undefined, (e: unknown) => e as UnitAttackError);
    expect(err?.hint).toMatch(/the segmenter sees, most first: (sky, tree|tree, sky)$/);
  });
  it('sizes out of range and --samples < 1 name their option', async () => {
    await fails({ concept: 'tree', samples: 4, sizes: [1, 4] }, 'units', /4 is out of range: layer1 has 3 units/);
    await fails({ concept: 'tree', samples: 0 }, 'samples', /positive integer/);
  });
});

describe('ranking from a dissection atlas', () => {
  const unit = (u: number, concept: string | null, iou: number, listed: Array<[string, number]>) => ({
    unit: u, threshold: 0.5 + u, concept, category: concept ? 'object' : null, iou,
    perCategory: Object.fromEntries(listed.slice(0, 1).map(([c, v]) => ['object', { concept: c, iou: v }])),
    topConcepts: listed.map(([c, v]) => ({ concept: c, category: 'object', iou: v })), topImages: [],
  });
  const atlas = {
    layer: 'layer1', units: [unit(0, 'sky', 0.2, [['sky', 0.2], ['tree', 0.01]]), unit(1, 'tree', 0.1, [['tree', 0.1]]), unit(2, null, 0.02, [['sky', 0.02]])],
    params: { iouThreshold: 0.04, quantile: 0.01 }, probe: { spec: 'generated:tiny' }, fingerprint: 'x',
  } as unknown as Atlas;

  it('puts the units that list the concept first, by their IoU, then the rest in the fallback order', () => {
    expect(rankFromAtlas(atlas, 'tree', [0, 0, 0.3]).units).toEqual([1, 0, 2]);
    expect(rankFromAtlas(atlas, 'sky', [0.9, 0.8, 0]).units).toEqual([0, 2, 1]);
  });

  it('refuses a concept no unit carries, listing the concepts that units do carry', () => {
    expect(() => rankFromAtlas(atlas, 'door', [0, 0, 0])).toThrow(/no unit of layer1 in the atlas carries the concept 'door'/);
    try { rankFromAtlas(atlas, 'door', [0, 0, 0]); } catch (err) { expect((err as UnitAttackError).hint).toMatch(/sky, tree/); }
  });

  it('an atlas of another layer or width is refused, naming --atlas', async () => {
    const err = await ablateConcept(tinyGenerator(), tinySegmenter(), { concept: 'tree', samples: 2, atlas: { ...atlas, layer: 'layer4' } })
      .then(() => undefined, (e: unknown) => e as UnitAttackError);
    expect(err?.path).toBe('atlas');
    expect(err?.message).toMatch(/dissects 'layer4', not 'layer1'/);
  });

  it('with an atlas, the IoU ranking uses its thresholds and order', async () => {
    const { result } = await ablateConcept(tinyGenerator(), tinySegmenter(), { concept: 'tree', sizes: [1], samples: 8, ranking: 'iou', rankSamples: 8, controlDraws: 0, atlas });
    expect(result.rankings.iou!.units[0]).toBe(1);
    expect(result.rankings.iou!.source).toMatch(/^atlas/);
    expect(result.warnings.some((w) => /another version of the generator/.test(w))).toBe(true);
  });
});
