/**
 * Probe sets: labelled images that dissection runs through a model. A probe set is opened from a spec string —
 * `builtin:scenes?count=2000&seed=7` (the synthetic scene world), a Broden-layout folder, or a plain folder of
 * images with label maps (`foo.png` + `foo_label.png`) — and read as batches of pixel-space images with label maps
 * downsampled to the label resolution.
 *
 * Kinds of probe set are registered by config object ({@link registerProbeKind}), so a user can add one.
 */
import { promises as fs, existsSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { decodeRaw, imageSize, rawToPng, type RawPixels } from '../data/codec.js';
import { IMAGE_EXTENSIONS, readImageRgb } from '../data/images.js';
import { loadBrodenItem, readBrodenDataset, type LoadedBrodenItem } from '../data/broden/index.js';
import { CONCEPTS, RENDERABLE_SCENE_CLASSES, SCENE_CLASSES, SCENE_WORLD_VERSION } from '../data/scenes/index.js';
import { UnitAttackError, inputError, nearestNames, usageError } from '../errors.js';
import { scenePool } from './_internals/scene-pool.js';

/** A concept that label maps refer to by `id` (0 means no concept). */
export interface ProbeConcept {
  readonly id: number;
  readonly name: string;
  /** Broden-style category: `object`, `part`, `material`, `color`, … */
  readonly category: string;
}

/** One probe image with its label maps at image resolution. */
export interface ProbeItem {
  readonly index: number;
  /** A name for display: a relative file path, or `<class>-<index>` for generated scenes. */
  readonly id: string;
  /** Row-major H×W×3 RGB bytes at the probe's image size. */
  readonly image: Uint8Array;
  /** `planes` label maps of concept ids, plane after plane, at `labelSize` (default: the image size). */
  readonly labels: Uint16Array;
  /** `[height, width]` of the label maps when they differ from the image's (Broden stores them at half size). */
  readonly labelSize?: readonly [number, number];
  /** The image's class when the probe set has classes. */
  readonly className?: string;
}

/** An opened probe set: random access to its items. */
export interface ProbeSet {
  /** Kind name, e.g. `scenes`, `broden`, `folder`. */
  readonly kind: string;
  /** Canonical spec: opening it again gives the same items. Recorded in the atlas. */
  readonly spec: string;
  /** Changes when the content changes (file names, sizes, times); part of cache keys. */
  readonly signature: string;
  /** Number of items, including any that turn out corrupt. */
  readonly count: number;
  /** `[height, width]` of every image. */
  readonly imageSize: readonly [number, number];
  /** Label maps per image (1 for the scene world; one per category and file in Broden). */
  readonly labelPlanes: number;
  readonly concepts: readonly ProbeConcept[];
  /** Class names when images have classes (`className` of items is one of them). */
  readonly classNames: readonly string[] | undefined;
  /** Loads item `index`; resolves to `null` when the image is corrupt (then `reason` says why through `onSkip`). */
  load(index: number, onSkip?: (id: string, reason: string) => void): Promise<ProbeItem | null>;
  /**
   * When label maps come from a model rather than from files (a segmenter): the labels of a whole batch of
   * pixel-space images `[count, H, W, 3]` at `labelSize`, as `[count, labelPlanes, labelSize]` — each cell the label
   * of the pixel at its centre, as {@link downsampleLabels} keeps. {@link probeBatches} then reads items with
   * `loadUnlabelled` and labels each batch at once.
   */
  labelBatch?(images: Float32Array, count: number, labelSize: readonly [number, number]): Uint16Array;
  /** Loads an item without computing its label maps (with `labelBatch`). */
  loadUnlabelled?(index: number, onSkip?: (id: string, reason: string) => void): Promise<ProbeItem | null>;
  /** The segmenter that labels the images, when one does. */
  readonly segmenter?: { readonly name: string; readonly fingerprint: string };
  /** Things the user should know about how the set is read (images resized, …), said once by the caller. */
  readonly warnings?: readonly string[];
}

/** What {@link openProbe} needs to know of the model. */
export interface OpenProbeOptions {
  /** `[height, width]` of the model input: probe images must have (or are rendered at) this size. */
  inputSize: readonly [number, number];
}

/** A kind of probe set, registered by {@link registerProbeKind}. */
export interface ProbeKind {
  name: string;
  /** One line for help texts, e.g. `builtin:scenes?count=N&seed=S`. */
  usage: string;
  /** Whether this kind reads `spec` (checked in registration order). */
  accepts(spec: string): boolean;
  open(spec: string, options: OpenProbeOptions): Promise<ProbeSet>;
}

const KINDS: ProbeKind[] = [];

/** Adds a kind of probe set; later registrations are tried first. */
export function registerProbeKind(kind: ProbeKind): void {
  const i = KINDS.findIndex((k) => k.name === kind.name);
  if (i >= 0) KINDS.splice(i, 1);
  KINDS.unshift(kind);
}

/** The registered kinds' usage lines. */
export function probeKinds(): string[] {
  return KINDS.map((k) => `${k.name}: ${k.usage}`);
}

/**
 * Opens a probe set from a spec.
 *
 * @example
 * const probe = await openProbe('builtin:scenes?count=200&seed=7', { inputSize: [96, 96] });
 * for await (const batch of probeBatches(probe, { batchSize: 32 })) { ... }
 */
export async function openProbe(spec: string, options: OpenProbeOptions): Promise<ProbeSet> {
  if (typeof spec !== 'string' || spec.length === 0) throw usageError('a probe spec is needed', { path: 'probe', hint: probeKinds().join('\n') });
  const [h, w] = options.inputSize;
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) {
    throw usageError(`inputSize must be two positive integers, got ${JSON.stringify(options.inputSize)}`, { path: 'inputSize' });
  }
  const kind = KINDS.find((k) => k.accepts(spec));
  if (!kind) {
    throw usageError(`'${spec}' is not a probe set unit-attack reads`, {
      path: 'probe', hint: `accepted probe sets:\n${probeKinds().map((l) => '  - ' + l).join('\n')}`,
    });
  }
  return kind.open(spec, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Batches

/** A batch of probe images at the model input size with label maps at the label resolution. */
export interface ProbeBatch {
  /** Pixel-space images, float32 NHWC in [0, 1]: `[count, H, W, 3]`. */
  images: Float32Array;
  /** Label maps `[count, planes, labelH, labelW]`, nearest-neighbour downsampled. */
  labels: Uint16Array;
  /** Index into the probe set's `classNames`, or −1 for an image without a class. Absent when the set has no classes. */
  classIndex?: Int32Array;
  /** Display ids of the images. */
  ids: string[];
  /** Indices of the images in the probe set. */
  indices: number[];
  count: number;
}

/** Options for {@link probeBatches}. */
export interface ProbeBatchOptions {
  /** @defaultValue 32 */
  batchSize?: number;
  /** `[height, width]` of the label maps. @defaultValue a quarter of the image size (24×24 for 96×96 images) */
  labelSize?: readonly [number, number];
  /** Only these item indices, in this order. @defaultValue all */
  indices?: readonly number[];
  /** Called for each corrupt image that is skipped. */
  onSkip?: (id: string, reason: string) => void;
}

/** The default label resolution: a quarter of the image size, at least 1 (the PNAS code: 56×56 for 224×224). */
export function defaultLabelSize(imageSize: readonly [number, number]): [number, number] {
  return [Math.max(1, Math.round(imageSize[0] / 4)), Math.max(1, Math.round(imageSize[1] / 4))];
}

/**
 * Reads a probe set as batches. Corrupt images are skipped (reported through `onSkip`), so a batch may hold fewer
 * than `batchSize` images. The next batch is loaded while the caller works on the current one.
 */
export async function* probeBatches(probe: ProbeSet, options: ProbeBatchOptions = {}): AsyncGenerator<ProbeBatch> {
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw usageError(`batchSize must be a positive integer, got ${String(batchSize)}`, { path: 'batchSize' });
  const labelSize = options.labelSize ?? defaultLabelSize(probe.imageSize);
  const [lh, lw] = labelSize;
  if (!(Number.isInteger(lh) && Number.isInteger(lw) && lh > 0 && lw > 0)) {
    throw usageError(`labelSize must be two positive integers, got ${JSON.stringify(labelSize)}`, { path: 'labelSize' });
  }
  const indices = options.indices ?? Array.from({ length: probe.count }, (_, i) => i);
  const classIndexOf = new Map((probe.classNames ?? []).map((c, i) => [c, i]));
  const [H, W] = probe.imageSize;
  const planes = probe.labelPlanes;
  const labelBatch = probe.labelBatch?.bind(probe);
  const read = labelBatch && probe.loadUnlabelled ? probe.loadUnlabelled.bind(probe) : probe.load.bind(probe);
  const load = async (from: number): Promise<ProbeBatch> => {
    const slice = indices.slice(from, from + batchSize);
    const items = (await Promise.all(slice.map((i) => read(i, options.onSkip)))).filter((x): x is ProbeItem => x !== null);
    const n = items.length;
    const images = new Float32Array(n * H * W * 3);
    const labels = new Uint16Array(n * planes * lh * lw);
    const classIndex = probe.classNames ? new Int32Array(n).fill(-1) : undefined;
    items.forEach((it, b) => {
      const off = b * H * W * 3;
      const img = it.image;
      for (let k = 0; k < img.length; k++) images[off + k] = img[k] / 255;
      if (classIndex && it.className !== undefined) classIndex[b] = classIndexOf.get(it.className) ?? -1;
      if (labelBatch) return;
      const [sh, sw] = it.labelSize ?? [H, W];
      if (it.labels.length !== planes * sh * sw) {
        throw new UnitAttackError('UA_INTERNAL', `probe item '${it.id}' has ${it.labels.length} label values, expected ${planes}×${sh}×${sw}`);
      }
      downsampleLabels(it.labels, planes, sh, sw, lh, lw, labels, b * planes * lh * lw);
    });
    if (labelBatch && n > 0) {
      const grid = labelBatch(images, n, [lh, lw]);
      if (grid.length !== n * planes * lh * lw) {
        throw new UnitAttackError('UA_INTERNAL', `the label source of '${probe.spec}' gave ${grid.length} values for ${n}×${planes}×${lh}×${lw}`);
      }
      labels.set(grid);
    }
    return {
      images, labels, ids: items.map((it) => it.id), indices: items.map((it) => it.index), count: n,
      ...(classIndex ? { classIndex } : {}),
    };
  };
  let next: Promise<ProbeBatch> | undefined = indices.length > 0 ? load(0) : undefined;
  for (let from = 0; next !== undefined; from += batchSize) {
    const batch = await next;
    next = from + batchSize < indices.length ? load(from + batchSize) : undefined;
    // Keep a rejected prefetch from being reported as unhandled before it is awaited.
    next?.catch(() => undefined);
    if (batch.count > 0) yield batch;
  }
}

/**
 * Nearest-neighbour downsampling of `planes` label maps `H×W` to `h×w`: output pixel (y, x) takes the input pixel
 * under its centre, `⌊(y + ½)·H/h⌋`. Writes into `out` at `offset` (allocated when omitted).
 */
export function downsampleLabels(
  src: Uint16Array, planes: number, H: number, W: number, h: number, w: number,
  out: Uint16Array = new Uint16Array(planes * h * w), offset = 0,
): Uint16Array {
  const ys = new Int32Array(h); const xs = new Int32Array(w);
  for (let y = 0; y < h; y++) ys[y] = Math.min(H - 1, Math.floor(((y + 0.5) * H) / h));
  for (let x = 0; x < w; x++) xs[x] = Math.min(W - 1, Math.floor(((x + 0.5) * W) / w));
  for (let p = 0; p < planes; p++) {
    const sp = p * H * W; const dp = offset + p * h * w;
    for (let y = 0; y < h; y++) {
      const row = sp + ys[y] * W; const drow = dp + y * w;
      for (let x = 0; x < w; x++) out[drow + x] = src[row + xs[x]]!;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// builtin:scenes

const SCENES_PREFIX = 'builtin:scenes';

function parseQuery(spec: string, prefix: string): URLSearchParams {
  const rest = spec.slice(prefix.length);
  if (rest !== '' && !rest.startsWith('?')) throw usageError(`cannot read the probe spec '${spec}'`, { path: 'probe', hint: `write it as ${prefix}?count=2000&seed=7` });
  return new URLSearchParams(rest.slice(1));
}

function intParam(q: URLSearchParams, name: string, def: number, min: number, spec: string): number {
  const v = q.get(name);
  if (v === null) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw usageError(`'${name}' in the probe spec '${spec}' must be an integer ≥ ${min}, got '${v}'`, { path: 'probe' });
  return n;
}

/** The built-in synthetic scene world as a probe set: scene i of `builtin:scenes?count=N&seed=S` is a pure function of (S, i). */
export const scenesProbeKind: ProbeKind = {
  name: 'scenes',
  usage: 'builtin:scenes?count=2000&seed=7[&classes=ski_resort,bedroom] — the synthetic scene world, rendered at the model input size',
  accepts: (spec) => spec === SCENES_PREFIX || spec.startsWith(SCENES_PREFIX + '?'),
  open(spec, options) {
    const q = parseQuery(spec, SCENES_PREFIX);
    for (const key of q.keys()) {
      if (!['count', 'seed', 'classes'].includes(key)) {
        throw usageError(`unknown parameter '${key}' in the probe spec '${spec}'`, { path: 'probe', hint: 'parameters: count, seed, classes' });
      }
    }
    const count = intParam(q, 'count', 2000, 1, spec);
    const seed = intParam(q, 'seed', 7, 0, spec);
    const classesParam = q.get('classes');
    const classes = classesParam === null ? SCENE_CLASSES : classesParam.split(',').map((c) => c.trim()).filter(Boolean);
    for (const c of classes) {
      if (!RENDERABLE_SCENE_CLASSES.includes(c)) {
        throw usageError(`unknown scene class '${c}' in the probe spec '${spec}'`, {
          path: 'probe', hint: `did you mean ${nearestNames(c, RENDERABLE_SCENE_CLASSES).join(', ')}? Scene classes: ${RENDERABLE_SCENE_CLASSES.join(', ')}`,
        });
      }
    }
    const [h, w] = options.inputSize;
    if (h !== w) throw usageError(`the scene world renders square images, but the model input is ${h}×${w}`, { path: 'probe' });
    const canonical = `${SCENES_PREFIX}?count=${count}&seed=${seed}` + (classesParam === null ? '' : `&classes=${classes.join(',')}`);
    const probe: ProbeSet = {
      kind: 'scenes', spec: canonical, signature: `${canonical}&size=${h}&world=${SCENE_WORLD_VERSION}&planes=objects`, count, imageSize: [h, w], labelPlanes: 2,
      concepts: CONCEPTS.map((c) => ({ id: c.id, name: c.name, category: c.category })),
      classNames: [...classes],
      async load(index) {
        if (!Number.isInteger(index) || index < 0 || index >= count) throw usageError(`probe index ${index} is out of range 0…${count - 1}`, { path: 'index' });
        const r = await scenePool().render(seed, index, h, classes);
        return { index, id: `${r.cls}-${index}`, image: r.image, labels: r.labels, className: r.cls };
      },
    };
    return Promise.resolve(probe);
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Plain folders: foo.png + foo_label.png (label = R + 256·G), optional class subfolders and concepts.json

/** Suffix of a label map's file name: `foo.png` has its labels in `foo_label.png`. */
export const LABEL_SUFFIX = '_label';

/**
 * Encodes a label map as the PNG that folder probe sets read: concept id = R + 256·G.
 */
export async function encodeLabelPng(labels: Uint16Array, width: number, height: number): Promise<Buffer> {
  if (labels.length !== width * height) throw usageError(`a ${width}×${height} label map needs ${width * height} values, got ${labels.length}`, { path: 'labels' });
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < labels.length; i++) { rgb[3 * i] = labels[i] & 255; rgb[3 * i + 1] = labels[i] >> 8; }
  return rawToPng(rgb, width, height);
}

/** Reads a label map PNG: concept id = R + 256·G (grey images: the grey level). Throws a `UA_INPUT` error naming the file. */
export async function readLabelPng(file: string): Promise<{ labels: Uint16Array; width: number; height: number }> {
  let px: RawPixels;
  try {
    px = await decodeRaw(file, { failOn: 'truncated' });
  } catch (err) {
    throw inputError(`the label map '${file}' cannot be read (${(err as Error).message.split('\n')[0]})`, {
      file, cause: err, hint: 'label maps are PNG files whose pixels hold concept ids as R + 256·G',
    });
  }
  const { data, channels: c } = px;
  const n = px.width * px.height;
  const labels = new Uint16Array(n);
  if (c <= 2) for (let i = 0; i < n; i++) labels[i] = data[i * c]!;
  else for (let i = 0; i < n; i++) labels[i] = data[i * c] + 256 * data[i * c + 1];
  return { labels, width: px.width, height: px.height };
}

interface FolderEntry { image: string; label: string; id: string; className?: string; corrupt?: string }

const isImage = (name: string): boolean => (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(name).toLowerCase());
const isLabel = (name: string): boolean => path.basename(name, path.extname(name)).endsWith(LABEL_SUFFIX);

async function readConcepts(dir: string): Promise<ProbeConcept[]> {
  const file = path.join(dir, 'concepts.json');
  if (!existsSync(file)) return CONCEPTS.map((c) => ({ id: c.id, name: c.name, category: c.category }));
  let data: unknown;
  try { data = JSON.parse(await fs.readFile(file, 'utf8')); } catch (err) {
    throw inputError(`${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
  const list: ProbeConcept[] = [];
  const bad = (why: string): never => {
    throw inputError(`${file}: ${why}`, { file, hint: 'write concepts.json as [{"id": 1, "name": "sky", "category": "object"}, …] or {"1": "sky", …}' });
  };
  if (Array.isArray(data)) {
    for (const [i, c] of data.entries()) {
      const o = c as { id?: unknown; name?: unknown; category?: unknown };
      if (typeof o?.id !== 'number' || !Number.isInteger(o.id) || o.id < 1 || o.id > 65535 || typeof o.name !== 'string') bad(`entry ${i} needs an integer id in 1…65535 and a name`);
      list.push({ id: o.id as number, name: o.name as string, category: typeof o.category === 'string' ? o.category : 'object' });
    }
  } else if (data !== null && typeof data === 'object') {
    for (const [k, v] of Object.entries(data)) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 1 || id > 65535 || typeof v !== 'string') bad(`key '${k}' must be an id in 1…65535 with a concept name`);
      list.push({ id, name: v as string, category: 'object' });
    }
  } else bad('expected an array or an object');
  const ids = new Set<number>(); const names = new Set<string>();
  for (const c of list) {
    if (ids.has(c.id)) bad(`id ${c.id} appears twice`);
    if (names.has(c.name)) bad(`the concept '${c.name}' appears twice`);
    ids.add(c.id); names.add(c.name);
  }
  return list.sort((a, b) => a.id - b.id);
}

async function listFolder(dir: string): Promise<FolderEntry[]> {
  const entries: FolderEntry[] = [];
  const scan = async (sub: string, className?: string): Promise<string[]> => {
    const abs = path.join(dir, sub);
    const names = (await fs.readdir(abs, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    const files = new Set(names.filter((d) => d.isFile()).map((d) => d.name));
    for (const d of names) {
      if (!d.isFile() || !isImage(d.name) || isLabel(d.name)) continue;
      const base = path.basename(d.name, path.extname(d.name));
      const label = `${base}${LABEL_SUFFIX}.png`;
      const rel = path.join(sub, d.name);
      if (!files.has(label)) {
        throw inputError(`the probe image '${path.join(dir, rel)}' has no label map '${path.join(dir, sub, label)}'`, {
          file: path.join(dir, rel), hint: `every image foo.png of a probe folder needs a label map foo${LABEL_SUFFIX}.png (concept id = R + 256·G)`,
        });
      }
      entries.push({ image: path.join(abs, d.name), label: path.join(abs, label), id: rel, ...(className !== undefined ? { className } : {}) });
    }
    return names.filter((d) => d.isDirectory()).map((d) => d.name);
  };
  const subdirs = await scan('');
  for (const s of subdirs) await scan(s, s);
  for (const d of subdirs) {
    // Label maps without an image are likely a naming mistake: say so.
    const abs = path.join(dir, d);
    for (const name of await fs.readdir(abs)) {
      if (isLabel(name) && !entries.some((e) => e.label === path.join(abs, name))) {
        throw inputError(`the label map '${path.join(abs, name)}' has no image beside it`, { file: path.join(abs, name) });
      }
    }
  }
  for (const name of await fs.readdir(dir)) {
    if (isLabel(name) && !entries.some((e) => e.label === path.join(dir, name))) {
      throw inputError(`the label map '${path.join(dir, name)}' has no image beside it`, { file: path.join(dir, name) });
    }
  }
  return entries;
}

/** A folder of images with label maps, `foo.png` + `foo_label.png`; images in subfolders take the subfolder's name as class. */
export const folderProbeKind: ProbeKind = {
  name: 'folder',
  usage: 'a folder of images foo.png with label maps foo_label.png (id = R + 256·G); class subfolders and concepts.json optional',
  accepts: (spec) => existsSync(spec) && statSync(spec).isDirectory(),
  async open(spec, options) {
    const dir = path.resolve(spec);
    const entries = await listFolder(dir);
    if (entries.length === 0) {
      throw inputError(`the probe folder '${spec}' holds no images`, { file: spec, hint: `put images (${IMAGE_EXTENSIONS.join(', ')}) with their label maps foo${LABEL_SUFFIX}.png in it` });
    }
    const concepts = await readConcepts(dir);
    const [H, W] = options.inputSize;
    const stamps = new Array<string>(entries.length);
    // Check sizes up front, so a wrong file stops the run before the long passes. Unreadable images are skipped later.
    await Promise.all(entries.map(async (e, i) => {
      const [is, ls] = await Promise.all([fs.stat(e.image), fs.stat(e.label)]);
      let iw: number | undefined; let ih: number | undefined;
      try {
        ({ width: iw, height: ih } = await imageSize(e.image, { oriented: true }));
      } catch (err) {
        e.corrupt = (err as Error).message.split('\n')[0] ?? 'unreadable';
      }
      let lw: number | undefined; let lh: number | undefined;
      try {
        ({ width: lw, height: lh } = await imageSize(e.label));
      } catch (err) {
        throw inputError(`the label map '${e.label}' cannot be read (${(err as Error).message.split('\n')[0]})`, { file: e.label, cause: err });
      }
      if (e.corrupt === undefined && (iw !== W || ih !== H)) {
        throw inputError(`the probe image '${e.image}' is ${iw}×${ih}, but the model takes ${W}×${H}`, {
          file: e.image, hint: 'probe images must have the model input size, so that their label maps line up with the activations',
        });
      }
      if (lw !== W || lh !== H) {
        throw inputError(`the label map '${e.label}' is ${lw}×${lh}, but its image must be ${W}×${H}`, {
          file: e.label, hint: 'a label map has the size of its image',
        });
      }
      stamps[i] = `${e.id}\0${is.size}\0${is.mtimeMs}\0${ls.size}\0${ls.mtimeMs}\n`;
    }));
    const sig = createHash('sha256');
    for (const s of stamps) sig.update(s);
    const classes = [...new Set(entries.map((e) => e.className).filter((c): c is string => c !== undefined))];
    const probe: ProbeSet = {
      kind: 'folder', spec: dir, signature: `${dir}#${sig.digest('hex').slice(0, 16)}`, count: entries.length,
      imageSize: [H, W], labelPlanes: 1, concepts, classNames: classes.length > 0 ? classes : undefined,
      async load(index, onSkip) {
        const e = entries[index];
        if (e === undefined) throw usageError(`probe index ${index} is out of range 0…${entries.length - 1}`, { path: 'index' });
        if (e.corrupt !== undefined) { onSkip?.(e.id, e.corrupt); return null; }
        let image: Uint8Array;
        try {
          const img = await readImageRgb(e.image);
          image = img.data;
        } catch (err) {
          if (err instanceof UnitAttackError && err.code === 'UA_INPUT') { onSkip?.(e.id, err.message); return null; }
          throw err;
        }
        const { labels } = await readLabelPng(e.label);
        return { index, id: e.id, image, labels, ...(e.className !== undefined ? { className: e.className } : {}) };
      },
    };
    return probe;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Broden-layout folders (index.csv, label.csv, images/)

/** Splits `dir?key=value` into the folder and its parameters (the folder part may not exist). */
function splitPathSpec(spec: string): { dir: string; query: URLSearchParams } {
  const q = spec.lastIndexOf('?');
  if (q > 0 && !existsSync(spec)) return { dir: spec.slice(0, q), query: new URLSearchParams(spec.slice(q + 1)) };
  return { dir: spec, query: new URLSearchParams() };
}

const isBrodenDir = (dir: string): boolean => existsSync(path.join(dir, 'index.csv')) && existsSync(path.join(dir, 'label.csv'));

/**
 * A Broden-layout folder (the NetDissect data set, or one written by `writeBrodenDataset`). Each pixel-level category
 * (color, object, part, material, …) becomes a label plane, several files of one category merging into it. Whole-image
 * labels (Broden's `scene` and `texture` numbers) are left out unless `?image-labels=1`; `?categories=object,part`
 * keeps only some categories. Classes come from `scene.csv` when the folder has one.
 */
export const brodenProbeKind: ProbeKind = {
  name: 'broden',
  usage: 'a Broden-layout folder (index.csv, label.csv, images/)[?categories=object,part&image-labels=1]',
  accepts: (spec) => {
    const { dir } = splitPathSpec(spec);
    return existsSync(dir) && statSync(dir).isDirectory() && isBrodenDir(dir);
  },
  async open(spec, options) {
    const { dir: rawDir, query } = splitPathSpec(spec);
    for (const key of query.keys()) {
      if (key !== 'categories' && key !== 'image-labels') {
        throw usageError(`unknown parameter '${key}' in the probe spec '${spec}'`, { path: 'probe', hint: 'parameters of a Broden folder: categories, image-labels' });
      }
    }
    const dir = path.resolve(rawDir);
    const ds = await readBrodenDataset(dir);
    const indexFile = path.join(dir, 'index.csv');
    if (ds.items.length === 0) throw inputError(`'${indexFile}' lists no images`, { file: indexFile });
    const [H, W] = options.inputSize;
    const imageLabels = query.get('image-labels') === '1' || query.get('image-labels') === 'true';
    const only = query.get('categories')?.split(',').map((c) => c.trim()).filter(Boolean);
    const order = ['color', 'object', 'part', 'material'];
    const rank = (c: string): number => (order.includes(c) ? order.indexOf(c) : order.length);
    const pixelCats = [...new Set(ds.items.flatMap((it) => it.labelPaths.map((l) => l.category)))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const imageCats = imageLabels ? [...new Set(ds.items.flatMap((it) => it.imageLabels.map((l) => l.category)))].sort() : [];
    let planes = [...pixelCats.map((c) => ({ category: c, image: false })), ...imageCats.map((c) => ({ category: c, image: true }))];
    if (only) {
      const known = planes.map((p) => p.category);
      for (const c of only) {
        if (!known.includes(c)) throw usageError(`the Broden folder '${dir}' has no labels of category '${c}'`, { path: 'probe', hint: `categories: ${known.join(', ')}` });
      }
      planes = planes.filter((p) => only.includes(p.category));
    }
    if (planes.length === 0) throw inputError(`the Broden folder '${dir}' has no pixel-level labels`, { file: indexFile, hint: 'add ?image-labels=1 to use whole-image labels' });
    // Check what can be checked before the long passes: sizes from index.csv and that every file exists. The size
    // and time of every file (images, label maps, the CSVs) go into the signature, so a cached atlas is never served
    // for a folder whose files changed while index.csv did not.
    const sig = createHash('sha256');
    const stampOf = async (f: string): Promise<string> => {
      try {
        const st = await fs.stat(f);
        return `${f}\0${st.size}\0${st.mtimeMs}\n`;
      } catch {
        throw inputError(`'${f}', listed in '${indexFile}', is missing`, { file: f });
      }
    };
    const csvs = (await fs.readdir(dir)).filter((n) => n.toLowerCase().endsWith('.csv')).sort();
    for (const n of csvs) sig.update(await stampOf(path.join(dir, n)));
    for (let a = 0; a < ds.items.length; a += 256) {
      const chunk = ds.items.slice(a, a + 256);
      const stamps = await Promise.all(chunk.map(async (it) => (await Promise.all([it.imagePath, ...it.labelPaths.map((l) => l.path)].map(stampOf))).join('')));
      for (const s of stamps) sig.update(s);
    }
    for (const it of ds.items) {
      if ((it.imageHeight > 0 && it.imageHeight !== H) || (it.imageWidth > 0 && it.imageWidth !== W)) {
        throw inputError(`the probe image '${it.imagePath}' is ${it.imageWidth}×${it.imageHeight} (index.csv), but the model takes ${W}×${H}`, {
          file: it.imagePath, hint: 'use a Broden folder made at the model input size (e.g. broden1_224 for 224×224 models)',
        });
      }
    }
    const concepts = ds.concepts.filter((c) => c.id > 0 && c.id <= 65535).map((c) => ({ id: c.id, name: c.name, category: c.category || 'object' }));
    const classes = [...new Set(ds.items.map((it) => it.class).filter((c): c is string => c !== undefined))];
    const query2 = new URLSearchParams();
    if (only) query2.set('categories', only.join(','));
    if (imageLabels) query2.set('image-labels', '1');
    const canonical = dir + (query2.size > 0 ? `?${query2.toString()}` : '');
    const probe: ProbeSet = {
      kind: 'broden', spec: canonical, signature: `${canonical}#${sig.digest('hex').slice(0, 16)}-${ds.items.length}`, count: ds.items.length,
      imageSize: [H, W], labelPlanes: planes.length, concepts, classNames: classes.length > 0 ? classes : undefined,
      async load(index, onSkip) {
        const it = ds.items[index];
        if (it === undefined) throw usageError(`probe index ${index} is out of range 0…${ds.items.length - 1}`, { path: 'index' });
        let loaded: LoadedBrodenItem;
        try {
          loaded = await loadBrodenItem(it);
        } catch (err) {
          // An image that exists but does not decode is skipped; label problems stop the run.
          if (err instanceof UnitAttackError && err.code === 'UA_INPUT' && err.file === it.imagePath && existsSync(it.imagePath) && /decode/i.test(err.message)) {
            onSkip?.(it.image, err.message);
            return null;
          }
          throw err;
        }
        if (loaded.width !== W || loaded.height !== H) {
          throw inputError(`the probe image '${it.imagePath}' is ${loaded.width}×${loaded.height}, but the model takes ${W}×${H}`, { file: it.imagePath });
        }
        const lw = loaded.labelWidth; const lh = loaded.labelHeight;
        const n = lw * lh;
        const labels = new Uint16Array(planes.length * n);
        planes.forEach((p, k) => {
          const dst = labels.subarray(k * n, (k + 1) * n);
          if (p.image) {
            const l = loaded.imageLabels.find((x) => x.category === p.category);
            if (l && l.label <= 65535) dst.fill(l.label);
            return;
          }
          for (const layer of loaded.layers) {
            if (layer.category !== p.category) continue;
            for (let i = 0; i < n; i++) if (layer.labels[i] !== 0) dst[i] = layer.labels[i]!;
          }
        });
        return {
          index, id: it.image, image: loaded.image, labels, labelSize: [lh, lw],
          ...(it.class !== undefined ? { className: it.class } : {}),
        };
      },
    };
    return probe;
  },
};

registerProbeKind(folderProbeKind);
registerProbeKind(brodenProbeKind);
registerProbeKind(scenesProbeKind);
