// Image inputs as users hold them: paths, file: URLs, Buffer / Uint8Array / ArrayBuffer, http(s) URLs fetched
// from a real local HTTP server within size, time and redirect limits; unsupported schemes; damaged JPEGs
// (options.failOn); 1-channel crops.
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import sharp from 'sharp';

import {
  Classifier,
  classifyImage,
  classifyImages,
  decodeImage,
  FetchError,
  FormatError,
  ImageTooLargeError,
  InvalidArgumentError,
  loadClassifier,
  MAX_INPUT_PIXELS,
  loadImage,
  UnsupportedError,
} from '../lib';
import { corruptJpeg } from './support/damaged-jpeg';

const photo = path.join(__dirname, 'fixtures', 'photos', 'rocket.jpg');
const digit = path.join(__dirname, '..', 'samples', 'digit-7-1401.png');
const GREY = { colorSpace: 'grey' as const, scale: 1 / 255, mean: [0], std: [1] };

/** The rejection of a promise (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; reason?: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('inputs other than a path', () => {
  const jpeg = fs.readFileSync(photo);
  let want: Uint8Array;
  beforeAll(async () => {
    want = (await decodeImage(photo, 'rgb', { shorterSide: 64 })).pixels;
  });

  test('Buffer, Uint8Array (a view with an offset), ArrayBuffer, file: URL string and URL object decode alike', async () => {
    const padded = new Uint8Array(jpeg.length + 7);
    padded.set(jpeg, 7);
    const ab = jpeg.buffer.slice(jpeg.byteOffset, jpeg.byteOffset + jpeg.length) as ArrayBuffer;
    for (const input of [jpeg, padded.subarray(7), ab, pathToFileURL(photo).href, pathToFileURL(photo)]) {
      const got = await decodeImage(input, 'rgb', { shorterSide: 64 });
      expect(got.pixels).toEqual(want);
    }
  });

  test('unsupported URL schemes say so (UnsupportedError), a missing file says so, other values are named', async () => {
    for (const url of ['ftp://example.invalid/a.jpg', 's3://bucket/key.jpg', 'data:image/png;base64,AAAA']) {
      const e = await rejection(decodeImage(url, 'rgb'));
      expect(e).toBeInstanceOf(UnsupportedError);
      expect(e.message).toMatch(/^image: unsupported: (ftp|s3|data): URL/);
    }
    const missing = path.join(os.tmpdir(), 'vggnet-no-such-image.jpg');
    const e = await rejection(loadImage(missing, GREY));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toBe(`image: no such file: ${missing}`);
    expect((await rejection(decodeImage(42 as never, 'rgb'))).message).toMatch(
      /^image: expected a file path, a URL \(http:, https:, file:\), a Buffer, a Uint8Array or an ArrayBuffer, got/,
    );
    expect((await rejection(decodeImage(new Uint8Array(0), 'rgb'))).message).toMatch(/got 0 bytes/);
    // A POSIX file name with a colon is a path, not a URL.
    expect((await rejection(decodeImage('no:such.png', 'rgb'))).message).toBe('image: no such file: no:such.png');
  });
});

describe('http(s) URLs, from a real local server', () => {
  const jpeg = fs.readFileSync(photo);
  let server: http.Server;
  let base: string;
  const open = new Set<import('net').Socket>();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const hop = Number(url.searchParams.get('n') ?? 0);
      switch (url.pathname) {
        case '/photo.jpg':
          res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
          return res.end(jpeg);
        case '/redirect': // n more hops, then the photo
          res.writeHead(302, { location: hop > 0 ? `/redirect?n=${hop - 1}` : '/photo.jpg' });
          return res.end();
        case '/loop':
          res.writeHead(301, { location: '/loop' });
          return res.end();
        case '/to-ftp':
          res.writeHead(307, { location: 'ftp://example.invalid/a.jpg' });
          return res.end();
        case '/chunked': // no Content-Length: the limit is found while reading
          res.writeHead(200, { 'content-type': 'image/jpeg' });
          res.write(jpeg);
          return res.end(jpeg);
        case '/stall': // headers, part of the body, then nothing
          res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
          return res.write(jpeg.subarray(0, 100));
        default:
          res.writeHead(404, { 'content-type': 'text/plain' });
          return res.end('not here');
      }
    });
    server.on('connection', (s) => {
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  });

  test('a fetched image decodes as the file does; redirects are followed up to the limit', async () => {
    const want = await decodeImage(photo, 'rgb', { shorterSide: 48 });
    for (const url of [`${base}/photo.jpg`, new URL(`${base}/redirect?n=4`)]) {
      const got = await decodeImage(url, 'rgb', { shorterSide: 48 });
      expect(got.pixels).toEqual(want.pixels);
    }
    const e = await rejection(decodeImage(`${base}/redirect?n=2`, 'rgb', { fetch: { maxRedirects: 2 } }));
    expect(e).toBeInstanceOf(FetchError);
    expect([e.code, e.reason]).toEqual(['ERR_VGG_FETCH', 'redirects']);
    expect((await rejection(decodeImage(`${base}/loop`, 'rgb'))).message).toMatch(/more than 5 redirects/);
    expect((await rejection(decodeImage(`${base}/to-ftp`, 'rgb'))).message).toMatch(/redirected to a ftp: URL/);
  });

  test('HTTP errors, too large (declared or streamed), too slow: FetchError with its reason', async () => {
    const notFound = await rejection(decodeImage(`${base}/missing.jpg`, 'rgb'));
    expect([notFound.constructor, notFound.reason, notFound.status]).toEqual([FetchError, 'http-status', 404]);
    expect(notFound.message).toBe(`image ${base}/missing.jpg: HTTP 404 Not Found`);
    const declared = await rejection(decodeImage(`${base}/photo.jpg`, 'rgb', { fetch: { maxBytes: 1000 } }));
    expect([declared.reason, declared.message]).toEqual([
      'too-large',
      `image ${base}/photo.jpg: expected at most 1000 bytes (fetch.maxBytes), got Content-Length ${jpeg.length}`,
    ]);
    const streamed = await rejection(decodeImage(`${base}/chunked`, 'rgb', { fetch: { maxBytes: jpeg.length + 10 } }));
    expect(streamed.reason).toBe('too-large');
    const slow = await rejection(decodeImage(`${base}/stall`, 'rgb', { fetch: { timeoutMs: 300 } }));
    expect([slow.reason, slow.message]).toEqual([
      'timeout',
      `image ${base}/stall: no complete answer within 300 ms (fetch.timeoutMs)`,
    ]);
    const refused = await rejection(decodeImage('http://127.0.0.1:1/a.jpg', 'rgb'));
    expect(refused.reason).toBe('network');
    expect((await rejection(decodeImage(`${base}/photo.jpg`, 'rgb', { fetch: { maxBytes: 0 } }))).message).toMatch(
      /^options\.fetch\.maxBytes: expected an integer in \[1, /,
    );
  });

  test('classifyImage and classifyImages take URLs, bytes and paths alike; timeoutMs bounds the fetch', async () => {
    const c: Classifier = await loadClassifier(undefined, { device: 'cpu' });
    try {
      const byPath = await classifyImage(c, photo, { scales: [40] });
      const byUrl = await classifyImage(c, `${base}/redirect?n=1`, { scales: [40] });
      expect(byUrl.probabilities).toEqual(byPath.probabilities);
      const all = await classifyImages(c, [photo, new URL(`${base}/photo.jpg`), jpeg, new Uint8Array(jpeg)], {
        scales: [40],
      });
      for (const r of all) expect(r.probabilities).toEqual(byPath.probabilities);
      const late = await rejection(classifyImage(c, `${base}/stall`, { scales: [40], timeoutMs: 300 }));
      expect(late.code).toBe('ERR_VGG_TIMEOUT');
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(new Error('enough')), 100);
      expect((await rejection(classifyImage(c, `${base}/stall`, { scales: [40], signal: ctl.signal }))).code).toBe(
        'ERR_VGG_ABORTED',
      );
    } finally {
      c.model.dispose();
    }
  });
});

describe('images over options.maxPixels', () => {
  test('refused from the header (ImageTooLargeError, an InvalidArgumentError), with the size it states', async () => {
    // 6000×5000 = 30 M pixels in a few kB of PNG: decoded, 90 MB of RGB.
    const big = await sharp({ create: { width: 6000, height: 5000, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const e = await rejection(decodeImage(big, 'rgb', { maxPixels: 4096 * 4096 }));
    expect(e).toBeInstanceOf(ImageTooLargeError);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.code).toBe('ERR_VGG_INVALID_ARGUMENT');
    expect(e.message).toBe(
      'buffer: expected an image of at most 16777216 pixels (maxPixels), got 6000×5000 = 30000000',
    );
    expect([(e as ImageTooLargeError).width, (e as ImageTooLargeError).height]).toEqual([6000, 5000]);
    // At the limit exactly it decodes; the default limit is MAX_INPUT_PIXELS.
    expect((await decodeImage(digit, 'grey', { maxPixels: 28 * 28 })).width).toBe(28);
    expect(await rejection(decodeImage(digit, 'grey', { maxPixels: 28 * 28 - 1 }))).toBeInstanceOf(ImageTooLargeError);
    expect((await decodeImage(big, 'rgb')).width).toBe(6000);
    for (const bad of [0, 1.5, MAX_INPUT_PIXELS + 1, '100'])
      expect((await rejection(decodeImage(digit, 'grey', { maxPixels: bad as never }))).message).toMatch(
        /^options\.maxPixels: expected an integer in \[1, 268435456\], got/,
      );
  });

  test('classifyImage takes maxPixels too', async () => {
    const c = await loadClassifier(undefined, { device: 'cpu' });
    try {
      expect(await rejection(classifyImage(c, digit, { maxPixels: 100 }))).toBeInstanceOf(ImageTooLargeError);
      expect((await classifyImage(c, digit, { maxPixels: 784 })).top[0].label).toBe('7');
    } finally {
      c.model.dispose();
    }
  });
});

describe('damaged images (options.failOn)', () => {
  const jpeg = fs.readFileSync(photo);

  test("corrupt entropy-coded data is a FormatError by default ('warning'); failOn 'none' decodes it", async () => {
    const bad = corruptJpeg(jpeg);
    const e = await rejection(decodeImage(bad, 'rgb'));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(
      /^buffer: damaged image data \(.*Corrupt JPEG data.*\); options\.failOn 'warning' refuses it/,
    );
    // 'error' (vggnet's level before issue 10) let it through: the decoder only warns.
    expect((await decodeImage(bad, 'rgb', { failOn: 'error' })).width).toBe(640);
    expect((await decodeImage(bad, 'rgb', { failOn: 'none' })).width).toBe(640);
  });

  test("a truncated JPEG is refused from 'truncated' on, decoded with 'none'", async () => {
    const cut = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
    for (const failOn of ['truncated', 'error', 'warning'] as const)
      expect(await rejection(decodeImage(cut, 'rgb', { failOn }))).toBeInstanceOf(FormatError);
    expect((await decodeImage(cut, 'rgb', { failOn: 'none' })).height).toBe(427);
    expect((await rejection(decodeImage(cut, 'rgb', { failOn: 'some' as never }))).message).toBe(
      "options.failOn: expected 'none' | 'truncated' | 'error' | 'warning', got 'some'",
    );
  });

  test('classifyImage refuses a damaged image unless failOn says otherwise', async () => {
    const c = await loadClassifier(undefined, { device: 'cpu' });
    try {
      const bad = corruptJpeg(jpeg);
      expect(await rejection(classifyImage(c, bad, { scales: [40] }))).toBeInstanceOf(FormatError);
      expect((await classifyImage(c, bad, { scales: [40], failOn: 'none' })).views).toBe(1);
    } finally {
      c.model.dispose();
    }
  });
});

describe('1-channel models', () => {
  test('decodeImage / loadImage with a crop give 1 channel (once "decoded to 28×28×3, expected 28×28×1")', async () => {
    const rgb = await sharp(photo).resize(60, 40).png().toBuffer();
    for (const input of [digit, rgb]) {
      const d = await decodeImage(input, 'grey', { shorterSide: 30, crop: 28 });
      expect([d.width, d.height, d.channels, d.pixels.length]).toEqual([28, 28, 1, 784]);
      expect((await loadImage(input, GREY, { crop: 28 })).dims).toEqual([1, 1, 28, 28]);
    }
  });

  test("RGB to grey is PIL's convert('L'): (19595 R + 38470 G + 7471 B + 2^15) >> 16", async () => {
    const px = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 90]);
    const png = await sharp(px, { raw: { width: 4, height: 1, channels: 3 } })
      .png()
      .toBuffer();
    const g = await decodeImage(png, 'grey');
    expect([...g.pixels]).toEqual([76, 150, 29, 131]);
  });
});
