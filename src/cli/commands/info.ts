import { createRequire } from 'node:module';
import os from 'node:os';
import { backendInfo, initBackend } from '../../engine/backend.js';
import type { CommandSpec } from '../command.js';
import { table } from '../format.js';
import { workersOf } from '../workers.js';

const require = createRequire(import.meta.url);

export const infoCommand: CommandSpec = {
  name: 'info',
  describe: 'Show the TensorFlow.js backend chosen, why, its versions, threads, SIMD support and the default --workers',
  options: {
    json: { type: 'boolean', default: false, describe: 'print JSON' },
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const info = backendInfo();
    const pkg = require('../../../package.json') as { version: string };
    const data = {
      unitAttack: pkg.version, node: process.version, platform: `${os.platform()} ${os.arch()}`, cores: os.availableParallelism(),
      ...info,
      // What --workers defaults to here: one pool worker per core (1 on tfjs-node), or UNIT_ATTACK_WORKERS.
      workers: workersOf({ ...argv, workers: undefined }, io),
    };
    if (argv.json) { io.out(JSON.stringify(data, null, 2)); return 0; }
    const rows: string[][] = [['', '']];
    for (const [k, v] of Object.entries(data)) rows.push([k, Array.isArray(v) ? v.join(', ') || '—' : String(v ?? '—')]);
    io.out(table(rows.slice(1).length ? [['field', 'value'], ...rows.slice(1)] : rows));
    return 0;
  },
};
