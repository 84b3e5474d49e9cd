/**
 * What train-segmenter --focus does to the scenes a run sees: over 800 scenes of the stage-5 class mix (dataset seed
 * 5, 96×96), the share of scenes where the concepts cover ≥ 0.2% of the pixels and their mean pixel share, plain and
 * focused (share 0.5), and the time per scene.
 *
 *   npx tsx bench/focus-stats.ts door
 */
import { focusScene } from '../src/train/segmenter-batch.js';
import { CONCEPTS } from '../src/data/scenes/index.js';
const C = 'ski_resort,bedroom,kitchen,forest_path,beach,street,living_room,mountain_lake,harbor,field,desert,bathroom,bedroom,living_room,street,ski_resort'.split(',');
const focus = (process.argv[2] ?? 'door').split(','); const ids = new Set(focus.map((f) => CONCEPTS.find((c) => c.name === f)!.id));
for (const fc of [undefined, { concepts: focus, share: 0.5 }]) {
  const t0 = Date.now(); let has = 0, px = 0; const N = 800;
  for (let i = 0; i < N; i++) { const { scene } = focusScene(5, i, 96, C, fc); let h = 0; for (let p = 0; p < scene.labels.length; p++) if (ids.has(scene.labels[p]) || ids.has(scene.objects[p])) h++; if (h > 18) has++; px += h; }
  console.log(fc ? 'focus' : 'plain', `scenes with ${focus} ≥0.2%: ${(100*has/N).toFixed(1)}%  mean share ${(100*px/N/9216).toFixed(2)}%  ${((Date.now()-t0)/N).toFixed(1)} ms/scene`);
}
