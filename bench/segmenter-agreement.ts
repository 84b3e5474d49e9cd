/**
 * How far dissection through a segmenter agrees with dissection against exact masks: for every unit labelled in
 * the exact atlas (IoU above its threshold), the label and IoU each atlas gives it, and the share that agree.
 *
 *   unit-attack dissect --probe 'builtin:scenes?count=2000&seed=7' --out out/exact
 *   unit-attack dissect --probe 'builtin:scenes?count=2000&seed=7' --segmenter builtin:scenes-segmenter --out out/segmented
 *   npx tsx bench/segmenter-agreement.ts out/exact/atlas.json out/segmented/atlas.json [--markdown]
 */
import { loadAtlas } from '../src/dissection/atlas.js';

const [exactFile, segmentedFile] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!exactFile || !segmentedFile) {
  console.error('usage: npx tsx bench/segmenter-agreement.ts EXACT/atlas.json SEGMENTED/atlas.json [--markdown]');
  process.exit(2);
}
const markdown = process.argv.includes('--markdown');
const exact = await loadAtlas(exactFile);
const segmented = await loadAtlas(segmentedFile);
if (exact.layer !== segmented.layer || exact.units.length !== segmented.units.length) {
  console.error(`the atlases dissect different layers: ${exact.layer} (${exact.units.length} units) and ${segmented.layer} (${segmented.units.length} units)`);
  process.exit(2);
}
const labelled = exact.units.filter((u) => u.concept !== null);
const rows = labelled.map((u) => {
  const s = segmented.units[u.unit];
  return { unit: u.unit, exact: u.concept!, exactIou: u.iou, seg: s.concept ?? '–', segIou: s.iou, agree: s.concept === u.concept };
});
rows.sort((a, b) => b.exactIou - a.exactIou);
const agree = rows.filter((r) => r.agree).length;
const header = ['unit', 'exact masks', 'IoU', 'segmenter', 'IoU', 'agree'];
const body = rows.map((r) => [String(r.unit), r.exact, r.exactIou.toFixed(3), r.seg, r.segIou.toFixed(3), r.agree ? 'yes' : 'no']);
if (markdown) {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const b of body) console.log(`| ${b.join(' | ')} |`);
} else {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  for (const line of [header, ...body]) console.log(line.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}
const segLabelled = segmented.units.filter((u) => u.concept !== null).length;
console.log(`\n${exact.layer}: ${labelled.length} units labelled with exact masks, ${segLabelled} through the segmenter` +
  ` (${segmented.probe.segmenter ? `${segmented.probe.segmenter.name}, ${segmented.probe.segmenter.fingerprint}` : 'no segmenter recorded'});` +
  ` ${agree} of ${labelled.length} exact labels kept (${(100 * agree / Math.max(1, labelled.length)).toFixed(1)}%)`);
