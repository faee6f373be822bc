/**
 * The worker's side of JobImage: what classifyImage takes, from the bytes in the job (base64), a path on the
 * worker's filesystem, or a URL. http(s) URLs are fetched by classifyImage itself, within ClassifyOptions.fetch
 * (the worker sets its limits); the size limit here keeps a job from making a worker hold more than
 * `maxImageBytes` of encoded image.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath } from 'url';

import { InvalidArgumentError, UnsupportedError } from '../index';
import { JobImage } from './job';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decoded size of a padded base64 string. */
const base64Bytes = (s: string) => (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);

function checkSize(n: number, maxImageBytes: number, what: string): void {
  if (n === 0) throw new InvalidArgumentError(`${what}: expected an encoded image, got 0 bytes`);
  if (n > maxImageBytes) throw new InvalidArgumentError(`${what}: expected at most ${maxImageBytes} bytes, got ${n}`);
}

/**
 * The image of a job, as classifyImage takes it.
 * @returns the decoded bytes ({bytes}), an absolute path ({path}, {url} of file:), or the URL ({url} http(s):
 *   classifyImage fetches it)
 * @throws InvalidArgumentError (not base64, empty, over maxImageBytes, a relative path, not a URL),
 *   UnsupportedError (a URL scheme other than http:, https:, file:)
 */
export async function readJobImage(image: JobImage, maxImageBytes: number): Promise<string | Buffer | URL> {
  if ('bytes' in image) {
    const b64 = image.bytes;
    if (b64.length % 4 !== 0 || !BASE64.test(b64))
      throw new InvalidArgumentError('job image.bytes: expected base64 (RFC 4648, padded), got other characters');
    checkSize(base64Bytes(b64), maxImageBytes, 'job image.bytes');
    return Buffer.from(b64, 'base64');
  }
  if ('path' in image) return checkedPath(image.path, maxImageBytes, 'job image.path');
  let url: URL;
  try {
    url = new URL(image.url);
  } catch {
    throw new InvalidArgumentError(`job image.url: expected an absolute URL, got ${JSON.stringify(image.url)}`);
  }
  if (url.protocol === 'file:') return checkedPath(fileURLToPath(url), maxImageBytes, 'job image.url');
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UnsupportedError(`job image.url: expected an http:, https: or file: URL, got '${url.protocol}'`);
  return url;
}

/** An absolute path whose file is at most maxImageBytes (the other checks are classifyImage's). */
async function checkedPath(file: string, maxImageBytes: number, what: string): Promise<string> {
  if (!path.isAbsolute(file))
    throw new InvalidArgumentError(
      `${what}: expected an absolute path (the worker's cwd is not the producer's), got ${JSON.stringify(file)}`,
    );
  const st = await fs.promises.stat(file).catch(() => undefined);
  if (st?.isFile()) checkSize(st.size, maxImageBytes, `${what} ${file}`);
  return file; // missing or not a regular file: classifyImage's error says so
}
