import { describe, expect, it } from 'vitest';
import * as api from '../../src/scenarios/index.js';

describe('the public API of src/scenarios', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(api).sort()).toEqual([
      'BOUND_SLACK', 'CORRUPTION_ORDER', 'DEFAULT_REPORT_IMAGES', 'METRICS', 'METRIC_DESCRIPTIONS', 'ROOT_PATH', 'RunCache',
      'SCENARIO_EXTENSIONS', 'ScenarioError', 'assembleResults', 'checkScenarioFile', 'corrupt', 'corruptionArbitrary',
      'describeCorruption', 'displayPath', 'evaluateExpectation', 'exitCodeOf', 'formatIssue', 'formatPath', 'fuzzClassifier',
      'issueLocation', 'lineOf', 'listScenarioFiles', 'loadInputs', 'loadScenario', 'loadScenarios', 'metricsOf', 'parseScenario',
      'planWorkers', 'readFraction', 'readLabelsFile', 'runScenario', 'runScenarioFiles', 'runScenarios', 'safeParseScenario',
      'scenarioError', 'scenarioJsonSchema', 'scenarioSchema', 'stackImages', 'toolVersion',
    ]);
  });
});
