/**
 * Outdoor concept builders: sky, clouds, sun, mountains with snow caps, trees, houses, buildings, roads,
 * cars, people, boats, fences, rocks and the rest. Each draws one concept instance (with its parts) in
 * unit coordinates; class generators decide where and how many.
 */
import { arcPoints, subQuad, type SceneBuilder } from './builder.js';
import type { Paint, RGB } from './description.js';
import { fabricColor, hsvRange, mix, mul, shadeOf, woodColor, type Outdoor } from './palette.js';

/** Sky from the top of the image to a little below the horizon (the ground is drawn over it). */
export function sky(b: SceneBuilder, o: Outdoor, horizon: number): void {
  b.rect('sky', 0, 0, 1, Math.min(1, horizon + 0.08), {
    color: o.skyTop,
    color2: o.skyBottom,
    pattern: { kind: 'vgradient', y0: 0, y1: Math.max(0.05, horizon), curve: b.rng.range(0.6, 1.4) },
    mottle: b.rng.range(0.01, 0.05),
    mottleScale: 3,
    seed: b.seed(),
  });
}

/** The sun, with a soft glow that keeps the sky label. */
export function sun(b: SceneBuilder, o: Outdoor, x: number, y: number, r: number): void {
  const disc: RGB = o.mood === 'golden' ? hsvRange(b.rng, [20, 45], [0.4, 0.7], [0.95, 1]) : [255, 250, 230];
  b.decoEllipse(x, y, r * 3.2, r * 3.2, {
    color: disc,
    color2: o.skyTop,
    pattern: { kind: 'radial', cx: x, cy: y, r: r * 3.2 },
    alpha: 0.45,
  });
  b.ellipse('sun', x, y, r, r, { color: [Math.min(255, disc[0] * 1.05), disc[1], disc[2]] });
}

/** A cloud of overlapping puffs, lit from above. */
export function cloud(b: SceneBuilder, o: Outdoor, x: number, y: number, w: number): void {
  const rng = b.rng;
  const base: RGB =
    o.mood === 'golden' ? hsvRange(rng, [0, 40], [0.15, 0.4], [0.85, 1]) :
    o.mood === 'overcast' ? hsvRange(rng, [200, 230], [0.02, 0.08], [0.6, 0.85]) :
    hsvRange(rng, [200, 230], [0, 0.06], [0.88, 1]);
  const paint: Paint = {
    color: shadeOf(base, 1.04),
    color2: shadeOf(mix(base, o.skyTop, 0.3), 0.8),
    pattern: { kind: 'noise', scale: rng.range(14, 26), contrast: 1.2 },
    shade: [0, -0.35],
    seed: b.seed(),
  };
  const puffs = rng.int(3, 6);
  const h = w * rng.range(0.22, 0.4);
  b.ellipse('cloud', x, y + h * 0.25, w * 0.5, h * 0.45, paint);
  for (let i = 0; i < puffs; i++) {
    const px = x + (rng.next() - 0.5) * w * 0.75;
    const r = w * rng.range(0.14, 0.26);
    b.ellipse('cloud', px, y - rng.range(0, h * 0.35), r, r * rng.range(0.7, 1), paint);
  }
}

/** Colour of bare rock, mixed towards the haze with distance `far` (0…1). */
export function rockColor(b: SceneBuilder, o: Outdoor, far: number): RGB {
  const c = b.rng.weighted<() => RGB>([
    [() => hsvRange(b.rng, [200, 235], [0.08, 0.25], [0.3, 0.55]), 3],
    [() => hsvRange(b.rng, [20, 40], [0.12, 0.35], [0.3, 0.55]), 2],
    [() => hsvRange(b.rng, [0, 360], [0, 0.06], [0.3, 0.55]), 2],
  ])();
  return mix(mul(c, o.light), o.haze, far);
}

/** A ridge line as a list of (x, y) vertices from x < 0 to x > 1. */
function ridge(b: SceneBuilder, peaks: number, baseY: number, topMin: number, topMax: number, jag: number): number[] {
  const rng = b.rng;
  const pts: number[] = [];
  const xs: number[] = [];
  for (let i = 0; i < peaks; i++) xs.push((i + rng.range(0.2, 0.8)) / peaks);
  let x = -0.05;
  pts.push(x, baseY - (baseY - topMax) * rng.range(0.1, 0.6));
  for (let i = 0; i < peaks; i++) {
    const px = xs[i];
    const py = rng.range(topMin, topMax);
    // the saddle before this peak
    const prevX = x;
    const sx = (prevX + px) / 2 + rng.range(-0.03, 0.03);
    const sy = py + (baseY - py) * rng.range(0.25, 0.7);
    if (i > 0) pts.push(sx, sy);
    pts.push(px, py);
    x = px;
  }
  pts.push(1.05, baseY - (baseY - topMax) * rng.range(0.1, 0.6));
  // midpoint displacement for a rocky outline
  let cur = pts;
  for (let pass = 0; pass < 3; pass++) {
    const next: number[] = [cur[0], cur[1]];
    for (let i = 2; i < cur.length; i += 2) {
      const x0 = cur[i - 2];
      const y0 = cur[i - 1];
      const x1 = cur[i];
      const y1 = cur[i + 1];
      const len = Math.hypot(x1 - x0, y1 - y0);
      next.push((x0 + x1) / 2 + rng.range(-0.15, 0.15) * len * jag, (y0 + y1) / 2 + rng.range(-0.35, 0.35) * len * jag);
      next.push(x1, y1);
    }
    cur = next;
  }
  return cur;
}

/** Options for {@link mountains}. */
export interface MountainOptions {
  readonly baseY: number;
  /** Range of peak heights (y of the highest and lowest peak). */
  readonly top: readonly [number, number];
  readonly peaks: number;
  /** Distance 0…1: far mountains are paler and bluer. */
  readonly far: number;
  /** Snow line as a fraction of the height from base to the highest peak (0 = no snow, 1 = all snow). */
  readonly snow: number;
  /** Colour override for the rock. */
  readonly color?: RGB;
  /** Which side is in shadow: -1 left, 1 right. */
  readonly shadowSide: number;
}

/** A mountain range with shaded faces and jagged snow caps. Returns the ridge polygon points. */
export function mountains(b: SceneBuilder, o: Outdoor, opt: MountainOptions): number[] {
  const rng = b.rng;
  const r = ridge(b, opt.peaks, opt.baseY, opt.top[0], opt.top[1], 0.55);
  const poly = [...r, 1.05, opt.baseY, -0.05, opt.baseY];
  const color = opt.color ?? rockColor(b, o, opt.far);
  b.poly('mountain', poly, {
    color,
    color2: shadeOf(color, 0.72),
    pattern: { kind: 'noise', scale: rng.range(10, 22), stretch: rng.range(0.4, 1.5), contrast: 1.3 },
    shade: [0, 0.25],
    grain: 0.04,
    seed: b.seed(),
  });
  // shaded faces: from each local maximum down to the base on the shadow side
  const maxima: number[] = [];
  for (let i = 2; i < r.length - 2; i += 2) {
    if (r[i + 1] < r[i - 1] && r[i + 1] < r[i + 3]) maxima.push(i);
  }
  const shadow: Paint = { color: shadeOf(mix(color, o.skyTop, 0.2), 0.45), alpha: rng.range(0.3, 0.55) };
  for (const i of maxima) {
    const px = r[i];
    const py = r[i + 1];
    if (opt.baseY - py < 0.06) continue;
    const face = [px, py];
    // follow the ridge on the shadow side for a while
    for (let j = i + 2 * opt.shadowSide, n = 0; j >= 0 && j < r.length && n < 6; j += 2 * opt.shadowSide, n++) {
      face.push(r[j], r[j + 1]);
    }
    const footX = px + opt.shadowSide * (opt.baseY - py) * rng.range(0.05, 0.4);
    face.push(footX, opt.baseY);
    b.decoPoly(face, shadow);
  }
  if (opt.snow > 0) {
    let minY = Infinity;
    for (let i = 1; i < r.length; i += 2) minY = Math.min(minY, r[i]);
    const snowY = minY + (opt.baseY - minY) * opt.snow;
    snowCaps(b, o, r, snowY, opt.baseY);
  }
  return poly;
}

/** Snow on every stretch of the ridge above `snowY`, with a jagged lower edge. */
function snowCaps(b: SceneBuilder, o: Outdoor, r: number[], snowY: number, baseY: number): void {
  const rng = b.rng;
  const white = mul(hsvRange(rng, [195, 225], [0, 0.08], [0.9, 1]), o.light);
  const paint: Paint = {
    color: white,
    color2: mix(shadeOf(white, 0.72), o.skyTop, 0.3),
    pattern: { kind: 'noise', scale: rng.range(16, 30), contrast: 0.8 },
    shade: [rng.range(-0.3, 0.3), 0.15],
    grain: 0.03,
    seed: b.seed(),
  };
  let run: number[] | null = null;
  const flush = (endX: number): void => {
    if (run === null) return;
    const startX = run[0];
    const pts = [...run, endX, snowY];
    const steps = Math.max(2, Math.round((endX - startX) / 0.02));
    const depth = Math.min(0.08, (baseY - snowY) * 0.6);
    for (let k = steps - 1; k >= 1; k--) {
      const x = startX + ((endX - startX) * k) / steps;
      pts.push(x, snowY + (k % 2 === 0 ? rng.range(0, depth * 0.3) : rng.range(depth * 0.3, depth)));
    }
    b.poly('snow', pts, paint);
    run = null;
  };
  for (let i = 0; i + 3 < r.length; i += 2) {
    const x0 = r[i];
    const y0 = r[i + 1];
    const x1 = r[i + 2];
    const y1 = r[i + 3];
    const above0 = y0 < snowY;
    const above1 = y1 < snowY;
    if (above0 && run === null) run = [x0, y0];
    if (above0 !== above1) {
      const cx = x0 + ((snowY - y0) * (x1 - x0)) / (y1 - y0);
      if (above1) run = [cx, snowY];
      else {
        run?.push(x0, y0);
        flush(cx);
      }
    } else if (above0 && run !== null && i > 0) {
      run.push(x0, y0);
    }
  }
  if (run !== null) {
    (run).push(r[r.length - 2], r[r.length - 1]);
    flush(r[r.length - 2]);
  }
}

/** Foliage colour for a season: summer greens, autumn oranges, dark conifers. */
export function foliageColor(b: SceneBuilder, o: Outdoor, kind: 'conifer' | 'summer' | 'autumn' | 'dry'): RGB {
  const rng = b.rng;
  const c =
    kind === 'conifer' ? hsvRange(rng, [95, 160], [0.3, 0.7], [0.16, 0.42]) :
    kind === 'summer' ? hsvRange(rng, [75, 130], [0.4, 0.8], [0.3, 0.65]) :
    kind === 'autumn' ? hsvRange(rng, [10, 50], [0.55, 0.9], [0.45, 0.85]) :
    hsvRange(rng, [45, 80], [0.3, 0.6], [0.4, 0.65]);
  return mul(c, o.light);
}

/** Bark colour. */
export function barkColor(b: SceneBuilder, o: Outdoor): RGB {
  return mul(hsvRange(b.rng, [15, 35], [0.25, 0.55], [0.15, 0.4]), o.light);
}

/** A conifer: trunk and 3–5 tiers of needles, optionally with snow on the branches. */
export function conifer(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number, color: RGB, snowy: boolean): void {
  b.object('tree', () => coniferShapes(b, o, x, baseY, h, color, snowy));
}

function coniferShapes(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number, color: RGB, snowy: boolean): void {
  const rng = b.rng;
  const w = h * rng.range(0.28, 0.42);
  const trunkH = h * 0.14;
  const bark = barkColor(b, o);
  b.rect('trunk', x - h * 0.03, baseY - trunkH * 1.4, x + h * 0.03, baseY, { color: bark, shade: [0.4, 0] });
  const tiers = rng.int(3, 5);
  const paint: Paint = {
    color,
    color2: shadeOf(color, 0.55),
    pattern: { kind: 'noise', scale: rng.range(40, 70), contrast: 1.4, stretch: 0.6 },
    shade: [rng.range(-0.5, 0.5), 0.2],
    seed: b.seed(),
  };
  const top = baseY - h;
  const bottom = baseY - trunkH;
  const snowPaint: Paint = { color: mul([245, 248, 255], o.light), color2: [200, 210, 225], pattern: { kind: 'noise', scale: 40 }, seed: b.seed() };
  for (let i = 0; i < tiers; i++) {
    const f0 = i / tiers;
    const f1 = (i + 1) / tiers;
    const apex = top + (bottom - top) * Math.max(0, f0 - 0.12);
    const base = top + (bottom - top) * f1;
    const half = (w / 2) * (0.35 + 0.65 * f1);
    const droop = h * 0.03;
    b.poly('tree', [x, apex, x + half, base + droop, x + half * 0.3, base, x - half * 0.3, base, x - half, base + droop], paint);
    if (snowy) {
      b.decoPoly([x, apex, x + half * 0.85, base - (base - apex) * 0.05, x + half * 0.3, base - (base - apex) * 0.3, x - half * 0.2, base - (base - apex) * 0.25, x - half * 0.8, base - (base - apex) * 0.08], snowPaint);
    }
  }
}

/** A broadleaf tree: a tapered trunk and a crown of overlapping foliage blobs. */
export function broadleaf(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number, color: RGB): void {
  b.object('tree', () => broadleafShapes(b, o, x, baseY, h, color));
}

function broadleafShapes(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number, color: RGB): void {
  const rng = b.rng;
  const trunkW = h * rng.range(0.05, 0.09);
  const crownY = baseY - h * rng.range(0.55, 0.7);
  const bark = barkColor(b, o);
  b.poly('trunk', [x - trunkW * 0.35, crownY, x + trunkW * 0.35, crownY, x + trunkW * 0.6, baseY, x - trunkW * 0.6, baseY], {
    color: bark,
    color2: shadeOf(bark, 0.6),
    pattern: { kind: 'stripes', period: 1 / (trunkW * 0.4), angle: 0, warp: 0.5, soft: true },
    seed: b.seed(),
  });
  const paint: Paint = {
    color: shadeOf(color, 1.1),
    color2: shadeOf(color, 0.5),
    pattern: { kind: 'noise', scale: rng.range(28, 50), contrast: 1.6 },
    shade: [rng.range(-0.4, 0.4), 0.45],
    seed: b.seed(),
  };
  const cw = h * rng.range(0.28, 0.42);
  const ch = h * rng.range(0.3, 0.42);
  const blobs = rng.int(4, 7);
  const cy = crownY - ch * 0.35;
  b.ellipse('tree', x, cy, cw * 0.8, ch * 0.75, paint);
  for (let i = 0; i < blobs; i++) {
    const a = (i / blobs) * Math.PI * 2 + rng.range(-0.4, 0.4);
    const rr = cw * rng.range(0.35, 0.55);
    b.ellipse('tree', x + Math.cos(a) * cw * 0.55, cy + Math.sin(a) * ch * 0.5, rr, rr * rng.range(0.75, 1), paint);
  }
}

/** A palm: curved trunk and drooping fronds. */
export function palm(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number): void {
  b.object('tree', () => palmShapes(b, o, x, baseY, h));
}

function palmShapes(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number): void {
  const rng = b.rng;
  const lean = rng.range(-0.35, 0.35) * h;
  const topX = x + lean;
  const topY = baseY - h;
  const steps = 6;
  const left: number[] = [];
  const right: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const cx = x + lean * t * t;
    const cy = baseY - h * t;
    const w = h * (0.045 - 0.02 * t);
    left.push(cx - w, cy);
    right.unshift(cx + w, cy);
  }
  const bark = mix(barkColor(b, o), [150, 130, 100], 0.3);
  b.poly('trunk', [...left, ...right], {
    color: bark,
    color2: shadeOf(bark, 0.6),
    pattern: { kind: 'stripes', period: 1 / (h * 0.05), angle: Math.PI / 2, duty: 0.3 },
    seed: b.seed(),
  });
  const leaf = foliageColor(b, o, rng.chance(0.8) ? 'summer' : 'dry');
  const paint: Paint = { color: leaf, color2: shadeOf(leaf, 0.55), pattern: { kind: 'noise', scale: 50, contrast: 1.3 }, seed: b.seed() };
  const fronds = rng.int(5, 8);
  for (let i = 0; i < fronds; i++) {
    const a = Math.PI + (i / (fronds - 1)) * Math.PI + rng.range(-0.2, 0.2); // upper half, left to right
    const len = h * rng.range(0.35, 0.5);
    const ex = topX + Math.cos(a) * len;
    const ey = topY + Math.sin(a) * len * 0.5 + len * 0.45; // droop
    const mx = topX + Math.cos(a) * len * 0.5;
    const my = topY + Math.sin(a) * len * 0.45;
    const wv = h * 0.05;
    b.poly('tree', [topX, topY - wv * 0.3, mx, my - wv, ex, ey, mx, my + wv * 0.6], paint);
  }
}

/** A bush-like rock with an irregular outline and a shaded side. */
export function rock(b: SceneBuilder, o: Outdoor, x: number, baseY: number, r: number, color?: RGB): void {
  const rng = b.rng;
  const c = color ?? rockColor(b, o, 0);
  const n = rng.int(6, 9);
  const pts: number[] = [];
  const hr = r * rng.range(0.55, 0.9);
  for (let i = 0; i < n; i++) {
    const a = Math.PI + (i / (n - 1)) * Math.PI; // top half from left to right
    const k = rng.range(0.75, 1.1);
    pts.push(x + Math.cos(a) * r * k, baseY + Math.sin(a) * hr * k);
  }
  pts.push(x + r * 0.9, baseY + hr * 0.12, x - r * 0.9, baseY + hr * 0.12);
  b.poly('rock', pts, {
    color: c,
    color2: shadeOf(c, 0.55),
    pattern: { kind: 'noise', scale: rng.range(30, 60), contrast: 1.2 },
    shade: [rng.range(-0.6, 0.6), 0.5],
    grain: 0.05,
    seed: b.seed(),
  });
}

/** Options for {@link house}. */
export interface HouseOptions {
  /** Snow on the roof (labelled snow). */
  readonly snowRoof?: boolean;
  /** Wall colour; default from a house palette. */
  readonly wall?: RGB;
}

/** A gabled house: walls, roof, windows, a door and maybe a chimney. */
export function house(b: SceneBuilder, o: Outdoor, x0: number, baseY: number, w: number, h: number, opt: HouseOptions = {}): void {
  b.object('house', () => houseShapes(b, o, x0, baseY, w, h, opt));
}

function houseShapes(b: SceneBuilder, o: Outdoor, x0: number, baseY: number, w: number, h: number, opt: HouseOptions = {}): void {
  const rng = b.rng;
  const wall = mul(
    opt.wall ??
      rng.weighted<() => RGB>([
        [() => woodColor(rng), 3],
        [() => hsvRange(rng, [0, 60], [0.05, 0.3], [0.6, 0.95]), 3],
        [() => hsvRange(rng, [0, 20], [0.5, 0.75], [0.4, 0.7]), 2], // barn red
        [() => hsvRange(rng, [0, 360], [0.15, 0.45], [0.5, 0.85]), 2],
      ])(),
    o.light,
  );
  const x1 = x0 + w;
  const top = baseY - h;
  const wallPaint: Paint = rng.weighted<Paint>([
    [{ color: wall, color2: shadeOf(wall, 0.75), pattern: { kind: 'stripes', period: 1 / (h * rng.range(0.08, 0.14)), angle: Math.PI / 2, duty: 0.18 }, seed: b.seed() }, 3],
    [{ color: wall, color2: shadeOf(wall, 0.7), pattern: { kind: 'tiles', width: 1 / (w * 0.1), height: 1 / (h * 0.07), offset: 0.5, grout: 0.1 }, seed: b.seed() }, 2],
    [{ color: wall, color2: shadeOf(wall, 0.85), pattern: { kind: 'noise', scale: 30 }, mottle: 0.05, seed: b.seed() }, 2],
  ]);
  b.rect('house', x0, top, x1, baseY, { ...wallPaint, shade: [rng.range(-0.4, 0.4), 0.15] });
  // roof
  const roofColor = mul(
    rng.weighted<() => RGB>([
      [() => hsvRange(rng, [0, 25], [0.4, 0.7], [0.25, 0.55]), 3],
      [() => hsvRange(rng, [0, 360], [0, 0.1], [0.15, 0.4]), 3],
      [() => hsvRange(rng, [90, 220], [0.2, 0.5], [0.2, 0.45]), 1],
    ])(),
    o.light,
  );
  const over = w * rng.range(0.04, 0.1);
  const roofH = h * rng.range(0.45, 0.8);
  const flatTop = rng.chance(0.3) ? w * rng.range(0.1, 0.35) : 0;
  const mid = (x0 + x1) / 2;
  const roof = [x0 - over, top + h * 0.03, mid - flatTop / 2, top - roofH, mid + flatTop / 2, top - roofH, x1 + over, top + h * 0.03];
  if (rng.chance(0.35)) {
    const cx = x0 + w * rng.range(0.2, 0.7);
    b.rect('roof', cx, top - roofH * 0.9, cx + w * 0.08, top - roofH * 0.3, { color: shadeOf(roofColor, 0.8) });
  }
  b.poly('roof', roof, {
    color: roofColor,
    color2: shadeOf(roofColor, 0.65),
    pattern: { kind: 'tiles', width: 1 / (w * 0.08), height: 1 / (roofH * 0.2), offset: 0.5, grout: 0.15 },
    shade: [rng.range(-0.5, 0.5), -0.2],
    seed: b.seed(),
  });
  if (opt.snowRoof) {
    const sn = mul([248, 250, 255], o.light);
    const d = roofH * rng.range(0.25, 0.5);
    b.poly('snow', [x0 - over, top + h * 0.03 - d * 0.2, mid - flatTop / 2, top - roofH - 0.004, mid + flatTop / 2, top - roofH - 0.004, x1 + over, top + h * 0.03 - d * 0.2, x1 + over * 0.5, top + h * 0.03 - d * 0.5, mid, top - roofH + d, x0 - over * 0.5, top + h * 0.03 - d * 0.5], {
      color: sn,
      color2: shadeOf(sn, 0.8),
      pattern: { kind: 'noise', scale: 40 },
      seed: b.seed(),
    });
  }
  // door and windows
  const doorW = w * rng.range(0.14, 0.2);
  const doorX = x0 + w * rng.range(0.1, 0.9 - 0.2);
  const doorColor = mul(rng.chance(0.5) ? woodColor(rng) : hsvRange(rng, [0, 360], [0.2, 0.6], [0.2, 0.6]), o.light);
  b.rect('door', doorX, baseY - h * rng.range(0.5, 0.65), doorX + doorW, baseY, { color: doorColor, color2: shadeOf(doorColor, 0.75), pattern: { kind: 'stripes', period: 1 / (doorW * 0.33), duty: 0.15 }, seed: b.seed() });
  const nWin = rng.int(1, 3);
  const winW = w * rng.range(0.13, 0.2);
  const winH = h * rng.range(0.22, 0.35);
  const glass = windowGlass(b, o);
  const frame = rng.chance(0.6) ? mul([235, 232, 225], o.light) : shadeOf(wall, 0.6);
  for (let i = 0; i < nWin; i++) {
    const wx = x0 + (w * (i + 0.5)) / nWin - winW / 2;
    if (wx + winW > doorX - 0.005 && wx < doorX + doorW + 0.005) continue;
    const wy = top + h * rng.range(0.15, 0.3);
    paneWindow(b, wx, wy, wx + winW, wy + winH, frame, glass);
  }
}

/** Glass of a window seen from outside: dark or reflecting the sky. */
export function windowGlass(b: SceneBuilder, o: Outdoor): Paint {
  const rng = b.rng;
  const lit = rng.chance(o.mood === 'golden' ? 0.4 : 0.1);
  const c: RGB = lit ? hsvRange(rng, [35, 50], [0.5, 0.8], [0.8, 1]) : mix(hsvRange(rng, [195, 225], [0.2, 0.5], [0.15, 0.45]), o.skyTop, rng.range(0, 0.5));
  return { color: c, color2: shadeOf(c, 1.5), pattern: { kind: 'vgradient' }, seed: b.seed() };
}

/** A framed window with a cross of mullions; every part is labelled window. */
export function paneWindow(b: SceneBuilder, x0: number, y0: number, x1: number, y1: number, frame: RGB, glass: Paint): void {
  const fw = Math.min(x1 - x0, y1 - y0) * 0.12;
  b.rect('window', x0, y0, x1, y1, { color: frame });
  b.rect('window', x0 + fw, y0 + fw, x1 - fw, y1 - fw, glass);
  const mx = (x0 + x1) / 2;
  const my = (y0 + y1) / 2;
  b.rect('window', mx - fw * 0.4, y0, mx + fw * 0.4, y1, { color: frame });
  b.rect('window', x0, my - fw * 0.4, x1, my + fw * 0.4, { color: frame });
}

/**
 * A city building facade as a quadrilateral (top-left, top-right, bottom-right, bottom-left), so that it can
 * recede in perspective, with a grid of windows and a door at street level.
 */
export function building(b: SceneBuilder, o: Outdoor, q: readonly number[], floors: number, cols: number): void {
  b.object('building', () => buildingShapes(b, o, q, floors, cols));
}

function buildingShapes(b: SceneBuilder, o: Outdoor, q: readonly number[], floors: number, cols: number): void {
  const rng = b.rng;
  const wall = mul(
    rng.weighted<() => RGB>([
      [() => hsvRange(rng, [0, 60], [0.05, 0.35], [0.45, 0.9]), 4],
      [() => hsvRange(rng, [5, 25], [0.4, 0.65], [0.35, 0.6]), 2], // brick
      [() => hsvRange(rng, [0, 360], [0, 0.08], [0.3, 0.75]), 3], // concrete
      [() => hsvRange(rng, [0, 360], [0.2, 0.45], [0.5, 0.85]), 1],
    ])(),
    o.light,
  );
  const brick = rng.chance(0.35);
  b.poly('building', q, {
    color: wall,
    color2: shadeOf(wall, 0.75),
    pattern: brick ? { kind: 'tiles', width: rng.range(60, 90), height: rng.range(90, 140), offset: 0.5, grout: 0.12 } : { kind: 'noise', scale: 25 },
    mottle: 0.06,
    shade: [rng.range(-0.3, 0.3), rng.range(-0.2, 0.2)],
    seed: b.seed(),
  });
  const glass = windowGlass(b, o);
  const frame = shadeOf(wall, rng.chance(0.5) ? 0.6 : 1.15);
  const ww = rng.range(0.45, 0.7);
  const wh = rng.range(0.45, 0.65);
  const ground = rng.chance(0.7);
  for (let f = 0; f < floors; f++) {
    if (ground && f === floors - 1) continue;
    for (let c = 0; c < cols; c++) {
      const s0 = (c + (1 - ww) / 2) / cols;
      const t0 = (f + (1 - wh) / 2 + 0.05) / floors;
      const s1 = s0 + ww / cols;
      const t1 = t0 + wh / floors;
      b.poly('window', subQuad(q, s0, t0, s1, t1), { color: frame });
      const fs = (s1 - s0) * 0.12;
      const ft = (t1 - t0) * 0.1;
      b.poly('window', subQuad(q, s0 + fs, t0 + ft, s1 - fs, t1 - ft), glass);
    }
  }
  if (ground) {
    const t0 = (floors - 1 + 0.25) / floors;
    const dc = rng.int(0, cols - 1);
    const doorColor = mul(rng.chance(0.5) ? woodColor(rng) : hsvRange(rng, [0, 360], [0, 0.4], [0.15, 0.5]), o.light);
    for (let c = 0; c < cols; c++) {
      const s0 = (c + 0.15) / cols;
      const s1 = (c + 0.85) / cols;
      if (c === dc) b.poly('door', subQuad(q, s0 + 0.1 / cols, t0, s1 - 0.1 / cols, 1), { color: doorColor, shade: [0, -0.2] });
      else b.poly('window', subQuad(q, s0, t0, s1, 0.92), glass);
    }
  }
}

/** A car seen from the side (`facing` ±1) at `baseY` (bottom of the wheels). */
export function carSide(b: SceneBuilder, o: Outdoor, x: number, baseY: number, w: number, facing: number, color?: RGB): void {
  b.object('car', () => carSideShapes(b, o, x, baseY, w, facing, color));
}

function carSideShapes(b: SceneBuilder, o: Outdoor, x: number, baseY: number, w: number, facing: number, color?: RGB): void {
  const rng = b.rng;
  const body = mul(color ?? carColor(b), o.light);
  const h = w * rng.range(0.26, 0.32);
  const wheelR = w * 0.1;
  const bodyTop = baseY - h * 0.75;
  const sill = baseY - wheelR * 0.9;
  const x0 = x - w / 2;
  const x1 = x + w / 2;
  const f = (t: number): number => (facing > 0 ? x0 + w * t : x1 - w * t);
  b.poly('car', [f(0), sill, f(0), bodyTop + h * 0.12, f(0.05), bodyTop, f(0.95), bodyTop + h * 0.05, f(1), bodyTop + h * 0.2, f(1), sill], {
    color: body,
    color2: shadeOf(body, 1.35),
    pattern: { kind: 'vgradient', y0: bodyTop, y1: sill },
    seed: b.seed(),
  });
  const roofY = baseY - h * rng.range(1.15, 1.3);
  b.poly('car', [f(0.18), bodyTop, f(0.3), roofY, f(0.68), roofY, f(0.82), bodyTop], { color: body, shade: [0, 0.2] });
  const glass = { color: mix([40, 50, 65], o.skyTop, 0.35), color2: [30, 35, 45] as RGB, pattern: { kind: 'vgradient' as const } };
  b.poly('window', [f(0.22), bodyTop - 0.002, f(0.32), roofY + h * 0.08, f(0.47), roofY + h * 0.08, f(0.47), bodyTop - 0.002], glass);
  b.poly('window', [f(0.5), bodyTop - 0.002, f(0.5), roofY + h * 0.08, f(0.66), roofY + h * 0.08, f(0.77), bodyTop - 0.002], glass);
  for (const t of [0.2, 0.8]) {
    b.ellipse('wheel', f(t), baseY - wheelR, wheelR, wheelR, { color: [25, 25, 28] });
    b.decoEllipse(f(t), baseY - wheelR, wheelR * 0.5, wheelR * 0.5, { color: [150, 150, 155] });
  }
  b.decoEllipse(f(0.97), bodyTop + h * 0.3, w * 0.02, h * 0.08, { color: [250, 240, 200] });
}

/** A car seen from behind, centred on x, for roads that recede to the horizon. */
export function carRear(b: SceneBuilder, o: Outdoor, x: number, baseY: number, w: number, color?: RGB): void {
  b.object('car', () => carRearShapes(b, o, x, baseY, w, color));
}

function carRearShapes(b: SceneBuilder, o: Outdoor, x: number, baseY: number, w: number, color?: RGB): void {
  const body = mul(color ?? carColor(b), o.light);
  const h = w * 0.75;
  const x0 = x - w / 2;
  const x1 = x + w / 2;
  const wheelW = w * 0.16;
  b.rect('wheel', x0 + w * 0.04, baseY - h * 0.22, x0 + w * 0.04 + wheelW, baseY, { color: [22, 22, 25] });
  b.rect('wheel', x1 - w * 0.04 - wheelW, baseY - h * 0.22, x1 - w * 0.04, baseY, { color: [22, 22, 25] });
  b.poly('car', [x0, baseY - h * 0.15, x0, baseY - h * 0.6, x1, baseY - h * 0.6, x1, baseY - h * 0.15], { color: body, color2: shadeOf(body, 0.7), pattern: { kind: 'vgradient' } });
  b.poly('car', [x0 + w * 0.08, baseY - h * 0.6, x0 + w * 0.2, baseY - h, x1 - w * 0.2, baseY - h, x1 - w * 0.08, baseY - h * 0.6], { color: shadeOf(body, 0.9) });
  b.poly('window', [x0 + w * 0.14, baseY - h * 0.62, x0 + w * 0.23, baseY - h * 0.93, x1 - w * 0.23, baseY - h * 0.93, x1 - w * 0.14, baseY - h * 0.62], {
    color: mix([40, 50, 65], o.skyTop, 0.3),
    color2: [25, 30, 40],
    pattern: { kind: 'vgradient' },
  });
  b.decoRect(x0 + w * 0.03, baseY - h * 0.5, x0 + w * 0.18, baseY - h * 0.4, { color: [200, 30, 30] });
  b.decoRect(x1 - w * 0.18, baseY - h * 0.5, x1 - w * 0.03, baseY - h * 0.4, { color: [200, 30, 30] });
  b.decoRect(x - w * 0.14, baseY - h * 0.36, x + w * 0.14, baseY - h * 0.26, { color: [230, 230, 220] });
}

/** A car paint colour. */
export function carColor(b: SceneBuilder): RGB {
  const rng = b.rng;
  return rng.weighted<() => RGB>([
    [() => hsvRange(rng, [0, 360], [0, 0.05], [0.1, 0.95]), 5],
    [() => hsvRange(rng, [0, 360], [0.5, 0.9], [0.35, 0.85]), 4],
  ])();
}

/** Options for {@link person}. */
export interface PersonOptions {
  /** Skis and poles. */
  readonly skier?: boolean;
  /** Swimwear instead of clothes (bare arms and legs). */
  readonly swim?: boolean;
}

/** A standing person of height `h` with feet at `baseY`. */
export function person(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number, opt: PersonOptions = {}): void {
  const rng = b.rng;
  const skin = mul(hsvRange(rng, [15, 35], [0.25, 0.6], [0.35, 0.95]), o.light);
  const top = mul(fabricColor(rng), o.light);
  const legs = mul(opt.swim ? skin : rng.chance(0.5) ? hsvRange(rng, [200, 240], [0.2, 0.6], [0.15, 0.45]) : fabricColor(rng), o.light);
  const headR = h * 0.075;
  const hipY = baseY - h * 0.47;
  const shoulderY = baseY - h * 0.8;
  const sw = h * 0.13;
  const lean = opt.skier ? rng.range(-0.1, 0.1) * h : 0;
  b.poly('person', [x - sw * 0.45, hipY, x - sw * 0.55, baseY, x - sw * 0.15, baseY, x, hipY + h * 0.08, x + sw * 0.15, baseY, x + sw * 0.55, baseY, x + sw * 0.45, hipY], { color: legs, shade: [0.3, 0] });
  const torso = opt.swim ? skin : top;
  b.poly('person', [x - sw * 0.5 + lean, shoulderY, x + sw * 0.5 + lean, shoulderY, x + sw * 0.45, hipY + h * 0.03, x - sw * 0.45, hipY + h * 0.03], { color: torso, shade: [0.4, 0.1] });
  if (opt.swim) b.rect('person', x - sw * 0.45, hipY - h * 0.02, x + sw * 0.45, hipY + h * 0.07, { color: top });
  const armSwing = rng.range(-0.15, 0.15) * h;
  const arm = opt.swim ? skin : top;
  b.line('person', x - sw * 0.5 + lean, shoulderY + h * 0.02, x - sw * 0.75 + armSwing, hipY + h * 0.02, sw * 0.3, { color: arm });
  b.line('person', x + sw * 0.5 + lean, shoulderY + h * 0.02, x + sw * 0.75 - armSwing, hipY + h * 0.02, sw * 0.3, { color: arm });
  b.ellipse('person', x + lean, shoulderY - headR * 1.05, headR, headR * 1.15, { color: skin, shade: [0.4, 0] });
  if (opt.skier) {
    b.ellipse('person', x + lean, shoulderY - headR * 1.4, headR * 1.05, headR * 0.7, { color: mul(fabricColor(rng), o.light) });
    const dir = rng.chance(0.5) ? 1 : -1;
    b.line('none', x - h * 0.25 * dir, baseY + h * 0.02, x + h * 0.3 * dir, baseY - h * 0.01, h * 0.025, { color: mul(fabricColor(rng), o.light) }, false);
    b.line('none', x - sw * 0.8, hipY, x - sw * 1.2, baseY + h * 0.02, h * 0.015, { color: [60, 60, 60] }, false);
    b.line('none', x + sw * 0.8, hipY, x + sw * 1.2, baseY + h * 0.02, h * 0.015, { color: [60, 60, 60] }, false);
  }
}

/** A boat on the water line `waterY`: a hull, a cabin or a mast with a sail. */
export function boat(b: SceneBuilder, o: Outdoor, x: number, waterY: number, w: number, sail: boolean): void {
  b.object('boat', () => boatShapes(b, o, x, waterY, w, sail));
}

function boatShapes(b: SceneBuilder, o: Outdoor, x: number, waterY: number, w: number, sail: boolean): void {
  const rng = b.rng;
  const hullC = mul(rng.chance(0.5) ? hsvRange(rng, [0, 360], [0, 0.06], [0.75, 0.97]) : hsvRange(rng, [0, 360], [0.4, 0.8], [0.3, 0.75]), o.light);
  const hh = w * rng.range(0.14, 0.22);
  const dir = rng.chance(0.5) ? 1 : -1;
  const x0 = x - w / 2;
  const x1 = x + w / 2;
  const bow = dir > 0 ? x1 : x0;
  const stern = dir > 0 ? x0 : x1;
  // reflection first so that the hull covers its top
  b.decoPoly([x0 + w * 0.05, waterY, x1 - w * 0.05, waterY, x1 - w * 0.1, waterY + hh * 1.2, x0 + w * 0.1, waterY + hh * 1.2], { color: shadeOf(hullC, 0.6), alpha: 0.3 });
  b.poly('boat', [stern, waterY - hh, bow + dir * w * 0.08, waterY - hh * 1.15, bow - dir * w * 0.12, waterY + hh * 0.15, stern + dir * w * 0.04, waterY + hh * 0.15], {
    color: hullC,
    color2: shadeOf(hullC, 0.6),
    pattern: { kind: 'stripes', period: 1 / (hh * 1.3), angle: Math.PI / 2, duty: 0.2 },
    shade: [0, 0.3],
    seed: b.seed(),
  });
  if (sail) {
    const mastX = x + dir * w * 0.05;
    const mastH = w * rng.range(0.9, 1.4);
    b.rect('boat', mastX - w * 0.012, waterY - hh - mastH, mastX + w * 0.012, waterY - hh, { color: [90, 80, 70] });
    const sc = mul(rng.chance(0.7) ? [245, 243, 235] : fabricColor(rng), o.light);
    b.poly('sail', [mastX - dir * w * 0.02, waterY - hh - mastH * 0.95, mastX - dir * w * 0.02, waterY - hh * 1.4, mastX - dir * w * 0.42, waterY - hh * 1.4], { color: sc, shade: [0.3 * dir, 0.2] });
    if (rng.chance(0.6)) {
      b.poly('sail', [mastX + dir * w * 0.02, waterY - hh - mastH * 0.85, mastX + dir * w * 0.02, waterY - hh * 1.5, mastX + dir * w * 0.34, waterY - hh * 1.5], { color: shadeOf(sc, 0.9) });
    }
  } else {
    const cabC = mul(hsvRange(rng, [0, 360], [0, 0.1], [0.7, 0.95]), o.light);
    const cx0 = x - w * rng.range(0.05, 0.3);
    const cw = w * rng.range(0.25, 0.4);
    b.rect('boat', cx0, waterY - hh - w * 0.16, cx0 + cw, waterY - hh * 1.05, { color: cabC, shade: [0.3, 0] });
    b.rect('window', cx0 + cw * 0.15, waterY - hh - w * 0.13, cx0 + cw * 0.85, waterY - hh - w * 0.08, { color: [40, 50, 70] });
  }
}

/** A fence from x0 to x1: posts and two rails. `y0`/`y1` give the ground line at each end (perspective). */
export function fence(b: SceneBuilder, o: Outdoor, x0: number, y0: number, x1: number, y1: number, h0: number, h1: number, color?: RGB): void {
  const rng = b.rng;
  const c = mul(color ?? (rng.chance(0.7) ? woodColor(rng) : hsvRange(rng, [0, 360], [0, 0.05], [0.8, 0.95])), o.light);
  const paint: Paint = { color: c, color2: shadeOf(c, 0.7), pattern: { kind: 'noise', scale: 60 }, seed: b.seed() };
  const n = Math.max(2, Math.round(Math.abs(x1 - x0) / rng.range(0.05, 0.09)));
  for (const rail of [0.35, 0.75]) {
    b.poly('fence', [x0, y0 - h0 * rail, x1, y1 - h1 * rail, x1, y1 - h1 * (rail - 0.1), x0, y0 - h0 * (rail - 0.1)], paint);
  }
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const x = x0 + (x1 - x0) * t;
    const y = y0 + (y1 - y0) * t;
    const h = h0 + (h1 - h0) * t;
    b.rect('fence', x - h * 0.06, y - h, x + h * 0.06, y, paint);
  }
}

/** A street light: pole, arm and lamp head. */
export function streetlight(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number, dir: number): void {
  const c = mul(b.rng.chance(0.5) ? [50, 55, 60] : [120, 125, 130], o.light);
  b.rect('streetlight', x - h * 0.018, baseY - h, x + h * 0.018, baseY, { color: c, shade: [0.5, 0] });
  b.line('streetlight', x, baseY - h, x + dir * h * 0.22, baseY - h * 0.97, h * 0.025, { color: c });
  b.poly('streetlight', [x + dir * h * 0.14, baseY - h * 0.985, x + dir * h * 0.28, baseY - h * 0.985, x + dir * h * 0.25, baseY - h * 0.93, x + dir * h * 0.17, baseY - h * 0.93], { color: c });
  b.decoRect(Math.min(x + dir * h * 0.17, x + dir * h * 0.25), baseY - h * 0.94, Math.max(x + dir * h * 0.17, x + dir * h * 0.25), baseY - h * 0.925, { color: [255, 245, 200] });
}

/** A saguaro cactus with up to two arms. */
export function cactus(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number): void {
  const rng = b.rng;
  const c = mul(hsvRange(rng, [85, 140], [0.35, 0.65], [0.3, 0.55]), o.light);
  const paint: Paint = { color: c, color2: shadeOf(c, 0.7), pattern: { kind: 'stripes', period: 1 / (h * 0.035), angle: 0, soft: true }, shade: [0.5, 0], seed: b.seed() };
  const w = h * rng.range(0.1, 0.14);
  b.rect('cactus', x - w / 2, baseY - h + w / 2, x + w / 2, baseY, paint);
  b.ellipse('cactus', x, baseY - h + w / 2, w / 2, w / 2, paint);
  for (const side of [-1, 1]) {
    if (!rng.chance(0.7)) continue;
    const ay = baseY - h * rng.range(0.35, 0.6);
    const ax = x + side * w * rng.range(1.1, 1.6);
    const top = ay - h * rng.range(0.15, 0.3);
    const aw = w * 0.75;
    b.rect('cactus', Math.min(x, ax), ay - aw / 2, Math.max(x, ax), ay + aw / 2, paint);
    b.rect('cactus', ax - aw / 2, top, ax + aw / 2, ay + aw / 2, paint);
    b.ellipse('cactus', ax, top, aw / 2, aw / 2, paint);
  }
}

/** A beach umbrella: pole and striped canopy. */
export function umbrella(b: SceneBuilder, o: Outdoor, x: number, baseY: number, h: number): void {
  const rng = b.rng;
  const c1 = mul(fabricColor(rng), o.light);
  const c2 = mul(rng.chance(0.6) ? [245, 245, 240] : fabricColor(rng), o.light);
  const tilt = rng.range(-0.25, 0.25);
  const topX = x + tilt * h * 0.3;
  const topY = baseY - h;
  b.line('umbrella', x, baseY, topX, topY, h * 0.03, { color: [90, 80, 70] });
  const r = h * rng.range(0.45, 0.6);
  b.poly('umbrella', arcPoints(topX, topY + r * 0.35, r, r * 0.55, Math.PI, 2 * Math.PI, 12), {
    color: c1,
    color2: c2,
    pattern: { kind: 'stripes', period: 1 / (r * 0.45), angle: 0.1, duty: 0.5 },
    shade: [0, 0.3],
    seed: b.seed(),
  });
}

/** A wooden pier from the shore at (x, y0) out over the water to y1 (wider when nearer). */
export function pier(b: SceneBuilder, o: Outdoor, x0: number, x1: number, y: number, depth: number): void {
  const rng = b.rng;
  const c = mul(woodColor(rng), o.light);
  const paint: Paint = { color: c, color2: shadeOf(c, 0.6), pattern: { kind: 'stripes', period: 1 / (depth * 0.25), angle: Math.PI / 2, duty: 0.15 }, seed: b.seed() };
  const n = Math.max(2, Math.round((x1 - x0) / 0.08));
  for (let i = 0; i <= n; i++) {
    const px = x0 + ((x1 - x0) * i) / n;
    b.rect('pier', px - depth * 0.12, y, px + depth * 0.12, y + depth * 1.6, { color: shadeOf(c, 0.55) });
  }
  b.rect('pier', x0, y - depth * 0.4, x1, y + depth * 0.2, paint);
}

/** A chairlift: towers and a cable with hanging chairs between two points on a slope. */
export function skiLift(b: SceneBuilder, o: Outdoor, xa: number, ya: number, xc: number, yc: number, towerH: number): void {
  const rng = b.rng;
  const c = mul(rng.chance(0.5) ? [70, 72, 78] : [150, 150, 155], o.light);
  const towers = rng.int(2, 4);
  const tops: number[] = [];
  for (let i = 0; i < towers; i++) {
    const t = (i + 0.5) / towers;
    const x = xa + (xc - xa) * t;
    const y = ya + (yc - ya) * t;
    const h = towerH * (0.6 + 0.4 * (y - Math.min(ya, yc)) / Math.max(1e-3, Math.abs(yc - ya)));
    b.rect('ski_lift', x - h * 0.03, y - h, x + h * 0.03, y, { color: c, shade: [0.5, 0] });
    b.rect('ski_lift', x - h * 0.16, y - h, x + h * 0.16, y - h * 0.93, { color: c });
    tops.push(x, y - h * 0.97);
  }
  const cable: number[] = [xa, ya - towerH * 0.5, ...tops, xc, yc - towerH * 0.5];
  for (let i = 0; i + 3 < cable.length; i += 2) {
    b.line('ski_lift', cable[i], cable[i + 1], cable[i + 2], cable[i + 3], towerH * 0.025, { color: [40, 40, 45] });
    const chairs = rng.int(0, 2);
    for (let k = 0; k < chairs; k++) {
      const t = rng.range(0.2, 0.8);
      const x = cable[i] + (cable[i + 2] - cable[i]) * t;
      const y = cable[i + 1] + (cable[i + 3] - cable[i + 1]) * t;
      b.rect('ski_lift', x - towerH * 0.01, y, x + towerH * 0.01, y + towerH * 0.2, { color: [40, 40, 45] });
      b.rect('ski_lift', x - towerH * 0.1, y + towerH * 0.2, x + towerH * 0.1, y + towerH * 0.27, { color: mul(fabricColor(rng), o.light) });
    }
  }
}

/** A distant treeline: a band of rounded or pointed crowns along y (label tree). */
export function treeline(b: SceneBuilder, y: number, h: number, color: RGB, pointed: boolean, x0 = -0.02, x1 = 1.02): void {
  const rng = b.rng;
  const pts: number[] = [x0, y + h * 0.3];
  let x = x0;
  while (x < x1) {
    const step = h * rng.range(0.3, 0.7);
    if (pointed) {
      pts.push(x + step * 0.5, y - h * rng.range(0.5, 1));
      pts.push(x + step, y - h * rng.range(0, 0.3));
    } else {
      pts.push(x + step * 0.25, y - h * rng.range(0.5, 0.9));
      pts.push(x + step * 0.75, y - h * rng.range(0.5, 0.9));
      pts.push(x + step, y - h * rng.range(0.2, 0.45));
    }
    x += step;
  }
  pts.push(x1, y + h * 0.3);
  b.poly('tree', pts, {
    color,
    color2: shadeOf(color, 0.55),
    pattern: { kind: 'noise', scale: rng.range(40, 70), contrast: 1.5 },
    shade: [0, 0.3],
    seed: b.seed(),
  });
}

/** A lake or sea surface from `y0` to `y1`, with wave streaks. */
export function waterSurface(b: SceneBuilder, o: Outdoor, y0: number, y1: number, deep?: RGB): void {
  const rng = b.rng;
  const base = deep ?? mix(hsvRange(rng, [180, 215], [0.35, 0.75], [0.3, 0.65]), o.skyTop, rng.range(0.1, 0.5));
  const far = mix(base, o.skyBottom, rng.range(0.3, 0.6));
  b.rect('water', 0, y0, 1, y1, { color: far, color2: shadeOf(base, 0.85), pattern: { kind: 'vgradient', y0, y1 }, seed: b.seed() });
  b.decoRect(0, y0, 1, y1, {
    color: shadeOf(base, 0.8),
    color2: mix(o.skyBottom, [255, 255, 255], 0.4),
    pattern: { kind: 'waves', scale: rng.range(10, 20), amount: rng.range(0.5, 0.9) },
    alpha: rng.range(0.35, 0.7),
    seed: b.seed(),
  });
}

/** Grass paint for the given season. */
export function grassPaint(b: SceneBuilder, o: Outdoor, dry: boolean): Paint {
  const rng = b.rng;
  const c = mul(dry ? hsvRange(rng, [40, 70], [0.35, 0.65], [0.45, 0.75]) : hsvRange(rng, [70, 125], [0.4, 0.8], [0.3, 0.65]), o.light);
  return {
    color: c,
    color2: shadeOf(mix(c, [40, 60, 20], 0.2), 0.65),
    pattern: { kind: 'noise', scale: rng.range(35, 70), contrast: 1.2, stretch: rng.range(0.3, 0.7) },
    mottle: 0.12,
    mottleScale: 4,
    grain: 0.08,
    shade: [0, 0.3],
    seed: b.seed(),
  };
}

/** Snow paint: white to pale blue, lit by the mood, with soft texture. */
export function snowPaint(b: SceneBuilder, o: Outdoor): Paint {
  const rng = b.rng;
  const c = mul(hsvRange(rng, [190, 230], [0, 0.1], [0.86, 1]), o.light);
  return {
    color: c,
    color2: mix(shadeOf(c, 0.78), o.skyTop, 0.25),
    pattern: { kind: 'noise', scale: rng.range(8, 20), contrast: 0.7, stretch: 0.5 },
    mottle: 0.05,
    grain: 0.05,
    shade: [rng.range(-0.3, 0.3), rng.range(-0.1, 0.15)],
    seed: b.seed(),
  };
}

/** Sand paint: from pale to ochre, grainy, with ripple noise. */
export function sandPaint(b: SceneBuilder, o: Outdoor): Paint {
  const rng = b.rng;
  const c = mul(hsvRange(rng, [28, 48], [0.2, 0.55], [0.6, 0.92]), o.light);
  return {
    color: c,
    color2: shadeOf(c, 0.78),
    pattern: { kind: 'noise', scale: rng.range(20, 45), contrast: 1, stretch: rng.range(0.3, 0.8) },
    mottle: 0.08,
    grain: 0.1,
    shade: [0, 0.15],
    seed: b.seed(),
  };
}

/** Soil paint (ploughed fields, dirt). */
export function soilPaint(b: SceneBuilder, o: Outdoor): Paint {
  const rng = b.rng;
  const c = mul(hsvRange(rng, [18, 35], [0.35, 0.6], [0.25, 0.5]), o.light);
  return { color: c, color2: shadeOf(c, 0.65), pattern: { kind: 'noise', scale: 50, contrast: 1.2 }, grain: 0.1, seed: b.seed() };
}

/** Asphalt paint. */
export function asphaltPaint(b: SceneBuilder, o: Outdoor): Paint {
  const rng = b.rng;
  const c = mul(hsvRange(rng, [0, 360], [0, 0.06], [0.22, 0.5]), o.light);
  return { color: c, color2: shadeOf(c, 0.8), pattern: { kind: 'noise', scale: 60 }, mottle: 0.06, grain: 0.12, seed: b.seed() };
}

/** Lines painted on a road (dashes), keeping the road label. */
export function dashes(b: SceneBuilder, pts: Array<[number, number, number]>, color: RGB): void {
  // pts: centre line samples (x, y, width); every other segment is painted
  for (let i = 0; i + 1 < pts.length; i += 2) {
    const [xa, ya, wa] = pts[i];
    const [xb, yb, wb] = pts[i + 1];
    b.decoPoly([xa - wa / 2, ya, xa + wa / 2, ya, xb + wb / 2, yb, xb - wb / 2, yb], { color });
  }
}

