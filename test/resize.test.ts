// lib/resize.ts without Python: torchvision's size and crop rules, half-pixel-centred enlarging checked against
// values computed by hand (PIL gives the same), mirror symmetry, 1-channel images.
import sharp from 'sharp';

import { DecodedImage } from '../lib';
import { fillUniform } from '../lib/random';
import { centreOffset, mirrorImage, resizedSize, resizeImage } from '../lib/resize';

const image = (width: number, height: number, channels: 1 | 3, seed: number): DecodedImage => ({
  width,
  height,
  channels,
  pixels: Uint8Array.from(fillUniform(new Float32Array(width * height * channels), 0, 256, seed), Math.floor),
});

/** Max |a − b| and the fraction of values that differ. */
const diff = (a: Uint8Array, b: Uint8Array) => {
  let max = 0,
    n = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    if (d) n++;
  }
  return { max, fraction: n / a.length };
};

test("torchvision's Resize size (longer side floored) and CenterCrop offset (halves to even)", () => {
  expect(resizedSize(500, 375, 256)).toEqual([341, 256]);
  expect(resizedSize(640, 427, 256)).toEqual([383, 256]); // 383.7: floored, not rounded
  expect(resizedSize(427, 640, 224)).toEqual([224, 335]);
  expect(resizedSize(300, 300, 384)).toEqual([384, 384]);
  expect(centreOffset(341, 224)).toBe(58); // 58.5 → 58 (Python's round), not 59
  expect(centreOffset(343, 224)).toBe(60); // 59.5 → 60
  expect(centreOffset(256, 224)).toBe(16);
  expect(centreOffset(257, 224)).toBe(16); // 16.5 → 16
});

test('enlarging is half-pixel centred with edges clamped: 8 → 10 samples x = (X + 0.5)·0.8 − 0.5', async () => {
  const ramp = [0, 40, 80, 120, 160, 200, 240, 250];
  const img: DecodedImage = { width: 8, height: 2, channels: 1, pixels: Uint8Array.from([...ramp, ...ramp]) };
  const out = await resizeImage(img, 10, 2);
  // x = 0.7 → 28, 1.5 → 60, …, 6.3 → 243, 7.1 → clamped to 250 (PIL's Image.resize gives the same row).
  expect([...out.pixels.subarray(0, 10)]).toEqual([0, 28, 60, 92, 124, 156, 188, 220, 243, 250]);
  expect(out.channels).toBe(1);
});

test.each([
  [333, 251, 509, 384],
  [333, 251, 297, 224],
  [64, 48, 85, 64],
  [64, 48, 42, 32],
  [451, 300, 75, 50],
])('%i×%i → %i×%i: mirror then resize = resize then mirror, within 1 level', async (W, H, w, h) => {
  const img = image(W, H, 3, W + w);
  const a = mirrorImage(await resizeImage(img, w, h));
  const b = await resizeImage(mirrorImage(img), w, h);
  expect([b.width, b.height]).toEqual([w, h]);
  const d = diff(a.pixels, b.pixels);
  expect(d.max).toBeLessThanOrEqual(1);
  expect(d.fraction).toBeLessThan(0.06);
});

test('sharp.resize itself enlarges off centre (why lib/resize.ts uses affine): mirror images differ by far more', async () => {
  const img = image(333, 251, 3, 7);
  const viaSharp = async (i: DecodedImage) =>
    new Uint8Array(
      await sharp(i.pixels, { raw: { width: i.width, height: i.height, channels: 3 } })
        .resize(509, 384, { kernel: 'linear', fit: 'fill' })
        .raw()
        .toBuffer(),
    );
  const a = await viaSharp(img);
  const b = await viaSharp(mirrorImage(img));
  const mirroredA = mirrorImage({ width: 509, height: 384, channels: 3, pixels: a }).pixels;
  expect(diff(mirroredA, b).max).toBeGreaterThan(50);
});

test('1-channel images stay 1 channel through shrinking, enlarging and both at once', async () => {
  const img = image(45, 37, 1, 3);
  for (const [w, h] of [
    [29, 23],
    [61, 50],
    [30, 50],
  ]) {
    const out = await resizeImage(img, w, h);
    expect([out.width, out.height, out.channels, out.pixels.length]).toEqual([w, h, 1, w * h]);
  }
  const same = await resizeImage(img, 45, 37);
  expect(same.pixels).toBe(img.pixels);
});
