import { nearestNames, usageError } from '../../errors.js';

/** Broden-style concept categories used by the scene world. */
export const CATEGORIES = ['object', 'part', 'material'] as const;

/** One of {@link CATEGORIES}. */
export type ConceptCategory = (typeof CATEGORIES)[number];

/** A labelled concept: `id` is the pixel value in label maps (0 is reserved for "none"). */
export interface Concept {
  readonly id: number;
  readonly name: string;
  readonly category: ConceptCategory;
}

/** The label value of pixels that no labelled shape covers. */
export const NONE_LABEL = 0;

const DEFINITIONS: ReadonlyArray<readonly [string, ConceptCategory]> = [
  ['sky', 'object'],
  ['cloud', 'object'],
  ['sun', 'object'],
  ['mountain', 'object'],
  ['tree', 'object'],
  ['house', 'object'],
  ['building', 'object'],
  ['road', 'object'],
  ['sidewalk', 'object'],
  ['path', 'object'],
  ['car', 'object'],
  ['boat', 'object'],
  ['person', 'object'],
  ['fence', 'object'],
  ['rock', 'object'],
  ['streetlight', 'object'],
  ['pier', 'object'],
  ['cactus', 'object'],
  ['umbrella', 'object'],
  ['ski_lift', 'object'],
  ['wall', 'object'],
  ['floor', 'object'],
  ['ceiling', 'object'],
  ['bed', 'object'],
  ['pillow', 'object'],
  ['lamp', 'object'],
  ['cabinet', 'object'],
  ['stove', 'object'],
  ['refrigerator', 'object'],
  ['sink', 'object'],
  ['table', 'object'],
  ['chair', 'object'],
  ['sofa', 'object'],
  ['television', 'object'],
  ['painting', 'object'],
  ['rug', 'object'],
  ['curtain', 'object'],
  ['mirror', 'object'],
  ['bathtub', 'object'],
  ['toilet', 'object'],
  ['plant', 'object'],
  ['window', 'part'],
  ['door', 'part'],
  ['roof', 'part'],
  ['wheel', 'part'],
  ['trunk', 'part'],
  ['sail', 'part'],
  ['snow', 'material'],
  ['grass', 'material'],
  ['water', 'material'],
  ['sand', 'material'],
  ['soil', 'material'],
];

/**
 * Every concept of the scene world, with ids 1…N in this order (so `CONCEPTS[i].id === i + 1`).
 * Label maps hold these ids; 0 ({@link NONE_LABEL}) means no concept.
 */
export const CONCEPTS: readonly Concept[] = Object.freeze(
  DEFINITIONS.map(([name, category], i) => Object.freeze({ id: i + 1, name, category })),
);

/** Concept names indexed by label value: `CONCEPT_NAMES[0] === 'none'`. */
export const CONCEPT_NAMES: readonly string[] = Object.freeze(['none', ...CONCEPTS.map((c) => c.name)]);

const BY_NAME = new Map<string, Concept>(CONCEPTS.map((c) => [c.name, c]));

/** The label value of a concept name; `'none'` gives 0. Unknown names throw a usage error with suggestions. */
export function conceptId(name: string): number {
  if (name === 'none') return NONE_LABEL;
  const c = BY_NAME.get(name);
  if (c === undefined) {
    throw usageError(`Unknown concept '${name}'.`, {
      hint: `Did you mean ${nearestNames(name, CONCEPT_NAMES).map((n) => `'${n}'`).join(', ')}?`,
      path: 'concept',
    });
  }
  return c.id;
}

/** The concept with a given label value, or undefined for 0 and out-of-range values. */
export function conceptById(id: number): Concept | undefined {
  return CONCEPTS[id - 1];
}
