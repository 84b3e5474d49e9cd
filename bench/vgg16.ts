/**
 * VGG-16 on the wasm backend: forward and input-gradient time at 224×224 (batch 1) with the fast and the shipped
 * gradient kernels, and a training step of the small built-in model shape.
 *
 *   npx tsx bench/vgg16.ts [--runs 3] [--no-shipped] [--no-train] [--no-profile]
 */
import * as tf from '../src/tf.js';
import { pathToFileURL } from 'node:url';
import { initBackend, type BackendInfo } from '../src/engine/backend.js';
import { useFastKernels, useShippedKernels } from '../src/engine/kernels/register.js';
import { buildVgg16 } from '../src/models/vgg16.js';

/** Options for {@link benchVgg16}. */
export interface BenchVgg16Options {
  /** Timed runs per case, after two warm-up runs. @defaultValue 3 */
  runs?: number;
  /** Also time the shipped kernels (the shipped input gradient takes about 20 s a run). @defaultValue true */
  shipped?: boolean;
  /** Also time a training step of the small model. @defaultValue true */
  train?: boolean;
  /** Also profile one fast input gradient by kernel (CPU time). @defaultValue true */
  profile?: boolean;
  /** Where progress lines go. @defaultValue console.log */
  log?: (line: string) => void;
}

/** CPU time spent in one kernel during a profiled run. */
export interface KernelProfileRow {
  kernel: string;
  calls: number;
  cpuMs: number;
  /** Share of the CPU time of all kernels. */
  share: number;
}

/** One measured case. */
export interface BenchRow {
  case: string;
  kernels: 'fast' | 'shipped';
  /** Median wall time of the timed runs, in milliseconds. */
  medianMs: number;
  runsMs: number[];
  /**
   * Median CPU time of this process over the same runs. The wasm backend computes on one thread, so on a busy
   * machine this is the better measure of the work; it also counts V8's helper threads (GC, compilation).
   */
  medianCpuMs: number;
}

/** Result of {@link benchVgg16}. */
export interface BenchVgg16Result {
  backend: BackendInfo;
  rows: BenchRow[];
  /** By-kernel CPU time of one fast VGG-16 input gradient (when profiled). */
  profile: KernelProfileRow[];
}

/**
 * Runs `f` with every wasm kernel wrapped to add up the process CPU time it takes (outermost calls only, so a
 * kernel that calls others is charged once). CPU time, unlike tf.profile's wall time, is not inflated when other
 * processes share the machine.
 */
export function profileKernels(f: () => void): KernelProfileRow[] {
  const configs = tf.getKernelsForBackend('wasm');
  const totals = new Map<string, { calls: number; us: number }>();
  let depth = 0;
  for (const config of configs) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        if (depth > 0) return inner(args);
        depth++;
        const start = process.cpuUsage();
        try {
          return inner(args);
        } finally {
          const d = process.cpuUsage(start);
          depth--;
          const t = totals.get(config.kernelName) ?? { calls: 0, us: 0 };
          t.calls++;
          t.us += d.user + d.system;
          totals.set(config.kernelName, t);
        }
      },
    });
  }
  try {
    f();
  } finally {
    for (const config of configs) {
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  }
  const all = [...totals.values()].reduce((a, t) => a + t.us, 0) || 1;
  return [...totals.entries()]
    .map(([kernel, t]) => ({ kernel, calls: t.calls, cpuMs: t.us / 1000, share: t.us / all }))
    .sort((a, b) => b.cpuMs - a.cpuMs);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function time(runs: number, f: () => void): { wall: number[]; cpu: number[] } {
  f();
  f();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    f();
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  return { wall, cpu };
}

/**
 * Measures VGG-16 forward and input-gradient time (224×224, batch 1) with the fast and the shipped wasm kernels,
 * and a training step of `buildVgg16({ inputSize: 96, numClasses: 12, widthMultiplier: 0.25, fcWidth: 1024 })` at
 * batch 32 with Adam. Leaves the fast kernels registered.
 */
export async function benchVgg16(opts: BenchVgg16Options = {}): Promise<BenchVgg16Result> {
  const runs = opts.runs ?? 3;
  const log = opts.log ?? ((line: string) => console.log(line));
  const backend = await initBackend({ backend: 'wasm' });
  log(`backend ${backend.name} (simd ${String(backend.simd)}, threads ${backend.threads}): ${backend.reason}`);
  const rows: BenchRow[] = [];
  const record = (name: string, kernels: 'fast' | 'shipped', t: { wall: number[]; cpu: number[] }): void => {
    const row = { case: name, kernels, medianMs: median(t.wall), runsMs: t.wall, medianCpuMs: median(t.cpu) };
    rows.push(row);
    log(`${name} [${kernels}]: median ${row.medianMs.toFixed(0)} ms wall, ${row.medianCpuMs.toFixed(0)} ms cpu `
      + `(runs ${t.wall.map((r) => r.toFixed(0)).join(', ')})`);
  };

  const model = buildVgg16({ inputSize: 224, numClasses: 1000 });
  const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 1);
  const forward = (): void => {
    tf.tidy(() => {
      (model.predict(x) as tf.Tensor).dataSync();
    });
  };
  // The gradient of one logit, as a targeted attack step takes it.
  const gradOf = tf.grad((input: tf.Tensor) => (model.apply(input) as tf.Tensor).slice([0, 0], [1, 1]).sum());
  const inputGradient = (): void => {
    tf.tidy(() => {
      gradOf(x).dataSync();
    });
  };
  const modes: ('fast' | 'shipped')[] = opts.shipped === false ? ['fast'] : ['fast', 'shipped'];
  let profile: KernelProfileRow[] = [];
  try {
    if (opts.profile !== false) {
      useFastKernels();
      // Two warm-up runs: derived filters (flipped, Winograd) are cached from a filter's second use on.
      inputGradient();
      inputGradient();
      profile = profileKernels(inputGradient);
      log('fast input gradient by kernel (CPU time): ' + profile.filter((p) => p.share >= 0.005)
        .map((p) => `${p.kernel} ${p.cpuMs.toFixed(0)} ms (${(100 * p.share).toFixed(1)}%)`).join(', '));
    }
    for (const mode of modes) {
      if (mode === 'fast') useFastKernels();
      else useShippedKernels();
      record('VGG-16 224×224 forward, batch 1', mode, time(runs, forward));
      record('VGG-16 224×224 input gradient, batch 1', mode, time(runs, inputGradient));
    }
  } finally {
    useFastKernels();
    x.dispose();
    model.dispose();
  }

  if (opts.train !== false) {
    const small = buildVgg16({ inputSize: 96, numClasses: 12, widthMultiplier: 0.25, fcWidth: 1024 });
    const xb = tf.randomUniform([32, 96, 96, 3], 0, 1, 'float32', 2);
    const yb = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 12), 'int32'), 12));
    const optimizer = tf.train.adam(5e-4);
    const step = (): void => {
      tf.tidy(() => {
        const loss = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(yb, small.apply(xb) as tf.Tensor), true);
        loss?.dataSync();
      });
    };
    try {
      record('small VGG (96², w 0.25, fc 1024) training step, batch 32', 'fast', time(runs, step));
    } finally {
      optimizer.dispose();
      xb.dispose();
      yb.dispose();
      small.dispose();
    }
  }
  return { backend, rows, profile };
}

/** The rows as a plain-text table. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['case', 'kernels', 'median ms', 'median cpu ms', 'runs ms'];
  const body = rows.map((r) => [r.case, r.kernels, r.medianMs.toFixed(0), r.medianCpuMs.toFixed(0),
    r.runsMs.map((v) => v.toFixed(0)).join(' ')]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const result = await benchVgg16({
    runs: runsAt >= 0 ? Number(args[runsAt + 1]) : 3,
    shipped: !args.includes('--no-shipped'),
    train: !args.includes('--no-train'),
    profile: !args.includes('--no-profile'),
  });
  console.log(`\n${formatTable(result.rows)}`);
}
