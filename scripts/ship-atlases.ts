/**
 * Makes the atlases shipped in `models/atlases/`: the dissection of every shipped scenario that dissects a built-in
 * model, computed with the scenario runner's own options, so that a first run of the scenario finds its atlas there
 * (keyed by model fingerprint, probe and parameters: any difference recomputes).
 *
 *   npx tsx scripts/ship-atlases.ts [scenarios/]
 *
 * Rerun it whenever a built-in model, the probe world or the dissection algorithm changes.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { dissect } from '../src/dissection/dissect.js';
import { SHIPPED_ATLASES } from '../src/dissection/cache.js';
import { initBackend } from '../src/engine/backend.js';
import { loadClassifier } from '../src/models/io.js';
import { withPool } from '../src/parallel/executor.js';
import { lazyPool } from '../src/parallel/index.js';
import { loadScenarios } from '../src/scenarios/load.js';
import { scenarioDissection } from '../src/scenarios/run.js';

await initBackend({});
const scenarios = (await loadScenarios([process.argv[2] ?? 'scenarios'])).filter((s) => s.dissection && s.model.spec.startsWith('builtin:') && !s.model.preprocessing && !s.model.classes);
const keep = new Set<string>();
for (const s of scenarios) {
  const clf = await loadClassifier(s.model.spec);
  const { probe, options } = scenarioDissection(s);
  const pool = lazyPool({ model: s.model.spec, classifier: clf, workers: 2 });
  try {
    const r = await withPool(pool, () => dissect(clf, probe, { ...options, cache: true, cacheDir: SHIPPED_ATLASES }));
    keep.add(path.basename(r.cacheFile!));
    console.log(`${s.name}: ${r.cached ? 'already shipped' : `dissected in ${r.seconds.toFixed(1)} s`} → ${path.relative(process.cwd(), r.cacheFile!)}`);
  } finally {
    await pool.close();
    clf.dispose();
  }
}
// Atlases no shipped scenario asks for any more go.
const dir = path.join(SHIPPED_ATLASES, 'dissect');
for (const f of await fs.readdir(dir)) {
  if (!keep.has(f)) { await fs.rm(path.join(dir, f)); console.log(`removed ${f} (no shipped scenario uses it)`); }
}
