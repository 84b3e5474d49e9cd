/**
 * A hand-built tiny generator and segmenter for the ablation and insertion tests. `layer1` is a 2×2 map of three
 * units computed from the latent without weights: unit 0 = relu(z[cell]), unit 1 = relu(−z[cell]) (it fires, but
 * draws nothing), unit 2 = relu(z[4 + cell]) (a second tree unit, when `second` is set; else 0). The 8×8 image is
 * sky blue, with each 4×4 block painted tree green where unit 0 + unit 2 > 0.5 at its cell. The segmenter labels a
 * pixel tree when its green channel exceeds 0.6, else sky.
 */
import * as tf from '../../src/tf.js';
import type { CellRegion, GenerateOptions, GenerateResult, Generator, GeneratorEdit } from '../../src/gan/types.js';
import type { Segmenter } from '../../src/segment/segmenter.js';

export const SKY = [0.2, 0.4, 0.9] as const;
export const TREE = [0.1, 0.8, 0.1] as const;
export const SIDE = 8;
export const CELL = 4;

/** Latent i of stream `seed`: 8 standard normals, a pure function of (seed, i). */
function latent(seed: number, i: number): tf.Tensor2D {
  return tf.randomNormal([1, 8], 0, 1, 'float32', seed * 100_003 + i);
}

function regionMask(h: number, w: number, units: number, edit: GeneratorEdit): tf.Tensor4D {
  const r: CellRegion = edit.region ?? { rows: [0, h], cols: [0, w] };
  const m = new Float32Array(h * w * units);
  for (let y = r.rows[0]; y < r.rows[1]; y++) for (let x = r.cols[0]; x < r.cols[1]; x++) for (const u of edit.units) m[(y * w + x) * units + u] = 1;
  return tf.tensor4d(m, [1, h, w, units]);
}

function applyEdit(x: tf.Tensor4D, edit: GeneratorEdit): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, units] = x.shape;
    const m = regionMask(h, w, units, edit);
    const keep = tf.sub(1, m);
    switch (edit.op) {
      case 'zero': return tf.mul(x, keep);
      case 'scale': return tf.add(tf.mul(x, keep), tf.mul(tf.mul(x, m), edit.factor));
      case 'set': {
        const v = new Float32Array(units);
        edit.units.forEach((u, i) => { v[u] = typeof edit.value === 'number' ? edit.value : edit.value[i]; });
        return tf.add(tf.mul(x, keep), tf.mul(m, tf.tensor1d(v)));
      }
      case 'keep': {
        const all: GeneratorEdit = { op: 'zero', units: Array.from({ length: units }, (_, u) => u), ...(edit.region ? { region: edit.region } : {}) };
        const region = regionMask(h, w, units, all);
        return tf.sub(x, tf.mul(tf.mul(x, region), keep));
      }
    }
  });
}

/** The tiny generator (see the file comment). */
export function tinyGenerator(options: { second?: boolean } = {}): Generator {
  const second = options.second ?? false;
  const layers = [{ name: 'layer1', shape: [2, 2, 3], className: 'Tiny', spatial: true }];
  return {
    name: `tiny${second ? '-2' : ''}`, latentSize: 8, outputSize: SIDE, outputRange: [0, 1], layers, defaultLayer: 'layer1',
    fingerprint: `tiny-${second ? 2 : 1}`,
    latents(seed, from, count) {
      return tf.tidy(() => tf.concat(Array.from({ length: count }, (_, i) => latent(seed, from + i)), 0));
    },
    generate(z: tf.Tensor2D, o: GenerateOptions = {}): GenerateResult {
      const n = z.shape[0];
      let l1 = tf.tidy(() => {
        const a = tf.reshape(tf.slice(z, [0, 0], [n, 4]), [n, 2, 2, 1]);
        const b = tf.reshape(tf.slice(z, [0, 4], [n, 4]), [n, 2, 2, 1]);
        return tf.concat([tf.relu(a), tf.relu(tf.neg(a)), second ? tf.relu(b) : tf.zerosLike(b)], 3) as tf.Tensor4D;
      });
      const e = o.edits?.layer1;
      for (const edit of e === undefined ? [] : Array.isArray(e) ? e as GeneratorEdit[] : [e as GeneratorEdit]) {
        const next = applyEdit(l1, edit);
        l1.dispose();
        l1 = next;
      }
      const images = tf.tidy(() => {
        const paint = tf.cast(tf.greater(tf.add(tf.slice(l1, [0, 0, 0, 0], [n, 2, 2, 1]), tf.slice(l1, [0, 0, 0, 2], [n, 2, 2, 1])), 0.5), 'float32');
        const up = tf.image.resizeNearestNeighbor(paint as tf.Tensor4D, [SIDE, SIDE]);
        const sky = tf.tensor1d([...SKY]); const tree = tf.tensor1d([...TREE]);
        return tf.add<tf.Tensor4D>(sky, tf.mul(up, tf.sub(tree, sky)));
      });
      const taps: Record<string, tf.Tensor> = {};
      for (const t of o.taps ?? []) {
        if (t !== 'layer1') throw new Error(`no layer ${t}`);
        taps[t] = l1.clone();
      }
      l1.dispose();
      return { images, taps };
    },
    layer(name) {
      const l = layers.find((x) => x.name === name);
      if (!l) throw Object.assign(new Error(`no layer '${name}'`), { code: 'UA_LAYER' });
      return l;
    },
    dispose() { /* no weights */ },
  };
}

/** A segmenter that labels tree (green > 0.6) or sky; `door` is a concept it knows but never sees. */
export function tinySegmenter(): Segmenter {
  const categories = [{ name: 'object', concepts: ['sky', 'tree', 'door'] }];
  return {
    name: 'tiny-segmenter', fingerprint: 'tiny-seg', categories,
    concepts: [{ id: 1, name: 'sky', category: 'object' }, { id: 2, name: 'tree', category: 'object' }, { id: 3, name: 'door', category: 'object' }],
    multiple: 1,
    logits() { throw new Error('not used'); },
    runSize: (h, w) => [h, w],
    segment(images, count, height, width) {
      const n = height * width;
      const out = new Uint16Array(count * n);
      for (let i = 0; i < count * n; i++) out[i] = images[i * 3 + 1] > 0.6 ? 2 : 1;
      return out;
    },
    dispose() { /* nothing */ },
  };
}

/** The latents of the tiny generator as numbers, for brute-force recounts. */
export function latentValues(g: Generator, seed: number, from: number, count: number): Float32Array {
  const z = g.latents(seed, from, count);
  const v = z.dataSync() as Float32Array;
  z.dispose();
  return v;
}
