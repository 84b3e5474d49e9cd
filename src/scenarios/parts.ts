/**
 * A scenario run split over jobs: `unit-attack run FILES --shard i/N --out DIR` runs part i of the scenario list
 * (a contiguous block, in the list's fixed order) and writes its reports plus `run-part.json`; `unit-attack merge`
 * puts the parts back together into one `results.json`, `junit.xml` and report, with one exit code for the gate.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { inputError, usageError } from '../errors.js';
import type { ReportImage, RunOutput, RunResults, ScenarioArtifacts } from '../report/types.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { assembleResults } from './results.js';
import type { RunScenariosOptions } from './run.js';

/** The file in a part's report folder that says which part it is. */
export const RUN_PART_FILE = 'run-part.json';
export const RUN_PART_FORMAT = 'unit-attack-run-part';

/** What `run-part.json` holds. */
export interface RunPart {
  format: typeof RUN_PART_FORMAT;
  version: 1;
  part: number;
  of: number;
  /** The names of every scenario of the whole run, in order (the same list in every part). */
  plan: string[];
  /** This part's scenarios (a contiguous block of `plan`). */
  scenarios: string[];
  /** Each scenario's plots (SVG), which results.json does not hold. */
  plots: Record<string, Array<{ title: string; svg: string }>>;
}

/** The block of `count` items that part `index` of `of` takes: `[from, to)`. */
export function partRange(count: number, index: number, of: number): [number, number] {
  return [Math.floor((index * count) / of), Math.floor(((index + 1) * count) / of)];
}

/** The part file of a run part's output. */
export function runPartOf(part: number, of: number, plan: readonly string[], output: RunOutput): RunPart {
  return {
    format: RUN_PART_FORMAT, version: 1, part, of, plan: [...plan],
    scenarios: output.results.scenarios.map((s) => s.name),
    plots: Object.fromEntries(output.results.scenarios.map((s, i) => [s.name, output.artifacts[i]?.plots ?? []])),
  };
}

/** Writes `run-part.json` into a part's report folder (after its reports). */
export async function writeRunPart(dir: string, part: RunPart): Promise<string> {
  const file = path.join(dir, RUN_PART_FILE);
  await writeJsonAtomic(file, part);
  return file;
}

interface ReadPart { dir: string; part: RunPart; results: RunResults }

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw inputError(`cannot read ${what} '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, hint: 'merge the --out folders of `unit-attack run … --shard i/N`', cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw inputError(`'${file}' is not valid JSON: ${(err as Error).message}`, { file, hint: 'it was torn or changed; run that part again', cause: err });
  }
}

/** Reads one part's folder: its part file and results, checked against each other. */
export async function readRunPart(dir: string): Promise<ReadPart> {
  const file = path.join(dir, RUN_PART_FILE);
  const part = await readJson(file, 'the part file') as Partial<RunPart>;
  if (part.format !== RUN_PART_FORMAT || !Array.isArray(part.plan) || !Array.isArray(part.scenarios) || typeof part.part !== 'number' || typeof part.of !== 'number') {
    throw inputError(`'${file}' is not a run part file (format ${JSON.stringify(part.format)})`, { file, hint: 'it is written by `unit-attack run … --shard i/N --out DIR`' });
  }
  const resultsFile = path.join(dir, 'results.json');
  const results = await readJson(resultsFile, 'the results') as RunResults;
  const names = (results.scenarios ?? []).map((s) => s.name);
  if (JSON.stringify(names) !== JSON.stringify(part.scenarios)) {
    throw inputError(`'${resultsFile}' does not hold the scenarios its part file names (${part.scenarios.join(', ')})`, { file: resultsFile, hint: 'the folder mixes two runs; run that part again into an empty folder' });
  }
  return { dir, part: part as RunPart, results };
}

/** The images of one scenario, read back from the files its records name. */
async function imagesOf(dir: string, result: RunResults['scenarios'][number]): Promise<ReportImage[][]> {
  const out: ReportImage[][] = [];
  for (const rec of result.images) {
    const pics: ReportImage[] = [];
    for (const [role, rel] of Object.entries(rec.files)) {
      if (rel === undefined) continue;
      const file = path.join(dir, rel);
      const png = await fs.readFile(file).catch((err: unknown) => {
        throw inputError(`the image '${file}' of scenario '${result.name}' is missing: ${(err as Error).message}`, { file, hint: 'copy the part\'s whole --out folder, images/ included' });
      });
      pics.push({ role: role as ReportImage['role'], png: new Uint8Array(png) });
    }
    out.push(pics);
  }
  return out;
}

/**
 * Merges the parts written by `run --shard i/N` (folders, in any order; a part given twice counts once) into one
 * run's output: every scenario in the plan's order, the summary and exit code of the whole, the baseline compared
 * on the whole. Errors name missing parts, and parts of different runs.
 */
export async function mergeRunParts(dirs: readonly string[], options: Pick<RunScenariosOptions, 'baseline'> = {}): Promise<RunOutput> {
  const parts = await Promise.all(dirs.map((d) => readRunPart(d)));
  const first = parts[0];
  if (!first) throw usageError('name the folders of the parts to merge', { path: 'dirs' });
  for (const p of parts.slice(1)) {
    if (p.part.of !== first.part.of || JSON.stringify(p.part.plan) !== JSON.stringify(first.part.plan)) {
      throw usageError(`'${p.dir}' and '${first.dir}' are parts of different runs (${p.part.of !== first.part.of ? `${p.part.of} parts ≠ ${first.part.of}` : 'their scenario lists differ'})`, {
        path: 'dirs', file: path.join(p.dir, RUN_PART_FILE), hint: 'merge the parts of one run: every --shard job of the same scenario files and the same N',
      });
    }
  }
  const byPart = new Map<number, ReadPart>();
  for (const p of parts) byPart.set(p.part.part, p);
  const missing = Array.from({ length: first.part.of }, (_, i) => i).filter((i) => !byPart.has(i));
  if (missing.length > 0) {
    throw usageError(`parts ${missing.map((i) => `${i}/${first.part.of}`).join(', ')} of the run are missing`, {
      path: 'dirs', hint: `run them (unit-attack run … --shard ${missing[0]}/${first.part.of} --out DIR) and merge every part's folder`,
    });
  }
  const scenarios: RunResults['scenarios'] = [];
  const artifacts: ScenarioArtifacts[] = [];
  let seconds = 0;
  let created = Number.POSITIVE_INFINITY;
  for (let i = 0; i < first.part.of; i++) {
    const p = byPart.get(i) as ReadPart;
    seconds += p.results.durations?.total ?? 0;
    created = Math.min(created, Date.parse(p.results.created) || Number.POSITIVE_INFINITY);
    for (const s of p.results.scenarios) {
      scenarios.push(s);
      artifacts.push({ images: await imagesOf(p.dir, s), plots: p.part.plots[s.name] ?? [] });
    }
  }
  const names = scenarios.map((s) => s.name);
  if (JSON.stringify(names) !== JSON.stringify(first.part.plan)) {
    throw inputError(`the parts hold the scenarios ${names.join(', ')}, not the run's ${first.part.plan.join(', ')}`, { hint: 'run every part again into empty folders' });
  }
  for (const s of scenarios) for (const rec of s.images) rec.files = {};
  const results = assembleResults(scenarios, { workers: first.results.options?.workers ?? 1, ...(options.baseline ? { baseline: options.baseline } : {}) },
    new Date(Number.isFinite(created) ? created : Date.now()), seconds);
  return { results, artifacts };
}
