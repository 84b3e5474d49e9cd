/**
 * unit-attack: find the concept units inside a CNN, attack them, and gate a model in CI on the result.
 * The public API, by stage (see the README and docs/ for each).
 */
export * from './errors.js';
export * from './engine/index.js';
export type {
  Classifier, LayerInfo, Preprocessing, PreprocessPreset, RunOptions, RunResult, UnitEdit,
} from './models/types.js';
export { fromLayersModel, applyEdit, type FromLayersModelOptions } from './models/classifier.js';
export { fromGraphModel, type FromGraphModelOptions } from './models/graph-classifier.js';
export {
  loadClassifier, saveLayersModel, BUILTIN_MODELS, SIDECAR_FILE, type LoadClassifierOptions, type ModelSidecar,
} from './models/io.js';
export { PREPROCESS_PRESETS, applyPreprocessing, resolvePreprocessing } from './models/preprocessing.js';
export { buildVgg16, VGG16_CONV_LAYERS, type Vgg16Options } from './models/vgg16.js';
export * from './models/import/index.js';
export {
  loadImage, readImageRgb, savePng, encodePng, rgbToTensor, tensorToRgb, perturbationPicture, listImages, IMAGE_EXTENSIONS,
  type FitPolicy, type LoadImageOptions, type RgbImage,
} from './data/images.js';
export * from './data/scenes/index.js';
export * from './data/broden/index.js';
export * from './segment/index.js';
export * from './dissection/index.js';
export * from './attacks/index.js';
export * from './scenarios/index.js';
export { trainScenesModel, evaluateScenes, type TrainOptions, type TrainResult, type Evaluation } from './train/train.js';
export { trainSegmenter, type TrainSegmenterOptions, type TrainSegmenterResult } from './train/segmenter.js';
