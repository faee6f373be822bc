/**
 * Tensors: float32 data with dims, layout and device (DESIGN.md habit 8). Nothing converts silently:
 * the constructor rejects other typed arrays, a length that is not product(dims), and dims that are not
 * positive integers. Data on a device other than 'cpu' is reached only through an explicit transfer.
 */
import { InvalidArgumentError, UnsupportedError } from './errors';
import { native } from './native';

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
   * @param dims  NCHW: [N,C,H,W]; NC: [N,K]. Positive integers.
   * @param data  Float32Array of exactly product(dims) elements (not copied).
   * @throws InvalidArgumentError on any mismatch (wrong typed array, wrong length, wrong rank, bad dims).
   */
  constructor(dims: readonly number[], data: Float32Array, layout?: Layout, device: Device = 'cpu') {
    if (!Array.isArray(dims)) throw new InvalidArgumentError(`dims: expected an array, got ${dims === null ? 'null' : typeof dims}`);
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
    native().checkTensor(dims as number[], data);
    this.dims = Object.freeze([...dims]);
    this.layout = lay;
    this.device = device;
    this.data = data;
  }

  /** A zero-filled NCHW (4 dims) or NC (2 dims) tensor. */
  static zeros(dims: readonly number[]): Tensor {
    const n = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`dims: invalid [${dims.join(',')}]`);
    return new Tensor(dims, new Float32Array(n));
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
    throw new UnsupportedError(`Tensor.to('${device}'): device-resident tensors are not implemented yet; models on 'cuda' take and return 'cpu' tensors`);
  }
}
