import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fgsm } from '../../src/attacks/fgsm.js';
import { registerAttack } from '../../src/attacks/registry.js';
import type { CustomAttackSpec } from '../../src/attacks/registry.js';
import { main } from '../../src/cli/main.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadScenario } from '../../src/scenarios/load.js';
import { runScenarios } from '../../src/scenarios/run.js';
import { ScenarioError } from '../../src/scenarios/errors.js';
import { BUILTIN_ATTACK_KINDS, scenarioJsonSchema } from '../../src/scenarios/schema.js';
import { captureIO, saveColourModel, tempDir, writeColourImages, writeScenario } from '../scenarios/helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = tempDir('ua-registered-');
const previousCache = process.env.UNIT_ATTACK_CACHE;
const calls: CustomAttackSpec[] = [];

beforeAll(async () => {
  process.env.UNIT_ATTACK_CACHE = path.join(dir, 'cache');
  await initBackend({ backend: 'cpu' });
  await saveColourModel(path.join(dir, 'colour'));
  await writeColourImages(dir);
  // An attack of the user's own: FGSM underneath, recording the spec it was given.
  registerAttack<CustomAttackSpec>('test-nudge', {
    description: 'a test attack: FGSM, recording its spec',
    run: (c, x, labels, spec) => {
      calls.push(spec);
      return fgsm(c, x, labels, { epsilon: spec.epsilon, seed: spec.seed, ...(spec.objective ? { objective: spec.objective } : {}) });
    },
  });
});

afterAll(() => {
  if (previousCache === undefined) delete process.env.UNIT_ATTACK_CACHE;
  else process.env.UNIT_ATTACK_CACHE = previousCache;
});

describe('an attack added with registerAttack', () => {
  it('is a kind a scenario can name, and gets the block\'s own keys as options', async () => {
    const file = writeScenario(dir, 'nudge', {
      name: 'nudge', model: 'colour', inputs: { folder: 'images', labels: 'labels.csv' },
      attack: { kind: 'test-nudge', epsilon: '8/255', seed: 3, strength: 2, target: 'green' },
      expectations: { clean_accuracy: { min: 0.99 }, linf: { max: '8/255' }, untargeted_success: { min: 0.01 } },
    });
    calls.length = 0;
    const out = await runScenarios([await loadScenario(file)]);
    const s = out.results.scenarios[0];
    expect(s.error).toBeUndefined();
    expect(s.status).toBe('passed');
    expect(s.metrics.linf).toBeLessThanOrEqual(8 / 255 + 1e-6);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ kind: 'test-nudge', epsilon: 8 / 255, seed: 3, strength: 2, objective: { kind: 'ce', target: 'green' } });
  });

  it('is allowed by the published JSON Schema (any kind but the built-in ones, with any options)', () => {
    const attack = (scenarioJsonSchema().properties as Record<string, { oneOf: Array<Record<string, unknown>> }>).attack;
    const last = attack.oneOf[attack.oneOf.length - 1] as { properties: { kind: { type: string; not: { enum: string[] } } }; required: string[]; additionalProperties?: unknown };
    expect(last.properties.kind).toMatchObject({ type: 'string', not: { enum: [...BUILTIN_ATTACK_KINDS] } });
    expect(last.required).toEqual(['kind']);
    expect(last.additionalProperties).not.toBe(false);
    expect(attack.oneOf).toHaveLength(BUILTIN_ATTACK_KINDS.length + 1);
  });

  it('leaves a kind nobody registered an error that names the registered ones', async () => {
    const file = writeScenario(dir, 'typo', {
      name: 'typo', model: 'colour', inputs: { folder: 'images', labels: 'labels.csv' },
      attack: { kind: 'test-nudeg', epsilon: '8/255' }, expectations: { linf: { max: '8/255' } },
    });
    const err = await loadScenario(file).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ScenarioError);
    expect((err as ScenarioError).message).toMatch(/kind must be one of .*, test-nudge, got 'test-nudeg'; did you mean 'test-nudge'\?/);
  });

  it('is a choice of --attack on the command line', async () => {
    calls.length = 0;
    const io = captureIO();
    const code = await main(['attack', '--model', path.join(dir, 'colour'), '--images', path.join(dir, 'images'), '--attack', 'test-nudge',
      '--eps', '8/255', '--seed', '4', '--out', path.join(dir, 'cli-out'), '--workers', '1', '--json', '--quiet'], io);
    expect(io.stderr.join('\n')).toBe('');
    expect(code).toBe(0);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls[0]).toMatchObject({ kind: 'test-nudge', epsilon: 8 / 255, seed: 4 });
    expect(JSON.parse(io.stdout.join('\n'))).toMatchObject({ kind: 'logit-attack', seed: 4 });
  });

  it('can come from a module named by --import', async () => {
    const module = path.join(dir, 'my-attack.mjs');
    writeFileSync(module, [
      `import { registerAttack } from ${JSON.stringify(pathToFileURL(path.join(root, 'src/attacks/registry.ts')).href)};`,
      `import { fgsm } from ${JSON.stringify(pathToFileURL(path.join(root, 'src/attacks/fgsm.ts')).href)};`,
      'globalThis.importedAttackRuns = 0;',
      "registerAttack('test-imported', { run: (c, x, labels, spec) => { globalThis.importedAttackRuns += 1; return fgsm(c, x, labels, { epsilon: spec.epsilon, seed: spec.seed }); } });",
    ].join('\n'));
    const io = captureIO();
    const code = await main(['attack', '--import', module, '--model', path.join(dir, 'colour'), '--images', path.join(dir, 'images'),
      '--attack', 'test-imported', '--eps', '8/255', '--out', path.join(dir, 'cli-imported'), '--workers', '1', '--json', '--quiet'], io);
    expect(io.stderr.join('\n')).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(io.stdout.join('\n'))).toMatchObject({ kind: 'logit-attack' });
    expect((globalThis as { importedAttackRuns?: number }).importedAttackRuns).toBeGreaterThan(0);
  });

  it('leaves an unknown --attack a usage error that lists the attacks and how to add one', async () => {
    const io = captureIO();
    expect(await main(['attack', '--images', path.join(dir, 'images'), '--attack', 'pgdd', '--out', path.join(dir, 'x')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/unknown attack 'pgdd'[\s\S]*did you mean pgd\?[\s\S]*--import a module that calls registerAttack/);
    const missing = captureIO();
    expect(await main(['attack', '--import', path.join(dir, 'nope.mjs'), '--images', path.join(dir, 'images'), '--out', path.join(dir, 'y')], missing)).toBe(2);
    expect(missing.stderr.join('\n')).toMatch(/--import '.*nope\.mjs' could not be imported/);
  });
});
