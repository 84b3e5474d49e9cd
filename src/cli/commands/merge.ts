import { existsSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../../errors.js';
import type { CliIO, CommandSpec, GlobalArgs } from '../command.js';
import { forceOption } from '../out-dir.js';
import { checkWorkersArg, workersOption } from '../workers.js';
import { PART_FILE, dissectCommand, readPartSettings, settingDifferences } from './dissect.js';
import chalk from 'chalk';
import { readResults } from '../../report/json.js';
import { terminalReport } from '../../report/terminal.js';
import { writeReports } from '../../report/write.js';
import { RUN_PART_FILE, mergeRunParts } from '../../scenarios/parts.js';
import { parseTolerances } from '../../report/baseline.js';
import { displayPath } from '../../scenarios/errors.js';
import { ATTACK_PART_FILE, mergeAttackCommand } from '../attack-part.js';
import { attackCommand } from './attack.js';

/**
 * `unit-attack merge DIR… --out OUT`: the parts of a dissection written by `dissect --shard i/N` (each folder holds
 * shard files and the settings of its parts) merged into the atlas and report, by the dissect command itself with
 * pass 1 read from the shard files — the same atlas as a one-process run.
 */
export const mergeCommand: CommandSpec = {
  name: 'merge',
  positional: '<dirs..>',
  describe: 'Merge the parts of a dissection (`dissect --shard i/N`) into its atlas, of an attack (`attack --shard i/N`) into its result.json, images and curves, or of a scenario run (`run --shard i/N`) into one report and exit code',
  positionals: { dirs: { describe: 'the --out folders of the parts (one shared folder, or one per part)', type: 'string', array: true } },
  options: {
    out: { type: 'string', demandOption: true, describe: 'folder for atlas.json, CSVs, strips, ablation.png and index.html' },
    strips: { type: 'boolean', default: true, describe: 'draw a strip of top-activating images per unit (needs the probe images here; --no-strips skips)' },
    'embed-images': { type: 'boolean', default: false, describe: 'embed the strips in index.html instead of linking them' },
    'plot-classes': { type: 'string', array: true, describe: 'classes in the ablation plot (default: the 4 most affected)' },
    cache: { type: 'boolean', default: true, describe: 'keep the merged atlas in .unit-attack-cache (env UNIT_ATTACK_CACHE), as dissect does' },
    json: { type: 'boolean', default: false, describe: 'print the summary as JSON (for a scenario run: results.json)' },
    baseline: { type: 'string', describe: 'scenario runs: an earlier results.json; fail (exit 1) when a figure of the whole run regresses beyond the tolerance' },
    tolerance: { type: 'string', array: true, describe: 'scenario runs: regression tolerance, a number for every metric and/or metric=number (default 0.02)' },
    force: forceOption,
    workers: workersOption,
  },
  examples: [
    ['unit-attack merge shards/ --out out/atlas', 'merge every part written to one shared folder'],
    ['unit-attack merge part-0 part-1 part-2 part-3 --out out/atlas', 'merge parts written to folders of their own (e.g. artifacts of a CI matrix)'],
    ['unit-attack merge attack-0 attack-1 attack-2 --out out/attack', 'merge the parts of `unit-attack attack … --shard i/3`: the result.json, images and curves of the whole attack'],
    ['unit-attack merge run-0 run-1 --out out', 'merge the parts of `unit-attack run scenarios/ --shard i/2`: one results.json, junit.xml and report.html, and the exit code of the whole run'],
  ],
  check(argv) {
    const dirs = argv.dirs as string[] | undefined;
    if (!dirs || dirs.length === 0) throw usageError('name the folders of the parts to merge', { path: 'dirs', hint: 'e.g. unit-attack merge shards/ --out out/atlas' });
    checkWorkersArg(argv);
  },
  async run(argv, io) {
    const dirs = argv.dirs as string[];
    if (dirs.some((d) => existsSync(path.join(d, RUN_PART_FILE)))) return mergeRunCommand(argv, io);
    if (dirs.some((d) => existsSync(path.join(d, ATTACK_PART_FILE)))) return mergeAttackCommand(argv, io, attackCommand);
    const found: Array<{ file: string; settings: Record<string, unknown> }> = [];
    for (const d of dirs) {
      const file = path.join(d, PART_FILE);
      if (!existsSync(d)) throw usageError(`the part folder '${d}' does not exist`, { path: 'dirs', file: d });
      if (existsSync(file)) found.push({ file, settings: await readPartSettings(file) });
    }
    if (found.length === 0) {
      throw usageError(`none of ${dirs.map((d) => `'${d}'`).join(', ')} holds ${PART_FILE}, ${ATTACK_PART_FILE} or ${RUN_PART_FILE}, the settings of a part`, {
        path: 'dirs', hint: 'merge the --out folders of `unit-attack dissect … --shard i/N`, `unit-attack attack … --shard i/N` or `unit-attack run … --shard i/N`',
      });
    }
    for (const f of found.slice(1)) {
      const diff = settingDifferences(found[0].settings, f.settings);
      if (diff.length > 0) {
        throw usageError(`'${found[0].file}' and '${f.file}' are parts of different dissections (${diff.join('; ')})`, {
          path: 'dirs', file: f.file, hint: 'merge the parts of one dissection: every --shard job with the same model, probe, layer and options',
        });
      }
    }
    // The dissect command's defaults, the parts' settings, then this command's own (output, strips, workers, cache).
    const defaults = Object.fromEntries(Object.entries(dissectCommand.options)
      .filter(([, o]) => (o as { default?: unknown }).default !== undefined).map(([k, o]) => [k, (o as { default?: unknown }).default]));
    const own = Object.fromEntries(Object.keys(mergeCommand.options).filter((k) => argv[k] !== undefined).map((k) => [k, argv[k]]));
    const merged: GlobalArgs = { ...argv, ...defaults, ...found[0].settings, ...own, fromShards: dirs };
    delete merged.shard;
    return dissectCommand.run(merged, io);
  },
};

/** `merge` of the parts of a scenario run: one results.json, junit.xml and report, and the whole run's exit code. */
async function mergeRunCommand(argv: GlobalArgs, io: CliIO): Promise<number> {
  const dirs = argv.dirs as string[];
  const without = dirs.filter((d) => !existsSync(path.join(d, RUN_PART_FILE)));
  if (without.length > 0) {
    throw usageError(`${without.map((d) => `'${d}'`).join(', ')} ${without.length === 1 ? 'holds' : 'hold'} no ${RUN_PART_FILE}: not the part of a scenario run`, {
      path: 'dirs', hint: 'merge only the --out folders of `unit-attack run … --shard i/N` (dissection parts merge on their own)',
    });
  }
  const baselineFile = argv.baseline as string | undefined;
  const tolerances = parseTolerances(argv.tolerance as string[] | undefined);
  const baseline = baselineFile !== undefined ? { file: baselineFile, results: await readResults(baselineFile), tolerances } : undefined;
  const output = await mergeRunParts(dirs, baseline ? { baseline } : {});
  const out = argv.out as string;
  const written = await writeReports(output, out);
  if (argv.json) {
    io.out(JSON.stringify(output.results, null, 2));
    return output.results.exitCode;
  }
  io.out(terminalReport(output.results, { color: chalk.level }));
  io.out('');
  io.out(`merged ${dirs.length} part${dirs.length === 1 ? '' : 's'}: report ${displayPath(written.html)}, results ${displayPath(written.results)}, junit ${displayPath(written.junit)}`);
  return output.results.exitCode;
}
