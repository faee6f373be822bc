// `vggnet serve`: a real server on 127.0.0.1 (port 0) over the embedded MNIST model, real HTTP requests (fetch,
// node:http), real images; and the command itself as a child process for the graceful shutdown.
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { spawnSync } from 'child_process';

import sharp from 'sharp';

import { Classifier, loadClassifier, LoadOptions, loadImage, softmax, Tensor } from '../lib';
import { packageRoot } from '../lib/native';
import { buildServer, VggServer } from '../lib/serve';
import { corruptJpeg } from './support/damaged-jpeg';
import { Answer, heldPost, parsePrometheus, post, request, sample, startServe } from './support/http';

const root = packageRoot();
const digit7 = fs.readFileSync(path.join(root, 'samples', 'digit-7-1401.png'));
const digit3 = fs.readFileSync(path.join(root, 'samples', 'digit-3-623.png'));

/** An error answer: the status, JSON {error, code} with the code, never a 5xx. */
function expectError(a: Answer, status: number, code: string): void {
  expect({ status: a.status, code: a.body?.code }).toEqual({ status, code });
  expect(typeof a.body.error).toBe('string');
  expect(a.headers.get('content-type')).toMatch(/^application\/json/);
}

/** A KServe inference request for input tensors [N, 1, H, W]. */
function inferBody(dims: number[], data: ArrayLike<number>, extra: object = {}): string {
  return JSON.stringify({
    inputs: [{ name: 'input', datatype: 'FP32', shape: dims, data: Array.from(data) }],
    ...extra,
  });
}

describe('a server over the embedded MNIST model', () => {
  let server: VggServer;
  let url: string;
  let classifier: Classifier;

  beforeAll(async () => {
    server = buildServer({});
    url = await server.listen(0, '127.0.0.1');
  });
  afterAll(() => server.shutdown());

  test('before the model is attached: live, not ready, inference refused with 503 + Retry-After', async () => {
    expect(server.state).toBe('loading');
    expect((await request(`${url}/v2/health/live`)).body).toEqual({ live: true });
    const ready = await request(`${url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, code: 'ERR_VGG_BUSY' });
    const c = await post(`${url}/v1/classify`, digit7, 'image/png');
    expectError(c, 503, 'ERR_VGG_BUSY');
    expect(c.headers.get('retry-after')).toBe('1');
    expectError(await request(`${url}/v2/models/mnist-vgg`), 503, 'ERR_VGG_BUSY');
    const m = parsePrometheus((await request(`${url}/metrics`)).text).samples;
    expect(sample(m, 'vggnet_model_ready')).toBe(0);

    classifier = await loadClassifier();
    expect(server.attach(classifier)).toBe(true);
    expect(server.state).toBe('ready');
    expect(await request(`${url}/v2/health/ready`)).toMatchObject({ status: 200, body: { ready: true } });
  });

  describe('POST /v1/classify', () => {
    test('a raw PNG body: top-5 by default, highest first, the right digit', async () => {
      const a = await post(`${url}/v1/classify`, digit7, 'image/png');
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({ model: 'mnist-vgg', views: 1, mode: 'dense', flip: false });
      const p = a.body.predictions as { index: number; label: string; probability: number }[];
      expect(p).toHaveLength(5);
      expect(p[0]).toMatchObject({ index: 7, label: '7' });
      for (let i = 1; i < p.length; i++) expect(p[i].probability).toBeLessThanOrEqual(p[i - 1].probability);
      expect(p.reduce((s, x) => s + x.probability, 0)).toBeLessThanOrEqual(1 + 1e-6);
    });

    test('application/octet-stream, multipart field `image`, and the query top, mode, flip', async () => {
      const raw = await post(`${url}/v1/classify?top=1`, digit3, 'application/octet-stream');
      expect(raw.body.predictions).toEqual([expect.objectContaining({ index: 3 })]);
      const form = new FormData();
      form.append('note', 'ignored');
      form.append('image', new Blob([new Uint8Array(digit3)], { type: 'image/png' }), 'digit.png');
      const mp = await request(`${url}/v1/classify?top=2&mode=fc&flip=true`, { method: 'POST', body: form });
      expect(mp.status).toBe(200);
      expect(mp.body).toMatchObject({ mode: 'fc', flip: true, views: 2 });
      expect(mp.body.predictions).toHaveLength(2);
      expect(mp.body.predictions[0].index).toBe(3);
    });

    test('wrong content types are 415 ERR_VGG_UNSUPPORTED', async () => {
      for (const type of ['text/plain', 'application/json', 'application/x-www-form-urlencoded', undefined])
        expectError(
          await post(`${url}/v1/classify`, type === 'application/json' ? '{}' : 'abc', type),
          415,
          'ERR_VGG_UNSUPPORTED',
        );
    });

    test('bad bodies are 4xx with the code: 0 bytes, truncated, not an image, too few or too many pixels', async () => {
      expectError(await post(`${url}/v1/classify`, new Uint8Array(0), 'image/png'), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await post(`${url}/v1/classify`, digit7.subarray(0, 100), 'image/png'), 400, 'ERR_VGG_FORMAT');
      expectError(await post(`${url}/v1/classify`, digit7.subarray(0, 20), 'image/png'), 400, 'ERR_VGG_FORMAT');
      expectError(
        await post(`${url}/v1/classify`, Buffer.from('GIF89a but not really'), 'image/gif'),
        400,
        'ERR_VGG_FORMAT',
      );
      const tiny = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#000' } })
        .png()
        .toBuffer();
      expectError(await post(`${url}/v1/classify`, tiny, 'image/png'), 400, 'ERR_VGG_INVALID_ARGUMENT');
      // 5000×4000 = 20 M pixels > 4096² (a few kB of PNG that would decode to 60 MB): refused from its header.
      const huge = await sharp({ create: { width: 5000, height: 4000, channels: 3, background: '#000' } })
        .png()
        .toBuffer();
      expect(huge.length).toBeLessThan(1 << 20);
      const h = await post(`${url}/v1/classify`, huge, 'image/png');
      expectError(h, 413, 'ERR_VGG_INVALID_ARGUMENT');
      expect(h.body.error).toMatch(/5000×4000/);
    });

    test('bad multipart bodies: no `image` field 400, malformed 400 ERR_VGG_FORMAT', async () => {
      const form = new FormData();
      form.append('picture', new Blob([new Uint8Array(digit7)]), 'digit.png');
      expectError(await request(`${url}/v1/classify`, { method: 'POST', body: form }), 400, 'ERR_VGG_INVALID_ARGUMENT');
      const broken = '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n\x89PNG';
      expectError(await post(`${url}/v1/classify`, broken, 'multipart/form-data; boundary=xyz'), 400, 'ERR_VGG_FORMAT');
      expectError(await post(`${url}/v1/classify`, broken, 'multipart/form-data'), 400, 'ERR_VGG_FORMAT');
    });

    test('bad query parameters are 400 naming the parameter', async () => {
      for (const q of ['top=0', 'top=11', 'top=abc', 'mode=fully-conv', 'flip=maybe', 'scales=256', 'top=1&top=2']) {
        const a = await post(`${url}/v1/classify?${q}`, digit7, 'image/png');
        expectError(a, 400, 'ERR_VGG_INVALID_ARGUMENT');
        expect(a.body.error).toMatch(new RegExp(`^query\\.${q.split('=')[0]}`));
      }
    });
  });

  describe('KServe v2', () => {
    test('server and model metadata; an unknown model is a 404', async () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
      expect((await request(`${url}/v2`)).body).toEqual({ name: 'vggnet', version: pkg.version, extensions: [] });
      const m = await request(`${url}/v2/models/mnist-vgg`);
      expect(m.status).toBe(200);
      expect(m.body).toMatchObject({
        name: 'mnist-vgg',
        platform: 'vggnet',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, -1, -1] }],
        outputs: expect.arrayContaining([
          { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
          { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
          { name: 'pool2', datatype: 'FP32', shape: [-1, -1, -1, -1] },
          { name: 'fc7', datatype: 'FP32', shape: [-1, 128] },
        ]),
        parameters: { architecture: 'mnist-vgg', input_size: 28, num_classes: 10 },
      });
      expect(m.body.outputs.map((o: { name: string }) => o.name).slice(0, 3)).toEqual([
        'logits',
        'probabilities',
        'conv1_1',
      ]);
      expect(await request(`${url}/v2/models/mnist-vgg/ready`)).toMatchObject({
        status: 200,
        body: { name: 'mnist-vgg', ready: true },
      });
      expectError(await request(`${url}/v2/models/vgg16`), 404, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await request(`${url}/v2/models/vgg16/ready`), 404, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(
        await post(`${url}/v2/models/vgg16/infer`, '{}', 'application/json'),
        404,
        'ERR_VGG_INVALID_ARGUMENT',
      );
      expectError(await request(`${url}/v3/nothing`), 404, 'ERR_VGG_INVALID_ARGUMENT');
    });

    test('infer: logits equal the model forward bit for bit, probabilities their softmax; flat or nested data', async () => {
      const x7 = await loadImage(digit7, classifier.preprocess);
      const x3 = await loadImage(digit3, classifier.preprocess);
      const x = new Tensor([2, 1, 28, 28], new Float32Array([...x7.data, ...x3.data]));
      const want = (await classifier.model.forward(x, { mode: 'fc' })).data;
      const a = await post(
        `${url}/v2/models/mnist-vgg/infer`,
        inferBody([2, 1, 28, 28], x.data, { id: 'r1' }),
        'application/json',
      );
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({ model_name: 'mnist-vgg', id: 'r1', parameters: { mode: 'fc' } });
      const [logits, probs] = a.body.outputs;
      expect(logits).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [2, 10] });
      expect(Float32Array.from(logits.data)).toEqual(want);
      expect(probs).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 10] });
      const p0 = softmax(want.subarray(0, 10));
      for (let k = 0; k < 10; k++) expect(probs.data[k]).toBe(Math.fround(p0[k]));
      expect(probs.data.indexOf(Math.max(...probs.data.slice(0, 10)))).toBe(7);
      expect(probs.data.slice(10).indexOf(Math.max(...probs.data.slice(10)))).toBe(3);

      const nested = [Array.from({ length: 28 }, (_, y) => Array.from(x7.data.subarray(y * 28, y * 28 + 28)))];
      const n = await post(
        `${url}/v2/models/mnist-vgg/infer`,
        JSON.stringify({
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: [nested] }],
          outputs: [{ name: 'logits' }],
        }),
        'application/json',
      );
      expect(n.status).toBe(200);
      expect(n.body.outputs).toHaveLength(1);
      // Against a forward of the same batch size (batch invariance of the FC layers is the native side's matter).
      expect(Float32Array.from(n.body.outputs[0].data)).toEqual(
        (await classifier.model.forward(x7, { mode: 'fc' })).data,
      );
    });

    test('infer on a larger input runs dense evaluation: logits are the spatial mean of the score map', async () => {
      const x = new Tensor(
        [1, 1, 56, 56],
        new Float32Array(56 * 56).map((_, i) => (i % 13) / 13),
      );
      const map = await classifier.model.forward(x, { mode: 'dense' });
      const [, K, h, w] = map.dims;
      const a = await post(`${url}/v2/models/mnist-vgg/infer`, inferBody([1, 1, 56, 56], x.data), 'application/json');
      expect(a.status).toBe(200);
      expect(a.body.parameters.mode).toBe('dense');
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let j = 0; j < h * w; j++) s += map.data[k * h * w + j];
        expect(a.body.outputs[0].data[k]).toBe(Math.fround(s / (h * w)));
      }
      const fc = await post(
        `${url}/v2/models/mnist-vgg/infer`,
        inferBody([1, 1, 56, 56], x.data, { parameters: { mode: 'fc' } }),
        'application/json',
      );
      expectError(fc, 400, 'ERR_VGG_INVALID_ARGUMENT');
    });

    test("infer: layer outputs are the model's features from the same forward; mode 'torchvision' on any size", async () => {
      const x = new Tensor(
        [1, 1, 40, 36],
        new Float32Array(40 * 36).map((_, i) => (i % 7) / 7),
      );
      const want = await classifier.model.forward(x, { mode: 'torchvision', outputs: ['pool2', 'fc8'] });
      const a = await post(
        `${url}/v2/models/mnist-vgg/infer`,
        inferBody([1, 1, 40, 36], x.data, {
          parameters: { mode: 'torchvision' },
          outputs: [{ name: 'pool2' }, { name: 'logits' }],
        }),
        'application/json',
      );
      expect(a.status).toBe(200);
      expect(a.body.parameters.mode).toBe('torchvision');
      const [pool2, logits] = a.body.outputs;
      expect(pool2).toMatchObject({ name: 'pool2', datatype: 'FP32', shape: want.pool2.dims });
      expect(Float32Array.from(pool2.data)).toEqual(want.pool2.data);
      expect(logits).toMatchObject({ name: 'logits', shape: [1, 10] });
      expect(Float32Array.from(logits.data)).toEqual(want.fc8.data);
    });

    test('invalid infer requests are 4xx with the code, never 5xx', async () => {
      const infer = (body: string, type = 'application/json') => post(`${url}/v2/models/mnist-vgg/infer`, body, type);
      const zeros = new Array(784).fill(0);
      const input = (o: object) =>
        JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: zeros, ...o }] });
      expectError(await infer('{"inputs": [1,'), 400, 'ERR_VGG_FORMAT');
      expectError(await infer(''), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer('hello', 'text/plain'), 415, 'ERR_VGG_UNSUPPORTED');
      expectError(await infer('[]'), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer('{}'), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer('{"inputs": [], "extra": 1}'), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ name: 'image' })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ datatype: 'INT32' })), 400, 'ERR_VGG_UNSUPPORTED');
      expectError(await infer(input({ shape: [1, 784] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ shape: [1, 3, 28, 28] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ shape: [2, 1, 28, 28] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ shape: [1, 1, 14, 56] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      // A shape claiming 1.6 G elements (6.4 GB) for 784 numbers: refused before anything is allocated.
      expectError(await infer(input({ shape: [1, 1, 40000, 40000] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ shape: [1, 1, 28, 28], data: [[zeros]] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ data: [...zeros.slice(1), 'x'] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ data: [...zeros.slice(1), null] })), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(input({ parameters: { binary_data_size: 3136 } })), 400, 'ERR_VGG_UNSUPPORTED');
      const withOut = (outputs: unknown) =>
        JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: zeros }], outputs });
      expectError(await infer(withOut([{ name: 'scores' }])), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(withOut([])), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(withOut([{ name: 'pool1' }, { name: 'pool1' }])), 400, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(await infer(withOut([{ name: 'conv9_9' }])), 400, 'ERR_VGG_INVALID_ARGUMENT');
      const a = await infer(input({ data: zeros.map(() => 1e39) })); // JSON number beyond f32: becomes Infinity
      expect(a.status).toBe(200);
    });
  });

  test('/metrics is Prometheus text: process defaults, request durations by route and status, readiness', async () => {
    await post(`${url}/v1/classify`, digit7, 'image/png');
    await post(`${url}/v1/classify`, 'x', 'text/plain');
    const a = await request(`${url}/metrics`);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parsePrometheus(a.text);
    expect(sample(samples, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(types.get('vggnet_http_request_duration_seconds')).toBe('histogram');
    const ok = { route: '/v1/classify', method: 'POST', status_code: '200' };
    expect(sample(samples, 'vggnet_http_request_duration_seconds_count', ok)).toBeGreaterThanOrEqual(3);
    expect(sample(samples, 'vggnet_http_request_duration_seconds_sum', ok)).toBeGreaterThan(0);
    expect(sample(samples, 'vggnet_http_request_duration_seconds_bucket', { ...ok, le: '+Inf' })).toBe(
      sample(samples, 'vggnet_http_request_duration_seconds_count', ok),
    );
    expect(
      sample(samples, 'vggnet_http_request_duration_seconds_count', { ...ok, status_code: '415' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(samples, 'vggnet_http_request_duration_seconds_count', { route: 'unmatched' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'vggnet_model_ready')).toBe(1);
    expect(sample(samples, 'vggnet_http_requests_in_flight')).toBe(0);
    for (const name of ['queued', 'running']) expect(types.get(`vggnet_scheduler_${name}`)).toBe('gauge');
    for (const name of [
      'submitted',
      'completed',
      'failed',
      'rejected_busy',
      'aborted',
      'timed_out',
      'batches',
      'batched_images',
    ])
      expect(types.get(`vggnet_scheduler_${name}_total`)).toBe('counter');
  });

  test('/metrics carries the scheduler counters of Model.stats()', async () => {
    await post(`${url}/v1/classify`, digit7, 'image/png');
    const { samples } = parsePrometheus((await request(`${url}/metrics`)).text);
    expect(sample(samples, 'vggnet_scheduler_completed_total')).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'vggnet_scheduler_batches_total')).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'vggnet_scheduler_batched_images_total')).toBeGreaterThanOrEqual(1);
  });

  test('bodies over the limit are 413 (raw, JSON, multipart file), and the server still answers', async () => {
    const small = buildServer({ bodyLimit: 4096 });
    const u = await small.listen(0, '127.0.0.1');
    small.attach(await loadClassifier());
    try {
      expectError(await post(`${u}/v1/classify`, Buffer.alloc(5000, 1), 'image/png'), 413, 'ERR_VGG_INVALID_ARGUMENT');
      expectError(
        await post(
          `${u}/v2/models/mnist-vgg/infer`,
          inferBody([1, 1, 28, 28], new Float32Array(784)).padEnd(5000),
          'application/json',
        ),
        413,
        'ERR_VGG_INVALID_ARGUMENT',
      );
      const form = new FormData();
      form.append('image', new Blob([new Uint8Array(5000).fill(1)]), 'big.png');
      expectError(await request(`${u}/v1/classify`, { method: 'POST', body: form }), 413, 'ERR_VGG_INVALID_ARGUMENT');
      expect((await post(`${u}/v1/classify`, digit7, 'image/png')).status).toBe(200);
    } finally {
      await small.shutdown();
    }
    expect(small.state).toBe('closed');
  });
});

test('a damaged JPEG is 400 ERR_VGG_FORMAT; a server with failOn none classifies it', async () => {
  const damaged = corruptJpeg(fs.readFileSync(path.join(__dirname, 'fixtures', 'photos', 'rocket.jpg')));
  for (const failOn of [undefined, 'none'] as const) {
    const s = buildServer(failOn ? { failOn } : {});
    const u = await s.listen(0, '127.0.0.1');
    s.attach(await loadClassifier());
    try {
      const r = await post(`${u}/v1/classify`, damaged, 'image/jpeg');
      if (failOn) expect(r.status).toBe(200);
      else {
        expectError(r, 400, 'ERR_VGG_FORMAT');
        expect(r.body.error).toMatch(/damaged image data/);
      }
    } finally {
      await s.shutdown(); // disposes the model
    }
  }
  expect(() => buildServer({ failOn: 'maybe' as never })).toThrow(/^options\.failOn: expected 'none' \| 'truncated'/);
});

test('a forward over the model memory budget is 413 ERR_VGG_MEMORY_BUDGET; smaller ones still run', async () => {
  const c = await loadClassifier(undefined, { memoryBudget: 4 << 20 });
  const s = buildServer({});
  const u = await s.listen(0, '127.0.0.1');
  s.attach(c);
  try {
    const big = await post(
      `${u}/v2/models/mnist-vgg/infer`,
      inferBody([1, 1, 1024, 1024], new Uint8Array(1024 * 1024)),
      'application/json',
    );
    expectError(big, 413, 'ERR_VGG_MEMORY_BUDGET');
    expect((await post(`${u}/v1/classify`, digit7, 'image/png')).status).toBe(200);
  } finally {
    await s.shutdown();
  }
});

describe('the scheduler behind the server', () => {
  /** Occupies the model: a dense evaluation of a 2048×2048 input (0.8 s and more on two cores), submitted in-process. */
  const occupy = (c: Classifier) =>
    c.model.forward(new Tensor([1, 1, 2048, 2048], new Float32Array(2048 * 2048)), { mode: 'dense' });
  type Stats = Record<string, number>;
  const statsOf = (c: Classifier) => (c.model as unknown as { stats(): Stats }).stats();
  /** Waits until `cond` holds (polling every 5 ms, at most 10 s). */
  async function until(cond: () => boolean, what: string): Promise<void> {
    for (const t = performance.now(); !cond(); await new Promise((r) => setTimeout(r, 5)))
      if (performance.now() - t > 10000) throw new Error(`timed out waiting for ${what}`);
  }
  /** A server over a fresh MNIST classifier with these model options; stopped after `fn`. */
  async function withServer(
    modelOptions: object,
    serveOptions: object,
    fn: (url: string, c: Classifier) => Promise<void>,
  ): Promise<void> {
    const c = await loadClassifier(undefined, modelOptions as LoadOptions);
    const s = buildServer(serveOptions);
    const u = await s.listen(0, '127.0.0.1');
    s.attach(c);
    try {
      await fn(u, c);
    } finally {
      await s.shutdown();
    }
  }

  test('the event loop stays free while a forward computes: a request queues, health answers meanwhile', () =>
    withServer({ maxBatch: 1 }, {}, async (u, c) => {
      let heavyDone = false;
      const running = occupy(c).then(() => (heavyDone = true));
      await new Promise((r) => setTimeout(r, 50));
      // The server runs in this process: were its event loop held while the forward computes (e.g. by a
      // synchronous native call waiting for the network's lock), the health answer would come after it.
      const queued = post(
        `${u}/v2/models/mnist-vgg/infer`,
        inferBody([1, 1, 28, 28], new Float32Array(784)),
        'application/json',
      );
      await until(() => statsOf(c).submitted === 2, 'the second request to reach the scheduler');
      expect((await request(`${u}/v2/health/live`)).status).toBe(200);
      expect({ healthAnsweredWhileComputing: !heavyDone }).toEqual({ healthAnsweredWhileComputing: true });
      await running;
      expect((await queued).status).toBe(200);
    }));

  test('a full queue answers 503 ERR_VGG_BUSY with Retry-After at once', () =>
    withServer({ maxQueue: 1, maxBatch: 1 }, {}, async (u, c) => {
      const running = occupy(c);
      await until(() => statsOf(c).running === 1, 'the heavy forward');
      const queued = post(`${u}/v1/classify`, digit7, 'image/png');
      await until(() => statsOf(c).queued === 1, 'a queued request');
      const t = performance.now();
      const refused = await post(`${u}/v1/classify`, digit7, 'image/png');
      expect(performance.now() - t).toBeLessThan(250);
      expectError(refused, 503, 'ERR_VGG_BUSY');
      expect(refused.headers.get('retry-after')).toBe('1');
      await running;
      expect((await queued).status).toBe(200);
      // Refused at arrival (its body never read) or by the scheduler: once, in one of the two counters.
      const m = parsePrometheus((await request(`${u}/metrics`)).text).samples;
      expect(statsOf(c).rejectedBusy + sample(m, 'vggnet_http_shed_total')!).toBe(1);
    }));

  test('requests in flight count against the queue: a burst past maxQueue + maxBatch is refused unread', () =>
    withServer({ maxQueue: 2, maxBatch: 1 }, {}, async (u, c) => {
      // A request that computes for a while (dense evaluation of a 2048² image): in flight, running.
      const big = await sharp({ create: { width: 2048, height: 2048, channels: 3, background: '#000' } })
        .png()
        .toBuffer();
      const heavy = post(`${u}/v1/classify`, big, 'image/png');
      await until(() => statsOf(c).running === 1, 'the heavy request computing');
      const burst = await Promise.all(Array.from({ length: 10 }, () => post(`${u}/v1/classify`, digit7, 'image/png')));
      expect((await heavy).status).toBe(200);
      // In flight: the heavy one, then 2 more (maxQueue 2 + maxBatch 1 = 3): both queue and compute. The other
      // 8 are refused at arrival, their bodies never decoded: none reaches the scheduler to be refused there.
      const m = parsePrometheus((await request(`${u}/metrics`)).text).samples;
      expect(sample(m, 'vggnet_http_shed_total')).toBe(8);
      expect(statsOf(c).rejectedBusy).toBe(0);
      expect(burst.map((r) => r.status).sort()).toEqual([200, 200, ...Array(8).fill(503)]);
      for (const r of burst.filter((x) => x.status === 503)) expectError(r, 503, 'ERR_VGG_BUSY');
    }));

  test('uploads that never finish take no slot: requests with a body are still served', () =>
    withServer({ maxQueue: 2, maxBatch: 1 }, {}, async (u) => {
      const { hostname, port } = new URL(u);
      // 5 clients send the headers and 4 of the 279 bytes they announce, then nothing (more than the 3 slots).
      const stalled = await Promise.all(
        Array.from(
          { length: 5 },
          () =>
            new Promise<net.Socket>((resolve) => {
              const sock = net.connect(Number(port), hostname, () => {
                sock.write(
                  `POST /v1/classify HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: image/png\r\n` +
                    'Content-Length: 279\r\n\r\n\x89PNG',
                );
                resolve(sock);
              });
              sock.on('error', () => {});
            }),
        ),
      );
      try {
        await new Promise((r) => setTimeout(r, 100)); // their headers are in: each counts in flight
        for (let i = 0; i < 3; i++) expect((await post(`${u}/v1/classify`, digit7, 'image/png')).status).toBe(200);
      } finally {
        for (const sock of stalled) sock.destroy();
      }
    }));

  test('a client that disconnects drops its queued work: counted aborted, never computed', () =>
    withServer({ maxBatch: 1 }, {}, async (u, c) => {
      const running = occupy(c);
      await until(() => statsOf(c).running === 1, 'the heavy forward');
      const ac = new AbortController();
      const gone = fetch(`${u}/v2/models/mnist-vgg/infer`, {
        method: 'POST',
        body: inferBody([1, 1, 28, 28], new Float32Array(784)),
        headers: { 'content-type': 'application/json' },
        signal: ac.signal,
      }).catch((e: Error) => e.name);
      await until(() => statsOf(c).queued === 1, 'a queued request');
      ac.abort();
      expect(await gone).toBe('AbortError');
      await until(() => statsOf(c).aborted === 1, 'the abort to reach the scheduler');
      expect(statsOf(c).queued).toBe(0);
      await running;
      expect(statsOf(c).batchedItems).toBe(1); // only the heavy forward was computed
    }));

  test('a request past --timeout-ms is 503 ERR_VGG_TIMEOUT', () =>
    withServer({ maxBatch: 1 }, { timeoutMs: 100 }, async (u, c) => {
      const running = occupy(c);
      await until(() => statsOf(c).running === 1, 'the heavy forward');
      // A tensor request reaches the scheduler at once (an image's decoding could use up the 100 ms on a loaded host).
      const late = await post(
        `${u}/v2/models/mnist-vgg/infer`,
        inferBody([1, 1, 28, 28], new Float32Array(784)),
        'application/json',
      );
      expectError(late, 503, 'ERR_VGG_TIMEOUT');
      expect(late.headers.get('retry-after')).toBe('1');
      await running;
      expect(statsOf(c).timedOut).toBe(1);
    }));
});

describe('the vggnet serve command', () => {
  const cli = path.join(root, 'dist', 'cli.js');
  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\``);
  });

  test('SIGTERM: readiness false and new work refused at once, in-flight requests complete 200, exit 0', async () => {
    const s = await startServe(['--shutdown-delay-ms', '1500']);
    // Two requests in flight: headers and half of the body sent.
    const early = heldPost(`${s.url}/v1/classify`, digit7, 'image/png', 100);
    const late = heldPost(`${s.url}/v1/classify?top=1`, digit3, 'image/png', 100);
    for (let i = 0; i < 100; i++) {
      const m = parsePrometheus((await request(`${s.url}/metrics`)).text).samples;
      if (sample(m, 'vggnet_http_requests_in_flight') === 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = performance.now();
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    // During the shutdown delay the listener is open: not ready, new work refused, still live.
    const ready = await request(`${s.url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, code: 'ERR_VGG_BUSY' });
    expect((await request(`${s.url}/v2/health/live`)).status).toBe(200);
    const refused = await post(`${s.url}/v1/classify`, digit7, 'image/png');
    expectError(refused, 503, 'ERR_VGG_BUSY');
    expect(refused.headers.get('retry-after')).toBe('1');
    // One in-flight request finishes during the delay, the other after the listener closed.
    early.finish();
    const e = await early.answer;
    expect(e.status).toBe(200);
    expect(e.body.predictions[0].index).toBe(7);
    while (performance.now() - t0 < 1700) await new Promise((r) => setTimeout(r, 50));
    await expect(fetch(`${s.url}/v2/health/live`)).rejects.toThrow(); // the listener is closed
    late.finish();
    const l = await late.answer;
    expect(l.status).toBe(200);
    expect(l.body.predictions).toEqual([expect.objectContaining({ index: 3 })]);
    expect(await s.exit).toBe(0);
    expect(s.stdout()).toMatch(/vggnet serve: stopped\n$/);
    expect(s.stderr()).toMatch(/SIGTERM: shutting down/);
  });

  test('SIGINT with nothing in flight exits 0; --name names the model', async () => {
    const s = await startServe(['--name', 'digits', '--threads', '1']);
    expect((await request(`${s.url}/v2/models/digits/ready`)).status).toBe(200);
    s.child.kill('SIGINT');
    expect(await s.exit).toBe(0);
  });

  test('bad flags and a failing load exit 1 with one line on stderr', () => {
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [cli, 'serve', '--port', '0', ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60000,
      });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const missing = run('--weights', 'no-such.safetensors');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^vggnet: ERR_VGG_\w+: .*no-such\.safetensors/m);
    const both = run('--random', 'vgg16', '--weights', 'x.safetensors');
    expect(both.code).toBe(1);
    expect(both.err.trim().split('\n')).toHaveLength(1);
    expect(both.err).toMatch(/--random/);
    expect(run('--port', 'abc').code).not.toBe(0);
    expect(run('--port', '70000').code).not.toBe(0);
    expect(run('--max-batch', '0').code).not.toBe(0);
    expect(run('--device', 'gpu').code).toBe(1);
  });
});
