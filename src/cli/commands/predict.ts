import * as tf from '@tensorflow/tfjs';
import { loadImage } from '../../data/images.js';
import type { FitPolicy } from '../../data/images.js';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { loadClassifier } from '../../models/io.js';
import type { CommandSpec } from '../command.js';
import { table } from '../format.js';
import { checkWorkersArg, withWorkers, workersOption } from '../workers.js';
import { poolFor, splitRange } from '../../engine/pool.js';
import type { Classifier } from '../../models/types.js';

export const predictCommand: CommandSpec = {
  name: 'predict',
  describe: 'Classify images: the top classes with their probabilities',
  options: {
    model: { type: 'string', default: 'builtin:scenes-vgg16', describe: 'builtin:NAME, a model folder or a model.json' },
    image: { type: 'string', array: true, demandOption: true, describe: 'image file(s): PNG, JPEG or WebP' },
    top: { type: 'number', default: 5, describe: 'how many classes to show' },
    fit: { type: 'string', choices: ['crop', 'stretch'], default: 'crop', describe: 'fit other sizes by centre crop or stretch' },
    json: { type: 'boolean', default: false, describe: 'print JSON' },
    workers: workersOption,
  },
  examples: [['unit-attack predict --image examples/ski_resort.png', 'classify a scene with the built-in model']],
  check(argv) {
    checkWorkersArg(argv);
    const top = argv.top as number;
    if (!Number.isInteger(top) || top < 1) throw usageError(`--top must be a positive integer, got ${String(argv.top)}`, { path: '--top' });
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const clf = await loadClassifier(argv.model as string);
    const files = argv.image as string[];
    const probs = await withWorkers(argv, io, clf, files.length, () => predictAll(clf, files, argv.fit as FitPolicy));
    const results: Array<{ image: string; top: Array<{ class: string; probability: number }> }> = files.map((file, f) => {
      const p = probs[f];
      const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a]);
      const k = Math.min(argv.top as number, order.length);
      return { image: file, top: order.slice(0, k).map((i) => ({ class: clf.classNames[i], probability: p[i] })) };
    });
    if (argv.json) {
      io.out(JSON.stringify({ model: clf.name, results }, null, 2));
    } else {
      for (const r of results) {
        io.out(`${r.image}  (model ${clf.name})`);
        io.out(table([['class', 'probability'], ...r.top.map((t) => [t.class, t.probability.toFixed(4)])], ['l', 'r']));
      }
    }
    clf.dispose();
    return 0;
  },
};

/** Class probabilities of each image file: on the pool's workers in batches when there is a pool, else here. */
async function predictAll(clf: Classifier, files: readonly string[], fit: FitPolicy): Promise<Float32Array[]> {
  const pool = poolFor(clf);
  if (!pool) {
    const out: Float32Array[] = [];
    for (const file of files) {
      const x = await loadImage(file, { size: clf.inputSize, fit });
      const p = tf.tidy(() => tf.softmax(clf.logits(x)));
      x.dispose();
      out.push(Float32Array.from(await p.data() as Float32Array));
      p.dispose();
    }
    return out;
  }
  const [h, w] = clf.inputSize;
  const per = h * w * 3;
  const K = clf.classNames.length;
  const pixels = new Float32Array(files.length * per);
  for (const [f, file] of files.entries()) {
    const x = await loadImage(file, { size: clf.inputSize, fit });
    pixels.set(await x.data(), f * per);
    x.dispose();
  }
  const shards = splitRange(files.length, pool.size);
  const parts = await pool.map<Float32Array>(shards.map(([a, b]) => {
    const x = pixels.slice(a * per, b * per);
    return { kind: 'predict', input: { x, count: b - a }, transfer: [x.buffer], label: `${files[a]}${b - a > 1 ? ` … ${files[b - 1]}` : ''}` };
  }));
  return parts.flatMap((p) => Array.from({ length: p.length / K }, (_, i) => p.slice(i * K, (i + 1) * K)));
}
