/**
 * What a scenario run produces: plain data for `results.json`, JUnit and the terminal, and the pictures for the
 * HTML report. Numbers may be NaN or ±Infinity in memory; `results.json` writes NaN as `null` and infinities as
 * the strings `"Infinity"` / `"-Infinity"` (see `./json.ts`).
 */
import type { UnitEffect } from '../attacks/metrics.js';
import type { RgbImage } from '../data/images.js';
import type { AblationCurve } from '../dissection/importance.js';
import type { AblationExamples, GeneratorAblation } from '../gan/ablate.js';
import type { GeneratorInsertion, InsertionExamples } from '../gan/insert.js';

export const RESULTS_FORMAT = 'unit-attack-results';
export const RESULTS_VERSION = 1;

/** The bounds of an expectation; a bound that is absent does not apply. */
export interface Threshold {
  min?: number;
  max?: number;
}

/**
 * Which value of a rate an expectation compares with its bounds: the measured rate (`value`, the default), or the
 * lower or upper end of its 95% Wilson interval.
 */
export type ExpectationBound = 'value' | 'lower95' | 'upper95';

/** A 95% confidence interval of a rate metric (Wilson score interval of `count` of `total`). */
export interface MetricInterval {
  lower: number;
  upper: number;
  count: number;
  total: number;
  level: number;
}

/** One expectation, evaluated. */
export interface ExpectationResult {
  metric: string;
  /** The measured value (NaN when it could not be measured, e.g. no image had the class). */
  measured: number;
  threshold: Threshold;
  /** Present when the expectation gates on a bound of the interval rather than the measured value. */
  bound?: Exclude<ExpectationBound, 'value'>;
  /** The value compared with the threshold: `measured`, or the interval bound named by `bound`. */
  compared?: number;
  passed: boolean;
}

/** An input that could not be used (a corrupt or unreadable image). */
export interface ErroredInput {
  id: string;
  reason: string;
}

/** A figure that got worse than the baseline by more than the tolerance. */
export interface Regression {
  scenario: string;
  metric: string;
  baseline: number;
  measured: number;
  tolerance: number;
  /** `higher` when a higher value is better (the expectation has a `min`), else `lower`. */
  better: 'higher' | 'lower';
}

/** An error that stopped a scenario. */
export interface ScenarioFailure {
  /** A `UA_…` code. */
  code: string;
  message: string;
  hint?: string;
  path?: string;
  file?: string;
  line?: number;
}

/** One example image of a scenario, for the reports. File paths are relative to the report folder. */
export interface ImageRecord {
  id: string;
  label: string;
  cleanPrediction: string;
  /** Prediction on the adversarial or corrupted image. */
  finalPrediction?: string;
  /** Whether the attack met its goal (or the property failed) on this image. */
  success?: boolean;
  files: Partial<Record<ImageRole, string>>;
}

export type ImageRole = 'original' | 'adversarial' | 'perturbation' | 'heatmap' | 'counterexample';

/** The result of one scenario. */
export interface ScenarioResult {
  name: string;
  /** The scenario file, relative to the working folder when below it. */
  file: string;
  description?: string;
  /** `error`: the scenario could not run (see `error`). */
  status: 'passed' | 'failed' | 'error';
  /** `invalid`: the scenario file itself did not validate (its issues are in `error` and `details.issues`). */
  task: 'attack' | 'ablation' | 'insertion' | 'fuzz' | 'evaluate' | 'invalid';
  model: { spec: string; name: string; fingerprint: string; inputSize: [number, number]; classes: number } | null;
  expectations: ExpectationResult[];
  /** Every metric measured, expected or not. */
  metrics: Record<string, number>;
  /** 95% Wilson intervals of the rate metrics (accuracies and success rates), by metric. */
  intervals?: Record<string, MetricInterval>;
  inputs: {
    /** `latents`: a generator scenario's latents (`total` = `used` = samples). */
    kind: 'synthetic' | 'folder' | 'latents';
    total: number;
    used: number;
    errored: ErroredInput[];
    allowErrors: number;
  };
  /** The seeds that replay the run: `inputs`, `attack`, `randomControl`, `fuzz`, `dissection`. */
  seeds: Record<string, number>;
  /** Seconds spent per phase (`total`, `model`, `inputs`, `dissection`, `attack`, …). */
  durations: Record<string, number>;
  /** Task-specific facts (attack settings, units steered, the counterexample, …). JSON values only. */
  details: Record<string, unknown>;
  warnings: string[];
  images: ImageRecord[];
  error?: ScenarioFailure;
}

/** The result of a run of one or more scenarios: the content of `results.json`. */
export interface RunResults {
  format: typeof RESULTS_FORMAT;
  version: typeof RESULTS_VERSION;
  /** ISO time the run started. */
  created: string;
  passed: boolean;
  /** 0 every expectation held; 1 one failed (or regressed); 2 a scenario could not run on its input; 3 an internal error. */
  exitCode: 0 | 1 | 2 | 3;
  summary: { scenarios: number; passed: number; failed: number; errored: number; expectations: number; failedExpectations: number };
  tool: { name: string; version: string };
  versions: Record<string, string>;
  /** The TensorFlow.js backend (see `unit-attack info`). */
  backend: { name: string; reason: string; tfjsVersion: string; backendVersion: string; threads: number; simd: boolean | null; fastKernels: string[] } | null;
  durations: { total: number };
  options: { seed?: number; path?: string; workers: number };
  baseline?: { file: string; tolerance: Record<string, number>; compared: number; regressions: Regression[] };
  scenarios: ScenarioResult[];
}

/** A picture for the HTML report, in memory. */
export interface ReportImage {
  role: ImageRole;
  png: Uint8Array;
  /** What the picture shows, when the role alone does not say (e.g. `perturbation ×31.5`). @defaultValue the role */
  caption?: string;
  /** A heatmap's colour scale: signed (blue −max … red +max) or a magnitude (0 … max). */
  scale?: { kind: 'signed' | 'magnitude'; max: number };
}

/** Pictures and plots of one scenario, for the HTML report (not in `results.json`). */
export interface ScenarioArtifacts {
  /** Per {@link ImageRecord} (same order), its pictures. */
  images: ReportImage[][];
  /** SVG documents (plots) with a caption. */
  plots: Array<{ title: string; svg: string }>;
}

/** A run's results with the pictures of each scenario (same order as `results.scenarios`). */
export interface RunOutput {
  results: RunResults;
  artifacts: ScenarioArtifacts[];
}

/** A map over an image: one value per cell of an `h×w` grid (any resolution), e.g. where units fire. */
export interface ImageMap {
  values: Float32Array;
  h: number;
  w: number;
}

/**
 * An example of a scenario task as data: the images and maps it shows, for the report to draw (see
 * `drawTaskArtifacts`). Per {@link ImageRecord}, in the same order.
 */
export type TaskExample =
  /** An input as it is. */
  | { kind: 'input'; original: RgbImage }
  /** An attacked input; for a unit attack, how the objective's units changed (positive: the attack's way). */
  | { kind: 'attack'; original: RgbImage; adversarial: RgbImage; unitChange?: ImageMap }
  /** An input of the ablated class, with where the ablated units fire. */
  | { kind: 'ablation'; original: RgbImage; units?: ImageMap }
  /** A fuzzing counterexample, with the text that replays it (carried in its PNG). */
  | { kind: 'counterexample'; original: RgbImage; corrupted: RgbImage; text: Readonly<Record<string, string>> };

/** A row of a rates chart: the attack's rate and, with a random-unit control, the control's. */
export interface RateRow {
  label: string;
  value: number;
  control?: number;
}

/** A chart of a scenario task as data, for the report to draw (see `drawTaskArtifacts`). */
export type TaskChart =
  /** Accuracy and success rates of an attack (`attack`: its name), with the random-unit control's when `control`. */
  | { kind: 'rates'; attack: string; epsilon?: number; rows: RateRow[]; control: boolean }
  /** The unit attack's change of spatial-max activation per group of units (`scaled`: ÷ unit threshold). */
  | { kind: 'unit-effect'; scaled: boolean; unit: UnitEffect; control?: UnitEffect }
  /** The dissection's ablation curve of a class, with this scenario's accuracy at `topN`. */
  | { kind: 'ablation-curve'; className: string; curve: AblationCurve; topN: number; accuracy: number }
  /** A generator's removal curve and its example latents before and after. */
  | { kind: 'generator-ablation'; result: GeneratorAblation; examples: AblationExamples }
  /** A generator's insertion by context and its example placements. */
  | { kind: 'generator-insertion'; result: GeneratorInsertion; examples: InsertionExamples };
