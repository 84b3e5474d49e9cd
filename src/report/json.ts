/**
 * `results.json`: the run's results as JSON, its zod schema (used to read a `--baseline` and in tests), and the
 * encoding of numbers JSON cannot hold (NaN → `null`, ±Infinity → `"Infinity"` / `"-Infinity"`).
 */
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { inputError } from '../errors.js';
import { RESULTS_FORMAT, RESULTS_VERSION, type RunResults } from './types.js';

/** A number as written: finite, `null` for NaN, or a signed infinity as a string. */
const jsonNumber = z.union([z.number(), z.null(), z.literal('Infinity'), z.literal('-Infinity')])
  .transform((v) => (v === null ? Number.NaN : v === 'Infinity' ? Number.POSITIVE_INFINITY : v === '-Infinity' ? Number.NEGATIVE_INFINITY : v));

const threshold = z.object({ min: jsonNumber.optional(), max: jsonNumber.optional() });

const expectationSchema = z.object({
  metric: z.string(),
  measured: jsonNumber,
  threshold,
  bound: z.enum(['lower95', 'upper95']).optional(),
  compared: jsonNumber.optional(),
  passed: z.boolean(),
});

const intervalSchema = z.object({ lower: jsonNumber, upper: jsonNumber, count: z.number().int(), total: z.number().int(), level: z.number() });

const failureSchema = z.object({
  code: z.string(), message: z.string(), hint: z.string().optional(), path: z.string().optional(),
  file: z.string().optional(), line: z.number().int().optional(),
});

const imageSchema = z.object({
  id: z.string(), label: z.string(), cleanPrediction: z.string(), finalPrediction: z.string().optional(),
  success: z.boolean().optional(),
  files: z.partialRecord(z.enum(['original', 'adversarial', 'perturbation', 'heatmap', 'counterexample']), z.string()),
});

const scenarioSchema = z.object({
  name: z.string(),
  file: z.string(),
  description: z.string().optional(),
  status: z.enum(['passed', 'failed', 'error']),
  task: z.enum(['attack', 'ablation', 'insertion', 'fuzz', 'evaluate', 'invalid']),
  model: z.object({
    spec: z.string(), name: z.string(), fingerprint: z.string(), inputSize: z.tuple([z.number().int(), z.number().int()]),
    classes: z.number().int(),
  }).nullable(),
  expectations: z.array(expectationSchema),
  metrics: z.record(z.string(), jsonNumber),
  intervals: z.record(z.string(), intervalSchema).optional(),
  inputs: z.object({
    kind: z.enum(['synthetic', 'folder', 'latents']),
    total: z.number().int().nonnegative(),
    used: z.number().int().nonnegative(),
    errored: z.array(z.object({ id: z.string(), reason: z.string() })),
    allowErrors: z.number().int().nonnegative(),
  }),
  seeds: z.record(z.string(), z.number()),
  durations: z.record(z.string(), z.number().nonnegative()),
  details: z.record(z.string(), z.unknown()),
  warnings: z.array(z.string()),
  images: z.array(imageSchema),
  error: failureSchema.optional(),
});

const regressionSchema = z.object({
  scenario: z.string(), metric: z.string(), baseline: jsonNumber, measured: jsonNumber, tolerance: z.number(),
  better: z.enum(['higher', 'lower']),
});

/** The zod schema of `results.json` (version 1). Reading it turns encoded non-finite numbers back into numbers. */
export const resultsSchema = z.object({
  format: z.literal(RESULTS_FORMAT),
  version: z.literal(RESULTS_VERSION),
  created: z.string(),
  passed: z.boolean(),
  exitCode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]),
  summary: z.object({
    scenarios: z.number().int(), passed: z.number().int(), failed: z.number().int(), errored: z.number().int(),
    expectations: z.number().int(), failedExpectations: z.number().int(),
  }),
  tool: z.object({ name: z.string(), version: z.string() }),
  versions: z.record(z.string(), z.string()),
  backend: z.object({
    name: z.string(), reason: z.string(), tfjsVersion: z.string(), backendVersion: z.string(), threads: z.number(),
    simd: z.boolean().nullable(), fastKernels: z.array(z.string()),
  }).nullable(),
  durations: z.object({ total: z.number().nonnegative() }),
  options: z.object({ seed: z.number().optional(), path: z.string().optional(), workers: z.number().int().positive() }),
  baseline: z.object({
    file: z.string(), tolerance: z.record(z.string(), z.number()), compared: z.number().int(), regressions: z.array(regressionSchema),
  }).optional(),
  scenarios: z.array(scenarioSchema),
});

/** JSON text of results, with NaN as `null` and infinities as strings. */
export function resultsToJson(results: RunResults): string {
  return JSON.stringify(results, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? null : v > 0 ? 'Infinity' : '-Infinity';
    return v;
  }, 2) + '\n';
}

/** Checks parsed JSON against the results schema; `source` names the file in errors. */
export function parseResults(data: unknown, source = 'results.json'): RunResults {
  const d = data as { format?: unknown; version?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.format !== RESULTS_FORMAT) {
    throw inputError(`${source} is not a unit-attack results file (its "format" is ${JSON.stringify(d?.format)}, expected "${RESULTS_FORMAT}")`, {
      file: source, path: 'format', hint: 'pass the results.json that `unit-attack run --out DIR` wrote',
    });
  }
  if (d.version !== RESULTS_VERSION) {
    throw inputError(`${source} is a results file of version ${JSON.stringify(d.version)}; this unit-attack reads version ${RESULTS_VERSION}`, {
      file: source, path: 'version', hint: 'run the scenarios again with this version to make a new baseline',
    });
  }
  const r = resultsSchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 8).map((i) => `✖ ${i.message} → at ${i.path.join('.') || '(root)'}`);
    throw inputError(`${source} is not a valid results file:\n${lines.join('\n')}`, { file: source, path: r.error.issues[0]?.path.join('.') || '(root)' });
  }
  return r.data;
}

/** Reads and checks a `results.json`. */
export async function readResults(file: string): Promise<RunResults> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read the results file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`, { file, cause: err });
  }
  return parseResults(data, file);
}
