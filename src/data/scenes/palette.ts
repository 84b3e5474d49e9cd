/**
 * Colour helpers and the palettes that classes share on purpose: indoor walls, floors and fabrics come from
 * one distribution for every room class, and outdoor scenes draw one of a few lighting moods (day, golden hour,
 * overcast, haze). Shared palettes keep colour statistics from giving the class away.
 */
import type { Lighting, RGB } from './description.js';
import type { Rng } from './rng.js';

/** HSV (hue in degrees, saturation and value in 0…1) to RGB in 0…255. */
export function hsv(h: number, s: number, v: number): RGB {
  const hh = (((h % 360) + 360) % 360) / 60;
  const i = Math.floor(hh);
  const f = hh - i;
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  let r: number;
  let g: number;
  let b: number;
  switch (i) {
    case 0: [r, g, b] = [v, t, p]; break;
    case 1: [r, g, b] = [q, v, p]; break;
    case 2: [r, g, b] = [p, v, t]; break;
    case 3: [r, g, b] = [p, q, v]; break;
    case 4: [r, g, b] = [t, p, v]; break;
    default: [r, g, b] = [v, p, q]; break;
  }
  return [r * 255, g * 255, b * 255];
}

/** Linear mix of two colours. */
export function mix(a: RGB, b: RGB, t: number): RGB {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** A colour times a factor (darker below 1, brighter above). */
export function shadeOf(c: RGB, k: number): RGB {
  return [c[0] * k, c[1] * k, c[2] * k];
}

/** Per-channel product, e.g. a colour lit by a tinted light. */
export function mul(a: RGB, b: RGB): RGB {
  return [(a[0] * b[0]) / 255, (a[1] * b[1]) / 255, (a[2] * b[2]) / 255];
}

/** A colour with small random changes of each channel (±amount×255) and of overall brightness. */
export function jitter(rng: Rng, c: RGB, amount = 0.06): RGB {
  const k = 1 + rng.range(-amount, amount) * 1.5;
  return [
    (c[0] + rng.range(-amount, amount) * 255) * k,
    (c[1] + rng.range(-amount, amount) * 255) * k,
    (c[2] + rng.range(-amount, amount) * 255) * k,
  ];
}

/** A colour drawn from HSV ranges. */
export function hsvRange(rng: Rng, h: readonly [number, number], s: readonly [number, number], v: readonly [number, number]): RGB {
  return hsv(rng.range(h[0], h[1]), rng.range(s[0], s[1]), rng.range(v[0], v[1]));
}

// ---------------------------------------------------------------- indoor, shared by every room class

/** A wall colour: mostly pale and desaturated, of any hue. */
export function wallColor(rng: Rng): RGB {
  return rng.weighted<() => RGB>([
    [() => hsvRange(rng, [30, 60], [0.03, 0.18], [0.72, 0.95]), 4], // white, cream
    [() => hsvRange(rng, [0, 360], [0.1, 0.35], [0.55, 0.9]), 4], // any pastel
    [() => hsvRange(rng, [0, 360], [0.02, 0.08], [0.45, 0.8]), 2], // grey
    [() => hsvRange(rng, [15, 45], [0.3, 0.55], [0.45, 0.75]), 1], // warm ochre
  ])();
}

/** A fabric colour (bedding, sofas, curtains, rugs, towels, clothes): any hue. */
export function fabricColor(rng: Rng): RGB {
  return hsvRange(rng, [0, 360], [0.15, 0.8], [0.3, 0.92]);
}

/** Wood: from pale pine to dark walnut. */
export function woodColor(rng: Rng): RGB {
  return hsvRange(rng, [18, 38], [0.35, 0.7], [0.3, 0.8]);
}

/** Painted furniture or appliance colour: white, grey, black, wood or a muted colour. */
export function furnitureColor(rng: Rng): RGB {
  return rng.weighted<() => RGB>([
    [() => woodColor(rng), 4],
    [() => hsvRange(rng, [0, 360], [0, 0.06], [0.75, 0.95]), 3],
    [() => hsvRange(rng, [0, 360], [0, 0.1], [0.15, 0.5]), 2],
    [() => hsvRange(rng, [0, 360], [0.2, 0.5], [0.35, 0.8]), 2],
  ])();
}

/** Indoor light: warm bulbs, neutral, or cool daylight, with a brightness ramp from a window side. */
export function indoorLighting(rng: Rng): Lighting {
  const mood = rng.weighted([['warm', 3], ['neutral', 3], ['cool', 2], ['dim', 1]] as const);
  const tint: RGB =
    mood === 'warm' ? [1.08, 0.98, 0.82] : mood === 'cool' ? [0.94, 0.99, 1.08] : mood === 'dim' ? [1.02, 0.93, 0.8] : [1, 1, 1];
  return {
    tint: [tint[0] + rng.range(-0.05, 0.05), tint[1] + rng.range(-0.04, 0.04), tint[2] + rng.range(-0.05, 0.05)],
    brightness: mood === 'dim' ? rng.range(0.5, 0.75) : rng.range(0.75, 1.12),
    contrast: rng.range(0.8, 1.15),
    saturation: rng.range(0.6, 1.25),
    gradient: { angle: rng.range(0, 2 * Math.PI), amount: rng.range(0, 0.45) },
    vignette: rng.range(0, 0.5),
  };
}

// ---------------------------------------------------------------- outdoor, shared by every outdoor class

/** An outdoor mood: sky colours, how sunlight tints things, and the image-level lighting. */
export interface Outdoor {
  readonly mood: 'day' | 'golden' | 'overcast' | 'haze';
  readonly skyTop: RGB;
  readonly skyBottom: RGB;
  /** Colour of lit surfaces relative to white (multiply with `mul`). */
  readonly light: RGB;
  /** Colour of the far distance (aerial perspective): far things are mixed towards it. */
  readonly haze: RGB;
  /** Whether a sun may be drawn. */
  readonly sunny: boolean;
  readonly lighting: Lighting;
}

/** Draws an outdoor mood. `weights` lets a class favour some moods (all classes allow all moods). */
export function outdoorMood(rng: Rng, weights: Partial<Record<Outdoor['mood'], number>> = {}): Outdoor {
  const mood = rng.weighted<Outdoor['mood']>([
    ['day', weights.day ?? 4],
    ['golden', weights.golden ?? 1.5],
    ['overcast', weights.overcast ?? 1.5],
    ['haze', weights.haze ?? 1],
  ]);
  const base: Lighting = {
    brightness: rng.range(0.82, 1.1),
    contrast: rng.range(0.85, 1.15),
    saturation: rng.range(0.7, 1.2),
    gradient: { angle: rng.range(0, 2 * Math.PI), amount: rng.range(0, 0.3) },
    vignette: rng.range(0, 0.35),
  };
  switch (mood) {
    case 'day': {
      const top = hsvRange(rng, [200, 228], [0.45, 0.8], [0.6, 0.92]);
      return {
        mood,
        skyTop: top,
        skyBottom: mix(top, hsvRange(rng, [190, 215], [0.05, 0.25], [0.85, 1]), rng.range(0.5, 0.9)),
        light: hsvRange(rng, [35, 55], [0, 0.12], [0.92, 1]),
        haze: hsvRange(rng, [195, 220], [0.15, 0.35], [0.7, 0.9]),
        sunny: true,
        lighting: { ...base, tint: [rng.range(0.96, 1.04), 1, rng.range(0.96, 1.06)] },
      };
    }
    case 'golden': {
      const top = hsvRange(rng, [215, 270], [0.3, 0.6], [0.35, 0.7]);
      const bottom = hsvRange(rng, [10, 42], [0.45, 0.8], [0.8, 1]);
      return {
        mood,
        skyTop: top,
        skyBottom: bottom,
        light: hsvRange(rng, [20, 38], [0.25, 0.5], [0.85, 1]),
        haze: mix(bottom, top, 0.4),
        sunny: true,
        lighting: { ...base, tint: [rng.range(1.02, 1.12), rng.range(0.92, 1), rng.range(0.78, 0.9)] },
      };
    }
    case 'overcast': {
      const top = hsvRange(rng, [190, 230], [0.02, 0.12], [0.5, 0.8]);
      return {
        mood,
        skyTop: top,
        skyBottom: mix(top, [235, 235, 235], rng.range(0.2, 0.6)),
        light: hsvRange(rng, [190, 230], [0, 0.08], [0.7, 0.85]),
        haze: hsvRange(rng, [190, 230], [0.02, 0.1], [0.65, 0.85]),
        sunny: false,
        lighting: { ...base, saturation: rng.range(0.5, 0.9), contrast: rng.range(0.75, 1), tint: [0.97, 0.99, 1.03] },
      };
    }
    case 'haze': {
      const top = hsvRange(rng, [30, 220], [0.05, 0.25], [0.7, 0.92]);
      return {
        mood,
        skyTop: top,
        skyBottom: mix(top, [240, 236, 225], rng.range(0.3, 0.7)),
        light: hsvRange(rng, [30, 50], [0.05, 0.2], [0.85, 1]),
        haze: mix(top, [235, 230, 220], 0.5),
        sunny: rng.chance(0.5),
        lighting: { ...base, saturation: rng.range(0.55, 0.95), contrast: rng.range(0.7, 0.95) },
      };
    }
  }
}
