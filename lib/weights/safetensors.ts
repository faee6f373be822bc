/**
 * safetensors reader and writer (https://huggingface.co/docs/safetensors, format of the `safetensors` crate):
 *
 *   bytes [0, 8)        N: header length in bytes, u64 little-endian
 *   bytes [8, 8+N)      header: UTF-8 JSON object
 *                         { "<tensor>": { "dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end] },
 *                           …, "__metadata__": { "<key>": "<string value>" } }
 *   bytes [8+N, …)      data block; [begin, end) are byte offsets relative to its start, little-endian,
 *                       row-major (C order).
 *
 * The reader never loads the whole file: it reads and validates the header, then reads each tensor's byte
 * range straight into the memory of the Float32Array it returns (f16/bf16 through a small staging buffer
 * and widened exactly). A hostile or damaged header fails with FormatError (ERR_VGG_FORMAT) naming the
 * tensor and what was expected vs found; a well-formed tensor of a dtype we cannot use as f32 weights
 * (F64, integers, bool, f8) fails with UnsupportedError (ERR_VGG_UNSUPPORTED) when it is read.
 */
import * as fs from 'fs';
import * as os from 'os';
import { jsonPreview } from '../describe';
import { FormatError, InvalidArgumentError, UnsupportedError } from '../errors';

/** dtypes of the safetensors format and their sizes in bytes. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
});

/** dtypes read as f32 weights (f16 and bf16 are widened exactly). */
export type FloatDtype = 'F32' | 'F16' | 'BF16';
const READABLE = new Set<string>(['F32', 'F16', 'BF16']);

/** Largest header we accept: real headers are a few KiB to a few MiB. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Elements: the product of shape (1 for a scalar, shape []). */
  length: number;
  /** Byte range [begin, end) relative to the data block. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Tensors in header order. */
  tensors: Map<string, SafetensorsEntry>;
  /** `__metadata__` (string → string), empty when absent. */
  metadata: Record<string, string>;
  /** Absolute file offset of the data block: 8 + N. */
  dataOffset: number;
  /** Size of the file in bytes. */
  fileSize: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates a header (the JSON text) against a file of `fileSize` bytes whose data block starts at
 * `dataOffset`. Exported for tests and for tools that build headers; readSafetensorsHeader() is the usual entry.
 * @throws FormatError naming the tensor and the field: invalid JSON, not an object, missing/ill-typed fields,
 *   unknown dtype, negative/non-integer numbers, shape × dtype size ≠ end − begin, overlapping ranges,
 *   ranges past the end of the file (truncated file)
 */
export function parseSafetensorsHeader(
  json: string,
  dataOffset: number,
  fileSize: number,
  file = '<buffer>',
): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new FormatError(`${file}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw))
    throw new FormatError(
      `${file}: safetensors header: expected a JSON object, got ${Array.isArray(raw) ? 'an array' : typeof raw}`,
    );
  const dataBytes = fileSize - dataOffset;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (!isObject(v))
        throw new FormatError(`${file}: __metadata__: expected an object of strings, got ${jsonPreview(v)}`);
      for (const [k, s] of Object.entries(v))
        if (typeof s !== 'string')
          throw new FormatError(`${file}: __metadata__["${k}"]: expected a string, got ${jsonPreview(s)}`);
      metadata = v as Record<string, string>;
      continue;
    }
    const where = `${file}: tensor '${name}'`;
    if (!isObject(v))
      throw new FormatError(`${where}: expected an object {dtype, shape, data_offsets}, got ${jsonPreview(v)}`);
    const { dtype, shape, data_offsets: offsets } = v;
    if (typeof dtype !== 'string')
      throw new FormatError(`${where}: dtype: expected a string, got ${jsonPreview(dtype)}`);
    const size = SAFETENSORS_DTYPE_BYTES[dtype];
    if (size === undefined)
      throw new FormatError(
        `${where}: unknown dtype '${dtype}' (expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`,
      );
    if (!Array.isArray(shape) || !shape.every(nonNegInt))
      throw new FormatError(`${where}: shape: expected an array of non-negative integers, got ${jsonPreview(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(nonNegInt))
      throw new FormatError(
        `${where}: data_offsets: expected [begin, end], non-negative integers, got ${jsonPreview(offsets)}`,
      );
    const [begin, end] = offsets as number[];
    if (end < begin) throw new FormatError(`${where}: data_offsets: end ${end} is before begin ${begin}`);
    const length = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(length * size) || length * size !== end - begin)
      throw new FormatError(
        `${where}: shape [${shape.join(',')}] of ${dtype} needs ${length * size} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    if (end > dataBytes)
      throw new FormatError(
        `${where}: data_offsets end ${end} is past the end of the data block (${dataBytes} bytes): the file is truncated or the header is wrong`,
      );
    tensors.set(name, { name, dtype, shape: shape as number[], length, begin, end });
  }
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].begin < sorted[i - 1].end)
      throw new FormatError(
        `${file}: tensors '${sorted[i - 1].name}' [${sorted[i - 1].begin}, ${sorted[i - 1].end}) and '${sorted[i].name}' [${sorted[i].begin}, ${sorted[i].end}) overlap`,
      );
  return { tensors, metadata, dataOffset, fileSize };
}

/**
 * Whether tensor data is read with blocking reads on the calling thread instead of libuv's pool: set on the
 * library's loader worker_thread (lib/worker), which runs at lower priority and may block, so that the
 * page faults of filling fresh arrays do not compete with the main thread at normal priority.
 */
let blockingReads = false;
export function useBlockingReads(on: boolean): void {
  blockingReads = on;
}
export function blockingFileReads(): boolean {
  return blockingReads;
}

/** Reads exactly `dest.length` bytes at `position` into `dest`, or throws FormatError (short read: truncated). */
async function readRange(fh: fs.promises.FileHandle, dest: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < dest.length) {
    const { bytesRead } = blockingReads
      ? { bytesRead: fs.readSync(fh.fd, dest, done, Math.min(dest.length - done, 0x7fff0000), position + done) }
      : await fh.read(dest, done, dest.length - done, position + done);
    if (bytesRead === 0)
      throw new FormatError(
        `${what}: file ended after ${done} of ${dest.length} bytes at offset ${position} (truncated)`,
      );
    done += bytesRead;
  }
}

/** Reads of big tensors are split into chunks read concurrently on libuv's thread pool: the copy out of the page
 *  cache and the first-touch page faults of the destination then use more than one core. */
const CHUNK_BYTES = 16 << 20;
const READS_IN_FLIGHT = 4;

/** Reads exactly `dest.length` bytes at `position` (see readRange), big ranges in concurrent chunks. */
export async function readFully(
  fh: fs.promises.FileHandle,
  dest: Uint8Array,
  position: number,
  what: string,
): Promise<void> {
  if (dest.length <= CHUNK_BYTES || blockingReads) return readRange(fh, dest, position, what);
  let next = 0;
  const worker = async () => {
    while (next < dest.length) {
      const off = next;
      next = Math.min(dest.length, next + CHUNK_BYTES);
      await readRange(fh, dest.subarray(off, next), position + off, what);
    }
  };
  await Promise.all(Array.from({ length: READS_IN_FLIGHT }, worker));
}

/** f16 bits → f32 for all 65536 patterns, built on first use (256 KiB). Exact: every f16 is an f32. */
let f16Table: Float32Array | null = null;
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (f16Table = t);
}

/** Widens f16 bits to f32 (exact). */
export function f16ToF32(src: Uint16Array, dest: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = f16ToF32Table();
  for (let i = 0; i < src.length; i++) dest[i] = t[src[i]];
  return dest;
}

/** Widens bf16 bits to f32 (exact: bf16 is the top half of an f32). */
export function bf16ToF32(src: Uint16Array, dest: Float32Array = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(dest.buffer, dest.byteOffset, dest.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return dest;
}

/** f32 → f16 bits, round to nearest even (for writing test files). */
export function f32ToF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const e = (x >>> 23) & 0xff;
    let m = x & 0x7fffff;
    if (e === 0xff) {
      out[i] = sign | 0x7c00 | (m ? 0x200 : 0);
      continue;
    }
    let he = e - 127 + 15;
    if (he >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (he <= 0) {
      if (he < -10) {
        out[i] = sign;
        continue;
      }
      m |= 0x800000;
      const shift = 14 - he;
      let hm = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && hm & 1)) hm++;
      out[i] = sign | hm;
      continue;
    }
    let hm = m >>> 13;
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && hm & 1)) {
      hm++;
      if (hm === 0x400) {
        hm = 0;
        he++;
      }
    }
    out[i] = he >= 31 ? sign | 0x7c00 : sign | (he << 10) | hm;
  }
  return out;
}

/** f32 → bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i];
    const x = u[0];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Reverses the bytes of each `size`-byte element in place (a big-endian file on a little-endian host). */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size)
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
}

/**
 * An open safetensors file: header parsed and validated on open(), tensors read on demand.
 * Call close() when done (loadWeights does).
 */
export class SafetensorsFile {
  readonly file: string;
  readonly header: SafetensorsHeader;
  private fh: fs.promises.FileHandle | null;

  private constructor(file: string, fh: fs.promises.FileHandle, header: SafetensorsHeader) {
    this.file = file;
    this.fh = fh;
    this.header = header;
  }

  /**
   * Opens `file` and reads its header (only the header: 8 + N bytes).
   * @throws FormatError: file shorter than 8 bytes, header length > 100 MiB or past the end of the file, and
   *   everything parseSafetensorsHeader() rejects
   */
  static async open(file: string): Promise<SafetensorsFile> {
    const fh = await fs.promises.open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size < 8)
        throw new FormatError(
          `${file}: ${size} bytes is too short for a safetensors file (8-byte header length first)`,
        );
      const head = new Uint8Array(8);
      await readFully(fh, head, 0, file);
      const n = new DataView(head.buffer).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES))
        throw new FormatError(
          `${file}: safetensors header length ${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file, or damaged)`,
        );
      if (n > BigInt(size - 8))
        throw new FormatError(
          `${file}: safetensors header length ${n} bytes is past the end of the file (${size} bytes): truncated or not safetensors`,
        );
      const json = new Uint8Array(Number(n));
      await readFully(fh, json, 8, `${file}: header`);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(json);
      } catch {
        throw new FormatError(`${file}: safetensors header is not valid UTF-8`);
      }
      const header = parseSafetensorsHeader(text, 8 + Number(n), size, file);
      return new SafetensorsFile(file, fh, header);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Names in header order (without __metadata__). */
  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  entry(name: string): SafetensorsEntry {
    const t = this.header.tensors.get(name);
    if (!t) throw new FormatError(`${this.file}: no tensor '${name}'`);
    return t;
  }

  /** @throws UnsupportedError naming the tensor and its dtype unless it is F32, F16 or BF16 */
  checkReadable(name: string): void {
    const t = this.entry(name);
    if (!READABLE.has(t.dtype))
      throw new UnsupportedError(
        `${this.file}: tensor '${name}' has dtype ${t.dtype}; weights must be F32, F16 or BF16 (convert the file, e.g. to F32)`,
      );
  }

  /**
   * Reads tensor `name` as f32. F32 bytes go straight into the result's memory (or `dest`'s, which must have
   * exactly the tensor's element count); F16/BF16 are widened exactly.
   * @throws UnsupportedError for F64, integer, bool and f8 tensors (naming the tensor and dtype);
   *   FormatError when the file ends early; InvalidArgumentError when `dest` has the wrong length
   */
  async readF32(name: string, dest?: Float32Array): Promise<Float32Array> {
    const fh = this.fh;
    if (!fh) throw new InvalidArgumentError(`${this.file}: read of '${name}' after close()`);
    const t = this.entry(name);
    this.checkReadable(name);
    if (dest && dest.length !== t.length)
      throw new InvalidArgumentError(
        `dest for '${name}': expected a Float32Array of ${t.length} elements, got ${dest.length}`,
      );
    const out = dest ?? new Float32Array(t.length);
    const what = `${this.file}: tensor '${name}'`;
    const pos = this.header.dataOffset + t.begin;
    if (t.dtype === 'F32') {
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      await readFully(fh, bytes, pos, what);
      if (!LITTLE_ENDIAN) swapBytes(bytes, 4);
      return out;
    }
    const half = new Uint16Array(t.length);
    const bytes = new Uint8Array(half.buffer);
    await readFully(fh, bytes, pos, what);
    if (!LITTLE_ENDIAN) swapBytes(bytes, 2);
    return t.dtype === 'F16' ? f16ToF32(half, out) : bf16ToF32(half, out);
  }

  /**
   * Elements [from, from + count) of tensor `name` (row-major) as f32, read straight from the file (F16/BF16
   * widened exactly). Errors as readF32; InvalidArgumentError for a range outside the tensor.
   */
  async readRangeF32(name: string, from: number, count: number): Promise<Float32Array> {
    const fh = this.fh;
    if (!fh) throw new InvalidArgumentError(`${this.file}: read of '${name}' after close()`);
    const t = this.entry(name);
    this.checkReadable(name);
    if (!(
      Number.isSafeInteger(from) &&
      Number.isSafeInteger(count) &&
      from >= 0 &&
      count >= 0 &&
      from + count <= t.length
    ))
      throw new InvalidArgumentError(`${this.file}: tensor '${name}': range [${from}, ${from + count}) of ${t.length}`);
    const out = new Float32Array(count);
    const what = `${this.file}: tensor '${name}'`;
    const es = t.dtype === 'F32' ? 4 : 2;
    const pos = this.header.dataOffset + t.begin + from * es;
    const raw = es === 4 ? out : new Uint16Array(count);
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    await readFully(fh, bytes, pos, what);
    if (!LITTLE_ENDIAN) swapBytes(bytes, es);
    if (es === 4) return out;
    return t.dtype === 'F16' ? f16ToF32(raw as Uint16Array, out) : bf16ToF32(raw as Uint16Array, out);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}

/** Reads only the header of `file` (names, dtypes, shapes, offsets, metadata). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const f = await SafetensorsFile.open(file);
  await f.close();
  return f.header;
}

/** A tensor to write: f32 data for 'F32'; for 'F16'/'BF16' either f32 data (rounded to nearest even) or the raw u16 bits. */
export interface TensorToWrite {
  dtype: FloatDtype;
  shape: number[];
  data: Float32Array | Uint16Array;
}

/**
 * Writes a safetensors file: tensors in the given order, contiguous, header padded with spaces to a multiple
 * of 8 bytes (as the reference implementation does, so the data block is aligned). Data is written tensor by
 * tensor (no copy of the whole file in memory).
 * @throws InvalidArgumentError when a tensor's data length does not match its shape or its type its dtype
 */
export function writeSafetensors(
  file: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new InvalidArgumentError(`tensors: '__metadata__' is reserved`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n)
      throw new InvalidArgumentError(
        `tensors['${name}'].data: expected ${n} elements for shape [${t.shape.join(',')}], got ${t.data.length}`,
      );
    let bytes: Uint8Array;
    if (t.dtype === 'F32') {
      if (!(t.data instanceof Float32Array))
        throw new InvalidArgumentError(`tensors['${name}'].data: F32 needs a Float32Array`);
      bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    } else if (t.dtype === 'F16' || t.dtype === 'BF16') {
      const bits = t.data instanceof Uint16Array ? t.data : t.dtype === 'F16' ? f32ToF16(t.data) : f32ToBf16(t.data);
      bytes = new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
    } else
      throw new InvalidArgumentError(
        `tensors['${name}'].dtype: expected 'F32' | 'F16' | 'BF16', got '${String(t.dtype)}'`,
      );
    if (!LITTLE_ENDIAN) {
      bytes = bytes.slice();
      swapBytes(bytes, t.dtype === 'F32' ? 4 : 2);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    payloads.push(bytes);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).length + 8) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  const fd = fs.openSync(file, 'w');
  try {
    writeAll(fd, len);
    writeAll(fd, jsonBytes);
    for (const p of payloads) writeAll(fd, p);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, 0x7fff0000));
}
