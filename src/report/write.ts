/**
 * Writes a run's reports into a folder: the example images as PNG files, `results.json`, `junit.xml` and the
 * self-contained `report.html`. Every file is written under a temporary name and renamed into place, so an
 * interrupted run leaves each report either as it was or complete — never half written.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UnitAttackError } from '../errors.js';
import { writeAtomic } from '../util/atomic.js';
import { htmlReport } from './html.js';
import { resultsToJson } from './json.js';
import { junitXml } from './junit.js';
import type { RunOutput, RunResults } from './types.js';

/** The report files, by name inside the folder. */
export const REPORT_FILES = { results: 'results.json', junit: 'junit.xml', html: 'report.html', images: 'images' } as const;

/** Where {@link writeReports} put the reports (absolute paths). */
export interface WrittenReports {
  dir: string;
  results: string;
  junit: string;
  html: string;
  images: string[];
  /** The results as written, with the image paths filled in. */
  written: RunResults;
}

function safeName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 60) || 'x';
}

/** Removes temporary files an interrupted earlier write may have left (`name.tmp-PID-XXXX`). */
async function removeStaleTemporaries(dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => /\.tmp-\d+-[a-z0-9]+$/.test(n)).map((n) => fs.rm(path.join(dir, n), { force: true })));
}

/**
 * Writes the reports of a run into `dir` (created if needed).
 *
 * @example
 * const files = await writeReports(output, 'out');
 * console.log(`report: ${files.html}`);
 */
export async function writeReports(output: RunOutput, dir: string): Promise<WrittenReports> {
  const abs = path.resolve(dir);
  try {
    await fs.mkdir(abs, { recursive: true });
  } catch (err) {
    throw new UnitAttackError('UA_IO', `cannot create the report folder '${dir}': ${(err as Error).message}`, { file: dir, cause: err, path: 'dir' });
  }
  await removeStaleTemporaries(abs);
  const images: string[] = [];
  const scenarios = structuredClone(output.results.scenarios);
  const usedDirs = new Set<string>();
  for (let i = 0; i < scenarios.length; i++) {
    const s = scenarios[i];
    const pics = output.artifacts[i]?.images ?? [];
    if (pics.every((p) => p.length === 0)) continue;
    let sub = safeName(s.name);
    while (usedDirs.has(sub)) sub += '_';
    usedDirs.add(sub);
    const folder = path.join(abs, REPORT_FILES.images, sub);
    await fs.mkdir(folder, { recursive: true });
    await removeStaleTemporaries(folder);
    for (let k = 0; k < s.images.length; k++) {
      const rec = s.images[k];
      for (const pic of pics[k] ?? []) {
        const name = `${String(k).padStart(2, '0')}-${safeName(path.basename(rec.id))}-${pic.role}.png`;
        const file = path.join(folder, name);
        await writeAtomic(file, pic.png);
        images.push(file);
        rec.files[pic.role] = path.posix.join(REPORT_FILES.images, sub, name);
      }
    }
  }
  const written: RunResults = { ...output.results, scenarios };
  const results = path.join(abs, REPORT_FILES.results);
  const junit = path.join(abs, REPORT_FILES.junit);
  const html = path.join(abs, REPORT_FILES.html);
  await writeAtomic(results, resultsToJson(written));
  await writeAtomic(junit, junitXml(written));
  await writeAtomic(html, htmlReport({ results: written, artifacts: output.artifacts }));
  return { dir: abs, results, junit, html, images, written };
}
