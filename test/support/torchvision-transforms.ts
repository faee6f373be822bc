/**
 * torchvision.transforms as the reference for vggnet's preprocessing: runs scripts/torch/transforms.py
 * (real torchvision on PIL) over jobs, reads back what it wrote, and measures per-pixel differences.
 * Shared by test/preprocess-torchvision.test.ts and bench/preprocess-torchvision.ts.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import { packageRoot } from '../../lib/native';
import { fillUniform } from '../../lib/random';
import { runPython } from './python';

export const TRANSFORMS_SCRIPT = path.join(packageRoot(), 'scripts', 'torch', 'transforms.py');
export const PHOTOS = path.join(packageRoot(), 'test', 'fixtures', 'photos');

/** One torchvision pipeline: Resize(resize) [+ CenterCrop(crop)] on an image file, 'L' first when grey. */
export interface TransformJob {
  name: string;
  image: string;
  resize: number;
  crop?: number;
  grey?: boolean;
}

/** torchvision's output of a job: the PIL image (HWC uint8) and ToTensor + Normalize (CHW f32). */
export interface TransformOutput {
  width: number;
  height: number;
  channels: 1 | 3;
  pixels: Uint8Array;
  tensor: Float32Array;
}

/** Runs the jobs through scripts/torch/transforms.py; returns the outputs by job name and the versions. */
export function runTransforms(jobs: TransformJob[]): {
  outputs: Map<string, TransformOutput>;
  versions: Record<string, string>;
} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-transforms-'));
  try {
    const jobsFile = path.join(dir, 'jobs.json');
    fs.writeFileSync(jobsFile, JSON.stringify(jobs));
    const index = JSON.parse(runPython(TRANSFORMS_SCRIPT, [dir, jobsFile]));
    const outputs = new Map<string, TransformOutput>();
    for (const job of jobs) {
      const { width, height, channels } = index[job.name];
      const f32 = fs.readFileSync(path.join(dir, `${job.name}.f32`));
      outputs.set(job.name, {
        width,
        height,
        channels,
        pixels: new Uint8Array(fs.readFileSync(path.join(dir, `${job.name}.u8`))),
        tensor: new Float32Array(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.length)),
      });
    }
    return { outputs, versions: index._versions };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Per-element differences: max and mean |a − b|, and the fraction with |a − b| ≤ `within`. */
export function diffStats(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  within = 1,
): { max: number; mean: number; fractionWithin: number } {
  if (a.length !== b.length) throw new Error(`diffStats: lengths ${a.length} and ${b.length}`);
  let max = 0,
    sum = 0,
    close = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    sum += d;
    if (d <= within) close++;
  }
  return { max, mean: sum / a.length, fractionWithin: close / a.length };
}

/**
 * Generated test images of odd sizes, written to `dir` (seeded, so every run makes the same files):
 *  - noise-333x251.png: uniform noise, the worst case for a resampler (every pixel an edge)
 *  - scene-301x199.jpg: smooth gradients, hard-edged shapes and mild noise, JPEG quality 90 (baseline)
 *  - grey-45x37.png: 1-channel noise and a ramp
 *  - rocket-500x375.png: a 500×375 window of the real photo rocket.jpg (the size of issue 10's example)
 * @returns file paths by name
 */
export async function makeTestImages(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const noise = (n: number, seed: number) =>
    Uint8Array.from(fillUniform(new Float32Array(n), 0, 256, seed), Math.floor);

  files['noise-333x251.png'] = path.join(dir, 'noise-333x251.png');
  await sharp(noise(333 * 251 * 3, 21), { raw: { width: 333, height: 251, channels: 3 } })
    .png()
    .toFile(files['noise-333x251.png']);

  const [W, H] = [301, 199];
  const scene = new Uint8Array(W * H * 3);
  const jitter = noise(W * H * 3, 22);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inDisc = (x - 90) ** 2 + (y - 100) ** 2 < 55 ** 2;
      const inBar = x > 180 && x < 260 && y > 30 && y < 170;
      const base = [(255 * x) / W, (255 * y) / H, 128 + 100 * Math.sin(x / 17 + y / 23)];
      for (let c = 0; c < 3; c++) {
        const v = inDisc ? [230, 40, 40][c] : inBar ? [20, 20, 200][c] : base[c];
        scene[(y * W + x) * 3 + c] = Math.max(
          0,
          Math.min(255, Math.round(v + (jitter[(y * W + x) * 3 + c] - 128) / 16)),
        );
      }
    }
  files['scene-301x199.jpg'] = path.join(dir, 'scene-301x199.jpg');
  await sharp(scene, { raw: { width: W, height: H, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(files['scene-301x199.jpg']);

  const grey = noise(45 * 37, 23);
  for (let y = 0; y < 37; y++) for (let x = 0; x < 20; x++) grey[y * 45 + x] = x * 12;
  files['grey-45x37.png'] = path.join(dir, 'grey-45x37.png');
  await sharp(grey, { raw: { width: 45, height: 37, channels: 1 } })
    .png()
    .toFile(files['grey-45x37.png']);

  files['rocket-500x375.png'] = path.join(dir, 'rocket-500x375.png');
  await sharp(path.join(PHOTOS, 'rocket.jpg'), { ignoreIcc: true })
    .extract({ left: 70, top: 26, width: 500, height: 375 })
    .png()
    .toFile(files['rocket-500x375.png']);
  return files;
}
