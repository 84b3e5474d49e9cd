/**
 * The reliability suite: every fault of the CI contract, reproduced through the CLI in a process of its own, and a
 * table of what happened — the exit code (against the one the contract promises), the files left behind (temporary
 * activation files, half-written outputs), and whether data was lost (an output that should exist and does not, a
 * file that should not change and did).
 *
 *   npm run test:reliability [-- --markdown] [--only NAME,…]
 *
 * Exits 1 when a row is not as promised. The same faults are tests in test/cli, test/dissection and test/scenarios;
 * this is the one-page view of them.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin/unit-attack.js');
const fullDisk = path.join(root, 'test/fixtures/full-disk.mjs');
const image = path.join(root, 'examples/ski_resort.png');
const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? new Set(args[onlyIdx + 1].split(',')) : undefined;

interface Outcome {
  code: number | null;
  /** Stray files: temporary activation files, or outputs that a failed command should not have left. */
  left: string[];
  /** What was lost, or '' when nothing was. */
  lost: string;
  /** A short note of what was seen. */
  seen: string;
}

interface Fault {
  name: string;
  /** What the contract promises. */
  expect: { code: number; note: string };
  run(dir: string): Promise<Outcome>;
}

interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs the CLI with a temp folder of its own (`TMPDIR`, so activation files are easy to find). */
function cli(cliArgs: string[], o: { cwd: string; tmp: string; env?: Record<string, string>; preload?: string }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...(o.preload ? ['--import', o.preload] : []), bin, ...cliArgs], {
      cwd: o.cwd, env: { ...process.env, NO_COLOR: '1', UNIT_ATTACK_WORKERS: '1', TMPDIR: o.tmp, ...o.env }, maxBuffer: 64 << 20,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function files(d: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    let entries;
    try { entries = await fs.readdir(p, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) await walk(path.join(p, e.name));
      else out.push(path.relative(d, path.join(p, e.name)));
    }
  };
  await walk(d);
  return out.sort();
}

const acts = async (tmp: string): Promise<string[]> => (await fs.readdir(tmp)).filter((n) => n.startsWith('unit-attack-acts-'));
/** The first error or warning line, without the per-fault temp folder, shortened. */
const firstLine = (s: string): string => (s.split('\n').find((l) => /✖|warning|error/i.test(l)) ?? s.split('\n')[0] ?? '')
  .replace(/\S*ua-reliability-[^/]+\/\d+\//g, '').replace(/^\(node:\d+\) /, '').trim().slice(0, 70);

/** Makes the per-fault folders: `dir/tmp` is the process's temp folder. */
async function setup(dir: string): Promise<{ tmp: string }> {
  const tmp = path.join(dir, 'tmp');
  await fs.mkdir(tmp, { recursive: true });
  return { tmp };
}

const DISSECT_SMALL = ['dissect', '--probe', 'builtin:scenes?count=24&seed=3', '--no-importance', '--quiet'];

const FAULTS: Fault[] = [
  {
    name: 'attack --out under a file',
    expect: { code: 2, note: 'the path named' },
    async run(dir) {
      const { tmp } = await setup(dir);
      await fs.writeFile(path.join(dir, 'blocker'), 'x');
      const r = await cli(['attack', '--image', image, '--attack', 'fgsm', '--eps', '2/255', '--quiet', '--out', path.join(dir, 'blocker', 'out')], { cwd: dir, tmp });
      return { code: r.code, left: await acts(tmp), lost: (await fs.readFile(path.join(dir, 'blocker'), 'utf8')) === 'x' ? '' : 'the blocking file changed', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'synth on a full disk',
    expect: { code: 2, note: 'nothing half-written' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const out = path.join(dir, 'full', 'out');
      await fs.mkdir(path.dirname(out));
      const r = await cli(['synth', '--count', '3', '--size', '16', '--quiet', '--out', out], { cwd: dir, tmp, preload: fullDisk, env: { UA_FULL_DISK: path.join(dir, 'full') } });
      return { code: r.code, left: [...await acts(tmp), ...(await files(path.join(dir, 'full'))).map((f) => `full/${f}`)], lost: '', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'attack on a full disk',
    expect: { code: 2, note: 'nothing half-written' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const out = path.join(dir, 'full', 'out');
      await fs.mkdir(path.dirname(out));
      const r = await cli(['attack', '--image', image, '--attack', 'fgsm', '--eps', '2/255', '--quiet', '--out', out], { cwd: dir, tmp, preload: fullDisk, env: { UA_FULL_DISK: path.join(dir, 'full') } });
      return { code: r.code, left: [...await acts(tmp), ...(await files(path.join(dir, 'full'))).map((f) => `full/${f}`)], lost: '', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'a missing input image',
    expect: { code: 2, note: 'the file named' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const r = await cli(['predict', '--image', path.join(dir, 'nope.png')], { cwd: dir, tmp });
      return { code: r.code, left: await acts(tmp), lost: '', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'one truncated image of three (predict)',
    expect: { code: 0, note: 'skipped and named; the others classified' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const imgs = path.join(dir, 'imgs');
      await fs.mkdir(imgs);
      const png = await fs.readFile(image);
      await fs.writeFile(path.join(imgs, 'a.png'), png);
      await fs.writeFile(path.join(imgs, 'b.png'), png);
      await fs.writeFile(path.join(imgs, 'truncated.png'), png.subarray(0, Math.floor(png.length / 3)));
      const r = await cli(['predict', '--images', imgs, '--json'], { cwd: dir, tmp });
      let classified = 0; let skipped: string[] = [];
      try {
        const j = JSON.parse(r.stdout) as { predictions?: unknown[]; results?: unknown[]; skipped?: Array<{ file: string }> };
        classified = (j.predictions ?? j.results ?? []).length;
        skipped = (j.skipped ?? []).map((s) => path.basename(s.file));
      } catch { /* reported below */ }
      const lost = classified === 2 && skipped.join() === 'truncated.png' ? '' : `classified ${classified}, skipped [${skipped.join(', ')}]`;
      return { code: r.code, left: await acts(tmp), lost, seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'dissect with an unwritable cache',
    expect: { code: 0, note: 'the atlas written, a warning' },
    async run(dir) {
      const { tmp } = await setup(dir);
      await fs.writeFile(path.join(dir, 'cache-file'), 'x');
      const out = path.join(dir, 'out');
      const r = await cli([...DISSECT_SMALL, '--out', out], { cwd: dir, tmp, env: { UNIT_ATTACK_CACHE: path.join(dir, 'cache-file', 'sub') } });
      return { code: r.code, left: await acts(tmp), lost: existsSync(path.join(out, 'atlas.json')) ? '' : 'no atlas', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'Broden probe: new images under the same index.csv',
    expect: { code: 0, note: 'recomputed, not served from the cache' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const a = path.join(dir, 'a'); const b = path.join(dir, 'b');
      const env = { UNIT_ATTACK_CACHE: path.join(dir, 'cache') };
      await cli(['synth', '--count', '8', '--size', '96', '--seed', '11', '--quiet', '--out', a], { cwd: dir, tmp });
      await cli(['synth', '--count', '8', '--size', '96', '--seed', '12', '--quiet', '--out', b], { cwd: dir, tmp });
      const d = (out: string): Promise<CliResult> => cli(['dissect', '--probe', a, '--no-importance', '--quiet', '--json', '--out', path.join(dir, out)], { cwd: dir, tmp, env });
      await d('o1');
      const second = JSON.parse((await d('o2')).stdout) as { cached: boolean };
      await fs.cp(path.join(b, 'images'), path.join(a, 'images'), { recursive: true, force: true });
      const r = await d('o3');
      const third = JSON.parse(r.stdout) as { cached: boolean };
      return { code: r.code, left: await acts(tmp), lost: second.cached && !third.cached ? '' : `cached: ${String(second.cached)} then ${String(third.cached)} (stale atlas served)`, seen: `second run cached, after the change recomputed: ${String(!third.cached)}` };
    },
  },
  {
    name: 'two dissections of the same thing at once',
    expect: { code: 0, note: 'both atlases valid, one valid cache file' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const env = { UNIT_ATTACK_CACHE: path.join(dir, 'cache') };
      const [r1, r2] = await Promise.all(['o1', 'o2'].map((o) => cli([...DISSECT_SMALL, '--out', path.join(dir, o)], { cwd: dir, tmp, env })));
      const caches = (await files(path.join(dir, 'cache'))).filter((f) => f.endsWith('.json'));
      let valid = 0;
      for (const c of caches) {
        try { JSON.parse(await fs.readFile(path.join(dir, 'cache', c), 'utf8')); valid++; } catch { /* torn */ }
      }
      const atlases = ['o1', 'o2'].filter((o) => existsSync(path.join(dir, o, 'atlas.json'))).length;
      return {
        code: Math.max(r1.code ?? 99, r2.code ?? 99), left: [...await acts(tmp), ...(await files(path.join(dir, 'cache'))).filter((f) => f.includes('.tmp'))],
        lost: atlases === 2 && valid === caches.length && valid >= 1 ? '' : `${atlases} atlases, ${valid}/${caches.length} cache files valid`, seen: `exit codes ${r1.code}, ${r2.code}`,
      };
    },
  },
  ...(['SIGINT', 'SIGTERM'] as const).map((signal): Fault => ({
    name: `${signal} during dissection pass 1`,
    expect: { code: signal === 'SIGINT' ? 130 : 143, note: 'no activation files left' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const child = spawn(process.execPath, [bin, 'dissect', '--probe', 'builtin:scenes?count=3000&seed=3', '--no-cache', '--quiet', '--workers', '2', '--out', path.join(dir, 'out')], {
        env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' }, stdio: 'ignore',
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let seen = false;
      for (let i = 0; i < 1200 && !seen; i++) {
        seen = (await acts(tmp)).length > 0;
        if (!seen) await new Promise((r) => setTimeout(r, 100));
      }
      child.kill(signal);
      const code = await exited;
      return { code, left: await acts(tmp), lost: '', seen: seen ? 'interrupted while writing activations' : 'never reached pass 1' };
    },
  })),
  {
    name: 'SIGINT in pass 1 and the same command again',
    expect: { code: 0, note: 'resumes at the shard it reached; atlas equals an uninterrupted run' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const env = { UNIT_ATTACK_CACHE: path.join(dir, 'cache') };
      const dissectArgs = (out: string, ...more: string[]): string[] => [
        'dissect', '--probe', 'builtin:scenes?count=160&seed=5', '--batch-size', '8', '--no-importance', '--no-strips', '--quiet', '--out', path.join(dir, out), ...more,
      ];
      const child = spawn(process.execPath, [bin, ...dissectArgs('a')], { env: { ...process.env, NO_COLOR: '1', UNIT_ATTACK_WORKERS: '1', TMPDIR: tmp, ...env }, stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const partial = path.join(dir, 'cache', 'partial');
      const kept = async (): Promise<number> => (await files(partial)).filter((f) => f.endsWith('.bin')).length;
      for (let i = 0; i < 1200 && (await kept()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGINT');
      const stopped = await exited;
      const shards = await kept();
      const resumed = await cli(dissectArgs('a', '--force'), { cwd: dir, tmp, env });
      const whole = await cli(dissectArgs('b', '--no-cache'), { cwd: dir, tmp, env });
      const atlas = async (o: string): Promise<string> => {
        try { return JSON.stringify({ ...JSON.parse(await fs.readFile(path.join(dir, o, 'atlas.json'), 'utf8')), created: undefined }); } catch { return 'none'; }
      };
      const same = (await atlas('a')) === (await atlas('b')) && (await atlas('a')) !== 'none';
      return {
        code: stopped === 130 ? Math.max(resumed.code ?? 99, whole.code ?? 99) : stopped, left: [...await acts(tmp), ...await files(partial)],
        lost: same ? '' : 'the resumed atlas differs from the uninterrupted one',
        seen: `stopped with ${shards} of 5 shards kept; ${/resumed an interrupted dissection: (\d+) of 5/.exec(resumed.stderr)?.[1] ?? 'no'} read back`,
      };
    },
  },
  {
    name: 'activation files of a killed run',
    expect: { code: 0, note: 'removed by the next dissection' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']).stdout.toString().trim();
      await fs.writeFile(path.join(tmp, `unit-attack-acts-${dead}-old-run.bin`), Buffer.alloc(1 << 20));
      const r = await cli([...DISSECT_SMALL, '--no-cache', '--out', path.join(dir, 'out')], { cwd: dir, tmp });
      return { code: r.code, left: await acts(tmp), lost: '', seen: firstLine(r.stderr) || 'ok' };
    },
  },
  {
    name: 'attack into a non-empty --out',
    expect: { code: 2, note: 'refused without --force; nothing touched' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const out = path.join(dir, 'out');
      await fs.mkdir(out);
      await fs.writeFile(path.join(out, 'keep.txt'), 'earlier run');
      const r = await cli(['attack', '--image', image, '--attack', 'fgsm', '--eps', '2/255', '--quiet', '--out', out], { cwd: dir, tmp });
      const now = await files(out);
      return { code: r.code, left: now.filter((f) => f !== 'keep.txt'), lost: (await fs.readFile(path.join(out, 'keep.txt'), 'utf8')) === 'earlier run' ? '' : 'keep.txt changed', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'run with an invalid scenario file',
    expect: { code: 2, note: 'results.json and junit.xml still written' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const file = path.join(dir, 'bad.yaml');
      await fs.writeFile(file, 'name: bad\nmodel: builtin:scenes-vgg16\ninputs: { synthetic: { count: 2 } }\nattack: { kind: pgd, epsilon: lots, colour: red }\nexpectations: { psnr: { min: 30 } }\n');
      const out = path.join(dir, 'out');
      const r = await cli(['run', file, '--quiet', '--out', out], { cwd: dir, tmp });
      const missing = ['results.json', 'junit.xml'].filter((f) => !existsSync(path.join(out, f)));
      const problems = (r.stderr.match(/✖/g) ?? []).length;
      return { code: r.code, left: await acts(tmp), lost: missing.length ? `missing ${missing.join(', ')}` : '', seen: `${problems} problems reported` };
    },
  },
  {
    name: 'weights.bin with trailing bytes',
    expect: { code: 0, note: 'loads, with a warning' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const model = path.join(dir, 'model');
      await fs.cp(path.join(root, 'models/scenes-vgg16'), model, { recursive: true });
      await fs.appendFile(path.join(model, 'weights.bin'), Buffer.alloc(64));
      const r = await cli(['predict', '--model', model, '--image', image], { cwd: dir, tmp });
      return { code: r.code, left: await acts(tmp), lost: /warning/i.test(r.stderr) ? '' : 'no warning', seen: firstLine(r.stderr) };
    },
  },
  {
    name: 'dissect --workers 6 on a one-shard probe',
    expect: { code: 0, note: 'workers capped by the shards' },
    async run(dir) {
      const { tmp } = await setup(dir);
      const r = await cli([...DISSECT_SMALL, '--no-cache', '--workers', '6', '--json', '--out', path.join(dir, 'out')], { cwd: dir, tmp });
      return { code: r.code, left: await acts(tmp), lost: existsSync(path.join(dir, 'out', 'atlas.json')) ? '' : 'no atlas', seen: firstLine(r.stderr) || 'ok' };
    },
  },
];

const base = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-reliability-'));
const rows: string[][] = [];
let bad = 0;
for (const [i, f] of FAULTS.entries()) {
  if (only && !only.has(f.name)) continue;
  const dir = path.join(base, String(i));
  await fs.mkdir(dir);
  const t0 = performance.now();
  let o: Outcome;
  try {
    o = await f.run(dir);
  } catch (err) {
    o = { code: null, left: [], lost: `the reproduction failed: ${(err as Error).message}`, seen: '' };
  }
  const ok = o.code === f.expect.code && o.left.length === 0 && o.lost === '';
  if (!ok) bad++;
  rows.push([f.name, `${o.code ?? 'none'} (want ${f.expect.code})`, o.left.length ? o.left.slice(0, 3).join(', ') + (o.left.length > 3 ? ` … ${o.left.length}` : '') : 'none',
    o.lost || 'nothing', f.expect.note, o.seen.replace(/\|/g, '/'), ok ? 'ok' : 'NOT AS PROMISED', ((performance.now() - t0) / 1000).toFixed(1)]);
  process.stderr.write(`${ok ? '✔' : '✖'} ${f.name}\n`);
}
await fs.rm(base, { recursive: true, force: true });

const head = ['fault', 'exit code', 'files left', 'data lost', 'promised', 'seen', 'verdict', 's'];
if (markdown) {
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => ' --- ').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} else {
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
console.log(`\n${rows.length - bad}/${rows.length} faults handled as promised`);
process.exitCode = bad > 0 ? 1 : 0;
