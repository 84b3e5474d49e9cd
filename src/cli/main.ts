import yargs from 'yargs';
import type { Argv } from 'yargs';
import { UnitAttackError, isUserError, usageError } from '../errors.js';
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
} as const;

function parser(args: readonly string[], commands: readonly CommandSpec[]): Argv {
  let y = yargs([...args])
    .scriptName('unit-attack')
    .usage('$0 <command> [options]\n\nFind the concept units inside a CNN, attack them, and gate a model in CI.')
    .options(GLOBAL_OPTIONS)
    .strict()
    .demandCommand(1, 'name a command')
    .recommendCommands()
    .exitProcess(false)
    .help()
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

/** Runs the CLI and returns the exit code. Only the caller (bin/) calls `process.exit`. */
export async function main(args: readonly string[], io: CliIO = processIO, commands: readonly CommandSpec[] = COMMANDS): Promise<number> {
  const debug = args.includes('--debug');
  const wantsHelp = args.length === 0 || args.includes('--help') || args.includes('-h');
  try {
    if (wantsHelp) {
      // yargs prints a command's help itself while parsing; only the bare call needs it fetched.
      if (args.length === 0) io.out(await parser(['--help'], commands).getHelp());
      else await parser(args, commands).parseAsync();
      return EXIT.ok;
    }
    const argv = buildArgv(args, commands);
    const spec = commands.find((c) => c.name === argv._[0])!;
    return await spec.run(argv, io);
  } catch (err) {
    io.err(formatError(err, debug));
    if (isUserError(err)) return EXIT.usage;
    if (err instanceof UnitAttackError) return EXIT.internal;
    return EXIT.internal;
  }
}
