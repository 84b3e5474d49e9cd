/** The options, results and example pictures of a generator ablation (`ablateConcept` of `./ablate.ts`). */
import type { RgbImage } from '../data/images.js';
import type { Atlas } from '../dissection/atlas.js';
import type { RatioEstimate, Spread } from './measure.js';
import type { GanWorkerOptions } from './pool.js';
import type { UnitRanking } from './ranking.js';

export const GAN_ABLATION_FORMAT = 'unit-attack-gan-ablation';

/** The sizes of the PNAS figure (k = 0 … 30) with 1 added. */
export const DEFAULT_ABLATION_SIZES: readonly number[] = Object.freeze([0, 1, 2, 4, 8, 20, 30]);

export type RankingKind = 'iou' | 'causal' | 'greedy' | 'ace';

/** What `ranking` may ask for: one ranking, `both` (IoU and causal) or `all` four. */
export type RankingChoice = RankingKind | 'both' | 'all';

export const RANKING_CHOICES: readonly RankingChoice[] = Object.freeze(['iou', 'causal', 'greedy', 'ace', 'both', 'all']);

/** The rankings whose curves a choice measures. */
export function rankingKinds(choice: RankingChoice): RankingKind[] {
  return choice === 'both' ? ['iou', 'causal'] : choice === 'all' ? ['iou', 'causal', 'greedy', 'ace'] : [choice];
}

/** Random-unit draws per size of the control, by default. */
export const DEFAULT_CONTROL_DRAWS = 6;

/** Latents a control draw is measured on, by default (the first of the measured ones). */
export const DEFAULT_CONTROL_SAMPLES = 500;

/** Units a greedy step may add by default: the best of the single-unit causal ranking. */
export const DEFAULT_GREEDY_CANDIDATES = 40;

/** The ACE ranking's settings by default (`rankByAce`). */
export const DEFAULT_ACE = Object.freeze({ epochs: 25, learningRate: 0.04, penalty: 0.002 });

/** Options for {@link ablateConcept}. */
export interface AblateConceptOptions extends GanWorkerOptions {
  /** The concept whose units are zeroed (a concept of the segmenter). */
  concept: string;
  /** Numbers of top-ranked units zeroed. @defaultValue [0, 1, 2, 4, 8, 20, 30] */
  sizes?: readonly number[];
  /** Latents measured (numbers 0 … samples − 1 of the stream `seed`). @defaultValue 2000 */
  samples?: number;
  /** @defaultValue the generator's default layer */
  layer?: string;
  /** Seed of the latent stream and of the control draws. @defaultValue 1 */
  seed?: number;
  /**
   * Rankings whose curves are measured: by IoU (the PNAS way), causally (each unit's own removal), greedily (each
   * step adds the unit that removes most together with those already chosen; see `rankGreedy`), `both` (IoU and
   * causal), by average causal effect (`ace`: a coefficient per unit learned by gradient descent through the generator
   * and the segmenter; see `rankByAce`) or `all`. @defaultValue `both`
   */
  ranking?: RankingChoice;
  /** Random-unit draws per size. @defaultValue {@link DEFAULT_CONTROL_DRAWS} */
  controlDraws?: number;
  /**
   * Latents each control draw is measured on: the first ones of the measured latents (numbers 0 … controlSamples − 1),
   * paired like the curves. The control's uncertainty is mostly which units a draw picks, so more draws on fewer
   * latents estimate it better than a few draws on all of them, for less work. At most `samples`.
   * @defaultValue min(samples, {@link DEFAULT_CONTROL_SAMPLES})
   */
  controlSamples?: number;
  /** Held-out latents (numbers samples …) that rank units by IoU. @defaultValue 200 */
  rankSamples?: number;
  /**
   * Held-out latents (numbers samples …) that rank units causally (one generation per unit and latent), greedily
   * (one generation per candidate, step and latent) and by ACE (one forward and backward pass per latent and epoch).
   * @defaultValue 32
   */
  causalSamples?: number;
  /** Units a greedy step may add: the top of the single-unit causal ranking. @defaultValue 40 */
  greedyCandidates?: number;
  /** Units a greedy step adds (more is faster and coarser). @defaultValue 1 */
  greedyStep?: number;
  /** Passes of the ACE ranking over its latents. @defaultValue {@link DEFAULT_ACE.epochs} */
  aceEpochs?: number;
  /** Adam's learning rate in the ACE ranking. @defaultValue {@link DEFAULT_ACE.learningRate} */
  aceLearningRate?: number;
  /** Weight of the ACE ranking's penalty Σ α². @defaultValue {@link DEFAULT_ACE.penalty} */
  acePenalty?: number;
  /** Top quantile that sets each unit's threshold for the IoU ranking. @defaultValue 0.01 */
  quantile?: number;
  /** A dissection atlas of the layer: its thresholds and its IoU order rank the units (the PNAS way). */
  atlas?: Atlas;
  /** Confidence level of the intervals. @defaultValue 0.99 */
  level?: number;
  /** Latents per forward pass. @defaultValue 32 */
  batchSize?: number;
  /** Latents (the first ones) kept as before/after pictures. @defaultValue 4 */
  examples?: number;
  onProgress?: (p: { phase: 'iou ranking' | 'causal ranking' | 'greedy ranking' | 'ace ranking' | 'ablation'; done: number; total: number }) => void;
}

/** How a concept changed under an ablation: mean pixels per image before and after. */
export interface ConceptChange {
  before: number;
  after: number;
  /** `after / before − 1` (NaN when there was none before). */
  change: number;
}

/** One point of an ablation curve. */
export interface AblationPoint {
  n: number;
  units: number[];
  /** The portion of the concept's pixels removed, with its interval. */
  removed: RatioEstimate;
  /** Every concept seen before or after, by name. */
  concepts: Record<string, ConceptChange>;
}

/** The random-unit control of one size. */
export interface ControlPoint {
  n: number;
  draws: Array<{ seed: number; units: number[]; removed: number }>;
  /** Of the draws' portions removed. */
  removed: Spread;
  /** Every concept, pooled over the draws (before: over the control's latents). */
  concepts: Record<string, ConceptChange>;
}

/** What {@link ablateConcept} measured (JSON-ready; numbers may be NaN). */
export interface GeneratorAblation {
  format: typeof GAN_ABLATION_FORMAT;
  version: 1;
  generator: { name: string; fingerprint: string };
  segmenter: { name: string; fingerprint: string };
  layer: string;
  layerShape: [number, number, number];
  concept: { name: string; category: string };
  samples: number;
  seed: number;
  level: number;
  /** How the intervals are computed. */
  interval: string;
  /** Latent numbers (first, last) of the curves, of the controls and of the rankings. */
  latents: { measured: [number, number]; control: [number, number]; ranking: [number, number] };
  baseline: {
    /** Mean pixels of the concept per image, and its share of all pixels. */
    conceptPixels: number;
    conceptShare: number;
    imagePixels: number;
  };
  /** Each ranking measured (the causal one also when only the greedy one, which starts from it, is asked for). */
  rankings: Partial<Record<RankingKind, UnitRanking & { source: string; steps?: Array<{ added: number[]; removed: number }>; losses?: number[] }>>;
  curves: Partial<Record<RankingKind, AblationPoint[]>>;
  control: ControlPoint[];
  controlDraws: number;
  /** Latents each control draw was measured on (the first of the measured ones). */
  controlSamples: number;
  warnings: string[];
  seconds: number;
}

/** Before/after pictures of the first latents (not part of the JSON). */
export interface AblationExamples {
  latents: number[];
  before: RgbImage[];
  /** `after[ranking][k][j]`: size `sizes[k]` (n > 0 only, in order), latent j. */
  after: Partial<Record<RankingKind, RgbImage[][]>>;
  sizes: number[];
}
