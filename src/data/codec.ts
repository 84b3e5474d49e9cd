/**
 * Image encoding and decoding with sharp, for every folder that reads or writes pictures: raw pixels to PNG, image
 * files to raw pixels and their sizes, resizing, JPEG compression, SVG rasterising and pictures composed of
 * tiles. sharp is imported in `data/` only.
 */
import sharp, { type OverlayOptions } from 'sharp';
import type { RgbImage } from './images.js';

/** Raw 8-bit pixels, row-major, `channels` values per pixel. */
export interface RawPixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

/** Options for {@link rawToPng}. */
export interface RawToPngOptions {
  /** Values per pixel (1 grey, 3 RGB, 4 RGBA). @defaultValue 3 */
  channels?: 1 | 2 | 3 | 4;
  /** zlib level, 0 (fast) … 9 (small). @defaultValue sharp's (6) */
  compressionLevel?: number;
}

/** PNG bytes of raw 8-bit pixels (RGB unless `channels` says otherwise). */
export async function rawToPng(data: Uint8Array, width: number, height: number, options: RawToPngOptions = {}): Promise<Buffer> {
  const png = options.compressionLevel !== undefined ? { compressionLevel: options.compressionLevel } : undefined;
  return sharp(data, { raw: { width, height, channels: options.channels ?? 3 } }).png(png).toBuffer();
}

/**
 * Decodes an image (file or bytes) to raw pixels with its own channels (grey stays grey). With
 * `failOn: 'truncated'` a truncated file is an error rather than a partly grey image. Throws sharp's error.
 */
export async function decodeRaw(input: string | Uint8Array, options: { failOn?: 'truncated' } = {}): Promise<RawPixels> {
  const { data, info } = await sharp(input, options.failOn ? { failOn: options.failOn } : {}).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/**
 * The width and height of an image (file or bytes), read from its header. `oriented`: as its EXIF orientation
 * turns it. Throws sharp's error for a file that is not an image.
 */
export async function imageSize(input: string | Uint8Array, options: { oriented?: boolean } = {}): Promise<{ width: number; height: number }> {
  const m = await sharp(input).metadata();
  return options.oriented ? { width: m.autoOrient?.width ?? m.width, height: m.autoOrient?.height ?? m.height } : { width: m.width, height: m.height };
}

/** Options for {@link resizeRgb}. */
export interface ResizeOptions {
  /** How the image fills the new size (sharp's `fit`). @defaultValue `fill` (stretch) */
  fit?: 'fill' | 'cover';
  /** The resampling kernel. @defaultValue sharp's (lanczos3) */
  kernel?: 'nearest';
}

/** An 8-bit RGB image resized to `width×height`. */
export async function resizeRgb(img: RgbImage, width: number, height: number, options: ResizeOptions = {}): Promise<RgbImage> {
  const raw = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: options.fit ?? 'fill', ...(options.kernel ? { kernel: options.kernel } : {}) }).raw().toBuffer();
  return { data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), width, height };
}

/** An 8-bit RGB image compressed as JPEG at `quality` (1…100) and decoded again: what the compression leaves. */
export async function jpegRoundTrip(img: RgbImage, quality: number): Promise<RgbImage> {
  const jpg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  const { data: raw } = await sharp(jpg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), width: img.width, height: img.height };
}

/** Rasterises an SVG document to PNG bytes; `scale` > 1 renders at a higher density (crisp text). Throws sharp's error. */
export async function svgToPngBytes(svg: string, scale = 1): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
}

/** An image placed at `left`, `top` (pixels) of a picture. */
export interface Tile {
  image: RgbImage;
  left: number;
  top: number;
}

async function tileInputs(tiles: readonly Tile[], resize?: { size: number; kernel: 'nearest' }): Promise<OverlayOptions[]> {
  return Promise.all(tiles.map(async (t) => {
    let img = sharp(t.image.data, { raw: { width: t.image.width, height: t.image.height, channels: 3 } });
    if (resize) img = img.resize(resize.size, resize.size, { kernel: resize.kernel });
    return { input: await img.png().toBuffer(), left: t.left, top: t.top };
  }));
}

/**
 * PNG bytes of images placed on a white `width×height` picture; with `cell`, each image is first scaled to a
 * `cell×cell` square with nearest-neighbour pixels.
 */
export async function tilesToPng(width: number, height: number, tiles: readonly Tile[], cell?: number): Promise<Buffer> {
  const inputs = await tileInputs(tiles, cell !== undefined ? { size: cell, kernel: 'nearest' } : undefined);
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(inputs).png().toBuffer();
}

/** PNG bytes of an SVG document (its size) with images placed on it, on white. */
export async function svgWithTilesToPng(svg: string, tiles: readonly Tile[]): Promise<Buffer> {
  return sharp(Buffer.from(svg)).composite(await tileInputs(tiles)).flatten({ background: '#ffffff' }).png().toBuffer();
}
