// Options bags: every public entry point reads its options the same way (lib/options.ts): null/undefined
// mean defaults, a non-object and an unknown key are InvalidArgumentErrors naming the key and the known ones;
// each model option has one parser and one default.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import {
  classifyImage,
  Classifier,
  decodeImage,
  DEFAULT_MODEL_OPTIONS,
  defaultWeightsPath,
  importOnnx,
  InvalidArgumentError,
  loadClassifier,
  loadImage,
  loadWeights,
  Model,
  PRESETS,
  randomWeights,
  saveWeights,
  Tensor,
  VggConfig,
} from '../lib';
import { buildOnnxBytes } from './support/onnx-graph';

const tiny: VggConfig = { name: 'opts', inChannels: 3, inputSize: 16, stages: [[4], [8]], fc: [8], numClasses: 3 };
const MODEL_KEYS = 'device, threads, isa, precision, convAlgorithm';

/** The InvalidArgumentError a call throws (or rejects with), for its message. */
async function invalid(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return (e as Error).message;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('unknown keys are rejected on every entry point, naming the key and the known ones', () => {
  const weights = randomWeights(tiny, 1);
  let model: Model;
  let image: Buffer;
  let dir: string;
  beforeAll(async () => {
    model = Model.create(tiny, weights, { device: 'cpu' });
    image = await sharp({ create: { width: 20, height: 16, channels: 3, background: '#804020' } })
      .png()
      .toBuffer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-options-'));
  });
  afterAll(() => {
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const x = () => new Tensor([1, 3, 16, 16], new Float32Array(3 * 16 * 16));
  const clf = (): Classifier => ({
    model,
    labels: ['a', 'b', 'c'],
    preprocess: PRESETS.torchvision,
    source: 'test',
    ownPreprocess: false,
  });

  test('Model.create / Model.random (ModelOptions)', async () => {
    expect(await invalid(() => Model.create(tiny, weights, { devcie: 'cuda' } as object))).toBe(
      `options.devcie: unknown option; expected one of ${MODEL_KEYS}`,
    );
    expect(await invalid(() => Model.random(tiny, 1, { thread: 2 } as object))).toBe(
      `options.thread: unknown option; expected one of ${MODEL_KEYS}`,
    );
  });
  test('Model.forward / forwardSync (ForwardOptions)', async () => {
    expect(await invalid(() => model.forward(x(), { mdoe: 'dense' } as object))).toBe(
      'options.mdoe: unknown option; expected one of mode',
    );
    expect(await invalid(() => model.forwardSync(x(), { device: 'cpu' } as object))).toBe(
      'options.device: unknown option; expected one of mode',
    );
  });
  test('classifyImage (ClassifyOptions)', async () => {
    expect(await invalid(() => classifyImage(clf(), image, { flips: true } as object))).toBe(
      'options.flips: unknown option; expected one of mode, scales, flip, grid, top, keepScoreMaps',
    );
  });
  test('loadClassifier (LoadOptions = ModelOptions + arch, preprocess, labels), before reading the file', async () => {
    const missing = path.join(dir, 'no-such.safetensors');
    expect(await invalid(() => loadClassifier(missing, { lables: ['a'] } as object))).toBe(
      `options.lables: unknown option; expected one of ${MODEL_KEYS}, arch, preprocess, labels`,
    );
    expect(await invalid(() => loadClassifier(missing, { threads: -1 }))).toMatch(
      /^options\.threads: expected an integer in \[0, 1024\]/,
    );
  });
  test('decodeImage / loadImage (ImageOptions) and the preprocessing spec', async () => {
    expect(await invalid(() => decodeImage(image, 'rgb', { shorter: 8 } as object))).toBe(
      'options.shorter: unknown option; expected one of shorterSide, crop, flip',
    );
    expect(await invalid(() => loadImage(image, PRESETS.caffe, { crop: 8, mirror: true } as object))).toMatch(
      /^options\.mirror: unknown option/,
    );
    expect(await invalid(() => loadImage(image, PRESETS.caffe, 8 as unknown as object))).toBe(
      'options: expected an object, got number 8',
    );
    const spec = { ...PRESETS.torchvision, colourSpace: 'rgb' };
    expect(await invalid(() => classifyImage({ ...clf(), preprocess: spec }, image))).toBe(
      'preprocess.colourSpace: unknown option; expected one of colorSpace, scale, mean, std',
    );
  });
  test('loadWeights / importOnnx (LoadWeightsOptions) and saveWeights (SaveWeightsOptions)', async () => {
    const file = path.join(dir, 'tiny.safetensors');
    saveWeights(file, tiny, weights);
    expect(await invalid(() => loadWeights(file, { architecture: 'vgg11' } as object))).toBe(
      'options.architecture: unknown option; expected one of arch',
    );
    expect(
      await invalid(() => importOnnx(buildOnnxBytes(tiny, weights, { style: 'fc' }), { archh: tiny } as object)),
    ).toMatch(/^options\.archh: unknown option/);
    expect(await invalid(() => saveWeights(file, tiny, weights, { dtype: 'F16', label: ['a'] } as object))).toBe(
      'options.label: unknown option; expected one of dtype, labels, preprocess',
    );
  });
});

describe('null, undefined and non-objects', () => {
  test('null and undefined mean the defaults', async () => {
    for (const o of [null, undefined]) {
      const m = Model.random(tiny, 1, o);
      expect(m.info().convAlgorithms.every((a) => a.algorithm === 'gemm')).toBe(true); // no layer has C, K ≥ 64
      expect((await m.forward(new Tensor([1, 3, 16, 16], new Float32Array(768)), o)).dims).toEqual([1, 3]);
      m.dispose();
    }
    expect((await loadWeights(defaultWeightsPath(), null)).config.name).toBe('mnist-vgg');
  });
  test('a string, a number, an array or a typed array is not an options object', async () => {
    expect(await invalid(() => Model.random(tiny, 1, 'cpu' as unknown as object))).toBe(
      "options: expected an object, got 'cpu'",
    );
    expect(await invalid(() => Model.random(tiny, 1, ['cpu'] as object))).toBe(
      'options: expected an object, got Array',
    );
    expect(await invalid(() => loadWeights(defaultWeightsPath(), 3 as unknown as object))).toBe(
      'options: expected an object, got number 3',
    );
    expect(await invalid(() => decodeImage(Buffer.alloc(1), 'rgb', new Uint8Array(2) as object))).toBe(
      'options: expected an object, got Uint8Array',
    );
  });
});

describe('one parser and one default per model option', () => {
  test('the defaults, in one place', () => {
    expect(DEFAULT_MODEL_OPTIONS).toEqual({
      device: 'auto',
      threads: 0,
      isa: 'auto',
      precision: 'tf32',
      convAlgorithm: 'auto',
    });
    expect(Object.isFrozen(DEFAULT_MODEL_OPTIONS)).toBe(true);
  });
  test.each([
    [{ device: 'gpu' }, /^options\.device: expected 'auto' \| 'cpu' \| 'cuda' \| 'cuda:N' \| 'reference', got 'gpu'$/],
    [{ device: 'cuda:1234' }, /^options\.device: .* got 'cuda:1234'$/],
    [
      { threads: 1.5 },
      /^options\.threads: expected an integer in \[0, 1024\] \(0: every hardware thread\), got number 1\.5$/,
    ],
    [{ threads: 1025 }, /^options\.threads: .* got number 1025$/],
    [{ isa: 'sse2' }, /^options\.isa: expected 'auto' \| 'scalar' \| 'avx2' \| 'avx512', got 'sse2'$/],
    [{ precision: 'fp8' }, /^options\.precision: expected 'fp32' \| 'tf32' \| 'bf16' \| 'fp16', got 'fp8'$/],
    [{ precision: 32 }, /^options\.precision: .* got number 32$/],
    [
      { convAlgorithm: 'fft' },
      /^options\.convAlgorithm: expected 'auto' \| 'gemm' \| 'winograd2x2' \| 'winograd4x4' \| 'direct', got 'fft'$/,
    ],
  ])('%j is rejected in JS, naming option, expected and got', async (o, re) => {
    expect(await invalid(() => Model.random(tiny, 1, o as object))).toMatch(re);
    expect(await invalid(() => loadClassifier(defaultWeightsPath(), o as object))).toMatch(re); // the same parser
  });
  test('loadClassifier passes the model options through', async () => {
    const c = await loadClassifier(undefined, { device: 'cpu', threads: 1, convAlgorithm: 'gemm', arch: undefined });
    expect(c.model.device).toBe('cpu');
    expect(c.model.info().convAlgorithms.every((a) => a.algorithm === 'gemm')).toBe(true);
    c.model.dispose();
  });
});
