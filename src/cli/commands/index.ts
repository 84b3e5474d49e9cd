import type { CommandSpec } from '../command.js';
import { ablateCommand } from './ablate.js';
import { attackCommand } from './attack.js';
import { calibrateCommand } from './calibrate.js';
import { dissectCommand } from './dissect.js';
import { ganQualityCommand } from './gan-quality.js';
import { generateCommand } from './generate.js';
import { importCommand } from './import.js';
import { infoCommand } from './info.js';
import { insertCommand } from './insert.js';
import { mergeCommand } from './merge.js';
import { predictCommand } from './predict.js';
import { synthCommand } from './synth.js';
import { runCommand } from './run.js';
import { segmentCommand } from './segment.js';
import { trainCommand } from './train.js';
import { trainSegmenterCommand } from './train-segmenter.js';
import { trainGanCommand } from './train-gan.js';
import { workerCommand } from './worker.js';

/** Every command of the CLI, in help order. Add a command by adding its spec here. */
export const COMMANDS: readonly CommandSpec[] = [
  infoCommand,
  predictCommand,
  synthCommand,
  runCommand,
  calibrateCommand,
  trainCommand,
  trainSegmenterCommand,
  trainGanCommand,
  segmentCommand,
  generateCommand,
  ganQualityCommand,
  dissectCommand,
  mergeCommand,
  workerCommand,
  attackCommand,
  ablateCommand,
  insertCommand,
  importCommand,
];
