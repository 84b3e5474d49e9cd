/**
 * How a segmenter reads one concept by the size of the objects it covers, on held-out scenes (dataset seed 1000003,
 * 96×96): the concept's pixels are grouped into connected pieces (4-neighbours); per size bucket, the share of the
 * concept's pixels in pieces of that size, the share of them the segmenter finds (recall), and the IoU within the
 * bucket (a predicted piece counts against the bucket of the truth piece it overlaps most). Predicted pieces that touch
 * no truth piece are reported apart, as a share of the union. A second table gives the errors by their chessboard
 * distance to the concept's edge: missed pixels of the concept (1 = on its outer ring) and pixels wrongly called the
 * concept (1 = next to it), each as a share of the union, so a segmenter that shrinks or swells the concept shows.
 *
 *   npx tsx bench/segmenter-by-size.ts [SEGMENTER] [COUNT] [CONCEPT] [CLASSES]
 *   # defaults: builtin:scenes-segmenter 480 door, the scene classes in turn (CLASSES: a comma-separated subset)
 */
import { initBackend } from '../src/engine/backend.js';
import { loadSegmenter } from '../src/segment/segmenter.js';
import { CONCEPTS, SCENE_CLASSES, renderScene, sceneLabelPlanes, sceneSeed } from '../src/data/scenes/index.js';
await initBackend({ backend: 'wasm' });
const seg = await loadSegmenter(process.argv[2] ?? 'builtin:scenes-segmenter');
const size = 96, n = size * size, count = Number(process.argv[3] ?? 480), want = process.argv[4] ?? 'door';
const classes = process.argv[5]?.split(',') ?? SCENE_CLASSES;
const wid = CONCEPTS.find((c) => c.name === want)!.id; const sid = seg.concepts.find((c) => c.name === want)!;
const cat = seg.categories.findIndex((c) => c.name === sid.category);
function comps(m: Uint8Array): [Int32Array, number[]] { const lab = new Int32Array(n).fill(-1); const sz: number[] = []; const st: number[] = [];
  for (let p = 0; p < n; p++) if (m[p] && lab[p] < 0) { const k = sz.length; sz.push(0); lab[p] = k; st.push(p); while (st.length) { const q = st.pop()!; sz[k]++; const y = Math.floor(q / size), x = q % size;
    for (const [dy, dx] of [[1,0],[-1,0],[0,1],[0,-1]]) { const yy = y+dy, xx = x+dx; if (yy<0||xx<0||yy>=size||xx>=size) continue; const r = yy*size+xx; if (m[r] && lab[r] < 0) { lab[r] = k; st.push(r); } } } }
  return [lab, sz]; }
const edges = [0, 10, 25, 50, 100, 200, 1e9];
const B = edges.length - 1;
const tpx = new Float64Array(B), hit = new Float64Array(B), uni = new Float64Array(B); let fpFree = 0, I = 0, U = 0;
const RING = 7; const miss = new Float64Array(RING + 1), extra = new Float64Array(RING + 1);
/** Chessboard distance of each pixel to the nearest pixel on the other side of the mask (capped at RING). */
function edgeDistance(m: Uint8Array): Int32Array { const d = new Int32Array(n).fill(RING);
  for (let p = 0; p < n; p++) { const y = Math.floor(p / size), x = p % size;
    search: for (let r = 1; r < RING; r++) for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
      if (Math.max(Math.abs(dy), Math.abs(dx)) !== r) continue; const yy = y + dy, xx = x + dx;
      if (yy >= 0 && xx >= 0 && yy < size && xx < size && m[yy * size + xx] !== m[p]) { d[p] = r; break search; } } }
  return d; }
const bucket = (s: number) => edges.findIndex((e, i) => s >= e && s < edges[i + 1]);
for (let from = 0; from < count; from += 48) {
  const imgs = new Float32Array(48 * n * 3); const ex: Uint16Array[] = [];
  for (let i = 0; i < 48; i++) { const c = classes[(from + i) % classes.length];
    const s = renderScene({ cls: c, seed: sceneSeed(1000003, from + i), size }); for (let k = 0; k < s.image.length; k++) imgs[i*n*3+k] = s.image[k]/255; ex.push(sceneLabelPlanes(s)); }
  const maps = seg.segment(imgs, 48, size, size); const P = seg.categories.length;
  for (let i = 0; i < 48; i++) {
    const t = new Uint8Array(n), p = new Uint8Array(n);
    for (let q = 0; q < n; q++) { t[q] = ex[i][q] === wid || ex[i][n+q] === wid ? 1 : 0; p[q] = maps[(i*P+cat)*n+q] === sid.id ? 1 : 0; I += t[q] & p[q]; U += t[q] | p[q]; }
    const [tl, ts] = comps(t); const [pl, ps] = comps(p);
    const dist = edgeDistance(t);
    for (let q = 0; q < n; q++) { if (t[q] && !p[q]) miss[dist[q]]++; if (p[q] && !t[q]) extra[dist[q]]++; }
    // each predicted component goes to the bucket of the truth component it overlaps most (none: a free false door)
    const best = ps.map(() => new Map<number, number>());
    for (let q = 0; q < n; q++) if (p[q] && t[q]) best[pl[q]].set(tl[q], (best[pl[q]].get(tl[q]) ?? 0) + 1);
    const pb = ps.map((_, k) => { let bk = -1, bv = 0; for (const [tc, v] of best[k]) if (v > bv) { bv = v; bk = tc; } return bk < 0 ? -1 : bucket(ts[bk]); });
    for (let q = 0; q < n; q++) {
      const tb = t[q] ? bucket(ts[tl[q]]) : -1, b2 = p[q] ? pb[pl[q]] : -1;
      if (t[q]) { tpx[tb]++; if (p[q]) hit[tb]++; }
      if (tb >= 0) uni[tb]++; else if (b2 >= 0) uni[b2]++; else if (p[q]) fpFree++;
    }
  }
}
const T = tpx.reduce((a, b) => a + b, 0);
console.log(`${want} IoU ${(I / U).toFixed(3)}; predicted pieces touching no ${want}: ${(fpFree / U * 100).toFixed(1)}% of the union`);
for (let b = 0; b < B; b++) console.log(`pieces of ${edges[b]}–${edges[b + 1] >= 1e9 ? '∞' : edges[b + 1] - 1} px: ${(tpx[b] / T * 100).toFixed(1)}% of its pixels, recall ${(hit[b] / tpx[b]).toFixed(3)}, IoU within ${(hit[b] / uni[b]).toFixed(3)}`);
console.log(`errors by distance to the ${want}'s edge (share of the union): distance, missed ${want} pixels, pixels wrongly called ${want}`);
for (let r = 1; r <= RING; r++) console.log(`${r === RING ? `≥ ${RING}` : r} px: ${(miss[r] / U).toFixed(3)}, ${(extra[r] / U).toFixed(3)}`);
