/**
 * Run by `ablate-workers.test.ts` under tsx (worker threads need tsx or the compiled package): the same ablation of
 * the tiny generator on this thread, on a pool of one worker and on two workers; prints the three results as JSON
 * (without the time taken) with a digest of their example pictures.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { initBackend } from '../../src/engine/backend.js';
import { ablateConcept, type AblateConceptOptions } from '../../src/gan/ablate.js';
import { loadGenerator } from '../../src/gan/generator.js';
import { startGanPool } from '../../src/gan/pool.js';
import { loadSegmenter } from '../../src/segment/segmenter.js';

const dir = process.argv[2];
await initBackend({ backend: 'wasm' });
const g = await loadGenerator(path.join(dir, 'gen'));
const seg = await loadSegmenter(path.join(dir, 'seg'));
const warnings: string[] = [];
const run = async (o: Partial<AblateConceptOptions>): Promise<string> => {
  const { result, examples } = await ablateConcept(g, seg, {
    concept: 'tree', sizes: [0, 1, 2], samples: 44, batchSize: 8, rankSamples: 16, causalSamples: 8, controlDraws: 2, controlSamples: 20, examples: 3, ranking: 'all',
    onWarning: (m) => warnings.push(m), ...o,
  });
  const rest: Partial<typeof result> = { ...result };
  delete rest.seconds;
  const h = createHash('sha256');
  for (const im of [...examples.before, ...Object.values(examples.after).flat(2)]) h.update(im.data);
  return JSON.stringify({ ...rest, examples: h.digest('hex') });
};
const inline = await run({});
const started = await startGanPool({ generator: g.name, segmenter: seg.name, fingerprints: { generator: g.fingerprint, segmenter: seg.fingerprint }, workers: 1 });
let one = '';
try {
  one = started.pool ? await run({ pool: started.pool }) : `no pool: ${started.reason ?? ''}`;
} finally {
  await started.pool?.close();
}
const two = await run({ workers: 2 });
process.stdout.write(JSON.stringify({ inline, one, two, warnings }));
g.dispose(); seg.dispose();
