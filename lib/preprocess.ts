/**
 * Image preprocessing with sharp: decode (JPEG, PNG, WebP, GIF, TIFF, ...) from a path, a URL or bytes,
 * honour EXIF orientation, flatten alpha, convert to the model's colour space, resize the shorter side to a
 * test scale Q as torchvision's Resize does (lib/resize.ts), optionally centre-crop, and normalise into an
 * NCHW f32 tensor [1, C, H, W].
 */
import sharp, { OutputInfo } from 'sharp';

import { describeValue } from './describe';
import { FormatError, ImageTooLargeError, InvalidArgumentError } from './errors';
import { FetchOptions, resolveFetchOptions } from './fetch-image';
import { ImageInput, resolveImage, ResolvedImage } from './image-input';
import { optionKeys, readOptions } from './options';
import { centreOffset, cropImage, mirrorImage, resizedSize, resizeImage } from './resize';
import { Tensor } from './tensor';

/** How pixels become input values: v = (pixel · scale − mean[c]) / std[c], channels in `colorSpace` order. */
export interface PreprocessSpec {
  colorSpace: 'rgb' | 'bgr' | 'grey';
  /** Multiplies the 0–255 pixel value first: 1/255 for torchvision, 1 for caffe. */
  scale: number;
  mean: number[];
  std: number[];
}

/**
 * torchvision's ImageNet normalisation (RGB, /255, mean and std of the ImageNet training set as used by
 * torchvision's VGG weights). caffe: the original VGG release (Caffe, BGR, 0–255, per-channel mean in
 * B,G,R order; paper §2.1 "subtracting the mean RGB value").
 */
export const PRESETS: Readonly<Record<'torchvision' | 'caffe', PreprocessSpec>> = Object.freeze({
  torchvision: { colorSpace: 'rgb', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  caffe: { colorSpace: 'bgr', scale: 1, mean: [103.939, 116.779, 123.68], std: [1, 1, 1] },
});

const SPEC_KEYS = optionKeys<PreprocessSpec>({ colorSpace: true, scale: true, mean: true, std: true });

/**
 * Checks a spec (from a preset, a file's metadata or a caller) for a model taking `channels` channels.
 * @throws InvalidArgumentError naming the field (`preprocess.<field>`): a missing or bad value, an unknown key
 */
export function checkSpec(spec: PreprocessSpec, channels: number): PreprocessSpec {
  if (spec === null || spec === undefined)
    throw new InvalidArgumentError(
      `preprocess: expected a spec {colorSpace, scale, mean, std}, got ${describeValue(spec)}`,
    );
  spec = readOptions(spec, SPEC_KEYS, 'preprocess') as PreprocessSpec;
  const n = spec.colorSpace === 'grey' ? 1 : 3;
  if (!['rgb', 'bgr', 'grey'].includes(spec.colorSpace))
    throw new InvalidArgumentError(
      `preprocess.colorSpace: expected 'rgb' | 'bgr' | 'grey', got ${JSON.stringify(spec?.colorSpace)}`,
    );
  if (n !== channels)
    throw new InvalidArgumentError(
      `preprocess.colorSpace: '${spec.colorSpace}' gives ${n} channels, the model takes ${channels}`,
    );
  if (!(spec.scale > 0) || !Number.isFinite(spec.scale))
    throw new InvalidArgumentError(`preprocess.scale: expected a positive number, got ${spec.scale}`);
  for (const key of ['mean', 'std'] as const) {
    const v = spec[key];
    if (!Array.isArray(v) || v.length !== n || !v.every(Number.isFinite) || (key === 'std' && !v.every((s) => s > 0)))
      throw new InvalidArgumentError(
        `preprocess.${key}: expected ${n} finite numbers${key === 'std' ? ' > 0' : ''}, got ${JSON.stringify(v)}`,
      );
  }
  return spec;
}

/**
 * How strict the decoder is about damaged image data, sharp's `failOn` levels from least to most strict:
 * 'none' (decode what can be decoded), 'truncated' (refuse truncated data), 'error' (also refuse data the
 * decoder reports as an error), 'warning' (also refuse data the decoder warns about: libjpeg's "Corrupt JPEG
 * data: premature end of data segment", bad restart markers, …). Default 'warning'.
 */
export type FailOn = 'none' | 'truncated' | 'error' | 'warning';
const FAIL_ON: readonly FailOn[] = ['none', 'truncated', 'error', 'warning'];

export interface ImageOptions {
  /**
   * Resize so the shorter side is this many pixels (test scale Q, paper §3.1) and the longer
   * floor(Q · longer / shorter), as torchvision's Resize(Q); 0 or undefined keeps the size.
   */
  shorterSide?: number;
  /** Centre-crop a square of this size after resizing (as torchvision's CenterCrop: offsets rounded half to even). */
  crop?: number;
  /** Mirror horizontally, before resizing (the result is what the mirrored file gives). */
  flip?: boolean;
  /** Damaged data: see FailOn. Default 'warning': a corrupt or truncated image is a FormatError. */
  failOn?: FailOn;
  /** Limits of fetching an http(s) URL. Default DEFAULT_FETCH (16 MiB, 30 s, 5 redirects). */
  fetch?: FetchOptions;
  /**
   * Largest image decoded, in pixels (width × height as its header states, read before any pixel is decoded,
   * so a small file that would decode to gigabytes costs nothing): a larger one is an ImageTooLargeError.
   * An integer in [1, MAX_INPUT_PIXELS]; default MAX_INPUT_PIXELS (2^28).
   */
  maxPixels?: number;
}

const IMAGE_OPTION_KEYS = optionKeys<ImageOptions>({
  shorterSide: true,
  crop: true,
  flip: true,
  failOn: true,
  fetch: true,
  maxPixels: true,
});

/** A decoded, oriented image: 8-bit interleaved pixels (HWC), 1 or 3 channels. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

/** Largest image decoded, in pixels (2^28: 16384²; 768 MiB of RGB): the default and the most of maxPixels. */
export const MAX_INPUT_PIXELS = 2 ** 28;

/** Checks a maxPixels option (`what` names it). @throws InvalidArgumentError */
export function parseMaxPixels(value: unknown, what: string): number {
  if (value === undefined) return MAX_INPUT_PIXELS;
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > MAX_INPUT_PIXELS)
    throw new InvalidArgumentError(
      `${what}: expected an integer in [1, ${MAX_INPUT_PIXELS}], got ${describeValue(value)}`,
    );
  return value as number;
}

/** Checks a failOn option (`what` names it). @throws InvalidArgumentError */
export function parseFailOn(value: unknown, what: string): FailOn {
  if (value === undefined) return 'warning';
  if (typeof value === 'string' && (FAIL_ON as readonly string[]).includes(value)) return value as FailOn;
  throw new InvalidArgumentError(
    `${what}: expected ${FAIL_ON.map((f) => `'${f}'`).join(' | ')}, got ${describeValue(value)}`,
  );
}

/**
 * Decodes a resolved image at its own size: EXIF orientation applied, alpha flattened over white, colour
 * as stored (embedded ICC profiles are ignored, as PIL and so torchvision do), 16-bit reduced to 8.
 * 'grey' converts with ITU-R 601-2 luma, PIL's convert('L'): L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
 * One sharp pipeline: the pixel limit is checked on the header by the same call that decodes.
 * @param maxPixels  largest width × height decoded (a checked ImageOptions.maxPixels)
 * @throws FormatError naming the image (not an image, damaged data at the failOn level), ImageTooLargeError
 */
export async function decodeResolved(
  image: ResolvedImage,
  colorSpace: PreprocessSpec['colorSpace'],
  failOn: FailOn,
  maxPixels: number,
): Promise<DecodedImage> {
  let data: Buffer, info: OutputInfo;
  try {
    ({ data, info } = await sharp(image.source, { failOn, limitInputPixels: maxPixels, ignoreIcc: true })
      .rotate() // EXIF orientation
      .flatten({ background: '#ffffff' }) // alpha over white
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (e) {
    if (/exceeds pixel limit/i.test((e as Error).message)) throw await tooLarge(image, maxPixels);
    const msg = (e as Error).message.replace(/\s+/g, ' ').trim();
    const damaged = /corrupt|premature|truncat|invalid|bad /i.test(msg) && failOn !== 'none';
    throw new FormatError(
      `${image.name}: ${damaged ? 'damaged image data' : 'not a decodable image'} (${msg})` +
        (damaged ? `; options.failOn '${failOn}' refuses it ('none' decodes what can be decoded)` : ''),
    );
  }
  if (info.channels !== 3)
    throw new FormatError(`${image.name}: decoded to ${info.channels} channels, expected 3 (sRGB)`);
  const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
  const { width, height } = info;
  if (colorSpace !== 'grey') return { width, height, channels: 3, pixels: rgb };
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++)
    grey[i] = (rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >>> 16;
  return { width, height, channels: 1, pixels: grey };
}

/** The error for an image over the pixel limit, with its size read again from the header (sharp's error has none). */
async function tooLarge(image: ResolvedImage, maxPixels: number): Promise<ImageTooLargeError> {
  let width = 0,
    height = 0;
  try {
    ({ width = 0, height = 0 } = await sharp(image.source, { limitInputPixels: false }).metadata());
  } catch {
    /* the message then gives the limit only */
  }
  const size = width && height ? `${width}×${height} = ${width * height}` : 'more';
  return new ImageTooLargeError(
    `${image.name}: expected an image of at most ${maxPixels} pixels (maxPixels), got ${size}`,
    width,
    height,
    maxPixels,
  );
}

/**
 * Decodes an image, then (in this order) mirrors, resizes (torchvision's Resize: see lib/resize.ts) and
 * centre-crops it.
 * @param input  a file path, a URL (http:, https:, file:), or encoded bytes (see ImageInput)
 * @returns 8-bit HWC pixels, `colorSpace` 'grey' → 1 channel, else 3 (RGB order; toTensor applies BGR)
 * @throws FormatError when the input is not a decodable image or is damaged (options.failOn);
 *   ImageTooLargeError when its header states more than options.maxPixels pixels;
 *   InvalidArgumentError for bad options (unknown key, shorterSide/crop not an integer in [0, 16384], a crop
 *   larger than the resized image), a missing file or a path that is not a regular file (a FIFO or a device
 *   would block the decoder for ever); UnsupportedError for a URL scheme other than file:, http:, https:;
 *   FetchError when fetching a URL fails
 */
export async function decodeImage(
  input: ImageInput,
  colorSpace: PreprocessSpec['colorSpace'],
  options: ImageOptions | null = {},
): Promise<DecodedImage> {
  if (colorSpace !== 'rgb' && colorSpace !== 'bgr' && colorSpace !== 'grey')
    throw new InvalidArgumentError(`colorSpace: expected 'rgb' | 'bgr' | 'grey', got '${String(colorSpace)}'`);
  const opts = readOptions(options, IMAGE_OPTION_KEYS);
  if (opts.flip !== undefined && typeof opts.flip !== 'boolean')
    throw new InvalidArgumentError(`options.flip: expected a boolean, got ${describeValue(opts.flip)}`);
  for (const k of ['shorterSide', 'crop'] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 16384))
      throw new InvalidArgumentError(`options.${k}: expected an integer in [0, 16384], got ${describeValue(v)}`);
  }
  const failOn = parseFailOn(opts.failOn, 'options.failOn');
  const maxPixels = parseMaxPixels(opts.maxPixels, 'options.maxPixels');
  const fetchLimits = resolveFetchOptions(opts.fetch, 'options.fetch');
  let img = await decodeResolved(await resolveImage(input, fetchLimits), colorSpace, failOn, maxPixels);
  if (opts.flip) img = mirrorImage(img);
  if (opts.shorterSide) img = await resizeImage(img, ...resizedSize(img.width, img.height, opts.shorterSide));
  if (opts.crop) {
    if (opts.crop > img.width || opts.crop > img.height)
      throw new InvalidArgumentError(
        `crop: ${opts.crop}×${opts.crop} is larger than the resized image ${img.width}×${img.height}`,
      );
    img = cropImage(img, centreOffset(img.width, opts.crop), centreOffset(img.height, opts.crop), opts.crop);
  }
  return img;
}

/** Normalises decoded pixels into NCHW f32 [1, C, H, W] following `spec`. */
export function toTensor(img: DecodedImage, spec: PreprocessSpec): Tensor {
  return normalize(img, checkSpec(spec, img.channels));
}

/** toTensor for a spec already checked against the image's channel count (the per-view path of
 *  classifyImage and loadImage, which check the spec once; not exported from the package). */
export function normalize(img: DecodedImage, spec: PreprocessSpec): Tensor {
  const { width: W, height: H, channels: C, pixels } = img;
  const out = new Float32Array(C * H * W);
  const plane = H * W;
  for (let c = 0; c < C; c++) {
    const src = spec.colorSpace === 'bgr' ? C - 1 - c : c; // pixels are RGB; BGR reverses
    const mul = spec.scale / spec.std[c],
      add = -spec.mean[c] / spec.std[c];
    for (let i = 0; i < plane; i++) out[c * plane + i] = pixels[i * C + src] * mul + add;
  }
  return new Tensor([1, C, H, W], out);
}

/** decodeImage + toTensor: NCHW f32 [1, C, H, W]. @throws as decodeImage */
export async function loadImage(
  input: ImageInput,
  spec: PreprocessSpec,
  opts: ImageOptions | null = {},
): Promise<Tensor> {
  const checked = checkSpec(spec, spec?.colorSpace === 'grey' ? 1 : 3);
  return normalize(await decodeImage(input, checked.colorSpace, opts), checked);
}
