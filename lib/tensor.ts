/**
 * Tensors: float32 data with dims, layout and device. Nothing converts silently:
 * the constructor rejects other typed arrays, a length that is not product(dims), and dims that are not
 * positive integers. A tensor on 'cuda:N' (device-resident) keeps its data in that GPU's memory: it is read only
 * through an explicit transfer (toHost(), to('cpu')), and dispose() returns its memory at once (else only when V8
 * collects the tensor, which a full GPU does not trigger: dispose what you are done with). Model.forward takes such tensors and, with outputLocation 'cuda', returns
 * them, so that features and batches chain on the GPU without host round trips.
 * Checked here, in JS: making a 'cpu' Tensor never loads the native addon.
 */
import { types } from 'util';

import { describeValue } from './describe';
import { DisposedError, InvalidArgumentError } from './errors';
import type { NativeDeviceBuffer } from './native';

/** 'cpu', or 'cuda:N' for GPU N. */
export type Device = 'cpu' | `cuda:${number}`;
/** NCHW for images and score maps (N,C,H,W); NC for per-image vectors such as class scores (N,K). */
export type Layout = 'NCHW' | 'NC';

export class Tensor {
  readonly dtype = 'float32' as const;
  readonly dims: readonly number[];
  readonly layout: Layout;
  readonly device: Device;
  /** The host data ('cpu'), or null. */
  private host: Float32Array | null;
  /** The device memory ('cuda:N'), or null; shared with the tensor's reshape() views. */
  private buffer: NativeDeviceBuffer | null;

  /**
   * @param dims  NCHW: [N,C,H,W]; NC: [N,K]. Integers in [1, 2^30], product(dims) ≤ 2^32 elements.
   * @param data  Float32Array of exactly product(dims) elements (not copied on 'cpu'; copied to the GPU on 'cuda:N').
   * @param layout  default: 'NC' for 2 dims, else 'NCHW'
   * @param device  'cpu' (default), or 'cuda:N' (or 'cuda', GPU 0; 'cuda:007' is 'cuda:7'): the data is uploaded
   *   now (synchronously)
   * @throws InvalidArgumentError (ERR_VGG_INVALID_ARGUMENT) on any mismatch: not an array of dims, an
   *   unknown layout or device, a rank other than the layout's, a dim that is not an integer in range, more than
   *   2^32 elements, data that is not a Float32Array (other typed arrays are not converted), a wrong length, a GPU
   *   index beyond this host's GPUs (as for a model). UnsupportedError (ERR_VGG_UNSUPPORTED) for 'cuda:N' where
   *   this build or host has no CUDA device at all; DeviceError when the GPU is out of memory.
   */
  constructor(dimsIn: readonly number[], data: Float32Array, layout?: Layout, device: Device | 'cuda' = 'cpu') {
    const dims = checkShape(dimsIn, layout);
    const gpu = parseTensorDevice(device, 'device');
    checkData(data, checkDims(dims, 'dims'));
    this.dims = Object.freeze(dims);
    this.layout = layout ?? defaultLayout(dims);
    this.device = gpu === null ? 'cpu' : `cuda:${gpu}`;
    this.host = gpu === null ? data : null;
    this.buffer = gpu === null ? null : upload(gpu, data);
  }

  /** A zero-filled NCHW (4 dims) or NC (2 dims) tensor on 'cpu'. @throws InvalidArgumentError as the constructor */
  static zeros(dims: readonly number[]): Tensor {
    if (!Array.isArray(dims)) throw new InvalidArgumentError(`dims: expected an array, got ${describeValue(dims)}`);
    return new Tensor(dims, new Float32Array(checkDims(dims, 'dims')));
  }

  /**
   * A tensor over device memory the library allocated (a forward's outputs), taking ownership of it.
   * @internal
   */
  static adopt(dims: readonly number[], layout: Layout, buffer: NativeDeviceBuffer): Tensor {
    const t = Object.create(Tensor.prototype) as { -readonly [K in keyof Tensor]: Tensor[K] };
    Object.assign(t, {
      dtype: 'float32',
      dims: Object.freeze([...dims]),
      layout,
      device: `cuda:${buffer.device}`,
      host: null,
      buffer,
    });
    return t as unknown as Tensor;
  }

  /**
   * The host data. @throws InvalidArgumentError on a 'cuda:N' tensor (read it with `await t.toHost()` or
   * `t.to('cpu')`: transfers are explicit)
   */
  get data(): Float32Array {
    if (this.host) return this.host;
    throw new InvalidArgumentError(
      `Tensor.data: the tensor is on '${this.device}'; copy it to the host first (await tensor.toHost(), or tensor.to('cpu'))`,
    );
  }

  /** Elements: product(dims). */
  get size(): number {
    return this.dims.reduce((a, d) => a * d, 1);
  }

  /** Whether dispose() was called (on this tensor or on a reshape() view of the same device memory). */
  get disposed(): boolean {
    return this.buffer?.disposed ?? false;
  }

  /**
   * Same data, new dims of the same element count (no copy). On 'cuda:N' the view shares the device memory:
   * disposing either disposes both. @throws InvalidArgumentError as the constructor, DisposedError
   */
  reshape(dims: readonly number[], layout?: Layout): Tensor {
    if (this.host) return new Tensor(dims, this.host, layout);
    const shape = checkShape(dims, layout);
    const count = checkDims(shape, 'dims');
    const buffer = this.deviceBuffer('Tensor.reshape');
    if (count !== buffer.floats)
      throw new InvalidArgumentError(`dims: expected ${buffer.floats} elements, got ${count} [${shape.join(',')}]`);
    return Tensor.adopt(shape, layout ?? defaultLayout(shape), buffer);
  }

  /**
   * Explicit, synchronous transfer: 'cpu' → 'cuda:N' uploads, 'cuda:N' → 'cpu' downloads (blocking the event loop
   * for the copy; prefer toHost()), between two GPUs through the host. The same device returns this tensor.
   * @throws InvalidArgumentError (unknown device, or a GPU index beyond this host's), UnsupportedError (no CUDA
   *   device), DisposedError, DeviceError
   */
  to(device: Device | 'cuda'): Tensor {
    const gpu = parseTensorDevice(device, 'device');
    const target: Device = gpu === null ? 'cpu' : `cuda:${gpu}`;
    if (this.buffer) this.deviceBuffer(`Tensor.to('${target}')`); // disposed: DisposedError
    if (target === this.device) return this;
    const host = this.host ?? this.deviceBuffer(`Tensor.to('${target}')`).downloadSync();
    return new Tensor(this.dims, host, this.layout, target);
  }

  /**
   * A 'cpu' copy, the download run off the JS thread (a 'cpu' tensor resolves to itself).
   * @throws (rejects with) DisposedError, DeviceError
   */
  async toHost(): Promise<Tensor> {
    if (this.host) return this;
    const host = await this.deviceBuffer('Tensor.toHost').download();
    return new Tensor(this.dims, host, this.layout);
  }

  /**
   * Returns a 'cuda:N' tensor's device memory now (a forward using it frees it when that forward ends); later
   * use throws DisposedError. Does nothing on 'cpu'. Idempotent.
   */
  dispose(): void {
    this.buffer?.dispose();
  }

  /** The device memory, for a forward. @throws DisposedError naming `what` @internal */
  deviceBuffer(what: string): NativeDeviceBuffer {
    const b = this.buffer;
    if (!b) throw new InvalidArgumentError(`${what}: the tensor is on 'cpu'`);
    if (b.disposed) throw new DisposedError(`${what}: the tensor on '${this.device}' was disposed`);
    return b;
  }
}

/** 'cpu' → null; 'cuda' → 0; 'cuda:N' → N. @throws InvalidArgumentError naming `what` */
export function parseTensorDevice(device: unknown, what: string): number | null {
  if (device === 'cpu') return null;
  if (device === 'cuda') return 0;
  const m = typeof device === 'string' ? /^cuda:(\d{1,3})$/.exec(device) : null;
  if (!m) throw new InvalidArgumentError(`${what}: expected 'cpu' | 'cuda' | 'cuda:N', got ${describeValue(device)}`);
  return Number(m[1]);
}

function upload(device: number, data: Float32Array): NativeDeviceBuffer {
  // Required here, not imported: a 'cpu' tensor never loads the addon's loader (test/foundation.test.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { native } = require('./native') as typeof import('./native');
  const b = new (native().DeviceBuffer)(device, data.length);
  try {
    b.upload(data);
  } catch (e) {
    b.dispose();
    throw e;
  }
  return b;
}

function defaultLayout(dims: readonly unknown[]): Layout {
  return dims.length === 2 ? 'NC' : 'NCHW';
}

/** dims read once (holes become undefined) and checked against the layout's rank. @throws InvalidArgumentError */
function checkShape(dimsIn: readonly number[], layout: Layout | undefined): number[] {
  if (!Array.isArray(dimsIn)) throw new InvalidArgumentError(`dims: expected an array, got ${describeValue(dimsIn)}`);
  // One read of every element (holes become undefined): what is checked is what is kept.
  const dims = Array.from(dimsIn);
  if (layout !== undefined && layout !== 'NCHW' && layout !== 'NC')
    throw new InvalidArgumentError(`layout: expected 'NCHW' | 'NC', got '${String(layout)}'`);
  const lay: Layout = layout ?? defaultLayout(dims);
  const rank = lay === 'NCHW' ? 4 : 2;
  if (dims.length !== rank)
    throw new InvalidArgumentError(
      `dims: layout ${lay} expects ${rank} dims, got ${dims.length} [${dims.join(',')}]` +
        (lay === 'NCHW' && dims.length === 3 ? '; add the batch dimension: [1,' + dims.join(',') + ']' : ''),
    );
  return dims;
}

/** Largest extent of one dimension (2^30) and largest element count of a tensor (2^32). */
export const MAX_DIM = 2 ** 30;
export const MAX_ELEMENTS = 2 ** 32;

/**
 * Checks dims: each an integer in [1, MAX_DIM], their product at most MAX_ELEMENTS.
 * @returns the element count, product(dims)
 * @throws InvalidArgumentError `<what>[i]: expected an integer in [1, 1073741824], got …`, or
 *   `<what>: more than 2^32 elements is not supported`
 */
export function checkDims(dims: readonly number[], what: string): number {
  let count = 1;
  Array.from(dims).forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d))
      throw new InvalidArgumentError(`${what}[${i}]: expected an integer, got ${describeValue(d)}`);
    if (d < 1 || d > MAX_DIM)
      throw new InvalidArgumentError(`${what}[${i}]: expected an integer in [1, ${MAX_DIM}], got ${describeValue(d)}`);
    count *= d;
  });
  if (count > MAX_ELEMENTS) throw new InvalidArgumentError(`${what}: more than 2^32 elements is not supported`);
  return count;
}

/** data: a 4-byte aligned Float32Array of exactly `count` elements. @throws InvalidArgumentError */
function checkData(data: unknown, count: number): void {
  if (!types.isFloat32Array(data))
    throw new InvalidArgumentError(`data: expected a Float32Array, got ${describeValue(data)}`);
  if (data.byteOffset % 4 !== 0)
    throw new InvalidArgumentError(`data: must be 4-byte aligned, byteOffset is ${data.byteOffset}`);
  if (data.length !== count) throw new InvalidArgumentError(`data: expected ${count} elements, got ${data.length}`);
}
