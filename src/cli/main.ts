import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import chalk from 'chalk';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { UnitAttackError, isUserError, nearestNames, usageError } from '../errors.js';
import { unfinishedJournals } from '../dissection/index.js';
import { removeProcessActivationFiles } from '../dissection/store.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import type { CliIO, CommandSpec, GlobalArgs } from './command.js';
import { COMMANDS } from './commands/index.js';
import { formatError } from './format.js';

/** Exit codes: 0 all expectations hold, 1 an expectation failed, 2 bad usage or input, 3 an internal error. */
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 3 } as const;

export const GLOBAL_OPTIONS = {
  backend: {
    type: 'string', choices: ['auto', 'tensorflow', 'wasm', 'cpu'], default: process.env.UNIT_ATTACK_BACKEND ?? 'auto',
    describe: 'TensorFlow.js backend (env UNIT_ATTACK_BACKEND); auto takes tfjs-node-gpu, tfjs-node, wasm, cpu in that order',
  },
  debug: { type: 'boolean', default: false, describe: 'show stack traces' },
  quiet: { type: 'boolean', default: false, describe: 'no progress bars' },
  color: { type: 'boolean', describe: 'colour in the terminal (--no-color, or env NO_COLOR, turns it off; env FORCE_COLOR forces it)' },
  import: {
    type: 'string', array: true,
    describe: 'modules to import before the command runs, e.g. one that adds an attack with registerAttack (a path or a package name; repeatable)',
  },
} as const;

/**
 * Imports the `--import` modules, in order. A path (relative to the working folder) or a package name; a module that
 * cannot be found or throws is a usage error that names it.
 */
export async function importModules(specs: readonly string[] | undefined): Promise<void> {
  for (const spec of specs ?? []) {
    const local = spec.startsWith('.') || path.isAbsolute(spec) || existsSync(spec);
    const url = local ? pathToFileURL(path.resolve(spec)).href : spec;
    try {
      await import(/* @vite-ignore */ url);
    } catch (err) {
      throw usageError(`--import '${spec}' could not be imported: ${err instanceof Error ? err.message : String(err)}`, {
        path: '--import', hint: 'give a path to an ES module (.js, .mjs) or the name of an installed package', cause: err,
      });
    }
  }
}

/** The package version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Sets the colour level from `--no-color` / `--color`, then `NO_COLOR` (any non-empty value turns colour off, see
 * no-color.org), then `FORCE_COLOR` (0–3; empty or `true` means 1); otherwise leaves chalk's own terminal detection.
 */
export function applyColor(args: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  if (args.includes('--no-color')) { chalk.level = 0; return; }
  if (args.includes('--color')) { chalk.level = Math.max(chalk.level, 1) as typeof chalk.level; return; }
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') { chalk.level = 0; return; }
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    const n = force === '' || force === 'true' ? 1 : force === 'false' ? 0 : Number(force);
    if (Number.isInteger(n) && n >= 0 && n <= 3) chalk.level = n as typeof chalk.level;
  }
}

function parser(args: readonly string[], commands: readonly CommandSpec[]): Argv {
  let y = yargs([...args])
    .scriptName('unit-attack')
    .usage('$0 <command> [options]\n\nFind the concept units inside a CNN, attack them, and gate a model in CI.')
    .epilogue('`unit-attack help <command>` (or `unit-attack <command> --help`) shows a command\'s options; `unit-attack --version` prints the version.')
    .options(GLOBAL_OPTIONS)
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .exitProcess(false)
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw usageError(msg ?? 'bad arguments', { hint: 'run `unit-attack --help` or `unit-attack <command> --help`' });
    });
  for (const c of commands) {
    y = y.command(c.positional ? `${c.name} ${c.positional}` : c.name, c.describe, (sub) => {
      let s = sub.options(c.options);
      for (const [name, p] of Object.entries(c.positionals ?? {})) s = s.positional(name, p);
      for (const [cmd, d] of c.examples ?? []) s = s.example(cmd, d);
      return s;
    });
  }
  return y;
}

/**
 * Parses `args` into the arguments a command sees, without running it. Throws a usage error
 * for unknown options, bad values or a failed check.
 */
export function buildArgv(args: readonly string[], commands: readonly CommandSpec[] = COMMANDS): GlobalArgs & { _: string[] } {
  const argv = parser(args, commands).parseSync() as unknown as GlobalArgs & { _: string[] };
  const spec = commands.find((c) => c.name === argv._[0]);
  if (!spec) throw usageError(`unknown command '${String(argv._[0])}'`, { hint: `commands: ${commands.map((c) => c.name).join(', ')}` });
  spec.check?.(argv);
  return argv;
}

const processIO: CliIO = {
  out: (t) => { process.stdout.write(t + '\n'); },
  err: (t) => { process.stderr.write(t + '\n'); },
  isTTY: Boolean(process.stderr.isTTY),
};

/** The help text of one command: usage, description, its options and the global ones, examples. */
export async function commandHelp(spec: CommandSpec): Promise<string> {
  let y: Argv = yargs([])
    .scriptName('unit-attack')
    .usage(`$0 ${spec.name}${spec.positional ? ` ${spec.positional}` : ''}\n\n${spec.describe}`)
    .options(spec.options)
    .group(Object.keys(spec.options), 'Options:')
    .options(GLOBAL_OPTIONS)
    .group([...Object.keys(GLOBAL_OPTIONS), 'help'], 'Global options:')
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100));
  for (const [name, p] of Object.entries(spec.positionals ?? {})) y = y.positional(name, p);
  for (const [cmd, d] of spec.examples ?? []) y = y.example(cmd, d);
  return y.getHelp();
}

function findCommand(name: string, commands: readonly CommandSpec[]): CommandSpec {
  const spec = commands.find((c) => c.name === name);
  if (!spec) {
    throw usageError(`unknown command '${name}'`, {
      hint: `did you mean ${nearestNames(name, commands.map((c) => c.name)).join(', ')}? (\`unit-attack --help\` lists them all)`,
    });
  }
  return spec;
}

/** What the file system says, in words, and what to do about it. */
const FS_ERRORS: Readonly<Record<string, { what: string; hint: string }>> = {
  ENOSPC: { what: 'no space left on the device', hint: 'free some space, or write to another disk' },
  EDQUOT: { what: 'the disk quota is used up', hint: 'free some space, or write to another disk' },
  EACCES: { what: 'permission denied', hint: 'choose a path you can write to' },
  EPERM: { what: 'operation not permitted', hint: 'choose a path you can write to' },
  EROFS: { what: 'the file system is read-only', hint: 'choose a path on a writable disk' },
  ENOTDIR: { what: 'a part of the path is a file, not a folder', hint: 'choose a path whose parents are folders' },
  EISDIR: { what: 'the path is a folder, not a file', hint: 'name a file, not a folder' },
  EEXIST: { what: 'the path exists already', hint: 'remove it or choose another path' },
  ENAMETOOLONG: { what: 'the path is too long', hint: 'choose a shorter path' },
  EMFILE: { what: 'too many open files', hint: 'raise the limit (ulimit -n) or use fewer --workers' },
};

/**
 * A file-system failure anywhere in an error's cause chain (a full disk, a read-only folder, a file where a folder
 * should be) as a user error naming the path: the environment's fault, exit code 2, not an internal error.
 */
export function fileSystemError(err: unknown): UnitAttackError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    const known = code !== undefined ? FS_ERRORS[code] : undefined;
    if (known) {
      const file = (e as NodeJS.ErrnoException).path ?? (err instanceof UnitAttackError ? err.file : undefined);
      return new UnitAttackError('UA_IO', `${file !== undefined ? `cannot use '${file}'` : 'a file operation failed'}: ${known.what} (${code})`, {
        ...(file !== undefined ? { file } : {}), hint: known.hint, cause: err,
        ...(err instanceof UnitAttackError && err.path !== undefined ? { path: err.path } : {}),
      });
    }
  }
  return undefined;
}

let cleanupInstalled = false;

/** Runs the CLI and returns the exit code. Only the caller (bin/) calls `process.exit`. */
export async function main(args: readonly string[], io: CliIO = processIO, commands: readonly CommandSpec[] = COMMANDS): Promise<number> {
  const debug = args.includes('--debug');
  if (!cleanupInstalled) {
    // Temporary files of this process, its worker threads' included, go when it exits, however it exits.
    process.once('exit', removeProcessActivationFiles);
    // A dissection stopped early keeps its finished shards; say where, and that the same command resumes.
    process.once('exit', () => { for (const line of unfinishedJournals()) process.stderr.write(`unit-attack: ${line}\n`); });
    cleanupInstalled = true;
  }
  applyColor(args);
  const first = args.find((a) => !a.startsWith('-'));
  const wantsHelp = args.length === 0 || args[0] === 'help' || args.includes('--help') || args.includes('-h');
  try {
    if (args.includes('--version') && (first === undefined || first === 'help')) {
      io.out(packageVersion());
      return EXIT.ok;
    }
    if (wantsHelp) {
      // `help [command]`, `[command] --help`, `-h`, or nothing at all.
      const named = args[0] === 'help' ? args.slice(1).find((a) => !a.startsWith('-')) : first;
      io.out(named === undefined ? await parser([], commands).getHelp() : await commandHelp(findCommand(named, commands)));
      return EXIT.ok;
    }
    const argv = buildArgv(args, commands);
    const spec = commands.find((c) => c.name === argv._[0])!;
    await importModules(argv.import as string[] | undefined);
    return await spec.run(argv, io);
  } catch (caught) {
    const err = isUserError(caught) ? caught : fileSystemError(caught) ?? caught;
    io.err(formatError(err, debug));
    if (isUserError(err)) return EXIT.usage;
    if (err instanceof UnitAttackError) return EXIT.internal;
    return EXIT.internal;
  }
}
