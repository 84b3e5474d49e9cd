/**
 * The unit atlas: what dissection found, as a versioned JSON document (schema in `docs/atlas.md`), validated with
 * zod on load, plus CSV views and the lookups the attacks use to pick units by concept or by class.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UnitAttackError, inputError, nearestNames, usageError } from '../errors.js';
import { writeAtomic } from '../util/atomic.js';
import type { AblationCurve, ClassImportance } from './importance.js';
import type { ClassGradient } from './gradients.js';

export const ATLAS_FORMAT = 'unit-attack-atlas';
export const ATLAS_VERSION = 1;

/** A top-activating probe image of a unit. */
export interface AtlasTopImage {
  /** Index in the probe set (reopen the probe with `atlas.probe.spec` to get the image). */
  index: number;
  id: string;
  /** The unit's spatial maximum on this image (raw activation). */
  value: number;
  /** The unit's raw activation map on this image, row-major `layerShape[0] × layerShape[1]`. */
  map: number[];
}

/** The best concept of a category for a unit. */
export interface ConceptMatch {
  concept: string;
  category: string;
  iou: number;
  /**
   * The best IoU a mask of the unit's active size could reach against this concept's mask, `min(|A|, |M|) / max(|A|,
   * |M|)` (see `iouCeiling`). Absent in atlases made before it.
   */
  ceiling?: number;
  /** With `params.threshold: 'iqr'`: the activation level chosen for this concept, the top fraction of pixels it keeps, and its information quality ratio. */
  threshold?: number;
  level?: number;
  iqr?: number;
}

/** One unit of the dissected layer. */
export interface AtlasUnit {
  unit: number;
  /** Activation level above which a pixel counts as active (the top-quantile level of the upsampled activations). */
  threshold: number;
  /** The unit's label: its best concept when that IoU exceeds `params.iouThreshold`, else null. */
  concept: string | null;
  category: string | null;
  /** The best IoU over all concepts (also when below the threshold). */
  iou: number;
  /** The IoU ceiling of the best concept (see {@link ConceptMatch.ceiling}). */
  ceiling?: number;
  /** The unit's activation at a few high quantiles of its upsampled values, by quantile (`"0.99"`, `"0.995"`, `"0.999"`). */
  levels?: Record<string, number>;
  /** Best concept per category, whatever its IoU. */
  perCategory: Record<string, { concept: string; iou: number }>;
  /** The few best concepts overall, best first. */
  topConcepts: ConceptMatch[];
  topImages: AtlasTopImage[];
}

/** A concept of the probe set with the number of its pixels at label resolution. */
export interface AtlasConcept {
  id: number;
  name: string;
  category: string;
  pixels: number;
}

/** Everything dissection records. Numbers that are undefined (e.g. an accuracy with no images) are NaN. */
export interface Atlas {
  format: typeof ATLAS_FORMAT;
  version: typeof ATLAS_VERSION;
  model: string;
  fingerprint: string;
  layer: string;
  /** Output shape of the layer without the batch axis, e.g. `[6, 6, 128]`. */
  layerShape: number[];
  inputSize: [number, number];
  labelSize: [number, number];
  /** The model's classes. */
  classes: string[];
  probe: {
    spec: string; kind: string; count: number; used: number; concepts: AtlasConcept[];
    /** The segmenter that labelled the probe images, when label maps came from one (`dissect --segmenter`). */
    segmenter?: { name: string; fingerprint: string };
  };
  params: {
    quantile: number;
    iouThreshold: number;
    topN: number;
    topImages: number;
    metric: 'logprob' | 'accuracy';
    trainFraction: number;
    sketchK: number;
    seed: number;
    importance: boolean;
    /** `greedy` when class importance was re-ranked greedily (absent: single-unit ablation, as in PNAS). */
    ranking?: 'single' | 'greedy';
    /** The classes re-ranked greedily (absent: every class). */
    rankingClasses?: string[];
    /**
     * How active regions are chosen: `quantile` (each unit's top-quantile level, PNAS) or `iqr` (per unit and concept,
     * the level of highest information quality ratio, GAN Dissection). Absent: `quantile`.
     */
    threshold?: 'quantile' | 'iqr';
  };
  /** Probe images skipped because they could not be read. */
  skipped: number;
  skippedIds: string[];
  units: AtlasUnit[];
  classImportance: Record<string, ClassImportance & { split: 'train' }>;
  ablation: Record<string, AblationCurve & { split: 'heldout' }>;
  /**
   * Per class, the class gradients of the units on its training-split images (see `classGradients`): the unit
   * attack's default way to pick units for a source and a target class. Absent in atlases made before them.
   */
  classGradients?: Record<string, ClassGradient & { split: 'train' }>;
  /** Why class importance is missing, when it is. */
  importanceNote?: string;
  /** For a generator's atlas: the latent stream of its samples (latents `0 … probe.count − 1` of `seed`) and its output range. */
  generator?: { latentSize: number; seed: number; outputRange: [number, number] };
  created: string;
  tool: { name: string; version: string; backend: string };
}

// ---- schema ----

const num = z.union([z.number(), z.null()]).transform((v) => (v === null ? NaN : v));
const nonneg = z.number().int().nonnegative();

const unitSchema = z.object({
  unit: nonneg,
  threshold: num,
  concept: z.string().nullable(),
  category: z.string().nullable(),
  iou: num,
  ceiling: num.optional(),
  levels: z.record(z.string(), num).optional(),
  perCategory: z.record(z.string(), z.object({ concept: z.string(), iou: num })),
  topConcepts: z.array(z.object({
    concept: z.string(), category: z.string(), iou: num,
    ceiling: num.optional(), threshold: num.optional(), level: num.optional(), iqr: num.optional(),
  })),
  topImages: z.array(z.object({ index: nonneg, id: z.string(), value: num, map: z.array(num) })),
});

const importanceSchema = z.object({
  ranking: z.array(nonneg), drops: z.array(num), count: nonneg, split: z.literal('train'),
});

const ablationSchema = z.object({
  N: z.array(nonneg), ablateAccuracy: z.array(num), keepAccuracy: z.array(num), othersAccuracy: z.array(num),
  baseAccuracy: num, baseOthersAccuracy: num, count: nonneg, split: z.literal('heldout'),
});

const gradientSchema = z.object({
  count: nonneg, gain: z.array(z.array(num)), attribution: z.array(z.array(num)), split: z.literal('train'),
});

/** The zod schema of version 1. */
export const atlasSchema = z.object({
  format: z.literal(ATLAS_FORMAT),
  version: z.literal(ATLAS_VERSION),
  model: z.string(),
  fingerprint: z.string(),
  layer: z.string(),
  layerShape: z.array(nonneg),
  inputSize: z.tuple([nonneg, nonneg]),
  labelSize: z.tuple([nonneg, nonneg]),
  classes: z.array(z.string()),
  probe: z.object({
    spec: z.string(), kind: z.string(), count: nonneg, used: nonneg,
    concepts: z.array(z.object({ id: nonneg, name: z.string(), category: z.string(), pixels: z.number().nonnegative() })),
    segmenter: z.object({ name: z.string(), fingerprint: z.string() }).optional(),
  }),
  params: z.object({
    quantile: z.number().gt(0).lt(1),
    iouThreshold: z.number().min(0).max(1),
    topN: nonneg,
    topImages: nonneg,
    metric: z.enum(['logprob', 'accuracy']),
    trainFraction: z.number().min(0).max(1),
    sketchK: nonneg,
    seed: z.number().int(),
    importance: z.boolean(),
    ranking: z.enum(['single', 'greedy']).optional(),
    rankingClasses: z.array(z.string()).optional(),
    threshold: z.enum(['quantile', 'iqr']).optional(),
  }),
  skipped: nonneg,
  skippedIds: z.array(z.string()),
  units: z.array(unitSchema),
  classImportance: z.record(z.string(), importanceSchema),
  ablation: z.record(z.string(), ablationSchema),
  classGradients: z.record(z.string(), gradientSchema).optional(),
  importanceNote: z.string().optional(),
  generator: z.object({ latentSize: nonneg, seed: z.number().int(), outputRange: z.tuple([z.number(), z.number()]) }).optional(),
  created: z.string(),
  tool: z.object({ name: z.string(), version: z.string(), backend: z.string() }),
});

/**
 * Checks a parsed JSON value against the atlas schema. `source` names the file in errors.
 * Throws a `UA_INPUT` error naming the file and both versions when the version differs.
 */
export function parseAtlas(data: unknown, source = 'atlas'): Atlas {
  const d = data as { format?: unknown; version?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.format !== ATLAS_FORMAT) {
    throw inputError(`${source} is not a unit-attack atlas (its "format" is ${JSON.stringify(d?.format)}, expected "${ATLAS_FORMAT}")`, {
      file: source, path: 'format', hint: 'make one with `unit-attack dissect`',
    });
  }
  if (d.version !== ATLAS_VERSION) {
    throw inputError(`${source} is an atlas of version ${JSON.stringify(d.version)}; this unit-attack reads version ${ATLAS_VERSION}`, {
      file: source, path: 'version', hint: 'run `unit-attack dissect` again with this version to rebuild it',
    });
  }
  const r = atlasSchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 8).map((i) => `✖ ${i.message} → at ${i.path.join('.') || '(root)'}`);
    throw inputError(`${source} is not a valid atlas:\n${lines.join('\n')}`, { file: source, path: r.error.issues[0]?.path.join('.') });
  }
  // Class gradients are indexed by class and unit: their shape must match the atlas's classes and units.
  for (const [cls, g] of Object.entries(r.data.classGradients ?? {})) {
    for (const key of ['gain', 'attribution'] as const) {
      const rows = g[key];
      if (rows.length !== r.data.classes.length || rows.some((row) => row.length !== r.data.units.length)) {
        throw inputError(`${source}: classGradients.${cls}.${key} must hold ${r.data.classes.length} rows (one per class) of ${r.data.units.length} numbers (one per unit)`, {
          file: source, path: `classGradients.${cls}.${key}`, hint: 'run `unit-attack dissect` again to rebuild the atlas',
        });
      }
    }
  }
  return r.data;
}

/** Reads and validates an atlas file. */
export async function loadAtlas(file: string): Promise<Atlas> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read the atlas '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`, { file, cause: err });
  }
  return parseAtlas(data, file);
}

/** Writes an atlas as JSON, atomically (arrays of numbers stay on one line). */
export async function saveAtlas(atlas: Atlas, file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true }).catch((err: unknown) => {
    throw new UnitAttackError('UA_IO', `cannot create the folder of '${file}': ${(err as Error).message}`, { file, cause: err });
  });
  await writeAtomic(file, atlasToJson(atlas));
}

/** The atlas as JSON text: indented objects, arrays of plain values on one line, NaN as null. */
export function atlasToJson(atlas: Atlas): string {
  return stringify(atlas, '') + '\n';
}

function stringify(v: unknown, indent: string): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v !== 'object') return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return '[' + v.map((x) => stringify(x, inner)).join(', ') + ']';
    if (v.length === 0) return '[]';
    return '[\n' + v.map((x) => inner + stringify(x, inner)).join(',\n') + '\n' + indent + ']';
  }
  const entries = Object.entries(v).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return '{\n' + entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${stringify(x, inner)}`).join(',\n') + '\n' + indent + '}';
}

// ---- lookups for the attacks ----

/** Options for {@link unitsForConcepts}. */
export interface UnitsForConceptsOptions {
  /**
   * Also take units whose best concept *in some category* is the concept with an IoU above the atlas's threshold,
   * not only units labelled with it. @defaultValue false
   */
  perCategory?: boolean;
}

/**
 * Units labelled with any of the concepts, best IoU first. A concept no unit stands for throws a usage error
 * that lists the concepts the atlas has units for.
 *
 * @example
 * const snowUnits = unitsForConcepts(atlas, ['snow']);
 */
export function unitsForConcepts(atlas: Atlas, names: readonly string[], options: UnitsForConceptsOptions = {}): number[] {
  const matches = new Map<number, number>();
  for (const name of names) {
    let found = false;
    for (const u of atlas.units) {
      let iou: number | undefined;
      if (u.concept === name) iou = u.iou;
      else if (options.perCategory) {
        const m = Object.values(u.perCategory).find((c) => c.concept === name && c.iou > atlas.params.iouThreshold);
        if (m) iou = m.iou;
      }
      if (iou !== undefined) { found = true; matches.set(u.unit, Math.max(iou, matches.get(u.unit) ?? -Infinity)); }
    }
    if (!found) {
      const available = availableConcepts(atlas, options.perCategory ?? false);
      throw usageError(`no unit of layer '${atlas.layer}' stands for the concept '${name}'`, {
        path: 'concepts',
        hint: available.length === 0
          ? 'the atlas labels no unit at all; try a lower --iou-threshold or another layer'
          : `concepts with units: ${available.join(', ')}` + (nearestNames(name, available, 1)[0] ? ` (nearest: ${nearestNames(name, available, 1)[0]})` : ''),
      });
    }
  }
  return [...matches.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([u]) => u);
}

/** Concepts that label at least one unit, sorted by name. */
export function availableConcepts(atlas: Atlas, perCategory = false): string[] {
  const s = new Set<string>();
  for (const u of atlas.units) {
    if (u.concept !== null) s.add(u.concept);
    if (perCategory) for (const c of Object.values(u.perCategory)) if (c.iou > atlas.params.iouThreshold) s.add(c.concept);
  }
  return [...s].sort();
}

/**
 * The `n` units most important to class `cls` (by class importance, most important first).
 *
 * @example
 * const skiUnits = unitsForClass(atlas, 'ski_resort', 10);
 */
export function unitsForClass(atlas: Atlas, cls: string, n: number): number[] {
  const imp = atlas.classImportance[cls];
  if (!imp) {
    const have = Object.keys(atlas.classImportance);
    throw usageError(`the atlas has no class importance for '${cls}'`, {
      path: 'class',
      hint: have.length === 0 ? (atlas.importanceNote ?? 'dissect with a probe set whose images have classes')
        : `classes: ${have.join(', ')}` + (nearestNames(cls, have, 1)[0] ? ` (nearest: ${nearestNames(cls, have, 1)[0]})` : ''),
    });
  }
  if (!Number.isInteger(n) || n < 1 || n > imp.ranking.length) {
    throw usageError(`n must be an integer in 1…${imp.ranking.length}, got ${String(n)}`, { path: 'n' });
  }
  return imp.ranking.slice(0, n);
}

// ---- CSV ----

function csvCell(v: unknown): string {
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : '';
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const csv = (rows: unknown[][]): string => rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';

/** CSV views of an atlas: one row per unit, per (class, rank) of importance, and per (class, N) of ablation. */
export function atlasToCsv(atlas: Atlas): { units: string; importance: string; ablation: string } {
  const cats = [...new Set(atlas.probe.concepts.map((c) => c.category))];
  const units = csv([
    ['unit', 'threshold', 'concept', 'category', 'iou', ...cats.flatMap((c) => [`${c}_concept`, `${c}_iou`]), 'top_images'],
    ...atlas.units.map((u) => [
      u.unit, u.threshold, u.concept ?? '', u.category ?? '', round(u.iou),
      ...cats.flatMap((c) => [u.perCategory[c]?.concept ?? '', u.perCategory[c] ? round(u.perCategory[c].iou) : '']),
      u.topImages.map((t) => t.id).join(' '),
    ]),
  ]);
  const importance = csv([
    ['class', 'rank', 'unit', 'drop', 'concept'],
    ...Object.entries(atlas.classImportance).flatMap(([cls, imp]) =>
      imp.ranking.map((u, i) => [cls, i + 1, u, round(imp.drops[i]), atlas.units[u]?.concept ?? ''])),
  ]);
  const ablation = csv([
    ['class', 'N', 'ablate_accuracy', 'keep_accuracy', 'others_accuracy', 'base_accuracy', 'base_others_accuracy'],
    ...Object.entries(atlas.ablation).flatMap(([cls, a]) =>
      a.N.map((N, i) => [cls, N, round(a.ablateAccuracy[i]), round(a.keepAccuracy[i]), round(a.othersAccuracy[i]), round(a.baseAccuracy), round(a.baseOthersAccuracy)])),
  ]);
  return { units, importance, ablation };
}

function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : NaN;
}

// ---- summary ----

/** Counts and a one-line headline of an atlas, for terminals and reports. */
export interface AtlasSummary {
  units: number;
  /** Units with a concept label. */
  labelled: number;
  /** Concepts that label units, most units first. */
  concepts: Array<{ concept: string; category: string; units: number }>;
  /** Labelled units per category. */
  categories: Record<string, number>;
  /** The N the ablation figures are given at (10, or less when the curves are shorter). */
  ablationN?: number;
  /** Means over classes: accuracy with no edit, with the class's top-N units ablated, of the other classes, with only the top-N kept. */
  meanBase?: number;
  meanAblated?: number;
  meanOthers?: number;
  meanKept?: number;
  /** The class whose accuracy falls most at N. */
  largest?: { cls: string; base: number; ablated: number; others: number };
  headline?: string;
}

/** Summarises an atlas: labels, concepts covered and the ablation headline. */
export function atlasSummary(atlas: Atlas): AtlasSummary {
  const byConcept = new Map<string, { concept: string; category: string; units: number }>();
  const categories: Record<string, number> = {};
  let labelled = 0;
  for (const u of atlas.units) {
    if (u.concept === null) continue;
    labelled++;
    const e = byConcept.get(u.concept) ?? { concept: u.concept, category: u.category ?? '', units: 0 };
    e.units++;
    byConcept.set(u.concept, e);
    categories[u.category ?? ''] = (categories[u.category ?? ''] ?? 0) + 1;
  }
  const s: AtlasSummary = {
    units: atlas.units.length, labelled, categories,
    concepts: [...byConcept.values()].sort((a, b) => b.units - a.units || a.concept.localeCompare(b.concept)),
  };
  const curves = Object.entries(atlas.ablation);
  if (curves.length === 0) return s;
  const N = Math.min(10, ...curves.map(([, a]) => a.N.length));
  if (N < 1) return s;
  const mean = (xs: number[]): number => {
    const f = xs.filter(Number.isFinite);
    return f.length > 0 ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
  };
  s.ablationN = N;
  s.meanBase = mean(curves.map(([, a]) => a.baseAccuracy));
  s.meanAblated = mean(curves.map(([, a]) => a.ablateAccuracy[N - 1]));
  s.meanOthers = mean(curves.map(([, a]) => a.othersAccuracy[N - 1]));
  s.meanKept = mean(curves.map(([, a]) => a.keepAccuracy[N - 1]));
  const [cls, a] = curves.reduce((best, cur) =>
    (cur[1].baseAccuracy - cur[1].ablateAccuracy[N - 1] > best[1].baseAccuracy - best[1].ablateAccuracy[N - 1] ? cur : best));
  s.largest = { cls, base: a.baseAccuracy, ablated: a.ablateAccuracy[N - 1], others: a.othersAccuracy[N - 1] };
  const f2 = (x: number | undefined): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(2) : '–');
  s.headline = `Ablating each class's top ${N} units cuts its held-out accuracy from ${f2(s.meanBase)} to ${f2(s.meanAblated)} on average `
    + `(other classes: ${f2(s.meanOthers)}; keeping only those ${N} units: ${f2(s.meanKept)}). `
    + `Largest fall: ${cls} ${f2(s.largest.base)} → ${f2(s.largest.ablated)} (others ${f2(s.largest.others)}).`;
  return s;
}
