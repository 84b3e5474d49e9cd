import type { Options } from 'yargs';

/** Where a command writes: stdout for results, stderr for progress and warnings. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal: progress bars are drawn only then. */
  isTTY: boolean;
}

/** The `--json` option of every command that prints a result. */
export const jsonOption = { type: 'boolean', default: false, describe: 'print the result as JSON on stdout (progress and warnings stay on stderr)' } as const;

/** Parsed arguments common to every command. */
export interface GlobalArgs {
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  debug: boolean;
  quiet: boolean;
  [key: string]: unknown;
}

/**
 * A command as data: its options, a pure check of parsed arguments (throws a usage error),
 * and the action, which returns the exit code.
 */
export interface CommandSpec {
  name: string;
  /** Positional part of the usage, e.g. `[files..]`. */
  positional?: string;
  describe: string;
  options: Record<string, Options>;
  positionals?: Record<string, { describe: string; type: 'string'; array?: boolean }>;
  examples?: Array<[command: string, description: string]>;
  check?(argv: GlobalArgs): void;
  run(argv: GlobalArgs, io: CliIO): Promise<number>;
}
