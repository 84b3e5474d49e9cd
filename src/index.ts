/**
 * unit-attack: find the concept units inside a CNN, attack them, and gate a model in CI on the result.
 *
 * The public API, grouped by stage (docs/api.md shows each group with an example). Everything a user needs to load
 * a model, dissect it, attack it, run scenarios and write reports is named here; the stage folders export more for
 * their own tests and for each other, and those names are internal (they may change in any release).
 */

// ── Errors and the engine ───────────────────────────────────────────────────────────────────────────────────────
export { UnitAttackError, isUserError, type UnitAttackErrorCode, type UnitAttackErrorOptions } from './errors.js';
export {
  initBackend, backendInfo, BACKEND_NAMES, type BackendInfo, type BackendName, type InitBackendOptions,
} from './engine/index.js';

// ── Models ──────────────────────────────────────────────────────────────────────────────────────────────────────
export type {
  Classifier, LayerInfo, Preprocessing, PreprocessPreset, RunOptions, RunResult, UnitEdit,
} from './models/types.js';
export { loadClassifier, saveLayersModel, BUILTIN_MODELS, type LoadClassifierOptions, type ModelSidecar } from './models/io.js';
export { fromLayersModel, type FromLayersModelOptions } from './models/classifier.js';
export { fromGraphModel, type FromGraphModelOptions } from './models/graph-classifier.js';
export { PREPROCESS_PRESETS } from './models/preprocessing.js';
export { buildVgg16, type Vgg16Options } from './models/vgg16.js';
export { importModel, type ImportOptions, type ImportResult, type ImportFormat } from './models/import/index.js';
export { trainScenesModel, type TrainOptions, type TrainResult } from './train/train.js';

// ── Images and probe data ───────────────────────────────────────────────────────────────────────────────────────
export {
  loadImage, readImageRgb, savePng, listImages, tensorToRgb, type FitPolicy, type LoadImageOptions, type RgbImage,
} from './data/images.js';
export { stackImages } from './scenarios/inputs.js';
export {
  renderScene, renderScenes, sampleScenes, SCENE_CLASSES, CONCEPT_NAMES,
  type RenderSceneOptions, type RenderedScene, type SampleScenesOptions, type SceneSpec,
} from './data/scenes/index.js';
export { writeBrodenDataset, readBrodenDataset, type WriteBrodenOptions, type BrodenDataset } from './data/broden/index.js';

// ── Dissection ──────────────────────────────────────────────────────────────────────────────────────────────────
export {
  dissect, dissectShards, dissectionPlan, loadAtlas, saveAtlas, atlasSummary, availableConcepts, unitsForClass, unitsForConcepts,
  classImportance, ablationCurves, openProbe, registerProbeKind, openImageFolder, withSegmenter,
  type DissectOptions, type DissectProgress, type DissectResult, type Atlas, type AtlasUnit, type AtlasConcept,
  type AtlasSummary, type ConceptMatch, type UnitsForConceptsOptions, type ClassImportance, type ClassImportanceOptions,
  type AblationCurve, type AblationOptions, type OpenProbeOptions, type ProbeSet, type ProbeKind, type ProbeBatch,
  type ProbeItem, type ProbeConcept, type ImageFolderOptions, type ShardPart, type DissectShardsResult, type DissectionPlan,
} from './dissection/index.js';
export { startPool, withPool, type StartPoolOptions, type WorkerPool } from './parallel/index.js';
export {
  runDissectionOnQueue, startQueueWorker,
  type QueuedDissection, type QueuedShards, type QueueWorker, type QueueWorkerOptions, type QueueWorkerEvent,
} from './parallel/queue/index.js';

// ── Segmenter ───────────────────────────────────────────────────────────────────────────────────────────────────
export {
  loadSegmenter, fromSegmenterModel, evaluateSegmenter, BUILTIN_SEGMENTERS,
  type Segmenter, type SegmenterConcept, type FromSegmenterModelOptions, type EvaluateSegmenterOptions,
  type SegmenterEvaluation, type ConceptScore,
} from './segment/index.js';
export { trainSegmenter, type TrainSegmenterOptions, type TrainSegmenterResult } from './train/segmenter.js';

// ── Attacks ─────────────────────────────────────────────────────────────────────────────────────────────────────
export {
  fgsm, pgd, cw, square, apgd, autoattack, runAttack, registerAttack, attackNames, registerObjective,
  unitAttack, disposeUnitAttack, robustnessCurve, unitAttackCurve, curveTable, DEFAULT_EPSILONS,
  checkGradientMasking, parseEpsilon, formatEpsilon,
  linf, l2, psnr, ssim, cleanAccuracy, robustAccuracy, untargetedSuccess, targetedSuccess, unitEffect, wilsonInterval,
  type AttackOptionsBase, type AttackResult, type AttackProgress, type Labels, type AttackSpec, type CustomAttackSpec, type AttackImpl,
  type FgsmOptions, type PgdOptions, type CwOptions, type SquareOptions, type ApgdOptions, type AutoAttackOptions,
  type ObjectiveSpec, type ObjectiveFactory, type TargetSpec, type Norm, type ThreatModel,
  type UnitAttackOptions, type UnitAttackResult, type UnitAttackArm, type UnitSelection,
  type RobustnessCurve, type RobustnessCurveOptions, type LogitCurveOptions, type UnitCurveOptions, type CurveRow,
  type MaskingCheck, type MaskingCheckOptions, type Rate, type RateInterval, type MetricSummary, type UnitEffect,
} from './attacks/index.js';

// ── Scenarios ───────────────────────────────────────────────────────────────────────────────────────────────────
export {
  loadScenario, loadScenarios, parseScenario, runScenarios, runScenarioFiles, runScenario,
  scenarioJsonSchema, exitCodeOf, ScenarioError, METRICS, fuzzClassifier,
  type Scenario, type ScenarioFile, type ScenarioIssue, type RunScenariosOptions, type ScenarioRun, type MetricName,
  type FuzzOptions, type FuzzResult, type Corruption,
} from './scenarios/index.js';
export { calibrateScenario, type CalibrateOptions, type Calibration, type CalibrationRow } from './scenarios/calibrate.js';

// ── Reports ─────────────────────────────────────────────────────────────────────────────────────────────────────
export { writeReports, type WrittenReports } from './report/write.js';
export { terminalReport, type TerminalReportOptions } from './report/terminal.js';
export { readResults } from './report/json.js';
export { compareWithBaseline, type Tolerances } from './report/baseline.js';
export { writeAtlasReport, type AtlasReportOptions } from './report/atlas-report.js';
export { writeAttackReport, writeCurve, type AttackReportOptions, type AttackRun } from './report/attack-report.js';
export type { RunOutput, RunResults, ScenarioResult, ExpectationResult, Regression } from './report/types.js';

// ── Generator ───────────────────────────────────────────────────────────────────────────────────────────────────
export {
  loadGenerator, generatorFromModel, BUILTIN_GENERATORS,
  type Generator, type GeneratorEdit, type GenerateOptions, type GenerateResult, type CellRegion,
  type LoadGeneratorOptions, type FromGeneratorModelOptions,
} from './gan/index.js';
export { saveGenerator, type GeneratorSidecar } from './gan/save.js';
export { dissectGenerator, type DissectGeneratorOptions, type ThresholdMethod } from './dissection/index.js';
export { ablateConcept, type AblateConceptOptions, type GeneratorAblation } from './gan/ablate.js';
export { insertConcept, type InsertConceptOptions, type GeneratorInsertion } from './gan/insert.js';
export { measureGeneratorQuality, untrainedGenerator, type GeneratorQuality, type GeneratorQualityOptions } from './gan/quality.js';
export { FeatureMoments, frechetDistance } from './gan/frechet.js';
