import chalk from 'chalk';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { formatMeasured, formatThreshold } from '../../report/format.js';
import { calibrateScenario, type Calibration } from '../../scenarios/calibrate.js';
import { ScenarioError, displayPath } from '../../scenarios/errors.js';
import { loadScenario } from '../../scenarios/load.js';
import { hasWorkerScript } from '../../scenarios/workers.js';
import { jsonOption, type CliIO, type CommandSpec } from '../command.js';
import { table } from '../format.js';
import { startProgress } from '../progress.js';
import { checkWorkersArg, workersOf } from '../workers.js';
import { printScenarioError, scenarioProgress } from './run.js';

/** The expectations block with the suggested thresholds, as YAML to paste into the scenario file. */
export function suggestedYaml(c: Calibration): string {
  const lines = c.rows.map((r) => {
    const parts: string[] = [];
    if (r.suggested.min !== undefined) parts.push(`min: ${r.suggested.min}`);
    if (r.suggested.max !== undefined) parts.push(`max: ${r.suggested.max}`);
    if (r.expectation.bound !== undefined && r.expectation.bound !== 'value') parts.push(`bound: ${r.expectation.bound}`);
    return `  ${r.metric}: { ${parts.join(', ')} }`;
  });
  return ['expectations:', ...lines].join('\n');
}

/** The per-seed table: one row per expectation, one column per input seed, then lowest, highest and suggestion. */
export function calibrationTable(c: Calibration): string {
  const head = ['metric', 'threshold', ...c.seeds.map((s, i) => (i === 0 ? `${s} (own)` : String(s))), 'lowest', 'highest', 'suggested'];
  const rows = c.rows.map((r) => {
    const changed = r.suggested.min !== r.expectation.min || r.suggested.max !== r.expectation.max;
    const threshold = { ...(r.expectation.min !== undefined ? { min: r.expectation.min } : {}), ...(r.expectation.max !== undefined ? { max: r.expectation.max } : {}) };
    const suggested = formatThreshold(r.suggested, r.metric);
    return [
      r.metric + (r.expectation.bound && r.expectation.bound !== 'value' ? ` (${r.expectation.bound})` : ''),
      formatThreshold(threshold, r.metric),
      ...r.values.map((v, i) => `${formatMeasured(r.metric, v)} ${r.held[i] ? chalk.green('✔') : chalk.red('✖')}`),
      formatMeasured(r.metric, r.lowest), formatMeasured(r.metric, r.highest),
      changed ? chalk.yellow(suggested) : `${suggested} (keep)`,
    ];
  });
  return table([head, ...rows], ['l', 'l', ...c.seeds.map(() => 'r' as const), 'r', 'r', 'l']);
}

export const calibrateCommand: CommandSpec = {
  name: 'calibrate',
  positional: '<file>',
  describe: 'Run a scenario on other samples of its synthetic inputs and suggest thresholds that every sample clears with a margin',
  positionals: { file: { describe: 'a scenario file with inputs.synthetic', type: 'string' } },
  options: {
    seeds: { type: 'number', default: 5, describe: 'other input seeds to run besides the scenario\'s own' },
    from: { type: 'number', describe: 'the first other seed; the others follow it (default: the scenario\'s seed + 1)' },
    margin: { type: 'number', default: 0.03, describe: 'room left below the lowest (above the highest) value of a fraction (rate, accuracy, drop); other metrics leave the spread the samples showed' },
    workers: { type: 'number', describe: 'worker threads sharing each run\'s images (default: the cores, or $UNIT_ATTACK_WORKERS)' },
    json: { ...jsonOption, describe: 'print the calibration (every seed\'s values, the suggestions and each run\'s result) as JSON on stdout' },
  },
  examples: [
    ['unit-attack calibrate scenarios/ski-resort-to-bedroom.yaml', 'its own inputs and 5 other samples: does the gate hold on all of them?'],
    ['unit-attack calibrate gate.yaml --seeds 10 --margin 0.05', 'ten other samples, thresholds 0.05 under the lowest rate'],
  ],
  check(argv) {
    if (typeof argv.file !== 'string' || argv.file === '') throw usageError('name a scenario file', { path: 'file' });
    const seeds = argv.seeds as number;
    if (!Number.isInteger(seeds) || seeds < 1) throw usageError(`--seeds must be a positive integer, got ${String(argv.seeds)}`, { path: '--seeds', hint: 'e.g. --seeds 5' });
    const from = argv.from as number | undefined;
    if (from !== undefined && !Number.isSafeInteger(from)) throw usageError(`--from must be an integer, got ${String(argv.from)}`, { path: '--from' });
    const margin = argv.margin as number;
    if (!Number.isFinite(margin) || margin < 0) throw usageError(`--margin must be a number ≥ 0, got ${String(argv.margin)}`, { path: '--margin', hint: 'e.g. --margin 0.03' });
    checkWorkersArg(argv);
  },
  async run(argv, io: CliIO) {
    await initBackend({ backend: argv.backend });
    let scenario;
    try {
      scenario = await loadScenario(argv.file as string);
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      printScenarioError(err, io);
      return 2;
    }
    const seeds = argv.seeds as number;
    const bar = startProgress(io, 'seeds', seeds + 1, argv.quiet);
    let c: Calibration;
    try {
      c = await calibrateScenario(scenario, {
        seeds, margin: argv.margin as number,
        ...(argv.from !== undefined ? { from: argv.from as number } : {}),
        workers: argv.workers === undefined && !hasWorkerScript() ? 1 : workersOf(argv, io),
        ...scenarioProgress(bar, Array.from({ length: seeds + 1 }, () => scenario)),
      });
    } finally {
      bar.stop();
    }
    const errored = c.results.filter((r) => r.status === 'error');
    if (argv.json) {
      io.out(JSON.stringify(c, null, 2));
    } else {
      io.out(`${chalk.bold(c.scenario)} (${displayPath(c.file)}): inputs seed ${c.seeds[0]} and ${c.seeds.length - 1} other${c.seeds.length === 2 ? '' : 's'}, margin ${c.margin}`);
      io.out(calibrationTable(c));
      for (const r of errored) io.out(chalk.red(`✖ ${r.name}: ${r.error?.message ?? 'error'}`));
      io.out('');
      io.out(c.held
        ? chalk.green(`✔ every expectation held on all ${c.seeds.length} samples`)
        : chalk.red(`✖ the gate does not hold on every sample; thresholds every sample clears with the margin:`));
      if (!c.held) io.out(suggestedYaml(c));
    }
    if (errored.length > 0) return 2;
    return c.held ? 0 : 1;
  },
};
