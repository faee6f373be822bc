/**
 * Tensors: float32 data with dims, layout and device. Nothing converts silently:
 * the constructor rejects other typed arrays, a length that is not product(dims), and dims that are not
 * positive integers. Data on a device other than 'cpu' is reached only through an explicit transfer.
 * Checked here, in JS: making a Tensor never loads the native addon.
 */
import { types } from 'util';

import { describeValue } from './describe';
import { InvalidArgumentError, UnsupportedError } from './errors';

/** 'cpu', or 'cuda:N' for GPU N. */
export type Device = 'cpu' | `cuda:${number}`;
/** NCHW for images and score maps (N,C,H,W); NC for per-image vectors such as class scores (N,K). */
export type Layout = 'NCHW' | 'NC';

export class Tensor {
  readonly dtype = 'float32' as const;
  readonly dims: readonly number[];
  readonly layout: Layout;
  readonly device: Device;
  readonly data: Float32Array;

  /**
   * @param dims  NCHW: [N,C,H,W]; NC: [N,K]. Integers in [1, 2^30], product(dims) ≤ 2^32 elements.
   * @param data  Float32Array of exactly product(dims) elements (not copied).
   * @param layout  default: 'NC' for 2 dims, else 'NCHW'
   * @throws InvalidArgumentError (ERR_VGG_INVALID_ARGUMENT) on any mismatch: not an array of dims, an
   *   unknown layout, a rank other than the layout's, a dim that is not an integer in range, more than 2^32
   *   elements, data that is not a Float32Array (other typed arrays are not converted), a wrong length.
   *   UnsupportedError for a device other than 'cpu'.
   */
  constructor(dimsIn: readonly number[], data: Float32Array, layout?: Layout, device: Device = 'cpu') {
    if (!Array.isArray(dimsIn)) throw new InvalidArgumentError(`dims: expected an array, got ${describeValue(dimsIn)}`);
    // One read of every element (holes become undefined): what is checked is what is kept.
    const dims = Array.from(dimsIn);
    if (layout !== undefined && layout !== 'NCHW' && layout !== 'NC')
      throw new InvalidArgumentError(`layout: expected 'NCHW' | 'NC', got '${String(layout)}'`);
    const lay: Layout = layout ?? (dims.length === 2 ? 'NC' : 'NCHW');
    const rank = lay === 'NCHW' ? 4 : 2;
    if (dims.length !== rank)
      throw new InvalidArgumentError(
        `dims: layout ${lay} expects ${rank} dims, got ${dims.length} [${dims.join(',')}]` +
          (lay === 'NCHW' && dims.length === 3 ? '; add the batch dimension: [1,' + dims.join(',') + ']' : ''),
      );
    if (device !== 'cpu') throw new UnsupportedError(`device '${device}': only 'cpu' tensors exist in this version`);
    checkData(data, checkDims(dims, 'dims'));
    this.dims = Object.freeze(dims);
    this.layout = lay;
    this.device = device;
    this.data = data;
  }

  /** A zero-filled NCHW (4 dims) or NC (2 dims) tensor. @throws InvalidArgumentError as the constructor */
  static zeros(dims: readonly number[]): Tensor {
    if (!Array.isArray(dims)) throw new InvalidArgumentError(`dims: expected an array, got ${describeValue(dims)}`);
    return new Tensor(dims, new Float32Array(checkDims(dims, 'dims')));
  }

  get size(): number {
    return this.data.length;
  }

  /** Same data, new dims of the same element count (no copy). */
  reshape(dims: readonly number[], layout?: Layout): Tensor {
    return new Tensor(dims, this.data, layout, this.device);
  }

  /** Explicit transfer; 'cpu' → 'cpu' returns this tensor. */
  to(device: Device): Tensor {
    if (device === this.device) return this;
    throw new UnsupportedError(
      `Tensor.to('${device}'): device-resident tensors are not implemented yet; models on 'cuda' take and return 'cpu' tensors`,
    );
  }
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
