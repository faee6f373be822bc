/**
 * vggnet's resize against torchvision's transforms.Resize (PIL bilinear, antialiased), per pixel, on the
 * committed photos and generated images of odd sizes, shrinking and enlarging:
 *   tsc -p bench/tsconfig.json && node bench/.build/bench/preprocess-torchvision.js
 * Needs /usr/bin/python3 with Debian's python3-torchvision and python3-pil. For each case it prints the max
 * and mean |difference| in 8-bit levels and the % of values within 1 level, for vggnet (decodeImage) and for
 * sharp's own resize (what vggnet did before: `resize(w, h, { kernel: 'linear' })` on the file, embedded ICC
 * profiles applied, JPEG shrink-on-load), and how far
 * vggnet's resize of the mirrored image is from the mirror of its resize (max level, % of values differing).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import { decodeImage, DecodedImage } from '../lib';
import { mirrorImage, resizedSize } from '../lib/resize';
import { pythonMissing } from '../test/support/python';
import { diffStats, makeTestImages, PHOTOS, runTransforms, TransformJob } from '../test/support/torchvision-transforms';

const pct = (f: number) => `${(100 * f).toFixed(2)} %`;

async function main(): Promise<void> {
  const missing = pythonMissing('torchvision', 'PIL');
  if (missing) throw new Error(missing);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-bench-resize-'));
  const files: Record<string, string> = {
    'rocket.jpg': path.join(PHOTOS, 'rocket.jpg'),
    'chelsea.png': path.join(PHOTOS, 'chelsea.png'),
    ...(await makeTestImages(dir)),
  };
  // A large JPEG for shrink factors ≥ 4 (libvips box-filters first there; sharp's JPEG shrink-on-load applied
  // before): the photo enlarged 3× (lanczos3), quality 95.
  files['rocket-1920x1281.jpg'] = path.join(dir, 'rocket-1920x1281.jpg');
  await sharp(files['rocket.jpg'], { ignoreIcc: true })
    .resize(1920, 1281)
    .jpeg({ quality: 95 })
    .toFile(files['rocket-1920x1281.jpg']);
  delete files['grey-45x37.png'];

  const cases: [string, number][] = [
    ['rocket.jpg', 224],
    ['rocket.jpg', 256],
    ['rocket.jpg', 512],
    ['chelsea.png', 256],
    ['chelsea.png', 384],
    ['rocket-500x375.png', 256],
    ['rocket-500x375.png', 384],
    ['noise-333x251.png', 224],
    ['noise-333x251.png', 384],
    ['scene-301x199.jpg', 160],
    ['scene-301x199.jpg', 256],
    ['rocket-1920x1281.jpg', 384],
    ['rocket-1920x1281.jpg', 256],
  ];
  const jobs: TransformJob[] = cases.map(([name, q], i) => ({ name: `c${i}`, image: files[name], resize: q }));
  const { outputs, versions } = runTransforms(jobs);
  console.log(
    `torchvision ${versions.torchvision}, PIL ${versions.pil}; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}\n`,
  );
  console.log(
    '| image | Q | output | in/out | vggnet max | mean | within 1 | sharp resize (before) max | mean | within 1 | mirror: max | differing |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (let i = 0; i < cases.length; i++) {
    const [name, q] = cases[i];
    const ref = outputs.get(`c${i}`)!;
    const ours = await decodeImage(files[name], 'rgb', { shorterSide: q });
    if (ours.width !== ref.width || ours.height !== ref.height)
      throw new Error(`${name} Q=${q}: vggnet ${ours.width}×${ours.height}, torchvision ${ref.width}×${ref.height}`);
    // vggnet before issue 10 (at torchvision's output size): sharp's resize on the file, ICC applied.
    const before = await sharp(files[name], { failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(ref.width, ref.height, { kernel: 'linear', fit: 'fill' })
      .raw()
      .toBuffer();
    const original = await decodeImage(files[name], 'rgb');
    const mirrored: DecodedImage = await decodeImage(files[name], 'rgb', { shorterSide: q, flip: true });
    const a = diffStats(ours.pixels, ref.pixels),
      b = diffStats(before, ref.pixels),
      m = diffStats(mirrorImage(mirrored).pixels, ours.pixels, 0);
    const [w, h] = resizedSize(original.width, original.height, q);
    console.log(
      `| ${name} | ${q} | ${w}×${h} | ${(original.width / w).toFixed(2)} | ${a.max} | ${a.mean.toFixed(3)} | ${pct(a.fractionWithin)} ` +
        `| ${b.max} | ${b.mean.toFixed(3)} | ${pct(b.fractionWithin)} | ${m.max} | ${pct(1 - m.fractionWithin)} |`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
