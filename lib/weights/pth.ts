/**
 * PyTorch .pth files, both serializations: the zip archive of torch.save since PyTorch 1.6 (pth-zip.ts) and the
 * legacy format of torchvision's VGG releases (pth-legacy.ts), their pickles read by a restricted unpickler
 * (pickle.ts, torch-pickle.ts) that allows what torch.load(weights_only=True) allows and runs nothing.
 *
 * The state dict is found as users hold it: model.state_dict() itself, or a checkpoint dict holding it under
 * 'state_dict' (PyTorch's ImageNet example, timm), 'model_state_dict' (PyTorch's tutorials), 'model', … Names
 * then go through the path every named format takes (named-tensors.ts: 'module.' of nn.DataParallel dropped,
 * torchvision/timm/vggnet names, architecture detected, batch norm folded). Tensors may be views (a storage
 * offset, any strides: channels-last, transposed, expanded) and may share storages; f16 and bf16 are widened
 * to f32 exactly; each is read from the file by offset when its layer is read.
 */
import * as fs from 'fs';
import * as os from 'os';

import { FormatError, InvalidArgumentError, UnsupportedError } from '../errors';
import { openNamedWeights, TensorSource } from './named-tensors';
import { PyDict, pyType } from './pickle';
import { readPthLegacy } from './pth-legacy';
import { readPthZip } from './pth-zip';
import { bf16ToF32, f16ToF32, readFully, swapBytes } from './safetensors';
import { AnyTensor, DTYPE_BYTES, isTensor, PthTensor } from './torch-pickle';
import { LoadWeightsOptions, resolveGivenArch, WeightsReader } from './types';

/** Keys under which checkpoint dicts hold the state dict, in the order they are tried. */
export const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network', 'weights'];

/** Opens a .pth weights file (either serialization) and checks every tensor; layers are read by read(i).
 *  Errors as loadWeights. */
export async function openPthWeights(file: string, options: LoadWeightsOptions): Promise<WeightsReader> {
  resolveGivenArch(options.arch); // an unknown arch fails before the file is read
  return openNamedWeights(await openPthTensors(file), options, 'pytorch');
}

/**
 * The state dict of a .pth file as named tensors: the container read, the pickle interpreted, the state dict
 * found, and every tensor's storage located and checked present (so a truncated file or a missing record fails
 * here, not halfway through a load).
 * @throws FormatError, UnsupportedError (see openPthWeights)
 */
export async function openPthTensors(file: string): Promise<PthTensors> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = new Uint8Array(4);
    await fh.read(head, 0, 4, 0);
    const zip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
    const c = zip ? await readPthZip(fh, file, size) : await readPthLegacy(fh, file, size);
    try {
      const tensors = findStateDict(file, c.value);
      const positions = new Map<string, number>();
      for (const [name, t] of tensors)
        if (t instanceof PthTensor && t.storage && !positions.has(t.storage.key))
          try {
            positions.set(t.storage.key, await c.locate(t.storage.key));
          } catch (e) {
            if (!(e instanceof FormatError)) throw e;
            throw new FormatError(`${e.message} (the storage of tensor '${name}')`);
          }
      return new PthTensors(file, fh, tensors, positions, c.littleEndian);
    } finally {
      c.done();
    }
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** A plain dict whose values include tensors: its tensors by name (other values, as an 'epoch', ignored). */
function tensorsOf(file: string, d: unknown): Map<string, AnyTensor> | null {
  if (!(d instanceof PyDict)) return null;
  const out = new Map<string, AnyTensor>();
  for (const [k, v] of d.map)
    if (isTensor(v)) {
      if (typeof k !== 'string') throw new FormatError(`${file}: a state dict key is a ${pyType(k)}, not a str`);
      out.set(k, v);
    }
  return out.size ? out : null;
}

/**
 * The state dict in what torch.save pickled: a checkpoint's entry under STATE_DICT_KEYS, else the dict itself
 * when it holds tensors, else its one entry that does.
 */
function findStateDict(file: string, value: unknown): Map<string, AnyTensor> {
  if (value instanceof PyDict) {
    for (const key of STATE_DICT_KEYS) {
      const sd = tensorsOf(file, value.map.get(key));
      if (sd) return sd;
    }
    const own = tensorsOf(file, value);
    if (own) return own;
    const nested = [...value.map.values()].map((v) => tensorsOf(file, v)).filter((m) => m !== null);
    if (nested.length === 1) return nested[0]!;
    const keys = [...value.map.keys()].slice(0, 8).map((k) => (typeof k === 'string' ? `'${k}'` : pyType(k)));
    throw new FormatError(
      `${file}: no state dict found: the file holds a dict with keys ${keys.join(', ') || '(none)'}${
        value.map.size > 8 ? ', …' : ''
      } and ${nested.length ? `${nested.length} dicts of tensors` : 'no tensors'}; expected model.state_dict() or a checkpoint ` +
        `holding it under ${STATE_DICT_KEYS.slice(0, 3)
          .map((k) => `'${k}'`)
          .join(', ')}, …`,
    );
  }
  throw new FormatError(
    `${file}: no state dict found: the file holds a ${isTensor(value) ? 'single tensor' : pyType(value)}; expected ` +
      `model.state_dict() (a dict of name → tensor) or a checkpoint dict holding it`,
  );
}

const LITTLE_ENDIAN = os.endianness() === 'LE';
const READABLE = new Set(['float32', 'float16', 'bfloat16']);

/** The tensors of a .pth state dict, read by file offset on demand (named-tensors.ts TensorSource). */
export class PthTensors implements TensorSource {
  private fh: fs.promises.FileHandle | null;

  constructor(
    readonly file: string,
    fh: fs.promises.FileHandle,
    private readonly tensors: Map<string, AnyTensor>,
    /** File offset of each root storage's first byte. */
    private readonly positions: Map<string, number>,
    private readonly littleEndian: boolean,
  ) {
    this.fh = fh;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  private get(name: string): AnyTensor {
    const t = this.tensors.get(name);
    if (!t) throw new FormatError(`${this.file}: no tensor '${name}'`);
    return t;
  }

  shape(name: string): number[] {
    return [...this.get(name).size];
  }

  /** The torch dtype ('float32', …) or, for a tensor with no dense data, what it is. */
  dtype(name: string): string {
    const t = this.get(name);
    return t instanceof PthTensor ? t.dtype : t.what;
  }

  checkReadable(name: string): void {
    const t = this.get(name);
    if (!(t instanceof PthTensor))
      throw new UnsupportedError(`${this.file}: tensor '${name}' is ${t.what}; weights must be dense tensors`);
    if (!READABLE.has(t.dtype))
      throw new UnsupportedError(
        `${this.file}: tensor '${name}' has dtype ${t.dtype}; weights must be float32, float16 or bfloat16 ` +
          `(in Python: torch.save(model.float().state_dict(), path))`,
      );
  }

  /**
   * The tensor in row-major order as f32: a contiguous one read straight into the result's memory, a view
   * (strides, offset) read over the storage range it spans and gathered.
   * @throws UnsupportedError (see checkReadable), FormatError (the file ends early), InvalidArgumentError (closed)
   */
  async readF32(name: string): Promise<Float32Array> {
    const fh = this.fh;
    if (!fh) throw new InvalidArgumentError(`${this.file}: read of '${name}' after close()`);
    this.checkReadable(name);
    const t = this.get(name) as PthTensor;
    const numel = t.size.reduce((a, b) => a * b, 1);
    const out = new Float32Array(numel);
    if (numel === 0 || !t.storage) return out;
    const es = DTYPE_BYTES[t.dtype];
    // Elements [offset, offset + span) of the storage hold the view; a contiguous view is exactly numel of them.
    let span = 1;
    for (let d = 0; d < t.size.length; d++) span += (t.size[d] - 1) * t.stride[d];
    const contiguous = span === numel && isRowMajor(t.size, t.stride);
    const pos = this.positions.get(t.storage.key)! + t.storage.byteOffset + t.offset * es;
    const what = `${this.file}: tensor '${name}'`;
    const raw = es === 4 ? (contiguous ? out : new Float32Array(span)) : new Uint16Array(span);
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    await readFully(fh, bytes, pos, what);
    if (this.littleEndian !== LITTLE_ENDIAN) swapBytes(bytes, es);
    const dense = contiguous ? raw : gather(raw, t.size, t.stride);
    if (es === 4) {
      if (dense !== out) out.set(dense as Float32Array);
      return out;
    }
    return t.dtype === 'float16' ? f16ToF32(dense as Uint16Array, out) : bf16ToF32(dense as Uint16Array, out);
  }

  /**
   * Elements [from, from + count) of the tensor in row-major order as f32, read straight from the file, or
   * null when the tensor is a view that is not contiguous (read it whole). Errors as readF32.
   */
  async readRangeF32(name: string, from: number, count: number): Promise<Float32Array | null> {
    const fh = this.fh;
    if (!fh) throw new InvalidArgumentError(`${this.file}: read of '${name}' after close()`);
    this.checkReadable(name);
    const t = this.get(name) as PthTensor;
    const numel = t.size.reduce((a, b) => a * b, 1);
    if (!(
      Number.isSafeInteger(from) &&
      Number.isSafeInteger(count) &&
      from >= 0 &&
      count >= 0 &&
      from + count <= numel
    ))
      throw new InvalidArgumentError(`${this.file}: tensor '${name}': range [${from}, ${from + count}) of ${numel}`);
    if (!t.storage || !isRowMajor(t.size, t.stride)) return null;
    const es = DTYPE_BYTES[t.dtype];
    const out = new Float32Array(count);
    const raw = es === 4 ? out : new Uint16Array(count);
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    const pos = this.positions.get(t.storage.key)! + t.storage.byteOffset + (t.offset + from) * es;
    await readFully(fh, bytes, pos, `${this.file}: tensor '${name}'`);
    if (this.littleEndian !== LITTLE_ENDIAN) swapBytes(bytes, es);
    if (es === 4) return out;
    return t.dtype === 'float16' ? f16ToF32(raw as Uint16Array, out) : bf16ToF32(raw as Uint16Array, out);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}

/** True when strides are the row-major ones of size (dims of extent 1 may have any stride, as torch's
 *  is_contiguous allows). */
function isRowMajor(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/** Elements src[Σ i_d·stride_d] for every index i < size, in row-major order (an odometer, no recursion). */
function gather<T extends Float32Array | Uint16Array>(src: T, size: number[], stride: number[]): T {
  const numel = size.reduce((a, b) => a * b, 1);
  const dst = new (src.constructor as new (n: number) => T)(numel);
  const nd = size.length;
  const idx = new Array<number>(nd).fill(0);
  let at = 0;
  for (let i = 0; i < numel; i++) {
    dst[i] = src[at];
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < size[d]) {
        at += stride[d];
        break;
      }
      at -= (size[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
  return dst;
}
