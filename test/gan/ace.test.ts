import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '../../src/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { generatorFromModel } from '../../src/gan/generator.js';
import { resolveConcept } from '../../src/gan/measure.js';
import { rankByAce } from '../../src/gan/ranking.js';
import { ablateConcept } from '../../src/gan/ablate.js';
import type { UnitAttackError } from '../../src/errors.js';
import type { Segmenter } from '../../src/segment/segmenter.js';
import { expectNoLeak } from '../helpers.js';
import { tinyGeneratorModel, treeSegmenter } from './fixtures.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/**
 * The ACE objective at coefficients `alpha`, computed without gradients: the units of layer2 scaled by 1 − α through
 * the generator's `scale` edits, the segmenter's logits, a softmax over the category's channels written out by hand,
 * and the mean tree probability (plus the penalty).
 */
function objective(g: ReturnType<typeof generatorFromModel>, seg: Segmenter, z: tf.Tensor2D, alpha: number[], penalty: number): number {
  return tf.tidy(() => {
    const out = g.generate(z, { edits: { layer2: alpha.map((a, u) => ({ op: 'scale' as const, units: [u], factor: 1 - a })) } });
    const logits = seg.logits(out.images).arraySync();
    let sum = 0; let n = 0;
    for (const img of logits) for (const row of img) for (const px of row) {
      const m = Math.max(...px);
      const e = px.map((v) => Math.exp(v - m));
      sum += e[1] / e.reduce((a, b) => a + b, 0);
      n++;
    }
    return sum / n + penalty * alpha.reduce((a, b) => a + b * b, 0);
  });
}

describe('rankByAce', () => {
  const range = { seed: 3, from: 0, count: 12 };

  it("one Adam step moves each coefficient by the learning rate against the sign of the objective's finite-difference slope", async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { outputRange: [-1, 1] });
    const seg = treeSegmenter();
    const concept = resolveConcept(seg, 'tree');
    const lr = 0.03;
    const r = await expectNoLeak(() => rankByAce(g, seg, 'layer2', concept, range, { epochs: 1, learningRate: lr, batchSize: 12 }), () => undefined);
    const z = g.latents(range.seed, range.from, range.count);
    const h = 1e-2;
    const slope = [0, 1].map((u) => {
      const up = [0, 0]; up[u] = h;
      // The penalty's own slope at 0 is 0, so the slope is the tree probability's.
      return (objective(g, seg, z, up, 0) - objective(g, seg, z, [0, 0], 0)) / h;
    });
    const start = objective(g, seg, z, [0, 0], 0.002);
    z.dispose();
    // Unit 0 paints the tree: scaling it down lowers the tree probability. Unit 1 paints nothing: no slope, no step.
    expect(slope[0]).toBeLessThan(-1e-3);
    expect(Math.abs(slope[1])).toBeLessThan(1e-6);
    expect(r.scores[0]).toBeCloseTo(lr, 5);
    expect(r.scores[1]).toBe(0);
    expect(r.units).toEqual([0, 1]);
    expect(r.losses).toHaveLength(1);
    expect(r.losses[0]).toBeCloseTo(start, 4);
    g.dispose(); seg.dispose();
  });

  it('more epochs push the tree unit towards 1 and lower the objective, the same each run', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { outputRange: [-1, 1] });
    const seg = treeSegmenter();
    const concept = resolveConcept(seg, 'tree');
    const run = () => rankByAce(g, seg, 'layer2', concept, range, { epochs: 8, learningRate: 0.1, batchSize: 4 });
    const r = await expectNoLeak(run, () => undefined);
    expect(r.units[0]).toBe(0);
    expect(r.scores[0]).toBeGreaterThan(0.5);
    expect(r.scores[0]).toBeLessThanOrEqual(1);
    expect(r.scores[1]).toBe(0);
    expect(r.losses).toHaveLength(8);
    expect(r.losses[7]).toBeLessThan(r.losses[0]);
    expect((await run()).scores).toEqual(r.scores);
    g.dispose(); seg.dispose();
  });

  it('bad options name their field', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { outputRange: [-1, 1] });
    const seg = treeSegmenter();
    const concept = resolveConcept(seg, 'tree');
    const err = (o: Parameters<typeof rankByAce>[5], count = 4) => rankByAce(g, seg, 'layer2', concept, { seed: 1, from: 0, count }, o).then(() => undefined, (e: unknown) => e as UnitAttackError);
    expect((await err({ epochs: 0 }))?.path).toBe('aceEpochs');
    expect((await err({ learningRate: -1 }))?.path).toBe('aceLearningRate');
    expect((await err({ penalty: Number.NaN }))?.path).toBe('acePenalty');
    expect((await err({}, 0))?.path).toBe('causalSamples');
    g.dispose(); seg.dispose();
  });

  it('ablateConcept measures the ACE curve; its unit 0 removes every tree pixel the recount finds', async () => {
    const g = generatorFromModel(tinyGeneratorModel(), { outputRange: [-1, 1] });
    const seg = treeSegmenter();
    const { result } = await expectNoLeak(() => ablateConcept(g, seg, { concept: 'tree', layer: 'layer2', sizes: [0, 1], samples: 10, ranking: 'ace', causalSamples: 8, aceEpochs: 4, aceLearningRate: 0.2, controlDraws: 0 }), () => undefined);
    expect(Object.keys(result.curves)).toEqual(['ace']);
    expect(result.rankings.ace!.units[0]).toBe(0);
    expect(result.rankings.ace!.losses).toHaveLength(4);
    expect(result.rankings.ace!.source).toMatch(/average causal effect.*4 epochs, rate 0.2, penalty 0.002.*latents 10…17/);
    // Zeroing unit 0 leaves only sky: every tree pixel goes.
    const z = g.latents(1, 0, 10);
    const zeroed = g.generate(z, { edits: { layer2: { op: 'zero', units: [0] } } });
    const left = seg.segment(await zeroed.images.data() as Float32Array, 10, 16, 16).filter((v) => v === 1).length;
    tf.dispose([z, zeroed.images]);
    expect(left).toBe(0);
    expect(result.curves.ace![1].removed.value).toBeCloseTo(1, 12);
    g.dispose(); seg.dispose();
  });
});
