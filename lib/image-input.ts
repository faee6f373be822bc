/**
 * The image inputs the public API takes, resolved to what the decoder reads: a file path or encoded bytes.
 * A path or file: URL is checked (exists, a regular file); an http(s) URL is fetched within limits; bytes
 * are used as they are. Any other URL scheme is an UnsupportedError, not a "missing file".
 */
import * as fs from 'fs';
import { fileURLToPath } from 'url';

import { describeValue } from './describe';
import { InvalidArgumentError, UnsupportedError } from './errors';
import { fetchImage, FetchOptions } from './fetch-image';
import { checkRegularFile } from './files';

/**
 * An image as users hold it: a file path; a URL (a `URL` object or a string starting with `http://`,
 * `https://` or `file:`); or the encoded bytes (JPEG, PNG, WebP, GIF, TIFF, …) as a Buffer, a Uint8Array or
 * an ArrayBuffer.
 */
export type ImageInput = string | URL | Buffer | Uint8Array | ArrayBuffer;

/** What the decoder reads, and how messages name it ('buffer', the path, or the URL). */
export interface ResolvedImage {
  source: string | Buffer;
  name: string;
}

/** A string that is a URL, not a file path: 'scheme://…' ('s3://…', 'ftp://…'), 'file:…' or 'data:…'. (A
 *  file may be named 'a:b.png' on POSIX, so other 'word:' prefixes stay paths.) */
const SCHEME = /^([a-z][a-z0-9+.-]*:\/\/|file:|data:)/i;
const WINDOWS_DRIVE = /^[a-z]:[\\/]/i;

/** The input as a URL when it is one (a URL object or a string with a scheme), else undefined. */
function asUrl(input: string | URL): URL | undefined {
  if (input instanceof URL) return input;
  if (WINDOWS_DRIVE.test(input) || !SCHEME.test(input)) return undefined;
  try {
    return new URL(input);
  } catch {
    throw new InvalidArgumentError(`image: '${input.slice(0, 200)}' looks like a URL but does not parse as one`);
  }
}

/**
 * Resolves an image input.
 * @param fetchLimits  limits of an http(s) fetch (resolved FetchOptions)
 * @param signal  cancels a fetch (AbortedError)
 * @throws InvalidArgumentError (not an image input; a path that does not exist or is not a regular file;
 *   0 bytes), UnsupportedError (a URL scheme other than file:, http:, https:), FetchError (see fetchImage)
 */
export async function resolveImage(
  input: ImageInput,
  fetchLimits: Required<FetchOptions>,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  if (input instanceof ArrayBuffer) input = new Uint8Array(input);
  if (input instanceof Uint8Array) {
    if (input.length === 0) throw new InvalidArgumentError('image: expected encoded image bytes, got 0 bytes');
    const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length);
    return { source: bytes, name: 'buffer' };
  }
  if (typeof input !== 'string' && !(input instanceof URL))
    throw new InvalidArgumentError(
      `image: expected a file path, a URL (http:, https:, file:), a Buffer, a Uint8Array or an ArrayBuffer, got ${describeValue(input)}`,
    );
  const url = asUrl(input);
  if (url?.protocol === 'http:' || url?.protocol === 'https:')
    return { source: await fetchImage(url, fetchLimits, signal), name: url.href };
  if (url && url.protocol !== 'file:')
    throw new UnsupportedError(
      `image: unsupported: ${url.protocol} URL (${url.href.slice(0, 200)}); supported: file paths, file:, http: and https: URLs, bytes`,
    );
  const file = url ? fileURLToPath(url) : (input as string);
  if (file === '') throw new InvalidArgumentError('image: expected a file path, got an empty string');
  await checkRegularFile(file, 'image');
  try {
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(
      `image: ${code === 'ENOENT' ? 'no such file' : `cannot read the file (${code})`}: ${file}`,
    );
  }
  return { source: file, name: file };
}
