import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { stripAnsi } from '../../src/cli/format.js';
import { main } from '../../src/cli/main.js';
import type { GeneratorAblation } from '../../src/gan/ablate.js';
import type { GeneratorInsertion } from '../../src/gan/insert.js';

let dir: string;
beforeAll(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-gan-cli-')); });
afterAll(async () => { await fs.rm(dir, { recursive: true, force: true }); });

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

/** Runs a command that must fail with exit 2, naming `option`, and leave `out` unwritten. */
async function refused(args: string[], option: string, message: RegExp): Promise<void> {
  const out = path.join(dir, `bad-${Math.random().toString(36).slice(2)}`);
  const io = captureIO();
  expect(await main([...args, '--out', out, '--quiet'], io)).toBe(2);
  const text = io.stderr.join('\n');
  expect(text).toMatch(message);
  expect(text).toContain(option);
  expect(existsSync(out)).toBe(false);
}

describe('unit-attack ablate and insert on the built-in generator', () => {
  // The causal ranking (one generation per unit of layer4) is tested on the tiny generator (test/gan/ablate.test.ts).
  it('ablate: a smoke run with few samples writes the curve, the control and the pictures', async () => {
    const out = path.join(dir, 'ablate');
    const io = captureIO();
    const code = await main(['ablate', '--concept', 'tree', '--units', '0,2', '--samples', '4', '--rank-samples', '4', '--ranking', 'iou',
      '--control-draws', '2', '--control-samples', '3', '--batch-size', '4', '--examples', '2', '--out', out, '--quiet', '--json'], io);
    expect(io.stderr.filter((l) => !l.startsWith('warning')).join('\n')).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(io.stdout.join('\n')) as GeneratorAblation;
    expect(r.layer).toBe('layer4');
    expect(r.layerShape).toEqual([8, 8, 128]);
    expect(Object.keys(r.curves)).toEqual(['iou']);
    expect(r.curves.iou!.map((p) => p.n)).toEqual([0, 2]);
    expect(r.control[0].draws).toHaveLength(2);
    expect(r.controlSamples).toBe(3);
    expect(r.latents.control).toEqual([0, 2]);
    expect(r.baseline.conceptPixels).toBeGreaterThan(0);
    for (const f of ['ablation.json', 'ablation.csv', 'concepts.csv', 'ablation.png', 'examples/ablation-iou.png']) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    const csv = await fs.readFile(path.join(out, 'ablation.csv'), 'utf8');
    expect(csv.split('\n')[0]).toBe('curve,n,draw,units,removed,low,high,se,mean_before,mean_after');
    // A second run into the same folder is refused without --force.
    const again = captureIO();
    expect(await main(['ablate', '--concept', 'tree', '--units', '2', '--samples', '1', '--out', out, '--quiet'], again)).toBe(2);
    expect(again.stderr.join('\n')).toMatch(/--force/);
  });

  it('insert: a smoke run at one cell writes the groups by context and the pictures', async () => {
    const out = path.join(dir, 'insert');
    const io = captureIO();
    expect(await main(['insert', '--concept', 'tree', '--units', '3', '--at', '3,3', '--samples', '4', '--rank-samples', '8', '--out', out, '--quiet', '--json'], io)).toBe(0);
    const r = JSON.parse(io.stdout.join('\n')) as GeneratorInsertion;
    expect(r.cells).toEqual([3, 3]);
    expect(r.units).toHaveLength(3);
    expect(r.overall.count).toBe(4);
    expect(r.byContext.reduce((a, c) => a + c.count, 0)).toBe(4);
    for (const f of ['insertion.json', 'insertion.csv', 'insertion.png', 'examples/insertion.png']) expect(existsSync(path.join(out, f)), f).toBe(true);
  });

  it('bad input: exit 2, the option named, nothing written', async () => {
    await refused(['ablate', '--concept', 'tree', '--samples', '0'], '--samples', /must be an integer ≥ 1/);
    await refused(['ablate', '--concept', 'tree', '--units', '0,200', '--samples', '2'], '--units', /200 is out of range: layer4 has 128 units/);
    await refused(['ablate', '--concept', 'tree', '--units', 'five'], '--units', /comma-separated list/);
    await refused(['ablate', '--concept', 'tree', '--ranking', 'greedy', '--greedy-step', '0'], '--greedy-step', /must be an integer ≥ 1/);
    await refused(['ablate', '--concept', 'tree', '--ranking', 'ace', '--ace-epochs', '0'], '--ace-epochs', /must be an integer ≥ 1/);
    await refused(['ablate', '--concept', 'tree', '--ranking', 'ace', '--ace-rate', '0'], '--ace-rate', /must be a positive number/);
    await refused(['ablate', '--concept', 'tree', '--ranking', 'ace', '--ace-penalty', '-1'], '--ace-penalty', /must be a number ≥ 0/);
    await refused(['ablate', '--concept', 'trees', '--samples', '2'], '--concept', /does not label the concept 'trees'[\s\S]*tree/);
    await refused(['ablate', '--concept', 'tree', '--samples', '20', '--control-samples', '21'], '--control-samples', /must be at most --samples \(20\)/);
    await refused(['insert', '--concept', 'door', '--at', '8,0', '--samples', '2'], '--at', /outside the 8×8 map of layer4/);
    await refused(['insert', '--concept', 'door', '--units', '129', '--samples', '2'], '--units', /1…128/);
  });
});
