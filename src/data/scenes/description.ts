/**
 * Scene descriptions: what the class generators produce and what the renderer draws, twice — once as the
 * RGB image and once as the concept label map. All coordinates are in unit space: x runs 0→1 left to right,
 * y runs 0→1 top to bottom, so one description renders at any size.
 */

/** An RGB colour with channels in 0…255 (values outside are clamped at the end). */
export type RGB = readonly [number, number, number];

/** An axis-aligned rectangle; a pixel belongs to it when its centre is in `[x0, x1) × [y0, y1)`. */
export interface RectGeometry {
  readonly kind: 'rect';
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** A polygon as a flat list `[x0, y0, x1, y1, …]`, filled with the even-odd rule. */
export interface PolygonGeometry {
  readonly kind: 'polygon';
  readonly points: readonly number[];
}

/** An axis-aligned ellipse; a pixel belongs to it when its centre is inside or on the boundary. */
export interface EllipseGeometry {
  readonly kind: 'ellipse';
  readonly cx: number;
  readonly cy: number;
  readonly rx: number;
  readonly ry: number;
}

export type Geometry = RectGeometry | PolygonGeometry | EllipseGeometry;

/**
 * How the pattern value t ∈ [0, 1] is computed at a point; the colour is `mix(color, color2, t)`.
 * Scales are in cycles (or cells) per unit of image width.
 */
export type Pattern =
  | { readonly kind: 'flat' }
  /** Fractal value noise; `stretch` > 1 squeezes features vertically (streaks), `contrast` sharpens. */
  | { readonly kind: 'noise'; readonly scale: number; readonly octaves?: number; readonly contrast?: number; readonly stretch?: number }
  /** Parallel stripes; `duty` is the share of color2, `warp` bends them with noise. */
  | { readonly kind: 'stripes'; readonly period: number; readonly angle?: number; readonly duty?: number; readonly warp?: number; readonly soft?: boolean }
  /** Wood grain: warped, soft, irregular stripes. */
  | { readonly kind: 'wood'; readonly period: number; readonly angle?: number; readonly warp?: number }
  /** Tiles or bricks with grout of `color2`; `offset` shifts every other row (0.5 for bricks). */
  | { readonly kind: 'tiles'; readonly width: number; readonly height?: number; readonly offset?: number; readonly grout?: number; readonly jitter?: number }
  /** A checkerboard of color and color2. */
  | { readonly kind: 'checker'; readonly size: number }
  /** Vertical blend from color (at y0) to color2 (at y1); defaults to the shape's bounding box. */
  | { readonly kind: 'vgradient'; readonly y0?: number; readonly y1?: number; readonly curve?: number }
  /** Radial blend from color (at the centre) to color2 (at radius r and beyond). */
  | { readonly kind: 'radial'; readonly cx: number; readonly cy: number; readonly r: number }
  /** Horizontal wave crests (water): thin color2 streaks that get denser towards the bottom. */
  | { readonly kind: 'waves'; readonly scale: number; readonly amount?: number };

/** How a shape is coloured. */
export interface Paint {
  readonly color: RGB;
  /** Second colour for patterns. @defaultValue a darker `color` */
  readonly color2?: RGB;
  /** @defaultValue flat */
  readonly pattern?: Pattern;
  /** Linear brightness change across the bounding box, `[horizontal, vertical]` (e.g. `[0, -0.3]` darker at the bottom). */
  readonly shade?: readonly [number, number];
  /** Amplitude of low-frequency brightness noise (0…1). */
  readonly mottle?: number;
  /** Cells per unit width of the mottle noise. @defaultValue 6 */
  readonly mottleScale?: number;
  /** Amplitude of per-pixel brightness speckle (0…1). */
  readonly grain?: number;
  /** Opacity over what is already drawn. @defaultValue 1 */
  readonly alpha?: number;
  /** Offsets the noise lattices so two shapes with the same paint differ. @defaultValue 0 */
  readonly seed?: number;
}

/** One drawable shape. Shapes are drawn in order; later shapes overwrite earlier ones. */
export interface Shape {
  /** Concept name written to the label map (`'none'` writes 0). */
  readonly concept: string;
  readonly geometry: Geometry;
  readonly paint: Paint;
  /**
   * Whether the shape writes its concept to the label map. Decorations (shadows, reflections, lane markings,
   * window mullions) set `false`: they change the image but the pixel keeps the label underneath.
   * @defaultValue true
   */
  readonly label?: boolean;
  /**
   * The whole object this shape is part of (a roof's or a window's house, a trunk's tree), written to the object
   * map: as in Broden, a pixel of a house's roof is labelled both roof (part) and house (object).
   */
  readonly object?: string;
}

/** Global lighting and camera effects applied to the image (never to the labels). */
export interface Lighting {
  /** Per-channel multipliers. @defaultValue [1, 1, 1] */
  readonly tint?: RGB;
  /** Overall gain. @defaultValue 1 */
  readonly brightness?: number;
  /** Contrast around mid-grey. @defaultValue 1 */
  readonly contrast?: number;
  /** Saturation multiplier (0 = grey). @defaultValue 1 */
  readonly saturation?: number;
  /** A linear brightness ramp: direction in radians (0 = brighter to the right) and strength. */
  readonly gradient?: { readonly angle: number; readonly amount: number };
  /** Darkening of the corners (0…1). @defaultValue 0 */
  readonly vignette?: number;
}

/** A complete scene: shapes in painter's order plus image-only effects. */
export interface SceneDescription {
  readonly shapes: readonly Shape[];
  readonly lighting?: Lighting;
  /** Strength of a 3×3 blur of the image (0…1). @defaultValue 0 */
  readonly blur?: number;
  /** Standard deviation of per-pixel Gaussian noise, in 0…255 units. @defaultValue 0 */
  readonly noise?: number;
  /** Seed of the per-pixel noise and of the texture lattices. @defaultValue 0 */
  readonly seed?: number;
}
