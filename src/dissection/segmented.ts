/**
 * Probe sets labelled by a segmenter: the images of any probe set (a plain folder of images, a Broden folder, the
 * scene world) with label maps computed by a segmentation network instead of read from disk — the PNAS way of
 * dissecting images that come without masks. Dissection runs unchanged on such a set: only the source of the
 * label maps differs ({@link ProbeSet.labelBatch}).
 *
 * Spec: `segmented:<segmenter>|<probe>`, e.g. `segmented:builtin:scenes-segmenter|photos/`. Workers open it from
 * the spec like any other probe set, each with its own copy of the segmenter.
 */
import { promises as fs, existsSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { imageSize } from '../data/codec.js';
import { IMAGE_EXTENSIONS, readImageRgb, type FitPolicy } from '../data/images.js';
import { UnitAttackError, inputError, usageError } from '../errors.js';
import { loadSegmenter, type Segmenter } from '../segment/segmenter.js';
import { LABEL_SUFFIX, downsampleLabels, openProbe, registerProbeKind, type OpenProbeOptions, type ProbeItem, type ProbeKind, type ProbeSet } from './probe.js';

export const SEGMENTED_PREFIX = 'segmented:';

/** The spec of `probe` labelled by `segmenter`. */
export function segmentedSpec(segmenter: string, probe: string): string {
  if (segmenter.includes('|')) throw usageError(`a segmenter path cannot contain '|', got '${segmenter}'`, { path: 'segmenter' });
  return `${SEGMENTED_PREFIX}${segmenter}|${probe}`;
}

/** Splits a `segmented:` spec into the segmenter and the probe spec. */
export function parseSegmentedSpec(spec: string): { segmenter: string; probe: string } {
  const rest = spec.slice(SEGMENTED_PREFIX.length);
  const bar = rest.indexOf('|');
  if (!spec.startsWith(SEGMENTED_PREFIX) || bar <= 0 || bar === rest.length - 1) {
    throw usageError(`cannot read the probe spec '${spec}'`, { path: 'probe', hint: 'write it as segmented:<segmenter>|<probe>, e.g. segmented:builtin:scenes-segmenter|photos/' });
  }
  return { segmenter: rest.slice(0, bar), probe: rest.slice(bar + 1) };
}

/** Segmenters this thread has loaded, by spec (a dissection opens its probe set more than once). */
const segmenters = new Map<string, Promise<Segmenter>>();

function segmenterFor(spec: string): Promise<Segmenter> {
  let s = segmenters.get(spec);
  if (!s) {
    s = loadSegmenter(spec);
    segmenters.set(spec, s);
    s.catch(() => segmenters.delete(spec));
  }
  return s;
}

const isImage = (name: string): boolean => (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(name).toLowerCase());
const isLabel = (name: string): boolean => path.basename(name, path.extname(name)).endsWith(LABEL_SUFFIX);

/** Options for {@link openImageFolder}. */
export interface ImageFolderOptions extends OpenProbeOptions {
  /** How images of another size are fitted to the input. @defaultValue `crop` */
  fit?: FitPolicy;
}

/**
 * A folder of plain images (no label maps; `*_label.png` files are ignored) as a probe set whose items carry no
 * labels: for a segmenter to label. Images in subfolders take the subfolder's name as class. Images of another
 * size than the input are resized (and the set's `warnings` say how many); unreadable ones are skipped when read.
 */
export async function openImageFolder(dir: string, options: ImageFolderOptions): Promise<ProbeSet> {
  const root = path.resolve(dir);
  const [H, W] = options.inputSize;
  const entries: Array<{ file: string; id: string; className?: string }> = [];
  const scan = async (sub: string, className?: string): Promise<string[]> => {
    let names;
    try {
      names = (await fs.readdir(path.join(root, sub), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    } catch (err) {
      throw inputError(`cannot read the probe folder '${path.join(root, sub)}': ${(err as Error).message}`, { file: path.join(root, sub), path: 'probe' });
    }
    for (const d of names) {
      if (d.isFile() && isImage(d.name) && !isLabel(d.name)) {
        entries.push({ file: path.join(root, sub, d.name), id: path.join(sub, d.name), ...(className !== undefined ? { className } : {}) });
      }
    }
    return names.filter((d) => d.isDirectory()).map((d) => d.name);
  };
  const subdirs = await scan('');
  for (const s of subdirs) await scan(s, s);
  if (entries.length === 0) {
    throw inputError(`the probe folder '${dir}' holds no images`, {
      file: dir, path: 'probe', hint: `put images (${IMAGE_EXTENSIONS.join(', ')}) in it, or in one subfolder per class`,
    });
  }
  const stamps = new Array<string>(entries.length);
  let resized = 0;
  await Promise.all(entries.map(async (e, i) => {
    const st = await fs.stat(e.file);
    stamps[i] = `${e.id}\0${st.size}\0${st.mtimeMs}\n`;
    try {
      const size = await imageSize(e.file, { oriented: true });
      if (size.width !== W || size.height !== H) resized++;
    } catch {
      // An unreadable image is skipped, with its reason, when it is read.
    }
  }));
  const sig = createHash('sha256');
  for (const s of stamps) sig.update(s);
  const classes = [...new Set(entries.map((e) => e.className).filter((c): c is string => c !== undefined))];
  const fit = options.fit ?? 'crop';
  const warnings: string[] = [];
  if (resized > 0) warnings.push(`${resized} of the ${entries.length} images in '${dir}' are not ${W}×${H}: they are resized to the model input (fit: ${fit})`);
  const probe: ProbeSet = {
    kind: 'images', spec: root, signature: `images:${root}#${sig.digest('hex').slice(0, 16)}#${fit}`, count: entries.length,
    imageSize: [H, W], labelPlanes: 0, concepts: [], classNames: classes.length > 0 ? classes : undefined, warnings,
    async load(index, onSkip) {
      const e = entries[index];
      if (e === undefined) throw usageError(`probe index ${index} is out of range 0…${entries.length - 1}`, { path: 'index' });
      try {
        const img = await readImageRgb(e.file, { size: [H, W], fit });
        return { index, id: e.id, image: img.data, labels: new Uint16Array(0), ...(e.className !== undefined ? { className: e.className } : {}) };
      } catch (err) {
        if (err instanceof UnitAttackError && err.code === 'UA_INPUT') { onSkip?.(e.id, err.message); return null; }
        throw err;
      }
    },
  };
  return probe;
}

/**
 * The label maps of `count` pixel-space images `[count, H, W, 3]` at `labelSize` (`[count, planes, …labelSize]`): the
 * segmenter's own {@link Segmenter.segmentGrid} when it has one (the same labels, faster), else its full label maps
 * sampled as {@link downsampleLabels} does.
 */
export function segmentLabelGrid(segmenter: Segmenter, images: Float32Array, count: number, H: number, W: number, labelSize: readonly [number, number]): Uint16Array {
  const [lh, lw] = labelSize;
  if (segmenter.segmentGrid) return segmenter.segmentGrid(images, count, H, W, lh, lw);
  const full = segmenter.segment(images, count, H, W);
  if (lh === H && lw === W) return full;
  const planes = segmenter.categories.length;
  const out = new Uint16Array(count * planes * lh * lw);
  for (let b = 0; b < count; b++) downsampleLabels(full.subarray(b * planes * H * W, (b + 1) * planes * H * W), planes, H, W, lh, lw, out, b * planes * lh * lw);
  return out;
}

/**
 * `probe` with label maps from `segmenter`: the same images, and per image one label plane per segmenter category.
 * The signature includes the segmenter's fingerprint, so cached atlases follow the segmenter.
 */
export function withSegmenter(probe: ProbeSet, segmenter: Segmenter, segmenterSpec = segmenter.name): ProbeSet {
  const [H, W] = probe.imageSize;
  const planes = segmenter.categories.length;
  const [rh, rw] = segmenter.runSize(H, W);
  const warnings = [...(probe.warnings ?? [])];
  if (rh !== H || rw !== W) {
    warnings.push(`the segmenter '${segmenter.name}' runs at ${rw}×${rh}: the ${W}×${H} probe images are resized for it and its label maps resized back`);
  }
  return {
    kind: 'segmented', spec: segmentedSpec(segmenterSpec, probe.spec),
    signature: `${probe.signature}|segmenter=${segmenter.fingerprint}`,
    count: probe.count, imageSize: probe.imageSize, labelPlanes: planes,
    concepts: segmenter.concepts.map((c) => ({ id: c.id, name: c.name, category: c.category })),
    classNames: probe.classNames, warnings,
    segmenter: { name: segmenterSpec, fingerprint: segmenter.fingerprint },
    async load(index, onSkip): Promise<ProbeItem | null> {
      const item = await probe.load(index, onSkip);
      if (item === null) return null;
      // The segmenter labels whole batches (labelBatch); a lone item is labelled here.
      const pixels = Float32Array.from(item.image, (v) => v / 255);
      const labels = segmenter.segment(pixels, 1, H, W);
      return { index: item.index, id: item.id, image: item.image, labels, ...(item.className !== undefined ? { className: item.className } : {}) };
    },
    labelBatch(images, count, labelSize) {
      return segmentLabelGrid(segmenter, images, count, H, W, labelSize);
    },
    loadUnlabelled: (index, onSkip) => probe.load(index, onSkip),
  };
}

/**
 * Opens `probe` (a spec or a folder of plain images) labelled by the segmenter at `segmenter` (a spec).
 *
 * @example
 * const probe = await openSegmentedProbe('photos/', 'builtin:scenes-segmenter', { inputSize: [96, 96] });
 * const { atlas } = await dissect(clf, probe);
 */
export async function openSegmentedProbe(probe: string, segmenter: string, options: ImageFolderOptions): Promise<ProbeSet> {
  const seg = await segmenterFor(segmenter);
  let base: ProbeSet;
  const plainFolder = existsSync(probe) && statSync(probe).isDirectory()
    && !(existsSync(path.join(probe, 'index.csv')) && existsSync(path.join(probe, 'label.csv')));
  if (plainFolder) base = await openImageFolder(probe, options);
  else base = await openProbe(probe, options);
  return withSegmenter(base, seg, segmenter);
}

/** The `segmented:<segmenter>|<probe>` kind, so a segmented probe set opens from its spec (in workers too). */
export const segmentedProbeKind: ProbeKind = {
  name: 'segmented',
  usage: 'segmented:<segmenter>|<probe> — any probe set or folder of plain images, labelled by a segmenter (dissect --segmenter)',
  accepts: (spec) => spec.startsWith(SEGMENTED_PREFIX),
  async open(spec, options) {
    const { segmenter, probe } = parseSegmentedSpec(spec);
    return openSegmentedProbe(probe, segmenter, options);
  },
};

registerProbeKind(segmentedProbeKind);
