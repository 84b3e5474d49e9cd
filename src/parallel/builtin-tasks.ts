/**
 * Where the built-in tasks and worker contexts are defined: each folder registers its own (`registerPoolTask`,
 * `registerContext`) in one module, imported here on first use — by the executor on this thread, and by a worker
 * thread when it is sent a task it does not know yet. Keys are `task:NAME` and `context:KIND`.
 */
const attacks = (): Promise<unknown> => import('../attacks/tasks.js');
const dissection = (): Promise<unknown> => import('../dissection/tasks.js');
const dissectionHelpers = (): Promise<unknown> => import('../dissection/helper-tasks.js');
const generated = (): Promise<unknown> => import('../dissection/generated-tasks.js');
const gan = (): Promise<unknown> => import('../gan/tasks.js');
const train = (): Promise<unknown> => import('../train/tasks.js');
const scenarios = (): Promise<unknown> => import('../scenarios/pool-tasks.js');
const classifier = (): Promise<unknown> => import('./classifier-tasks.js');

export const BUILTIN_MODULES: Readonly<Record<string, () => Promise<unknown>>> = {
  'context:classifier': classifier,
  'task:predict': classifier,
  'task:attack': attacks,
  'task:dissect-shard': dissection,
  'task:dissect-iou': dissection,
  'task:importance-rank': dissection,
  'task:importance-ablate': dissection,
  'task:render-scene': dissectionHelpers,
  'context:sketches': dissectionHelpers,
  'task:sketch-update': dissectionHelpers,
  'task:sketch-quantiles': dissectionHelpers,
  'task:sketch-serialize': dissectionHelpers,
  'task:sketch-reset': dissectionHelpers,
  'context:generator': gan,
  'task:gan-edit-batch': gan,
  'task:dissect-generated-shard': generated,
  'context:trainer': train,
  'task:train-shard': train,
  'context:scenarios': scenarios,
  'task:run-scenarios': scenarios,
};
