import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import type { GeneratorAblation } from '../../src/gan/ablate.js';
import { ScenarioError } from '../../src/scenarios/errors.js';
import { ablationMetrics } from '../../src/scenarios/generator-tasks.js';
import { loadScenario, parseScenario } from '../../src/scenarios/load.js';
import { RunCache, runScenario } from '../../src/scenarios/run.js';

const treeScenario = (): Record<string, unknown> => ({
  name: 'trees leave',
  model: 'builtin:scenes-gan',
  ablation: { concept: 'tree', units: [5, 20], samples: 300, seed: 2, controlDraws: 4 },
  expectations: {
    concept_removed: { units: 20, min: 0.3 },
    control_removed: { max: 0.1 },
    concept_change: { concept: 'sky', max: 0.2, min: -0.2 },
  },
});

function issuesOf(o: unknown): ReadonlyArray<{ path: string; message: string; code: string }> {
  try {
    parseScenario(stringify(o), '/tmp/g/gan.yaml');
  } catch (err) {
    if (err instanceof ScenarioError) return err.issues;
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

beforeAll(async () => { await initBackend({ backend: 'wasm' }); });

describe('generator scenarios: parsing and checks', () => {
  it('an ablation block naming a concept is a generator ablation over latents, with the expectations\' sizes', () => {
    const s = parseScenario(stringify(treeScenario()), '/tmp/g/gan.yaml');
    expect(s.task).toEqual({
      kind: 'gan-ablation',
      ablation: { concept: 'tree', sizes: [5, 20], samples: 300, seed: 2, segmenter: 'builtin:scenes-segmenter', ranking: 'iou', controlDraws: 4 },
    });
    expect(s.inputs).toEqual({ kind: 'latents', count: 300, seed: 2 });
    expect(s.expectations).toContainEqual({ metric: 'concept_removed', units: 20, min: 0.3 });
    expect(s.expectations).toContainEqual({ metric: 'concept_change', concept: 'sky', min: -0.2, max: 0.2 });
  });

  it('an insertion block reads contexts as lists and resolves a segmenter folder against the file', () => {
    const s = parseScenario(stringify({
      name: 'doors', model: 'builtin:scenes-gan', insertion: { concept: 'door', units: 10, at: [3, 4], segmenter: '../seg' },
      expectations: { insertion_ratio: { on: ['house', 'building'], over: 'sky', min: 5 }, concept_inserted: { context: 'house', min: 0.01 } },
    }), '/tmp/g/doors.yaml');
    expect(s.task).toEqual({ kind: 'insertion', insertion: { concept: 'door', units: 10, at: [3, 4], samples: 100, seed: 1, segmenter: '/tmp/seg' } });
    expect(s.expectations).toContainEqual({ metric: 'insertion_ratio', on: ['house', 'building'], over: ['sky'], min: 5 });
    expect(s.expectations).toContainEqual({ metric: 'concept_inserted', context: ['house'], min: 0.01 });
  });

  it('names every misfit: inputs, a classifier key, a size not measured, a metric it does not measure, a misspelt key', () => {
    const o = treeScenario();
    const issues = issuesOf({
      ...o, inputs: { synthetic: { count: 4, seed: 1 } },
      ablation: { ...(o.ablation as object), topN: 3, controlDraw: 2 },
      expectations: { ...(o.expectations as object), concept_removed: { units: 8, min: 0.5 }, clean_accuracy: { min: 0.5 } },
    });
    const at = (p: string): string | undefined => issues.find((i) => i.path === p)?.message;
    expect(at('ablation.controlDraw')).toMatch(/unknown key 'controlDraw'; did you mean 'controlDraws'/);
    expect(at('inputs')).toMatch(/draws its own latents/);
    expect(at('ablation.topN')).toMatch(/classifier's ablation/);
    expect(at('expectations.concept_removed.units')).toMatch(/reads 8 units, but ablation.units measures 5, 20/);
    expect(at('expectations.clean_accuracy')).toMatch(/does not measure clean_accuracy: a generator scenario has no images/);
  });

  it('controlSamples passes to the ablation; more than samples, or without a control, is an issue at that key', () => {
    const o = treeScenario();
    const s = parseScenario(stringify({ ...o, ablation: { ...(o.ablation as object), controlSamples: 100 } }), '/tmp/g/gan.yaml');
    expect(s.task).toMatchObject({ kind: 'gan-ablation', ablation: { samples: 300, controlDraws: 4, controlSamples: 100 } });
    // No controlDraws: the library's default of 6.
    expect(parseScenario(stringify({ ...o, ablation: { concept: 'tree', units: [5, 20] } }), '/tmp/g/gan.yaml').task).toMatchObject({ ablation: { samples: 500, controlDraws: 6 } });
    const tooMany = issuesOf({ ...o, ablation: { ...(o.ablation as object), controlSamples: 301 } });
    expect(tooMany.find((i) => i.path === 'ablation.controlSamples')?.message).toMatch(/controlSamples \(301\) must be at most samples \(300\)/);
    const defaultSamples = issuesOf({ ...o, ablation: { concept: 'tree', units: [5, 20], controlSamples: 501 } });
    expect(defaultSamples.find((i) => i.path === 'ablation.controlSamples')?.message).toMatch(/at most samples \(500\)/);
    const noControl = issuesOf({ ...o, ablation: { ...(o.ablation as object), controlDraws: 0, controlSamples: 100 }, expectations: { concept_removed: { units: 20, min: 0.3 } } });
    expect(noControl.find((i) => i.path === 'ablation.controlSamples')?.message).toMatch(/needs a control: controlDraws is 0/);
  });

  it("greedy and ACE rankings take their options; options and expectations of a ranking not measured are conflicts", () => {
    const o = treeScenario();
    const s = parseScenario(stringify({
      ...o, ablation: { ...(o.ablation as object), ranking: 'all', causalSamples: 64, greedyCandidates: 30, greedyStep: 2 },
      expectations: { concept_removed: { units: 20, ranking: 'greedy', min: 0.5 } },
    }), '/tmp/g/gan.yaml');
    expect(s.task).toMatchObject({ kind: 'gan-ablation', ablation: { ranking: 'all', causalSamples: 64, greedyCandidates: 30, greedyStep: 2 } });
    const issues = issuesOf({
      ...o, ablation: { ...(o.ablation as object), ranking: 'both', greedyStep: 2 },
      expectations: { concept_removed: { units: 20, ranking: 'greedy', min: 0.5 } },
    });
    const at = (p: string): string | undefined => issues.find((i) => i.path === p)?.message;
    expect(at('ablation.greedyStep')).toMatch(/greedyStep needs ranking: greedy or all/);
    expect(at('expectations.concept_removed.ranking')).toMatch(/reads the greedy ranking, but the ablation measures only the iou and causal ranking/);
    expect(at('ablation.causalSamples')).toBeUndefined();
    const iouOnly = issuesOf({ ...o, ablation: { ...(o.ablation as object), causalSamples: 8 } });
    expect(iouOnly.find((i) => i.path === 'ablation.causalSamples')?.message).toMatch(/causalSamples needs ranking: causal, greedy, ace, both or all/);
    const ace = parseScenario(stringify({
      ...o, ablation: { ...(o.ablation as object), ranking: 'ace', causalSamples: 64, aceEpochs: 10, aceLearningRate: 0.05, acePenalty: 0.001 },
      expectations: { concept_removed: { units: 20, ranking: 'ace', min: 0.5 } },
    }), '/tmp/g/gan.yaml');
    expect(ace.task).toMatchObject({ kind: 'gan-ablation', ablation: { ranking: 'ace', causalSamples: 64, aceEpochs: 10, aceLearningRate: 0.05, acePenalty: 0.001 } });
    const noAce = issuesOf({ ...o, ablation: { ...(o.ablation as object), ranking: 'greedy', aceEpochs: 10 }, expectations: { concept_removed: { units: 20, ranking: 'ace', min: 0.5 } } });
    expect(noAce.find((i) => i.path === 'ablation.aceEpochs')?.message).toMatch(/aceEpochs needs ranking: ace or all/);
    expect(noAce.find((i) => i.path === 'expectations.concept_removed.ranking')?.message).toMatch(/reads the ace ranking, but the ablation measures only the greedy ranking/);
  });

  it('a classifier scenario still needs its inputs and a classifier ablation its class and topN', () => {
    const issues = issuesOf({ name: 'x', model: 'builtin:scenes-vgg16', dissection: {}, ablation: { topN: 3 }, expectations: { ablation_accuracy_drop: { min: 0.1 } } });
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(['inputs', 'ablation.class']));
  });

  it('the model must be a generator for a generator block, and a classifier otherwise', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-gan-scn-'));
    const a = path.join(dir, 'a.yaml');
    writeFileSync(a, stringify({ ...treeScenario(), model: 'builtin:scenes-vgg16' }));
    const e1 = await loadScenario(a).then(() => undefined, (err: unknown) => err as ScenarioError);
    expect(e1?.issues[0].message).toMatch(/'builtin:scenes-vgg16' is not a built-in generator/);
    expect(e1?.issues[0].hint).toMatch(/builtin:scenes-gan/);
    const b = path.join(dir, 'b.yaml');
    writeFileSync(b, stringify({ name: 'y', model: 'builtin:scenes-gan', inputs: { synthetic: { count: 2, seed: 1 } }, expectations: { clean_accuracy: { min: 0.5 } } }));
    const e2 = await loadScenario(b).then(() => undefined, (err: unknown) => err as ScenarioError);
    expect(e2?.issues[0].message).toMatch(/is a generator: it has no classes/);
  });
});

describe('generator scenarios: metrics', () => {
  const curve = (n: number, removed: number, sky: number) => ({
    n, units: [], removed: { value: removed, se: 0.01, interval: [removed - 0.02, removed + 0.02] as [number, number], level: 0.99, count: 10, meanBefore: 1, meanAfter: 1 },
    concepts: { sky: { before: 10, after: 10 * (1 + sky), change: sky } },
  });
  const r = {
    samples: 10, level: 0.99,
    curves: { iou: [curve(0, 0, 0), curve(5, 0.2, 0.01), curve(20, 0.5, 0.05)], causal: [curve(0, 0, 0), curve(5, 0.3, 0.02), curve(20, 0.6, 0.07)] },
    control: [{ n: 5, draws: [], removed: { mean: 0.01, sd: 0, min: 0, max: 0 }, concepts: {} }, { n: 20, draws: [], removed: { mean: 0.04, sd: 0, min: 0, max: 0 }, concepts: {} }],
  } as unknown as GeneratorAblation;

  it('reads the curve at the size and ranking each expectation names, else the largest size of the IoU ranking', () => {
    expect(ablationMetrics(r, []).metrics).toEqual({ concept_removed: 0.5, control_removed: 0.04 });
    const m = ablationMetrics(r, [
      { metric: 'concept_removed', units: 5, ranking: 'causal' }, { metric: 'control_removed', units: 5 }, { metric: 'concept_change', concept: 'sky', units: 20 },
    ]);
    expect(m.metrics).toEqual({ concept_removed: 0.3, control_removed: 0.01, concept_change: 0.05 });
    expect(m.intervals.concept_removed.lower).toBeCloseTo(0.28, 12);
    expect(m.intervals.concept_removed.upper).toBeCloseTo(0.32, 12);
    expect(m.intervals.concept_removed.level).toBe(0.99);
  });
});

describe('generator scenarios: a run on the built-in generator', () => {
  it('measures the removal and gates on it; a threshold it misses fails the scenario', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-gan-run-'));
    const file = path.join(dir, 'trees.yaml');
    writeFileSync(file, stringify({
      name: 'trees', model: 'builtin:scenes-gan',
      ablation: { concept: 'tree', units: [2], samples: 4, rankSamples: 4, controlDraws: 1 },
      expectations: { concept_removed: { min: -1, max: 1 }, control_removed: { min: 2 }, concept_change: { concept: 'sky', min: -1 } },
    }));
    const cache = new RunCache();
    try {
      const { result, artifacts } = await runScenario(await loadScenario(file), { cache });
      expect(result.error).toBeUndefined();
      expect(result.task).toBe('ablation');
      expect(result.inputs).toMatchObject({ kind: 'latents', total: 4, used: 4 });
      const d = result.details.ablation as GeneratorAblation;
      expect(result.metrics.concept_removed).toBe(d.curves.iou![0].removed.value);
      expect(result.metrics.control_removed).toBe(d.control[0].removed.mean);
      expect(result.expectations.map((e) => [e.metric, e.passed])).toEqual([['concept_removed', true], ['control_removed', false], ['concept_change', true]]);
      expect(result.status).toBe('failed');
      expect(artifacts.plots.length).toBeGreaterThanOrEqual(2);
    } finally {
      await cache.dispose();
    }
  });

  it('a concept the segmenter lacks in an expectation is an error at that field', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-gan-run-'));
    const file = path.join(dir, 'trees.yaml');
    writeFileSync(file, stringify({
      name: 'trees', model: 'builtin:scenes-gan', ablation: { concept: 'tree', units: [2], samples: 2, rankSamples: 2, controlDraws: 0 },
      expectations: { concept_change: { concept: 'skyy', min: -1 } },
    }));
    const cache = new RunCache();
    try {
      const { result } = await runScenario(await loadScenario(file), { cache });
      expect(result.status).toBe('error');
      expect(result.error?.path).toBe('expectations.concept_change.concept');
      expect(result.error?.message).toMatch(/no concept 'skyy'; did you mean 'sky'/);
    } finally {
      await cache.dispose();
    }
  });
});
