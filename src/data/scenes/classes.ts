/**
 * The registry of scene classes: each is a config object with its name, the concepts it may show and a
 * generator that appends shapes to a builder and returns the image lighting.
 */
import type { SceneBuilder } from './builder.js';
import type { Lighting } from './description.js';
import { indoorLighting, outdoorMood, type Outdoor } from './palette.js';
import { bathroom, bedroom, kitchen, livingRoom } from './scenes-indoor.js';
import { beach, desert, field, forestPath, harbor, mountainLake, skiResort, street, village } from './scenes-outdoor.js';

/** A scene class of the synthetic world. */
export interface SceneClassConfig {
  readonly name: string;
  readonly indoor: boolean;
  /** Every concept a scene of this class may contain (the label map never holds others, besides 0). */
  readonly concepts: readonly string[];
  /** Appends the scene's shapes and returns its lighting. */
  readonly generate: (b: SceneBuilder) => Lighting;
}

const outdoor =
  (draw: (b: SceneBuilder, o: Outdoor) => void, weights?: Partial<Record<Outdoor['mood'], number>>) =>
  (b: SceneBuilder): Lighting => {
    const o = outdoorMood(b.rng, weights);
    draw(b, o);
    return o.lighting;
  };

const indoor =
  (draw: (b: SceneBuilder) => void) =>
  (b: SceneBuilder): Lighting => {
    const lighting = indoorLighting(b.rng);
    draw(b);
    return lighting;
  };

const HOUSE = ['house', 'roof', 'window', 'door'];
const SKY = ['sky', 'cloud', 'sun'];
const ROOM = ['ceiling', 'wall', 'floor', 'window'];

/** The scene classes, in class-index order. */
export const SCENE_CLASS_CONFIGS: readonly SceneClassConfig[] = [
  {
    name: 'ski_resort',
    indoor: false,
    concepts: [...SKY, 'mountain', 'snow', 'tree', 'trunk', ...HOUSE, 'ski_lift', 'person', 'fence'],
    generate: outdoor(skiResort),
  },
  {
    name: 'bedroom',
    indoor: true,
    concepts: [...ROOM, 'curtain', 'door', 'painting', 'cabinet', 'lamp', 'rug', 'bed', 'pillow', 'chair', 'plant'],
    generate: indoor(bedroom),
  },
  {
    name: 'kitchen',
    indoor: true,
    concepts: [...ROOM, 'curtain', 'cabinet', 'stove', 'sink', 'refrigerator', 'plant', 'table', 'chair', 'lamp'],
    generate: indoor(kitchen),
  },
  {
    name: 'forest_path',
    indoor: false,
    concepts: ['sky', 'cloud', 'tree', 'trunk', 'grass', 'path', 'rock', 'person', 'fence'],
    generate: outdoor(forestPath, { overcast: 2 }),
  },
  {
    name: 'beach',
    indoor: false,
    concepts: [...SKY, 'mountain', 'water', 'sand', 'boat', 'sail', 'umbrella', 'person', 'tree', 'trunk', 'rock'],
    generate: outdoor(beach, { day: 5, golden: 2 }),
  },
  {
    name: 'street',
    indoor: false,
    concepts: [...SKY, 'building', ...HOUSE, 'sidewalk', 'road', 'car', 'wheel', 'streetlight', 'tree', 'trunk', 'person'],
    generate: outdoor(street),
  },
  {
    name: 'living_room',
    indoor: true,
    concepts: [...ROOM, 'curtain', 'door', 'painting', 'rug', 'sofa', 'pillow', 'lamp', 'table', 'cabinet', 'television', 'plant', 'chair'],
    generate: indoor(livingRoom),
  },
  {
    name: 'mountain_lake',
    indoor: false,
    concepts: [...SKY, 'mountain', 'snow', 'tree', 'trunk', 'water', 'grass', 'rock', 'boat', 'sail', ...HOUSE],
    generate: outdoor(mountainLake),
  },
  {
    name: 'harbor',
    indoor: false,
    concepts: [...SKY, 'mountain', 'snow', 'sidewalk', ...HOUSE, 'building', 'water', 'pier', 'boat', 'sail', 'person'],
    generate: outdoor(harbor),
  },
  {
    name: 'field',
    indoor: false,
    concepts: [...SKY, 'mountain', 'tree', 'trunk', 'grass', 'soil', 'road', 'path', ...HOUSE, 'fence', 'person'],
    generate: outdoor(field),
  },
  {
    name: 'desert',
    indoor: false,
    concepts: [...SKY, 'mountain', 'sand', 'road', 'car', 'wheel', 'window', 'cactus', 'rock', 'person'],
    generate: outdoor(desert, { haze: 2, golden: 2, overcast: 0.5 }),
  },
  {
    name: 'bathroom',
    indoor: true,
    concepts: [...ROOM, 'bathtub', 'curtain', 'mirror', 'cabinet', 'sink', 'lamp', 'toilet', 'rug', 'plant', 'door'],
    generate: indoor(bathroom),
  },
];

/** Names of the scene classes, in class-index order. */
export const SCENE_CLASSES: readonly string[] = Object.freeze(SCENE_CLASS_CONFIGS.map((c) => c.name));

/**
 * Scene classes for generators only: rendered like the others (`renderScene({ cls: 'village' })`), but not among the
 * {@link SCENE_CLASSES} that classifiers learn, random scenes draw from, or the built-in model knows. Their class
 * index follows the classifier classes'.
 */
export const EXTRA_SCENE_CLASS_CONFIGS: readonly SceneClassConfig[] = [
  {
    name: 'village',
    indoor: false,
    concepts: [...SKY, 'mountain', 'snow', 'tree', 'trunk', 'grass', 'road', 'path', ...HOUSE, 'fence', 'person'],
    generate: outdoor(village),
  },
];

/** Every class `renderScene` draws: the scene classes, then the extra ones. */
export const RENDERABLE_SCENE_CLASSES: readonly string[] = Object.freeze([...SCENE_CLASSES, ...EXTRA_SCENE_CLASS_CONFIGS.map((c) => c.name)]);

/** The config of a class index of {@link RENDERABLE_SCENE_CLASSES}. */
export function sceneClassConfig(index: number): SceneClassConfig {
  return index < SCENE_CLASS_CONFIGS.length ? SCENE_CLASS_CONFIGS[index] : EXTRA_SCENE_CLASS_CONFIGS[index - SCENE_CLASS_CONFIGS.length];
}
