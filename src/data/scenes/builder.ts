/**
 * A small helper that class generators use to append shapes in painter's order.
 */
import type { Geometry, Paint, Shape } from './description.js';
import type { Rng } from './rng.js';

/** Collects shapes; `deco*` methods draw without writing the label map. */
export class SceneBuilder {
  readonly shapes: Shape[] = [];
  private within: string | undefined;

  constructor(readonly rng: Rng) {}

  /** A fresh texture seed, so that two shapes with the same paint look different. */
  seed(): number {
    return this.rng.uint32() & 0x7fffffff;
  }

  add(concept: string, geometry: Geometry, paint: Paint, label = true): void {
    const object = this.within !== undefined && this.within !== concept ? { object: this.within } : {};
    this.shapes.push(label ? { concept, geometry, paint, ...object } : { concept, geometry, paint, label: false });
  }

  /** Draws the shapes of one whole object: every labelled shape added by `draw` is part of `object` in the object map. */
  object(object: string, draw: () => void): void {
    const outer = this.within;
    this.within = object;
    try {
      draw();
    } finally {
      this.within = outer;
    }
  }

  rect(concept: string, x0: number, y0: number, x1: number, y1: number, paint: Paint): void {
    this.add(concept, { kind: 'rect', x0, y0, x1, y1 }, paint);
  }

  poly(concept: string, points: readonly number[], paint: Paint): void {
    this.add(concept, { kind: 'polygon', points }, paint);
  }

  ellipse(concept: string, cx: number, cy: number, rx: number, ry: number, paint: Paint): void {
    this.add(concept, { kind: 'ellipse', cx, cy, rx, ry }, paint);
  }

  decoRect(x0: number, y0: number, x1: number, y1: number, paint: Paint): void {
    this.add('none', { kind: 'rect', x0, y0, x1, y1 }, paint, false);
  }

  decoPoly(points: readonly number[], paint: Paint): void {
    this.add('none', { kind: 'polygon', points }, paint, false);
  }

  decoEllipse(cx: number, cy: number, rx: number, ry: number, paint: Paint): void {
    this.add('none', { kind: 'ellipse', cx, cy, rx, ry }, paint, false);
  }

  /** A thick straight line from (x0, y0) to (x1, y1) as a polygon. */
  line(concept: string, x0: number, y0: number, x1: number, y1: number, width: number, paint: Paint, label = true): void {
    this.add(concept, { kind: 'polygon', points: linePoints(x0, y0, x1, y1, width) }, paint, label);
  }
}

/** The four corners of a thick line. */
export function linePoints(x0: number, y0: number, x1: number, y1: number, width: number): number[] {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len = Math.hypot(dx, dy) || 1;
  const nx = (-dy / len) * (width / 2);
  const ny = (dx / len) * (width / 2);
  return [x0 + nx, y0 + ny, x1 + nx, y1 + ny, x1 - nx, y1 - ny, x0 - nx, y0 - ny];
}

/** A polygon approximating an ellipse arc from angle a0 to a1 (radians, 0 = right, π/2 = down), closed through the centre when `pie`. */
export function arcPoints(cx: number, cy: number, rx: number, ry: number, a0: number, a1: number, steps: number, pie = false): number[] {
  const pts: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const a = a0 + ((a1 - a0) * i) / steps;
    pts.push(cx + rx * Math.cos(a), cy + ry * Math.sin(a));
  }
  if (pie) pts.push(cx, cy);
  return pts;
}

/** Maps a point (s, t) of the unit square into a quadrilateral (top-left, top-right, bottom-right, bottom-left) bilinearly. */
export function quadPoint(q: readonly number[], s: number, t: number): [number, number] {
  const topX = q[0] + (q[2] - q[0]) * s;
  const topY = q[1] + (q[3] - q[1]) * s;
  const botX = q[6] + (q[4] - q[6]) * s;
  const botY = q[7] + (q[5] - q[7]) * s;
  return [topX + (botX - topX) * t, topY + (botY - topY) * t];
}

/** The sub-quadrilateral [s0, s1] × [t0, t1] of a quadrilateral, as polygon points. */
export function subQuad(q: readonly number[], s0: number, t0: number, s1: number, t1: number): number[] {
  return [...quadPoint(q, s0, t0), ...quadPoint(q, s1, t0), ...quadPoint(q, s1, t1), ...quadPoint(q, s0, t1)];
}
