/**
 * Generators: the scene GAN's networks, saving and loading generator folders, and the {@link Generator} adapter
 * (latent streams, sampling, taps and unit edits) that generation, dissection, ablation and insertion work through.
 */
export * from './net.js';
export * from './save.js';
export type * from './types.js';
export {
  BUILTIN_GENERATORS, generatorFromModel, isGeneratorSpec, latentStream, loadGenerator,
  type FromGeneratorModelOptions, type GraphGeneratorSidecar, type LoadGeneratorOptions,
} from './generator.js';
