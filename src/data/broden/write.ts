/**
 * Writes scenes of the synthetic world as a Broden-layout folder, so that tools written for Broden
 * (NetDissect and its descendants) can read them, and so that a fixed probe set can be saved and shipped.
 *
 * Layout (paths in the CSV files are relative to `images/`, as in Broden):
 * - `images/scenes/<index>.png` — the RGB image.
 * - `images/scenes/<index>_<category>.png` — one label image per category (`object`, `part`, `material`) that
 *   has pixels in the scene; a pixel's label number is `R + 256·G` (B = 0), 0 where no concept of that category
 *   is. Every pixel of the scene world has one concept, so the category images never overlap.
 * - `index.csv` — `image,split,ih,iw,sh,sw,color,object,part,material,scene,texture`; category columns list the
 *   label images (`;`-separated, possibly empty); `scene` holds the whole-image scene label number.
 * - `label.csv` — `number,name,category,frequency,coverage,syns`: the concepts (numbers = concept ids), then one
 *   `scene` label per class (numbers after the last concept).
 * - `category.csv` — `name,first,last,count,frequency`; `c_<category>.csv` — `code,number,name,frequency,coverage`.
 * - `scene.csv` — `image,split,class,class_index,seed`: the class of each image (not part of Broden).
 * - `meta.json` — how the folder was made.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UnitAttackError, usageError } from '../../errors.js';
import { rawToPng } from '../codec.js';
import { CATEGORIES, CONCEPTS } from '../scenes/concepts.js';
import { SCENE_CLASSES } from '../scenes/classes.js';
import { DEFAULT_SCENE_SIZE, MAX_SCENE_SIZE, renderScene } from '../scenes/render.js';
import { sampleScenes } from '../scenes/sample.js';
import { hash32 } from '../scenes/rng.js';
import { formatCsv } from './csv.js';

/** Columns of a Broden `index.csv`, in order. */
export const BRODEN_INDEX_COLUMNS = ['image', 'split', 'ih', 'iw', 'sh', 'sw', 'color', 'object', 'part', 'material', 'scene', 'texture'] as const;

/** Options for {@link writeBrodenDataset}. */
export interface WriteBrodenOptions {
  /** Number of scenes (≥ 1). */
  count: number;
  /** Dataset seed: scene i is `sceneSpec(seed, i)`. */
  seed: number;
  /** Side length. @defaultValue 96 */
  size?: number;
  /** Classes to draw from (balanced). @defaultValue every class */
  classes?: readonly string[];
  /** Share of scenes put in the `val` split (chosen by a hash of the index). @defaultValue 0.2 */
  valFraction?: number;
  /** PNG encodes running at once. @defaultValue 8 */
  concurrency?: number;
  /** Called after each scene is written, with the number written so far and the total. */
  onProgress?(done: number, total: number): void;
}

/** What {@link writeBrodenDataset} wrote. */
export interface WriteBrodenResult {
  readonly dir: string;
  readonly count: number;
  readonly size: number;
  readonly seed: number;
  readonly classes: readonly string[];
}

/** The label number of a class's whole-image `scene` label in a written folder. */
export function sceneLabelNumber(classIndex: number): number {
  return CONCEPTS.length + 1 + classIndex;
}

const SPLIT_SALT = 0x5b117;

/** `'val'` or `'train'` for scene `index` of a dataset. */
export function splitOf(seed: number, index: number, valFraction: number): 'train' | 'val' {
  return hash32(seed | 0, Math.floor(seed / 4294967296) | 0, index | 0, SPLIT_SALT) / 4294967296 < valFraction ? 'val' : 'train';
}

function fail(path: string, message: string, hint?: string): never {
  throw usageError(`Option '${path}' ${message}`, { path, ...(hint === undefined ? {} : { hint }) });
}

function validate(dir: unknown, options: WriteBrodenOptions): Required<Omit<WriteBrodenOptions, 'onProgress'>> {
  if (typeof dir !== 'string' || dir.trim() === '') fail('dir', `must be a folder path, got ${String(dir)}.`);
  if (options === null || typeof options !== 'object') fail('options', 'must be an object with at least `count` and `seed`.');
  const o = { size: DEFAULT_SCENE_SIZE, classes: SCENE_CLASSES, valFraction: 0.2, concurrency: 8, ...options };
  if (!Number.isSafeInteger(o.count) || o.count < 1) fail('count', `must be an integer ≥ 1, got ${String(o.count)}.`);
  if (!Number.isSafeInteger(o.seed)) fail('seed', `must be a safe integer, got ${String(o.seed)}.`);
  if (!Number.isInteger(o.size) || o.size < 1 || o.size > MAX_SCENE_SIZE) fail('size', `must be an integer from 1 to ${MAX_SCENE_SIZE}, got ${String(o.size)}.`);
  if (typeof o.valFraction !== 'number' || !(o.valFraction >= 0 && o.valFraction <= 1)) fail('valFraction', `must be a number from 0 to 1, got ${String(o.valFraction)}.`);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) fail('concurrency', `must be an integer ≥ 1, got ${String(o.concurrency)}.`);
  // sampleScenes validates the classes (unknown, empty, duplicates) with messages naming them
  sampleScenes({ count: 0, seed: o.seed, size: o.size, classes: o.classes });
  return o;
}

/** Checks the target folder and creates its parent; returns the first folder it created, if any. */
async function checkTarget(dir: string): Promise<string | undefined> {
  if (existsSync(dir)) {
    const st = await stat(dir);
    if (!st.isDirectory()) fail('dir', `'${dir}' exists and is not a folder.`, 'Choose a new folder path.');
    if ((await readdir(dir)).length > 0) fail('dir', `'${dir}' exists and is not empty.`, 'Choose a new folder, or delete this one first.');
  }
  const parent = dirname(dir);
  try {
    return await mkdir(parent, { recursive: true });
  } catch (cause) {
    throw usageError(`Option 'dir': cannot create the parent folder '${parent}'.`, { path: 'dir', cause, hint: 'Check that the path is writable.' });
  }
}

async function encodePng(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  return rawToPng(data, width, height, { compressionLevel: 6 });
}

/** Label numbers as an RGB image with R = n mod 256, G = n div 256, B = 0. */
export function encodeLabelRgb(labels: Uint16Array): Uint8Array {
  const out = new Uint8Array(labels.length * 3);
  for (let i = 0; i < labels.length; i++) {
    out[i * 3] = labels[i] & 255;
    out[i * 3 + 1] = labels[i] >> 8;
  }
  return out;
}

interface Stats {
  frequency: number;
  coverage: number;
}

/**
 * Renders `count` scenes and writes them as a Broden-layout folder at `dir` (see the module docs for the files).
 * The folder appears whole or not at all: everything is written into a sibling `<dir>.partial-<random>` folder
 * that is renamed to `dir` at the end and removed on any error.
 *
 * @example
 * await writeBrodenDataset('probe/scenes', { count: 600, seed: 1 });
 */
export async function writeBrodenDataset(dir: string, options: WriteBrodenOptions): Promise<WriteBrodenResult> {
  const o = validate(dir, options);
  const target = resolve(dir);
  const createdParent = await checkTarget(target);
  const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
  try {
    try {
      await mkdir(join(partial, 'images', 'scenes'), { recursive: true });
    } catch (cause) {
      throw usageError(`Option 'dir': cannot write into '${dirname(target)}'.`, { path: 'dir', cause, hint: 'Check that the folder is writable.' });
    }
    const specs = sampleScenes({ count: o.count, seed: o.seed, size: o.size, classes: o.classes });
    const catIndex = new Map<number, string>(CONCEPTS.map((c) => [c.id, c.category]));
    const labelStats = new Map<number, Stats>();
    const sceneStats = new Map<number, Stats>();
    const catFrequency = new Map<string, number>();
    const indexRows: Array<Array<string | number>> = [[...BRODEN_INDEX_COLUMNS]];
    const sceneRows: Array<Array<string | number>> = [['image', 'split', 'class', 'class_index', 'seed']];
    const pad = Math.max(6, String(o.count - 1).length);
    let next = 0;
    let failed = false;
    let written = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const k = next++;
        if (k >= specs.length || failed) return;
        const spec = specs[k];
        const scene = renderScene(spec);
        const name = `scenes/${String(spec.index).padStart(pad, '0')}`;
        const n = scene.size;
        const perCategory = new Map<string, Uint16Array>();
        const counts = new Map<number, number>();
        // Broden's category layers: the object layer holds the whole object under each pixel (a house's roof is
        // house there), the part and material layers the visible part or material.
        const put = (id: number, i: number): void => {
          counts.set(id, (counts.get(id) ?? 0) + 1);
          const cat = catIndex.get(id)!;
          let layer = perCategory.get(cat);
          if (layer === undefined) perCategory.set(cat, (layer = new Uint16Array(scene.labels.length)));
          layer[i] = id;
        };
        for (let i = 0; i < scene.labels.length; i++) {
          const id = scene.labels[i];
          const object = scene.objects[i];
          if (id !== 0) put(id, i);
          if (object !== 0 && object !== id) put(object, i);
        }
        const writes: Array<Promise<void>> = [encodePng(scene.image, n, n).then((png) => writeFile(join(partial, 'images', `${name}.png`), png))];
        const columns: Record<string, string> = {};
        for (const [cat, layer] of perCategory) {
          const file = `${name}_${cat}.png`;
          columns[cat] = file;
          writes.push(encodePng(encodeLabelRgb(layer), n, n).then((png) => writeFile(join(partial, 'images', file), png)));
        }
        await Promise.all(writes);
        for (const [id, c] of counts) {
          const s = labelStats.get(id) ?? { frequency: 0, coverage: 0 };
          s.frequency++;
          s.coverage += c / scene.labels.length;
          labelStats.set(id, s);
        }
        for (const cat of perCategory.keys()) catFrequency.set(cat, (catFrequency.get(cat) ?? 0) + 1);
        const sceneNumber = sceneLabelNumber(scene.classIndex);
        const ss = sceneStats.get(sceneNumber) ?? { frequency: 0, coverage: 0 };
        ss.frequency++;
        ss.coverage += 1;
        sceneStats.set(sceneNumber, ss);
        const split = splitOf(o.seed, spec.index, o.valFraction);
        indexRows[k + 1] = [`${name}.png`, split, n, n, n, n, '', columns.object ?? '', columns.part ?? '', columns.material ?? '', sceneNumber, ''];
        sceneRows[k + 1] = [`${name}.png`, split, scene.cls, scene.classIndex, spec.seed];
        options.onProgress?.(++written, specs.length);
      }
    };
    // Let every worker stop before anything is cleaned up, then report the first failure.
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(o.concurrency, specs.length) }, () =>
        worker().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
    catFrequency.set('scene', specs.length);

    const fmt = (x: number): string => x.toFixed(4);
    const labelRows: Array<Array<string | number>> = [['number', 'name', 'category', 'frequency', 'coverage', 'syns']];
    for (const c of CONCEPTS) {
      const s = labelStats.get(c.id) ?? { frequency: 0, coverage: 0 };
      labelRows.push([c.id, c.name, `${c.category}(${s.frequency})`, s.frequency, fmt(s.coverage), '']);
    }
    SCENE_CLASSES.forEach((cls, i) => {
      const s = sceneStats.get(sceneLabelNumber(i)) ?? { frequency: 0, coverage: 0 };
      labelRows.push([sceneLabelNumber(i), cls, `scene(${s.frequency})`, s.frequency, fmt(s.coverage), '']);
    });
    const categories: Array<{ name: string; numbers: number[] }> = [
      ...CATEGORIES.map((cat) => ({ name: cat, numbers: CONCEPTS.filter((c) => c.category === cat).map((c) => c.id) })),
      { name: 'scene', numbers: SCENE_CLASSES.map((_, i) => sceneLabelNumber(i)) },
    ];
    const categoryRows: Array<Array<string | number>> = [['name', 'first', 'last', 'count', 'frequency']];
    const files: Array<[string, string]> = [];
    for (const cat of categories) {
      categoryRows.push([cat.name, Math.min(...cat.numbers), Math.max(...cat.numbers), cat.numbers.length, catFrequency.get(cat.name) ?? 0]);
      const rows: Array<Array<string | number>> = [['code', 'number', 'name', 'frequency', 'coverage']];
      cat.numbers.forEach((num, k) => {
        const s = (cat.name === 'scene' ? sceneStats : labelStats).get(num) ?? { frequency: 0, coverage: 0 };
        const name = cat.name === 'scene' ? SCENE_CLASSES[num - CONCEPTS.length - 1] : CONCEPTS[num - 1].name;
        rows.push([k + 1, num, name, s.frequency, fmt(s.coverage)]);
      });
      files.push([`c_${cat.name}.csv`, formatCsv(rows)]);
    }
    files.push(['index.csv', formatCsv(indexRows)], ['label.csv', formatCsv(labelRows)], ['category.csv', formatCsv(categoryRows)], ['scene.csv', formatCsv(sceneRows)]);
    files.push([
      'meta.json',
      JSON.stringify({ generator: 'unit-attack synthetic scene world', format: 'broden', count: o.count, seed: o.seed, size: o.size, classes: o.classes, valFraction: o.valFraction, labelEncoding: 'R + 256*G' }, null, 2) + '\n',
    ]);
    for (const [file, text] of files) await writeFile(join(partial, file), text);
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    if (createdParent !== undefined) await rm(createdParent, { recursive: true, force: true });
    if (err instanceof UnitAttackError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw usageError(`Option 'dir': cannot write the dataset to '${target}' (${code}).`, { path: 'dir', cause: err, hint: 'Choose a writable, new folder.' });
    }
    throw err;
  }
  return { dir: target, count: o.count, size: o.size, seed: o.seed, classes: o.classes };
}
