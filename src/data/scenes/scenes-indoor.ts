/**
 * Generators of the indoor scene classes. All rooms share the shell (walls, floor, ceiling), the palettes and
 * the common furnishings (windows, curtains, paintings, lamps, rugs, plants, cabinets); what tells a class
 * apart is its furniture: beds, stoves and refrigerators, sofas and televisions, bathtubs and toilets.
 */
import type { SceneBuilder } from './builder.js';
import type { Paint, RGB } from './description.js';
import {
  Room, backDoor, cabinetDoors, chair, fabricPaint, floorLamp, painting, pendantLamp, pottedPlant, rug, sideWindow, table,
  tableLamp, wallPaint, wallWindow,
} from './indoor.js';
import { fabricColor, furnitureColor, hsvRange, mix, shadeOf, woodColor } from './palette.js';

/** Something along the back wall occupying x0…x1 metres. */
interface Slot {
  x0: number;
  x1: number;
}

/** Picks a free stretch of the back wall of width w, or null. */
function place(room: Room, taken: Slot[], w: number, tries = 8): Slot | null {
  const rng = room.b.rng;
  for (let i = 0; i < tries; i++) {
    const x0 = rng.range(0.05, Math.max(0.06, room.width - w - 0.05));
    const s = { x0, x1: x0 + w };
    if (s.x1 > room.width) continue;
    if (taken.every((t) => s.x1 < t.x0 - 0.05 || s.x0 > t.x1 + 0.05)) {
      taken.push(s);
      return s;
    }
  }
  return null;
}

/** Window, painting or door on the free parts of the back wall; a side window sometimes. */
function wallDecor(room: Room, taken: Slot[], opt: { window: number; painting: number; door: number; curtains: number; windowWidth?: readonly [number, number] }): void {
  const rng = room.b.rng;
  if (rng.chance(opt.door)) {
    const s = place(room, taken, 1.0);
    if (s) backDoor(room, s.x0);
  }
  let sideDone = false;
  if (rng.chance(opt.window)) {
    const w = rng.range(opt.windowWidth?.[0] ?? 0.8, opt.windowWidth?.[1] ?? 1.8);
    const s = place(room, taken, w + 0.5, 16);
    if (s) wallWindow(room, s.x0 + 0.25, rng.range(0.8, 1.1), s.x1 - 0.25, rng.range(1.9, 2.3), rng.chance(opt.curtains));
    else {
      // no room on the back wall: the window goes on the side wall the camera sees more of
      sideWindow(room, room.bx0 > 1 - room.bx1 ? -1 : 1, rng.range(0.4, 0.9), rng.range(1.5, 2.2), rng.range(0.9, 1.2), rng.range(1.9, 2.3), rng.chance(opt.curtains));
      sideDone = true;
    }
  }
  if (!sideDone && rng.chance(0.35)) sideWindow(room, rng.chance(0.5) ? -1 : 1, rng.range(0.3, 1), rng.range(1.4, 2.2), rng.range(0.9, 1.2), rng.range(1.9, 2.3));
  if (rng.chance(opt.painting)) {
    const w = rng.range(0.5, 1.2);
    const s = place(room, taken, w);
    if (s) {
      const y0 = rng.range(1.2, 1.6);
      painting(room, s.x0, y0, s.x1, Math.min(2.45, y0 + w * rng.range(0.5, 0.9)));
    }
  }
}

// ---------------------------------------------------------------- bedroom

export function bedroom(b: SceneBuilder): void {
  const rng = b.rng;
  const room = new Room(b, [2.8, 4.2]);
  room.drawShell();
  const taken: Slot[] = [];
  const double = rng.chance(0.7);
  const bw = double ? rng.range(1.4, 1.9) : rng.range(0.9, 1.1);
  const sideways = rng.chance(0.15);
  const bedLen = rng.range(1.9, 2.1);
  const footprint = sideways ? bedLen : bw;
  const nightstands = !sideways && rng.chance(0.75);
  const bedSlot = place(room, taken, footprint + (nightstands ? 1.1 : 0.1)) ?? { x0: 0.1, x1: Math.min(room.width - 0.1, 0.2 + footprint) };
  const bx0 = bedSlot.x0 + (nightstands ? 0.55 : 0.05);
  const bx1 = bx0 + footprint;
  // painting above the bed, other decor elsewhere
  if (rng.chance(0.5)) {
    const w = Math.min(footprint * 0.8, rng.range(0.6, 1.3));
    const cx = (bx0 + bx1) / 2;
    painting(room, cx - w / 2, 1.45, cx + w / 2, Math.min(2.4, 1.45 + w * rng.range(0.4, 0.7)));
  }
  wallDecor(room, taken, { window: 0.75, painting: 0.3, door: 0.25, curtains: 0.75, windowWidth: [0.5, 1.2] });
  if (rng.chance(0.4)) {
    const s = place(room, taken, rng.range(0.9, 1.6));
    if (s) {
      const c = furnitureColor(rng);
      room.shadow(s.x0, s.x1, 0, 0.6);
      room.box('cabinet', s.x0, s.x1, 0, rng.range(1.7, 2.2), 0, 0.6, { front: { color: c, color2: shadeOf(c, 0.85), pattern: { kind: 'wood', period: 30, angle: 0, warp: 0.3 }, seed: b.seed() } });
    }
  }
  const floorZ = room.floorDepth;
  if (rng.chance(0.5)) rug(room, Math.max(0, bx0 - 0.4), Math.min(room.width, bx1 + 0.4), sideways ? 1 : 1.2, Math.min(floorZ, 2.8));
  const frame = furnitureColor(rng);
  const framePaint: Paint = { color: frame, color2: shadeOf(frame, 0.85), pattern: { kind: 'wood', period: 30, warp: 0.3 }, seed: b.seed() };
  const cover = fabricPaint(b);
  const sheet: RGB = rng.chance(0.6) ? hsvRange(rng, [0, 360], [0, 0.08], [0.85, 0.98]) : fabricColor(rng);
  const mattressH = rng.range(0.45, 0.6);
  const z1 = sideways ? rng.range(0.9, 1.5) : Math.min(bedLen, floorZ - 0.3);
  const z0 = sideways ? 0.05 : 0;
  if (nightstands) {
    for (const nx of [bx0 - 0.5, bx1 + 0.05]) {
      const c = furnitureColor(rng);
      room.shadow(nx, nx + 0.45, 0, 0.4);
      room.box('cabinet', nx, nx + 0.45, 0, 0.55, 0, 0.4, { front: { color: c } });
      cabinetDoors(room, nx, nx + 0.45, 0.05, 0.5, 0.4, 1, c);
      if (rng.chance(0.8)) tableLamp(room, nx + 0.22, 0.55, 0.2);
    }
  }
  room.shadow(bx0, bx1, z0, z1);
  // headboard (part of the bed)
  const headH = rng.range(1.0, 1.4);
  const tufted = rng.chance(0.4);
  const headPaint: Paint = tufted ? { ...fabricPaint(b), pattern: { kind: 'tiles', width: rng.range(40, 70), grout: 0.12 }, color2: shadeOf(framePaint.color, 0.6) } : framePaint;
  const pillowPaint = (cx: number, cy: number, r: number): Paint => ({ color: sheet, color2: shadeOf(sheet, 0.78), pattern: { kind: 'radial', cx, cy, r } });
  if (sideways) {
    const left = rng.chance(0.5);
    const hx = left ? bx0 : bx1 - 0.08;
    room.box('bed', hx, hx + 0.08, 0, headH, z0, z1, { front: headPaint });
    room.box('bed', bx0, bx1, 0, 0.25, z0, z1, { front: framePaint });
    room.box('bed', bx0 + 0.02, bx1 - 0.02, 0.25, mattressH, z0 + 0.02, z1 - 0.02, { front: { color: sheet } });
    const px = left ? bx0 + 0.1 : bx1 - 0.5;
    for (const pz of double && z1 - z0 > 1.2 ? [z0 + 0.1, z0 + 0.75] : [z0 + (z1 - z0) * 0.25]) {
      const [cx, cy] = room.pt(px + 0.2, mattressH + 0.15, pz + 0.3);
      const sc = room.scale(pz + 0.3);
      b.ellipse('pillow', cx, cy, 0.22 * sc, 0.17 * sc, pillowPaint(cx, cy, 0.25 * sc));
    }
    const cx0 = left ? bx0 + 0.6 : bx0 - 0.03;
    const cx1 = left ? bx1 + 0.03 : bx1 - 0.6;
    room.box('bed', cx0, cx1, mattressH - 0.22, mattressH + 0.05, z0, z1 + 0.03, { front: cover, top: { ...cover, color: shadeOf(cover.color, 1.12) }, side: { ...cover, color: shadeOf(cover.color, 0.85) } });
  } else {
    room.box('bed', bx0 - 0.05, bx1 + 0.05, 0, headH, 0, 0.08, { front: headPaint });
    room.box('bed', bx0, bx1, 0, 0.28, 0.08, z1, { front: framePaint });
    room.box('bed', bx0 + 0.02, bx1 - 0.02, 0.28, mattressH, 0.08, z1 - 0.02, { front: { color: sheet } });
    // pillows propped against the headboard
    const pillows = double ? 2 : 1;
    for (let i = 0; i < pillows; i++) {
      const pw = (bx1 - bx0) / pillows;
      const [cx, cy] = room.pt(bx0 + pw * (i + 0.5), mattressH + 0.17, 0.22);
      const sc = room.scale(0.22);
      b.ellipse('pillow', cx, cy, pw * 0.42 * sc, 0.2 * sc, pillowPaint(cx, cy, pw * 0.5 * sc));
    }
    // the cover over the foot part, hanging down the front, with the sheet folded back over its top edge
    const cz0 = rng.range(0.5, 0.8);
    room.box('bed', bx0 - 0.03, bx1 + 0.03, mattressH - 0.25, mattressH + 0.04, cz0, z1 + 0.02, { front: cover, top: { ...cover, color: shadeOf(cover.color, 1.12) }, side: { ...cover, color: shadeOf(cover.color, 0.85) } });
    if (room.pt(0, mattressH + 0.04, cz0)[1] > room.vy) {
      b.poly('bed', [...room.pt(bx0 - 0.03, mattressH + 0.045, cz0), ...room.pt(bx1 + 0.03, mattressH + 0.045, cz0), ...room.pt(bx1 + 0.03, mattressH + 0.045, cz0 + 0.25), ...room.pt(bx0 - 0.03, mattressH + 0.045, cz0 + 0.25)], { color: shadeOf(sheet, 1.05) });
    }
  }
  if (rng.chance(0.3)) {
    const x = rng.chance(0.5) ? 0.15 : room.width - 0.6;
    chair(room, x, rng.range(0.8, 1.6), rng.chance(0.5));
  }
  if (rng.chance(0.2)) pottedPlant(room, rng.chance(0.5) ? 0.2 : room.width - 0.2, 0, rng.range(0.2, 0.8), rng.range(0.6, 1.0));
  if (rng.chance(0.2)) pendantLamp(room, room.width * rng.range(0.3, 0.7), rng.range(0.8, 1.5), 0.5);
}

// ---------------------------------------------------------------- kitchen

export function kitchen(b: SceneBuilder): void {
  const rng = b.rng;
  const room = new Room(b, [3, 5]);
  room.drawShell();
  const W = room.width;
  const x0 = rng.chance(0.7) ? 0 : rng.range(0.2, 0.8);
  const x1 = rng.chance(0.7) ? W : W - rng.range(0.2, 0.8);
  const counterH = rng.range(0.85, 0.92);
  const depth = 0.6;
  const cab = furnitureColor(rng);
  const cabPaint: Paint = { color: cab, color2: shadeOf(cab, 0.88), pattern: { kind: 'wood', period: 40, angle: 0, warp: 0.2 }, seed: b.seed() };
  // backsplash tiles (wall)
  const tile: RGB = rng.chance(0.5) ? mix(room.wallColor, [255, 255, 255], 0.4) : hsvRange(rng, [0, 360], [0.05, 0.4], [0.5, 0.95]);
  b.poly('wall', room.wallQuad(x0, counterH, x1, counterH + rng.range(0.45, 0.6)), { color: tile, color2: shadeOf(tile, 0.7), pattern: { kind: 'tiles', width: rng.range(40, 80), grout: 0.1 }, seed: b.seed() });
  // the fridge at one end
  const fridgeLeft = rng.chance(0.5);
  const fridgeW = rng.range(0.65, 0.85);
  const hasFridge = rng.chance(0.75);
  const runX0 = hasFridge && fridgeLeft ? x0 + fridgeW + 0.02 : x0;
  const runX1 = hasFridge && !fridgeLeft ? x1 - fridgeW - 0.02 : x1;
  // upper cabinets, with a window over the sink between them
  const sinkX = runX0 + (runX1 - runX0) * rng.range(0.2, 0.8);
  const windowOverSink = rng.chance(0.6);
  const up0 = counterH + rng.range(0.5, 0.65);
  const up1 = Math.min(room.height - 0.05, up0 + rng.range(0.6, 0.8));
  const uppers: Array<[number, number]> = windowOverSink ? [[runX0, sinkX - 0.7], [sinkX + 0.7, runX1]] : [[runX0, runX1]];
  if (windowOverSink) wallWindow(room, sinkX - 0.55, counterH + 0.25, sinkX + 0.55, Math.min(2.3, counterH + 1.2), rng.chance(0.3));
  if (rng.chance(0.85)) {
    for (const [a, c] of uppers) {
      if (c - a < 0.3) continue;
      room.box('cabinet', a, c, up0, up1, 0, 0.35, { front: cabPaint });
      cabinetDoors(room, a, c, up0, up1, 0.35, Math.max(1, Math.round((c - a) / 0.5)), cab);
    }
  }
  // lower run with the stove
  const stoveW = rng.range(0.6, 0.76);
  let stoveX = runX0 + (runX1 - runX0) * rng.range(0.1, 0.9) - stoveW / 2;
  if (Math.abs(stoveX + stoveW / 2 - sinkX) < 0.7) stoveX = sinkX + (stoveX < sinkX ? -1 : 1) * 0.75 - stoveW / 2;
  stoveX = Math.max(runX0, Math.min(runX1 - stoveW, stoveX));
  room.shadow(runX0, runX1, 0, depth);
  room.box('cabinet', runX0, runX1, 0.1, counterH - 0.04, 0, depth, { front: cabPaint });
  cabinetDoors(room, runX0, runX1, 0.12, counterH - 0.06, depth, Math.max(2, Math.round((runX1 - runX0) / 0.5)), cab);
  const top: RGB = rng.chance(0.5) ? hsvRange(rng, [0, 360], [0, 0.1], [0.1, 0.9]) : woodColor(rng);
  room.box('cabinet', runX0 - 0.02, runX1 + 0.02, counterH - 0.04, counterH, 0, depth + 0.03, { front: { color: shadeOf(top, 0.85) }, top: { color: top, color2: shadeOf(top, 0.85), pattern: { kind: 'noise', scale: 40 }, seed: b.seed() } });
  // stove: body, oven door, burners, and a hood above
  const steel: RGB = rng.chance(0.6) ? hsvRange(rng, [0, 360], [0, 0.04], [0.55, 0.85]) : rng.chance(0.5) ? [235, 235, 232] : [35, 35, 38];
  room.box('stove', stoveX, stoveX + stoveW, 0.02, counterH + 0.01, 0, depth + 0.02, { front: { color: steel, shade: [0, 0.2] }, top: { color: shadeOf(steel, 0.5) } });
  b.poly('stove', [...room.pt(stoveX + 0.06, counterH - 0.25, depth + 0.02), ...room.pt(stoveX + stoveW - 0.06, counterH - 0.25, depth + 0.02), ...room.pt(stoveX + stoveW - 0.06, 0.12, depth + 0.02), ...room.pt(stoveX + 0.06, 0.12, depth + 0.02)], { color: [25, 25, 28], color2: [70, 60, 50], pattern: { kind: 'vgradient' } });
  for (let k = 0; k < 4; k++) {
    const [kx, ky] = room.pt(stoveX + stoveW * (0.2 + 0.2 * k), counterH - 0.12, depth + 0.02);
    const s = room.scale(depth);
    b.decoEllipse(kx, ky, 0.025 * s, 0.025 * s, { color: [20, 20, 20] });
  }
  if (room.pt(0, counterH, 0)[1] > room.vy) {
    for (const [bxr, bz] of [[0.27, 0.18], [0.73, 0.18], [0.27, 0.45], [0.73, 0.45]] as const) {
      const [cx, cy] = room.pt(stoveX + stoveW * bxr, counterH + 0.01, bz);
      const s = room.scale(bz);
      const ry = 0.09 * s * Math.min(1, (cy - room.vy) / (0.5 * s) + 0.1);
      b.ellipse('stove', cx, cy, 0.1 * s, Math.max(0.002, ry), { color: [30, 30, 32] });
    }
  }
  if (rng.chance(0.7)) {
    const hoodC: RGB = rng.chance(0.6) ? steel : cab;
    const hy = up0 + rng.range(-0.05, 0.1);
    room.box('stove', stoveX - 0.02, stoveX + stoveW + 0.02, hy, hy + 0.15, 0, 0.5, { front: { color: hoodC } });
    room.box('stove', stoveX + stoveW * 0.25, stoveX + stoveW * 0.75, hy + 0.15, Math.min(room.height, up1), 0, 0.25, { front: { color: shadeOf(hoodC, 0.95) } });
  }
  // sink: a basin in the counter and a tap
  {
    const [cx, cy] = room.pt(sinkX, counterH + 0.005, depth * 0.5);
    const s = room.scale(depth * 0.5);
    const vis = Math.max(0.15, Math.min(1, (cy - room.vy) / (0.4 * s)));
    b.ellipse('sink', cx, cy, 0.3 * s, 0.18 * s * vis, { color: [160, 165, 170], color2: [90, 95, 100], pattern: { kind: 'radial', cx, cy, r: 0.3 * s } });
    const [tx, ty] = room.pt(sinkX, counterH, 0.08);
    const ts = room.scale(0.08);
    b.add('sink', { kind: 'rect', x0: tx - 0.02 * ts, y0: ty - 0.3 * ts, x1: tx + 0.02 * ts, y1: ty }, { color: [190, 190, 195] });
    b.add('sink', { kind: 'rect', x0: tx - 0.02 * ts, y0: ty - 0.3 * ts, x1: tx + 0.14 * ts, y1: ty - 0.26 * ts }, { color: [190, 190, 195] });
  }
  if (hasFridge) {
    const fx0 = fridgeLeft ? x0 : x1 - fridgeW;
    const fc: RGB = rng.chance(0.6) ? hsvRange(rng, [0, 360], [0, 0.05], [0.7, 0.96]) : steel;
    const fh = rng.range(1.7, 2.0);
    room.shadow(fx0, fx0 + fridgeW, 0, 0.7);
    room.box('refrigerator', fx0, fx0 + fridgeW, 0, fh, 0, 0.7, { front: { color: fc, color2: shadeOf(fc, 0.85), pattern: { kind: 'vgradient' } } });
    const split = fh * rng.range(0.55, 0.7);
    b.decoPoly([...room.pt(fx0, split + 0.01, 0.7), ...room.pt(fx0 + fridgeW, split + 0.01, 0.7), ...room.pt(fx0 + fridgeW, split - 0.01, 0.7), ...room.pt(fx0, split - 0.01, 0.7)], { color: shadeOf(fc, 0.6) });
    const hx = fridgeLeft ? fx0 + fridgeW - 0.08 : fx0 + 0.05;
    b.decoPoly([...room.pt(hx, split + 0.4, 0.7), ...room.pt(hx + 0.03, split + 0.4, 0.7), ...room.pt(hx + 0.03, split - 0.4, 0.7), ...room.pt(hx, split - 0.4, 0.7)], { color: [120, 120, 125] });
  }
  if (rng.chance(0.3)) pottedPlant(room, runX0 + 0.2, counterH, 0.25, 0.35);
  // dining table in front, sometimes
  if (rng.chance(0.45)) {
    const tz0 = rng.range(1.3, 1.8);
    const tw = rng.range(0.9, 1.6);
    const tx = rng.range(0.1, Math.max(0.2, W - tw - 0.1));
    chair(room, tx + tw * 0.3, tz0 - 0.35, true);
    table(room, tx, tx + tw, tz0, tz0 + 0.8, 0.75);
  }
  if (rng.chance(0.5)) pendantLamp(room, W * rng.range(0.3, 0.7), rng.range(0.8, 1.8), rng.range(0.4, 0.8));
}

// ---------------------------------------------------------------- living room

export function livingRoom(b: SceneBuilder): void {
  const rng = b.rng;
  const room = new Room(b, [3.5, 5.5]);
  room.drawShell();
  const taken: Slot[] = [];
  const W = room.width;
  const fabric = fabricPaint(b);
  const sofaTop = { ...fabric, color: shadeOf(fabric.color, 1.1) };
  const sofaSide = { ...fabric, color: shadeOf(fabric.color, 0.85) };
  const tvWall = rng.chance(0.35);
  if (!tvWall) {
    // sofa against the back wall, painting above, coffee table in front
    const sw = Math.min(W - 0.4, rng.range(1.6, 2.6));
    const s = place(room, taken, sw) ?? { x0: 0.2, x1: 0.2 + sw };
    if (rng.chance(0.6)) {
      const w = Math.min(sw * 0.7, rng.range(0.6, 1.4));
      const cx = (s.x0 + s.x1) / 2;
      painting(room, cx - w / 2, 1.35, cx + w / 2, Math.min(2.4, 1.35 + w * rng.range(0.4, 0.8)));
    }
    wallDecor(room, taken, { window: 0.7, painting: 0.3, door: 0.2, curtains: 0.7 });
    if (rng.chance(0.5)) rug(room, s.x0 - 0.3, s.x1 + 0.3, 0.9, Math.min(room.floorDepth, 2.6));
    const depth = rng.range(0.8, 0.95);
    room.shadow(s.x0, s.x1, 0, depth);
    room.box('sofa', s.x0, s.x1, 0.42, rng.range(0.8, 0.95), 0, 0.25, { front: fabric, top: sofaTop });
    room.box('sofa', s.x0, s.x1, 0.08, 0.44, 0, depth, { front: sofaSide, top: sofaTop });
    const cushions = rng.int(0, 3);
    for (let i = 0; i < cushions; i++) {
      const cx = s.x0 + 0.3 + (s.x1 - s.x0 - 0.6) * (cushions === 1 ? 0.5 : i / (cushions - 1));
      const [px, py] = room.pt(cx, 0.62, 0.3);
      const sc = room.scale(0.3);
      const pc = fabricColor(rng);
      b.ellipse('pillow', px, py, 0.2 * sc, 0.17 * sc, { color: pc, color2: shadeOf(pc, 0.75), pattern: { kind: 'radial', cx: px, cy: py, r: 0.22 * sc } });
    }
    for (const ax of [s.x0 - 0.02, s.x1 - 0.2]) room.box('sofa', ax, ax + 0.22, 0.08, 0.65, 0, depth + 0.02, { front: sofaSide, top: sofaTop });
    if (rng.chance(0.6)) floorLamp(room, s.x1 + 0.35 < W ? s.x1 + 0.3 : s.x0 - 0.3, 0.3);
    if (rng.chance(0.85)) {
      const tw = rng.range(0.8, 1.3);
      const cx = (s.x0 + s.x1) / 2;
      const tz = depth + rng.range(0.35, 0.6);
      table(room, cx - tw / 2, cx + tw / 2, tz, tz + rng.range(0.5, 0.7), rng.range(0.38, 0.48));
    }
  } else {
    // a television on a low cabinet against the back wall, the sofa seen from behind
    const cw = rng.range(1.2, 2.2);
    const s = place(room, taken, cw) ?? { x0: 0.2, x1: 0.2 + cw };
    wallDecor(room, taken, { window: 0.7, painting: 0.4, door: 0.2, curtains: 0.7 });
    const c = furnitureColor(rng);
    room.shadow(s.x0, s.x1, 0, 0.45);
    room.box('cabinet', s.x0, s.x1, 0, rng.range(0.45, 0.6), 0, 0.45, { front: { color: c, color2: shadeOf(c, 0.85), pattern: { kind: 'wood', period: 30, warp: 0.3 }, seed: b.seed() } });
    cabinetDoors(room, s.x0, s.x1, 0.05, 0.42, 0.45, rng.int(2, 3), c);
    const tvW = Math.min(cw - 0.1, rng.range(0.9, 1.5));
    const cx = (s.x0 + s.x1) / 2;
    const ty = rng.range(0.75, 0.95);
    b.poly('television', room.wallQuad(cx - tvW / 2, ty, cx + tvW / 2, ty + tvW * 0.58), { color: [20, 20, 22] });
    const screen: RGB = rng.chance(0.6) ? [15, 17, 22] : hsvRange(rng, [0, 360], [0.2, 0.6], [0.3, 0.8]);
    b.poly('television', room.wallQuad(cx - tvW / 2 + 0.03, ty + 0.03, cx + tvW / 2 - 0.03, ty + tvW * 0.58 - 0.03), { color: screen, color2: shadeOf(screen, 1.6), pattern: { kind: 'vgradient' } });
    if (rng.chance(0.5)) rug(room, cx - 1, cx + 1, 0.8, Math.min(room.floorDepth, 2.4));
    if (rng.chance(0.6)) pottedPlant(room, s.x1 + 0.3 < W ? s.x1 + 0.25 : s.x0 - 0.25, 0, 0.3, rng.range(0.7, 1.1));
    if (rng.chance(0.5)) table(room, cx - 0.5, cx + 0.5, 1.2, 1.7, 0.42);
    // the sofa along a side wall, facing the room
    // on the side whose wall the camera sees more of, pulled a little into the room so that it stays in view
    const left = room.bx0 > 1 - room.bx1;
    const sd = rng.range(0.8, 0.95);
    const off = rng.range(0.1, 0.6);
    const z0 = rng.range(0.5, 0.9);
    const z1 = Math.min(room.floorDepth - 0.1, z0 + rng.range(1.6, 2.4));
    const xa = left ? off : W - sd - off;
    const xb = xa + sd;
    const backX = left ? [xa, xa + 0.25] : [xb - 0.25, xb];
    room.shadow(xa, xb, z0, z1);
    room.box('sofa', backX[0], backX[1], 0.42, rng.range(0.8, 0.95), z0, z1, { front: fabric, top: sofaTop, side: fabric });
    room.box('sofa', xa, xb, 0.08, 0.44, z0, z1, { front: sofaSide, top: sofaTop, side: sofaSide });
    const cushions = rng.int(1, 3);
    for (let i = 0; i < cushions; i++) {
      const cz = z0 + 0.35 + ((z1 - z0 - 0.7) * (i + 0.5)) / cushions;
      const [px, py] = room.pt(left ? xa + 0.35 : xb - 0.35, 0.62, cz);
      const sc = room.scale(cz);
      const pc = fabricColor(rng);
      b.ellipse('pillow', px, py, 0.15 * sc, 0.17 * sc, { color: pc, color2: shadeOf(pc, 0.75), pattern: { kind: 'radial', cx: px, cy: py, r: 0.2 * sc } });
    }
    room.box('sofa', xa, xb, 0.08, 0.65, z0 - 0.05, z0 + 0.17, { front: sofaSide, top: sofaTop, side: sofaSide });
    room.box('sofa', xa, xb, 0.08, 0.65, z1 - 0.2, z1 + 0.02, { front: sofaSide, top: sofaTop, side: sofaSide });
    if (rng.chance(0.5)) floorLamp(room, rng.chance(0.5) ? 0.3 : W - 0.3, rng.range(0.4, 1.2));
  }
  if (rng.chance(0.35)) {
    const x = rng.chance(0.5) ? 0.1 : W - 0.55;
    chair(room, x, rng.range(1, 1.8), rng.chance(0.5));
  }
}

// ---------------------------------------------------------------- bathroom

export function bathroom(b: SceneBuilder): void {
  const rng = b.rng;
  const room = new Room(b, [2.4, 3.8]);
  const tile: RGB = rng.chance(0.5) ? mix(room.wallColor, [255, 255, 255], rng.range(0, 0.5)) : hsvRange(rng, [0, 360], [0.05, 0.45], [0.5, 0.95]);
  const tiled: Paint = { color: tile, color2: shadeOf(tile, 0.72), pattern: { kind: 'tiles', width: rng.range(25, 60), height: rng.range(25, 60), grout: 0.08 }, seed: b.seed() };
  room.drawShell({ wall: rng.chance(0.65) ? tiled : wallPaint(b, room.wallColor) });
  if (rng.chance(0.4)) {
    b.poly('wall', room.wallQuad(0, 0, room.width, rng.range(1.0, 1.4)), { ...tiled, seed: b.seed() });
  }
  const taken: Slot[] = [];
  const W = room.width;
  const white: RGB = hsvRange(rng, [0, 360], [0, 0.05], [0.85, 0.98]);
  // bathtub along the back wall; every bathroom has a bathtub or a toilet
  const hasToilet = rng.chance(0.85);
  if (!hasToilet || rng.chance(0.75)) {
    const tw = Math.min(W - 0.2, rng.range(1.5, 1.8));
    const s = place(room, taken, tw) ?? { x0: 0.05, x1: 0.05 + tw };
    const th = rng.range(0.5, 0.6);
    room.box('bathtub', s.x0, s.x1, 0, th, 0, 0.75, { front: { color: white, color2: shadeOf(white, 0.85), pattern: { kind: 'vgradient' } } });
    const [cx, cy] = room.pt((s.x0 + s.x1) / 2, th, 0.37);
    const sc = room.scale(0.37);
    const vis = Math.max(0.1, Math.min(1, (cy - room.vy) / (0.5 * sc)));
    b.ellipse('bathtub', cx, cy, (tw / 2 - 0.08) * sc, 0.3 * sc * vis, { color: shadeOf(white, 0.8), color2: mix(white, [150, 200, 220], 0.4), pattern: { kind: 'radial', cx, cy, r: tw * 0.5 * sc } });
    if (rng.chance(0.45)) {
      const cc = fabricPaint(b);
      const open = rng.range(0.25, 0.6);
      b.poly('curtain', room.wallQuad(s.x0, th + 0.1, s.x0 + tw * open, 2.1), { ...cc, pattern: { kind: 'stripes', period: rng.range(50, 90), soft: true }, color2: shadeOf(cc.color, 0.75) });
    }
  }
  // vanity with a basin, mirror above
  if (rng.chance(0.85)) {
    const vw = rng.range(0.6, 1.1);
    const s = place(room, taken, vw);
    if (s) {
      const c = furnitureColor(rng);
      const vh = rng.range(0.8, 0.88);
      const [mx0, mx1] = [s.x0 + 0.05, s.x1 - 0.05];
      const mc = mix([200, 210, 220], room.wallColor, 0.3);
      b.poly('mirror', room.wallQuad(mx0, vh + 0.35, mx1, Math.min(2.3, vh + 0.35 + rng.range(0.6, 0.9))), { color: mc, color2: shadeOf(mc, 0.7), pattern: { kind: 'stripes', period: 12, angle: 0.7, soft: true } });
      room.shadow(s.x0, s.x1, 0, 0.5);
      room.box('cabinet', s.x0, s.x1, 0.05, vh, 0, 0.5, { front: { color: c } });
      cabinetDoors(room, s.x0, s.x1, 0.08, vh - 0.05, 0.5, 2, c);
      const [cx, cy] = room.pt((s.x0 + s.x1) / 2, vh, 0.26);
      const sc = room.scale(0.26);
      const vis = Math.max(0.15, Math.min(1, (cy - room.vy) / (0.4 * sc)));
      room.box('sink', s.x0 + 0.05, s.x1 - 0.05, vh - 0.06, vh + 0.04, 0, 0.52, { front: { color: white } });
      b.ellipse('sink', cx, cy, (vw / 2 - 0.12) * sc, 0.16 * sc * vis, { color: shadeOf(white, 0.75), color2: white, pattern: { kind: 'radial', cx, cy, r: vw * 0.4 * sc } });
      const [tx, ty] = room.pt((s.x0 + s.x1) / 2, vh + 0.04, 0.06);
      b.add('sink', { kind: 'rect', x0: tx - 0.015 * sc, y0: ty - 0.2 * sc, x1: tx + 0.015 * sc, y1: ty }, { color: [190, 190, 195] });
      if (rng.chance(0.4)) b.poly('lamp', room.wallQuad(mx0 + 0.1, Math.min(2.45, vh + 1.3), mx1 - 0.1, Math.min(2.5, vh + 1.38)), { color: [255, 248, 225] });
    }
  }
  // toilet: tank against the wall, bowl and seat in front
  if (hasToilet) {
    const s = place(room, taken, 0.45, 30) ?? { x0: room.width - 0.5, x1: room.width - 0.05 };
    if (s) {
      const tx0 = s.x0;
      room.shadow(tx0, tx0 + 0.45, 0, 0.7);
      room.box('toilet', tx0, tx0 + 0.45, 0.42, 0.8, 0, 0.2, { front: { color: white } });
      room.box('toilet', tx0 + 0.1, tx0 + 0.35, 0, 0.38, 0.2, 0.6, { front: { color: shadeOf(white, 0.95) } });
      const [cx, cy] = room.pt(tx0 + 0.225, 0.4, 0.45);
      const sc = room.scale(0.45);
      const vis = Math.max(0.2, Math.min(1, (cy - room.vy) / (0.5 * sc)));
      b.ellipse('toilet', cx, cy, 0.2 * sc, 0.24 * sc * vis, { color: white, color2: shadeOf(white, 0.85), pattern: { kind: 'radial', cx, cy, r: 0.22 * sc } });
      b.ellipse('toilet', cx, cy, 0.12 * sc, 0.14 * sc * vis, { color: shadeOf(white, 0.8) });
    }
  }
  if (rng.chance(0.45)) {
    const s = place(room, taken, rng.range(0.5, 0.9));
    if (s) wallWindow(room, s.x0, rng.range(1.5, 1.7), s.x1, rng.range(2.1, 2.35), false);
  }
  if (rng.chance(0.5)) {
    const x = rng.range(0.3, Math.max(0.4, W - 1));
    rug(room, x, x + 0.8, 1.0, 1.5);
  }
  if (rng.chance(0.25)) pottedPlant(room, rng.chance(0.5) ? 0.2 : W - 0.2, 0, rng.range(0.3, 1), rng.range(0.5, 0.8));
  if (rng.chance(0.25)) {
    const s = place(room, taken, 1.0);
    if (s) backDoor(room, s.x0);
  }
}
