/**
 * Segmenters: networks that label every pixel with a concept per category, so that dissection can run on images
 * that come without label maps (plain folders, a generator's samples).
 */
export { buildSegmenterNet, SCENE_SEGMENTER_CATEGORIES, segmenterChannels, segmenterMultiple } from './net.js';
export type { SegmenterCategory, SegmenterNetOptions } from './net.js';
export { BUILTIN_SEGMENTERS, SEGMENTER_FORMAT, fromSegmenterModel, loadSegmenter, readSegmenterSidecar } from './segmenter.js';
export type { FromSegmenterModelOptions, Segmenter, SegmenterConcept, SegmenterSidecar } from './segmenter.js';
export { evaluateSegmenter } from './evaluate.js';
export type { ConceptScore, EvaluateSegmenterOptions, SegmenterEvaluation } from './evaluate.js';
export { saveSegmenter } from './save.js';
