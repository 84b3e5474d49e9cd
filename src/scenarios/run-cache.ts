/**
 * What the scenarios of a run share: each model is loaded once and each dissection made (or read from its on-disk
 * cache) once, for every scenario that names them.
 */
import { dissect, type Atlas, type DissectOptions, type DissectProgress } from '../dissection/index.js';
import { UnitAttackError } from '../errors.js';
import { loadClassifier } from '../models/io.js';
import type { Classifier } from '../models/types.js';
import { scenarioError } from './errors.js';
import { issueAt } from './source.js';
import type { Scenario } from './types.js';

/** The probe and the options of a scenario's dissection, as the runner passes them to `dissect`. */
export function scenarioDissection(s: Scenario): { probe: string; options: DissectOptions } {
  const d = s.dissection!;
  return {
    probe: d.probe ?? 'builtin:scenes?count=500&seed=7',
    options: {
      ...(d.layer !== undefined ? { layer: d.layer } : {}),
      ...(d.quantile !== undefined ? { quantile: d.quantile } : {}),
      ...(d.iouThreshold !== undefined ? { iouThreshold: d.iouThreshold } : {}),
      ...(d.topN !== undefined ? { topN: d.topN } : {}),
      ...(d.metric !== undefined ? { metric: d.metric } : {}),
      ...(d.ranking !== undefined ? { ranking: d.ranking } : {}),
      ...(d.rankingClasses !== undefined ? { rankingClasses: d.rankingClasses } : {}),
      ...(d.seed !== undefined ? { seed: d.seed } : {}),
      ...(d.cache !== undefined ? { cache: d.cache } : {}),
    },
  };
}

/** Shared work of a run: models and dissections are loaded once and reused by every scenario that names them. */
export class RunCache {
  private readonly models = new Map<string, Promise<Classifier>>();
  private readonly atlases = new Map<string, Promise<{ atlas: Atlas; cached: boolean; seconds: number; cacheFile?: string }>>();

  /** The classifier of a scenario (loaded on first use). */
  model(s: Scenario): Promise<Classifier> {
    const key = JSON.stringify(s.model);
    let p = this.models.get(key);
    if (!p) {
      p = loadClassifier(s.model.spec, {
        ...(s.model.preprocessing !== undefined ? { preprocessing: s.model.preprocessing } : {}),
        ...(s.model.classes ? { classNames: s.model.classes } : {}),
      }).catch((err: unknown) => {
        this.models.delete(key);
        if (err instanceof UnitAttackError && err.code !== 'UA_INTERNAL') {
          const at = s.source.lines['model.path'] !== undefined ? ['model', 'path'] : ['model'];
          throw scenarioError(issueAt(s.source, 'unreadable', at, err.message, err.hint), err);
        }
        throw err;
      });
      this.models.set(key, p);
    }
    return p;
  }

  /** The atlas of a scenario's dissection (computed on first use, or read from the on-disk cache). */
  atlas(s: Scenario, clf: Classifier, onProgress?: (p: DissectProgress) => void, onWarning?: (m: string) => void): Promise<{ atlas: Atlas; cached: boolean; seconds: number; cacheFile?: string }> {
    const d = s.dissection!;
    const key = JSON.stringify([s.model, d]);
    let p = this.atlases.get(key);
    if (!p) {
      const { probe, options } = scenarioDissection(s);
      p = dissect(clf, probe, { ...options, ...(onProgress ? { onProgress } : {}), ...(onWarning ? { onWarning } : {}) }).then((r) => ({ atlas: r.atlas, cached: r.cached, seconds: r.seconds, ...(r.cacheFile ? { cacheFile: r.cacheFile } : {}) }))
        .catch((err: unknown) => {
          this.atlases.delete(key);
          if (err instanceof UnitAttackError && (err.code === 'UA_USAGE' || err.code === 'UA_LAYER' || err.code === 'UA_INPUT')) {
            const field = err.path === 'layer' ? 'layer' : err.path === 'probe' ? 'probe' : undefined;
            throw scenarioError(issueAt(s.source, err.code === 'UA_INPUT' ? 'unreadable' : 'invalid_value', field ? ['dissection', field] : ['dissection'], err.message, err.hint), err);
          }
          throw err;
        });
      this.atlases.set(key, p);
    }
    return p;
  }

  /** Frees every model. */
  async dispose(): Promise<void> {
    for (const p of this.models.values()) {
      try {
        (await p).dispose();
      } catch { /* a model that failed to load holds nothing */ }
    }
    this.models.clear();
    this.atlases.clear();
  }
}
