/**
 * Image preprocessing with sharp: decode (JPEG, PNG, WebP, GIF, TIFF, ...), honour EXIF orientation,
 * flatten alpha, convert to the model's colour space, resize the shorter side to a test scale Q
 * (bilinear with antialiasing: libvips' `linear` kernel widens with the shrink factor, like PIL/torchvision),
 * optionally centre-crop, and normalise into an NCHW f32 tensor [1, C, H, W].
 */
import sharp from 'sharp';

import { describeValue } from './describe';
import { FormatError, InvalidArgumentError } from './errors';
import { checkRegularFile } from './files';
import { optionKeys, readOptions } from './options';
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

export interface ImageOptions {
  /** Resize so the shorter side is this many pixels (test scale Q, paper §3.1); 0 or undefined keeps the size. */
  shorterSide?: number;
  /** Centre-crop a square of this size after resizing (as torchvision's CenterCrop: offsets rounded). */
  crop?: number;
  /** Mirror horizontally. */
  flip?: boolean;
}

const IMAGE_OPTION_KEYS = optionKeys<ImageOptions>({ shorterSide: true, crop: true, flip: true });

/** A decoded, oriented image: 8-bit interleaved pixels (HWC), 1 or 3 channels. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
}

/**
 * Decodes and resizes an image file or buffer.
 * @returns 8-bit HWC pixels, `colorSpace` 'grey' → 1 channel, else 3 (RGB order; toTensor applies BGR)
 * @throws FormatError when the input is not a decodable image; InvalidArgumentError for bad options
 *   (unknown key, shorterSide/crop not an integer in [0, 16384], a crop larger than the resized image) or a
 *   path that is not a regular file (a FIFO or a device would block the decoder for ever)
 */
export async function decodeImage(
  input: string | Buffer | Uint8Array,
  colorSpace: PreprocessSpec['colorSpace'],
  options: ImageOptions | null = {},
): Promise<DecodedImage> {
  if (input instanceof Uint8Array && !Buffer.isBuffer(input))
    input = Buffer.from(input.buffer, input.byteOffset, input.length);
  if (typeof input !== 'string' && !Buffer.isBuffer(input))
    throw new InvalidArgumentError(
      `image: expected a file path, a Buffer or a Uint8Array, got ${input === null ? 'null' : typeof input}`,
    );
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
  const name = typeof input === 'string' ? input : 'buffer';
  if (typeof input === 'string') await checkRegularFile(input, 'image');
  try {
    let img = sharp(input, { failOn: 'error', limitInputPixels: 1 << 28 }).rotate(); // EXIF orientation
    const meta = await img.metadata();
    // orientation 5–8 swap width and height
    const swap = (meta.orientation ?? 1) >= 5;
    let w = swap ? meta.height! : meta.width!,
      h = swap ? meta.width! : meta.height!;
    img = img.flatten({ background: '#ffffff' }); // alpha over white
    img = colorSpace === 'grey' ? img.greyscale() : img.toColourspace('srgb');
    if (opts.shorterSide) {
      const s = opts.shorterSide / Math.min(w, h);
      [w, h] = [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
      img = img.resize(w, h, { kernel: 'linear', fit: 'fill' });
    }
    if (opts.crop) {
      if (opts.crop > w || opts.crop > h)
        throw new InvalidArgumentError(`crop: ${opts.crop}×${opts.crop} is larger than the resized image ${w}×${h}`);
      const left = Math.round((w - opts.crop) / 2),
        top = Math.round((h - opts.crop) / 2);
      img = sharp(await img.raw().toBuffer(), {
        raw: { width: w, height: h, channels: colorSpace === 'grey' ? 1 : 3 },
      }).extract({ left, top, width: opts.crop, height: opts.crop });
      w = h = opts.crop;
    }
    if (opts.flip) img = img.flop();
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    const channels = colorSpace === 'grey' ? 1 : 3;
    if (info.channels !== channels || info.width !== w || info.height !== h)
      throw new FormatError(
        `${name}: decoded to ${info.width}×${info.height}×${info.channels}, expected ${w}×${h}×${channels}`,
      );
    return { width: w, height: h, channels, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    if (e instanceof InvalidArgumentError || e instanceof FormatError) throw e;
    throw new FormatError(`${name}: not a decodable image (${(e as Error).message})`);
  }
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
  input: string | Buffer | Uint8Array,
  spec: PreprocessSpec,
  opts: ImageOptions | null = {},
): Promise<Tensor> {
  const checked = checkSpec(spec, spec?.colorSpace === 'grey' ? 1 : 3);
  return normalize(await decodeImage(input, checked.colorSpace, opts), checked);
}
