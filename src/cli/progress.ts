import cliProgress from 'cli-progress';
import type { CliIO } from './command.js';

/** A progress reporter: drawn as a bar on a terminal, silent otherwise (or with --quiet). */
export interface Progress {
  tick(n?: number, info?: string): void;
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
  if (quiet) return { tick() { /* quiet */ }, stop() { /* quiet */ } };
  if (!io.isTTY) {
    const t0 = Date.now();
    let done = 0;
    return {
      tick(n = 1) { done += n; },
      stop() { io.err(`${label}: ${done}/${total} in ${((Date.now() - t0) / 1000).toFixed(1)} s`); },
    };
  }
  const bar = new cliProgress.SingleBar({
    format: (options, params, payload: { info?: string }) => {
      const width = options.barsize ?? 40;
      const filled = Math.round(Math.max(0, Math.min(1, params.progress)) * width);
      const text = `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${params.value}/${params.total} ${Math.floor(params.progress * 100)}%`;
      return `${text} | ${etaText(params.value, params.eta)} | ${payload.info ?? ''}`;
    },
    stream: process.stderr, hideCursor: true, clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { info: '' });
  return {
    tick(n = 1, info = '') { bar.increment(n, { info }); },
    stop() { bar.stop(); },
  };
}
