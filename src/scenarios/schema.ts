/**
 * The scenario file schema (zod). It describes the *shape* of a scenario file and is published as a JSON Schema
 * (`schema/scenario.schema.json`) so that editors complete and check scenario files; the checks that need more
 * than one field (ε against the norm, expectations against the task, units named by concept need a dissection)
 * live in `./check.ts`.
 *
 * Every object is strict: an unknown key is an error that names the nearest known keys.
 */
import { z } from 'zod';
import { nearestNames } from '../errors.js';
import { EPSILON_TEXT, readEpsilon } from '../attacks/epsilon.js';

/** The metrics an expectation can name. See `docs/ci.md` for their definitions. */
export const METRICS = [
  'clean_accuracy',
  'robust_accuracy',
  'untargeted_success',
  'targeted_success',
  'unit_success',
  'random_control_success',
  'unit_effect_suppressed',
  'unit_effect_excited',
  'psnr',
  'ssim',
  'linf',
  'l2',
  'ablation_accuracy_drop',
  'units_labelled',
  'property_holds',
  'concept_removed',
  'control_removed',
  'concept_change',
  'concept_inserted',
  'insertion_ratio',
] as const;

export type MetricName = (typeof METRICS)[number];

/** One-line definitions of the metrics, for the JSON Schema, the docs and the HTML report. */
export const METRIC_DESCRIPTIONS: Readonly<Record<MetricName, string>> = {
  clean_accuracy: 'images the model classifies correctly / all usable images',
  robust_accuracy: 'images still correct after the attack / all usable images (clean mistakes count as not robust)',
  untargeted_success: 'originally-correct images whose prediction changed / originally-correct images',
  targeted_success: 'images predicted as the target / images whose true class is not the target',
  unit_success: 'unit attack: images predicted as the target (untargeted: whose prediction changed) / the same base as targeted (untargeted) success',
  random_control_success: 'the same rate as unit_success for the random-unit control of the same size',
  unit_effect_suppressed: "mean change of the suppressed units' spatial-max activation, scaled like the objective (by each unit's dissection threshold unless unitScale is none)",
  unit_effect_excited: "mean change of the excited units' spatial-max activation, scaled like the objective (by each unit's dissection threshold unless unitScale is none)",
  psnr: 'mean PSNR in dB over images (peak 1; images left unchanged are left out of the mean)',
  ssim: 'mean SSIM over images',
  linf: 'largest L∞ distance of any image, in pixel units',
  l2: 'largest L2 distance of any image, in pixel units',
  ablation_accuracy_drop: 'relative drop of the class accuracy when its top units are zeroed: 1 − ablated / clean',
  units_labelled: 'units of the dissected layer labelled with a concept (IoU above the threshold)',
  property_holds: 'fuzzing: 1 when the property held for every drawn corruption, else 0',
  concept_removed: "generator ablation: portion of the concept's pixels removed by zeroing its top units, Σ(before − after) / Σ before over paired latents (units: the size, default the largest; ranking: iou or causal)",
  control_removed: 'generator ablation: the same portion for random units of the same size, mean over the control draws (units: the size, default the largest)',
  concept_change: "generator ablation: relative change of another concept's pixels under the same ablation, after / before − 1 (concept: required)",
  concept_inserted: "generator insertion: share of the cell's image region that became the concept, mean over placements (context: only placements where the segmenter saw these concepts at the cell before)",
  insertion_ratio: 'generator insertion: concept_inserted in the contexts `on` over concept_inserted in the contexts `over` (e.g. doors on houses over doors in the sky)',
};

/** The metrics of generator scenarios (ablation or insertion of a generator's units), which take extra keys. */
export const GENERATOR_METRICS: ReadonlySet<MetricName> = new Set(['concept_removed', 'control_removed', 'concept_change', 'concept_inserted', 'insertion_ratio']);

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

/** Messages for unknown keys: the key and the nearest known ones. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const near = nearestNames(key, known, 1)[0];
  return `unknown key '${key}'` + (near !== undefined ? `; did you mean '${near}'?` : '');
}

/** A strict object: unknown keys are errors whose message suggests the nearest known key. */
function strict<T extends z.ZodRawShape>(shape: T, description?: string) {
  const known = Object.keys(shape);
  const s = z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? unknownKeyMessage(String(iss.keys[0]), known) : undefined),
  });
  return description === undefined ? s : s.describe(description);
}

/** A number that may be written as a fraction, e.g. `4/255`. */
export const numberOrFraction = z.union([
  z.number(),
  z.string().regex(EPSILON_TEXT, { error: 'must be a number or a fraction like 4/255' }),
]);

/** Reads a {@link numberOrFraction} value (already checked against the pattern) with the ε reader; NaN when unreadable. */
export function readFraction(v: number | string): number {
  const r = readEpsilon(v);
  return r.ok ? r.value : Number.NaN;
}

const seed = z.int().min(0).max(2 ** 32 - 1);
const positiveInt = z.int().min(1);
const className = z.string().min(1);
const classRef = z.union([z.string().min(1), z.int().min(0)]).describe('a class name of the model, or a class index');

const preprocessing = z.union([
  z.enum(['unit', 'torch', 'caffe', 'tf']).describe('a preset: unit = [0, 1]; torch = ImageNet mean/std; caffe = BGR 0–255 minus mean; tf = [-1, 1]'),
  strict({
    scale: z.number().positive(),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
    channelOrder: z.enum(['rgb', 'bgr']),
  }),
]);

const model = z.union([
  z.string().min(1).describe('builtin:scenes-vgg16, or the path of a model folder or model.json (relative to the scenario file)'),
  strict({
    path: z.string().min(1).describe('builtin:NAME, or the path of a model folder or model.json (relative to the scenario file)'),
    preprocessing: preprocessing.optional().describe('overrides the preprocessing the model folder declares'),
    classes: z.array(z.string().min(1)).min(2).optional().describe('overrides the class names the model folder declares'),
  }),
]);

const synthetic = strict({
  class: z.union([className, z.array(className).min(1)]).optional()
    .describe('scene class(es) of the synthetic world; every class, balanced, when omitted'),
  count: z.int().min(1).max(100_000).describe('number of scenes'),
  seed: seed.describe('dataset seed: scene i is a pure function of (seed, i)'),
  size: z.int().min(8).max(4096).optional().describe('render size; the model input size when omitted (other sizes are resized)'),
}, 'scenes rendered by the built-in synthetic scene world');

const inputs = strict({
  synthetic: synthetic.optional(),
  folder: z.string().min(1).optional().describe('a folder of images (relative to the scenario file)'),
  labels: z.string().min(1).optional()
    .describe('a CSV (file,class) or JSON ({"file": "class"} or [{"file", "class"}]) file mapping the images to classes'),
  fit: z.enum(['crop', 'stretch']).optional().describe('how images of another size are fitted to the model input (default crop)'),
  allowErrors: z.int().min(0).optional().describe('how many unreadable inputs the verdict tolerates (default 0)'),
}, 'the images the scenario runs on: `synthetic` scenes, or a `folder` with a `labels` file');

const dissection = strict({
  layer: z.string().min(1).optional().describe("the layer to dissect; the model's default layer (the last convolution) when omitted"),
  probe: z.string().min(1).optional().describe('the probe set, e.g. builtin:scenes?count=500&seed=7 (the default) or a folder'),
  quantile: z.number().gt(0).lt(1).optional().describe('top quantile that sets each unit threshold (default 0.01)'),
  iouThreshold: z.number().min(0).max(1).optional().describe('IoU above which a unit is labelled with its best concept (default 0.04)'),
  topN: z.int().min(1).optional().describe('largest N of the ablation curves (default 20)'),
  metric: z.enum(['logprob', 'accuracy']).optional().describe('how class importance ranks units (default logprob)'),
  ranking: z.enum(['single', 'greedy']).optional().describe('single: zero one unit at a time (PNAS, the default); greedy: re-rank the top units of each class by zeroing them cumulatively'),
  rankingClasses: z.array(className).min(1).optional().describe('with ranking greedy: the classes to re-rank (default every class)'),
  seed: seed.optional().describe('seed of the quantile sketches and the train/held-out split (default 1)'),
  cache: z.boolean().optional().describe('read and write the on-disk dissection cache (default true)'),
}, 'network dissection: labels the units of a layer with concepts and ranks them by class importance');

const common = {
  epsilon: numberOrFraction.optional().describe('radius of the threat model in pixel units, e.g. 4/255'),
  norm: z.enum(['linf', 'l2']).optional().describe('threat model norm (default linf)'),
  seed: seed.optional().describe('seed of every random choice of the attack (default 0)'),
  target: classRef.optional().describe('target class: the attack is targeted when set'),
};

const minPsnr = z.number().positive().max(200).optional()
  .describe('PSNR floor in dB: every adversarial image also keeps PSNR ≥ this, an L2 cap on top of the ε ball (fgsm, pgd, unit)');

const logitObjective = {
  objective: z.enum(['ce', 'margin']).optional().describe('loss: cross-entropy or C&W logit margin'),
  confidence: z.number().min(0).optional().describe('margin cap κ'),
};

const iterative = {
  steps: positiveInt.max(100_000).optional().describe('gradient steps per restart'),
  stepSize: numberOrFraction.optional().describe('step size in pixel units (default 2.5·ε/steps)'),
  restarts: positiveInt.max(1000).optional().describe('random restarts (best kept per image)'),
  randomStart: z.boolean().optional(),
  schedule: z.enum(['constant', 'cosine']).optional(),
  earlyStop: z.boolean().optional(),
};

const apgdOptions = {
  steps: positiveInt.max(100_000).optional().describe('iterations per run (default 100)'),
  restarts: positiveInt.max(1000).optional().describe('runs from random starts, each on the images not yet broken (default 1)'),
  randomStart: z.boolean().optional(),
  earlyStop: z.boolean().optional(),
  eot: positiveInt.max(1000).optional().describe('gradients averaged per step, for models with randomness (default 1)'),
};

const unitList = z.array(z.union([z.string().min(1), z.int().min(0)])).min(1)
  .describe('units by concept name (from the dissection) or by index');

/** The attack block: one of the built-in attacks, chosen by `kind`. */
const attack = z.discriminatedUnion('kind', [
  strict({ kind: z.literal('fgsm'), ...common, minPsnr, ...logitObjective }, 'FGSM: one signed-gradient step of size ε'),
  strict({ kind: z.literal('pgd'), ...common, minPsnr, ...logitObjective, ...iterative }, 'PGD with random start, restarts and early stop'),
  strict({
    kind: z.literal('cw'), ...common,
    steps: positiveInt.max(100_000).optional(),
    binarySteps: positiveInt.max(100).optional(),
    initialConst: z.number().positive().optional(),
    learningRate: z.number().positive().optional(),
    confidence: z.number().min(0).optional(),
  }, 'Carlini–Wagner L2'),
  strict({
    kind: z.literal('square'), ...common, ...logitObjective,
    queries: positiveInt.max(1_000_000).optional(),
    pInit: z.number().gt(0).max(1).optional(),
  }, 'Square Attack (score-based, no gradients)'),
  strict({ kind: z.literal('apgd-ce'), ...common, ...apgdOptions }, 'APGD-CE: Auto-PGD on the cross-entropy (step size halved at checkpoints, momentum)'),
  strict({ kind: z.literal('apgd-dlr'), ...common, ...apgdOptions }, 'APGD-DLR: Auto-PGD on the difference-of-logits-ratio loss'),
  strict({
    kind: z.literal('apgd-t'), ...common, ...apgdOptions,
    targetClasses: positiveInt.max(1000).optional().describe('target classes, the most likely after the true one (default 9, capped at classes − 1)'),
  }, 'APGD-T: Auto-PGD on the targeted DLR loss over the most likely other classes; success is any misclassification'),
  strict({
    kind: z.literal('autoattack'), ...common,
    version: z.enum(['standard', 'rand']).optional()
      .describe('standard (default): APGD-CE, APGD-T, FAB-T (not implemented: recorded as skipped) and Square on the images still robust; rand: APGD-CE and APGD-DLR with EOT, for models with randomness'),
    steps: positiveInt.max(100_000).optional().describe('APGD iterations per run (default 100)'),
    targetClasses: positiveInt.max(1000).optional().describe('target classes of APGD-T (default 9)'),
    queries: positiveInt.max(1_000_000).optional().describe("Square's query budget per image (default 5000)"),
    eot: positiveInt.max(1000).optional().describe('gradients averaged per step in version rand (default 20)'),
  }, 'AutoAttack (Croce & Hein 2020): an ensemble of attacks, each on the images the earlier ones left robust'),
  strict({
    kind: z.literal('unit'), ...common, minPsnr,
    optimizer: z.enum(['pgd', 'fgsm', 'cw']).optional().describe('the gradient attack that optimises the unit objective (default pgd; cw, the L2 attack of the PNAS experiment, needs a target)'),
    steps: positiveInt.max(100_000).optional().describe('gradient steps per restart (default 50)'),
    stepSize: numberOrFraction.optional().describe('PGD step size in pixel units (default 2.5·ε/steps)'),
    schedule: z.enum(['constant', 'cosine']).optional().describe('PGD step-size schedule (default cosine)'),
    restarts: positiveInt.max(1000).optional(),
    randomStart: z.boolean().optional(),
    layer: z.string().min(1).optional().describe("the layer whose units are steered (default: the dissection's layer, else the model's default layer)"),
    suppress: unitList.optional().describe('units to lower: concept names (from the dissection) or unit indices'),
    excite: unitList.optional().describe('units to raise: concept names (from the dissection) or unit indices'),
    suppressClass: className.optional().describe('lower the units most important to this class (class importance from the dissection)'),
    exciteClass: className.optional().describe('raise the units most important to this class; also the default target'),
    classRanking: z.enum(['gradient', 'ablation']).optional()
      .describe("how suppressClass / exciteClass rank units: 'ablation' (default) by each class's own importance, 'gradient' by the class gradients of the pair (needs both)"),
    conceptIou: z.number().gt(0).max(1).optional()
      .describe("for a named concept that labels no unit: take the units whose IoU with it is at least this (among each unit's best concepts in the atlas) instead of failing"),
    units: positiveInt.max(4096).optional().describe('units per side: the count taken by class (default 10) and the cap on units taken by concept (best IoU first)'),
    aggregate: z.enum(['mean', 'max', 'typical']).optional()
      .describe("spatial reduction of each unit map: mean (default), max, or typical (weighted by where the unit fires on its top probe images)"),
    unitScale: z.enum(['threshold', 'none']).optional().describe("divide each unit by its dissection threshold (default with a dissection) or not"),
    shaping: z.enum(['linear', 'capped', 'log']).optional().describe('how each unit term is shaped before averaging (default linear)'),
    cap: z.number().positive().optional().describe('cap of capped shaping, in units of the scale (default 2)'),
    classWeight: z.number().min(0).optional().describe('weight of a targeted class term (default 0: the pure unit attack)'),
    stopAtTarget: z.boolean().optional().describe('stop an image once it is predicted as the target (default false: the target would steer the pure attack)'),
    randomControl: z.boolean().optional().describe('also attack random units of the same number, as a control (default true)'),
  }, 'the unit attack: suppress and excite units of a layer'),
]).describe('the attack the scenario runs on its inputs');

/** Every key some attack kind takes: keys outside it are unknown whatever the kind. */
export const ATTACK_KEYS: readonly string[] = [...new Set(attack.options.flatMap((o) => Object.keys(o.shape)))];

/** The attack kinds the schema itself knows (each with its own keys). */
export const BUILTIN_ATTACK_KINDS: readonly string[] = attack.options.map((o) => o.shape.kind.value);

/**
 * The attack block of attacks added with `registerAttack`: the registered name as `kind`, the keys every attack
 * takes (epsilon, norm, seed, target), and any other key, passed to the attack as an option.
 */
function registeredAttack(kinds: readonly [string, ...string[]]) {
  return z.looseObject({ kind: z.enum(kinds), ...common })
    .describe('an attack added with registerAttack: kind is its registered name; other keys are passed to it as options');
}

const sizes = z.union([z.int().min(0).max(4096), z.array(z.int().min(0).max(4096)).min(1)]);
const contexts = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** Keys of a generator's ablation or insertion block (besides concept and units). */
const generatorRun = {
  samples: positiveInt.max(1_000_000).optional().describe('latents measured: numbers 0 … samples − 1 of the stream seed'),
  seed: seed.optional().describe('seed of the latents (default 1)'),
  layer: z.string().min(1).optional().describe("the generator layer (default: the generator's default layer)"),
  segmenter: z.string().min(1).optional().describe('the segmenter that labels the generated images: builtin:scenes-segmenter (default) or a folder (relative to the scenario file)'),
  rankSamples: positiveInt.max(100_000).optional().describe('held-out latents (after the measured ones) that rank the units by IoU (default 200)'),
};

const ablation = strict({
  class: className.optional().describe('classifier: the class whose most important units are zeroed'),
  topN: positiveInt.max(4096).optional().describe('classifier: how many of its top units (by class importance) to zero'),
  concept: z.string().min(1).optional().describe("generator: the concept whose top units are zeroed (a concept of the segmenter)"),
  units: sizes.optional().describe('generator: the numbers of top-ranked units zeroed, e.g. [5, 20]'),
  ranking: z.enum(['iou', 'causal', 'greedy', 'ace', 'both', 'all']).optional()
    .describe("generator: rank units by IoU with the concept (default), causally (each unit's own removal), greedily (each step adds the unit that removes most with those already zeroed), by average causal effect (ace: a coefficient per unit learned by gradient descent through the generator and the segmenter), both (IoU and causal) or all"),
  controlDraws: z.int().min(0).max(1000).optional().describe('generator: random-unit draws per size (default 6)'),
  controlSamples: positiveInt.max(10_000_000).optional().describe('generator: latents each control draw is measured on, the first of the measured ones; at most samples (default: 500, or samples when fewer)'),
  causalSamples: positiveInt.max(100_000).optional().describe('generator: held-out latents of the causal, greedy and ACE rankings (default 32)'),
  greedyCandidates: positiveInt.max(4096).optional().describe("generator: units a greedy step may add, the causal ranking's top ones (default 40)"),
  greedyStep: positiveInt.max(4096).optional().describe('generator: units a greedy step adds (default 1)'),
  aceEpochs: positiveInt.max(10_000).optional().describe('generator: passes of the ACE ranking over its latents (default 25)'),
  aceLearningRate: z.number().gt(0).max(10).optional().describe("generator: Adam's learning rate in the ACE ranking (default 0.04)"),
  acePenalty: z.number().min(0).max(100).optional().describe("generator: weight of the ACE ranking's penalty Σ α² (default 0.002)"),
  quantile: z.number().gt(0).lt(1).optional().describe("generator: top quantile of a unit's activations that counts as active, for the IoU ranking (default 0.01)"),
  ...generatorRun,
}, "unit ablation: a classifier's top units of a class (class, topN; needs a dissection), or a generator's top units of a concept (concept, units)");

const insertion = strict({
  concept: z.string().min(1).describe('the concept inserted (a concept of the segmenter)'),
  units: positiveInt.max(4096).optional().describe("how many of the concept's top units (by IoU) are set high (default 20)"),
  at: z.tuple([z.int().min(0), z.int().min(0)]).optional().describe('[row, col] of the cell of the layer map; every cell, one at a time, when omitted'),
  level: z.number().gt(0).lt(1).optional().describe("the quantile of each unit's activations it is set to (default 0.995)"),
  ...generatorRun,
}, "generator insertion: set a concept's top units high at a cell and measure the concept added, by what was there before");

const fuzz = strict({
  runs: positiveInt.max(100_000).optional().describe('corruptions drawn (default 100)'),
  seed: seed.optional().describe('fast-check seed (default 0); replay a failure with --seed and --path'),
  noise: numberOrFraction.optional().describe('additive uniform noise up to this L∞ amplitude, e.g. 8/255'),
  brightness: z.number().min(0).max(1).optional().describe('add a brightness offset in [−b, b]'),
  contrast: z.number().min(0).lt(1).optional().describe('scale contrast around the image mean by a factor in [1 − c, 1 + c]'),
  blur: z.number().min(0).max(10).optional().describe('Gaussian blur with σ up to this many pixels'),
  jpeg: z.int().min(1).max(100).optional().describe('JPEG compression with quality down to this value'),
  shift: z.int().min(0).max(64).optional().describe('shift by up to this many pixels in x and y (edges repeated)'),
  expect: z.enum(['label', 'prediction']).optional()
    .describe("what must hold: the true label (on images the model gets right; default) or the clean prediction"),
  minMargin: z.number().min(0).lt(1).optional()
    .describe('check only images whose clean top-class probability is at least this far above the runner-up (default 0: every image); images on the decision boundary flip under any change'),
}, 'property-based fuzzing: draw corruptions and expect the label to hold');

const threshold = strict({
  min: numberOrFraction.optional().describe('the measured value must be ≥ min'),
  max: numberOrFraction.optional().describe('the measured value must be ≤ max'),
  bound: z.enum(['value', 'lower95', 'upper95']).optional()
    .describe('rates only: compare min/max with the measured value (default) or with the lower or upper end of its 95% Wilson interval'),
});

const limits = {
  min: numberOrFraction.optional().describe('the measured value must be ≥ min'),
  max: numberOrFraction.optional().describe('the measured value must be ≤ max'),
};

/** The generator metrics' thresholds, with the keys that say what is measured. */
const generatorThresholds: Partial<Record<MetricName, z.ZodType>> = {
  concept_removed: strict({ ...limits, concept: z.string().min(1).optional().describe('must be the ablation block\'s concept'), units: z.int().min(0).optional().describe('the size (one of ablation.units; default the largest)'), ranking: z.enum(['iou', 'causal', 'greedy', 'ace']).optional().describe('default iou when measured') }),
  control_removed: strict({ ...limits, units: z.int().min(0).optional().describe('the size (one of ablation.units; default the largest)') }),
  concept_change: strict({ ...limits, concept: z.string().min(1).describe('another concept of the segmenter, e.g. sky'), units: z.int().min(0).optional(), ranking: z.enum(['iou', 'causal', 'greedy', 'ace']).optional() }),
  concept_inserted: strict({ ...limits, context: contexts.optional().describe('only placements where the segmenter saw one of these at the cell before') }),
  insertion_ratio: strict({ ...limits, on: contexts.describe('contexts above the line, e.g. [house, building]'), over: contexts.describe('contexts below the line, e.g. [sky, tree]') }),
};

const expectations = strict(
  Object.fromEntries(METRICS.map((m) => [m, (generatorThresholds[m] ?? threshold).optional().describe(METRIC_DESCRIPTIONS[m])])) as Record<MetricName, z.ZodOptional<typeof threshold>>,
  'metric → { min, max }: the scenario passes when every measured metric is inside its bounds',
);

const report = strict({
  images: z.int().min(0).max(64).optional().describe('example images shown in the HTML report (default 6)'),
}, 'what the reports show');

/** The zod schema of a scenario file. */
export const scenarioSchema = strict({
  $schema: z.string().optional().describe('the JSON Schema of this file (for editors)'),
  name: z.string().min(1).max(200).regex(/^[^\n\r]+$/, { error: 'must be a single line' }).describe('the scenario name (a JUnit test suite)'),
  description: z.string().optional(),
  model: model.describe('the model under test'),
  inputs: inputs.optional().describe('the images a classifier scenario runs on (a generator scenario draws its own latents)'),
  dissection: dissection.optional(),
  attack: attack.optional(),
  ablation: ablation.optional(),
  insertion: insertion.optional(),
  fuzz: fuzz.optional(),
  expectations,
  report: report.optional(),
}, 'A unit-attack scenario: a model, inputs, an optional dissection, an attack, an ablation, an insertion or a fuzzing block, and expectations with thresholds.');

const schemas = new Map<string, typeof scenarioSchema>();

/**
 * The scenario schema that also takes the attack kinds in `registered` (names from the attack registry; the
 * built-in kinds among them are left to their own schemas). Memoised per set of names.
 */
export function scenarioSchemaWith(registered: readonly string[]): typeof scenarioSchema {
  const extra = [...new Set(registered)].filter((k) => !BUILTIN_ATTACK_KINDS.includes(k)).sort();
  if (extra.length === 0) return scenarioSchema;
  const key = extra.join('\n');
  let s = schemas.get(key);
  if (s === undefined) {
    const withRegistered = z.discriminatedUnion('kind', [...attack.options, registeredAttack(extra as [string, ...string[]])])
      .describe(attack.description ?? '');
    s = scenarioSchema.extend({ attack: withRegistered.optional() }) as unknown as typeof scenarioSchema;
    schemas.set(key, s);
  }
  return s;
}

/** A scenario file as written (after the schema has accepted it). */
export type ScenarioFile = z.output<typeof scenarioSchema>;
export type AttackBlock = NonNullable<ScenarioFile['attack']>;
export type UnitAttackBlock = Extract<AttackBlock, { kind: 'unit' }>;
export type FuzzBlock = NonNullable<ScenarioFile['fuzz']>;
export type AblationBlock = NonNullable<ScenarioFile['ablation']>;
export type InsertionBlock = NonNullable<ScenarioFile['insertion']>;
export type DissectionBlock = NonNullable<ScenarioFile['dissection']>;
export type InputsBlock = ScenarioFile['inputs'];
export type ModelBlock = ScenarioFile['model'];

/** The JSON Schema of scenario files (draft-07, which YAML editors read), as published in `schema/`. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(scenarioSchema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  // Attacks added with registerAttack are not known here: any other kind is allowed, with any options.
  const registered = z.toJSONSchema(z.looseObject({ kind: z.string(), ...common }), { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  delete registered.$schema;
  (registered.properties as Record<string, unknown>).kind = {
    type: 'string', not: { enum: [...BUILTIN_ATTACK_KINDS] }, description: 'the name an attack was registered under with registerAttack',
  };
  registered.description = 'an attack added with registerAttack: kind is its registered name; other keys are passed to it as options';
  const attackSchema = (s.properties as Record<string, { oneOf?: unknown[] }>).attack;
  attackSchema.oneOf = [...(attackSchema.oneOf ?? []), registered];
  return {
    $schema: s.$schema,
    title: 'unit-attack scenario',
    ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$schema')),
  };
}
