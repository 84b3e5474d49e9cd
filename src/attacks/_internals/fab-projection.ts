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
 * is bracketed by bucketing the breakpoints (a few passes over the coordinates, refining the bucket that holds the
 * solution) and then solved exactly on its linear piece. When the box does not reach the hyperplane
 * (`Σ a_i · cap_i < c`), the answer is the point of the box that gets closest to it: every coordinate at its cap.
 */
import type { Norm } from '../threat.js';

/** Buckets per refinement level, and the candidate count below which the breakpoints are sorted and walked. */
const BUCKETS = 256; // fits the Uint8Array of bucket numbers
const WALK = 64;

/** Per-coordinate scratch arrays, reused from call to call (FAB projects two image-sized problems per image and step). */
interface Scratch { a: Float64Array; cap: Float64Array; bp: Float64Array; cand: Int32Array; next: Int32Array; bucket: Uint8Array }
let scratch: Scratch | null = null;

function scratchFor(n: number): Scratch {
  if (scratch === null || scratch.a.length < n) {
    scratch = {
      a: new Float64Array(n), cap: new Float64Array(n), bp: new Float64Array(n), cand: new Int32Array(n), next: new Int32Array(n),
      bucket: new Uint8Array(n),
    };
  }
  return scratch;
}

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
  const linf = norm === 'linf';
  // Per coordinate: a = |w|, the room in w's direction, the slope factor s and the breakpoint cap/s.
  const { a, cap, bp } = scratchFor(n);
  let total = 0;
  let rMax = 0;
  for (let i = 0; i < n; i++) {
    const wi = w[i] * flip;
    if (wi === 0 || !Number.isFinite(wi)) { a[i] = 0; cap[i] = 0; bp[i] = -1; continue; }
    const ai = Math.abs(wi);
    const ci = Math.max(wi > 0 ? hi[i] : -lo[i], 0);
    a[i] = ai; cap[i] = ci;
    const b = ci / (linf ? 1 : ai);
    bp[i] = b;
    total += ai * ci;
    if (b > rMax) rMax = b;
  }
  if (total < target) {
    // Out of reach: the box corner that goes furthest toward the hyperplane.
    for (let i = 0; i < n; i++) if (a[i] > 0) out[i] = (w[i] * flip > 0 ? 1 : -1) * cap[i];
    return out;
  }
  const r = solvePiecewise(n, linf, target, rMax);
  for (let i = 0; i < n; i++) {
    const ai = a[i];
    if (ai === 0) continue;
    out[i] = (w[i] * flip > 0 ? 1 : -1) * Math.min((linf ? 1 : ai) * r, cap[i]);
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

/**
 * The smallest r ≥ 0 with h(r) = Σ a_i·min(s_i·r, cap_i) = target, given h(rMax) ≥ target (s_i = 1 for L∞, a_i for
 * L2; breakpoints bp_i = cap_i / s_i, −1 for coordinates with a_i = 0), on the first n entries of the scratch arrays.
 * On (lo, hi] it keeps h(r) = fixedA + fixedS·r + Σ_{i∈C} a_i·min(s_i·r, cap_i): coordinates capped by lo are in
 * fixedA, those uncapped until past hi in fixedS, the rest are the candidates C. Each level spreads C over buckets,
 * finds the bucket where h crosses the target and keeps its members; with few candidates left (or one breakpoint
 * value) it walks them in order.
 */
function solvePiecewise(n: number, linf: boolean, target: number, rMax: number): number {
  const { a, cap, bp, bucket } = scratch!;
  let { cand, next } = scratch!;
  let size = 0;
  for (let i = 0; i < n; i++) if (a[i] > 0 && bp[i] > 0) cand[size++] = i;
  let lo = 0; let hi = rMax; let fixedA = 0; let fixedS = 0;
  const capA = new Float64Array(BUCKETS); const slopeS = new Float64Array(BUCKETS);
  while (size > WALK && hi > lo) {
    let mn = Number.POSITIVE_INFINITY; let mx = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < size; k++) { const b = bp[cand[k]]; if (b < mn) mn = b; if (b > mx) mx = b; }
    if (mn === mx) break;
    capA.fill(0); slopeS.fill(0);
    const width = (hi - lo) / BUCKETS;
    for (let k = 0; k < size; k++) {
      const i = cand[k];
      const b = Math.min(BUCKETS - 1, Math.max(0, Math.floor((bp[i] - lo) / width)));
      bucket[k] = b;
      capA[b] += a[i] * cap[i]; slopeS[b] += a[i] * (linf ? 1 : a[i]);
    }
    let sTotal = 0;
    for (let b = 0; b < BUCKETS; b++) sTotal += slopeS[b];
    // Walk the bucket edges: h(edge_b) with buckets ≤ b capped and the later ones still growing.
    let accA = 0; let accS = sTotal; let found = BUCKETS - 1;
    for (let b = 0; b < BUCKETS; b++) {
      const edge = b === BUCKETS - 1 ? hi : lo + (b + 1) * width;
      if (fixedA + accA + capA[b] + edge * (fixedS + accS - slopeS[b]) >= target) { found = b; break; }
      accA += capA[b]; accS -= slopeS[b];
    }
    fixedA += accA;
    fixedS += accS - slopeS[found];
    let kept = 0;
    for (let k = 0; k < size; k++) if (bucket[k] === found) next[kept++] = cand[k];
    [cand, next] = [next, cand];
    size = kept;
    const nlo = lo + found * width;
    hi = found === BUCKETS - 1 ? hi : lo + (found + 1) * width;
    lo = nlo;
  }
  // Exact: at lo every candidate still grows; walk their breakpoints in order.
  const rest = Array.from(cand.subarray(0, size));
  let value = fixedA + fixedS * lo; let slope = fixedS;
  for (const i of rest) { value += a[i] * (linf ? 1 : a[i]) * lo; slope += a[i] * (linf ? 1 : a[i]); }
  rest.sort((p, q) => bp[p] - bp[q]);
  let r = lo;
  for (const i of rest) {
    const at = value + slope * (bp[i] - r);
    if (at >= target) break;
    value = at; r = bp[i]; slope -= a[i] * (linf ? 1 : a[i]);
  }
  return slope > 0 ? r + (target - value) / slope : r;
}
