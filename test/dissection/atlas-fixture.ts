import type { Atlas } from '../../src/dissection/atlas.js';

/** A small hand-made atlas of 4 units and one class. */
export function sampleAtlas(): Atlas {
  const unit = (u: number, concept: string | null, iou: number, category = 'object'): Atlas['units'][number] => ({
    unit: u, threshold: 0.5 + u, concept, category: concept === null ? null : category, iou,
    perCategory: { object: { concept: concept ?? 'sky', iou }, material: { concept: 'snow', iou: u === 3 ? 0.07 : 0.01 } },
    topConcepts: concept === null ? [] : [{ concept, category, iou }],
    topImages: [{ index: u, id: `img-${u}`, value: 2.5, map: [0, 1, 2.5, NaN] }],
  });
  return {
    format: 'unit-attack-atlas', version: 1, model: 'm', fingerprint: 'abc', layer: 'block5_conv3', layerShape: [2, 2, 4],
    inputSize: [8, 8], labelSize: [2, 2], classes: ['a', 'b'],
    probe: { spec: 'builtin:scenes?count=4&seed=1', kind: 'scenes', count: 4, used: 4, concepts: [{ id: 1, name: 'tree', category: 'object', pixels: 10 }] },
    params: { quantile: 0.01, iouThreshold: 0.04, topN: 3, topImages: 1, metric: 'logprob', trainFraction: 0.5, sketchK: 16384, seed: 1, importance: true },
    skipped: 0, skippedIds: [],
    units: [unit(0, 'tree', 0.2), unit(1, 'tree', 0.3), unit(2, null, 0.01), unit(3, 'house', 0.05)],
    classImportance: { a: { ranking: [2, 0, 1, 3], drops: [0.5, 0.2, 0.1, 0], count: 2, split: 'train' } },
    ablation: { a: { N: [1, 2, 3], ablateAccuracy: [0.5, 0, 0], keepAccuracy: [1, 1, 0.5], othersAccuracy: [NaN, 1, 1], baseAccuracy: 1, baseOthersAccuracy: 1, count: 2, split: 'heldout' } },
    created: '2026-01-01T00:00:00.000Z', tool: { name: 'unit-attack', version: '0.1.0', backend: 'cpu' },
  };
}
