// Preprocessing golden values, the evaluation protocol (flips, scales, score maps, multi-crop), labels, and
// a torchvision-named safetensors file checked against onnxruntime-node on the same weights.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import {
  checkLabels,
  classifyImage,
  Classifier,
  imagenetLabels,
  InvalidArgumentError,
  loadImage,
  loadWeights,
  Model,
  PRESETS,
  randomWeights,
  Tensor,
  VggConfig,
  writeSafetensors,
  FormatError,
} from '../lib';
import { fillUniform } from '../lib/random';
import { torchvisionTensors } from '../lib/weights/torchvision';
import { buildOnnxBytes } from './support/onnx-graph';
import { runOrt } from './support/ort';
import { testIf } from './support/skip';

const solid = (w: number, h: number, r: number, g: number, b: number, alpha?: number) =>
  sharp({
    create: {
      width: w,
      height: h,
      channels: alpha === undefined ? 3 : 4,
      background: { r, g, b, ...(alpha === undefined ? {} : { alpha }) },
    },
  })
    .png()
    .toBuffer();

describe('preprocessing', () => {
  test('torchvision preset on a solid colour: (v/255 − mean)/std per RGB channel', async () => {
    const t = await loadImage(await solid(300, 200, 255, 128, 0), PRESETS.torchvision, { shorterSide: 256, crop: 224 });
    expect(t.dims).toEqual([1, 3, 224, 224]);
    const plane = 224 * 224;
    const want = [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225];
    for (let c = 0; c < 3; c++)
      for (const i of [0, plane - 1, 12345]) expect(t.data[c * plane + i]).toBeCloseTo(want[c], 5);
  });

  test('caffe preset: BGR order, 0–255, minus the B,G,R means', async () => {
    const t = await loadImage(await solid(40, 30, 255, 128, 0), PRESETS.caffe);
    expect(t.dims).toEqual([1, 3, 30, 40]);
    const plane = 30 * 40;
    expect(t.data[0]).toBeCloseTo(0 - 103.939, 4); // B
    expect(t.data[plane]).toBeCloseTo(128 - 116.779, 4); // G
    expect(t.data[2 * plane]).toBeCloseTo(255 - 123.68, 4); // R
  });

  test('alpha is flattened over white; grey images become RGB; RGB becomes grey for 1-channel models', async () => {
    const clear = await loadImage(await solid(8, 8, 0, 0, 0, 0), PRESETS.caffe);
    expect(clear.data[0]).toBeCloseTo(255 - 103.939, 4);
    const grey = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 77, g: 77, b: 77 } } })
      .greyscale()
      .png()
      .toBuffer();
    const rgb = await loadImage(grey, PRESETS.torchvision);
    expect(rgb.dims).toEqual([1, 3, 8, 8]);
    expect(rgb.data[0]).toBeCloseTo((77 / 255 - 0.485) / 0.229, 4);
    const one = await loadImage(await solid(8, 8, 200, 200, 200), {
      colorSpace: 'grey',
      scale: 1 / 255,
      mean: [0],
      std: [1],
    });
    expect(one.dims).toEqual([1, 1, 8, 8]);
    expect(one.data[0]).toBeCloseTo(200 / 255, 3);
  });

  test('EXIF orientation is honoured (orientation 6: rotate 90°)', async () => {
    const jpeg = await sharp({ create: { width: 60, height: 20, channels: 3, background: '#808080' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const t = await loadImage(jpeg, PRESETS.torchvision);
    expect(t.dims).toEqual([1, 3, 60, 20]);
  });

  test('shorter side resized to Q keeps the aspect ratio', async () => {
    const t = await loadImage(await solid(400, 300, 10, 20, 30), PRESETS.torchvision, { shorterSide: 384 });
    expect(t.dims).toEqual([1, 3, 384, 512]);
  });

  test('bad input: not an image, a crop larger than the image', async () => {
    await expect(loadImage(Buffer.from('GIF89a garbage'), PRESETS.torchvision)).rejects.toBeInstanceOf(FormatError);
    await expect(loadImage(path.join(os.tmpdir(), 'no-such-file.png'), PRESETS.torchvision)).rejects.toThrow(
      /no-such-file.png/,
    );
    await expect(loadImage(await solid(20, 20, 0, 0, 0), PRESETS.torchvision, { crop: 32 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  // Once a hang (issue 11): the decoder blocked on a FIFO until someone wrote to it.
  testIf(process.platform !== 'win32', 'named pipes are POSIX')(
    'a FIFO, a directory or a device as the image: a coded error at once, no hang',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-fifo-'));
      const fifo = path.join(dir, 'image.png');
      execFileSync('mkfifo', [fifo]);
      await expect(loadImage(fifo, PRESETS.torchvision)).rejects.toThrow(
        /^image: expected a regular file, got a FIFO \(named pipe\)/,
      );
      await expect(loadImage(dir, PRESETS.torchvision)).rejects.toThrow(/got a directory/);
      await expect(loadImage('/dev/zero', PRESETS.torchvision)).rejects.toThrow(InvalidArgumentError);
      fs.rmSync(dir, { recursive: true });
    },
    10000,
  );
});

describe('evaluation protocol', () => {
  // A 3-stage VGG-style net trained on nothing: the protocol's arithmetic does not need trained weights.
  const cfg: VggConfig = {
    name: 'proto',
    inChannels: 3,
    inputSize: 32,
    stages: [[8], [8], [16]],
    fc: [16],
    numClasses: 6,
  };
  const model = Model.createSync(cfg, randomWeights(cfg, 11), { device: 'cpu' });
  const labels = ['a', 'b', 'c', 'd', 'e', 'f'];
  const clf: Classifier = { model, labels, preprocess: PRESETS.torchvision, source: 'random', ownPreprocess: false };
  afterAll(() => model.dispose());
  let image: Buffer, mirror: Buffer;
  beforeAll(async () => {
    const raw = Uint8Array.from(fillUniform(new Float32Array(64 * 48 * 3), 0, 255, 3), Math.floor);
    const img = sharp(raw, { raw: { width: 64, height: 48, channels: 3 } });
    image = await img.clone().png().toBuffer();
    mirror = await img.clone().flop().png().toBuffer();
  });

  test('flip averaging gives the same posteriors for an image and its mirror', async () => {
    const a = await classifyImage(clf, image, { flip: true, scales: [48] });
    const b = await classifyImage(clf, mirror, { flip: true, scales: [48] });
    const c = await classifyImage(clf, image, { flip: false, scales: [48] });
    expect(a.views).toBe(2);
    for (let k = 0; k < 6; k++) expect(a.probabilities[k]).toBeCloseTo(b.probabilities[k], 6);
    expect(Math.max(...a.probabilities.map((p, k) => Math.abs(p - c.probabilities[k])))).toBeGreaterThan(1e-6); // the flip mattered
    expect(a.probabilities.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 5);
  });

  test('score-map sizes at several scales Q and aspect ratios: h = floor(H/8) − 3 for this net', async () => {
    const r = await classifyImage(clf, image, { scales: [32, 48, 64, 0], keepScoreMaps: true, flip: true });
    expect(r.views).toBe(8);
    const dims = r.scoreMaps!.map((m) => [m.scale, m.flipped, ...m.map.dims]);
    // 64×48 image: Q=32 → 43×32, Q=48 → 64×48, Q=64 → 85×64, Q=0 keeps 64×48
    expect(dims).toEqual([
      [32, false, 1, 6, 1, 2],
      [32, true, 1, 6, 1, 2],
      [48, false, 1, 6, 3, 5],
      [48, true, 1, 6, 3, 5],
      [64, false, 1, 6, 5, 7],
      [64, true, 1, 6, 5, 7],
      [0, false, 1, 6, 3, 5],
      [0, true, 1, 6, 3, 5],
    ]);
  });

  test('multi-crop: a 3×3 grid of crops per scale, with flips, averages 18 views per scale', async () => {
    const r = await classifyImage(clf, image, { mode: 'fc', grid: 3, flip: true, scales: [40, 48] });
    expect(r.views).toBe(36);
    expect(r.top).toHaveLength(5);
    expect(r.top[0].probability).toBeGreaterThanOrEqual(r.top[1].probability);
  });

  test('bad protocol options', async () => {
    await expect(classifyImage(clf, image, { scales: [16] })).rejects.toThrow(/smaller than the network's 32×32/);
    await expect(classifyImage(clf, image, { scales: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(classifyImage(clf, image, { mode: 'crop' as 'fc' })).rejects.toThrow(
      /options\.mode: expected 'fc' \| 'dense' \| 'torchvision', got 'crop'/,
    );
    await expect(classifyImage(clf, image, { mode: 'fully-conv' as 'dense' })).rejects.toThrow(
      /'fully-conv' is now 'dense'/,
    );
    await expect(classifyImage(clf, image, { grid: 3 })).rejects.toThrow(/multi-crop needs mode 'fc'/);
    await expect(classifyImage({ ...clf, labels: ['a'] }, image)).rejects.toThrow(
      /the model has 6 classes, the label list has 1/,
    );
    await expect(
      classifyImage({ ...clf, preprocess: { ...PRESETS.torchvision, std: [0, 1, 1] } }, image),
    ).rejects.toThrow(/preprocess.std/);
    await expect(classifyImage({} as Classifier, image)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('labels', () => {
  test('ImageNet-1k in torchvision order', () => {
    const l = imagenetLabels();
    expect(l).toHaveLength(1000);
    expect(l[0]).toMatch(/^tench/);
    expect(l[1]).toMatch(/^goldfish/);
    expect(l[999]).toMatch(/^toilet tissue/);
    // WordNet has two synsets named just 'crane' (the bird, 134, and the machine, 517); all others differ
    expect(new Set(l).size).toBe(999);
    expect([l[134], l[517]]).toEqual(['crane', 'crane']);
  });
  test('a label list whose length differs from the classes is an error', () => {
    expect(() => checkLabels(['a', 'b'], 3)).toThrow(/the model has 3 classes, the label list has 2/);
  });
});

test('a torchvision-named safetensors file matches the same weights run by onnxruntime-node', async () => {
  const cfg: VggConfig = {
    name: 'tv',
    inChannels: 3,
    inputSize: 32,
    stages: [[8, 8], [16], [16, 16]],
    fc: [32, 32],
    numClasses: 10,
  };
  const weights = randomWeights(cfg, 5);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-tv-')), 'model.safetensors');
  try {
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (const t of torchvisionTensors(cfg, false)) {
      const w = weights[t.layer];
      tensors[t.name] = { dtype: 'F32', shape: t.shape, data: t.role === 'bias' ? w.bias : w.weight };
    }
    expect(Object.keys(tensors)).toContain('classifier.6.weight');
    writeSafetensors(file, tensors);
    const loaded = await loadWeights(file, { arch: cfg });
    expect(loaded.source).toBe('torchvision');
    const model = await Model.create(loaded.config, loaded.weights, { device: 'cpu' });
    const x = fillUniform(new Float32Array(2 * 3 * 32 * 32), -1, 1, 8);
    const ours = await model.forward(new Tensor([2, 3, 32, 32], x));
    model.dispose();
    const [ref] = await runOrt(buildOnnxBytes(cfg, weights, { style: 'fc' }), [{ dims: [2, 3, 32, 32], data: x }]);
    let d = 0,
      m = 0;
    ref.data.forEach((v, i) => {
      d = Math.max(d, Math.abs(v - ours.data[i]));
      m = Math.max(m, Math.abs(v));
    });
    console.log(`torchvision safetensors vs onnxruntime: max rel err ${(d / m).toExponential(2)}`);
    expect(d / m).toBeLessThanOrEqual(1e-4);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
});
