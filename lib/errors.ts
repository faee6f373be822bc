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
  | 'ERR_VGG_NATIVE_LOAD';

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
