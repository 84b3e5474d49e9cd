import * as tf from '@tensorflow/tfjs';
import { loadImage } from '../../data/images.js';
import type { FitPolicy } from '../../data/images.js';
import { initBackend } from '../../engine/backend.js';
import { usageError } from '../../errors.js';
import { loadClassifier } from '../../models/io.js';
import type { CommandSpec } from '../command.js';
import { table } from '../format.js';

export const predictCommand: CommandSpec = {
  name: 'predict',
  describe: 'Classify images: the top classes with their probabilities',
  options: {
    model: { type: 'string', default: 'builtin:scenes-vgg16', describe: 'builtin:NAME, a model folder or a model.json' },
    image: { type: 'string', array: true, demandOption: true, describe: 'image file(s): PNG, JPEG or WebP' },
    top: { type: 'number', default: 5, describe: 'how many classes to show' },
    fit: { type: 'string', choices: ['crop', 'stretch'], default: 'crop', describe: 'fit other sizes by centre crop or stretch' },
    json: { type: 'boolean', default: false, describe: 'print JSON' },
  },
  examples: [['unit-attack predict --image examples/ski_resort.png', 'classify a scene with the built-in model']],
  check(argv) {
    const top = argv.top as number;
    if (!Number.isInteger(top) || top < 1) throw usageError(`--top must be a positive integer, got ${String(argv.top)}`, { path: '--top' });
  },
  async run(argv, io) {
    await initBackend({ backend: argv.backend });
    const clf = await loadClassifier(argv.model as string);
    const results: Array<{ image: string; top: Array<{ class: string; probability: number }> }> = [];
    for (const file of argv.image as string[]) {
      const x = await loadImage(file, { size: clf.inputSize, fit: argv.fit as FitPolicy });
      const probs = tf.tidy(() => tf.softmax(clf.logits(x)).dataSync());
      x.dispose();
      const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
      const k = Math.min(argv.top as number, order.length);
      results.push({ image: file, top: order.slice(0, k).map((i) => ({ class: clf.classNames[i], probability: probs[i] })) });
    }
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
