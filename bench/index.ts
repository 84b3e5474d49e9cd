/**
 * The benchmark suite: one table of the figures that track the project's speed, written as JSON too.
 *
 *   npm run bench [-- --quick] [--runs 3] [--workers N] [--all-only] [--cases dissect,pgd50] [--out bench/results.json]
 *
 * Each case runs twice — with one worker (this thread) and with all workers (a pool of `--workers`, default the
 * cores; `--all-only` skips the one-worker runs, for the long cases whose targets are judged on all workers) — each
 * time in its own process (bench/case.ts), so the peak resident memory is that case's. Each figure is
 * the median of `--runs` timed runs after a warm-up run; the workers' start-up is timed apart. `--quick` runs smaller
 * cases once, as a smoke test.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';
import { CASES, type CaseName, type CaseOutput } from './case.js';

const LABELS: Record<CaseName, string> = {
  'vgg16-forward': 'VGG-16 224×224 forward, batch 1',
  'vgg16-gradient': 'VGG-16 224×224 input gradient, batch 1',
  dissect: 'built-in model dissection',
  'dissect-segmented': 'dissection through the built-in segmenter',
  segment: 'segmenting 2000 scenes at 96×96',
  pgd50: 'PGD-50 on the built-in model',
  fuzz: 'corruption fuzz on the built-in model',
  'gan-ablate': 'generator ablation curve (tree, 7 sizes, controls)',
  'gan-dissect': 'generator dissection (layer4)',
};

/** Targets on a 2-core machine (issue #7): all workers vs one. */
const TARGETS: Partial<Record<CaseName, { text: string; met: (one: CaseOutput | undefined, all: CaseOutput, rows: readonly CaseOutput[]) => boolean | undefined }>> = {
  'vgg16-gradient': { text: '≤ 1.2 s/image with all workers', met: (_one, all) => median(all.runs) <= 1.2 },
  dissect: { text: '≥ 1.7× one worker', met: (one, all) => (one ? median(all.runs) >= 1.7 * median(one.runs) : undefined) },
  'dissect-segmented': {
    text: 'time ≤ 1.5× exact-mask dissection (issue #16)',
    met: (_one, all, rows) => {
      const exact = rows.find((r) => r.case === 'dissect' && r.workers === all.workers);
      return exact ? median(all.runs) >= median(exact.runs) / 1.5 : undefined;
    },
  },
  segment: { text: '≤ 30 s with all workers (issue #16)', met: (_one, all) => median(all.runs) <= 30 },
  pgd50: { text: '≥ 1.7× one worker', met: (one, all) => (one ? median(all.runs) >= 1.7 * median(one.runs) : undefined) },
  // Judged on the full run only: --quick ablates 40 samples.
  'gan-ablate': { text: '≤ 600 s over 2000 samples with all workers (issue #17)', met: (_one, all) => (all.work.includes(': 2000 samples') ? median(all.runs) <= 600 : undefined) },
  // Judged on the full run only: --quick dissects 200 samples.
  'gan-dissect': { text: '≤ 600 s over 10,000 samples (issue #17)', met: (_one, all) => (all.work.includes(' on 10000 samples') ? median(all.runs) <= 600 : undefined) },
};

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Runs one case in a child process with this process's loader flags (tsx) and returns what it printed. */
function runChild(name: CaseName, workers: number, runs: number, quick: boolean): Promise<CaseOutput> {
  const script = fileURLToPath(new URL('./case.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, name, String(workers), String(runs), ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = ''; let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH '));
      if (code !== 0 || !line) {
        reject(new Error(`case ${name} with ${workers} worker(s) failed (exit code ${String(code)}):\n${err.split('\n').filter((l) => !/tfjs-node|====|Hi, looks like/.test(l)).slice(-15).join('\n')}`));
      } else {
        resolve(JSON.parse(line.slice('BENCH '.length)) as CaseOutput);
      }
    });
  });
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '–';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The results as one plain-text table. */
export function formatTable(rows: readonly CaseOutput[]): string {
  const header = ['case', 'workers', 'median', 'unit', 'vs 1 worker', 'runs', 'worker start s', 'peak RSS MB', 'target'];
  const one = new Map(rows.filter((r) => r.workers === 1).map((r) => [r.case, r]));
  const body = rows.map((r) => {
    const base = one.get(r.case);
    const m = median(r.runs);
    const ratio = base && r.workers > 1 ? (r.higherIsBetter ? m / median(base.runs) : median(base.runs) / m) : Number.NaN;
    const t = TARGETS[r.case];
    const judged = r.workers > 1;
    const met = t && judged ? t.met(base, r, rows) : undefined;
    const target = t && judged ? `${t.text}: ${met === undefined ? 'not measured' : met ? 'met' : 'missed'}` : '';
    return [LABELS[r.case], String(r.workers), fmt(m), r.unit, Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '', r.runs.map(fmt).join(' '),
      r.workers > 1 ? r.startupSeconds.toFixed(1) : '', r.peakRssMb.toFixed(0), target];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const right = new Set([1, 2, 4, 6, 7]);
  const line = (cells: string[]): string => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const runs = Number(arg(args, '--runs') ?? (quick ? 1 : 3));
  const all = Number(arg(args, '--workers') ?? os.availableParallelism());
  const cases = (arg(args, '--cases')?.split(',') ?? [...CASES]) as CaseName[];
  const out = arg(args, '--out') ?? fileURLToPath(new URL('./results.json', import.meta.url));
  for (const c of cases) if (!CASES.includes(c)) throw new Error(`--cases: unknown case '${c}' (cases: ${CASES.join(', ')})`);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs must be a positive integer, got ${String(arg(args, '--runs'))}`);
  if (!(Number.isInteger(all) && all >= 2)) throw new Error(`--workers must be an integer ≥ 2 (the "all workers" rows), got ${String(arg(args, '--workers'))}`);
  const rows: CaseOutput[] = [];
  const started = new Date();
  for (const c of cases) {
    for (const w of args.includes('--all-only') ? [all] : [1, all]) {
      process.stderr.write(`bench: ${LABELS[c]}, ${w} worker${w > 1 ? 's' : ''}…\n`);
      rows.push(await runChild(c, w, runs, quick));
    }
  }
  const table = formatTable(rows);
  console.log(table);
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const json = {
    started: started.toISOString(), seconds: (Date.now() - started.getTime()) / 1000, quick, runsPerFigure: runs,
    machine: { cpu, cores: os.availableParallelism(), memoryGb: Math.round(os.totalmem() / 2 ** 30), platform: `${process.platform} ${process.arch}`, node: process.version },
    tfjs: tf.version_core,
    rows: rows.map((r) => ({ ...r, label: LABELS[r.case], median: median(r.runs) })),
    table,
  };
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), out) || out}`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
