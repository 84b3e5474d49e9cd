/**
 * Share of pixels per concept (both label planes) and share of scenes that show it, for scene classes drawn in turn
 * (dataset seed 21, 600 scenes at 64×64 unless told).
 *
 *   npx tsx bench/scene-shares.ts village
 *   npx tsx bench/scene-shares.ts field,mountain_lake,ski_resort
 */
import { CONCEPTS, renderScene, sceneLabelPlanes, sceneSeed } from '../src/data/scenes/index.js';
const classes = (process.argv[2] ?? 'village').split(','); const size = 64, n = size * size, N = 600;
const cnt = new Map<string, number>(); const present = new Map<string, number>();
for (let i = 0; i < N; i++) { const s = renderScene({ cls: classes[i % classes.length], seed: sceneSeed(21, i), size }); const pl = sceneLabelPlanes(s); const seen = new Set<string>();
  for (let p = 0; p < n; p++) for (const id of new Set([pl[p], pl[n + p]])) { if (!id) continue; const nm = CONCEPTS.find((c) => c.id === id)!.name; cnt.set(nm, (cnt.get(nm) ?? 0) + 1); seen.add(nm); }
  for (const s2 of seen) present.set(s2, (present.get(s2) ?? 0) + 1); }
console.log([...cnt].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(100 * v / N / n).toFixed(1)}% (${(100 * present.get(k)! / N).toFixed(0)}%)`).join(', '));
