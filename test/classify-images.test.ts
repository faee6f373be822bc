// classifyImages: many images through the model's batcher, each result what classifyImage gives for that
// image alone; and the signal / timeoutMs of ClassifyOptions reaching every forward. The embedded MNIST
// model on real digits (samples/), pasted onto 56×56 canvases for dense evaluation.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

import {
  AbortedError,
  Classification,
  classifyImage,
  classifyImages,
  Classifier,
  FormatError,
  InvalidArgumentError,
  loadClassifier,
  Model,
  PRESETS,
  Tensor,
  TimeoutError,
  VggConfig,
} from '../lib';

const samples = path.join(__dirname, '..', 'samples');
const digits = fs
  .readdirSync(samples)
  .filter((f) => f.startsWith('digit-'))
  .sort()
  .map((f) => path.join(samples, f));

/** A 56×56 black canvas (PNG) with a 28×28 digit at (left, top). */
function canvas(digit: string, left: number, top: number): Promise<Buffer> {
  return sharp({ create: { width: 56, height: 56, channels: 3, background: '#000' } })
    .composite([{ input: digit, left, top }])
    .greyscale()
    .png()
    .toBuffer();
}

/** The same bits (not only the same values). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  const [u, v] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return u.length === v.length && u.every((w, i) => w === v[i]);
}

describe('classifyImages', () => {
  let c: Classifier;
  let canvases: Buffer[];
  beforeAll(async () => {
    c = await loadClassifier(undefined, { device: 'cpu', maxBatch: 8, maxDelayMs: 20 });
    canvases = await Promise.all(digits.map((d, i) => canvas(d, (i * 7) % 29, (i * 11) % 29)));
  });
  afterAll(() => c.model.dispose());

  test('each result equals classifyImage on that image alone, bit for bit; the forwards were batched', async () => {
    const options = { flip: true, top: 3 };
    const alone: Classification[] = [];
    for (const img of canvases) alone.push(await classifyImage(c, img, options));
    const before = c.model.stats();
    const many = await classifyImages(c, canvases, options);
    const after = c.model.stats();
    expect(many).toHaveLength(canvases.length);
    many.forEach((r, i) => {
      expect(sameBits(r.probabilities, alone[i].probabilities)).toBe(true);
      expect(r.top).toEqual(alone[i].top);
      expect(r.views).toBe(2);
    });
    // 10 canvases, one forward of 2 views each: fewer forwards than images, and no image twice
    expect(after.batchedItems - before.batchedItems).toBe(20);
    expect(after.batches - before.batches).toBeLessThan(10);
    // the digits are recognised (their label is in the file name)
    const labels = digits.map((d) => /digit-(\d)-/.exec(d)![1]);
    expect(many.filter((r, i) => r.top[0].label === labels[i]).length).toBeGreaterThanOrEqual(8);
  });

  test('an empty list gives an empty result; options are checked once, up front', async () => {
    expect(await classifyImages(c, [])).toEqual([]);
    await expect(classifyImages(c, canvases, { concurrency: 0 })).rejects.toThrow(
      /^options\.concurrency: expected an integer in \[1, 1024\], got number 0$/,
    );
    await expect(classifyImages(c, 'a.png' as unknown as string[])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(classifyImages(c, canvases, { scales: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(classifyImages(c, canvases, { batch: 2 } as object)).rejects.toThrow(
      /^options\.batch: unknown option; expected one of mode, scales, flip, grid, top, keepScoreMaps, signal, timeoutMs, failOn, fetch, maxPixels, concurrency$/,
    );
  });

  test('the first failure rejects the call and stops the rest: nothing more is computed', async () => {
    const before = c.model.stats();
    const images = [canvases[0], Buffer.from('not an image'), ...canvases.slice(1)];
    await expect(classifyImages(c, images, { concurrency: 1 })).rejects.toBeInstanceOf(FormatError);
    // one at a time: the first canvas was classified, the bad bytes failed, no later canvas started
    expect(c.model.stats().batchedItems - before.batchedItems).toBe(1);
  });

  test('an aborted signal rejects with AbortedError carrying the reason', async () => {
    const ac = new AbortController();
    ac.abort('user left');
    await expect(classifyImages(c, canvases, { signal: ac.signal })).rejects.toMatchObject({
      code: 'ERR_VGG_ABORTED',
      cause: 'user left',
    });
    await expect(classifyImage(c, canvases[0], { signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('ClassifyOptions signal and timeoutMs reach every forward', () => {
  // Wide enough that one 512×512 dense view takes a noticeable time.
  const cfg: VggConfig = {
    name: 'wide',
    inChannels: 3,
    inputSize: 32,
    stages: [[32, 32], [64]],
    fc: [32],
    numClasses: 4,
  };
  let model: Model;
  let clf: Classifier;
  let image: Buffer;
  beforeAll(async () => {
    model = await Model.random(cfg, 1, { device: 'cpu', threads: 1, maxBatch: 1 });
    clf = {
      model,
      labels: ['a', 'b', 'c', 'd'],
      preprocess: PRESETS.torchvision,
      source: 'random',
      ownPreprocess: false,
    };
    image = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#468' } })
      .png()
      .toBuffer();
  });
  afterAll(() => model.dispose());

  test('a deadline that passes while a view waits behind another forward: TimeoutError, the view never computed', async () => {
    const busy = model.forward(new Tensor([1, 3, 1280, 1280], new Float32Array(3 * 1280 * 1280)), { mode: 'dense' });
    const before = model.stats();
    // a 40×40 image decodes in a few ms (600 ms leaves room on a loaded host); its view's forward then waits
    // behind `busy` (seconds on one thread)
    const small = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#468' } })
      .png()
      .toBuffer();
    const late = classifyImage(clf, small, { scales: [0, 0], timeoutMs: 600 });
    await expect(late).rejects.toBeInstanceOf(TimeoutError);
    await expect(late).rejects.toThrow(
      /^Model\.forward \(wide\): no result within timeoutMs [\d.]+ ms; it passed while queued/,
    );
    expect(model.stats().running).toBe(1); // rejected while `busy` still computes
    await busy;
    const s = model.stats();
    expect(s.timedOut - before.timedOut).toBe(1);
    expect(s.batchedItems - before.batchedItems).toBe(0); // the view was never computed
  });

  test('a signal fired during the classification rejects it; its later views are not started', async () => {
    const ac = new AbortController();
    const before = model.stats();
    const p = classifyImage(clf, image, { scales: [0, 0, 0], signal: ac.signal });
    setTimeout(() => ac.abort(new Error('cancelled')), 20);
    const e = await p.then(
      () => null,
      (err: unknown) => err as AbortedError,
    );
    expect(e).toBeInstanceOf(AbortedError);
    expect((e!.cause as Error).message).toBe('cancelled');
    await model.forward(new Tensor([1, 3, 32, 32], new Float32Array(3 * 32 * 32))); // after the abandoned work
    expect(model.stats().batchedItems - before.batchedItems).toBeLessThanOrEqual(2); // ≤ 1 view + the probe
  });
});
