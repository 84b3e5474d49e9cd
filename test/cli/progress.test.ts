import { describe, expect, it } from 'vitest';
import { WorkMeter, startProgress } from '../../src/cli/progress.js';
import { captureIO } from '../scenarios/helpers.js';

describe('WorkMeter', () => {
  it('should move by the work inside a scenario, split among its counted phases', () => {
    // Scenario 1: a unit attack and its random control (2 phases); scenario 2: one attack.
    const m = new WorkMeter((i) => (i === 1 ? 2 : 1));
    expect(m.update({ index: 1, phase: 'model' })).toBe(0);
    expect(m.update({ index: 1, phase: 'dissection: pass 1', done: 5, of: 10 })).toBe(0);
    expect(m.update({ index: 1, phase: 'unit attack', done: 10, of: 40 })).toBeCloseTo(0.125, 12);
    expect(m.update({ index: 1, phase: 'unit attack', done: 40, of: 40 })).toBeCloseTo(0.5, 12);
    expect(m.update({ index: 1, phase: 'random control', done: 20, of: 40 })).toBeCloseTo(0.75, 12);
    // Never the whole item before it is done.
    expect(m.update({ index: 1, phase: 'random control', done: 40, of: 40 })).toBeCloseTo(0.999, 12);
    expect(m.finish(1)).toBe(1);
    expect(m.update({ index: 2, phase: 'pgd', done: 5, of: 20 })).toBeCloseTo(1.25, 12);
    expect(m.finish(2)).toBe(2);
  });

  it('should never go back, take more phases than expected, and add up interleaved items', () => {
    const m = new WorkMeter(() => 1);
    m.update({ index: 1, phase: 'attack', done: 30, of: 40 });
    // A restart reports fewer steps done: the position holds.
    expect(m.update({ index: 1, phase: 'attack', done: 10, of: 40 })).toBeCloseTo(0.75, 12);
    // A second phase the estimate did not know of: the share grows from where it was, below 1.
    expect(m.update({ index: 1, phase: 'extra', done: 1, of: 2 })).toBeCloseTo(0.75, 12);
    expect(m.update({ index: 1, phase: 'extra', done: 2, of: 2 })).toBeCloseTo(0.999, 12);
    // Items of two workers at once.
    expect(m.update({ index: 3, phase: 'attack', done: 1, of: 4 })).toBeCloseTo(0.999 + 0.25, 12);
    expect(m.update({ index: 2, phase: 'attack', done: 2, of: 4 })).toBeCloseTo(0.999 + 0.25 + 0.5, 12);
  });
});

describe('startProgress without a terminal', () => {
  it('should report the items done at the end, whole', () => {
    const io = captureIO();
    const bar = startProgress(io, 'scenarios', 3);
    bar.update(1.5);
    bar.update(2);
    bar.stop();
    expect(io.stderr[0]).toMatch(/^scenarios: 2\/3 in \d+\.\d s$/);
  });
});
