import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnitAttackError } from '../../../src/errors.js';
import { Rng, conceptId, renderDescription, sceneLabelPlanes, type SceneDescription, type Shape } from '../../../src/data/scenes/index.js';
import { SceneBuilder } from '../../../src/data/scenes/builder.js';

const rect = (concept: string, x0: number, y0: number, x1: number, y1: number, color: [number, number, number] = [200, 200, 200]): Shape => ({
  concept,
  geometry: { kind: 'rect', x0, y0, x1, y1 },
  paint: { color },
});

/** Pixel (x, y) label of a size×size map. */
const at = (labels: Uint16Array, size: number, x: number, y: number): number => labels[y * size + x];

describe('renderDescription', () => {
  it('labels exactly the pixels whose centres lie in a rectangle of snow', () => {
    const { labels } = renderDescription({ shapes: [rect('snow', 0.25, 0.25, 0.75, 0.5)] }, 16);
    const snow = conceptId('snow');
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        const inside = x >= 4 && x <= 11 && y >= 4 && y <= 7;
        expect(at(labels, 16, x, y), `pixel ${x},${y}`).toBe(inside ? snow : 0);
      }
    }
  });

  it('paints a flat shape in its exact colour when there is no lighting, blur or noise', () => {
    const { image } = renderDescription({ shapes: [rect('sky', 0, 0, 1, 1, [10, 120, 250])] }, 8);
    for (let i = 0; i < 64; i++) expect([image[i * 3], image[i * 3 + 1], image[i * 3 + 2]]).toEqual([10, 120, 250]);
  });

  it('lets later shapes overwrite earlier ones in the label map (painter order)', () => {
    const desc: SceneDescription = {
      shapes: [
        rect('snow', 0, 0, 1, 1),
        { concept: 'tree', geometry: { kind: 'ellipse', cx: 0.5, cy: 0.5, rx: 0.25, ry: 0.25 }, paint: { color: [0, 100, 0] } },
        rect('person', 0.5, 0.5, 0.625, 0.625),
      ],
    };
    const size = 32;
    const { labels } = renderDescription(desc, size);
    const [snow, tree, person] = [conceptId('snow'), conceptId('tree'), conceptId('person')];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const u = (x + 0.5) / size;
        const v = (y + 0.5) / size;
        const inPerson = u >= 0.5 && u < 0.625 && v >= 0.5 && v < 0.625;
        const inTree = (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25 ** 2;
        expect(at(labels, size, x, y)).toBe(inPerson ? person : inTree ? tree : snow);
      }
    }
  });

  it('keeps the label under decorations that do not write labels, but changes the image', () => {
    const base = rect('road', 0, 0, 1, 1, [80, 80, 80]);
    const mark: Shape = { ...rect('none', 0.25, 0.25, 0.75, 0.75, [250, 250, 250]), label: false };
    const { image, labels } = renderDescription({ shapes: [base, mark] }, 8);
    expect(Array.from(labels).every((l) => l === conceptId('road'))).toBe(true);
    expect(image[(4 * 8 + 4) * 3]).toBe(250);
    expect(image[0]).toBe(80);
  });

  it('keeps the whole object under each pixel: parts of an object, materials on one, and parts on their own', () => {
    // Row by row (8×8, two rows per band): a mountain with snow on its lower half; a house wall with a roof that is
    // part of the house; a window on its own; grass on nothing.
    const shapes: Shape[] = [
      rect('mountain', 0, 0, 1, 0.25), rect('snow', 0, 0.125, 1, 0.25),
      rect('house', 0, 0.25, 1, 0.5), { ...rect('roof', 0, 0.375, 1, 0.5), object: 'house' },
      rect('window', 0, 0.5, 1, 0.75),
      rect('grass', 0, 0.75, 1, 1),
    ];
    const { labels, objects } = renderDescription({ shapes }, 8);
    const [mountain, snow, house, roof, window, grass] = ['mountain', 'snow', 'house', 'roof', 'window', 'grass'].map(conceptId);
    const rows = (m: Uint16Array): number[] => Array.from({ length: 8 }, (_, y) => at(m, 8, 3, y));
    expect(rows(labels)).toEqual([mountain, snow, house, roof, window, window, grass, grass]);
    expect(rows(objects)).toEqual([mountain, mountain, house, house, 0, 0, 0, 0]);
    // The two dissection planes: the visible concept, then the object where it differs.
    const planes = sceneLabelPlanes({ labels, objects });
    expect(rows(planes.subarray(64))).toEqual([0, mountain, 0, house, 0, 0, 0, 0]);
    expect(planes.subarray(0, 64)).toEqual(labels);
  });

  it('marks the shapes a builder draws inside object() as parts of that object, and only those', () => {
    const b = new SceneBuilder(new Rng(1));
    b.rect('sky', 0, 0, 1, 1, { color: [0, 0, 255] });
    b.object('house', () => {
      b.rect('house', 0, 0.5, 1, 1, { color: [200, 0, 0] });
      b.rect('roof', 0, 0.3, 1, 0.5, { color: [90, 0, 0] });
      b.object('tree', () => b.rect('trunk', 0, 0, 0.1, 0.1, { color: [90, 60, 0] }));
      b.decoRect(0.4, 0.6, 0.6, 0.7, { color: [0, 0, 0] });
    });
    b.rect('window', 0, 0, 0.1, 0.1, { color: [0, 0, 0] });
    expect(b.shapes.map((s) => s.object)).toEqual([undefined, undefined, 'house', 'tree', undefined, undefined]);
  });

  it('fills polygons by the even-odd rule at pixel centres', () => {
    const triangle = fc.array(fc.double({ min: -0.2, max: 1.2, noNaN: true }), { minLength: 6, maxLength: 6 });
    fc.assert(
      fc.property(triangle, (pts) => {
        const size = 24;
        const { labels } = renderDescription({ shapes: [{ concept: 'mountain', geometry: { kind: 'polygon', points: pts }, paint: { color: [90, 90, 90] } }] }, size);
        const id = conceptId('mountain');
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const u = (x + 0.5) / size;
            const v = (y + 0.5) / size;
            let inside = false;
            for (let i = 0, j = 2; i < 3; j = i++) {
              const [xi, yi, xj, yj] = [pts[2 * i], pts[2 * i + 1], pts[2 * j], pts[2 * j + 1]];
              if (yi <= v !== yj <= v) {
                const cx = xi + ((v - yi) * (xj - xi)) / (yj - yi);
                if (u >= cx) inside = !inside;
              }
            }
            // a pixel centre exactly on an edge may go either way; skip those
            if (onEdge(pts, u, v)) continue;
            if ((at(labels, size, x, y) === id) !== inside) return false;
          }
        }
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('renders the same description identically at every call and resolution-independently in shape', () => {
    const desc: SceneDescription = {
      shapes: [rect('sky', 0, 0, 1, 0.5), rect('grass', 0, 0.5, 1, 1)],
      noise: 5,
      blur: 0.5,
      lighting: { brightness: 0.9, tint: [1.1, 1, 0.9], gradient: { angle: 1, amount: 0.2 }, vignette: 0.3, saturation: 0.8, contrast: 1.1 },
      seed: 42,
    };
    const a = renderDescription(desc, 20);
    const b = renderDescription(desc, 20);
    expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(true);
    for (const size of [10, 20, 40]) {
      const { labels } = renderDescription(desc, size);
      expect(at(labels, size, 0, size / 2 - 1)).toBe(conceptId('sky'));
      expect(at(labels, size, 0, size / 2)).toBe(conceptId('grass'));
    }
  });

  it('throws a usage error for an unknown concept, with suggestions', () => {
    const err = (() => {
      try {
        renderDescription({ shapes: [rect('snwo', 0, 0, 1, 1)] }, 8);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
    expect((err as UnitAttackError).hint).toContain("'snow'");
  });

  it('rejects sizes that are not positive integers', () => {
    for (const size of [0, -3, 2.5, NaN]) expect(() => renderDescription({ shapes: [] }, size)).toThrow(/size/);
  });
});

function onEdge(pts: number[], u: number, v: number): boolean {
  for (let i = 0, j = 2; i < 3; j = i++) {
    const [x0, y0, x1, y1] = [pts[2 * i], pts[2 * i + 1], pts[2 * j], pts[2 * j + 1]];
    const len = Math.hypot(x1 - x0, y1 - y0);
    if (len === 0) continue;
    const d = Math.abs((x1 - x0) * (y0 - v) - (x0 - u) * (y1 - y0)) / len;
    if (d < 1e-9) return true;
  }
  return false;
}
