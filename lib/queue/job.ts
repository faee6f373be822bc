/**
 * What a classify job carries through Redis, both ways. The producer (client.ts) writes ClassifyJobData, the
 * worker (worker.ts) reads it back from Redis as untrusted JSON and returns a ClassifyJobResult; a failed job's
 * BullMQ `failedReason` is `<code>: <message>` with the vggnet error code, read back into an error by jobError.
 */
import {
  AbortedError,
  BusyError,
  DeviceError,
  DisposedError,
  FetchError,
  FetchFailure,
  FormatError,
  ForwardMode,
  InvalidArgumentError,
  MemoryBudgetError,
  NativeLoadError,
  Prediction,
  TimeoutError,
  UnsupportedError,
  VggError,
  VggErrorCode,
} from '../index';

/** The BullMQ job name of a classification. A worker fails jobs of any other name (unrecoverable). */
export const CLASSIFY_JOB = 'classify';

/** Version of the job data layout; a worker refuses data of another version (unrecoverable). */
export const JOB_DATA_VERSION = 1;

/**
 * Where the worker finds the image: the encoded bytes in the job (base64: JSON has no bytes type), an absolute
 * path on the worker's filesystem (shared storage), or a URL it can read (http:, https:, file:).
 */
export type JobImage = { bytes: string } | { path: string } | { url: string };

/** The classification options a job may carry (classifyImage's, without the per-call signal and deadline). */
export interface ClassifyJobOptions {
  /**
   * 'dense' (default: dense evaluation of the whole image, paper §3.2), 'fc' (centre crop / multi-crop) or
   * 'torchvision' (the whole image through torchvision's AdaptiveAvgPool2d(7) and the FC head).
   */
  mode?: ForwardMode;
  /** Test scales Q, shorter side in pixels; 0 keeps the image size. Default: the model's (defaultScales). */
  scales?: number[];
  /** Also evaluate the horizontal flip and average the posteriors (paper §3.2). */
  flip?: boolean;
  /** fc mode: an n×n grid of crops per scale (multi-crop), n in [1, 10]. */
  grid?: number;
  /** How many classes to return (default 5). */
  top?: number;
}

/** The data of a classify job as stored in Redis (JSON). */
export interface ClassifyJobData {
  v: typeof JOB_DATA_VERSION;
  image: JobImage;
  options: ClassifyJobOptions;
  /** What the producer calls the image (a file name), for logs and results; not read by the worker. */
  name?: string;
}

/** A classify job's return value (JSON). */
export interface ClassifyJobResult {
  /** The k most probable classes, posteriors averaged over views (classifyImage). */
  top: Prediction[];
  /** Views averaged: scales × flips × crops. */
  views: number;
  mode: ForwardMode;
  /** The test scales used (the model's default when the job gave none). */
  scales: number[];
  flip: boolean;
  /** The architecture's name (model.config.name) of the worker's model. */
  arch: string;
}

const OPTION_KEYS: readonly (keyof ClassifyJobOptions)[] = ['mode', 'scales', 'flip', 'grid', 'top'];
const MODES: readonly ForwardMode[] = ['dense', 'fc', 'torchvision'];

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.prototype.toString.call(v) === '[object Object]';

/** How a bad value is named in a message: its JSON (cut), or its type. */
function shown(v: unknown): string {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return typeof v;
  const s = JSON.stringify(v) ?? typeof v;
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/**
 * Checks classification options for a job: the keys, and each value's type and range (the worker's model
 * checks the rest: scales against the image, top against its classes). Used by the producer, to fail at the
 * call, and by the worker, on what came out of Redis.
 * @param what  how the bag is named in messages
 * @returns a copy with the given keys only
 * @throws InvalidArgumentError naming the key, what was expected and what came
 */
export function checkJobOptions(options: unknown, what = 'options'): ClassifyJobOptions {
  if (options === undefined || options === null) return {};
  if (!isPlainObject(options)) throw new InvalidArgumentError(`${what}: expected an object, got ${shown(options)}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key))
      throw new InvalidArgumentError(`${what}.${key}: unknown option; expected one of ${OPTION_KEYS.join(', ')}`);
    if (value === undefined) continue;
    const bad = (expected: string) =>
      new InvalidArgumentError(`${what}.${key}: expected ${expected}, got ${shown(value)}`);
    if (key === 'mode' && !MODES.includes(value as ForwardMode)) throw bad(MODES.map((m) => `'${m}'`).join(' | '));
    if (key === 'flip' && typeof value !== 'boolean') throw bad('a boolean');
    if (key === 'top' && !(Number.isInteger(value) && (value as number) >= 1)) throw bad('a positive integer');
    if (key === 'grid' && !(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 10))
      throw bad('an integer in [1, 10]');
    if (
      key === 'scales' &&
      !(
        Array.isArray(value) &&
        value.length > 0 &&
        value.length <= 16 &&
        value.every((q) => Number.isInteger(q) && q >= 0 && q <= 16384)
      )
    )
      throw bad('1 to 16 integers in [0, 16384] (test scales Q)');
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  return out as ClassifyJobOptions;
}

/**
 * Reads the data of a job taken from Redis.
 * @throws InvalidArgumentError naming what is wrong (not an object, another version, no image, unknown keys)
 */
export function readJobData(data: unknown): ClassifyJobData {
  if (!isPlainObject(data)) throw new InvalidArgumentError(`job data: expected an object, got ${shown(data)}`);
  if (data.v !== JOB_DATA_VERSION)
    throw new InvalidArgumentError(
      `job data.v: expected ${JOB_DATA_VERSION} (the layout this worker reads), got ${shown(data.v)}`,
    );
  const image = data.image;
  const keys = isPlainObject(image) ? Object.keys(image) : [];
  if (
    !isPlainObject(image) ||
    keys.length !== 1 ||
    !['bytes', 'path', 'url'].includes(keys[0]) ||
    typeof image[keys[0]] !== 'string'
  )
    throw new InvalidArgumentError(
      `job data.image: expected one of {bytes: base64} | {path} | {url} with a string, got ${shown(image)}`,
    );
  const name = typeof data.name === 'string' ? data.name : undefined;
  return {
    v: JOB_DATA_VERSION,
    image: image as JobImage,
    options: checkJobOptions(data.options, 'job data.options'),
    ...(name !== undefined ? { name } : {}),
  };
}

/**
 * Error codes whose cause is the job itself (its image, options or size): the same job fails the same way on
 * every worker, so it is failed at once instead of retried. Other failures (busy, timeout, device, a worker
 * shutting down) are retried with the job's attempts and backoff. ERR_VGG_FETCH depends on why: see unrecoverable.
 */
export const UNRECOVERABLE_CODES: ReadonlySet<string> = new Set<VggErrorCode>([
  'ERR_VGG_INVALID_ARGUMENT',
  'ERR_VGG_FORMAT',
  'ERR_VGG_UNSUPPORTED',
  'ERR_VGG_MEMORY_BUDGET',
]);

/**
 * True for a failure that retrying cannot cure: UNRECOVERABLE_CODES, and a FetchError for an HTTP 4xx status
 * (but 408 and 429, which say "later"), a body over the size limit, or a redirect it may not follow. A fetch
 * that timed out, a network error or a 5xx may succeed later.
 */
export function unrecoverable(e: unknown): boolean {
  if (e instanceof FetchError) {
    if (e.reason === 'http-status')
      return e.status !== undefined && e.status < 500 && e.status !== 408 && e.status !== 429;
    return e.reason === 'too-large' || e.reason === 'redirects';
  }
  return e instanceof VggError && UNRECOVERABLE_CODES.has(e.code);
}

/** The code of an error that is not a VggError (a bug, a lost Redis connection): as `vggnet serve` reports it. */
export const INTERNAL_CODE = 'ERR_VGG_INTERNAL';

/** A job's failedReason: `<code>: <message>` (line breaks folded: BullMQ keeps one line per reason). */
export function failureReason(e: unknown): string {
  const code = e instanceof VggError ? e.code : INTERNAL_CODE;
  const message = e instanceof Error ? e.message : String(e);
  return `${code}: ${message.split('\n').join(' ')}`;
}

/**
 * A FetchError read back from its message (lib/fetch-image.ts words them): the reason and HTTP status are not
 * in a failedReason otherwise.
 */
class FetchErrorFromReason extends FetchError {
  constructor(message: string) {
    const status = /: HTTP (\d{3})\b/.exec(message)?.[1];
    const reason: FetchFailure = status
      ? 'http-status'
      : /within \d+(\.\d+)? ms/.test(message)
        ? 'timeout'
        : /expected at most \d+ bytes/.test(message)
          ? 'too-large'
          : /redirect/.test(message)
            ? 'redirects'
            : 'network';
    super(message, reason, status ? { status: Number(status) } : {});
    this.name = 'FetchError';
  }
}

const ERROR_CLASSES: Readonly<Record<VggErrorCode, new (message: string) => VggError>> = {
  ERR_VGG_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_VGG_UNSUPPORTED: UnsupportedError,
  ERR_VGG_DEVICE: DeviceError,
  ERR_VGG_FORMAT: FormatError,
  ERR_VGG_DISPOSED: DisposedError,
  ERR_VGG_NATIVE_LOAD: NativeLoadError,
  ERR_VGG_BUSY: BusyError,
  ERR_VGG_TIMEOUT: TimeoutError,
  ERR_VGG_ABORTED: AbortedError,
  ERR_VGG_MEMORY_BUDGET: MemoryBudgetError,
  ERR_VGG_FETCH: FetchErrorFromReason,
};

/** An error of a failed job, with `jobId`; `code` is a vggnet code, or ERR_VGG_INTERNAL for anything else. */
export type JobError = Error & { code: string; jobId: string };

/**
 * The error a failed job's `failedReason` stands for: the VggError class of its code (so `instanceof
 * FormatError` and `err.code` work on the producer's side), else an Error with code ERR_VGG_INTERNAL (a worker
 * bug, or BullMQ's own reasons such as a job that stalled more times than maxStalledCount allows).
 */
export function jobError(jobId: string, failedReason: string | undefined): JobError {
  const reason = failedReason ?? '(no reason recorded)';
  const m = /^(ERR_VGG_[A-Z_]+): ([\s\S]*)$/.exec(reason);
  const Class =
    m && Object.prototype.hasOwnProperty.call(ERROR_CLASSES, m[1]) ? ERROR_CLASSES[m[1] as VggErrorCode] : undefined;
  const e = (
    Class
      ? new Class(`job ${jobId}: ${m![2]}`)
      : Object.assign(new Error(`job ${jobId}: ${m ? m[2] : reason}`), { code: m?.[1] ?? INTERNAL_CODE })
  ) as JobError;
  e.jobId = jobId;
  return e;
}
