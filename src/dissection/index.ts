/**
 * Network dissection: unit thresholds from streaming quantiles, pooled IoU with concept labels, class importance
 * by ablation, and the unit atlas that records them.
 */
export { dissect, isTrainImage } from './dissect.js';
export type { DissectOptions, DissectProgress, DissectResult } from './dissect.js';
export {
  ATLAS_FORMAT, ATLAS_VERSION, atlasSchema, atlasSummary, atlasToCsv, atlasToJson, availableConcepts, loadAtlas, parseAtlas, saveAtlas,
  unitsForClass, unitsForConcepts,
} from './atlas.js';
export type { Atlas, AtlasConcept, AtlasSummary, AtlasTopImage, AtlasUnit, ConceptMatch, UnitsForConceptsOptions } from './atlas.js';
export { QuantileSketch, targetRank } from './quantile.js';
export type { QuantileSketchOptions } from './quantile.js';
export { IouTally, LevelTally, informationQualityRatio, iouCeiling, thresholdGrid } from './iou.js';
export type { LevelCounts } from './iou.js';
export {
  dissectGenerator, dissectableLayer, generatedProbe, generatedProbeKind, generatedSpec, parseGeneratedSpec, sampleId,
} from './generated.js';
export type { DissectGeneratorOptions } from './generated.js';
export type { ThresholdMethod } from './_internals/passes.js';
export { upsampleActivations, upsampleMap } from './upsample.js';
export {
  LABEL_SUFFIX, brodenProbeKind, defaultLabelSize, downsampleLabels, encodeLabelPng, folderProbeKind, openProbe, probeBatches, probeKinds,
  readLabelPng, registerProbeKind, scenesProbeKind,
} from './probe.js';
export { openImageFolder, openSegmentedProbe, segmentedProbeKind, segmentedSpec, withSegmenter } from './segmented.js';
export type { ImageFolderOptions } from './segmented.js';
export type { OpenProbeOptions, ProbeBatch, ProbeBatchOptions, ProbeConcept, ProbeItem, ProbeKind, ProbeSet } from './probe.js';
export { ablationCurves, chunksOf, classImportance, maskedCopies, rankUnits } from './importance.js';
export type {
  AblationCurve, AblationOptions, ActivationChunk, ChunkSource, ClassImportance, ClassImportanceOptions, ImportanceMetric,
  RankUnitsOptions,
} from './importance.js';
export { CACHE_ENV_VAR, cacheKey, cacheRoot, dissectCacheFile, resumeDir } from './cache.js';
export { dissectShards, dissectionPlan } from './split.js';
export type { DissectShardsResult, DissectionPlan, ShardPart } from './split.js';
export { unfinishedJournals } from './_internals/shard-file.js';
