import cliProgress from 'cli-progress';
import type { CliIO } from './command.js';

/** A progress reporter: drawn as a bar on a terminal, silent otherwise (or with --quiet). */
export interface Progress {
  tick(n?: number, info?: string): void;
  stop(): void;
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
    format: `${label} [{bar}] {value}/{total} {percentage}% | {eta_formatted} left | {info}`,
    stream: process.stderr, hideCursor: true, clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { info: '' });
  return {
    tick(n = 1, info = '') { bar.increment(n, { info }); },
    stop() { bar.stop(); },
  };
}
