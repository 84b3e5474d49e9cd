import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

/**
 * The root export is the package's public API: adding a name is a decision (and a line here), removing one breaks
 * users. Stage folders export more for their own tests; those names stay out of the root.
 */
const PUBLIC_NAMES = [
  'BACKEND_NAMES', 'BUILTIN_GENERATORS', 'BUILTIN_MODELS', 'BUILTIN_SEGMENTERS', 'CONCEPT_NAMES', 'DEFAULT_EPSILONS', 'FeatureMoments',
  'METRICS', 'PREPROCESS_PRESETS', 'SCENE_CLASSES', 'ScenarioError', 'UnitAttackError',
  'ablateConcept', 'ablationCurves', 'apgd', 'atlasSummary', 'attackNames', 'autoattack', 'availableConcepts',
  'backendInfo', 'buildVgg16', 'calibrateScenario', 'checkGradientMasking', 'classImportance', 'cleanAccuracy', 'compareWithBaseline',
  'curveTable', 'cw', 'disposeUnitAttack', 'dissect', 'dissectGenerator', 'dissectShards', 'dissectionPlan', 'evaluateSegmenter', 'exitCodeOf', 'fgsm', 'formatEpsilon',
  'frechetDistance', 'fromGraphModel', 'fromLayersModel', 'fromSegmenterModel', 'fuzzClassifier', 'generatorFromModel', 'importModel',
  'initBackend', 'insertConcept', 'isUserError', 'l2', 'linf', 'listImages', 'loadAtlas', 'loadClassifier',
  'loadGenerator', 'loadImage', 'loadScenario', 'loadScenarios', 'loadSegmenter', 'measureGeneratorQuality', 'openImageFolder', 'openProbe',
  'parseEpsilon', 'parseScenario', 'pgd', 'psnr', 'readBrodenDataset', 'readImageRgb', 'readResults',
  'registerAttack', 'registerObjective', 'registerProbeKind', 'renderScene', 'renderScenes', 'robustAccuracy',
  'robustnessCurve', 'runAttack', 'runDissectionOnQueue', 'runScenario', 'runScenarioFiles', 'runScenarios', 'sampleScenes', 'saveAtlas',
  'saveGenerator', 'saveLayersModel', 'savePng', 'scenarioJsonSchema', 'square', 'ssim', 'stackImages', 'startPool', 'startQueueWorker',
  'targetedSuccess', 'tensorToRgb', 'terminalReport', 'trainScenesModel', 'trainSegmenter', 'unitAttack',
  'unitAttackCurve', 'unitEffect', 'unitsForClass', 'unitsForConcepts', 'untargetedSuccess', 'untrainedGenerator', 'wilsonInterval',
  'withPool', 'withSegmenter', 'writeAtlasReport', 'writeAttackReport', 'writeBrodenDataset', 'writeCurve', 'writeReports',
];

describe('the package root export', () => {
  it('exports exactly the curated names', () => {
    expect(Object.keys(api).sort()).toEqual(PUBLIC_NAMES);
  });

  it('keeps internals internal', () => {
    for (const name of ['chunksOf', 'hash32', 'workerScript', 'BOUND_SLACK', 'Rng', 'usageError', 'nearestNames', 'planWorkers']) {
      expect(Object.keys(api), name).not.toContain(name);
    }
  });

  // 100 when the list was curated; the generator's quality figures and the split dissection added five.
  it('stays a list a user can read (60 to 110 names)', () => {
    expect(PUBLIC_NAMES.length).toBeGreaterThanOrEqual(60);
    expect(PUBLIC_NAMES.length).toBeLessThanOrEqual(110);
  });

  it('exports every report writer the docs refer to', () => {
    expect(typeof api.writeReports).toBe('function');
    expect(typeof api.writeAtlasReport).toBe('function');
    expect(typeof api.writeAttackReport).toBe('function');
  });
});
