/**
 * Joins shards of the AutoAttack section of `bench/attacks.ts` (each run with `--aa-from F --aa-count N --json FILE`)
 * into one table: robust accuracy under PGD-20, APGD-CE and the standard ensemble over all their images, each
 * component's attacked → broken counts, and the CPU seconds spent. Every attack seeds each image from the image
 * itself, so a shard gives each image what one run over all of them would; the counts simply add up.
 *
 *   npx tsx bench/autoattack-merge.ts shard-0.json shard-50.json …          # a Markdown table on stdout
 *   npx tsx bench/autoattack-merge.ts --json merged.json shard-*.json
 *
 * Shards must share the model, the attack seed, the budgets and the ε list, and must not overlap; gaps are reported.
 */
import { promises as fs } from 'node:fs';

interface Rate { rate: number; count: number; total: number }
interface Component { name: string; ran: boolean; attacked: number; broke: number; robustAfter: number; seconds: number; queries: number }
interface Row {
  eps: number;
  clean: Rate;
  pgd20: { robust: Rate; cpu: [number, number] };
  apgdCe: { robust: Rate; cpu: number };
  autoattack: { robust: Rate; cpu: number; components: Component[]; checksFired: string[] };
}
interface Shard { file: string; model?: string; images: number; from: number; steps: number; queries: number; seed: number; rows: Row[] }

const argv = process.argv.slice(2);
const jsonAt = argv.indexOf('--json');
const jsonOut = jsonAt >= 0 ? argv[jsonAt + 1] : undefined;
const files = argv.filter((a, i) => !a.startsWith('--') && (jsonAt < 0 || i !== jsonAt + 1));
if (files.length === 0) {
  console.error('usage: npx tsx bench/autoattack-merge.ts [--json OUT] SHARD.json…  (shards written by bench/attacks.ts --section autoattack --json)');
  process.exit(2);
}

const shards: Shard[] = [];
for (const file of files) {
  const r = JSON.parse(await fs.readFile(file, 'utf8')) as { autoattack?: Omit<Shard, 'file'> };
  if (!r.autoattack) throw new Error(`${file}: no "autoattack" section; write shards with bench/attacks.ts --section autoattack --json FILE`);
  shards.push({ file, ...r.autoattack, from: r.autoattack.from ?? 0 });
}
shards.sort((a, b) => a.from - b.from);
const first = shards[0];
const epsList = first.rows.map((r) => r.eps);
for (const s of shards) {
  for (const k of ['model', 'steps', 'queries', 'seed'] as const) {
    if (s[k] !== first[k]) throw new Error(`${s.file}: ${k} ${String(s[k])} differs from ${first.file}'s ${String(first[k])}; shards must come from the same configuration`);
  }
  if (s.rows.map((r) => r.eps).join() !== epsList.join()) throw new Error(`${s.file}: ε list ${s.rows.map((r) => r.eps).join()} differs from ${first.file}'s ${epsList.join()}`);
}
const gaps: string[] = [];
for (let i = 1; i < shards.length; i++) {
  const end = shards[i - 1].from + shards[i - 1].images;
  if (shards[i].from < end) throw new Error(`${shards[i].file} (images ${shards[i].from}…) overlaps ${shards[i - 1].file} (…${end - 1})`);
  if (shards[i].from > end) gaps.push(`${end}…${shards[i].from - 1}`);
}
const images = shards.reduce((t, s) => t + s.images, 0);

const add = (rates: Rate[]): Rate => {
  const count = rates.reduce((t, r) => t + r.count, 0); const total = rates.reduce((t, r) => t + r.total, 0);
  return { rate: count / total, count, total };
};
const pct = (r: Rate): string => `${(100 * r.rate).toFixed(1)}% (${r.count})`;
const merged = epsList.map((eps, i) => {
  const rows = shards.map((s) => s.rows[i]);
  const names = rows[0].autoattack.components.map((c) => c.name);
  const components = names.map((name) => {
    const cs = rows.map((r) => r.autoattack.components.find((c) => c.name === name)!);
    return { name, attacked: cs.reduce((t, c) => t + (c.ran ? c.attacked : 0), 0), broke: cs.reduce((t, c) => t + (c.ran ? c.broke : 0), 0), queries: cs.reduce((t, c) => t + (c.ran ? c.queries : 0), 0) };
  });
  const pgdCpu = rows.reduce((t, r) => t + (r.pgd20.cpu[0] + r.pgd20.cpu[1]) / 2, 0);
  const aaCpu = rows.reduce((t, r) => t + r.autoattack.cpu, 0);
  return {
    eps, clean: add(rows.map((r) => r.clean)), pgd20: add(rows.map((r) => r.pgd20.robust)), apgdCe: add(rows.map((r) => r.apgdCe.robust)),
    autoattack: add(rows.map((r) => r.autoattack.robust)), components, pgdCpu, aaCpu,
    checksFired: [...new Set(rows.flatMap((r) => r.autoattack.checksFired))],
    // Per shard too: a merged count under PGD-20 could hide a shard where the ensemble found fewer.
    shardsAbovePgd: shards.filter((_, k) => rows[k].autoattack.robust.count > rows[k].pgd20.robust.count).map((s) => s.file),
  };
});

console.log(`AutoAttack over ${images} images in ${shards.length} shard(s) (${shards.map((s) => `${s.from}…${s.from + s.images - 1}`).join(', ')})` +
  `${gaps.length > 0 ? `; MISSING images ${gaps.join(', ')}` : ''}; model ${first.model ?? '?'}, attack seed ${first.seed}, ${first.steps} iterations, Square ${first.queries} queries.\n`);
console.log('| ε | clean | PGD-20 | APGD-CE | AutoAttack (standard) | ensemble ≤ PGD-20 |');
console.log('| --- | ---: | ---: | ---: | ---: | :---: |');
for (const m of merged) {
  const ok = m.autoattack.count <= m.pgd20.count && m.shardsAbovePgd.length === 0;
  console.log(`| ${m.eps}/255 | ${pct(m.clean)} | ${pct(m.pgd20)} | ${pct(m.apgdCe)} | **${pct(m.autoattack)}** | ${ok ? 'yes' : `**no** (${m.shardsAbovePgd.join(', ') || 'merged'})`} |`);
}
console.log('\n| ε | component | attacked → broken | model passes |');
console.log('| --- | --- | --- | ---: |');
for (const m of merged) for (const c of m.components) console.log(`| ${m.eps}/255 | ${c.name} | ${c.attacked} → ${c.broke} | ${c.queries.toLocaleString('en-US')} |`);
console.log('\n| ε | PGD-20 CPU s (mean of before and after, summed over shards) | AutoAttack CPU s | ratio | checks fired |');
console.log('| --- | ---: | ---: | ---: | --- |');
for (const m of merged) console.log(`| ${m.eps}/255 | ${m.pgdCpu.toFixed(0)} | ${m.aaCpu.toFixed(0)} | ${(m.aaCpu / m.pgdCpu).toFixed(1)}× | ${m.checksFired.join(', ') || 'none'} |`);
if (jsonOut) await fs.writeFile(jsonOut, JSON.stringify({ images, shards: shards.map((s) => ({ file: s.file, from: s.from, images: s.images })), gaps, model: first.model, seed: first.seed, steps: first.steps, queries: first.queries, rows: merged }, null, 2));
