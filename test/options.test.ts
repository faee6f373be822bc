// Options bags: every public entry point reads its options the same way (lib/options.ts): null/undefined
// mean defaults, a non-object and an unknown key are InvalidArgumentErrors naming the key and the known ones;
// each model option has one parser and one default.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import {
  checkSpec,
  classifyImage,
  Classifier,
  decodeImage,
  DecodedImage,
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
  summary,
  Tensor,
  toTensor,
  VggConfig,
} from '../lib';
import { buildOnnxBytes } from './support/onnx-graph';

const tiny: VggConfig = { name: 'opts', inChannels: 3, inputSize: 16, stages: [[4], [8]], fc: [8], numClasses: 3 };
const MODEL_KEYS =
  'device, threads, isa, precision, convAlgorithm, memoryBudget, cudaGraphs, maxQueue, maxBatch, maxDelayMs';

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
    model = await Model.create(tiny, weights, { device: 'cpu' });
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
      'options.mdoe: unknown option; expected one of mode, outputs, signal, timeoutMs, outputLocation',
    );
    expect(await invalid(() => model.forwardSync(x(), { device: 'cpu' } as object))).toBe(
      'options.device: unknown option; expected one of mode, outputs, signal, timeoutMs, outputLocation',
    );
  });
  test('classifyImage (ClassifyOptions)', async () => {
    expect(await invalid(() => classifyImage(clf(), image, { flips: true } as object))).toBe(
      'options.flips: unknown option; expected one of mode, scales, flip, grid, top, keepScoreMaps, signal, timeoutMs, failOn, fetch, maxPixels',
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
      'options.shorter: unknown option; expected one of shorterSide, crop, flip, failOn, fetch, maxPixels',
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
      const m = await Model.random(tiny, 1, o);
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
      memoryBudget: 'auto',
      cudaGraphs: true,
      maxQueue: 64,
      maxBatch: 8,
      maxDelayMs: 0,
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
    [{ isa: 'sse2' }, /^options\.isa: expected 'auto' \| 'scalar' \| 'avx2' \| 'avx512' \| 'neon', got 'sse2'$/],
    [{ precision: 'fp8' }, /^options\.precision: expected 'fp32' \| 'tf32' \| 'bf16' \| 'fp16', got 'fp8'$/],
    [{ precision: 32 }, /^options\.precision: .* got number 32$/],
    [
      { convAlgorithm: 'fft' },
      /^options\.convAlgorithm: expected 'auto' \| 'gemm' \| 'winograd2x2' \| 'winograd4x4' \| 'direct', got 'fft'$/,
    ],
    [
      { memoryBudget: 0 },
      /^options\.memoryBudget: expected 'auto', Infinity or a positive integer number of bytes, got number 0$/,
    ],
    [{ memoryBudget: 1.5 }, /^options\.memoryBudget: .* got number 1\.5$/],
    [{ memoryBudget: '1GB' }, /^options\.memoryBudget: .* got '1GB'$/],
    [{ cudaGraphs: 'no' }, /^options\.cudaGraphs: expected true or false, got 'no'$/],
    [{ cudaGraphs: 0 }, /^options\.cudaGraphs: expected true or false, got number 0$/],
    [{ maxQueue: 0 }, /^options\.maxQueue: expected a positive integer or Infinity, got number 0$/],
    [{ maxQueue: 2.5 }, /^options\.maxQueue: .* got number 2\.5$/],
    [{ maxQueue: '8' }, /^options\.maxQueue: .* got '8'$/],
    [
      { maxBatch: 0 },
      /^options\.maxBatch: expected an integer in \[1, 65536\] \(images per forward; 1: no batching\), got number 0$/,
    ],
    [{ maxBatch: 65537 }, /^options\.maxBatch: .* got number 65537$/],
    [{ maxBatch: Infinity }, /^options\.maxBatch: .* got number Infinity$/],
    [{ maxDelayMs: -1 }, /^options\.maxDelayMs: expected a number of ms in \[0, 10000\], got number -1$/],
    [{ maxDelayMs: NaN }, /^options\.maxDelayMs: .* got number NaN$/],
    [{ maxDelayMs: 10001 }, /^options\.maxDelayMs: .* got number 10001$/],
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

// Found by a break-it run after the options work: each once slipped through uncoded or unchecked.
describe('what a hostile caller tried', () => {
  test('options must be plain objects; inherited keys are ignored; each getter is read once', async () => {
    expect(await invalid(() => Model.random(tiny, 1, new Map() as object))).toMatch(/^options: expected an object/);
    expect(await invalid(() => Model.random(tiny, 1, new Date() as object))).toMatch(/^options: expected an object/);
    const inherited = Object.create({ device: 'bogus' }) as object;
    (await Model.random(tiny, 1, inherited)).dispose(); // the prototype's 'bogus' is not an option of this object
    let reads = 0;
    const flaky = {
      get threads() {
        return reads++ === 0 ? 1 : 1e9;
      },
    };
    const m = await Model.random(tiny, 1, flaky);
    expect(reads).toBe(1);
    m.dispose();
  });
  test('Tensor dims: holes are rejected and a getter cannot change a checked dim', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(() => new Tensor([1, , 2, 2] as number[], new Float32Array(4))).toThrow(/dims\[1\]: expected an integer/);
    let n = 0;
    const dims = [1, 3, 0, 5];
    Object.defineProperty(dims, 2, { get: () => (n++ === 0 ? 224 : 5), enumerable: true });
    const t = new Tensor(dims, new Float32Array(3 * 224 * 5));
    expect(t.dims).toEqual([1, 3, 224, 5]);
  });
  test('seeds, summary input, image flags and preprocess specs are checked', async () => {
    expect(await invalid(() => Model.random(tiny, NaN))).toMatch(/^seed: expected an integer in \[0, 2\^32\)/);
    expect(await invalid(() => randomWeights(tiny, 2 ** 40))).toMatch(/^seed:/);
    expect(await invalid(() => summary('vgg16', { input: 384 } as unknown as number))).toMatch(
      /^input: expected a size or \[height, width\]/,
    );
    const digit = 'samples/digit-7-1401.png';
    expect(await invalid(() => decodeImage(digit, 'grey', { flip: 'yes' as unknown as boolean }))).toMatch(
      /^options\.flip: expected a boolean/,
    );
    expect(await invalid(() => loadImage(digit, null as unknown as typeof PRESETS.torchvision))).toMatch(
      /^preprocess:/,
    );
    const grey = { colorSpace: 'grey' as const, scale: 1, mean: [0], std: [1] };
    expect(await invalid(() => loadImage(digit, { ...grey, meen: 0 } as typeof grey))).toMatch(/^preprocess\.meen:/);
    const img: DecodedImage = { width: 1, height: 1, channels: 3, pixels: new Uint8Array(3) as DecodedImage['pixels'] };
    expect(await invalid(() => toTensor(img, { colorSpace: 'rgb', scale: 1, mean: [0], std: [1] }))).toMatch(
      /^preprocess\.mean: expected 3 finite numbers/,
    );
    expect(await invalid(() => toTensor(img, { ...checkSpec(PRESETS.torchvision, 3), std: [0, 1, 1] }))).toMatch(
      /^preprocess\.std:/,
    );
  });
});
