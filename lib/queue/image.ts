/**
 * The worker's side of JobImage: what classifyImage takes (a path or the encoded bytes) from the bytes in the
 * job, a path on the worker's filesystem, or a URL the worker fetches. Every limit is checked before bytes are
 * held: a job never makes a worker read more than `maxImageBytes`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';

import { BusyError, InvalidArgumentError, TimeoutError } from '../index';
import { JobImage } from './job';

export interface ImageLimits {
  /** Largest encoded image, bytes. */
  maxImageBytes: number;
  /** Deadline of an http(s) download, ms. */
  fetchTimeoutMs: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decoded size of a base64 string of `n` characters with `pad` trailing '='. */
const base64Bytes = (n: number, pad: number) => (n / 4) * 3 - pad;

/**
 * The image of a job, as classifyImage takes it.
 * @returns the decoded bytes ({bytes}, {url} over http(s)) or an absolute path ({path}, {url} of file:)
 * @throws InvalidArgumentError (not base64, empty, over maxImageBytes, a relative path, a URL of another scheme,
 *   an http answer 4xx other than 408/429); TimeoutError (download past fetchTimeoutMs); BusyError (the image's
 *   server unreachable, or answering 408, 429 or 5xx: retried later)
 */
export async function readJobImage(image: JobImage, limits: ImageLimits): Promise<string | Buffer> {
  if ('bytes' in image) {
    const b64 = image.bytes;
    if (b64.length % 4 !== 0 || !BASE64.test(b64))
      throw new InvalidArgumentError(`job image.bytes: expected base64 (RFC 4648, padded), got other characters`);
    const n = base64Bytes(b64.length, b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
    checkSize(n, limits, 'job image.bytes');
    return Buffer.from(b64, 'base64');
  }
  if ('path' in image) return checkedPath(image.path, limits, 'job image.path');
  let url: URL;
  try {
    url = new URL(image.url);
  } catch {
    throw new InvalidArgumentError(`job image.url: expected an absolute URL, got ${JSON.stringify(image.url)}`);
  }
  if (url.protocol === 'file:') return checkedPath(fileURLToPath(url), limits, 'job image.url');
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`job image.url: expected an http:, https: or file: URL, got '${url.protocol}'`);
  return download(url, limits);
}

function checkSize(n: number, limits: ImageLimits, what: string): void {
  if (n === 0) throw new InvalidArgumentError(`${what}: expected an encoded image, got 0 bytes`);
  if (n > limits.maxImageBytes)
    throw new InvalidArgumentError(`${what}: expected at most ${limits.maxImageBytes} bytes, got ${n}`);
}

/** An absolute path whose file is at most maxImageBytes (other checks: classifyImage's). */
async function checkedPath(file: string, limits: ImageLimits, what: string): Promise<string> {
  if (!path.isAbsolute(file))
    throw new InvalidArgumentError(
      `${what}: expected an absolute path (the worker's cwd is not the producer's), got ${JSON.stringify(file)}`,
    );
  const st = await fs.promises.stat(file).catch(() => undefined);
  if (st?.isFile()) checkSize(st.size, limits, `${what} ${file}`);
  return file; // missing or not a regular file: classifyImage's error says so
}

/** GET an image, reading at most maxImageBytes before giving up. */
async function download(url: URL, limits: ImageLimits): Promise<Buffer> {
  const shownUrl = `${url.origin}${url.pathname}`; // no query: it may hold a signature
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(limits.fetchTimeoutMs), redirect: 'follow' });
  } catch (e) {
    throw fetchFailure(e, shownUrl, limits);
  }
  const status = `${response.status} ${response.statusText}`.trim();
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    await response.body?.cancel();
    throw new BusyError(`job image.url: GET ${shownUrl} answered ${status}; retry later`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new InvalidArgumentError(`job image.url: GET ${shownUrl} answered ${status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > limits.maxImageBytes) {
    await response.body?.cancel();
    checkSize(declared, limits, `job image.url ${shownUrl}`);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const chunk of response.body ?? []) {
      n += chunk.length;
      if (n > limits.maxImageBytes) {
        await response.body?.cancel();
        checkSize(n, limits, `job image.url ${shownUrl}`);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw fetchFailure(e, shownUrl, limits);
  }
  checkSize(n, limits, `job image.url ${shownUrl}`);
  return Buffer.concat(chunks);
}

function fetchFailure(e: unknown, shownUrl: string, limits: ImageLimits): Error {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError')
    return new TimeoutError(`job image.url: GET ${shownUrl}: no answer within ${limits.fetchTimeoutMs} ms`);
  const why = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return new BusyError(`job image.url: GET ${shownUrl} failed (${why}); retry later`);
}
