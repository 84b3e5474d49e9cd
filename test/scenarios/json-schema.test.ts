import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseScenario } from '../../src/scenarios/load.js';
import { scenarioJsonSchema } from '../../src/scenarios/schema.js';

const root = path.resolve(import.meta.dirname, '../..');
const file = path.join(root, 'schema/scenario.schema.json');

/** The published schema text: regenerate it with `UPDATE_SCHEMA=1 npx vitest run test/scenarios/json-schema.test.ts`. */
const generated = JSON.stringify(scenarioJsonSchema(), null, 2) + '\n';

describe('schema/scenario.schema.json', () => {
  it('is the JSON Schema the zod schema generates (not stale)', () => {
    if (process.env.UPDATE_SCHEMA === '1') writeFileSync(file, generated);
    const committed = readFileSync(file, 'utf8');
    expect(committed, 'schema/scenario.schema.json is stale: run UPDATE_SCHEMA=1 npx vitest run test/scenarios/json-schema.test.ts').toBe(generated);
  });

  it('is draft-07, closed to unknown keys, and documents the metrics', () => {
    const s = JSON.parse(generated) as { $schema: string; additionalProperties: boolean; required: string[]; properties: Record<string, { properties?: Record<string, { description?: string }> }> };
    expect(s.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(s.additionalProperties).toBe(false);
    expect(s.required).toEqual(expect.arrayContaining(['name', 'model', 'expectations']));
    expect(s.properties.expectations.properties!.targeted_success.description).toContain('target');
  });

  it('is named by the shipped scenario files for editors, which are valid scenarios', () => {
    for (const name of ['ski-resort-to-bedroom', 'robustness-gate', 'corruption-fuzz', 'unit-ablation', 'gan-remove-trees']) {
      const text = readFileSync(path.join(root, 'scenarios', `${name}.yaml`), 'utf8');
      expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/scenario.schema.json');
      expect(parse(text)).toBeTypeOf('object');
      expect(parseScenario(text, path.join(root, 'scenarios', `${name}.yaml`)).name.length).toBeGreaterThan(0);
    }
  });
});
