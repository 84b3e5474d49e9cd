import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHIPPED_ATLASES } from '../../src/dissection/cache.js';
import { dissect } from '../../src/dissection/dissect.js';
import { initBackend } from '../../src/engine/backend.js';
import { loadClassifier } from '../../src/models/io.js';
import { loadScenarios } from '../../src/scenarios/load.js';
import { scenarioDissection } from '../../src/scenarios/run.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('atlases shipped with the package', () => {
  it('serve the first run of every shipped scenario that dissects a built-in model, checked against its fingerprint', async () => {
    await initBackend({ backend: 'wasm' });
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-empty-cache-'));
    try {
      const scenarios = (await loadScenarios([path.join(root, 'scenarios')])).filter((s) => s.dissection && s.model.spec.startsWith('builtin:'));
      expect(scenarios.length).toBeGreaterThan(0);
      for (const s of scenarios) {
        const clf = await loadClassifier(s.model.spec);
        const { probe, options } = scenarioDissection(s);
        const r = await dissect(clf, probe, { ...options, cacheDir: empty });
        expect(r.cached, s.name).toBe(true);
        expect(r.cacheFile!.startsWith(SHIPPED_ATLASES), s.name).toBe(true);
        expect(r.atlas.fingerprint).toBe(clf.fingerprint);
        clf.dispose();
      }
      expect(await fs.readdir(empty)).toEqual([]); // nothing computed, nothing written
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });
});
