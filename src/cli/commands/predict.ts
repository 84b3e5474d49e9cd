import * as tf from '../../tf.js';
import { listImages, loadImage } from '../../data/images.js';
import type { FitPolicy } from '../../data/images.js';
import { initBackend } from '../../engine/backend.js';
import { UnitAttackError, inputError, usageError } from '../../errors.js';
import { loadClassifier } from '../../models/io.js';
import type { CommandSpec } from '../command.js';
import { table } from '../format.js';
import { checkWorkersArg, withWorkers, workersOption } from '../workers.js';
import { poolFor, splitRange } from '../../parallel/executor.js';
import type { Classifier } from '../../models/types.js';

export const predictCommand: CommandSpec = {
  name: 'predict',
  describe: 'Classify images: the top classes with their probabilities',
  options: {
    model: { type: 'string', default: 'builtin:scenes-vgg16', describe: 'builtin:NAME, a model folder or a model.json' },
    image: { type: 'string', array: true, describe: 'image file(s): PNG, JPEG or WebP' },
    images: { type: 'string', describe: 'a folder of images (a folder written by `unit-attack synth`: its scenes)' },
    strict: { type: 'boolean', default: false, describe: 'exit 2 when any image cannot be read (default: skip it with a warning)' },
    'top-n': { type: 'number', default: 5, describe: 'how many classes to show (--top, the former spelling, is deprecated but still accepted)' },
    top: { type: 'number', hidden: true, describe: 'deprecated: use --top-n' },
    fit: { type: 'string', choices: ['crop', 'stretch'], default: 'crop', describe: 'fit other sizes by centre crop or stretch' },
    json: { type: 'boolean', default: false, describe: 'print JSON' },
    workers: workersOption,
  },
  examples: [
    ['unit-attack predict --image examples/ski_resort.png', 'classify a scene with the built-in model'],
    ['unit-attack predict --images photos/ --json', 'classify a folder, as JSON'],
  ],
  check(argv) {
    const named = ((argv.image as string[] | undefined) ?? []).length > 0;
    if (named === (argv.images !== undefined)) {
      throw usageError(named ? 'name the images one way only' : 'name the images to classify', { path: '--image', hint: 'give --image FILE… or --images DIR' });
    }
    checkWorkersArg(argv);
    const { top, flag } = topOf(argv);
    if (!Number.isInteger(top) || top < 1) throw usageError(`${flag} must be a positive integer, got ${String(top)}`, { path: flag });
  },
  async run(argv, io) {
    if (argv.top !== undefined) io.err('warning: --top is deprecated; use --top-n');
    await initBackend({ backend: argv.backend });
    const clf = await loadClassifier(argv.model as string);
    const named = argv.images !== undefined ? await listImages(argv.images as string) : argv.image as string[];
    if (named.length === 0) throw inputError(`the folder '${String(argv.images)}' has no PNG, JPEG or WebP images`, { file: argv.images as string, path: '--images' });
    // Unreadable files are skipped and named (or stop the run with --strict); exit 2 only when none is readable.
    const skipped: Array<{ file: string; reason: string }> = [];
    const images: tf.Tensor4D[] = [];
    const files: string[] = [];
    for (const file of named) {
      try {
        images.push(await loadImage(file, { size: clf.inputSize, fit: argv.fit as FitPolicy }));
        files.push(file);
      } catch (err) {
        if (argv.strict || !(err instanceof UnitAttackError)) { tf.dispose(images); throw err; }
        skipped.push({ file, reason: err.message });
        io.err(`warning: skipped '${file}': ${err.message}`);
      }
    }
    if (files.length === 0) {
      clf.dispose();
      throw inputError(`none of the ${named.length} image(s) could be read`, { path: '--image', hint: 'see the warnings above for why each was skipped' });
    }
    const probs = await withWorkers(argv, io, clf, files.length, () => predictAll(clf, images));
    tf.dispose(images);
    const results: Array<{ image: string; top: Array<{ class: string; probability: number }> }> = files.map((file, f) => {
      const p = probs[f];
      const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a]);
      const k = Math.min(topOf(argv).top, order.length);
      return { image: file, top: order.slice(0, k).map((i) => ({ class: clf.classNames[i], probability: p[i] })) };
    });
    if (argv.json) {
      io.out(JSON.stringify({ model: clf.name, results, skipped }, null, 2));
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

/** Class probabilities of each loaded image: on the pool's workers in batches when there is a pool, else here. */
async function predictAll(clf: Classifier, images: readonly tf.Tensor4D[]): Promise<Float32Array[]> {
  const pool = poolFor(clf);
  if (!pool) {
    const out: Float32Array[] = [];
    for (const x of images) {
      const p = tf.tidy(() => tf.softmax(clf.logits(x)));
      out.push(Float32Array.from(await p.data() as Float32Array));
      p.dispose();
    }
    return out;
  }
  const [h, w] = clf.inputSize;
  const per = h * w * 3;
  const K = clf.classNames.length;
  const pixels = new Float32Array(images.length * per);
  for (const [f, x] of images.entries()) pixels.set(await x.data(), f * per);
  const shards = splitRange(images.length, pool.size);
  const parts = await pool.map<Float32Array>(shards.map(([a, b]) => {
    const x = pixels.slice(a * per, b * per);
    return { kind: 'predict', input: { x, count: b - a }, transfer: [x.buffer], label: `images ${a + 1}–${b}` };
  }));
  return parts.flatMap((p) => Array.from({ length: p.length / K }, (_, i) => p.slice(i * K, (i + 1) * K)));
}

/** How many classes to show: `--top-n`, or the deprecated `--top` when given. */
function topOf(argv: Record<string, unknown>): { top: number; flag: '--top-n' | '--top' } {
  return argv.top !== undefined ? { top: argv.top as number, flag: '--top' } : { top: argv['top-n'] as number, flag: '--top-n' };
}
