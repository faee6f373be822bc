// vggnet's decode/resize/crop/normalise against torchvision.transforms on PIL (scripts/torch/transforms.py),
// on real photos (test/fixtures/photos) and generated PNG/JPEG images of odd sizes, shrinking and enlarging.
// Tolerances are what sharp (libvips 8.18) allows, measured in bench/RESULTS.md: shrinking differs from PIL by
// ≤ 1 level for ≥ 98.5 % of values (libvips' reduce: 1/64-px positions, vertical pass first, tails cut at
// 2·round(shrink) + 1 taps; at most 6 levels seen, on noise and hard edges); enlarging by ≤ 1 level everywhere
// (libvips' 12-bit bilinear weights).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { decodeImage, loadClassifier, loadImage, Model, PRESETS, randomWeights, Tensor, VggConfig } from '../lib';
import { pythonMissing } from './support/python';
import { testIf } from './support/skip';
import {
  diffStats,
  makeTestImages,
  PHOTOS,
  runTransforms,
  TransformJob,
  TransformOutput,
} from './support/torchvision-transforms';

const missing = pythonMissing('torchvision', 'PIL');
const LEVEL = 1 / 255 / 0.224; // one 8-bit level after Normalize, at the smallest ImageNet std

/** Index order of the k largest values. */
const topk = (v: ArrayLike<number>, k: number) =>
  Array.from({ length: v.length }, (_, i) => i)
    .sort((a, b) => v[b] - v[a])
    .slice(0, k);

describe('preprocessing against torchvision.transforms (PIL)', () => {
  let dir: string;
  let files: Record<string, string>;
  let outputs: Map<string, TransformOutput>;
  // [image, Q] for Resize(Q) alone: every image shrunk and enlarged, odd and even sizes.
  const resizeCases: [string, number][] = [
    ['rocket.jpg', 256],
    ['rocket.jpg', 512],
    ['chelsea.png', 224],
    ['chelsea.png', 384],
    ['rocket-500x375.png', 256],
    ['rocket-500x375.png', 384],
    ['noise-333x251.png', 224],
    ['noise-333x251.png', 301],
    ['scene-301x199.jpg', 160],
    ['scene-301x199.jpg', 257],
  ];
  const cropImages = ['rocket.jpg', 'chelsea.png', 'rocket-500x375.png', 'noise-333x251.png', 'scene-301x199.jpg'];
  const digits = fs.readdirSync(path.join(__dirname, '..', 'samples')).filter((f) => f.startsWith('digit-'));

  beforeAll(async () => {
    if (missing) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-pp-tv-'));
    files = {
      'rocket.jpg': path.join(PHOTOS, 'rocket.jpg'),
      'chelsea.png': path.join(PHOTOS, 'chelsea.png'),
      ...(await makeTestImages(dir)),
    };
    for (const d of digits) files[d] = path.join(__dirname, '..', 'samples', d);
    const jobs: TransformJob[] = [
      ...resizeCases.map(([image, q]) => ({ name: `resize-${image}-${q}`, image: files[image], resize: q })),
      ...cropImages.map((image) => ({ name: `crop-${image}`, image: files[image], resize: 256, crop: 224 })),
      { name: 'grey-up', image: files['grey-45x37.png'], resize: 61, grey: true },
      { name: 'grey-down', image: files['grey-45x37.png'], resize: 29, crop: 28, grey: true },
      ...digits.map((d) => ({ name: `digit-${d}`, image: files[d], resize: 36, crop: 28, grey: true })),
    ];
    outputs = runTransforms(jobs).outputs;
  }, 300_000);
  afterAll(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  testIf(!missing, missing!)(
    'Resize(Q): same size; per pixel within 1 level (enlarging: all; shrinking: ≥ 98.5 %)',
    async () => {
      for (const [image, q] of resizeCases) {
        const ref = outputs.get(`resize-${image}-${q}`)!;
        const ours = await decodeImage(files[image], 'rgb', { shorterSide: q });
        expect([image, q, ours.width, ours.height]).toEqual([image, q, ref.width, ref.height]);
        const d = diffStats(ours.pixels, ref.pixels);
        const enlarging = ref.width > (await decodeImage(files[image], 'rgb')).width;
        if (enlarging) expect([image, q, d.max]).toEqual([image, q, 1]);
        else {
          expect(d.fractionWithin).toBeGreaterThanOrEqual(0.985);
          expect(d.max).toBeLessThanOrEqual(8);
          expect(d.mean).toBeLessThan(0.5);
        }
      }
    },
  );

  testIf(!missing, missing!)('Resize(256) + CenterCrop(224) + ToTensor + Normalize: the tensors', async () => {
    for (const image of cropImages) {
      const ref = outputs.get(`crop-${image}`)!;
      const ours = await loadImage(files[image], PRESETS.torchvision, { shorterSide: 256, crop: 224 });
      expect(ours.dims).toEqual([1, 3, 224, 224]);
      const d = diffStats(ours.data, ref.tensor, LEVEL * 1.0001);
      expect(d.fractionWithin).toBeGreaterThanOrEqual(0.985);
      expect(d.max).toBeLessThanOrEqual(8 * LEVEL);
      // A crop offset off by one pixel (torchvision rounds halves to even) would show as a large mean.
      expect(d.mean).toBeLessThan(0.5 * LEVEL);
    }
  });

  testIf(!missing, missing!)(
    '1 channel: Grayscale (PIL L) + Resize [+ CenterCrop], enlarging and shrinking',
    async () => {
      const up = await decodeImage(files['grey-45x37.png'], 'grey', { shorterSide: 61 });
      const refUp = outputs.get('grey-up')!;
      expect([up.width, up.height, up.channels]).toEqual([refUp.width, refUp.height, 1]);
      expect(diffStats(up.pixels, refUp.pixels).max).toBeLessThanOrEqual(1);
      const down = await loadImage(
        files['grey-45x37.png'],
        { colorSpace: 'grey', scale: 1 / 255, mean: [0], std: [1] },
        {
          shorterSide: 29,
          crop: 28,
        },
      );
      const refDown = outputs.get('grey-down')!;
      expect(down.dims).toEqual([1, 1, 28, 28]);
      expect(diffStats(down.data, refDown.tensor, 1.0001 / 255).fractionWithin).toBeGreaterThanOrEqual(0.985);
    },
  );

  testIf(!missing, missing!)("a model's top-5 is the same on torchvision's tensors and on loadImage's", async () => {
    // The embedded MNIST model (trained): digits enlarged 28 → 36 and centre-cropped back to 28.
    const c = await loadClassifier(undefined, { device: 'cpu' });
    try {
      for (const d of digits) {
        const ref = outputs.get(`digit-${d}`)!;
        const ours = await loadImage(files[d], c.preprocess, { shorterSide: 36, crop: 28 });
        const [a, b] = await Promise.all([
          c.model.forward(ours),
          c.model.forward(new Tensor([1, 1, 28, 28], ref.tensor)),
        ]);
        expect([d, topk(a.data, 5)]).toEqual([d, topk(b.data, 5)]);
      }
    } finally {
      c.model.dispose();
    }
    // An RGB VGG-style net (5 stages, 1000 classes, seeded He-initialised weights) on the 224 crops. Untrained,
    // its top logits are close (rocket.jpg: ranks 1 and 2 within 0.2 % of the logit range), so the order
    // inside the top-5 may swap over 1-level pixel differences: the top-5 as a set is what must agree.
    const cfg: VggConfig = {
      name: 'tv-check',
      inChannels: 3,
      inputSize: 224,
      stages: [[8], [16], [32], [32], [32]],
      fc: [256],
      numClasses: 1000,
    };
    const model = Model.createSync(cfg, randomWeights(cfg, 5), { device: 'cpu' });
    try {
      for (const image of cropImages) {
        const ours = await loadImage(files[image], PRESETS.torchvision, { shorterSide: 256, crop: 224 });
        const ref = new Tensor([1, 3, 224, 224], outputs.get(`crop-${image}`)!.tensor);
        const [a, b] = await Promise.all([model.forward(ours), model.forward(ref)]);
        expect([image, topk(a.data, 5).sort()]).toEqual([image, topk(b.data, 5).sort()]);
      }
    } finally {
      model.dispose();
    }
  });
});
