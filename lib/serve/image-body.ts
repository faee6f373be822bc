/**
 * The image of a POST /v1/classify: the raw body (Content-Type image/* or application/octet-stream) or the
 * file field `image` of a multipart/form-data body. (Its size in pixels is checked on its header by the
 * decode itself: ClassifyOptions.maxPixels.)
 */
import type { FastifyRequest } from 'fastify';

import { FormatError, InvalidArgumentError } from '../index';
import { HttpError } from './errors';

/** Media types of a raw image body: image/* and application/octet-stream. */
export const RAW_IMAGE_TYPE = /^(image\/[\w.+-]+|application\/octet-stream)\s*(;|$)/i;

/** The media type of a request, lower case, without parameters ('' when absent). */
export function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * The encoded image bytes of a classify request.
 * @param fileLimit  largest image, bytes (multipart: the file; a raw body is bounded by fastify's bodyLimit)
 * @throws HttpError 415 (another Content-Type), InvalidArgumentError (0 bytes, no `image` field), HttpError 413
 *   (multipart file over the limit), FormatError (a malformed multipart body)
 */
export async function readImage(request: FastifyRequest, fileLimit: number): Promise<Buffer> {
  const type = mediaType(request);
  let bytes: Buffer | undefined;
  if (type === 'multipart/form-data') bytes = await readMultipart(request, fileLimit);
  else if (RAW_IMAGE_TYPE.test(type)) bytes = Buffer.isBuffer(request.body) ? request.body : undefined;
  else
    throw new HttpError(
      415,
      'ERR_VGG_UNSUPPORTED',
      `Content-Type: expected image/* | application/octet-stream | multipart/form-data, got ${type ? `'${type}'` : 'none'}`,
    );
  if (!bytes || bytes.length === 0) throw new InvalidArgumentError('body: expected an encoded image, got 0 bytes');
  return bytes;
}

/** The file field `image` of a multipart body; other fields are read and ignored. */
async function readMultipart(request: FastifyRequest, fileLimit: number): Promise<Buffer> {
  let image: Buffer | undefined;
  try {
    for await (const part of request.parts({ limits: { fileSize: fileLimit, files: 4, fields: 16, parts: 32 } })) {
      if (part.type !== 'file') continue;
      const bytes = await part.toBuffer(); // throws FST_REQ_FILE_TOO_LARGE past fileSize
      if (part.fieldname === 'image' && !image) image = bytes;
    }
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 413)
      throw new HttpError(
        413,
        'ERR_VGG_INVALID_ARGUMENT',
        `body: expected a file of at most ${fileLimit} bytes (--body-limit), got more`,
      );
    throw new FormatError(`body: malformed multipart/form-data (${(e as Error).message})`);
  }
  if (!image) throw new InvalidArgumentError("body: expected a multipart file field named 'image', found none");
  return image;
}
