/**
 * Fetching an image from an http(s) URL with Node's built-in fetch (undici), bounded in size, time and
 * redirects, so that a slow, endless or huge answer costs at most the limits.
 */
import { describeValue } from './describe';
import { AbortedError, FetchError, InvalidArgumentError } from './errors';
import { optionKeys, readOptions } from './options';

/** Limits of one image fetch. */
export interface FetchOptions {
  /** Largest body, bytes, an integer in [1, 2^31 − 1]. Default 16 MiB (DEFAULT_FETCH.maxBytes). */
  maxBytes?: number;
  /** Time for the whole fetch (redirects, headers and body), ms, in (0, 2^31 − 1]. Default 30 000. */
  timeoutMs?: number;
  /** Redirects followed, an integer in [0, 20]. Default 5. */
  maxRedirects?: number;
}

/** The defaults of FetchOptions: 16 MiB (vggnet serve's default body limit), 30 s, 5 redirects. */
export const DEFAULT_FETCH: Readonly<Required<FetchOptions>> = Object.freeze({
  maxBytes: 16 * 2 ** 20,
  timeoutMs: 30_000,
  maxRedirects: 5,
});

export const FETCH_OPTION_KEYS = optionKeys<FetchOptions>({ maxBytes: true, timeoutMs: true, maxRedirects: true });

/**
 * Checks a FetchOptions bag (named `what` in messages) and fills in the defaults.
 * @throws InvalidArgumentError naming the option
 */
export function resolveFetchOptions(options: FetchOptions | null | undefined, what: string): Required<FetchOptions> {
  const o = readOptions(options, FETCH_OPTION_KEYS, what);
  const int = (key: keyof FetchOptions, lo: number, hi: number): number => {
    const v = o[key] ?? DEFAULT_FETCH[key];
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new InvalidArgumentError(`${what}.${key}: expected an integer in [${lo}, ${hi}], got ${describeValue(v)}`);
    return v;
  };
  const timeoutMs = o.timeoutMs ?? DEFAULT_FETCH.timeoutMs;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1)
    throw new InvalidArgumentError(
      `${what}.timeoutMs: expected a number in (0, 2^31 − 1], got ${describeValue(timeoutMs)}`,
    );
  return { maxBytes: int('maxBytes', 1, 2 ** 31 - 1), timeoutMs, maxRedirects: int('maxRedirects', 0, 20) };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A signal that fires when either does (AbortSignal.any, which Node 20.0–20.2 lack), and how to detach it
 *  from both (a caller's signal may outlive many fetches). */
function anySignal(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; detach: () => void } {
  const both = new AbortController();
  const onA = () => both.abort(a.reason),
    onB = () => both.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: both.signal,
    detach: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}

/**
 * GETs `url` (http: or https:) and returns the body. Redirects are followed by hand (at most
 * `limits.maxRedirects`, each to http(s) only); a Content-Length over `maxBytes` is refused before the body is
 * read, and a body that grows past it is cut off.
 * @param signal  the caller's cancel: AbortedError with its reason as `cause`
 * @throws FetchError: reason 'http-status' (status ≥ 400 or an unfollowable redirect; `status` set),
 *   'too-large', 'timeout', 'redirects' (too many, or to another scheme), 'network' (DNS, refused, reset…)
 */
export async function fetchImage(url: URL, limits: Required<FetchOptions>, signal?: AbortSignal): Promise<Buffer> {
  const timeout = AbortSignal.timeout(Math.ceil(limits.timeoutMs)); // an integer, or ERR_OUT_OF_RANGE
  const both = signal ? anySignal(signal, timeout) : { signal: timeout, detach: () => undefined };
  try {
    return await fetchWithin(url, limits, both.signal, signal, timeout);
  } finally {
    both.detach();
  }
}

async function fetchWithin(
  url: URL,
  limits: Required<FetchOptions>,
  both: AbortSignal,
  signal: AbortSignal | undefined,
  timeout: AbortSignal,
): Promise<Buffer> {
  const failed = (e: unknown, where: string): never => {
    if (signal?.aborted) throw new AbortedError(`${where}: aborted by the caller's signal`, { cause: signal.reason });
    if (timeout.aborted)
      throw new FetchError(`${where}: no complete answer within ${limits.timeoutMs} ms (fetch.timeoutMs)`, 'timeout');
    if (e instanceof FetchError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new FetchError(`${where}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, 'network', { cause: e });
  };
  let current = url;
  for (let hops = 0; ; hops++) {
    const where = `image ${current.href}`;
    let res: Response;
    try {
      res = await fetch(current, { redirect: 'manual', signal: both, headers: { accept: 'image/*' } });
    } catch (e) {
      return failed(e, where);
    }
    if (REDIRECTS.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get('location');
      if (!location)
        throw new FetchError(`${where}: HTTP ${res.status} redirect without a Location`, 'http-status', {
          status: res.status,
        });
      if (hops >= limits.maxRedirects)
        throw new FetchError(`${where}: more than ${limits.maxRedirects} redirects (fetch.maxRedirects)`, 'redirects');
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:')
        throw new FetchError(
          `${where}: redirected to a ${next.protocol} URL; only http: and https: are followed`,
          'redirects',
        );
      current = next;
      continue;
    }
    if (res.status >= 400 || res.status < 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new FetchError(`${where}: HTTP ${res.status} ${res.statusText}`.trimEnd(), 'http-status', {
        status: res.status,
      });
    }
    const tooLarge = (got: string): FetchError =>
      new FetchError(`${where}: expected at most ${limits.maxBytes} bytes (fetch.maxBytes), got ${got}`, 'too-large');
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > limits.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge(`Content-Length ${declared}`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      if (res.body)
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          total += chunk.length;
          if (total > limits.maxBytes) throw tooLarge('more');
          chunks.push(chunk);
        }
    } catch (e) {
      await res.body?.cancel().catch(() => undefined);
      return failed(e, where);
    }
    return Buffer.concat(chunks, total);
  }
}
