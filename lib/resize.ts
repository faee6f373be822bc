/**
 * Resizing decoded pixels as torchvision's `transforms.Resize` does (PIL's bilinear filter, antialiased when
 * shrinking, half-pixel centred: output pixel X samples input position (X + 0.5)·in/out − 0.5), with sharp:
 *  - shrinking: sharp's `resize` with the `linear` kernel (libvips reduce: a triangle filter widened by the
 *    shrink factor, as PIL's). Done on decoded pixels, so no JPEG shrink-on-load (DCT scaling) is involved.
 *  - enlarging: sharp's `affine` with explicit offsets. sharp's `resize` cannot be used: the libvips it
 *    bundles (8.18) enlarges with input offset 0.5 whatever the scale, which maps X to X·in/out − 0.5 (off
 *    centre by 0.5·(1 − in/out) px: the image shifts, and an image and its mirror image resize differently;
 *    libvips fixed it after 8.18, discussion #4843, commit 4a24c7c). With one pixel of edge replicated on
 *    each side (PIL clamps at the edges), idx = idy = −0.5 and odx = ody = −0.5 put X at (X + 0.5)·in/out − 0.5.
 * What stays different from PIL (bench/RESULTS.md measures it): libvips' 8-bit bilinear weights are 12-bit
 * and truncated, and its reduce quantises sample positions to 1/64 px, rounds between its vertical and
 * horizontal passes (PIL: horizontal first) and cuts the triangle's tails at 2·round(shrink) + 1 taps. For
 * shrink factors ≥ 4 libvips would box-average first (its reduce "gap" 2, which sharp does not expose; not
 * mirror symmetric): such shrinks are done in steps by factors < 4 instead (triangle filters in a row).
 */
import sharp, { Sharp } from 'sharp';

import { FormatError } from './errors';
import type { DecodedImage } from './preprocess';

/**
 * torchvision's Resize(q) size for a width × height image: the shorter side becomes q, the longer
 * floor(q · longer / shorter) (torchvision.transforms.functional._compute_resized_output_size).
 * @returns [width, height]
 */
export function resizedSize(width: number, height: number, q: number): [number, number] {
  if (width <= height) return [q, Math.max(1, Math.floor((q * height) / width))];
  return [Math.max(1, Math.floor((q * width) / height)), q];
}

/**
 * Offset of a centred crop of `crop` pixels in `size`, as torchvision's CenterCrop: Python's round of
 * (size − crop)/2, which rounds halves to even (58.5 → 58, 59.5 → 60).
 */
export function centreOffset(size: number, crop: number): number {
  const half = (size - crop) / 2;
  const down = Math.floor(half);
  if (half - down !== 0.5) return Math.round(half);
  return down % 2 === 0 ? down : down + 1;
}

/** The image mirrored left–right. */
export function mirrorImage(img: DecodedImage): DecodedImage {
  const { width: W, height: H, channels: C, pixels } = img;
  const out = new Uint8Array(pixels.length);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const to = (y * W + x) * C,
        from = (y * W + (W - 1 - x)) * C;
      for (let c = 0; c < C; c++) out[to + c] = pixels[from + c];
    }
  return { ...img, pixels: out };
}

/** A size × size window of an image at (left, top). */
export function cropImage(img: DecodedImage, left: number, top: number, size: number): DecodedImage {
  const { width: W, channels: C, pixels } = img;
  const out = new Uint8Array(size * size * C);
  for (let y = 0; y < size; y++)
    out.set(pixels.subarray(((top + y) * W + left) * C, ((top + y) * W + left + size) * C), y * size * C);
  return { width: size, height: size, channels: C, pixels: out };
}

/** sharp over decoded pixels; 1-channel output stays 1 channel (sharp would make it sRGB). */
function fromPixels(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Sharp {
  const s = sharp(pixels, { raw: { width, height, channels } });
  return channels === 1 ? s.toColourspace('b-w') : s.toColourspace('srgb');
}

/**
 * The sizes a shrink from `from` to `to` pixels goes through, largest first, each step by a factor < 4:
 * libvips' reduce box-averages first for factors ≥ 4 ("gap" 2), which neither PIL does nor is mirror
 * symmetric (its last box is partial). [to] alone when from / to < 4.
 */
export function shrinkSteps(from: number, to: number): number[] {
  const steps = [to];
  while (from > 4 * steps[0] - 1) steps.unshift(4 * steps[0] - 1);
  return steps;
}

/** Shrinks with libvips' reduce (triangle filter as wide as the shrink factor), in steps by factors < 4. */
async function shrink(img: DecodedImage, width: number, height: number): Promise<DecodedImage> {
  const ws = shrinkSteps(img.width, width),
    hs = shrinkSteps(img.height, height);
  const n = Math.max(ws.length, hs.length);
  while (ws.length < n) ws.unshift(img.width);
  while (hs.length < n) hs.unshift(img.height);
  let out = img;
  for (let i = 0; i < n; i++) out = await reduce(out, ws[i], hs[i]);
  return out;
}

/** One libvips reduce to width × height (each a shrink by a factor < 4, or no change). */
async function reduce(img: DecodedImage, width: number, height: number): Promise<DecodedImage> {
  if (width === img.width && height === img.height) return img;
  const { data, info } = await fromPixels(img.pixels, img.width, img.height, img.channels)
    .resize(width, height, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== img.channels)
    throw new FormatError(
      `resize: sharp gave ${info.width}×${info.height}×${info.channels}, expected ${width}×${height}×${img.channels}`,
    );
  return { ...img, width, height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Enlarges with half-pixel-centred bilinear interpolation (sharp affine), edges replicated. */
async function enlarge(img: DecodedImage, width: number, height: number): Promise<DecodedImage> {
  const { width: W, height: H, channels: C, pixels } = img;
  // One pixel of edge copied around the image: the interpolator then reads real pixels at the borders.
  const We = W + 2,
    He = H + 2;
  const padded = new Uint8Array(We * He * C);
  for (let y = 0; y < He; y++) {
    const row = pixels.subarray(
      Math.min(H - 1, Math.max(0, y - 1)) * W * C,
      (Math.min(H - 1, Math.max(0, y - 1)) + 1) * W * C,
    );
    padded.set(row, (y * We + 1) * C);
    padded.set(row.subarray(0, C), y * We * C);
    padded.set(row.subarray((W - 1) * C), (y * We + W + 1) * C);
  }
  // libvips affine: X = a·(x + idx) + odx, so x = (X − odx)/a − idx = (X + 0.5)·W/width − 0.5 + 1 (the pad).
  const { data, info } = await fromPixels(padded, We, He, C)
    .affine([width / W, 0, 0, height / H], { idx: -0.5, idy: -0.5, odx: -0.5, ody: -0.5, interpolator: 'bilinear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  // The output starts at X = 0 and covers the padded image: keep the first width × height.
  if (info.width < width || info.height < height || info.channels !== C)
    throw new FormatError(
      `resize: sharp affine gave ${info.width}×${info.height}×${info.channels}, expected at least ${width}×${height}×${C}`,
    );
  const out = new Uint8Array(width * height * C);
  for (let y = 0; y < height; y++)
    out.set(data.subarray(y * info.width * C, (y * info.width + width) * C), y * width * C);
  return { ...img, width, height, pixels: out };
}

/**
 * Resizes to width × height (each axis shrunk or enlarged on its own, as PIL's resize). Resizing an image
 * and its mirror image give mirror images up to ±1 level (libvips' fixed-point weights), which is why
 * classifyImage makes the flipped view from the mirrored original.
 */
export async function resizeImage(img: DecodedImage, width: number, height: number): Promise<DecodedImage> {
  let out = img;
  if (width < out.width || height < out.height)
    out = await shrink(out, Math.min(width, out.width), Math.min(height, out.height));
  if (width > out.width || height > out.height) out = await enlarge(out, width, height);
  return out;
}
