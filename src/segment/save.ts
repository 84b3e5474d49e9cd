/**
 * Saving a trained scene segmenter as a segmenter folder: `model.json`, `weights.bin` and its sidecar.
 */
import type * as tf from '../tf.js';
import { CONCEPTS } from '../data/scenes/index.js';
import { writeLayersModel } from '../models/io.js';
import { SCENE_SEGMENTER_CATEGORIES, segmenterMultiple } from './net.js';
import { SEGMENTER_FORMAT, type SegmenterSidecar } from './segmenter.js';

/** Saves a scene segmenter network into `dir` atomically, with a sidecar whose concept ids are the scene world's. */
export async function saveSegmenter(model: tf.LayersModel, dir: string, recipe: { encoderWidths: readonly number[] }): Promise<void> {
  const sidecar: SegmenterSidecar = {
    format: SEGMENTER_FORMAT, version: 1, preprocessing: 'unit', multiple: segmenterMultiple(recipe.encoderWidths.length),
    description: 'scene segmenter trained on the unit-attack synthetic scene world by `unit-attack train-segmenter`',
    categories: SCENE_SEGMENTER_CATEGORIES.map((c) => ({ name: c.name, concepts: [...c.concepts], ids: c.concepts.map((n) => CONCEPTS.find((x) => x.name === n)!.id) })),
  };
  await writeLayersModel(model, dir, sidecar);
}
