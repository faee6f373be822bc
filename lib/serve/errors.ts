/**
 * How errors become HTTP responses. Every error response of `vggnet serve` is a JSON object
 * `{ "error": message, "code": code }`: the KServe v2 protocol's error body plus vggnet's error code.
 *
 * | error (code)                                                        | status |
 * |---------------------------------------------------------------------|--------|
 * | InvalidArgumentError, FormatError, UnsupportedError                 | 400    |
 * | unknown model name or route (ERR_VGG_INVALID_ARGUMENT)              | 404    |
 * | wrong Content-Type (ERR_VGG_UNSUPPORTED)                            | 415    |
 * | body over --body-limit, image over --max-pixels (ERR_VGG_INVALID_ARGUMENT) | 413 |
 * | MemoryBudgetError: the forward's plan exceeds the model's budget    | 413    |
 * | BusyError: queue full, model still loading, server shutting down    | 503 + Retry-After |
 * | TimeoutError: --timeout-ms passed before the result                 | 503 + Retry-After |
 * | AbortedError: the client disconnected (nobody reads the answer)     | 499    |
 * | DisposedError: the model was freed under a request                  | 503    |
 * | DeviceError: runtime failure (CUDA error, out of memory)            | 500    |
 * | anything else, a bug (ERR_VGG_INTERNAL)                             | 500    |
 *
 * TimeoutError is a 503, not a 504: the deadline is the server's own (not an upstream's), it passes when
 * the model is overloaded, and 503 + Retry-After is what clients and proxies retry.
 */
import {
  AbortedError,
  BusyError,
  DeviceError,
  DisposedError,
  FormatError,
  ImageTooLargeError,
  InvalidArgumentError,
  MemoryBudgetError,
  TimeoutError,
  UnsupportedError,
  VggError,
  VggErrorCode,
} from '../index';

/** A vggnet error code, or ERR_VGG_INTERNAL for an error that is a bug of the server. */
export type HttpErrorCode = VggErrorCode | 'ERR_VGG_INTERNAL';

/** The body of every error response. */
export interface ErrorBody {
  error: string;
  code: HttpErrorCode;
}

/** An error raised by the server itself with its HTTP status (404, 413, 415, …) and a vggnet code. */
export class HttpError extends VggError {
  readonly statusCode: number;
  constructor(statusCode: number, code: VggErrorCode, message: string) {
    super(code, message);
    this.statusCode = statusCode;
  }
}

/** What to answer for an error. */
export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** True for the 503s a retry may cure: the response carries Retry-After. */
  retryAfter?: boolean;
}

/** Status of fastify's and @fastify/multipart's own errors (they carry `statusCode` and an FST_ code). */
interface FrameworkError extends Error {
  statusCode?: number;
  code?: string;
}

/**
 * The response for an error thrown while serving a request.
 * @param bodyLimit  the body limit in bytes, named in the 413 message
 * @param contentType  the request's Content-Type header, named in the 415 message
 */
export function errorResponse(e: unknown, bodyLimit: number, contentType?: string): ErrorResponse {
  const body = (code: HttpErrorCode, message: string): ErrorBody => ({ error: message, code });
  if (e instanceof HttpError) return { status: e.statusCode, body: body(e.code, e.message) };
  if (e instanceof ImageTooLargeError)
    return {
      status: 413,
      body: body(e.code, e.message.replace(/^buffer: /, 'image: ').replace('(maxPixels)', '(--max-pixels)')),
    };
  if (e instanceof BusyError || e instanceof TimeoutError)
    return { status: 503, body: body(e.code, e.message), retryAfter: true };
  if (e instanceof DisposedError) return { status: 503, body: body(e.code, e.message), retryAfter: true };
  if (e instanceof AbortedError) return { status: 499, body: body(e.code, e.message) };
  if (e instanceof MemoryBudgetError) return { status: 413, body: body(e.code, e.message) };
  if (e instanceof InvalidArgumentError || e instanceof FormatError || e instanceof UnsupportedError)
    return { status: 400, body: body(e.code, e.message) };
  if (e instanceof DeviceError) return { status: 500, body: body(e.code, e.message) };
  if (e instanceof VggError) return { status: 500, body: body(e.code, e.message) };
  const f = e as FrameworkError;
  const status = typeof f?.statusCode === 'number' ? f.statusCode : 500;
  if (status === 413)
    return {
      status,
      body: body(
        'ERR_VGG_INVALID_ARGUMENT',
        f.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || f.code === 'FST_REQ_FILE_TOO_LARGE'
          ? `body: expected at most ${bodyLimit} bytes (--body-limit), got more`
          : `body: ${f.message}`,
      ),
    };
  if (status === 415 || status === 406)
    return {
      status: 415,
      body: body(
        'ERR_VGG_UNSUPPORTED',
        `Content-Type: ${contentType ? `'${contentType.slice(0, 100)}'` : 'none'} is not accepted (${f.message}); ` +
          '/v1/classify takes image/*, application/octet-stream or multipart/form-data, ' +
          '/v2/models/{name}/infer application/json',
      ),
    };
  if (status >= 400 && status < 500) {
    const malformed = f instanceof SyntaxError || f.code === 'FST_ERR_CTP_INVALID_JSON_BODY';
    return {
      status,
      body: body(malformed ? 'ERR_VGG_FORMAT' : 'ERR_VGG_INVALID_ARGUMENT', `body: ${f?.message ?? String(e)}`),
    };
  }
  return { status: 500, body: body('ERR_VGG_INTERNAL', f instanceof Error ? f.message : String(e)) };
}
