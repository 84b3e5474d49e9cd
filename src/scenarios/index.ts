/**
 * Scenarios: the scenario file schema (zod, published as JSON Schema), the loader that names file, line and field
 * for every problem, the runner that shares models and dissections between scenarios, property-based fuzzing with
 * corruptions, and the verdicts that gate a model in CI.
 */
export {
  METRICS, METRIC_DESCRIPTIONS, scenarioSchema, scenarioJsonSchema, readFraction,
  type MetricName, type ScenarioFile, type AttackBlock, type UnitAttackBlock, type FuzzBlock, type AblationBlock, type DissectionBlock,
} from './schema.js';
export {
  ScenarioError, scenarioError, formatIssue, issueLocation, displayPath, ROOT_PATH,
  type ScenarioIssue, type ScenarioIssueCode,
} from './errors.js';
export {
  parseScenario, safeParseScenario, loadScenario, loadScenarios, listScenarioFiles, readLabelsFile, formatPath, lineOf,
  SCENARIO_EXTENSIONS, DEFAULT_REPORT_IMAGES,
} from './load.js';
export { checkScenarioFile, metricsOf, type FieldIssue } from './check.js';
export type {
  Scenario, ScenarioSource, ScenarioTask, Expectation, SyntheticInputs, FolderInputs, LabelledFile, ModelRef, ResolvedAttack,
} from './types.js';
export {
  runScenarios, runScenarioFiles, runScenario, RunCache, evaluateExpectation, exitCodeOf, assembleResults, toolVersion, BOUND_SLACK,
  type RunScenariosOptions, type RunScenarioOptions, type RunProgress, type ScenarioRun,
} from './run.js';
export { loadInputs, stackImages, type LoadedInputs } from './inputs.js';
export { corrupt, describeCorruption, CORRUPTION_ORDER, type Corruption } from './corruptions.js';
export {
  fuzzClassifier, corruptionArbitrary, type FuzzBounds, type FuzzOptions, type FuzzResult, type FuzzCounterexample,
} from './fuzz.js';
export { planWorkers } from './workers.js';
