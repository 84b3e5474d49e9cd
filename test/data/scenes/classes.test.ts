import { describe, expect, it } from 'vitest';
import { UnitAttackError } from '../../../src/errors.js';
import {
  CATEGORIES, CONCEPTS, CONCEPT_NAMES, EXTRA_SCENE_CLASS_CONFIGS, RENDERABLE_SCENE_CLASSES, SCENE_CLASSES, SCENE_CLASS_CONFIGS, conceptId, describeScene, renderScene,
} from '../../../src/data/scenes/index.js';

/** Concept names seen in the label maps of `n` scenes of a class at `size`. */
function observed(cls: string, n: number, size: number): Set<string> {
  const seen = new Set<string>();
  for (let seed = 0; seed < n; seed++) {
    const { labels } = renderScene({ cls, seed, size });
    const ids = new Set(labels);
    for (const id of ids) seen.add(CONCEPT_NAMES[id]);
  }
  return seen;
}

const OBSERVED = new Map(RENDERABLE_SCENE_CLASSES.map((c) => [c, observed(c, 40, 48)]));
const ALL_CONFIGS = [...SCENE_CLASS_CONFIGS, ...EXTRA_SCENE_CLASS_CONFIGS];

describe('scene classes', () => {
  it('has at least 10 classes, including the ones the attacks and docs name', () => {
    expect(SCENE_CLASSES.length).toBeGreaterThanOrEqual(10);
    for (const c of ['ski_resort', 'bedroom', 'kitchen', 'forest_path', 'beach', 'street']) expect(SCENE_CLASSES).toContain(c);
  });

  it('has at least 20 concepts with ids 1…N, each in a Broden category', () => {
    expect(CONCEPTS.length).toBeGreaterThanOrEqual(20);
    CONCEPTS.forEach((c, i) => {
      expect(c.id).toBe(i + 1);
      expect(CATEGORIES).toContain(c.category);
    });
    for (const name of ['sky', 'cloud', 'snow', 'mountain', 'tree', 'grass', 'house', 'window', 'wall', 'floor', 'bed', 'pillow', 'lamp', 'cabinet', 'stove', 'table', 'water', 'sand', 'road', 'car']) {
      expect(conceptId(name), name).toBeGreaterThan(0);
    }
    for (const cat of CATEGORIES) expect(CONCEPTS.some((c) => c.category === cat), cat).toBe(true);
  });

  it('renders every class at several sizes with labels only from its own concepts', () => {
    for (const config of ALL_CONFIGS) {
      const allowed = new Set(config.concepts.map(conceptId));
      for (const size of [24, 64, 96]) {
        for (let seed = 100; seed < 104; seed++) {
          const s = renderScene({ cls: config.name, seed, size });
          expect(s.image.length).toBe(size * size * 3);
          expect(s.labels.length).toBe(size * size);
          for (const id of new Set(s.labels)) {
            if (id !== 0) expect(allowed.has(id), `${config.name} seed ${seed} size ${size}: ${CONCEPT_NAMES[id]}`).toBe(true);
          }
        }
      }
    }
  });

  it('shows in practice every concept that a class lists, and only those', () => {
    for (const config of ALL_CONFIGS) {
      const seen = OBSERVED.get(config.name)!;
      seen.delete('none');
      expect([...seen].filter((c) => !config.concepts.includes(c)), config.name).toEqual([]);
      expect(config.concepts.filter((c) => !seen.has(c)), config.name).toEqual([]);
    }
  });

  it('the extra (generator) classes render by name but stay out of the classifier classes and of random scenes', () => {
    expect(RENDERABLE_SCENE_CLASSES).toEqual([...SCENE_CLASSES, 'village']);
    expect(SCENE_CLASSES).not.toContain('village');
    const v = renderScene({ cls: 'village', seed: 3, size: 32 });
    expect(v.cls).toBe('village');
    expect(v.classIndex).toBe(SCENE_CLASSES.length);
    for (let seed = 0; seed < 60; seed++) expect(SCENE_CLASSES).toContain(renderScene({ seed, size: 8 }).cls);
  });

  it('a village shows houses with doors, windows and roofs large enough to see at 64×64', () => {
    const share = new Map<string, number>();
    let withDoor = 0;
    for (let seed = 0; seed < 40; seed++) {
      const { labels } = renderScene({ cls: 'village', seed, size: 64 });
      const doors = labels.filter((id) => CONCEPT_NAMES[id] === 'door').length;
      if (doors >= 12) withDoor++;
      for (const id of labels) share.set(CONCEPT_NAMES[id], (share.get(CONCEPT_NAMES[id]) ?? 0) + 1 / (40 * 64 * 64));
    }
    expect(withDoor).toBeGreaterThanOrEqual(30);
    for (const [c, min] of [['house', 0.05], ['roof', 0.02], ['door', 0.006], ['window', 0.003], ['tree', 0.08], ['sky', 0.15]] as const) {
      expect(share.get(c) ?? 0, c).toBeGreaterThan(min);
    }
  });

  it('puts every roof on a house, every trunk on a tree, every wheel on a car and every sail on a boat in the object map', () => {
    const whole: Record<string, string> = { roof: 'house', trunk: 'tree', wheel: 'car', sail: 'boat' };
    const seen = new Set<string>();
    for (const cls of ['ski_resort', 'street', 'harbor', 'field', 'forest_path']) {
      for (let seed = 0; seed < 12; seed++) {
        const { labels, objects } = renderScene({ cls, seed, size: 48 });
        for (let i = 0; i < labels.length; i++) {
          const part = CONCEPT_NAMES[labels[i]];
          if (part in whole) { expect(CONCEPT_NAMES[objects[i]], `${cls} ${seed} ${part}`).toBe(whole[part]); seen.add(part); }
          // An object pixel is its own object.
          if (CONCEPTS[labels[i] - 1]?.category === 'object') expect(objects[i]).toBe(labels[i]);
        }
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(whole).sort());
  });

  it('leaves almost no pixel unlabelled', () => {
    for (const cls of SCENE_CLASSES) {
      let none = 0;
      let total = 0;
      for (let seed = 0; seed < 20; seed++) {
        const { labels } = renderScene({ cls, seed, size: 48 });
        for (const l of labels) if (l === 0) none++;
        total += labels.length;
      }
      expect(none / total, cls).toBeLessThan(0.002);
    }
  });

  it('uses every concept in at least one class', () => {
    const all = new Set<string>();
    for (const seen of OBSERVED.values()) for (const c of seen) all.add(c);
    expect(CONCEPTS.map((c) => c.name).filter((n) => !all.has(n))).toEqual([]);
  });

  it('shares concepts between classes on purpose', () => {
    const classesWith = (concept: string): string[] => SCENE_CLASSES.filter((c) => OBSERVED.get(c)!.has(concept));
    expect(classesWith('tree').length).toBeGreaterThanOrEqual(3);
    expect(classesWith('window').length).toBeGreaterThanOrEqual(3);
    expect(classesWith('snow').length).toBeGreaterThanOrEqual(2);
    expect(classesWith('water').length).toBeGreaterThanOrEqual(3);
    expect(classesWith('wall').length).toBeGreaterThanOrEqual(4);
    expect(classesWith('tree')).toEqual(expect.arrayContaining(['forest_path', 'street', 'ski_resort']));
    expect(classesWith('window')).toEqual(expect.arrayContaining(['bedroom', 'kitchen', 'street']));
    expect(classesWith('bed')).toEqual(['bedroom']);
  });
});

describe('renderScene', () => {
  it('gives the same bytes for the same seed, class and size', () => {
    for (const cls of SCENE_CLASSES) {
      const a = renderScene({ cls, seed: 7, size: 40 });
      const b = renderScene({ cls, seed: 7, size: 40 });
      expect(Buffer.from(a.image).equals(Buffer.from(b.image)), cls).toBe(true);
      expect(Buffer.from(a.labels.buffer).equals(Buffer.from(b.labels.buffer)), cls).toBe(true);
    }
  });

  it('gives different images for different seeds', () => {
    const a = renderScene({ cls: 'bedroom', seed: 1 });
    const b = renderScene({ cls: 'bedroom', seed: 2 });
    expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(false);
  });

  it('records what produced the scene and picks the class from the seed when none is given', () => {
    const s = renderScene({ seed: 123, size: 32 });
    expect(SCENE_CLASSES[s.classIndex]).toBe(s.cls);
    expect(s).toMatchObject({ seed: 123, size: 32 });
    expect(renderScene({ seed: 123, size: 32 }).cls).toBe(s.cls);
    const counts = new Set(Array.from({ length: 60 }, (_, i) => renderScene({ seed: i, size: 8 }).cls));
    expect(counts.size).toBeGreaterThan(6);
  });

  it('describes a scene independently of the size it is rendered at', () => {
    const a = describeScene('street', 5).description;
    const b = describeScene('street', 5).description;
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('accepts seeds beyond 32 bits and tells them apart', () => {
    const a = renderScene({ cls: 'beach', seed: 2 ** 40 + 1, size: 16 });
    const b = renderScene({ cls: 'beach', seed: 1, size: 16 });
    expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(false);
  });

  it('throws a usage error listing the valid classes for an unknown class', () => {
    let err: unknown;
    try {
      renderScene({ cls: 'ski_resrot', seed: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
    expect((err as Error).message).toContain('bedroom');
    expect((err as UnitAttackError).hint).toContain("'ski_resort'");
  });

  it('rejects a non-integer seed and a bad size, naming the option', () => {
    expect(() => renderScene({ cls: 'beach', seed: 1.5 })).toThrow(/'seed'/);
    expect(() => renderScene({ cls: 'beach', seed: 1, size: 0 })).toThrow(/'size'/);
    expect(() => renderScene({ cls: 'beach', seed: 1, size: 100000 })).toThrow(/'size'/);
  });
});
