import { describe, expect, it } from 'vitest';
import { flagOf } from '../../src/cli/flags.js';
import { ablateCommand } from '../../src/cli/commands/ablate.js';
import { ganQualityCommand } from '../../src/cli/commands/gan-quality.js';
import { insertCommand } from '../../src/cli/commands/insert.js';
import { trainGanCommand } from '../../src/cli/commands/train-gan.js';
import type { CommandSpec } from '../../src/cli/command.js';

// The generator experiments and train-gan name their option fields in errors; the command line shows the flags.

/** The option fields each command's library function names in its errors, besides those that are flags already. */
const FIELDS: Array<[CommandSpec, string[]]> = [
  [ablateCommand, ['seed', 'layer', 'quantile', 'rankSamples', 'causalSamples', 'greedyCandidates', 'greedyStep', 'controlDraws', 'batchSize', 'workers']],
  [insertCommand, ['seed', 'layer', 'quantile', 'rankSamples', 'batchSize']],
  [ganQualityCommand, ['seed', 'realSeed', 'tolerance', 'classes', 'batchSize']],
  [trainGanCommand, ['out', 'seed', 'steps', 'checkpointEvery', 'workers', 'latentSize', 'maxSteps', 'maxMinutes', 'learningRate',
    'discriminatorLearningRate', 'instanceNoise', 'instanceNoiseSteps', 'emaDecay', 'discriminatorWidths', 'batchSize']],
];

describe('flagOf', () => {
  it.each(FIELDS.map(([c, fields]) => [c.name, c, fields] as const))('maps the fields of %s to its flags', (_name, command, fields) => {
    const aliases = (o: unknown): string[] => { const a = (o as { alias?: string | string[] }).alias; return a === undefined ? [] : [a].flat(); };
    const flags = Object.entries(command.options ?? {}).flatMap(([o, spec]) => [o, ...aliases(spec)]).map((o) => `--${o}`);
    for (const f of fields) expect(flags, f).toContain(flagOf(f));
  });

  it('passes a flag through and leaves a field without a flag alone', () => {
    expect(flagOf('--units')).toBe('--units');
    expect(flagOf('rankSamples')).toBe('--rank-samples');
    expect(flagOf('labels[3]')).toBeUndefined();
  });
});
