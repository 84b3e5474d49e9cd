import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatEpsilon, parseEpsilon, parseEpsilonList } from '../../src/attacks/epsilon.js';
import { UnitAttackError } from '../../src/errors.js';

function usage(fn: () => unknown, path: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
    expect((err as UnitAttackError).path).toBe(path);
    return;
  }
  throw new Error('expected a usage error');
}

describe('parseEpsilon', () => {
  it('reads fractions, decimals and numbers in pixel units', () => {
    expect(parseEpsilon('4/255')).toBeCloseTo(4 / 255, 12);
    expect(parseEpsilon(' 8 / 255 ')).toBeCloseTo(8 / 255, 12);
    expect(parseEpsilon('0.03')).toBe(0.03);
    expect(parseEpsilon('.5')).toBe(0.5);
    expect(parseEpsilon('1e-2')).toBe(0.01);
    expect(parseEpsilon(1)).toBe(1);
  });

  it('round-trips every whole number of 8-bit steps through formatEpsilon', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 255 }), (k) => {
      expect(formatEpsilon(parseEpsilon(`${k}/255`))).toBe(`${k}/255`);
    }), { numRuns: 50 });
  });

  it('should throw a usage error naming the option for bad strings and values outside (0, 1]', () => {
    for (const bad of ['abc', '4/0', '', '4//255', '-1/255', '0', 0, 2, '256/255', Number.NaN]) usage(() => parseEpsilon(bad), 'epsilon');
    usage(() => parseEpsilon('2', { path: 'attack.epsilon' }), 'attack.epsilon');
  });

  it('allows L2 budgets above 1', () => {
    expect(parseEpsilon('3', { norm: 'l2' })).toBe(3);
  });
});

describe('parseEpsilonList', () => {
  it('reads a comma-separated list where 0 means no attack', () => {
    const l = parseEpsilonList('0,1/255, 2/255');
    expect(l[0]).toBe(0);
    expect(l[1]).toBeCloseTo(1 / 255, 12);
    expect(l[2]).toBeCloseTo(2 / 255, 12);
    expect(parseEpsilonList([0, '4/255'])).toEqual([0, 4 / 255]);
  });

  it('names the bad entry', () => {
    usage(() => parseEpsilonList('0,x'), 'epsilons[1]');
    usage(() => parseEpsilonList(''), 'epsilons');
  });
});
