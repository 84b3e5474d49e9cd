import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/command.js';
import { buildArgv, main } from '../../src/cli/main.js';
import { stripAnsi } from '../../src/cli/format.js';
import { UnitAttackError } from '../../src/errors.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/unit-attack.js');

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []; const stderr: string[] = [];
  return { stdout, stderr, out: (t) => { stdout.push(stripAnsi(t)); }, err: (t) => { stderr.push(stripAnsi(t)); }, isTTY: false };
}

describe('buildArgv', () => {
  it('parses predict options with their defaults', () => {
    const argv = buildArgv(['predict', '--image', 'a.png', 'b.png', '--top-n', '3']);
    expect(argv._[0]).toBe('predict');
    expect(argv.image).toEqual(['a.png', 'b.png']);
    expect(argv['top-n']).toBe(3);
    expect(buildArgv(['predict', '--image', 'a.png'])['top-n']).toBe(5);
    expect(argv.model).toBe('builtin:scenes-vgg16');
    expect(argv.backend).toBe(process.env.UNIT_ATTACK_BACKEND ?? 'auto');
  });

  it('rejects an unknown option, a bad choice and a failed check as usage errors', () => {
    expect(() => buildArgv(['predict', '--image', 'a.png', '--tpo', '3'])).toThrowError(UnitAttackError);
    expect(() => buildArgv(['info', '--backend', 'gpu'])).toThrowError(/backend/);
    expect(() => buildArgv(['predict', '--image', 'a.png', '--top-n', '0'])).toThrowError(/--top-n must be a positive integer/);
    expect(() => buildArgv(['predict', '--image', 'a.png', '--top', '0'])).toThrowError(/--top must be a positive integer/);
  });
});

describe('main (in process)', () => {
  it('prints the backend chosen and why', async () => {
    const io = captureIO();
    expect(await main(['info', '--backend', 'cpu', '--json'], io)).toBe(0);
    const info = JSON.parse(io.stdout.join('\n')) as { name: string; reason: string; tfjsVersion: string };
    expect(info.name).toBe('cpu');
    expect(info.reason.length).toBeGreaterThan(0);
    expect(info.tfjsVersion).toMatch(/^\d+\.\d+/);
  });

  it('exits 2 with the formats accepted when the model path is unknown', async () => {
    const io = captureIO();
    const code = await main(['predict', '--backend', 'cpu', '--model', '/no/such/model', '--image', 'x.png'], io);
    expect(code).toBe(2);
    const text = io.stderr.join('\n');
    expect(text).toContain('/no/such/model');
    expect(text).toContain('model.json');
    expect(text).not.toMatch(/\bat .*\.js:\d+/); // no stack trace without --debug
  });
});

describe('synth', () => {
  it('writes a Broden-layout folder with progress, and leaves nothing behind on a bad class', async () => {
    const { mkdtempSync, existsSync, readFileSync } = await import('node:fs');
    const os = await import('node:os');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-synth-'));
    const io = captureIO();
    expect(await main(['synth', '--out', path.join(dir, 'probe'), '--count', '5', '--class', 'ski_resort', 'bedroom'], io)).toBe(0);
    const scenes = readFileSync(path.join(dir, 'probe', 'scene.csv'), 'utf8').trim().split('\n');
    expect(scenes).toHaveLength(6); // header + 5
    expect(existsSync(path.join(dir, 'probe', 'index.csv'))).toBe(true);
    // Off a terminal the progress bar is one closing line with the count.
    expect(io.stderr.join('\n')).toMatch(/scenes: 5\/5 in \d+\.\d s/);
    const bad = captureIO();
    expect(await main(['synth', '--out', path.join(dir, 'bad'), '--class', 'skii_resort'], bad)).toBe(2);
    expect(bad.stderr.join('\n')).toContain('ski_resort');
    expect(existsSync(path.join(dir, 'bad'))).toBe(false);
  });

  it('train rejects --block-widths that are not five positive integers, naming the option, before writing anything', async () => {
    const { existsSync, mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ua-train-cli-'));
    for (const bad of ['8,16,32', '8,16,32,96,0', '8,16,x,96,96']) {
      const io = captureIO();
      expect(await main(['train', '--out', path.join(dir, 'm'), '--block-widths', bad, '--workers', '1'], io)).toBe(2);
      expect(io.stderr.join('\n')).toContain('--block-widths takes five positive integers');
      expect(existsSync(path.join(dir, 'm'))).toBe(false);
    }
  });
});

describe('bin/unit-attack.js (spawned)', () => {
  it('prints help listing the commands', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help']);
    expect(stdout).toContain('info');
    expect(stdout).toContain('predict');
  });

  it('exits 2 on a usage error, with the message and no stack trace', async () => {
    const err = await run(process.execPath, [bin, 'predict', '--backend', 'cpu', '--image', 'x.png', '--bogus']).catch((e: unknown) => e) as { code: number; stderr: string };
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/bogus/);
    expect(err.stderr).not.toMatch(/node:internal|\.js:\d+:\d+/);
  });
});

describe('CLI conventions', () => {
  it('shows help for -h, --help, help and help COMMAND, on the bare binary and on every command, exiting 0', async () => {
    const { COMMANDS } = await import('../../src/cli/commands/index.js');
    for (const args of [[], ['-h'], ['--help'], ['help']]) {
      const io = captureIO();
      expect(await main(args, io)).toBe(0);
      const text = io.stdout.join('\n');
      expect(text).toMatch(/unit-attack <command> \[options\]/);
      for (const c of COMMANDS) expect(text).toContain(c.name);
    }
    for (const c of COMMANDS) {
      for (const args of [[c.name, '-h'], [c.name, '--help'], ['help', c.name]]) {
        const io = captureIO();
        expect(await main(args, io)).toBe(0);
        const text = io.stdout.join('\n');
        expect(text).toContain(`unit-attack ${c.name}`);
        expect(text).toContain(c.describe.slice(0, 30));
        for (const option of Object.keys(c.options)) expect(text).toContain(`--${option}`);
      }
    }
  });

  it('says which commands are near an unknown one in help', async () => {
    const io = captureIO();
    expect(await main(['help', 'atack'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/unknown command 'atack'[\s\S]*attack/);
  });

  it('prints the package version', async () => {
    const io = captureIO();
    expect(await main(['--version'], io)).toBe(0);
    const { version } = JSON.parse(await (await import('node:fs')).promises.readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
    expect(io.stdout.join('\n').trim()).toBe(version);
  });

  it('follows --no-color, NO_COLOR and FORCE_COLOR, in that order', async () => {
    const { applyColor } = await import('../../src/cli/main.js');
    const chalk = (await import('chalk')).default;
    const saved = chalk.level;
    try {
      applyColor([], { FORCE_COLOR: '2' }); expect(chalk.level).toBe(2);
      applyColor([], { NO_COLOR: '1', FORCE_COLOR: '2' }); expect(chalk.level).toBe(0);
      chalk.level = 3; applyColor(['--no-color'], { FORCE_COLOR: '3' }); expect(chalk.level).toBe(0);
      applyColor([], { FORCE_COLOR: '' }); expect(chalk.level).toBe(1);
      chalk.level = 2; applyColor([], { NO_COLOR: '' }); expect(chalk.level).toBe(2); // empty NO_COLOR is unset
      // In a real process: an error on a forced-colour terminal has colour codes, and NO_COLOR removes them.
      const env = { ...process.env, FORCE_COLOR: '1' };
      const coloured = await run(process.execPath, [bin, 'predict', '--image', 'nope.png'], { env }).catch((e: { stderr: string; code: number }) => e);
      expect((coloured as { code: number }).code).toBe(2);
      expect((coloured as { stderr: string }).stderr).toMatch(/\u001b\[/);
      const plain = await run(process.execPath, [bin, 'predict', '--image', 'nope.png'], { env: { ...env, NO_COLOR: '1' } }).catch((e: { stderr: string }) => e);
      expect((plain).stderr).toContain('nope.png');
      expect((plain).stderr).not.toMatch(/\u001b\[/);
      const flag = await run(process.execPath, [bin, 'predict', '--no-color', '--image', 'nope.png'], { env }).catch((e: { stderr: string }) => e);
      expect((flag).stderr).not.toMatch(/\u001b\[/);
    } finally {
      chalk.level = saved;
    }
  });
});

describe('every command', () => {
  it('describes every option, and takes --json', async () => {
    const { COMMANDS } = await import('../../src/cli/commands/index.js');
    for (const c of COMMANDS) {
      for (const [name, o] of Object.entries(c.options)) expect(`${c.name} --${name}: ${String(o.describe ?? '')}`).toMatch(/: \S/);
      expect(Object.keys(c.options), c.name).toContain('json');
    }
  });

  it('synth --json prints what it wrote as JSON', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ua-synth-json-'));
    try {
      const io = captureIO();
      expect(await main(['synth', '--out', path.join(dir, 'p'), '--count', '3', '--size', '16', '--quiet', '--json'], io)).toBe(0);
      const r = JSON.parse(io.stdout.join('\n')) as { dir: string; count: number; classes: string[] };
      expect(r.count).toBe(3);
      expect(r.dir).toBe(path.join(dir, 'p'));
      expect(r.classes.length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('progress', () => {
  it('estimates the time left only once there is something to estimate from', async () => {
    const { etaText } = await import('../../src/cli/progress.js');
    expect(etaText(0, Number.POSITIVE_INFINITY)).toBe('estimating time left');
    expect(etaText(0, 12)).toBe('estimating time left');
    expect(etaText(3, Number.NaN)).toBe('estimating time left');
    expect(etaText(3, 42.4)).toBe('42 s left');
    expect(etaText(3, 125)).toBe('2 min 05 s left');
    expect(etaText(3, 7380)).toBe('2 h 03 min left');
  });
});
