/**
 * The synthetic scene world: procedural scenes of classes such as `ski_resort` and `bedroom`, each rendered
 * from one description as an RGB image and an exact per-pixel concept label map.
 */
export { CATEGORIES, CONCEPTS, CONCEPT_NAMES, NONE_LABEL, conceptById, conceptId } from './concepts.js';
export type { Concept, ConceptCategory } from './concepts.js';
export { EXTRA_SCENE_CLASS_CONFIGS, RENDERABLE_SCENE_CLASSES, SCENE_CLASSES, SCENE_CLASS_CONFIGS } from './classes.js';
export type { SceneClassConfig } from './classes.js';
export type {
  EllipseGeometry, Geometry, Lighting, Paint, Pattern, PolygonGeometry, RGB, RectGeometry, SceneDescription, Shape,
} from './description.js';
export { DEFAULT_SCENE_SIZE, MAX_SCENE_SIZE, SCENE_WORLD_VERSION, classIndexOf, describeScene, renderDescription, renderScene, sceneLabelPlanes } from './render.js';
export type { RenderSceneOptions, RenderedScene } from './render.js';
export { renderScenes, sampleScenes, sceneSeed, sceneSpec, scenesToFloat32 } from './sample.js';
export type { SampleScenesOptions, SceneSpec } from './sample.js';
export { colorHistogram, histogramBaseline } from './baseline.js';
export type { HistogramBaselineOptions, HistogramBaselineResult } from './baseline.js';
export { Rng, hash32 } from './rng.js';
