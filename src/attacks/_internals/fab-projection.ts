/**
 * The projection step of FAB (Croce & Hein, ICML 2020): the smallest perturbation `d` (in L∞ or L2) that puts a point
 * on a hyperplane, `⟨w, d⟩ = c`, while keeping it in a box, `lo ≤ d ≤ hi` (with `lo ≤ 0 ≤ hi`: the point is inside the
 * box). Written from the paper's problem statement; it works on one image at a time in float64.
 *
 * Both norms reduce to one monotone scalar problem. With `c ≥ 0` (else flip the sign of `w`), `a_i = |w_i|` and
 * `cap_i` the room the box leaves in the direction of `sign(w_i)`, the optimum is
 * `d_i = sign(w_i) · min(s_i · r, cap_i)` for the smallest `r ≥ 0` with `Σ a_i · min(s_i · r, cap_i) = c`:
 *
 * - L∞: `s_i = 1` (r is the radius: every coordinate moves by r unless the box stops it first);
 * - L2: `s_i = a_i` (the KKT conditions: `d = clip(λ·w, lo, hi)`, r is the multiplier λ).
 *
 * The left side is piecewise linear, continuous and nondecreasing in r with breakpoints `cap_i / s_i`. The solution
 * is bracketed by bisection and then solved exactly on its linear piece. When the box does not reach the hyperplane
 * (`Σ a_i · cap_i < c`), the answer is the point of the box that gets closest to it: every coordinate at its cap.
 */
import type { Norm } from '../threat.js';

/** Bisection steps before the exact walk over the breakpoints left in the bracket. */
const BISECT = 40;

/**
 * Minimal-norm `d` with `⟨w, d⟩ = c` and `lo ≤ d ≤ hi` (see the file header); written into `out` (returned).
 * Returns the box's closest point when the hyperplane is out of reach, and 0 when `c` is 0.
 *
 * @example
 * // Two coordinates, w = (1, 2), c = 3, box [−1, 1]²: the L∞-minimal d is (1, 1).
 * projectToHyperplane(Float64Array.of(1, 2), 3, Float64Array.of(-1, -1), Float64Array.of(1, 1), 'linf');
 */
export function projectToHyperplane(
  w: ArrayLike<number>, c: number, lo: ArrayLike<number>, hi: ArrayLike<number>, norm: Norm,
  out: Float64Array = new Float64Array(w.length),
): Float64Array {
  const n = w.length;
  out.fill(0);
  if (!(c !== 0) || !Number.isFinite(c)) return out;
  const flip = c < 0 ? -1 : 1;
  const target = c * flip;
  // Per coordinate: a = |w|, the room in w's direction, the slope factor s and the breakpoint cap/s.
  const a = new Float64Array(n);
  const cap = new Float64Array(n);
  const bp = new Float64Array(n);
  let total = 0;
  let rMax = 0;
  for (let i = 0; i < n; i++) {
    const wi = w[i] * flip;
    if (wi === 0 || !Number.isFinite(wi)) { bp[i] = -1; continue; }
    a[i] = Math.abs(wi);
    cap[i] = Math.max(wi > 0 ? hi[i] : -lo[i], 0);
    const s = norm === 'linf' ? 1 : a[i];
    bp[i] = cap[i] / s;
    total += a[i] * cap[i];
    if (bp[i] > rMax) rMax = bp[i];
  }
  const sign = (i: number): number => (w[i] * flip > 0 ? 1 : -1);
  if (total < target) {
    // Out of reach: the box corner that goes furthest toward the hyperplane.
    for (let i = 0; i < n; i++) if (a[i] > 0) out[i] = sign(i) * cap[i];
    return out;
  }
  const h = (r: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (a[i] === 0) continue;
      const s = norm === 'linf' ? 1 : a[i];
      v += a[i] * Math.min(s * r, cap[i]);
    }
    return v;
  };
  let rLo = 0;
  let rHi = rMax;
  for (let k = 0; k < BISECT && rHi > rLo; k++) {
    const mid = (rLo + rHi) / 2;
    if (mid <= rLo || mid >= rHi) break;
    if (h(mid) < target) rLo = mid; else rHi = mid;
  }
  // Exact on the piece: start at rLo with its value and slope, walk the breakpoints inside (rLo, rHi] in order.
  let value = 0;
  let slope = 0;
  const inside: number[] = [];
  for (let i = 0; i < n; i++) {
    if (a[i] === 0) continue;
    const s = norm === 'linf' ? 1 : a[i];
    if (bp[i] <= rLo) { value += a[i] * cap[i]; continue; }
    value += a[i] * s * rLo;
    slope += a[i] * s;
    if (bp[i] <= rHi) inside.push(i);
  }
  inside.sort((p, q) => bp[p] - bp[q]);
  let r = rLo;
  let solved = false;
  for (const i of inside) {
    const at = value + slope * (bp[i] - r);
    if (at >= target) break;
    value = at;
    r = bp[i];
    slope -= a[i] * (norm === 'linf' ? 1 : a[i]);
    if (slope <= 0) { solved = true; break; }
  }
  if (!solved && slope > 0) r += (target - value) / slope;
  for (let i = 0; i < n; i++) {
    if (a[i] === 0) continue;
    const s = norm === 'linf' ? 1 : a[i];
    out[i] = sign(i) * Math.min(s * r, cap[i]);
  }
  return out;
}

/** ‖d‖ in `norm`. */
export function normOf(d: ArrayLike<number>, norm: Norm): number {
  let m = 0;
  if (norm === 'linf') {
    for (let i = 0; i < d.length; i++) { const v = Math.abs(d[i]); if (v > m) m = v; }
    return m;
  }
  for (let i = 0; i < d.length; i++) m += d[i] * d[i];
  return Math.sqrt(m);
}

/** The dual norm of `w` for `norm` (L1 for L∞, L2 for L2): the distance to a hyperplane is |f| / ‖w‖_dual. */
export function dualNorm(w: ArrayLike<number>, norm: Norm): number {
  let m = 0;
  if (norm === 'linf') {
    for (let i = 0; i < w.length; i++) m += Math.abs(w[i]);
    return m;
  }
  for (let i = 0; i < w.length; i++) m += w[i] * w[i];
  return Math.sqrt(m);
}
