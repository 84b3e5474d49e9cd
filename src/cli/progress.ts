import cliProgress from 'cli-progress';
import type { CliIO } from './command.js';

/** A progress reporter: drawn as a bar on a terminal, silent otherwise (or with --quiet). */
export interface Progress {
  tick(n?: number, info?: string): void;
  /** Moves the bar to `value` (in the units of `total`), for work measured in fractions of an item. */
  update(value: number, info?: string): void;
  stop(): void;
}

/**
 * The time left, once there is something to estimate it from: before the first item is done (or while the estimate
 * is not a finite number) it says so instead of printing "NaN" or "INF".
 */
export function etaText(done: number, etaSeconds: number): string {
  if (done <= 0 || !Number.isFinite(etaSeconds) || etaSeconds < 0) return 'estimating time left';
  if (etaSeconds < 60) return `${Math.round(etaSeconds)} s left`;
  const m = Math.floor(etaSeconds / 60);
  return m < 60 ? `${m} min ${String(Math.round(etaSeconds - m * 60)).padStart(2, '0')} s left` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min left`;
}

/** Starts a progress bar on stderr when it is a terminal; otherwise a no-op that prints one line at the end. */
export function startProgress(io: CliIO, label: string, total: number, quiet = false): Progress {
  if (quiet) return { tick() { /* quiet */ }, update() { /* quiet */ }, stop() { /* quiet */ } };
  if (!io.isTTY) {
    const t0 = Date.now();
    let done = 0;
    return {
      tick(n = 1) { done += n; },
      update(value) { done = value; },
      stop() { io.err(`${label}: ${Math.floor(done)}/${total} in ${((Date.now() - t0) / 1000).toFixed(1)} s`); },
    };
  }
  // The bar counts thousandths of an item, so that work done inside an item moves it and the time left is estimated
  // from work, not from whole items (a first item that takes minutes would otherwise show no estimate at all).
  const SCALE = 1000;
  const bar = new cliProgress.SingleBar({
    format: (options, params, payload: { info?: string }) => {
      const width = options.barsize ?? 40;
      const filled = Math.round(Math.max(0, Math.min(1, params.progress)) * width);
      const text = `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.floor(params.value / SCALE)}/${total} ${Math.floor(params.progress * 100)}%`;
      return `${text} | ${etaText(params.value, params.eta)} | ${payload.info ?? ''}`;
    },
    stream: process.stderr, hideCursor: true, clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(total * SCALE, 0, { info: '' });
  let value = 0;
  return {
    tick(n = 1, info = '') {
      value += n * SCALE;
      bar.update(value, { info });
    },
    update(v, info = '') { value = Math.round(v * SCALE); bar.update(value, { info }); },
    stop() { bar.stop(); },
  };
}

/** What {@link WorkMeter} needs of a progress report. */
export interface WorkReport {
  /** The item (scenario, seed, …), counting from 1. */
  index: number;
  phase: string;
  done?: number;
  of?: number;
}

/**
 * Where a run of several items stands, in items, from the work reported inside each: an item's share is split
 * evenly among its counted phases (those that report `done` of `of`, e.g. an attack and its random control), and
 * within a phase by `done / of`. Phases that do not count work (loading, a dissection) leave it where it is. Items may
 * run at the same time (reports interleave); each one's share never goes back and stays below 1 until it is done.
 */
export class WorkMeter {
  private readonly items = new Map<number, { finishedPhases: number; phase: string | undefined; share: number }>();

  /** `phases(index)`: how many counted phases item `index` (from 1) has. */
  constructor(private readonly phases: (index: number) => number) {}

  /** The position after `p`, in items (e.g. 2.5: two items done and half of another). */
  update(p: WorkReport): number {
    let item = this.items.get(p.index);
    if (!item) {
      item = { finishedPhases: 0, phase: undefined, share: 0 };
      this.items.set(p.index, item);
    }
    if (p.of !== undefined && p.of > 0 && p.done !== undefined && !p.phase.startsWith('dissection')) {
      if (item.phase !== undefined && p.phase !== item.phase) item.finishedPhases++;
      item.phase = p.phase;
      const expected = Math.max(1, this.phases(p.index), item.finishedPhases + 1);
      const within = Math.min(1, Math.max(0, p.done / p.of));
      item.share = Math.max(item.share, Math.min(0.999, (item.finishedPhases + within) / expected));
    }
    return this.position();
  }

  /** The position once item `index` is done. */
  finish(index: number): number {
    this.items.set(index, { finishedPhases: 0, phase: undefined, share: 1 });
    return this.position();
  }

  position(): number {
    let sum = 0;
    for (const v of this.items.values()) sum += v.share;
    return sum;
  }
}

/** A progress report of work in phases: `done` of `total` in the phase named `phase`. */
export interface PhaseReport {
  phase: string;
  done: number;
  total: number;
}

/**
 * One progress bar per phase of a long computation (a dissection's passes, an ablation's rankings and
 * measurement): a new bar starts when the phase changes. `label` names a phase on its bar.
 */
export function phaseProgress(io: CliIO, quiet: boolean, label: (phase: string) => string = (p) => p): { onProgress: (p: PhaseReport) => void; stop: () => void } {
  let bar: Progress | undefined;
  let phase: string | undefined;
  let last = 0;
  return {
    onProgress(p) {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = startProgress(io, label(p.phase), p.total, quiet);
        last = 0;
      }
      bar?.tick(p.done - last);
      last = p.done;
    },
    stop: () => bar?.stop(),
  };
}
