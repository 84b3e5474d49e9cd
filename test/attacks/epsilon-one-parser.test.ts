import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as EpsilonModule from '../../src/attacks/epsilon.js';

// Every consumer of the ε module sees these spies, so a call through the one parser is counted.
vi.mock('../../src/attacks/epsilon.js', async (importOriginal) => {
  const m = await importOriginal<typeof EpsilonModule>();
  return { ...m, readEpsilon: vi.fn(m.readEpsilon), parseEpsilon: vi.fn(m.parseEpsilon), parseEpsilonList: vi.fn(m.parseEpsilonList) };
});

const eps = await import('../../src/attacks/epsilon.js');
const { parseScenario } = await import('../../src/scenarios/load.js');
const { attackCommand } = await import('../../src/cli/commands/attack.js');
const { validPgdScenario } = await import('../scenarios/fixtures.js');

describe('the ε parser is the only one', () => {
  afterEach(() => { vi.mocked(eps.readEpsilon).mockClear(); vi.mocked(eps.parseEpsilon).mockClear(); });

  it('reads the epsilon of a scenario file (schema and checks)', () => {
    const s = validPgdScenario() as { attack: Record<string, unknown> };
    s.attack.epsilon = '3/255';
    const scenario = parseScenario(stringify(s), '/tmp/eps/pgd.yaml');
    expect(scenario.task.kind === 'attack' && scenario.task.attack.epsilon).toBeCloseTo(3 / 255, 12);
    expect(vi.mocked(eps.readEpsilon).mock.calls.map((c) => c[0])).toContain('3/255');
  });

  it('reads the --eps of the attack command', () => {
    const argv = {
      image: ['x.png'], count: 16, restarts: 1, seed: 1, heatmaps: 16, 'class-weight': 0, eps: '5/255', attack: 'pgd',
    } as unknown as Parameters<NonNullable<typeof attackCommand.check>>[0];
    attackCommand.check!(argv);
    expect(vi.mocked(eps.parseEpsilon).mock.calls.map((c) => c[0])).toContain('5/255');
  });

  it('has no second ε reader in src/: no other pattern of a fraction', async () => {
    const root = path.resolve(import.meta.dirname, '../../src');
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fs.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (p.endsWith('.ts') && p !== path.join(root, 'attacks', 'epsilon.ts')) {
          const text = await fs.readFile(p, 'utf8');
          // A pattern of a fraction: a slash followed by a number, as in /…\/\s*[0-9]…/ (or a FRACTION constant).
          if (text.includes('\\/\\s*[0-9]') || text.includes('\\/\\s*(?:[0-9]') || /FRACTION/.test(text)) offenders.push(path.relative(root, p));
        }
      }
    };
    await walk(root);
    expect(offenders).toEqual([]);
  });
});
