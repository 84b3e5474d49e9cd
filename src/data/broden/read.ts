/**
 * Reads Broden-layout folders: the real Broden (NetDissect) data set and the folders written by
 * {@link writeBrodenDataset}. Category columns of `index.csv` may list several label images separated by `;`,
 * or a plain number meaning the whole image has that label (Broden's `scene` and `texture` columns).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inputError } from '../../errors.js';
import { decodeRaw } from '../codec.js';
import { parseCsvRecords } from './csv.js';

/** A label of a Broden folder (a row of `label.csv`). */
export interface BrodenConcept {
  /** The label number (pixel code). */
  readonly id: number;
  readonly name: string;
  /** The category in which the label is most frequent. */
  readonly category: string;
  /** Images per category, from the `category` column (e.g. `{ object: 120, part: 3 }`). */
  readonly categories: Readonly<Record<string, number>>;
  readonly frequency: number;
  readonly coverage: number;
  readonly syns: readonly string[];
}

/** A row of `category.csv`. */
export interface BrodenCategory {
  readonly name: string;
  readonly first: number;
  readonly last: number;
  readonly count: number;
  readonly frequency: number;
}

/** One image of a Broden folder. */
export interface BrodenItem {
  /** Path as written in `index.csv` (relative to `images/`). */
  readonly image: string;
  /** Absolute path of the image file. */
  readonly imagePath: string;
  readonly split: string;
  readonly imageHeight: number;
  readonly imageWidth: number;
  /** Size of the label images (Broden's `sh`, `sw`; half the image size in the real Broden). */
  readonly labelHeight: number;
  readonly labelWidth: number;
  /** Pixel-level label images, absolute paths, in column order. */
  readonly labelPaths: ReadonlyArray<{ readonly category: string; readonly path: string }>;
  /** Whole-image labels (scalar entries such as Broden's scene numbers). */
  readonly imageLabels: ReadonlyArray<{ readonly category: string; readonly label: number }>;
  /** Scene class from `scene.csv`, when the folder has one. */
  readonly class?: string;
}

/** A Broden folder's contents. */
export interface BrodenDataset {
  readonly dir: string;
  /** Labels from `label.csv`, in file order. */
  readonly concepts: readonly BrodenConcept[];
  /** Categories from `category.csv`, or the category columns of `index.csv` when there is none. */
  readonly categories: readonly BrodenCategory[];
  readonly items: readonly BrodenItem[];
}

/** A decoded item. */
export interface LoadedBrodenItem {
  /** Row-major height × width × 3 RGB bytes. */
  readonly image: Uint8Array;
  readonly width: number;
  readonly height: number;
  /**
   * One label map (labelHeight × labelWidth) merging the pixel-level layers: layers are laid in the order
   * object, part, material, color (then any other category), each non-zero pixel overwriting, so a part or material
   * shows over the object it belongs to. For folders of the scene world, whose object layer holds the whole object
   * under each part or material, this is exactly the rendered (visible) label map.
   */
  readonly labels: Uint16Array;
  readonly labelWidth: number;
  readonly labelHeight: number;
  /** Every pixel-level label image, decoded, in column order. */
  readonly layers: ReadonlyArray<{ readonly category: string; readonly labels: Uint16Array }>;
  readonly imageLabels: ReadonlyArray<{ readonly category: string; readonly label: number }>;
}

const META_COLUMNS = new Set(['image', 'split', 'ih', 'iw', 'sh', 'sw']);
const MERGE_ORDER = ['object', 'part', 'material', 'color'];

async function readText(file: string, what: string): Promise<string> {
  if (!existsSync(file)) throw inputError(`The Broden folder has no ${what}: '${file}' is missing.`, { file, hint: 'A Broden folder holds index.csv, label.csv and images/.' });
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw inputError(`Cannot read '${file}'.`, { file, cause });
  }
}

function int(value: string | undefined, file: string, where: string): number {
  const v = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(v) || v < 0) {
    throw inputError(`${where} of '${file}' must be a non-negative integer, got '${value ?? ''}'.`, { file });
  }
  return v;
}

/**
 * Reads the index of a Broden-layout folder: labels, categories and the list of images with their label files.
 * Nothing is decoded yet; use {@link loadBrodenItem} per item.
 *
 * @example
 * const ds = await readBrodenDataset('broden1_224');
 * const first = await loadBrodenItem(ds.items[0]);
 */
export async function readBrodenDataset(dir: string): Promise<BrodenDataset> {
  const root = resolve(dir);
  if (!existsSync(root)) throw inputError(`Broden folder '${root}' does not exist.`, { file: root });
  const indexFile = join(root, 'index.csv');
  const labelFile = join(root, 'label.csv');
  const index = parseCsvRecords(await readText(indexFile, 'index'));
  for (const col of ['image', 'split']) {
    if (!index.header.includes(col)) throw inputError(`'${indexFile}' has no '${col}' column.`, { file: indexFile, hint: `Broden index columns: image,split,ih,iw,sh,sw,<categories…>` });
  }
  const labels = parseCsvRecords(await readText(labelFile, 'label list'));
  const concepts: BrodenConcept[] = labels.records.map((r, k) => {
    const where = `Row ${k + 2}`;
    const categories: Record<string, number> = {};
    for (const part of (r.category ?? '').split(';')) {
      const m = /^\s*([^(]+?)\s*(?:\((\d+)\))?\s*$/.exec(part);
      if (m) categories[m[1]] = m[2] === undefined ? 0 : Number(m[2]);
    }
    let category = '';
    let best = -1;
    for (const [c, n] of Object.entries(categories)) {
      if (n > best) {
        best = n;
        category = c;
      }
    }
    return {
      id: int(r.number, labelFile, `${where}, column 'number',`),
      name: r.name ?? '',
      category,
      categories,
      frequency: Number(r.frequency ?? 0) || 0,
      coverage: Number(r.coverage ?? 0) || 0,
      syns: (r.syns ?? '').split(';').filter((s) => s !== ''),
    };
  });
  const categoryColumns = index.header.filter((h) => !META_COLUMNS.has(h));
  let categories: BrodenCategory[];
  const categoryFile = join(root, 'category.csv');
  if (existsSync(categoryFile)) {
    categories = parseCsvRecords(await readText(categoryFile, 'category list')).records.map((r) => ({
      name: r.name ?? '',
      first: Number(r.first ?? 0) || 0,
      last: Number(r.last ?? 0) || 0,
      count: Number(r.count ?? 0) || 0,
      frequency: Number(r.frequency ?? 0) || 0,
    }));
  } else {
    categories = categoryColumns.map((name) => {
      const ids = concepts.filter((c) => name in c.categories).map((c) => c.id);
      return { name, first: ids.length ? Math.min(...ids) : 0, last: ids.length ? Math.max(...ids) : 0, count: ids.length, frequency: 0 };
    });
  }
  const classes = new Map<string, string>();
  const sceneFile = join(root, 'scene.csv');
  if (existsSync(sceneFile)) {
    for (const r of parseCsvRecords(await readText(sceneFile, 'scene list')).records) if (r.image && r.class) classes.set(r.image, r.class);
  }
  const imagesDir = join(root, 'images');
  const items: BrodenItem[] = index.records.map((r, k) => {
    const where = `Row ${k + 2}`;
    const image = r.image ?? '';
    if (image === '') throw inputError(`${where} of '${indexFile}' has no image.`, { file: indexFile });
    const ih = r.ih === undefined || r.ih === '' ? 0 : int(r.ih, indexFile, `${where}, column 'ih',`);
    const iw = r.iw === undefined || r.iw === '' ? 0 : int(r.iw, indexFile, `${where}, column 'iw',`);
    const sh = r.sh === undefined || r.sh === '' ? ih : int(r.sh, indexFile, `${where}, column 'sh',`);
    const sw = r.sw === undefined || r.sw === '' ? iw : int(r.sw, indexFile, `${where}, column 'sw',`);
    const labelPaths: Array<{ category: string; path: string }> = [];
    const imageLabels: Array<{ category: string; label: number }> = [];
    for (const cat of categoryColumns) {
      for (const entry of (r[cat] ?? '').split(';')) {
        const e = entry.trim();
        if (e === '') continue;
        if (/^\d+$/.test(e)) imageLabels.push({ category: cat, label: Number(e) });
        else labelPaths.push({ category: cat, path: join(imagesDir, e) });
      }
    }
    const cls = classes.get(image);
    return {
      image,
      imagePath: join(imagesDir, image),
      split: r.split ?? '',
      imageHeight: ih,
      imageWidth: iw,
      labelHeight: sh,
      labelWidth: sw,
      labelPaths,
      imageLabels,
      ...(cls === undefined ? {} : { class: cls }),
    };
  });
  return { dir: root, concepts, categories, items };
}

async function decode(file: string, what: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  if (!existsSync(file)) throw inputError(`The ${what} '${file}' is missing.`, { file });
  try {
    return await decodeRaw(file);
  } catch (cause) {
    throw inputError(`Cannot decode the ${what} '${file}'.`, { file, cause });
  }
}

/**
 * Decodes one item: the RGB image and its label images (label number = R + 256·G of each pixel).
 * Missing files and sizes that disagree with `index.csv` throw input errors naming the file.
 */
export async function loadBrodenItem(item: BrodenItem): Promise<LoadedBrodenItem> {
  const img = await decode(item.imagePath, 'image');
  if ((item.imageWidth > 0 && img.width !== item.imageWidth) || (item.imageHeight > 0 && img.height !== item.imageHeight)) {
    throw inputError(`The image '${item.imagePath}' is ${img.width}×${img.height}, but index.csv says ${item.imageWidth}×${item.imageHeight}.`, { file: item.imagePath });
  }
  const n = img.width * img.height;
  const image = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const s = i * img.channels;
    if (img.channels >= 3) {
      image[i * 3] = img.data[s]!;
      image[i * 3 + 1] = img.data[s + 1]!;
      image[i * 3 + 2] = img.data[s + 2]!;
    } else {
      image[i * 3] = image[i * 3 + 1] = image[i * 3 + 2] = img.data[s]!;
    }
  }
  const lw = item.labelWidth > 0 ? item.labelWidth : img.width;
  const lh = item.labelHeight > 0 ? item.labelHeight : img.height;
  const layers: Array<{ category: string; labels: Uint16Array }> = [];
  for (const { category, path } of item.labelPaths) {
    const l = await decode(path, 'label image');
    if (l.width !== lw || l.height !== lh) {
      throw inputError(`The label image '${path}' is ${l.width}×${l.height}, but its labels should be ${lw}×${lh} (index.csv sw×sh).`, { file: path });
    }
    const out = new Uint16Array(lw * lh);
    for (let i = 0; i < out.length; i++) {
      const s = i * l.channels;
      out[i] = l.channels >= 3 ? l.data[s] + 256 * l.data[s + 1] : l.data[s];
    }
    layers.push({ category, labels: out });
  }
  const labels = new Uint16Array(lw * lh);
  const rank = (c: string): number => {
    const i = MERGE_ORDER.indexOf(c);
    return i < 0 ? MERGE_ORDER.length : i;
  };
  for (const layer of [...layers].sort((a, b) => rank(a.category) - rank(b.category))) {
    const src = layer.labels;
    for (let i = 0; i < src.length; i++) if (src[i] !== 0) labels[i] = src[i]!;
  }
  return { image, width: img.width, height: img.height, labels, labelWidth: lw, labelHeight: lh, layers, imageLabels: item.imageLabels };
}
