import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '../tf.js';
import { UnitAttackError, usageError } from '../errors.js';
import { writeAtomic } from '../util/atomic.js';
import { readBrodenDataset } from './broden/read.js';
import { rawToPng } from './codec.js';

/** Image file extensions unit-attack reads. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'] as const;

/**
 * How an image of another size is fitted to the model's input.
 * - `crop`: resize so the shorter side covers the input (divided by `cropFraction`), then centre-crop;
 *   with `cropFraction: 224 / 256` this is torchvision's `Resize(256)` + `CenterCrop(224)`.
 * - `stretch`: resize both sides to the input size, ignoring the aspect ratio.
 */
export type FitPolicy = 'crop' | 'stretch';

export interface LoadImageOptions {
  /** `[height, width]` to produce. @defaultValue the image's own size */
  size?: readonly [number, number];
  /** @defaultValue `crop` */
  fit?: FitPolicy;
  /** Share of the resized shorter side kept by the centre crop. @defaultValue 1 */
  cropFraction?: number;
}

/** An 8-bit RGB image in memory, row-major HWC. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * Reads a JPEG, PNG or WebP file as 8-bit RGB (alpha dropped, greyscale expanded), fitted to `size`.
 * Throws a `UA_INPUT` error naming the file when it is missing, not an image, or truncated.
 */
export async function readImageRgb(file: string, options: LoadImageOptions = {}): Promise<RgbImage> {
  const fit = options.fit ?? 'crop';
  const cropFraction = options.cropFraction ?? 1;
  if (fit !== 'crop' && fit !== 'stretch') throw usageError(`fit must be 'crop' or 'stretch', got '${String(fit)}'`, { path: 'fit' });
  if (!(cropFraction > 0 && cropFraction <= 1)) throw usageError(`cropFraction must be in (0, 1], got ${cropFraction}`, { path: 'cropFraction' });
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (err) {
    throw new UnitAttackError('UA_INPUT', `cannot read image '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file, cause: err });
  }
  try {
    let img = sharp(buf, { failOn: 'truncated' }).removeAlpha().toColourspace('srgb');
    if (options.size) {
      const [h, w] = options.size;
      if (fit === 'stretch') {
        img = img.resize(w, h, { fit: 'fill' });
      } else {
        const meta = await sharp(buf).metadata();
        const iw = meta.autoOrient?.width ?? meta.width; const ih = meta.autoOrient?.height ?? meta.height;
        if (iw === undefined || ih === undefined) throw new Error('no size');
        const scale = Math.max(w / iw, h / ih) / cropFraction;
        const rw = Math.max(w, Math.round(iw * scale)); const rh = Math.max(h, Math.round(ih * scale));
        img = sharp(await img.resize(rw, rh, { fit: 'fill' }).raw().toBuffer(), { raw: { width: rw, height: rh, channels: 3 } })
          .extract({ left: Math.floor((rw - w) / 2), top: Math.floor((rh - h) / 2), width: w, height: h });
      }
    }
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    if (err instanceof UnitAttackError) throw err;
    throw new UnitAttackError('UA_INPUT', `'${file}' is not a readable image (${(err as Error).message.split('\n')[0]})`, {
      file, cause: err, hint: `unit-attack reads ${IMAGE_EXTENSIONS.join(', ')} files; check that the file is complete`,
    });
  }
}

/** Reads an image as a pixel-space tensor `[1, H, W, 3]` in [0, 1]. */
export async function loadImage(file: string, options: LoadImageOptions = {}): Promise<tf.Tensor4D> {
  const img = await readImageRgb(file, options);
  return rgbToTensor(img);
}

/** 8-bit RGB → float32 `[1, H, W, 3]` in [0, 1]. */
export function rgbToTensor(img: RgbImage): tf.Tensor4D {
  const f = new Float32Array(img.data.length);
  for (let i = 0; i < f.length; i++) f[i] = img.data[i] / 255;
  return tf.tensor4d(f, [1, img.height, img.width, 3]);
}

/** A pixel-space image `[H, W, 3]` or `[1, H, W, 3]` → 8-bit RGB, rounding to the nearest level. */
export function tensorToRgb(x: tf.Tensor): RgbImage {
  const shape = x.shape;
  const [h, w, c] = shape.length === 4 ? [shape[1], shape[2], shape[3]] : [shape[0], shape[1]!, shape[2]!];
  if ((shape.length !== 3 && !(shape.length === 4 && shape[0] === 1)) || c !== 3) {
    throw usageError(`an image tensor must be [H, W, 3] or [1, H, W, 3]; got ${JSON.stringify(shape)}`, { path: 'image' });
  }
  const v = x.dataSync();
  const data = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, v[i])) * 255);
  return { data, width: w, height: h };
}

/** Encodes 8-bit RGB as PNG bytes. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return rawToPng(img.data, img.width, img.height, { compressionLevel: 6 });
}

/**
 * Saves an image as an 8-bit PNG (never JPEG: what you save is what fools). Written atomically.
 * A PNG written and read back is bit-identical.
 */
export async function savePng(file: string, image: RgbImage | tf.Tensor): Promise<void> {
  const img = image instanceof tf.Tensor ? tensorToRgb(image) : image;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeAtomic(file, await encodePng(img));
}

/**
 * The perturbation picture: `0.5 + amplify · (adversarial − original)`, clipped, so that grey means
 * "unchanged". By default the largest change maps to full contrast.
 */
export function perturbationPicture(original: RgbImage, adversarial: RgbImage, amplify?: number): RgbImage {
  if (original.width !== adversarial.width || original.height !== adversarial.height) {
    throw usageError('original and adversarial images differ in size', { path: 'adversarial' });
  }
  let maxAbs = 0;
  for (let i = 0; i < original.data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(adversarial.data[i] - original.data[i]));
  const k = amplify ?? (maxAbs === 0 ? 1 : 127.5 / maxAbs);
  const data = new Uint8Array(original.data.length);
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.round(Math.min(255, Math.max(0, 127.5 + k * (adversarial.data[i] - original.data[i]))));
  }
  return { data, width: original.width, height: original.height };
}

/**
 * Lists the images of a folder, sorted by name (non-recursive): its PNG, JPEG and WebP files, leaving out label maps
 * (`foo_label.png`). A folder in the Broden layout (`index.csv` and `images/`, as `unit-attack synth` writes) lists
 * the images its index names, not its label maps.
 */
export async function listImages(dir: string): Promise<string[]> {
  if (existsSync(path.join(dir, 'index.csv')) && existsSync(path.join(dir, 'images'))) {
    const { items } = await readBrodenDataset(dir);
    return items.map((it) => it.imagePath);
  }
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new UnitAttackError('UA_INPUT', `cannot read the folder '${dir}'`, { file: dir, cause: err });
  }
  return names.filter((n) => (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(n).toLowerCase())
    && !path.basename(n, path.extname(n)).endsWith('_label'))
    .sort().map((n) => path.join(dir, n));
}
