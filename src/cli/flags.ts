/**
 * Library errors name library fields (`workers`, `learningRate`, `outDir`); the command line shows the flag that
 * sets each one. This table is the one place that maps them.
 */
/** Fields whose flag is not simply the field in kebab case. */
const FIELD_FLAGS: Readonly<Record<string, string>> = {
  outDir: '--out', dir: '--out', out: '--out', file: '--from', tolerances: '--tolerance', inputSize: '--input-size',
  discriminatorLearningRate: '--d-learning-rate',
};

/** Fields that are flags of the same name (in kebab case) wherever a library error names them. */
const SAME_NAME = new Set([
  'workers', 'seed', 'seeds', 'path', 'margin', 'from', 'classes', 'preprocess', 'learningRate', 'evalSeed', 'epochs',
  'scenesPerEpoch', 'batchSize', 'checkpointEvery', 'evalCount', 'widthMultiplier', 'blockWidths', 'fcWidth',
  // Generator experiments (ablate, insert, gan-quality) and train-gan.
  'layer', 'quantile', 'rankSamples', 'causalSamples', 'greedyCandidates', 'greedyStep', 'controlDraws', 'controlSamples', 'realSeed', 'tolerance', 'steps', 'maxSteps', 'maxMinutes',
  'latentSize', 'generatorWidths', 'discriminatorWidths', 'instanceNoise', 'instanceNoiseSteps', 'emaDecay', 'minibatchStdGroup',
  'concept', 'concepts', 'units', 'samples', 'atlas', 'at',
]);

/** The flag of a library field, or undefined when the field has none (e.g. a scenario field or `labels[3]`). */
export function flagOf(field: string): string | undefined {
  if (field.startsWith('--')) return field;
  if (FIELD_FLAGS[field] !== undefined) return FIELD_FLAGS[field];
  return SAME_NAME.has(field) ? `--${field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}` : undefined;
}
