/**
 * Error classes with a stable `code`. Native code raises the same classes through the binding
 * (registered in native.ts), so `err instanceof InvalidArgumentError` and `err.code` work everywhere.
 */

export type VggErrorCode =
  | 'ERR_VGG_INVALID_ARGUMENT'
  | 'ERR_VGG_UNSUPPORTED'
  | 'ERR_VGG_DEVICE'
  | 'ERR_VGG_FORMAT'
  | 'ERR_VGG_DISPOSED'
  | 'ERR_VGG_NATIVE_LOAD'
  | 'ERR_VGG_BUSY'
  | 'ERR_VGG_TIMEOUT'
  | 'ERR_VGG_ABORTED'
  | 'ERR_VGG_MEMORY_BUDGET'
  | 'ERR_VGG_FETCH';

/** Base class of every error vggnet throws. */
export class VggError extends Error {
  readonly code: VggErrorCode;
  constructor(code: VggErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The caller's bug: wrong shape, wrong type, out-of-range option. Message names parameter, expected, got. */
export class InvalidArgumentError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_INVALID_ARGUMENT', message);
  }
}

/** A valid request vggnet cannot serve: a layer, shape, file feature or device it lacks. */
export class UnsupportedError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_UNSUPPORTED', message);
  }
}

/** Device or runtime failure (CUDA error naming the call, out of memory). */
export class DeviceError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_DEVICE', message);
  }
}

/** A weights or model file is malformed, truncated or does not match the architecture. */
export class FormatError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_FORMAT', message);
  }
}

/**
 * An image whose header says it has more pixels (width × height) than the limit in force (ImageOptions /
 * ClassifyOptions maxPixels); refused before any pixel is decoded. An InvalidArgumentError (same code).
 */
export class ImageTooLargeError extends InvalidArgumentError {
  constructor(
    message: string,
    /** The image's width and height from its header, pixels (0 when the header could not be read again). */
    readonly width: number,
    readonly height: number,
    /** The limit, pixels. */
    readonly maxPixels: number,
  ) {
    super(message);
  }
}

/** A model or tensor was used after dispose(). */
export class DisposedError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_DISPOSED', message);
  }
}

/** The native addon could not be loaded; the message lists every attempt and what to do. */
export class NativeLoadError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_NATIVE_LOAD', message);
  }
}

/** A model's queue is full (ModelOptions.maxQueue): the request was refused at once, nothing was computed. Retry later. */
export class BusyError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_BUSY', message);
  }
}

/** A request's deadline (ForwardOptions.timeoutMs) passed before its result was ready. */
export class TimeoutError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_TIMEOUT', message);
  }
}

/** The caller aborted the request (ForwardOptions.signal); `cause` is the signal's reason. */
export class AbortedError extends VggError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_VGG_ABORTED', message);
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/**
 * A forward's plan (activations, workspace, staging) would exceed the model's memory budget
 * (ModelOptions.memoryBudget): refused before allocating anything. The message gives both sizes in bytes.
 */
export class MemoryBudgetError extends VggError {
  constructor(message: string) {
    super('ERR_VGG_MEMORY_BUDGET', message);
  }
}

/** Why fetching an image URL failed (FetchError.reason). */
export type FetchFailure = 'http-status' | 'too-large' | 'timeout' | 'redirects' | 'network';

/**
 * Fetching an image from an http(s) URL failed: an HTTP error status (`status` holds it), a body over the
 * size limit, the time limit passed, too many redirects, or a network error (`cause` holds it).
 */
export class FetchError extends VggError {
  readonly reason: FetchFailure;
  readonly status?: number;
  constructor(message: string, reason: FetchFailure, options?: { status?: number; cause?: unknown }) {
    super('ERR_VGG_FETCH', message);
    this.reason = reason;
    if (options?.status !== undefined) this.status = options.status;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}
