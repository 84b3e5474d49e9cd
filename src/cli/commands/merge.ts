import { existsSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../../errors.js';
import type { CommandSpec, GlobalArgs } from '../command.js';
import { forceOption } from '../out-dir.js';
import { checkWorkersArg, workersOption } from '../workers.js';
import { PART_FILE, dissectCommand, readPartSettings, settingDifferences } from './dissect.js';

/**
 * `unit-attack merge DIR… --out OUT`: the parts of a dissection written by `dissect --shard i/N` (each folder holds
 * shard files and the settings of its parts) merged into the atlas and report, by the dissect command itself with
 * pass 1 read from the shard files — the same atlas as a one-process run.
 */
export const mergeCommand: CommandSpec = {
  name: 'merge',
  positional: '<dirs..>',
  describe: 'Merge the parts of a dissection written by `dissect --shard i/N` into its atlas and report (the same as one process would make)',
  positionals: { dirs: { describe: 'the --out folders of the parts (one shared folder, or one per part)', type: 'string', array: true } },
  options: {
    out: { type: 'string', demandOption: true, describe: 'folder for atlas.json, CSVs, strips, ablation.png and index.html' },
    strips: { type: 'boolean', default: true, describe: 'draw a strip of top-activating images per unit (needs the probe images here; --no-strips skips)' },
    'embed-images': { type: 'boolean', default: false, describe: 'embed the strips in index.html instead of linking them' },
    'plot-classes': { type: 'string', array: true, describe: 'classes in the ablation plot (default: the 4 most affected)' },
    cache: { type: 'boolean', default: true, describe: 'keep the merged atlas in .unit-attack-cache (env UNIT_ATTACK_CACHE), as dissect does' },
    json: { type: 'boolean', default: false, describe: 'print the summary as JSON' },
    force: forceOption,
    workers: workersOption,
  },
  examples: [
    ['unit-attack merge shards/ --out out/atlas', 'merge every part written to one shared folder'],
    ['unit-attack merge part-0 part-1 part-2 part-3 --out out/atlas', 'merge parts written to folders of their own (e.g. artifacts of a CI matrix)'],
  ],
  check(argv) {
    const dirs = argv.dirs as string[] | undefined;
    if (!dirs || dirs.length === 0) throw usageError('name the folders of the parts to merge', { path: 'dirs', hint: 'e.g. unit-attack merge shards/ --out out/atlas' });
    checkWorkersArg(argv);
  },
  async run(argv, io) {
    const dirs = argv.dirs as string[];
    const found: Array<{ file: string; settings: Record<string, unknown> }> = [];
    for (const d of dirs) {
      const file = path.join(d, PART_FILE);
      if (!existsSync(d)) throw usageError(`the part folder '${d}' does not exist`, { path: 'dirs', file: d });
      if (existsSync(file)) found.push({ file, settings: await readPartSettings(file) });
    }
    if (found.length === 0) {
      throw usageError(`none of ${dirs.map((d) => `'${d}'`).join(', ')} holds ${PART_FILE}, the settings of a part`, {
        path: 'dirs', hint: 'merge the --out folders of `unit-attack dissect … --shard i/N`',
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
