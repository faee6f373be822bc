/**
 * Which weights format a file holds, from its first bytes (not its extension: `.bin`, `.pt`, `.model` and
 * renamed files are common; the extension is consulted only for files whose bytes match nothing, to let the
 * claimed format's reader explain the damage). Each format's reader then checks the rest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from '../errors';

export type WeightsFormat = 'safetensors' | 'onnx' | 'pytorch-zip' | 'pytorch-legacy' | 'hdf5' | 'caffe';

/** Bytes read to decide. */
export const SNIFF_BYTES = 16;

/** The HDF5 superblock signature (HDF5 File Format Specification §II.A), at offset 0 for Keras files. */
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The format of a file whose first bytes are `head` (up to SNIFF_BYTES) and whose size is `size`, or null.
 * - safetensors: u64 little-endian header length ≤ size − 8, then '{'.
 * - PyTorch zip (torch.save since 1.6): a zip local file header, 'PK\x03\x04'.
 * - PyTorch legacy (torch.save with _use_new_zipfile_serialization=False; torchvision's VGG releases): a
 *   pickle, protocol 2–5 (0x80, version), whose first object is the magic number 0x1950a86a20f9469cfc6c.
 * - HDF5 (Keras .h5): the superblock signature.
 * - ONNX: a protobuf ModelProto; writers emit fields in number order, so it opens with ir_version (field 1,
 *   varint: tag 0x08).
 * - Caffe .caffemodel: a protobuf NetParameter opening with name (field 1, length-delimited: 0x0a), V1
 *   `layers` (2: 0x12), `input` (3: 0x1a) or V2 `layer` (100: 0xa2 0x06) (caffe.proto).
 */
export function sniffFormat(head: Uint8Array, size: number): WeightsFormat | null {
  const n = head.length;
  if (n >= 9 && head[8] === 0x7b) {
    const len = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (len <= BigInt(Math.max(0, size - 8))) return 'safetensors';
  }
  if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pytorch-zip';
  if (n >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'pytorch-legacy';
  if (n >= 8 && HDF5_SIGNATURE.every((b, i) => head[i] === b)) return 'hdf5';
  if (n >= 9 && head[8] === 0x7b) return 'safetensors'; // a damaged header length: the reader says what is wrong
  if (n >= 1 && head[0] === 0x08) return 'onnx';
  if (n >= 1 && (head[0] === 0x0a || head[0] === 0x12 || head[0] === 0x1a)) return 'caffe';
  if (n >= 2 && head[0] === 0xa2 && head[1] === 0x06) return 'caffe';
  return null;
}

/** What a file's extension claims, used only when its bytes match no format: that format's reader then says
 *  what is wrong with the file (a damaged safetensors header, a truncated file) instead of a generic error. */
const BY_EXTENSION: Readonly<Record<string, WeightsFormat>> = {
  '.safetensors': 'safetensors',
  '.onnx': 'onnx',
  '.pth': 'pytorch-zip',
  '.pt': 'pytorch-zip',
  '.h5': 'hdf5',
  '.hdf5': 'hdf5',
  '.caffemodel': 'caffe',
};

/**
 * sniffFormat of a file; when its bytes match no format, the format its extension claims (whose reader then
 * reports the damage). @throws FormatError naming the formats read when neither tells
 */
export async function sniffFile(file: string): Promise<WeightsFormat> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const head = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
    const { size } = await fh.stat();
    const format = sniffFormat(head.subarray(0, bytesRead), size);
    if (format) return format;
    const claimed = BY_EXTENSION[path.extname(file).toLowerCase()];
    if (claimed) return claimed;
    const hex = Buffer.from(head.subarray(0, Math.min(bytesRead, 8))).toString('hex');
    throw new FormatError(
      `${file}: not a weights file vggnet reads (safetensors, ONNX, PyTorch .pth, Keras .h5, Caffe .caffemodel), ` +
        `judged by its first bytes (${hex || 'empty file'})`,
    );
  } finally {
    await fh.close();
  }
}
