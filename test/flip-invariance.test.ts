// Flip averaging is flip-invariant: with flip on, an image and its mirror image get the same posteriors
// (≤ 1e-6) in the classify path, shrinking and enlarging, odd and even sizes, dense and fc (multi-crop) modes.
import * as path from 'path';
import sharp from 'sharp';

import {
  Classifier,
  classifyImage,
  ClassifyOptions,
  loadClassifier,
  Model,
  PRESETS,
  randomWeights,
  VggConfig,
} from '../lib';

const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((p, k) => Math.abs(p - b[k])));
const mirrorOf = async (file: string) => sharp(file).flop().png().toBuffer();

describe('the embedded MNIST model (trained, 1 channel): a 56×56 canvas and its mirror image', () => {
  let c: Classifier;
  let image: Buffer, mirror: Buffer;
  beforeAll(async () => {
    c = await loadClassifier(undefined, { device: 'cpu' });
    image = await sharp(path.join(__dirname, '..', 'samples', 'canvas-0.png'))
      .png()
      .toBuffer();
    mirror = await mirrorOf(path.join(__dirname, '..', 'samples', 'canvas-0.png'));
  });
  afterAll(() => c.model.dispose());

  test.each([
    [[45], 'dense'],
    [[50], 'dense'],
    [[67], 'dense'],
    [[64, 37, 91], 'dense'],
    [[33], 'fc'],
    [[71, 40], 'fc'],
  ] as [number[], 'dense' | 'fc'][])('scales %j, %s', async (scales, mode) => {
    const opts: ClassifyOptions = { scales, mode, flip: true, ...(mode === 'fc' ? { grid: 3 } : {}) };
    const a = await classifyImage(c, image, opts);
    const b = await classifyImage(c, mirror, opts);
    expect(maxDiff(a.probabilities, b.probabilities)).toBeLessThanOrEqual(1e-6);
    // Without flip averaging the two differ: the equality above is the flips', not the model's.
    const a1 = await classifyImage(c, image, { ...opts, flip: false });
    const b1 = await classifyImage(c, mirror, { ...opts, flip: false });
    expect(maxDiff(a1.probabilities, b1.probabilities)).toBeGreaterThan(1e-4);
  });
});

describe('an RGB VGG-style net (seeded weights) on real photos of odd sizes and their mirror images', () => {
  const cfg: VggConfig = {
    name: 'flip',
    inChannels: 3,
    inputSize: 32,
    stages: [[8], [8], [16]],
    fc: [16],
    numClasses: 6,
  };
  const model = Model.createSync(cfg, randomWeights(cfg, 3), { device: 'cpu' });
  const c: Classifier = {
    model,
    labels: ['a', 'b', 'c', 'd', 'e', 'f'],
    preprocess: PRESETS.torchvision,
    source: 'random',
    ownPreprocess: false,
  };
  afterAll(() => model.dispose());

  test.each([
    ['rocket.jpg', [97], 'dense'], // 640×427 → 145×97
    ['rocket.jpg', [431], 'dense'], // enlarged to 646×431
    ['chelsea.png', [301, 64], 'dense'], // 451×300 → 452×301 (enlarged) and 96×64
    ['chelsea.png', [40], 'fc'],
  ] as [string, number[], 'dense' | 'fc'][])(
    '%s at %j, %s',
    async (file, scales, mode) => {
      const full = path.join(__dirname, 'fixtures', 'photos', file);
      const opts: ClassifyOptions = { scales, mode, flip: true, ...(mode === 'fc' ? { grid: 2 } : {}) };
      const a = await classifyImage(c, full, opts);
      const b = await classifyImage(c, await sharp(full, { ignoreIcc: true }).flop().png().toBuffer(), opts);
      expect(maxDiff(a.probabilities, b.probabilities)).toBeLessThanOrEqual(1e-6);
      const a1 = await classifyImage(c, full, { ...opts, flip: false });
      expect(maxDiff(a.probabilities, a1.probabilities)).toBeGreaterThan(1e-6); // the flipped views mattered
    },
    30_000,
  );
});
