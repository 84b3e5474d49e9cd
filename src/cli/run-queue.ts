/**
 * `run --queue redis://…`: the scenario list cut into parts (as `run --shard i/N` cuts it), each part run by a queue
 * worker exactly as `run … --shard i/N --out DIR` runs it, its report folder stored as one archive; the coordinator
 * reads the parts back and merges them as `unit-attack merge` does: one results.json, junit.xml and report, and the
 * whole run's exit code.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import chalk from 'chalk';
import { parseTolerances } from '../report/baseline.js';
import { readResults } from '../report/json.js';
import { terminalReport } from '../report/terminal.js';
import { writeReports } from '../report/write.js';
import { displayPath } from '../scenarios/errors.js';
import { mergeRunParts } from '../scenarios/parts.js';
import type { Scenario } from '../scenarios/types.js';
import type { CliIO, GlobalArgs } from './command.js';
import { mergeQueuedParts } from './queue.js';

/** Runs the scenarios in parts on the queue's workers and merges them here; returns the whole run's exit code. */
export async function runScenariosOnQueue(argv: GlobalArgs, io: CliIO, scenarios: readonly Scenario[], files: readonly string[]): Promise<number> {
  const of = (argv.parts as number | undefined) ?? Math.max(1, scenarios.length);
  const args: Record<string, unknown> = {
    files: files.map((f) => path.resolve(f)), backend: argv.backend,
    ...(argv.seed !== undefined ? { seed: argv.seed } : {}), ...(argv.path !== undefined ? { path: argv.path } : {}),
  };
  // The run's key: the scenario files' contents, the options that change results, the number of parts, the version.
  const h = createHash('sha256');
  const { packageVersion } = await import('./main.js');
  h.update(JSON.stringify({ version: packageVersion(), of, args }));
  for (const file of [...new Set(scenarios.map((s) => s.file))]) h.update(await fs.readFile(file));
  const run = `run-${h.digest('hex').slice(0, 24)}-${of}`;
  const baselineFile = argv.baseline as string | undefined;
  const baseline = baselineFile !== undefined
    ? { file: baselineFile, results: await readResults(baselineFile), tolerances: parseTolerances(argv.tolerance as string[] | undefined) }
    : undefined;
  const out = argv.out as string | undefined;
  const { output, written } = await mergeQueuedParts(argv, io, { kind: 'run', run, of, args }, async (dirs) => {
    const merged = await mergeRunParts(dirs, baseline ? { baseline } : {});
    return { output: merged, written: out !== undefined ? await writeReports(merged, out) : undefined };
  });
  if (argv.json) {
    io.out(JSON.stringify(output.results, null, 2));
  } else {
    io.out(terminalReport(output.results, { color: chalk.level, allMetrics: argv['all-metrics'] as boolean }));
    if (written) {
      io.out('');
      io.out(`report:  ${displayPath(written.html)}`);
      io.out(`results: ${displayPath(written.results)}`);
      io.out(`junit:   ${displayPath(written.junit)}`);
    }
  }
  return output.results.exitCode;
}
