import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '../../src/tf.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dissect } from '../../src/dissection/index.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadClassifier } from '../../src/models/io.js';
import { loadScenario } from '../../src/scenarios/load.js';
import { RunCache, evaluateExpectation, exitCodeOf, runScenarios } from '../../src/scenarios/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { saveColourModel, saveTinySceneModel, tempDir, writeColourImages, writeScenario } from './helpers.js';

const dir = tempDir();
const previousCache = process.env.UNIT_ATTACK_CACHE;

beforeAll(async () => {
  process.env.UNIT_ATTACK_CACHE = path.join(dir, 'cache');
  await initBackend({ backend: 'cpu' });
  await saveColourModel(path.join(dir, 'colour'));
  await saveTinySceneModel(path.join(dir, 'scenes'));
  await writeColourImages(dir);
});

afterAll(() => {
  if (previousCache === undefined) delete process.env.UNIT_ATTACK_CACHE;
  else process.env.UNIT_ATTACK_CACHE = previousCache;
});

const colourInputs = { folder: 'images', labels: 'labels.csv' };

async function runOne(name: string, doc: Record<string, unknown>) {
  const file = writeScenario(dir, name, { name, ...doc });
  const before = tf.memory().numTensors;
  const out = await runScenarios([await loadScenario(file)]);
  expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  return { out, s: out.results.scenarios[0], a: out.artifacts[0] };
}

describe('evaluateExpectation', () => {
  it('should pass inside inclusive bounds and fail outside or on NaN', () => {
    expect(evaluateExpectation({ metric: 'psnr', min: 30 }, 30).passed).toBe(true);
    expect(evaluateExpectation({ metric: 'psnr', min: 30 }, 29.9).passed).toBe(false);
    expect(evaluateExpectation({ metric: 'linf', max: 8 / 255 }, Math.fround(8 / 255) + 3e-8).passed).toBe(true);
    expect(evaluateExpectation({ metric: 'ssim', min: 0.5, max: 0.9 }, 0.95).passed).toBe(false);
    expect(evaluateExpectation({ metric: 'psnr', min: 30 }, Number.POSITIVE_INFINITY).passed).toBe(true);
    expect(evaluateExpectation({ metric: 'clean_accuracy', min: 0 }, Number.NaN).passed).toBe(false);
    expect(evaluateExpectation({ metric: 'clean_accuracy', min: 0 }, undefined).measured).toBeNaN();
  });

  it('should rank exit codes: internal error, bad input, failure, success', () => {
    const r = (status: 'passed' | 'failed' | 'error', code?: string) => ({ status, ...(code ? { error: { code, message: '' } } : {}) }) as never;
    expect(exitCodeOf([r('passed')])).toBe(0);
    expect(exitCodeOf([r('passed')], 1)).toBe(1);
    expect(exitCodeOf([r('passed'), r('failed')])).toBe(1);
    expect(exitCodeOf([r('failed'), r('error', 'UA_INPUT')])).toBe(2);
    expect(exitCodeOf([r('error', 'UA_INPUT'), r('error', 'UA_INTERNAL')])).toBe(3);
  });
});

describe('attack scenarios', () => {
  it('measures the attack metrics of a targeted PGD attack, and each verdict follows its bounds', async () => {
    const { s, a } = await runOne('pgd', {
      model: 'colour', inputs: colourInputs,
      attack: { kind: 'pgd', epsilon: '8/255', steps: 10, seed: 1, target: 'green' },
      expectations: {
        clean_accuracy: { min: 0.99 }, robust_accuracy: { max: 0.5 }, untargeted_success: { min: 0.5 }, targeted_success: { min: 0.5 },
        linf: { max: '8/255' }, l2: { max: 16 * 3 * 16 / 255 }, psnr: { min: 25 }, ssim: { min: 0.5, max: 0.999 },
      },
    });
    expect(s.status).toBe('passed');
    expect(s.metrics.clean_accuracy).toBe(1);
    expect(s.metrics.linf).toBeLessThanOrEqual(8 / 255 + 1e-6);
    expect(s.metrics.robust_accuracy).toBeCloseTo(1 - s.metrics.untargeted_success, 10);
    for (const e of s.expectations) {
      const v = e.measured;
      expect(e.passed).toBe((e.threshold.min === undefined || v >= e.threshold.min - 1e-6) && (e.threshold.max === undefined || v <= e.threshold.max + 1e-6));
    }
    expect(s.seeds.attack).toBe(1);
    expect(s.durations.attack).toBeGreaterThan(0);
    expect(s.images.length).toBe(6);
    // A logit attack has no units to map: no heatmap; the perturbation picture says how much it is amplified.
    expect(a.images[0].map((p) => p.role)).toEqual(['original', 'adversarial', 'perturbation']);
    expect(a.images[0][2].caption).toMatch(/^perturbation ×\d+\.\d$/);
    expect(a.plots.length).toBeGreaterThan(0);
  });

  it('runs autoattack (standard) on the images still robust, and reports its components and the gradient-masking checks', async () => {
    const { s, out } = await runOne('autoattack', {
      model: 'scenes', inputs: { synthetic: { count: 6, seed: 3 } },
      attack: { kind: 'autoattack', version: 'standard', epsilon: '8/255', steps: 4, targetClasses: 2, queries: 20, seed: 1 },
      expectations: { robust_accuracy: { max: 1 } },
    });
    expect(s.error).toBeUndefined();
    const aa = s.details.autoattack as { version: string; components: Array<{ name: string; ran: boolean; attacked: number; reason?: string }> };
    expect(aa.version).toBe('standard');
    expect(aa.components.map((c) => c.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(aa.components[2].ran || aa.components[2].reason === 'no image was left robust').toBe(true);
    const checks = s.details.checks as Array<{ check: string; flagged: boolean }>;
    expect(checks.map((c) => c.check).slice(0, 4)).toEqual(['accuracy-at-zero', 'nondeterministic', 'softmax-outputs', 'zero-gradients']);
    expect(checks.slice(0, 4).some((c) => c.flagged)).toBe(false);
    expect((s.details.attack as { kind: string; settings: Record<string, unknown> }).settings).toMatchObject({ version: 'standard', targetClasses: 2, queries: 20 });
    expect(s.metrics.robust_accuracy).toBeLessThanOrEqual(s.metrics.clean_accuracy);
    const { htmlReport } = await import('../../src/report/html.js');
    expect(htmlReport(out)).toMatch(/Checks against false robustness: (none fired|\d fired)/);
  });

  it('rejects a target on autoattack and a version that does not exist when loading', async () => {
    const bad = writeScenario(dir, 'aa-bad', {
      name: 'aa-bad', model: 'scenes', inputs: { synthetic: { count: 2, seed: 3 } },
      attack: { kind: 'autoattack', version: 'plus', epsilon: '8/255' }, expectations: { robust_accuracy: { min: 0 } },
    });
    await expect(loadScenario(bad)).rejects.toThrow(/version/);
    const target = writeScenario(dir, 'aa-target', {
      name: 'aa-target', model: 'scenes', inputs: { synthetic: { count: 2, seed: 3 } },
      attack: { kind: 'autoattack', epsilon: '8/255', target: 'beach' }, expectations: { robust_accuracy: { min: 0 } },
    });
    await expect(loadScenario(target)).rejects.toThrow(/picks its own target classes/);
  });

  it('measures unit success, the random control and the unit effects of the unit attack by unit index', async () => {
    const { s, a } = await runOne('unit', {
      model: 'colour', inputs: colourInputs,
      attack: { kind: 'unit', layer: 'units', suppress: [0], excite: [1], target: 'green', epsilon: '8/255', steps: 10, seed: 2 },
      expectations: {
        targeted_success: { min: 0.3 }, unit_success: { min: 0.3 }, random_control_success: { max: 0.2 },
        unit_effect_suppressed: { max: 0 }, unit_effect_excited: { min: 0 },
      },
    });
    expect(s.error).toBeUndefined();
    expect(s.status).toBe('passed');
    expect(s.metrics.unit_success).toBe(s.metrics.targeted_success);
    expect(s.metrics.unit_effect_excited).toBeGreaterThan(0);
    expect(s.metrics.unit_effect_suppressed).toBeLessThan(0);
    const units = s.details.units as { control: { suppress: number[]; excite: number[]; seed: number }; suppress: Array<{ unit: number; via: string }> };
    expect(units.suppress).toEqual([{ unit: 0, concept: null, iou: null, via: 'index' }]);
    expect(units.control.suppress).toHaveLength(1);
    expect([...units.control.suppress, ...units.control.excite]).not.toContain(0);
    expect([...units.control.suppress, ...units.control.excite]).not.toContain(1);
    expect(s.seeds.randomControl).toBe(units.control.seed);
    expect((s.details.unitAttack as { kind: string }).kind).toBe('unit-attack');
    expect(a.plots.map((p) => p.title).join(' ')).toContain('Unit effect');
    const heat = a.images[0].find((p) => p.role === 'heatmap');
    expect(heat?.caption).toMatch(/unit change/);
    expect(heat?.scale?.kind).toBe('signed');
    expect(heat?.scale?.max).toBeGreaterThan(0);
  });

  it('reports a class the model lacks as a scenario error with its line, and exit code 2', async () => {
    const { out, s } = await runOne('badtarget', {
      model: 'colour', inputs: colourInputs, attack: { kind: 'pgd', epsilon: '4/255', target: 'purple' },
      expectations: { targeted_success: { min: 0.5 } },
    });
    expect(s.status).toBe('error');
    expect(s.error).toMatchObject({ code: 'UA_INPUT', path: 'attack.target', line: 10 });
    expect(s.error!.message).toContain("no class 'purple'");
    expect(out.results.exitCode).toBe(2);
    expect(s.expectations.every((e) => !e.passed)).toBe(true);
  });
});

describe('inputs', () => {
  it('reports a corrupt image as an errored input, runs the rest, and fails unless allowErrors allows it', async () => {
    const sub = path.join(dir, 'with-corrupt');
    const { folder } = await writeColourImages(sub);
    writeFileSync(path.join(folder, 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n not really a png'));
    writeFileSync(path.join(sub, 'labels.csv'), 'file,class\nred-0.png,red\nbroken.png,green\ngreen-0.png,green\nblue-0.png,blue\n');
    const doc = { model: '../colour', inputs: { folder: 'images', labels: 'labels.csv' }, expectations: { clean_accuracy: { min: 0.9 } } };
    const strict = await runScenarios([await loadScenario(writeScenario(sub, 'strict', { name: 'strict', ...doc }))]);
    const s = strict.results.scenarios[0];
    expect(s.inputs).toMatchObject({ total: 4, used: 3, allowErrors: 0 });
    expect(s.inputs.errored).toHaveLength(1);
    expect(s.inputs.errored[0].id).toBe('broken.png');
    expect(s.metrics.clean_accuracy).toBe(1);
    expect(s.expectations[0].passed).toBe(true);
    expect(s.status).toBe('failed');
    expect(strict.results.exitCode).toBe(1);
    const lenient = await runScenarios([await loadScenario(writeScenario(sub, 'lenient', { name: 'lenient', ...doc, inputs: { ...doc.inputs, allowErrors: 1 } }))]);
    expect(lenient.results.scenarios[0].status).toBe('passed');
  });
});

describe('fuzz scenarios', () => {
  it('holds when the corruptions cannot flip the colour, with property_holds = 1', async () => {
    const { s } = await runOne('fuzz-holds', {
      model: 'colour', inputs: colourInputs,
      fuzz: { runs: 30, seed: 3, noise: '8/255', contrast: 0.2, blur: 0.8, shift: 2 },
      expectations: { property_holds: { min: 1 } },
    });
    expect(s.status).toBe('passed');
    expect(s.metrics.property_holds).toBe(1);
    expect(s.details.counterexample).toBeUndefined();
  });

  it('shrinks a failure to a counterexample with seed and path, and --seed/--path replays it exactly', async () => {
    const doc = {
      model: 'colour', inputs: colourInputs,
      fuzz: { runs: 100, seed: 11, brightness: 0.6, noise: '4/255', jpeg: 50 },
      expectations: { property_holds: { min: 1 } },
    };
    const { s, a } = await runOne('fuzz-fails', doc);
    expect(s.error).toBeUndefined();
    expect(s.status).toBe('failed');
    expect(s.metrics.property_holds).toBe(0);
    const cx = s.details.counterexample as { seed: number; path: string; corruption: unknown; predicted: string; expected: string; replay: string };
    expect(cx.seed).toBe(11);
    expect(cx.path).toMatch(/^\d+(:\d+)*$/);
    expect(cx.predicted).not.toBe(cx.expected);
    expect(cx.replay).toContain(`--seed 11 --path ${cx.path}`);
    expect(a.images[0].map((p) => p.role)).toEqual(['original', 'counterexample', 'perturbation']);

    const scenario = await loadScenario(path.join(dir, 'fuzz-fails.yaml'));
    const replay = await runScenarios([scenario], { seed: cx.seed, path: cx.path });
    const r = replay.results.scenarios[0];
    expect(r.metrics.property_holds).toBe(0);
    expect((r.details.fuzz as { replayed: boolean }).replayed).toBe(true);
    expect((r.details.counterexample as typeof cx).corruption).toEqual(cx.corruption);
    expect((r.details.counterexample as typeof cx).path).toBe(cx.path);
    expect(Buffer.from(replay.artifacts[0].images[0][1].png).equals(Buffer.from(a.images[0][1].png))).toBe(true);
  });

  it('rejects --path without --seed, and --path over several fuzz scenarios', async () => {
    const s = await loadScenario(path.join(dir, 'fuzz-fails.yaml'));
    await expect(runScenarios([s], { path: '1:2' })).rejects.toThrow(/--seed/);
    await expect(runScenarios([s, { ...s, name: 'other' }], { seed: 1, path: '1:2' })).rejects.toThrow(/one fuzz scenario/);
  });
});

describe('dissection scenarios', () => {
  let ablationClass: string;
  let concept: string;
  let probe: string;

  beforeAll(async () => {
    // The tiny model is untrained: ablate the class it predicts most, and steer a concept the dissection labelled.
    const s = await loadScenario(writeScenario(dir, 'eval', {
      name: 'eval', model: 'scenes', inputs: { synthetic: { count: 14, seed: 1 } }, expectations: { clean_accuracy: { min: 0 } },
    }));
    const out = await runScenarios([{ ...s, reportImages: 14 }]);
    const counts = new Map<string, number>();
    for (const img of out.results.scenarios[0].images) counts.set(img.cleanPrediction, (counts.get(img.cleanPrediction) ?? 0) + 1);
    ablationClass = [...counts.entries()].sort((x, y) => y[1] - x[1])[0][0];
    probe = `builtin:scenes?count=48&seed=7&classes=${[...new Set(['ski_resort', 'bedroom', ablationClass])].join(',')}`;
    const clf = await loadClassifier(path.join(dir, 'scenes'));
    try {
      const { atlas } = await dissect(clf, probe, { topN: 4 });
      concept = atlas.units.find((u) => u.concept !== null)!.concept!;
    } finally {
      clf.dispose();
    }
  });

  it('measures units_labelled and the ablation accuracy drop, and draws the ablation curve', async () => {
    const { s, a } = await runOne('ablation', {
      model: 'scenes', inputs: { synthetic: { class: ablationClass, count: 6, seed: 1 } },
      dissection: { probe, topN: 4 },
      ablation: { class: ablationClass, topN: 4 },
      expectations: { ablation_accuracy_drop: { min: -1, max: 1 }, units_labelled: { min: 1 } },
    });
    expect(s.error).toBeUndefined();
    expect(s.metrics.units_labelled).toBeGreaterThanOrEqual(1);
    const d = s.details.ablation as { classAccuracy: { before: number; after: number } };
    expect(s.metrics.ablation_accuracy_drop).toBeCloseTo(1 - d.classAccuracy.after / d.classAccuracy.before, 10);
    expect((s.details.dissection as { cached: boolean }).cached).toBe(true); // computed in beforeAll, read from the disk cache
    expect(a.plots[0].svg).toContain('<svg');
  });

  it('steers units named by concept (through the unit attack of the attack suite), with the dissection thresholds as the unit scale', async () => {
    const { s } = await runOne('concept', {
      model: 'scenes', inputs: { synthetic: { class: 'ski_resort', count: 3, seed: 2 } },
      dissection: { probe, topN: 4 },
      attack: { kind: 'unit', excite: [concept], units: 2, epsilon: '8/255', steps: 3 },
      expectations: { unit_effect_excited: { min: -10 } },
    });
    expect(s.error).toBeUndefined();
    const units = s.details.units as { excite: Array<{ concept: string; via: string }>; scale: string };
    expect(units.excite.length).toBeGreaterThan(0);
    expect(units.excite.length).toBeLessThanOrEqual(2);
    expect(units.excite.every((u) => u.concept === concept && u.via === concept)).toBe(true);
    expect(units.scale).toBe('threshold');
  });

  it('names an unknown concept at its list entry, with the nearest concept', async () => {
    const { s } = await runOne('badconcept', {
      model: 'scenes', inputs: { synthetic: { class: 'ski_resort', count: 2, seed: 2 } },
      dissection: { probe, topN: 4 },
      attack: { kind: 'unit', suppress: ['snwo'], epsilon: '8/255', steps: 2 },
      expectations: { unit_effect_suppressed: { max: 0 } },
    });
    expect(s.status).toBe('error');
    expect(s.error).toMatchObject({ path: 'attack.suppress[0]' });
    expect(s.error!.message).toContain("did you mean 'snow'?");
  });

  it('shares one model and one dissection between scenarios', async () => {
    const a = await loadScenario(path.join(dir, 'ablation.yaml'));
    const b: Scenario = { ...a, name: 'ablation copy' };
    const cache = new RunCache();
    try {
      expect(cache.model(a)).toBe(cache.model(b));
      const clf = await cache.model(a);
      expect(cache.atlas(a, clf)).toBe(cache.atlas(b, clf));
      await cache.atlas(a, clf);
    } finally {
      await cache.dispose();
    }
  });
});

describe('workers', () => {
  it('gives the same results in two worker threads as in one thread', async () => {
    const one = await loadScenario(writeScenario(dir, 'w-colour', { name: 'colour eval', model: 'colour', inputs: colourInputs, expectations: { clean_accuracy: { min: 1 } } }));
    const fuzz = await loadScenario(writeScenario(dir, 'w-fuzz', {
      name: 'colour fuzz', model: 'colour', inputs: colourInputs, fuzz: { runs: 10, seed: 3, noise: '8/255', shift: 1 }, expectations: { property_holds: { min: 1 } },
    }));
    const scenes = await loadScenario(writeScenario(dir, 'w-scenes', {
      name: 'scenes eval', model: 'scenes', inputs: { synthetic: { count: 4, seed: 1 } }, expectations: { clean_accuracy: { min: 0 } },
    }));
    const serial = await runScenarios([one, fuzz, scenes]);
    const parallel = await runScenarios([one, fuzz, scenes], { workers: 2 });
    expect(parallel.results.options.workers).toBe(2);
    expect(parallel.results.scenarios.map((s) => s.name)).toEqual(serial.results.scenarios.map((s) => s.name));
    expect(parallel.results.scenarios.map((s) => s.error)).toEqual([undefined, undefined, undefined]);
    expect(parallel.results.scenarios.map((s) => s.metrics)).toEqual(serial.results.scenarios.map((s) => s.metrics));
    expect(parallel.artifacts[0].images.length).toBe(serial.artifacts[0].images.length);
  });

  it('runs the scenarios of one model on this thread with their images spread over worker threads, with the same results', async () => {
    const pgd = await loadScenario(writeScenario(dir, 'w-pgd', {
      name: 'colour pgd', model: 'colour', inputs: colourInputs,
      attack: { kind: 'pgd', epsilon: '8/255', steps: 4, seed: 1, target: 'green' }, expectations: { targeted_success: { min: 0 } },
    }));
    const serial = await runScenarios([pgd]);
    const parallel = await runScenarios([pgd], { workers: 2 });
    expect(parallel.results.scenarios[0].error).toBeUndefined();
    expect(parallel.results.scenarios[0].metrics).toEqual(serial.results.scenarios[0].metrics);
    const bytes = (o: typeof serial): Uint8Array[] => o.artifacts[0].images.flatMap((pics) => pics.map((p) => p.png));
    expect(bytes(serial).length).toBeGreaterThan(0);
    expect(bytes(parallel)).toEqual(bytes(serial));
  });
});
