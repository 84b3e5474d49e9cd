/**
 * Generators of the outdoor scene classes. Each takes a builder (with its seeded generator) and the mood,
 * and appends shapes back to front. Sizes of things on the ground scale with their distance below the horizon.
 */
import type { SceneBuilder } from './builder.js';
import type { Paint, RGB } from './description.js';
import {
  asphaltPaint, boat, broadleaf, building, cactus, carRear, carSide, cloud, conifer, dashes, fence, foliageColor,
  grassPaint, house, mountains, palm, person, pier, rock, rockColor, sandPaint, skiLift, sky, snowPaint, soilPaint,
  streetlight, sun, treeline, umbrella, waterSurface,
} from './outdoor.js';
import { hsvRange, mix, mul, shadeOf, type Outdoor } from './palette.js';

/** Sky, maybe a sun and some clouds above `horizon`. */
function skyWithWeather(b: SceneBuilder, o: Outdoor, horizon: number, maxClouds: number): void {
  const rng = b.rng;
  sky(b, o, horizon);
  if (o.sunny && rng.chance(0.45)) {
    const y = o.mood === 'golden' ? rng.range(horizon * 0.5, horizon * 0.9) : rng.range(0.05, horizon * 0.6);
    sun(b, o, rng.range(0.08, 0.92), y, rng.range(0.025, 0.05));
  }
  const n = o.mood === 'overcast' ? rng.int(2, maxClouds + 2) : rng.int(0, maxClouds);
  for (let i = 0; i < n; i++) cloud(b, o, rng.range(-0.05, 1.05), rng.range(0.04, Math.max(0.06, horizon - 0.1)), rng.range(0.12, 0.35));
}

/** Objects on the ground: sizes grow with the distance below the horizon. */
const depthScale = (y: number, horizon: number): number => Math.max(0.02, y - horizon);

/** A ground band whose upper edge runs from (0, yl) to (1, yr) with gentle waves. */
function groundBand(b: SceneBuilder, concept: string, yl: number, yr: number, paint: Paint, wave = 0.015): number[] {
  const pts: number[] = [];
  const n = 10;
  const phase = b.rng.range(0, 6.28);
  const freq = b.rng.range(1, 3);
  for (let i = 0; i <= n; i++) {
    const x = -0.02 + (1.04 * i) / n;
    pts.push(x, yl + (yr - yl) * (i / n) + wave * Math.sin(phase + i * freq));
  }
  pts.push(1.02, 1.01, -0.02, 1.01);
  b.poly(concept, pts, paint);
  return pts;
}

/** Reflection of a ridge polygon (from {@link mountains}) in still water below `baseY`. */
function reflect(b: SceneBuilder, poly: readonly number[], baseY: number, color: RGB, alpha: number): void {
  const pts: number[] = [];
  for (let i = 0; i + 1 < poly.length; i += 2) pts.push(poly[i], 2 * baseY - poly[i + 1]);
  b.decoPoly(pts, { color, color2: shadeOf(color, 0.7), pattern: { kind: 'stripes', period: 60, angle: Math.PI / 2, duty: 0.3, warp: 0.5 }, alpha });
}

// ---------------------------------------------------------------- ski resort

export function skiResort(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.3, 0.55);
  skyWithWeather(b, o, horizon, 3);
  const side = rng.chance(0.5) ? 1 : -1;
  // the slope's upper edge; the mountains reach down behind it
  const yl = horizon + rng.range(0.05, 0.25);
  const yr = horizon + rng.range(0.05, 0.25);
  const base = Math.max(yl, yr) + 0.03;
  mountains(b, o, { baseY: base, top: [Math.max(0.04, horizon - 0.3), horizon - 0.1], peaks: rng.int(2, 4), far: rng.range(0.1, 0.4), snow: rng.range(0.3, 0.65), shadowSide: side });
  if (rng.chance(0.6)) {
    mountains(b, o, { baseY: base, top: [horizon - 0.16, horizon], peaks: rng.int(1, 3), far: rng.range(0, 0.2), snow: rng.range(0.35, 0.75), shadowSide: side });
  }
  if (rng.chance(0.5)) treeline(b, Math.min(yl, yr) + rng.range(-0.01, 0.01), rng.range(0.02, 0.05), mix(foliageColor(b, o, 'conifer'), o.haze, 0.2), true);
  groundBand(b, 'snow', yl, yr, snowPaint(b, o), 0.02);
  const tracks = rng.int(0, 5);
  for (let i = 0; i < tracks; i++) {
    const x0 = rng.range(0, 1);
    const y0 = Math.max(yl, yr) + rng.range(0, 0.1);
    b.line('none', x0, y0, x0 + rng.range(-0.5, 0.5), 1.05, 0.004, { color: mix(o.skyTop, [120, 130, 150], 0.5), alpha: 0.35 }, false);
  }
  const slopeY = (x: number): number => yl + (yr - yl) * x;
  const items: Array<[number, () => void]> = [];
  const groups = rng.int(1, 3);
  const treeColor = foliageColor(b, o, 'conifer');
  for (let g = 0; g < groups; g++) {
    const gx = rng.range(0, 1);
    const n = rng.int(2, 7);
    const snowy = rng.chance(0.5);
    for (let i = 0; i < n; i++) {
      const x = gx + rng.range(-0.12, 0.12);
      const y = slopeY(x) + rng.range(0.01, 0.25);
      items.push([y, () => conifer(b, o, x, y, depthScale(y, horizon) * rng.range(1.2, 2), treeColor, snowy)]);
    }
  }
  if (rng.chance(0.4)) {
    const x = rng.range(0.05, 0.7);
    const y = slopeY(x) + rng.range(0.02, 0.12);
    const s = depthScale(y, horizon);
    items.push([y, () => house(b, o, x, y, s * rng.range(1.4, 2.2), s * rng.range(0.7, 1), { snowRoof: true })]);
  }
  if (rng.chance(0.45)) {
    const xa = rng.range(0.05, 0.4);
    const xc = rng.range(0.6, 0.95);
    const ya = slopeY(xa) + rng.range(0.1, 0.35);
    const yc = slopeY(xc) + rng.range(-0.05, 0.05);
    items.push([Math.min(ya, yc), () => skiLift(b, o, xa, ya, xc, yc, rng.range(0.1, 0.2))]);
  }
  const skiers = rng.int(0, 5);
  for (let i = 0; i < skiers; i++) {
    const x = rng.range(0.05, 0.95);
    const y = Math.max(slopeY(x) + 0.02, rng.range(horizon + 0.1, 0.98));
    items.push([y, () => person(b, o, x, y, depthScale(y, horizon) * rng.range(0.5, 0.8), { skier: true })]);
  }
  if (rng.chance(0.25)) {
    const y = rng.range(0.75, 0.95);
    items.push([y, () => fence(b, o, rng.range(-0.1, 0.4), y, rng.range(0.6, 1.1), y + rng.range(-0.05, 0.05), 0.05, 0.05, hsvRange(rng, [10, 30], [0.7, 0.9], [0.8, 1]))]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

// ---------------------------------------------------------------- mountain lake

export function mountainLake(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.35, 0.6);
  skyWithWeather(b, o, horizon, 3);
  const side = rng.chance(0.5) ? 1 : -1;
  const snow = rng.chance(0.7) ? rng.range(0.12, 0.4) : 0;
  const mPoly = mountains(b, o, { baseY: horizon + 0.005, top: [Math.max(0.04, horizon - 0.38), horizon - 0.12], peaks: rng.int(2, 4), far: rng.range(0.05, 0.35), snow, shadowSide: side });
  const conif = foliageColor(b, o, rng.chance(0.7) ? 'conifer' : 'summer');
  if (rng.chance(0.8)) treeline(b, horizon + 0.004, rng.range(0.015, 0.05), conif, rng.chance(0.7));
  waterSurface(b, o, horizon, 1.01);
  if (rng.chance(0.7)) reflect(b, mPoly, horizon + 0.005, mix(rockColor(b, o, 0.3), o.skyTop, 0.3), rng.range(0.15, 0.35));
  if (rng.chance(0.35)) boat(b, o, rng.range(0.2, 0.8), rng.range(horizon + 0.05, horizon + 0.25), rng.range(0.04, 0.1), rng.chance(0.5));
  // foreground shore on one or both sides
  const shoreSide = rng.pick([-1, 1, 0]);
  const grass = grassPaint(b, o, rng.chance(0.25));
  if (shoreSide !== 0 || rng.chance(0.5)) {
    const y0 = rng.range(0.72, 0.92);
    const pts: number[] = shoreSide < 0 ? [-0.02, y0 - 0.15, 0.35, y0, 0.7, 1.01, -0.02, 1.01] : shoreSide > 0 ? [1.02, y0 - 0.15, 0.65, y0, 0.3, 1.01, 1.02, 1.01] : [-0.02, y0, 0.3, y0 + 0.02, 0.6, y0 - 0.01, 1.02, y0 + 0.03, 1.02, 1.01, -0.02, 1.01];
    b.poly('grass', pts, grass);
    const n = rng.int(0, 3);
    for (let i = 0; i < n; i++) {
      const x = shoreSide < 0 ? rng.range(0, 0.3) : shoreSide > 0 ? rng.range(0.7, 1) : rng.range(0, 1);
      rock(b, o, x, rng.range(y0 + 0.02, 1), rng.range(0.03, 0.07));
    }
    if (rng.chance(0.6)) {
      const x = shoreSide <= 0 ? rng.range(0.02, 0.2) : rng.range(0.8, 0.98);
      const y = rng.range(0.9, 1);
      if (rng.chance(0.6)) conifer(b, o, x, y, rng.range(0.4, 0.7), conif, false);
      else broadleaf(b, o, x, y, rng.range(0.4, 0.7), foliageColor(b, o, 'summer'));
    }
    if (rng.chance(0.15)) house(b, o, shoreSide <= 0 ? 0.05 : 0.75, y0 - 0.02, 0.15, 0.08);
  }
}

// ---------------------------------------------------------------- forest path

export function forestPath(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.35, 0.6);
  sky(b, o, horizon);
  if (rng.chance(0.3)) cloud(b, o, rng.range(0, 1), rng.range(0.05, 0.2), rng.range(0.1, 0.2));
  const season = rng.weighted([['summer', 6], ['autumn', 3], ['dry', 1]] as const);
  const leaf = (): RGB => foliageColor(b, o, rng.chance(0.25) ? 'conifer' : season);
  treeline(b, horizon + 0.02, rng.range(0.12, 0.35), mix(leaf(), o.haze, 0.3), rng.chance(0.3));
  const grass = grassPaint(b, o, season === 'dry');
  b.rect('grass', 0, horizon + 0.02, 1, 1, season === 'autumn' && rng.chance(0.5) ? { ...grass, color: mix(grass.color, [150, 100, 40], 0.5) } : grass);
  // the path: a curved band from the bottom to a point near the horizon
  const vx = rng.range(0.3, 0.7);
  const bx = rng.range(0.3, 0.7);
  const w0 = rng.range(0.25, 0.55);
  const bend = rng.range(-0.15, 0.15);
  const left: number[] = [];
  const right: number[] = [];
  const n = 10;
  const ph = horizon + 0.03;
  for (let i = 0; i <= n; i++) {
    const t = i / n; // 0 at the bottom, 1 far
    const y = 1.01 + (ph - 1.01) * t;
    const cx = bx + (vx - bx) * t + bend * Math.sin(Math.PI * t);
    const w = w0 * (1 - t) * 0.5 + 0.004;
    left.push(cx - w, y);
    right.unshift(cx + w, y);
  }
  const pathPaint: Paint = rng.chance(0.7) ? soilPaint(b, o) : { ...soilPaint(b, o), color: mul(hsvRange(rng, [30, 45], [0.1, 0.3], [0.5, 0.7]), o.light) };
  b.poly('path', [...left, ...right], { ...pathPaint, shade: [0, 0.25] });
  const pathX = (y: number): number => {
    const t = (1.01 - y) / (1.01 - ph);
    return bx + (vx - bx) * t + bend * Math.sin(Math.PI * t);
  };
  const items: Array<[number, () => void]> = [];
  const trees = rng.int(6, 14);
  for (let i = 0; i < trees; i++) {
    const y = rng.range(horizon + 0.03, 1.15);
    const px = pathX(Math.min(y, 1));
    const s = depthScale(y, horizon);
    const off = (w0 * Math.min(1, (y - ph) / (1.01 - ph)) * 0.5 + s * 0.4) * rng.range(1.1, 2.5);
    const x = px + (rng.chance(0.5) ? 1 : -1) * off;
    const h = s * rng.range(2.2, 3.5);
    const c = leaf();
    items.push([y, () => (rng.chance(0.3) ? conifer(b, o, x, y, h, c, false) : broadleaf(b, o, x, y, h, c))]);
  }
  const rocks = rng.int(0, 3);
  for (let i = 0; i < rocks; i++) {
    const y = rng.range(horizon + 0.1, 1);
    const x = pathX(y) + (rng.chance(0.5) ? 1 : -1) * rng.range(0.15, 0.5);
    items.push([y, () => rock(b, o, x, y, depthScale(y, horizon) * rng.range(0.2, 0.4))]);
  }
  if (rng.chance(0.3)) {
    const y = rng.range(horizon + 0.1, 0.9);
    items.push([y, () => person(b, o, pathX(y) + rng.range(-0.03, 0.03), y, depthScale(y, horizon) * rng.range(0.7, 0.9))]);
  }
  if (rng.chance(0.25)) {
    const sgn = rng.chance(0.5) ? 1 : -1;
    const yA = horizon + 0.08;
    items.push([yA, () => fence(b, o, pathX(yA) + sgn * 0.06, yA, pathX(1) + sgn * (w0 * 0.5 + 0.05), 1.02, 0.02, 0.15)]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

// ---------------------------------------------------------------- beach

export function beach(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.3, 0.55);
  skyWithWeather(b, o, horizon, 4);
  if (rng.chance(0.3)) {
    mountains(b, o, { baseY: horizon + 0.003, top: [horizon - 0.08, horizon - 0.02], peaks: rng.int(1, 2), far: rng.range(0.4, 0.7), snow: 0, shadowSide: 1 });
  }
  const shoreL = horizon + rng.range(0.12, 0.4);
  const shoreR = horizon + rng.range(0.12, 0.4);
  waterSurface(b, o, horizon, Math.max(shoreL, shoreR) + 0.05);
  if (rng.chance(0.4)) boat(b, o, rng.range(0.1, 0.9), horizon + rng.range(0.01, 0.06), rng.range(0.03, 0.07), true);
  const sandP = sandPaint(b, o);
  const shore = groundBand(b, 'sand', shoreL, shoreR, sandP, 0.012);
  // wet sand and foam along the water line (decoration: the label stays sand)
  const wet: number[] = [];
  const foam: number[] = [];
  for (let i = 0; i + 1 < shore.length - 4; i += 2) {
    wet.push(shore[i], shore[i + 1]);
    foam.push(shore[i], shore[i + 1] - 0.002);
  }
  const wetBack: number[] = [];
  const foamBack: number[] = [];
  for (let i = wet.length - 2; i >= 0; i -= 2) {
    wetBack.push(wet[i], wet[i + 1] + rng.range(0.02, 0.05));
    foamBack.push(foam[i], foam[i + 1] + rng.range(0.004, 0.012));
  }
  b.decoPoly([...wet, ...wetBack], { color: shadeOf(sandP.color, 0.7), alpha: 0.5 });
  b.decoPoly([...foam, ...foamBack], { color: mul([250, 250, 250], o.light), alpha: 0.75 });
  const items: Array<[number, () => void]> = [];
  const sandY = (x: number): number => shoreL + (shoreR - shoreL) * x;
  const umbrellas = rng.int(0, 3);
  for (let i = 0; i < umbrellas; i++) {
    const x = rng.range(0.05, 0.95);
    const y = rng.range(sandY(x) + 0.05, 1);
    items.push([y, () => umbrella(b, o, x, y, depthScale(y, horizon) * rng.range(0.8, 1.1))]);
  }
  const people = rng.int(0, 4);
  for (let i = 0; i < people; i++) {
    const x = rng.range(0.05, 0.95);
    const y = rng.range(sandY(x) - 0.02, 1);
    items.push([y, () => person(b, o, x, y, depthScale(y, horizon) * rng.range(0.6, 0.85), { swim: rng.chance(0.7) })]);
  }
  const towels = rng.int(0, 3);
  for (let i = 0; i < towels; i++) {
    const x = rng.range(0.05, 0.9);
    const y = rng.range(sandY(x) + 0.05, 0.98);
    const s = depthScale(y, horizon);
    items.push([y - 0.001, () => b.decoPoly([x, y, x + s * 0.5, y, x + s * 0.6, y + s * 0.12, x + s * 0.1, y + s * 0.12], { color: mul(hsvRange(rng, [0, 360], [0.4, 0.9], [0.5, 0.95]), o.light), color2: [240, 240, 240], pattern: { kind: 'stripes', period: 1 / (s * 0.1), duty: 0.5 } })]);
  }
  if (rng.chance(0.5)) {
    const n = rng.int(1, 3);
    const sx = rng.chance(0.5) ? rng.range(0, 0.2) : rng.range(0.8, 1);
    for (let i = 0; i < n; i++) {
      const x = sx + rng.range(-0.1, 0.1);
      const y = rng.range(Math.max(sandY(x) + 0.05, 0.7), 1.05);
      items.push([y, () => palm(b, o, x, y, depthScale(y, horizon) * rng.range(1.6, 2.4))]);
    }
  }
  if (rng.chance(0.3)) {
    const y = rng.range(sandY(0.5), 1);
    items.push([y, () => rock(b, o, rng.range(0, 1), y, depthScale(y, horizon) * rng.range(0.3, 0.6))]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

// ---------------------------------------------------------------- street

export function street(b: SceneBuilder, o: Outdoor): void {
  if (b.rng.chance(0.55)) streetPerspective(b, o);
  else streetFrontal(b, o);
}

function streetPerspective(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const vy = rng.range(0.35, 0.55);
  const vx = rng.range(0.35, 0.65);
  skyWithWeather(b, o, vy, 2);
  const toV = (x: number, y: number, t: number): [number, number] => [x + (vx - x) * t, y + (vy - y) * t];
  const roadHalf = rng.range(0.35, 0.6);
  const walk = rng.range(0.12, 0.3);
  // far end: a hazy block across the street
  b.rect('building', vx - 0.08, vy - rng.range(0.05, 0.15), vx + 0.08, vy + 0.01, { color: mix(rockColor(b, o, 0.3), o.haze, 0.5), mottle: 0.05, seed: b.seed() });
  // buildings on both sides, split along the street
  for (const side of [-1, 1]) {
    const x0 = side < 0 ? 0 : 1;
    let t = 0;
    const segments = rng.int(1, 3);
    const baseY = 1 - walk * 0.4;
    for (let s = 0; s < segments; s++) {
      const t1 = s === segments - 1 ? 0.97 : Math.min(0.97, t + rng.range(0.3, 0.6));
      const topY = rng.range(-0.3, vy - 0.15);
      const xb = side < 0 ? x0 - 0.02 : x0 + 0.02;
      const tl = toV(xb, topY, t);
      const tr = toV(xb, topY, t1);
      const br = toV(xb, baseY + 0.2, t1);
      const bl = toV(xb, baseY + 0.2, t);
      const q = side < 0 ? [...tl, ...tr, ...br, ...bl] : [...tr, ...tl, ...bl, ...br];
      const floors = rng.int(3, 7);
      building(b, o, q, floors, rng.int(2, 5));
      t = t1;
    }
  }
  // sidewalks and road
  const walkPaint: Paint = { ...asphaltPaint(b, o), color: mul(hsvRange(rng, [0, 60], [0, 0.12], [0.5, 0.75]), o.light), pattern: { kind: 'tiles', width: 30, grout: 0.05 } };
  b.poly('sidewalk', [vx, vy, -1, 1.01, 2, 1.01], walkPaint);
  const rl = vx - roadHalf * 1.6;
  const rr = vx + roadHalf * 1.6;
  b.poly('road', [vx - 0.004, vy, vx + 0.004, vy, rr, 1.01, rl, 1.01], { ...asphaltPaint(b, o), shade: [0, 0.2] });
  const lineC = mul(rng.chance(0.7) ? [235, 235, 225] : [230, 190, 60], o.light);
  const dash: Array<[number, number, number]> = [];
  for (let t = 0; t < 0.97; t += 0.06) {
    const tt = 1 - Math.pow(1 - t, 1.6);
    const [x, y] = toV(vx, 1.01, tt);
    dash.push([x, y, 0.015 * (1 - tt) + 0.001]);
  }
  dashes(b, dash, lineC);
  const items: Array<[number, () => void]> = [];
  const cars = rng.int(0, 4);
  for (let i = 0; i < cars; i++) {
    const t = rng.range(0.25, 0.9);
    const lane = rng.chance(0.5) ? -0.5 : 0.5;
    const [x, y] = toV(vx + lane * roadHalf * 1.6, 1.01, t);
    items.push([y, () => carRear(b, o, x, y, (1 - t) * roadHalf * rng.range(0.9, 1.2))]);
  }
  for (const side of [-1, 1]) {
    const lights = rng.int(0, 3);
    for (let i = 0; i < lights; i++) {
      const t = rng.range(0.1, 0.85);
      const [x, y] = toV(vx + side * roadHalf * 1.75, 1.01, t);
      items.push([y, () => streetlight(b, o, x, y, (1 - t) * rng.range(0.8, 1.1), -side)]);
    }
    const trees = rng.int(0, 3);
    for (let i = 0; i < trees; i++) {
      const t = rng.range(0.1, 0.85);
      const [x, y] = toV(vx + side * roadHalf * 1.85, 1.01, t);
      items.push([y, () => broadleaf(b, o, x, y, (1 - t) * rng.range(0.7, 1.0), foliageColor(b, o, rng.chance(0.8) ? 'summer' : 'autumn'))]);
    }
    const people = rng.int(0, 2);
    for (let i = 0; i < people; i++) {
      const t = rng.range(0.2, 0.85);
      const [x, y] = toV(vx + side * roadHalf * rng.range(1.75, 2.3), 1.01, t);
      items.push([y, () => person(b, o, x, y, (1 - t) * rng.range(0.4, 0.5))]);
    }
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

function streetFrontal(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const walkY = rng.range(0.5, 0.72);
  skyWithWeather(b, o, walkY - 0.25, 2);
  let x = rng.range(-0.15, 0);
  while (x < 1) {
    const w = rng.range(0.18, 0.45);
    if (rng.chance(0.3)) {
      house(b, o, x + 0.01, walkY, w - 0.02, rng.range(0.12, 0.22));
    } else {
      const top = rng.range(0.02, walkY - 0.2);
      building(b, o, [x, top, x + w, top, x + w, walkY, x, walkY], rng.int(2, 6), Math.max(2, Math.round(w / 0.1)));
    }
    x += w;
  }
  const walkH = rng.range(0.05, 0.1);
  b.rect('sidewalk', 0, walkY, 1, walkY + walkH, { ...asphaltPaint(b, o), color: mul(hsvRange(rng, [0, 60], [0, 0.12], [0.5, 0.75]), o.light), pattern: { kind: 'tiles', width: 25, height: 8, grout: 0.06 } });
  b.rect('road', 0, walkY + walkH, 1, 1.01, asphaltPaint(b, o));
  const laneY = (walkY + walkH + 1) / 2;
  const lineC = mul(rng.chance(0.7) ? [235, 235, 225] : [230, 190, 60], o.light);
  for (let dx = rng.range(0, 0.1); dx < 1; dx += 0.16) b.decoRect(dx, laneY - 0.006, dx + 0.08, laneY + 0.006, { color: lineC });
  const items: Array<[number, () => void]> = [];
  const lights = rng.int(0, 2);
  for (let i = 0; i < lights; i++) {
    items.push([walkY + walkH * 0.6, () => streetlight(b, o, rng.range(0.05, 0.95), walkY + walkH * 0.6, rng.range(0.3, 0.45), rng.chance(0.5) ? 1 : -1)]);
  }
  const trees = rng.int(0, 3);
  for (let i = 0; i < trees; i++) {
    items.push([walkY + walkH * 0.5, () => broadleaf(b, o, rng.range(0, 1), walkY + walkH * 0.5, rng.range(0.25, 0.4), foliageColor(b, o, rng.chance(0.8) ? 'summer' : 'autumn'))]);
  }
  const people = rng.int(0, 3);
  for (let i = 0; i < people; i++) {
    const y = walkY + walkH * rng.range(0.5, 1);
    items.push([y, () => person(b, o, rng.range(0.05, 0.95), y, rng.range(0.14, 0.2))]);
  }
  const cars = rng.int(1, 3);
  for (let i = 0; i < cars; i++) {
    const far = rng.chance(0.5);
    const y = far ? laneY - 0.01 : rng.range(laneY + 0.08, 1);
    const w = rng.range(0.25, 0.38) * (far ? 0.85 : 1);
    items.push([y, () => carSide(b, o, rng.range(0.1, 0.9), y, w, far ? -1 : 1)]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

// ---------------------------------------------------------------- harbor

export function harbor(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.3, 0.5);
  skyWithWeather(b, o, horizon, 3);
  if (rng.chance(0.5)) {
    mountains(b, o, { baseY: horizon + 0.02, top: [Math.max(0.05, horizon - 0.25), horizon - 0.08], peaks: rng.int(2, 4), far: rng.range(0.35, 0.7), snow: rng.chance(0.2) ? rng.range(0.1, 0.25) : 0, shadowSide: 1 });
  }
  const shoreY = horizon + rng.range(0.04, 0.12);
  // far quay with houses and buildings
  b.rect('sidewalk', 0, shoreY - 0.015, 1, shoreY + 0.012, { color: mul(hsvRange(rng, [0, 50], [0, 0.15], [0.45, 0.7]), o.light), seed: b.seed() });
  let x = rng.range(-0.1, 0);
  while (x < 1) {
    const w = rng.range(0.07, 0.16);
    const h = rng.range(0.05, 0.14);
    if (rng.chance(0.55)) house(b, o, x, shoreY - 0.012, w * 0.9, h * 0.6);
    else building(b, o, [x, shoreY - 0.012 - h, x + w * 0.95, shoreY - 0.012 - h, x + w * 0.95, shoreY - 0.012, x, shoreY - 0.012], rng.int(2, 4), rng.int(2, 3));
    x += w + rng.range(0, 0.05);
  }
  waterSurface(b, o, shoreY + 0.012, 1.01);
  const items: Array<[number, () => void]> = [];
  if (rng.chance(0.75)) {
    const y = rng.range(shoreY + 0.15, 0.85);
    const fromLeft = rng.chance(0.5);
    const len = rng.range(0.3, 0.7);
    const x0 = fromLeft ? -0.02 : 1.02 - len;
    const d = depthScale(y, horizon) * 0.12;
    items.push([y, () => pier(b, o, x0, x0 + len, y, d)]);
    if (rng.chance(0.5)) items.push([y - 0.001, () => person(b, o, x0 + len * rng.range(0.2, 0.8), y - d * 0.2, depthScale(y, horizon) * 0.5)]);
  }
  const boats = rng.int(1, 6);
  for (let i = 0; i < boats; i++) {
    const y = rng.range(shoreY + 0.04, 0.97);
    items.push([y, () => boat(b, o, rng.range(0, 1), y, depthScale(y, horizon) * rng.range(0.8, 1.3), rng.chance(0.55))]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

// ---------------------------------------------------------------- field / farm

export function field(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.35, 0.6);
  skyWithWeather(b, o, horizon, 4);
  if (rng.chance(0.5)) {
    const green = mix(foliageColor(b, o, 'summer'), o.haze, rng.range(0.3, 0.6));
    mountains(b, o, { baseY: horizon + 0.01, top: [horizon - 0.12, horizon - 0.03], peaks: rng.int(2, 4), far: 0.5, snow: 0, color: rng.chance(0.5) ? green : undefined, shadowSide: 1 });
  }
  if (rng.chance(0.6)) treeline(b, horizon + 0.01, rng.range(0.02, 0.05), mix(foliageColor(b, o, 'summer'), o.haze, 0.2), false);
  // bands of crops and soil towards the viewer
  let y = horizon;
  const bands = rng.int(2, 4);
  const golden = rng.chance(0.4);
  for (let i = 0; i < bands; i++) {
    const soil = rng.chance(0.3);
    const p: Paint = soil ? soilPaint(b, o) : grassPaint(b, o, golden && rng.chance(0.7));
    const angle = rng.range(-0.8, 0.8) + Math.PI / 2;
    const paint: Paint = { ...p, color2: shadeOf(p.color, 0.7), pattern: { kind: 'stripes', period: 1 / rng.range(0.01, 0.03) / (1 + i), angle, duty: 0.35, warp: 0.2 } };
    const yl = y + rng.range(-0.02, 0.02);
    groundBand(b, soil ? 'soil' : 'grass', Math.max(horizon, yl), Math.max(horizon, y + rng.range(-0.02, 0.04)), paint, 0.006);
    y += (1 - horizon) * rng.range(0.15, 0.4) * (i + 1) * 0.6;
    if (y > 0.95) break;
  }
  const items: Array<[number, () => void]> = [];
  if (rng.chance(0.4)) {
    // a road or dirt track to the horizon
    const vx = rng.range(0.2, 0.8);
    const bx = rng.range(0.2, 0.8);
    const w = rng.range(0.15, 0.35);
    const isRoad = rng.chance(0.5);
    items.push([horizon, () => b.poly(isRoad ? 'road' : 'path', [vx - 0.003, horizon + 0.01, vx + 0.003, horizon + 0.01, bx + w, 1.01, bx - w, 1.01], isRoad ? asphaltPaint(b, o) : soilPaint(b, o))]);
  }
  if (rng.chance(0.7)) {
    const hy = rng.range(horizon + 0.03, horizon + 0.15);
    const s = depthScale(hy, horizon);
    items.push([hy, () => house(b, o, rng.range(0.05, 0.75), hy, s * rng.range(2, 4), s * rng.range(1.2, 2))]);
  }
  const trees = rng.int(0, 4);
  for (let i = 0; i < trees; i++) {
    const ty = rng.range(horizon + 0.02, 0.9);
    items.push([ty, () => broadleaf(b, o, rng.range(0, 1), ty, depthScale(ty, horizon) * rng.range(2, 3.5), foliageColor(b, o, rng.chance(0.8) ? 'summer' : 'autumn'))]);
  }
  if (rng.chance(0.55)) {
    const y0 = rng.range(0.7, 0.95);
    const y1 = y0 + rng.range(-0.1, 0.1);
    items.push([Math.max(y0, y1), () => fence(b, o, -0.02, y0, 1.02, y1, depthScale(y0, horizon) * 0.35, depthScale(y1, horizon) * 0.35)]);
  }
  if (rng.chance(0.2)) {
    const py = rng.range(horizon + 0.1, 0.95);
    items.push([py, () => person(b, o, rng.range(0.1, 0.9), py, depthScale(py, horizon) * 0.7)]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}

// ---------------------------------------------------------------- desert

export function desert(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.35, 0.6);
  skyWithWeather(b, o, horizon, 2);
  if (rng.chance(0.75)) {
    const red = mul(hsvRange(rng, [8, 30], [0.35, 0.7], [0.4, 0.75]), o.light);
    if (rng.chance(0.5)) {
      // mesas: flat-topped buttes
      const n = rng.int(1, 3);
      for (let i = 0; i < n; i++) {
        const cx = rng.range(0, 1);
        const w = rng.range(0.08, 0.3);
        const top = horizon - rng.range(0.08, 0.28);
        const ledge = top + (horizon - top) * rng.range(0.5, 0.75);
        const c = mix(red, o.haze, rng.range(0.05, 0.4));
        b.poly('mountain', [cx - w * 1.5, horizon + 0.01, cx - w * 0.8, ledge, cx - w * 0.62, top + 0.01, cx - w * 0.6, top, cx + w * 0.6, top, cx + w * 0.62, top + 0.01, cx + w * 0.8, ledge, cx + w * 1.5, horizon + 0.01], {
          color: c,
          color2: shadeOf(c, 0.7),
          pattern: { kind: 'stripes', period: rng.range(40, 80), angle: Math.PI / 2, soft: true, warp: 0.3 },
          shade: [rng.range(-0.5, 0.5), 0.2],
          seed: b.seed(),
        });
      }
    } else {
      mountains(b, o, { baseY: horizon + 0.01, top: [horizon - 0.2, horizon - 0.05], peaks: rng.int(2, 4), far: rng.range(0.2, 0.5), snow: 0, color: mix(red, o.haze, 0.3), shadowSide: 1 });
    }
  }
  // dunes from far to near
  const sp = sandPaint(b, o);
  let y = horizon;
  const dunes = rng.int(2, 4);
  for (let i = 0; i < dunes; i++) {
    const amp = rng.range(0.02, 0.08) * (i + 1) * 0.6;
    const phase = rng.range(0, Math.PI * 2);
    const freq = rng.range(0.8, 2.2);
    const pts: number[] = [];
    for (let k = 0; k <= 16; k++) {
      const x = -0.02 + (1.04 * k) / 16;
      pts.push(x, y - amp * (0.5 + 0.5 * Math.sin(phase + x * freq * Math.PI * 2)));
    }
    const c = shadeOf(sp.color, rng.range(0.85, 1.1));
    b.poly('sand', [...pts, 1.02, 1.01, -0.02, 1.01], { ...sp, color: c, color2: shadeOf(c, 0.78), seed: b.seed() });
    // shaded lee side below each crest
    const lee: number[] = [];
    for (let k = 0; k <= 16; k++) lee.push(pts[2 * k], pts[2 * k + 1]);
    for (let k = 16; k >= 0; k--) lee.push(pts[2 * k], pts[2 * k + 1] + amp * rng.range(0.3, 0.8));
    b.decoPoly(lee, { color: shadeOf(c, 0.7), alpha: 0.35 });
    y += (1 - horizon) * rng.range(0.2, 0.35);
    if (y > 0.9) break;
  }
  const items: Array<[number, () => void]> = [];
  if (rng.chance(0.3)) {
    const vx = rng.range(0.3, 0.7);
    const bx = rng.range(0.2, 0.8);
    const w = rng.range(0.2, 0.35);
    items.push([horizon, () => b.poly('road', [vx - 0.003, horizon + 0.01, vx + 0.003, horizon + 0.01, bx + w, 1.01, bx - w, 1.01], asphaltPaint(b, o))]);
    if (rng.chance(0.5)) {
      const t = rng.range(0.3, 0.8);
      const cy = horizon + 0.01 + (1 - horizon) * t;
      items.push([cy, () => carRear(b, o, vx + (bx - vx) * t + rng.range(-0.3, 0.3) * w * t, cy, w * t * 0.8)]);
    }
  }
  const cacti = rng.int(0, 5);
  for (let i = 0; i < cacti; i++) {
    const cy = rng.range(horizon + 0.03, 1.02);
    items.push([cy, () => cactus(b, o, rng.range(0, 1), cy, depthScale(cy, horizon) * rng.range(1.2, 2.2))]);
  }
  const rocks = rng.int(0, 4);
  for (let i = 0; i < rocks; i++) {
    const ry = rng.range(horizon + 0.03, 1);
    items.push([ry, () => rock(b, o, rng.range(0, 1), ry, depthScale(ry, horizon) * rng.range(0.2, 0.5), mul(hsvRange(rng, [10, 35], [0.3, 0.6], [0.3, 0.6]), o.light))]);
  }
  if (rng.chance(0.15)) {
    const py = rng.range(horizon + 0.1, 0.95);
    items.push([py, () => person(b, o, rng.range(0.1, 0.9), py, depthScale(py, horizon) * 0.7)]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}


// ---------------------------------------------------------------- village

/**
 * A village (a scene for generators, not one of the classifier's classes): one to three houses near the viewer, so
 * that their doors, windows and roofs are tens of pixels, among trees of varied size, with grass or snow, often
 * mountains behind and a road or path.
 */
export function village(b: SceneBuilder, o: Outdoor): void {
  const rng = b.rng;
  const horizon = rng.range(0.3, 0.5);
  skyWithWeather(b, o, horizon, 3);
  const winter = rng.chance(0.25);
  if (rng.chance(0.65)) {
    mountains(b, o, { baseY: horizon + 0.01, top: [Math.max(0.04, horizon - 0.28), horizon - 0.06], peaks: rng.int(2, 4), far: rng.range(0.1, 0.4), snow: winter ? rng.range(0.4, 0.8) : rng.chance(0.5) ? rng.range(0.1, 0.35) : 0, shadowSide: rng.chance(0.5) ? 1 : -1 });
  }
  const season = winter ? 'conifer' : rng.weighted([['summer', 6], ['autumn', 2], ['conifer', 2]] as const);
  if (rng.chance(0.6)) treeline(b, horizon + 0.01, rng.range(0.02, 0.06), mix(foliageColor(b, o, season), o.haze, 0.25), season === 'conifer');
  if (winter) groundBand(b, 'snow', horizon + 0.005, horizon + 0.005, snowPaint(b, o), 0.006);
  else groundBand(b, 'grass', horizon + 0.005, horizon + 0.005, grassPaint(b, o, rng.chance(0.2)), 0.006);
  const items: Array<[number, () => void]> = [];
  if (rng.chance(0.45)) {
    const vx = rng.range(0.3, 0.7);
    const bx = rng.range(0.2, 0.8);
    const w = rng.range(0.12, 0.3);
    const isRoad = rng.chance(0.5);
    items.push([horizon, () => b.poly(isRoad ? 'road' : 'path', [vx - 0.005, horizon + 0.01, vx + 0.005, horizon + 0.01, bx + w, 1.01, bx - w, 1.01], isRoad ? asphaltPaint(b, o) : soilPaint(b, o))]);
  }
  // Houses: the first near the viewer, the others further back; each keeps to its own slot across the image.
  const houses = rng.int(1, 3);
  const slots = [0, 1, 2];
  for (let i = 2; i > 0; i--) { const j = rng.int(0, i); [slots[i], slots[j]] = [slots[j], slots[i]]; }
  slots.length = houses;
  slots.forEach((slot, i) => {
    const y = i === 0 ? rng.range(horizon + 0.3, Math.min(0.95, horizon + 0.5)) : rng.range(horizon + 0.12, horizon + 0.3);
    const s = depthScale(y, horizon);
    const w = Math.min(0.5, s * rng.range(0.9, 1.3));
    const h = w * rng.range(0.5, 0.75);
    const x = Math.min(1 - w * 0.6, Math.max(-w * 0.4, slot / 3 + rng.range(0, 1 / 3 - w * 0.5)));
    items.push([y, () => house(b, o, x, y, w, h, { snowRoof: winter && rng.chance(0.7) })]);
  });
  const trees = rng.int(1, 6);
  for (let i = 0; i < trees; i++) {
    const ty = rng.range(horizon + 0.04, 1);
    const h = Math.min(0.7, depthScale(ty, horizon) * rng.range(1.2, 2.4));
    const conif = season === 'conifer' || rng.chance(0.3);
    items.push([ty, () => (conif ? conifer(b, o, rng.range(0, 1), ty, h, foliageColor(b, o, 'conifer'), winter && rng.chance(0.6)) : broadleaf(b, o, rng.range(0, 1), ty, h, foliageColor(b, o, season)))]);
  }
  if (rng.chance(0.4)) {
    const y0 = rng.range(0.8, 0.98);
    const y1 = y0 + rng.range(-0.06, 0.06);
    items.push([Math.max(y0, y1), () => fence(b, o, -0.02, y0, 1.02, y1, depthScale(y0, horizon) * 0.3, depthScale(y1, horizon) * 0.3)]);
  }
  if (rng.chance(0.2)) {
    const py = rng.range(horizon + 0.15, 0.97);
    items.push([py, () => person(b, o, rng.range(0.1, 0.9), py, depthScale(py, horizon) * 0.7)]);
  }
  items.sort((p, q) => p[0] - q[0]);
  for (const [, draw] of items) draw();
}
