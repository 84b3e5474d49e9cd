import type { Preprocessing, PreprocessPreset } from '../models/types.js';
import type { AblationBlock, AttackBlock, DissectionBlock, FuzzBlock, MetricName } from './schema.js';

/** Where the fields of a scenario file are: `path → line`, so that errors found while running still point at a line. */
export interface ScenarioSource {
  /** Absolute path of the scenario file. */
  file: string;
  /** 1-based line of each field path (`attack.epsilon`, `inputs.synthetic.class[1]`). */
  lines: Record<string, number>;
}

/** An expectation: the metric must lie within [min, max]. */
export interface Expectation {
  metric: MetricName;
  min?: number;
  max?: number;
  /** Gate on the measured value (default) or on a bound of its 95% interval (rate metrics only). */
  bound?: 'value' | 'lower95' | 'upper95';
  /** Generator metrics: the concept (`concept_change`), the size (`units`) and the ranking whose curve is read. */
  concept?: string;
  units?: number;
  ranking?: 'iou' | 'causal' | 'greedy' | 'ace';
  /** `concept_inserted`: the contexts pooled (every placement when absent). */
  context?: string[];
  /** `insertion_ratio`: contexts above and below the line. */
  on?: string[];
  over?: string[];
}

/** Synthetic inputs: scenes of the built-in world. */
export interface SyntheticInputs {
  kind: 'synthetic';
  /** Classes to draw from; every class when undefined. */
  classes: string[] | undefined;
  count: number;
  seed: number;
  /** Render size; the model input size when undefined. */
  size: number | undefined;
}

/** One labelled image of a folder input. */
export interface LabelledFile {
  /** Absolute path. */
  file: string;
  /** As written in the labels file: a class name or a class index. */
  label: string | number;
  /** The line of the labels file that names it. */
  line: number;
}

/** Folder inputs: images with a labels file. */
export interface FolderInputs {
  kind: 'folder';
  folder: string;
  labelsFile: string;
  entries: LabelledFile[];
  fit: 'crop' | 'stretch';
}

/** A generator scenario's inputs: latents 0 … count − 1 of the stream `seed`. */
export interface LatentInputs {
  kind: 'latents';
  count: number;
  seed: number;
}

/** A generator's ablation, as the runner takes it. */
export interface GeneratorAblationTask {
  concept: string;
  sizes: number[];
  samples: number;
  seed: number;
  layer?: string;
  /** `builtin:NAME` or an absolute path. */
  segmenter: string;
  ranking: 'iou' | 'causal' | 'greedy' | 'ace' | 'both' | 'all';
  controlDraws: number;
  /** Latents each control draw is measured on (default: the library's). */
  controlSamples?: number;
  rankSamples?: number;
  causalSamples?: number;
  greedyCandidates?: number;
  greedyStep?: number;
  aceEpochs?: number;
  aceLearningRate?: number;
  acePenalty?: number;
  quantile?: number;
}

/** A generator's insertion, as the runner takes it. */
export interface GeneratorInsertionTask {
  concept: string;
  units: number;
  at?: [number, number];
  samples: number;
  seed: number;
  layer?: string;
  segmenter: string;
  /** The quantile of each unit's activations it is set to. */
  level?: number;
  rankSamples?: number;
}

/** The model a scenario tests. */
export interface ModelRef {
  /** `builtin:NAME` or an absolute path. */
  spec: string;
  preprocessing?: PreprocessPreset | Preprocessing;
  classes?: string[];
}

/** The attack block with its numbers read (ε and step size as numbers). */
export type ResolvedAttack = AttackBlock extends infer A ? A extends AttackBlock ? Omit<A, 'epsilon' | 'stepSize'> & { epsilon?: number; stepSize?: number } : never : never;

/** What a scenario does with its inputs. */
export type ScenarioTask =
  | { kind: 'attack'; attack: ResolvedAttack }
  | { kind: 'ablation'; ablation: AblationBlock }
  | { kind: 'gan-ablation'; ablation: GeneratorAblationTask }
  | { kind: 'insertion'; insertion: GeneratorInsertionTask }
  | { kind: 'fuzz'; fuzz: Omit<FuzzBlock, 'noise'> & { noise?: number } }
  | { kind: 'evaluate' };

/** A checked scenario, ready to run. Plain data (it crosses to worker threads). */
export interface Scenario {
  name: string;
  description?: string;
  /** Absolute path of the file it came from. */
  file: string;
  model: ModelRef;
  inputs: SyntheticInputs | FolderInputs | LatentInputs;
  allowErrors: number;
  dissection?: DissectionBlock;
  task: ScenarioTask;
  expectations: Expectation[];
  /** Example images in the HTML report. */
  reportImages: number;
  source: ScenarioSource;
}
