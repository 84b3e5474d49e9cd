/**
 * Import benchmark: wall time, CPU time and peak RSS of `unit-attack import` for a ~100 MB ONNX file (full-width
 * VGG-16 features at 224×224 with a narrower classifier, 24.9 M parameters), each backend in a fresh process.
 *
 *   npx tsx bench/import.ts                        # makes the file with the fixture script (needs python3-torch), then measures
 *   npx tsx bench/import.ts --file model.onnx      # measures another file
 *   npx tsx bench/import.ts --one wasm FILE OUT    # one run in this process (prints JSON)
 *
 * "Weight copies" is (peak RSS − RSS before reading the file) / file size: how many copies of the weights the
 * import holds at its peak (the file's bytes, the converted arrays, the backend's tensors, the saved buffer).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';
import { initBackend, type BackendName } from '../src/engine/backend.js';
import { importModel } from '../src/models/import/import.js';
import { loadClassifier } from '../src/models/io.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

interface Row {
  backend: string; fileMB: number; seconds: number; cpuSeconds: number; baseRssMB: number; peakRssMB: number;
  copies: number; loadSeconds: number; forwardSeconds: number | null; parameters: number; load: number;
}

async function one(backend: BackendName, file: string, out: string): Promise<void> {
  const info = await initBackend({ backend });
  // Warm the backend up so its own allocation is part of the baseline, not the import.
  tf.tidy(() => tf.conv2d(tf.ones<tf.Rank.R4>([1, 8, 8, 3]), tf.ones<tf.Rank.R4>([3, 3, 3, 4]), 1, 'same').dataSync());
  global.gc?.();
  const base = process.memoryUsage().rss;
  const t0 = Date.now();
  const c0 = process.cpuUsage();
  const r = await importModel(file, out, { overwrite: true });
  const seconds = (Date.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const peak = process.resourceUsage().maxRSS * 1024;
  const fileBytes = statSync(file).size;
  const t1 = Date.now();
  const clf = await loadClassifier(out);
  const loadSeconds = (Date.now() - t1) / 1000;
  // One forward pass of the imported model (not on cpu: a 224×224 VGG-16 takes the pure-JS backend minutes).
  let forwardSeconds: number | null = null;
  if (info.name !== 'cpu') {
    const t2 = Date.now();
    tf.tidy(() => clf.logits(tf.zeros([1, clf.inputSize[0], clf.inputSize[1], 3])).dataSync());
    forwardSeconds = (Date.now() - t2) / 1000;
  }
  clf.dispose();
  const row: Row = {
    backend: info.name, fileMB: fileBytes / 2 ** 20, seconds, cpuSeconds: (c.user + c.system) / 1e6,
    baseRssMB: base / 2 ** 20, peakRssMB: peak / 2 ** 20, copies: (peak - base) / fileBytes, loadSeconds, forwardSeconds,
    parameters: r.parameters, load: os.loadavg()[0],
  };
  console.log(JSON.stringify(row));
}

function bigFile(): string {
  const file = path.join(os.tmpdir(), 'unit-attack-bench-vgg16-100mb.onnx');
  if (existsSync(file)) return file;
  console.log(`writing ${file} with scripts/fixtures/make_fixtures.py --big …`);
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [path.join(root, 'scripts', 'fixtures', 'make_fixtures.py'), '--big', file], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(file)) {
    console.error(`could not make the benchmark file (needs python3 with torch and onnx):\n${r.stderr.slice(-2000)}`);
    process.exit(1);
  }
  return file;
}

const args = process.argv.slice(2);
if (args[0] === '--one') {
  await one(args[1] as BackendName, args[2], args[3]);
} else {
  const fileArg = args.indexOf('--file');
  const file = fileArg >= 0 ? args[fileArg + 1] : bigFile();
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'ua-bench-import-'));
  const rows: Row[] = [];
  try {
    for (const backend of ['wasm', 'cpu'] as const) {
      const r = spawnSync(process.execPath, [...process.execArgv, path.join(here, 'import.ts'), '--one', backend, file, path.join(out, backend)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      try {
        rows.push(JSON.parse(line) as Row);
      } catch {
        console.error(`the ${backend} run failed:\n${r.stdout}`);
        process.exit(1);
      }
    }
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
  console.log(`\n${path.basename(file)}: ${rows[0].fileMB.toFixed(1)} MB, ${(rows[0].parameters / 1e6).toFixed(1)} M parameters; `
    + `load average ${rows[0].load.toFixed(1)} on ${os.cpus().length} cores\n`);
  console.log('backend  import wall  import CPU  RSS before  peak RSS  weight copies  load folder  first forward');
  for (const r of rows) {
    console.log(`${r.backend.padEnd(7)}  ${r.seconds.toFixed(1).padStart(9)} s  ${r.cpuSeconds.toFixed(1).padStart(8)} s  `
      + `${r.baseRssMB.toFixed(0).padStart(7)} MB  ${r.peakRssMB.toFixed(0).padStart(5)} MB  ${r.copies.toFixed(1).padStart(13)}  `
      + `${r.loadSeconds.toFixed(1).padStart(9)} s  ${r.forwardSeconds === null ? '—'.padStart(13) : `${r.forwardSeconds.toFixed(1).padStart(11)} s`}`);
  }
  console.log('\ntargets: seconds, not minutes; a few copies of the weights at most.');
}
