import { writeBrodenDataset } from '../../data/broden/index.js';
import { SCENE_CLASSES } from '../../data/scenes/index.js';
import { usageError } from '../../errors.js';
import { jsonOption, type CommandSpec } from '../command.js';
import { startProgress } from '../progress.js';

export const synthCommand: CommandSpec = {
  name: 'synth',
  describe: 'Write scenes of the synthetic world with exact concept label maps, in the Broden layout',
  options: {
    out: { type: 'string', demandOption: true, describe: 'folder to create (must not exist or be empty)' },
    count: { type: 'number', default: 100, describe: 'how many scenes' },
    seed: { type: 'number', default: 1, describe: 'dataset seed: scene i has seed sceneSeed(seed, i)' },
    size: { type: 'number', default: 96, describe: 'image side in pixels' },
    class: { type: 'string', array: true, describe: `scene classes to draw (default: all ${SCENE_CLASSES.length})` },
    json: jsonOption,
  },
  examples: [['unit-attack synth --out probe --count 200 --class ski_resort bedroom', '200 scenes of two classes']],
  check(argv) {
    const count = argv.count as number;
    if (!Number.isInteger(count) || count < 1) throw usageError(`--count must be a positive integer, got ${String(argv.count)}`, { path: '--count' });
    const size = argv.size as number;
    if (!Number.isInteger(size) || size < 8) throw usageError(`--size must be an integer ≥ 8, got ${String(argv.size)}`, { path: '--size' });
  },
  async run(argv, io) {
    const classes = argv.class as string[] | undefined;
    const t0 = Date.now();
    const bar = startProgress(io, 'scenes', argv.count as number, argv.quiet);
    let result;
    try {
      result = await writeBrodenDataset(argv.out as string, {
        count: argv.count as number, seed: argv.seed as number, size: argv.size as number,
        ...(classes && classes.length > 0 ? { classes } : {}),
        onProgress: () => bar.tick(),
      });
    } finally {
      bar.stop();
    }
    if (argv.json) {
      io.out(JSON.stringify({ dir: result.dir, count: result.count, classes: result.classes, seconds: (Date.now() - t0) / 1000 }, null, 2));
      return 0;
    }
    io.out(`wrote ${result.count} scenes of ${result.classes.length} classes to ${result.dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
      `(index.csv, label.csv, category.csv, scene.csv, images/)`);
    return 0;
  },
};
