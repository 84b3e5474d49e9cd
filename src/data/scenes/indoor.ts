/**
 * Indoor scenes: a one-point-perspective room (back wall, side walls, floor, ceiling) measured in metres,
 * and furniture built from perspective boxes. Every room class shares the wall, floor and fabric palettes.
 */
import { subQuad, type SceneBuilder } from './builder.js';
import type { Paint, RGB } from './description.js';
import { fabricColor, furnitureColor, hsvRange, mix, shadeOf, wallColor, woodColor } from './palette.js';

/** Paints for the faces of a box; missing faces use `front` darkened or lightened. */
export interface BoxPaints {
  readonly front: Paint;
  readonly top?: Paint;
  readonly side?: Paint;
  readonly bottom?: Paint;
}

const shaded = (p: Paint, k: number): Paint => ({
  ...p,
  color: shadeOf(p.color, k),
  ...(p.color2 === undefined ? {} : { color2: shadeOf(p.color2, k) }),
});

/** A room in one-point perspective. Distances are metres; the back wall is 2.6 m high. */
export class Room {
  /** Back wall in image units. */
  readonly bx0: number;
  readonly by0: number;
  readonly bx1: number;
  readonly by1: number;
  /** Vanishing point. */
  readonly vx: number;
  readonly vy: number;
  /** Image units per metre on the back wall. */
  readonly m: number;
  /** Width of the back wall in metres. */
  readonly width: number;
  /** Distance of the camera from the back wall in metres. */
  readonly distance: number;
  readonly wallColor: RGB;
  readonly height = 2.6;

  /** `width` is the range of the back wall's width in metres (bedrooms are smaller than living rooms). */
  constructor(readonly b: SceneBuilder, width: readonly [number, number] = [3, 5.2]) {
    const rng = b.rng;
    this.width = rng.range(width[0], width[1]);
    const wImg = rng.range(0.5, 0.95);
    this.m = wImg / this.width;
    this.bx0 = rng.range(0.03 - 0.1 * wImg, 0.97 - 0.9 * wImg);
    this.bx1 = this.bx0 + wImg;
    this.by1 = rng.range(0.58, 0.8);
    this.by0 = this.by1 - this.height * this.m;
    this.vx = this.bx0 + wImg * rng.range(0.25, 0.75);
    this.vy = this.by1 - rng.range(1.1, 1.7) * this.m;
    this.distance = rng.range(3.2, 5.5);
    this.wallColor = wallColor(rng);
  }

  /** The image point of (x metres from the left end of the back wall, y metres above the floor, z metres in front of the back wall). */
  pt(x: number, y: number, z: number): [number, number] {
    const s = this.distance / Math.max(0.05, this.distance - z);
    const px = this.bx0 + x * this.m;
    const py = this.by1 - y * this.m;
    return [this.vx + (px - this.vx) * s, this.vy + (py - this.vy) * s];
  }

  /** Image scale (units per metre) at depth z. */
  scale(z: number): number {
    return (this.m * this.distance) / Math.max(0.05, this.distance - z);
  }

  /** How far in front of the back wall the floor is still in the image (metres). */
  get floorDepth(): number {
    const s = (1 - this.vy) / (this.by1 - this.vy);
    return this.distance * (1 - 1 / s);
  }

  /** The four surfaces and the back wall, in the shared palettes. */
  drawShell(opt: { wall?: Paint; floor?: Paint; ceiling?: Paint } = {}): void {
    const b = this.b;
    const rng = b.rng;
    const K = 40;
    const ext = (x: number, y: number): [number, number] => [x + (x - this.vx) * K, y + (y - this.vy) * K];
    const { bx0, by0, bx1, by1 } = this;
    const wall: Paint = opt.wall ?? wallPaint(b, this.wallColor);
    const ceiling: Paint = opt.ceiling ?? { color: mix(this.wallColor, [245, 245, 242], rng.range(0.3, 0.9)), shade: [0, 0.3], mottle: 0.03, seed: b.seed() };
    b.poly('ceiling', [bx0, by0, bx1, by0, ...ext(bx1, by0), ...ext(bx0, by0)], ceiling);
    const sideK = rng.range(0.72, 0.95);
    b.poly('wall', [bx0, by0, bx0, by1, ...ext(bx0, by1), ...ext(bx0, by0)], { ...shaded(wall, sideK), shade: [0.3, 0] });
    b.poly('wall', [bx1, by0, bx1, by1, ...ext(bx1, by1), ...ext(bx1, by0)], { ...shaded(wall, 2 - sideK), shade: [-0.3, 0] });
    b.poly('floor', [bx0, by1, bx1, by1, ...ext(bx1, by1), ...ext(bx0, by1)], opt.floor ?? floorPaint(b));
    b.rect('wall', bx0, by0, bx1, by1, wall);
    // skirting board (part of the wall)
    const sk = shadeOf(this.wallColor, rng.range(0.6, 1.1));
    b.poly('wall', [bx0, by1 - 0.08 * this.m, bx1, by1 - 0.08 * this.m, bx1, by1, bx0, by1], { color: sk });
  }

  /** A box from x0…x1, y0…y1 (height above floor), z0…z1 (depth): visible faces only. */
  box(concept: string, x0: number, x1: number, y0: number, y1: number, z0: number, z1: number, paints: BoxPaints): void {
    const b = this.b;
    const P = (x: number, y: number, z: number): [number, number] => this.pt(x, y, z);
    const [, ty] = P(0, y1, z1);
    const [, by] = P(0, y0, z1);
    const [lx] = P(x0, 0, z1);
    const [rx] = P(x1, 0, z1);
    if (ty > this.vy + 1e-6) b.poly(concept, [...P(x0, y1, z0), ...P(x1, y1, z0), ...P(x1, y1, z1), ...P(x0, y1, z1)], paints.top ?? shaded(paints.front, 1.15));
    if (by < this.vy - 1e-6) b.poly(concept, [...P(x0, y0, z0), ...P(x1, y0, z0), ...P(x1, y0, z1), ...P(x0, y0, z1)], paints.bottom ?? shaded(paints.front, 0.7));
    const side = paints.side ?? shaded(paints.front, 0.8);
    if (lx > this.vx) b.poly(concept, [...P(x0, y1, z0), ...P(x0, y1, z1), ...P(x0, y0, z1), ...P(x0, y0, z0)], side);
    if (rx < this.vx) b.poly(concept, [...P(x1, y1, z0), ...P(x1, y1, z1), ...P(x1, y0, z1), ...P(x1, y0, z0)], side);
    b.poly(concept, [...P(x0, y1, z1), ...P(x1, y1, z1), ...P(x1, y0, z1), ...P(x0, y0, z1)], paints.front);
  }

  /** A soft contact shadow on the floor under a footprint (keeps the floor label). */
  shadow(x0: number, x1: number, z0: number, z1: number): void {
    const e = 0.08;
    this.b.decoPoly([...this.pt(x0 - e, 0, z0), ...this.pt(x1 + e, 0, z0), ...this.pt(x1 + e, 0, z1 + e), ...this.pt(x0 - e, 0, z1 + e)], {
      color: [0, 0, 0],
      alpha: 0.22,
    });
  }

  /** A quadrilateral on the back wall (x, y in metres). */
  wallQuad(x0: number, y0: number, x1: number, y1: number): number[] {
    return [...this.pt(x0, y1, 0), ...this.pt(x1, y1, 0), ...this.pt(x1, y0, 0), ...this.pt(x0, y0, 0)];
  }

  /** A quadrilateral on a side wall (`side` -1 left, 1 right) from depth z0 to z1 and height y0 to y1. */
  sideQuad(side: number, z0: number, z1: number, y0: number, y1: number): number[] {
    const x = side < 0 ? 0 : this.width;
    return [...this.pt(x, y1, z0), ...this.pt(x, y1, z1), ...this.pt(x, y0, z1), ...this.pt(x, y0, z0)];
  }

  /** A quadrilateral on the floor. */
  floorQuad(x0: number, x1: number, z0: number, z1: number): number[] {
    return [...this.pt(x0, 0, z0), ...this.pt(x1, 0, z0), ...this.pt(x1, 0, z1), ...this.pt(x0, 0, z1)];
  }
}

/** Wall paint: plain, textured, striped wallpaper or tiles, in the shared wall palette. */
export function wallPaint(b: SceneBuilder, c: RGB): Paint {
  const rng = b.rng;
  return rng.weighted<Paint>([
    [{ color: c, color2: shadeOf(c, 0.9), pattern: { kind: 'noise', scale: rng.range(10, 40), contrast: 0.5 }, mottle: 0.04, seed: b.seed() }, 5],
    [{ color: c, color2: shadeOf(c, rng.range(0.8, 0.92)), pattern: { kind: 'stripes', period: rng.range(20, 45), duty: rng.range(0.2, 0.5) }, seed: b.seed() }, 2],
    [{ color: c, color2: shadeOf(c, 0.8), pattern: { kind: 'tiles', width: rng.range(18, 35), grout: 0.08 }, seed: b.seed() }, 1],
  ]);
}

/** Floor paint: wood planks, tiles or carpet — the same distribution for every room class. */
export function floorPaint(b: SceneBuilder): Paint {
  const rng = b.rng;
  return rng.weighted<() => Paint>([
    [() => {
      const c = woodColor(rng);
      return { color: c, color2: shadeOf(c, 0.7), pattern: { kind: 'wood', period: rng.range(14, 30), angle: rng.chance(0.5) ? 0 : Math.PI / 2, warp: 0.6 }, shade: [0, 0.2], seed: b.seed() };
    }, 4],
    [() => {
      const c = hsvRange(rng, [0, 360], [0, 0.25], [0.45, 0.92]);
      return { color: c, color2: shadeOf(c, 0.7), pattern: rng.chance(0.3) ? { kind: 'checker', size: rng.range(8, 16) } : { kind: 'tiles', width: rng.range(8, 18), grout: 0.06 }, shade: [0, 0.2], seed: b.seed() };
    }, 3],
    [() => {
      const c = fabricColor(rng);
      return { color: c, color2: shadeOf(c, 0.8), pattern: { kind: 'noise', scale: 60, contrast: 0.6 }, grain: 0.06, shade: [0, 0.2], seed: b.seed() };
    }, 2],
  ])();
}

/** Fabric paint: plain, striped, checked or mottled. */
export function fabricPaint(b: SceneBuilder, c?: RGB): Paint {
  const rng = b.rng;
  const col = c ?? fabricColor(rng);
  const c2 = rng.chance(0.5) ? shadeOf(col, 0.75) : fabricColor(rng);
  return rng.weighted<Paint>([
    [{ color: col, color2: shadeOf(col, 0.85), pattern: { kind: 'noise', scale: 30, contrast: 0.6 }, seed: b.seed() }, 4],
    [{ color: col, color2: c2, pattern: { kind: 'stripes', period: rng.range(15, 40), angle: rng.range(0, Math.PI), duty: rng.range(0.2, 0.5) }, seed: b.seed() }, 2],
    [{ color: col, color2: c2, pattern: { kind: 'checker', size: rng.range(15, 35) }, seed: b.seed() }, 1],
  ]);
}

/** Outside seen through a window: sky and maybe far hills or trees (decoration: the pixel stays "window"). */
function windowView(b: SceneBuilder, q: readonly number[]): void {
  const rng = b.rng;
  const day = rng.chance(0.8);
  const top: RGB = day ? hsvRange(rng, [195, 225], [0.2, 0.6], [0.75, 1]) : hsvRange(rng, [220, 250], [0.3, 0.6], [0.1, 0.3]);
  b.add('window', { kind: 'polygon', points: q }, { color: top, color2: mix(top, [255, 255, 255], 0.5), pattern: { kind: 'vgradient' } });
  if (day && rng.chance(0.6)) {
    const g = hsvRange(rng, [70, 140], [0.3, 0.6], [0.3, 0.6]);
    const h = rng.range(0.5, 0.8);
    b.add('none', { kind: 'polygon', points: subQuad(q, 0, h, 1, 1) }, { color: g, color2: shadeOf(g, 0.7), pattern: { kind: 'noise', scale: 60 } }, false);
  }
}

/** A window on the back wall (metres) with a view, frame and mullions; curtains optional. */
export function wallWindow(room: Room, x0: number, y0: number, x1: number, y1: number, curtains: boolean): void {
  const b = room.b;
  const rng = b.rng;
  const frame: RGB = rng.chance(0.7) ? hsvRange(rng, [0, 60], [0, 0.06], [0.85, 0.97]) : woodColor(rng);
  b.poly('window', room.wallQuad(x0 - 0.06, y0 - 0.06, x1 + 0.06, y1 + 0.06), { color: frame, shade: [0, 0.2] });
  windowView(b, room.wallQuad(x0, y0, x1, y1));
  const cols = rng.int(1, 3);
  const rows = rng.int(1, 2);
  for (let i = 1; i < cols; i++) {
    const x = x0 + ((x1 - x0) * i) / cols;
    b.poly('window', room.wallQuad(x - 0.025, y0, x + 0.025, y1), { color: frame });
  }
  for (let i = 1; i < rows; i++) {
    const y = y0 + ((y1 - y0) * i) / rows;
    b.poly('window', room.wallQuad(x0, y - 0.025, x1, y + 0.025), { color: frame });
  }
  b.poly('window', room.wallQuad(x0 - 0.1, y0 - 0.1, x1 + 0.1, y0 - 0.03), { color: shadeOf(frame, 0.9) });
  if (curtains) {
    const c = fabricPaint(b);
    const paint: Paint = { ...c, pattern: { kind: 'stripes', period: rng.range(40, 80), soft: true }, color2: shadeOf(c.color, 0.7) };
    const w = (x1 - x0) * rng.range(0.18, 0.35);
    const top = Math.min(room.height - 0.05, y1 + 0.2);
    const bottom = rng.chance(0.5) ? 0.02 : y0 - 0.15;
    b.poly('curtain', room.wallQuad(x0 - 0.2, bottom, x0 - 0.2 + w, top), paint);
    b.poly('curtain', room.wallQuad(x1 + 0.2 - w, bottom, x1 + 0.2, top), paint);
    b.poly('curtain', room.wallQuad(x0 - 0.25, top - 0.08, x1 + 0.25, top), { color: shadeOf(c.color, 0.8) });
  }
}

/** A window on a side wall (`side` -1 left, 1 right). */
export function sideWindow(room: Room, side: number, z0: number, z1: number, y0: number, y1: number, curtains = false): void {
  const b = room.b;
  const rng = b.rng;
  const frame: RGB = hsvRange(rng, [0, 60], [0, 0.06], [0.8, 0.97]);
  b.poly('window', room.sideQuad(side, z0 - 0.06, z1 + 0.06, y0 - 0.06, y1 + 0.06), { color: frame });
  const q = room.sideQuad(side, z0, z1, y0, y1);
  windowView(b, q);
  b.poly('window', subQuad(q, 0.47, 0, 0.53, 1), { color: frame });
  if (curtains) {
    const c = fabricPaint(b);
    const paint: Paint = { ...c, pattern: { kind: 'stripes', period: rng.range(40, 80), soft: true }, color2: shadeOf(c.color, 0.7) };
    const w = (z1 - z0) * rng.range(0.2, 0.35);
    const top = Math.min(room.height - 0.05, y1 + 0.2);
    const bottom = rng.chance(0.5) ? 0.02 : y0 - 0.15;
    b.poly('curtain', room.sideQuad(side, z0 - 0.2, z0 - 0.2 + w, bottom, top), paint);
    b.poly('curtain', room.sideQuad(side, z1 + 0.2 - w, z1 + 0.2, bottom, top), paint);
  }
}

/** A framed picture on the back wall; the content is decoration. */
export function painting(room: Room, x0: number, y0: number, x1: number, y1: number): void {
  const b = room.b;
  const rng = b.rng;
  const frame: RGB = rng.chance(0.5) ? woodColor(rng) : hsvRange(rng, [0, 360], [0, 0.1], [0.05, 0.95]);
  b.poly('painting', room.wallQuad(x0, y0, x1, y1), { color: frame });
  const inset = Math.min(x1 - x0, y1 - y0) * 0.1;
  const q = room.wallQuad(x0 + inset, y0 + inset, x1 - inset, y1 - inset);
  const bg = hsvRange(rng, [0, 360], [0.1, 0.6], [0.4, 0.95]);
  b.poly('painting', q, { color: bg, color2: fabricColor(rng), pattern: { kind: 'vgradient' } });
  const n = rng.int(1, 4);
  for (let i = 0; i < n; i++) {
    const s0 = rng.range(0, 0.7);
    const t0 = rng.range(0, 0.7);
    b.add('none', { kind: 'polygon', points: subQuad(q, s0, t0, s0 + rng.range(0.15, 0.3), t0 + rng.range(0.15, 0.3)) }, { color: fabricColor(rng) }, false);
  }
}

/** A door in the back wall. */
export function backDoor(room: Room, x0: number): void {
  const b = room.b;
  const rng = b.rng;
  const c: RGB = rng.chance(0.6) ? woodColor(rng) : hsvRange(rng, [0, 360], [0, 0.1], [0.75, 0.95]);
  const w = rng.range(0.8, 0.95);
  b.poly('door', room.wallQuad(x0 - 0.06, 0, x0 + w + 0.06, 2.1), { color: shadeOf(c, 0.85) });
  b.poly('door', room.wallQuad(x0, 0, x0 + w, 2.04), { color: c, color2: shadeOf(c, 0.8), pattern: { kind: 'wood', period: 40, angle: 0, warp: 0.3 }, shade: [0.2, 0], seed: b.seed() });
  const [hx, hy] = room.pt(x0 + w * 0.85, 1.0, 0);
  const r = 0.04 * room.m;
  b.add('door', { kind: 'ellipse', cx: hx, cy: hy, rx: r, ry: r }, { color: [200, 190, 150] });
}

/** A table lamp standing on a surface at height `y` (metres) and depth z. */
export function tableLamp(room: Room, x: number, y: number, z: number): void {
  const b = room.b;
  const rng = b.rng;
  const s = room.scale(z);
  const [bx, by] = room.pt(x, y, z);
  const base: RGB = rng.chance(0.5) ? hsvRange(rng, [0, 360], [0, 0.2], [0.2, 0.9]) : woodColor(rng);
  const shadeC: RGB = hsvRange(rng, [25, 55], [0.05, 0.4], [0.8, 1]);
  b.decoEllipse(bx, by - 0.45 * s, 0.5 * s, 0.45 * s, { color: [255, 240, 200], color2: room.wallColor, pattern: { kind: 'radial', cx: bx, cy: by - 0.45 * s, r: 0.5 * s }, alpha: 0.35 });
  b.poly('lamp', [bx - 0.07 * s, by, bx + 0.07 * s, by, bx + 0.03 * s, by - 0.32 * s, bx - 0.03 * s, by - 0.32 * s], { color: base, shade: [0.5, 0] });
  b.poly('lamp', [bx - 0.12 * s, by - 0.3 * s, bx + 0.12 * s, by - 0.3 * s, bx + 0.08 * s, by - 0.55 * s, bx - 0.08 * s, by - 0.55 * s], { color: shadeC, color2: shadeOf(shadeC, 0.8), pattern: { kind: 'vgradient' } });
}

/** A floor lamp at (x, z). */
export function floorLamp(room: Room, x: number, z: number): void {
  const b = room.b;
  const s = room.scale(z);
  const [bx, by] = room.pt(x, 0, z);
  const c: RGB = hsvRange(b.rng, [0, 360], [0, 0.1], [0.1, 0.7]);
  const shadeC: RGB = hsvRange(b.rng, [25, 55], [0.05, 0.4], [0.8, 1]);
  b.add('lamp', { kind: 'ellipse', cx: bx, cy: by, rx: 0.14 * s, ry: 0.04 * s }, { color: c });
  b.add('lamp', { kind: 'rect', x0: bx - 0.018 * s, y0: by - 1.5 * s, x1: bx + 0.018 * s, y1: by }, { color: c });
  b.poly('lamp', [bx - 0.2 * s, by - 1.35 * s, bx + 0.2 * s, by - 1.35 * s, bx + 0.13 * s, by - 1.7 * s, bx - 0.13 * s, by - 1.7 * s], { color: shadeC, color2: shadeOf(shadeC, 0.75), pattern: { kind: 'vgradient' } });
}

/** A pendant lamp hanging from the ceiling above (x, z). */
export function pendantLamp(room: Room, x: number, z: number, drop: number): void {
  const b = room.b;
  const s = room.scale(z);
  const [cx, cy] = room.pt(x, room.height, z);
  const bottom = room.pt(x, room.height - drop, z)[1];
  const c: RGB = b.rng.chance(0.5) ? hsvRange(b.rng, [0, 360], [0, 0.1], [0.1, 0.95]) : hsvRange(b.rng, [0, 360], [0.3, 0.7], [0.4, 0.8]);
  b.add('lamp', { kind: 'rect', x0: cx - 0.01 * s, y0: Math.min(cy, bottom), x1: cx + 0.01 * s, y1: bottom }, { color: [40, 40, 40] });
  b.poly('lamp', [cx - 0.08 * s, bottom, cx + 0.08 * s, bottom, cx + 0.22 * s, bottom + 0.22 * s, cx - 0.22 * s, bottom + 0.22 * s], { color: c, shade: [0, 0.3] });
  b.decoEllipse(cx, bottom + 0.23 * s, 0.16 * s, 0.03 * s, { color: [255, 245, 210] });
}

/** A potted plant at (x, z) standing on height y. */
export function pottedPlant(room: Room, x: number, y: number, z: number, h: number): void {
  const b = room.b;
  const rng = b.rng;
  const s = room.scale(z);
  const [px, py] = room.pt(x, y, z);
  const pot: RGB = rng.chance(0.5) ? hsvRange(rng, [10, 30], [0.4, 0.7], [0.4, 0.7]) : hsvRange(rng, [0, 360], [0, 0.15], [0.3, 0.95]);
  const leaf: RGB = hsvRange(rng, [80, 140], [0.4, 0.8], [0.25, 0.6]);
  const paint: Paint = { color: leaf, color2: shadeOf(leaf, 0.5), pattern: { kind: 'noise', scale: 60, contrast: 1.5 }, seed: b.seed() };
  const ph = h * 0.3;
  const n = rng.int(3, 6);
  for (let i = 0; i < n; i++) {
    const a = -Math.PI / 2 + rng.range(-1.1, 1.1);
    const len = h * rng.range(0.45, 0.75) * s;
    const ex = px + Math.cos(a) * len;
    const ey = py - ph * s + Math.sin(a) * len;
    b.poly('plant', [px - 0.03 * s, py - ph * s, (px + ex) / 2 - 0.08 * s, (py - ph * s + ey) / 2, ex, ey, (px + ex) / 2 + 0.08 * s, (py - ph * s + ey) / 2], paint);
  }
  b.ellipse('plant', px, py - ph * s - h * 0.35 * s, h * 0.3 * s, h * 0.3 * s, paint);
  b.poly('plant', [px - 0.13 * s, py - ph * s, px + 0.13 * s, py - ph * s, px + 0.1 * s, py, px - 0.1 * s, py], { color: pot, shade: [0.5, 0] });
}

/** A rug on the floor. */
export function rug(room: Room, x0: number, x1: number, z0: number, z1: number): void {
  const b = room.b;
  const p = fabricPaint(b);
  b.poly('rug', room.floorQuad(x0, x1, z0, z1), { ...p, grain: 0.06 });
  if (b.rng.chance(0.5)) {
    const dx = (x1 - x0) * 0.12;
    const dz = (z1 - z0) * 0.12;
    b.add('none', { kind: 'polygon', points: room.floorQuad(x0 + dx, x1 - dx, z0 + dz, z1 - dz) }, { color: fabricColor(b.rng), alpha: 0.5 }, false);
  }
}

/** A table with four legs; returns the height of its top. */
export function table(room: Room, x0: number, x1: number, z0: number, z1: number, h: number): number {
  const b = room.b;
  const c = furnitureColor(b.rng);
  const top: Paint = { color: c, color2: shadeOf(c, 0.8), pattern: { kind: 'wood', period: 25, warp: 0.4 }, seed: b.seed() };
  const legW = 0.05;
  room.shadow(x0, x1, z0, z1);
  for (const [x, z] of [[x0, z0], [x1 - legW, z0], [x0, z1 - legW], [x1 - legW, z1 - legW]] as const) {
    room.box('table', x, x + legW, 0, h - 0.04, z, z + legW, { front: { color: shadeOf(c, 0.7) } });
  }
  room.box('table', x0 - 0.03, x1 + 0.03, h - 0.05, h, z0 - 0.03, z1 + 0.03, { front: { color: shadeOf(c, 0.85) }, top });
  return h;
}

/** A chair (seat, legs, back) at x0…x0+0.45, z0…z0+0.45; `backFar` puts the backrest at the far side. */
export function chair(room: Room, x0: number, z0: number, backFar: boolean): void {
  const c = furnitureColor(room.b.rng);
  const w = 0.45;
  const legW = 0.04;
  for (const [x, z] of [[x0, z0], [x0 + w - legW, z0], [x0, z0 + w - legW], [x0 + w - legW, z0 + w - legW]] as const) {
    room.box('chair', x, x + legW, 0, 0.45, z, z + legW, { front: { color: shadeOf(c, 0.7) } });
  }
  const zb = backFar ? z0 : z0 + w - 0.05;
  if (backFar) room.box('chair', x0, x0 + w, 0.45, 0.95, zb, zb + 0.05, { front: { color: c } });
  room.box('chair', x0, x0 + w, 0.42, 0.47, z0, z0 + w, { front: { color: shadeOf(c, 0.85) } });
  if (!backFar) room.box('chair', x0, x0 + w, 0.45, 0.95, zb, zb + 0.05, { front: { color: c } });
}

/** A cabinet front with door lines and handles (decoration on the cabinet label). */
export function cabinetDoors(room: Room, x0: number, x1: number, y0: number, y1: number, z: number, doors: number, color: RGB): void {
  const b = room.b;
  const line = shadeOf(color, 0.6);
  for (let i = 1; i < doors; i++) {
    const x = x0 + ((x1 - x0) * i) / doors;
    b.decoPoly([...room.pt(x - 0.01, y1 - 0.03, z), ...room.pt(x + 0.01, y1 - 0.03, z), ...room.pt(x + 0.01, y0 + 0.03, z), ...room.pt(x - 0.01, y0 + 0.03, z)], { color: line });
  }
  for (let i = 0; i < doors; i++) {
    const x = x0 + ((x1 - x0) * (i + (i % 2 === 0 ? 0.82 : 0.18))) / doors;
    const yh = y1 - Math.min(0.15, (y1 - y0) * 0.2);
    b.decoPoly([...room.pt(x - 0.015, yh, z), ...room.pt(x + 0.015, yh, z), ...room.pt(x + 0.015, yh - 0.12, z), ...room.pt(x - 0.015, yh - 0.12, z)], { color: [190, 190, 195] });
  }
}

