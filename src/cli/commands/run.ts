import { promises as fs } from 'node:fs';
import chalk from 'chalk';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { parseTolerances } from '../../report/baseline.js';
import { readResults } from '../../report/json.js';
import { terminalReport } from '../../report/terminal.js';
import { writeReports } from '../../report/write.js';
import { partRange, runPartOf, writeRunPart } from '../../scenarios/parts.js';
import { parsePart } from '../part.js';
import { ScenarioError, displayPath, issueLocation } from '../../scenarios/errors.js';
import { lineOf, loadScenarios } from '../../scenarios/load.js';
import { githubAnnotations, githubSummary, type LineOf } from '../../report/github.js';
import type { RunResults } from '../../report/types.js';
import { assembleResults, invalidFileResults, runScenarios, type RunScenariosOptions } from '../../scenarios/run.js';
import type { Scenario } from '../../scenarios/types.js';
import { jsonOption, type CliIO, type CommandSpec, type GlobalArgs } from '../command.js';
import { startProgress, WorkMeter, type Progress } from '../progress.js';
import { checkWorkersArg, workersOf } from '../workers.js';
import { hasWorkerScript } from '../../scenarios/workers.js';
import { checkQueueArgs, queueOption, storeOption } from '../queue.js';
import { runScenariosOnQueue } from '../run-queue.js';

/** Prints every issue of a scenario error as `✖ message → at path (file:line)` with its hint. */
export function printScenarioError(err: ScenarioError, io: CliIO): void {
  for (const i of err.issues) {
    io.err(chalk.red('✖ ') + i.message + chalk.dim(` → at ${i.path} (${issueLocation(i)})`));
    if (i.hint) io.err(chalk.yellow('  hint: ') + i.hint.replace(/\n/g, '\n  '));
  }
  const files = new Set(err.issues.map((i) => i.file)).size;
  io.err(chalk.dim(`${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}; nothing was run`));
}

/**
 * On GitHub Actions (`GITHUB_ACTIONS=true`): annotations at the scenario lines of failing expectations and invalid
 * fields, and the results table with every issue in the job summary (`GITHUB_STEP_SUMMARY`).
 */
async function reportToGitHub(results: RunResults, io: CliIO, json: boolean, lineOfExpectation?: LineOf): Promise<void> {
  if (process.env.GITHUB_ACTIONS !== 'true') return;
  // With --json, stdout holds the JSON document only; the runner reads workflow commands on stderr too.
  for (const a of githubAnnotations(results, lineOfExpectation)) {
    if (json) io.err(a); else io.out(a);
  }
  const summary = process.env.GITHUB_STEP_SUMMARY;
  if (summary) {
    try {
      await fs.appendFile(summary, githubSummary(results));
    } catch (err) {
      io.err(`warning: cannot write the job summary '${summary}': ${(err as Error).message}`);
    }
  }
}

/** The phases of a scenario that report their work (`done` of `of`): a unit attack and its random control, else one. */
export function countedPhases(s: Scenario): number {
  return s.task.kind === 'attack' && s.task.attack.kind === 'unit' && s.task.attack.randomControl !== false ? 2 : 1;
}

/**
 * Progress callbacks for `runScenarios` that move `bar` by the work done inside each scenario (see {@link WorkMeter}),
 * so the time left is estimated from work from the first scenario on.
 */
export function scenarioProgress(bar: Progress, scenarios: readonly Scenario[]): Pick<RunScenariosOptions, 'onProgress' | 'onScenario'> {
  const meter = new WorkMeter((i) => countedPhases(scenarios[i - 1]));
  const indexOf = new Map<string, number>();
  return {
    onProgress: (p) => {
      indexOf.set(p.scenario, p.index);
      bar.update(meter.update(p), `${p.scenario}: ${p.phase}${p.of ? ` ${p.done ?? 0}/${p.of}` : ''}`);
    },
    onScenario: (r) => {
      const i = indexOf.get(r.name) ?? scenarios.findIndex((s) => s.name === r.name) + 1;
      bar.update(meter.finish(i), `${r.name}: ${r.status}`);
    },
  };
}

function files(argv: GlobalArgs): string[] {
  return ((argv.files as string[] | undefined) ?? []).map(String);
}

export const runCommand: CommandSpec = {
  name: 'run',
  positional: '<files..>',
  describe: 'Run scenario files (or folders of them), check their expectations and write JSON, JUnit and HTML reports',
  positionals: { files: { describe: 'scenario files (.yaml, .yml, .json) or folders of them', type: 'string', array: true } },
  options: {
    out: { type: 'string', describe: 'folder for results.json, junit.xml, report.html and images' },
    baseline: { type: 'string', describe: 'an earlier results.json: fail (exit 1) when a figure regresses beyond the tolerance' },
    tolerance: { type: 'string', array: true, describe: 'regression tolerance: a number for every metric and/or metric=number (default 0.02)' },
    seed: { type: 'number', describe: 'seed of the fuzz scenarios; with --path, replays a counterexample' },
    path: { type: 'string', describe: 'a fast-check counterexample path to replay (with the --seed it was found with)' },
    workers: { type: 'number', describe: 'worker threads to run scenarios in parallel (scenarios of one model share one; a single model\'s attacks, dissections and generator ablations spread their work over them; default: the cores, or $UNIT_ATTACK_WORKERS)' },
    'all-metrics': { type: 'boolean', default: false, describe: 'also list the metrics no expectation names' },
    shard: { type: 'string', describe: 'run part i of N of the scenarios (e.g. 0/4, or $JOB_COMPLETION_INDEX/4; needs --out); then `unit-attack merge` the parts\' folders into one report and exit code' },
    json: { ...jsonOption, describe: 'print results.json on stdout instead of the table (the exit code is the same)' },
    queue: { ...queueOption, describe: 'redis://HOST:PORT[/DB]: run the scenarios in parts on queue workers (`unit-attack worker --queue URL` on any machines) and merge them here' },
    store: { ...storeOption, describe: 'with --queue: where the parts\' outputs go — redis (binary keys on the queue\'s server; default) or a folder every machine mounts at the same path' },
    parts: { type: 'number', describe: 'with --queue: the number of parts (default: one per scenario)' },
  },
  examples: [
    ['unit-attack run scenarios/ --out out', 'run every scenario and write the reports to out/'],
    ['unit-attack run gate.yaml --baseline main/results.json', 'fail when a figure got worse than on main'],
    ['unit-attack run scenarios/corruption-fuzz.yaml --seed 7 --path 3:1:0', 'replay a fuzzing counterexample'],
    ['unit-attack run scenarios/ --shard 1/4 --out part-1', 'one of four CI jobs; then: unit-attack merge part-0 part-1 part-2 part-3 --out out'],
  ],
  check(argv) {
    if (files(argv).length === 0) throw usageError('name at least one scenario file or folder', { path: 'files' });
    const seed = argv.seed as number | undefined;
    if (seed !== undefined && !Number.isInteger(seed)) throw usageError(`--seed must be an integer, got ${String(argv.seed)}`, { path: '--seed' });
    const p = argv.path as string | undefined;
    if (p !== undefined) {
      if (seed === undefined) throw usageError('--path needs the --seed the counterexample was found with', { path: '--path', hint: 'copy both from the report: --seed S --path P' });
      if (!/^\d+(:\d+)*$/.test(p)) throw usageError(`--path must look like 12:0:3, got '${p}'`, { path: '--path' });
    }
    checkWorkersArg(argv);
    checkQueueArgs(argv);
    if (argv.parts !== undefined) {
      if (argv.queue === undefined) throw usageError('--parts applies to a run on a queue', { path: '--parts', hint: 'add --queue redis://HOST:PORT, or use --shard i/N for one part' });
      if (!Number.isInteger(argv.parts) || (argv.parts as number) < 1) throw usageError(`--parts must be a whole number ≥ 1, got ${JSON.stringify(argv.parts)}`, { path: '--parts' });
    }
    if (argv.queue !== undefined && argv.path !== undefined) throw usageError('--path replays one counterexample: run it here, without --queue', { path: '--path' });
    if (argv.shard !== undefined) {
      parsePart(argv.shard);
      if (argv.out === undefined) throw usageError('--shard writes its part to --out, which is not given', { path: '--shard', hint: 'add --out DIR, then `unit-attack merge` the parts\' folders' });
      if (argv.baseline !== undefined) throw usageError('--baseline compares the whole run: give it to `unit-attack merge`, not to a part', { path: '--baseline' });
    }
    parseTolerances(argv.tolerance as string[] | undefined);
    if (argv.tolerance !== undefined && argv.baseline === undefined) throw usageError('--tolerance applies to --baseline, which is not given', { path: '--tolerance' });
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    let scenarios;
    try {
      scenarios = await loadScenarios(files(argv));
    } catch (err) {
      // Exit code 2: a scenario file (or a file it names) is invalid. Nothing runs, but the reports are written, with
      // one errored case per invalid file, so CI reporters always find results.json and junit.xml.
      if (!(err instanceof ScenarioError)) throw err;
      printScenarioError(err, io);
      const output = { results: assembleResults(invalidFileResults(err), { workers: 1 }, new Date(), 0), artifacts: [] };
      const out = argv.out as string | undefined;
      if (out !== undefined) {
        const written = await writeReports(output, out);
        io.err(`results: ${displayPath(written.results)}; junit: ${displayPath(written.junit)}`);
      }
      if (argv.json) io.out(JSON.stringify(output.results, null, 2));
      await reportToGitHub(output.results, io, argv.json as boolean);
      return 2;
    }
    if (argv.queue !== undefined) return runScenariosOnQueue(argv, io, scenarios, files(argv));
    const plan = scenarios.map((s) => s.name);
    const part = argv.shard !== undefined ? parsePart(argv.shard) : undefined;
    if (part) {
      const [from, to] = partRange(scenarios.length, part.index, part.of);
      scenarios = scenarios.slice(from, to);
    }
    const baselineFile = argv.baseline as string | undefined;
    const baseline = baselineFile !== undefined
      ? { file: baselineFile, results: await readResults(baselineFile), tolerances: parseTolerances(argv.tolerance as string[] | undefined) }
      : undefined;
    const bar = startProgress(io, 'scenarios', scenarios.length, argv.quiet);
    let output;
    try {
      output = await runScenarios(scenarios, {
        backend: argv.backend,
        workers: argv.workers === undefined && !hasWorkerScript() ? 1 : workersOf(argv, io),
        ...(argv.seed !== undefined ? { seed: argv.seed as number } : {}),
        ...(argv.path !== undefined ? { path: argv.path as string } : {}),
        ...(baseline ? { baseline } : {}),
        ...scenarioProgress(bar, scenarios),
      });
    } finally {
      bar.stop();
    }
    const out = argv.out as string | undefined;
    const lines = new Map(scenarios.map((s) => [s.name, s.source]));
    await reportToGitHub(output.results, io, argv.json as boolean, (s, metric) => {
      const source = lines.get(s.name);
      return source ? lineOf(source, ['expectations', metric]) : undefined;
    });
    if (argv.json) {
      if (out !== undefined) await writeReports(output, out);
      if (out !== undefined && part) await writeRunPart(out, runPartOf(part.index, part.of, plan, output));
      io.out(JSON.stringify(output.results, null, 2));
      return output.results.exitCode;
    }
    io.out(terminalReport(output.results, { color: chalk.level, allMetrics: argv['all-metrics'] as boolean }));
    if (out !== undefined) {
      const written = await writeReports(output, out);
      if (part) {
        await writeRunPart(out, runPartOf(part.index, part.of, plan, output));
        io.out('');
        io.out(`part ${part.index}/${part.of}: ${scenarios.length} of ${plan.length} scenarios; when every part is done: unit-attack merge DIR… --out OUT`);
      }
      io.out('');
      io.out(`report:  ${displayPath(written.html)}`);
      io.out(`results: ${displayPath(written.results)}`);
      io.out(`junit:   ${displayPath(written.junit)}`);
    } else if (output.results.scenarios.some((s) => s.details.counterexample !== undefined)) {
      io.out(chalk.dim('run with --out DIR to keep the counterexample as a PNG (with its seed and path) and the HTML report'));
    }
    return output.results.exitCode;
  },
};
