/**
 * How a segmenter reads one concept, class by class, on held-out scenes (dataset seed 1000003, 96×96): per class the
 * scenes that show it, its pixels, the segmenter's pixels, their IoU, and what the segmenter calls the concept's pixels.
 *
 *   npx tsx bench/segmenter-by-class.ts [SEGMENTER] [COUNT] [CONCEPT]    # defaults: builtin:scenes-segmenter 480 door
 */
import { initBackend } from '../src/engine/backend.js';
import { loadSegmenter } from '../src/segment/segmenter.js';
import { CONCEPTS, SCENE_CLASSES, renderScene, sceneLabelPlanes, sceneSeed } from '../src/data/scenes/index.js';
await initBackend({ backend: 'wasm' });
const seg = await loadSegmenter(process.argv[2] ?? 'builtin:scenes-segmenter');
const size = 96, n = size * size, count = Number(process.argv[3] ?? 480);
const want = process.argv[4] ?? 'door';
const wid = CONCEPTS.find((c) => c.name === want)!.id; const sid = seg.concepts.find((c) => c.name === want)!;
const cat = seg.categories.findIndex((c) => c.name === sid.category);
const byCls = new Map<string, number[]>(); const conf = new Map<string, number>();
for (let from = 0; from < count; from += 48) {
  const imgs = new Float32Array(48 * n * 3); const ex: Uint16Array[] = []; const cls: string[] = [];
  for (let i = 0; i < 48; i++) { const c = SCENE_CLASSES[(from + i) % SCENE_CLASSES.length]; cls.push(c);
    const s = renderScene({ cls: c, seed: sceneSeed(1000003, from + i), size }); for (let k = 0; k < s.image.length; k++) imgs[i*n*3+k] = s.image[k]/255; ex.push(sceneLabelPlanes(s)); }
  const maps = seg.segment(imgs, 48, size, size); const P = seg.categories.length;
  for (let i = 0; i < 48; i++) { const st = byCls.get(cls[i]) ?? [0,0,0,0]; let has = 0;
    for (let p = 0; p < n; p++) { const t = ex[i][p] === wid || ex[i][n+p] === wid; const v = maps[(i*P+cat)*n+p]; const pr = v === sid.id;
      if (t) { has = 1; st[0]++; const name = v ? seg.concepts.find((c) => c.id === v)!.name : 'none'; conf.set(name, (conf.get(name) ?? 0) + 1); }
      if (pr) st[1]++; if (t && pr) st[2]++; }
    st[3] += has; byCls.set(cls[i], st); }
}
for (const [c, [t, p, i, k]] of byCls) if (t || p) console.log(c.padEnd(14), `scenes ${k} truthPx ${t} predPx ${p} inter ${i} IoU ${(i/(t+p-i)).toFixed(3)} px/scene ${(t/Math.max(k,1)).toFixed(1)}`);
console.log('truth pixels predicted as:', [...conf].sort((a,b)=>b[1]-a[1]).map(([k,v])=>`${k} ${v}`).join(', '));
