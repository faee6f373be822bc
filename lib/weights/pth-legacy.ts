/**
 * The legacy format: torch.save(…, _use_new_zipfile_serialization=False), the default before PyTorch 1.6 and the
 * format of torchvision's VGG releases (vgg16-397923af.pth). torch/serialization.py _legacy_save writes
 *
 *   pickle   MAGIC_NUMBER, the int 0x1950a86a20f9469cfc6c
 *   pickle   PROTOCOL_VERSION, 1001
 *   pickle   sys_info {'protocol_version', 'little_endian', 'type_sizes'}
 *   pickle   the object; storages named by persistent ids (torch-pickle.ts)
 *   pickle   the storage keys, a list of strings
 *   then, for each key in that list's order: the storage's element count (int64 little-endian), then its bytes,
 *   little-endian whatever the writer's byte order (THPStorage writeFileRaw swaps on big-endian hosts)
 *
 * The pickles are read from a prefix of the file that grows until they fit (never the storages' bytes); a
 * storage's place follows from the element counts the pickle gives, and its count field is checked when the
 * storage is first needed.
 */
import * as fs from 'fs';

import { FormatError } from '../errors';
import { MAX_PICKLE_BYTES, PickleNeedsMore, PyDict, PyList, pyType, unpickle } from './pickle';
import { readFully } from './safetensors';
import { DTYPE_BYTES, PthContainer, TorchPickleHost } from './torch-pickle';

/** torch/serialization.py MAGIC_NUMBER and PROTOCOL_VERSION. */
export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
export const LEGACY_PROTOCOL = 1001;

/** The first prefix read: real files' pickles take a few KiB (vgg16: ~6 KiB). */
const FIRST_READ = 64 << 10;

/**
 * Reads the five pickles at the start of a legacy file of `size` bytes.
 * @throws FormatError (not torch.save's magic number or protocol, malformed pickles, storage keys the pickle
 *   does not name), UnsupportedError (what the pickle refuses)
 */
export async function readPthLegacy(fh: fs.promises.FileHandle, file: string, size: number): Promise<PthContainer> {
  for (let window = Math.min(size, FIRST_READ); ; window = Math.min(size, MAX_PICKLE_BYTES, window * 8)) {
    const buf = new Uint8Array(window);
    await readFully(fh, buf, 0, file);
    try {
      return parse(fh, file, size, buf, window < size);
    } catch (e) {
      if (!(e instanceof PickleNeedsMore)) throw e;
      if (window >= MAX_PICKLE_BYTES)
        throw new FormatError(`${file}: the pickles do not end within the first ${MAX_PICKLE_BYTES} bytes`);
    }
  }
}

function parse(fh: fs.promises.FileHandle, file: string, size: number, buf: Uint8Array, prefix: boolean): PthContainer {
  const host = new TorchPickleHost(`${file}: the state pickle`);
  const header = new TorchPickleHost(`${file}: the header pickles`);
  const magic = unpickle(buf, 0, header, `${file}: the magic-number pickle`, prefix);
  if (magic.value !== LEGACY_MAGIC)
    throw new FormatError(
      `${file}: not a PyTorch file: its first pickle is a ${pyType(magic.value)}, not torch.save's magic number 0x${LEGACY_MAGIC.toString(16)}`,
    );
  const version = unpickle(buf, magic.end, header, `${file}: the protocol pickle`, prefix);
  if (version.value !== LEGACY_PROTOCOL)
    throw new FormatError(
      `${file}: torch.save protocol version ${String(version.value)}, expected ${LEGACY_PROTOCOL} (torch/serialization.py)`,
    );
  const sysInfo = unpickle(buf, version.end, header, `${file}: the sys_info pickle`, prefix);
  if (!(sysInfo.value instanceof PyDict))
    throw new FormatError(`${file}: sys_info: expected a dict, got ${pyType(sysInfo.value)}`);
  const main = unpickle(buf, sysInfo.end, host, `${file}: the state pickle`, prefix);
  const keys = unpickle(buf, main.end, header, `${file}: the storage-keys pickle`, prefix);
  if (!(keys.value instanceof PyList) || !keys.value.items.every((k) => typeof k === 'string'))
    throw new FormatError(`${file}: the storage keys: expected a list of strings, got ${pyType(keys.value)}`);

  // Where each storage's count field lies: they follow one another in the keys' order.
  const at = new Map<string, number>();
  let pos = keys.end;
  for (const key of keys.value.items as string[]) {
    const root = host.roots.get(key);
    if (!root)
      throw new FormatError(`${file}: storage key '${key}' is listed but the state pickle names no such storage`);
    if (at.has(key)) throw new FormatError(`${file}: storage key '${key}' is listed twice`);
    at.set(key, pos);
    pos += 8 + root.nbytes;
  }
  return {
    value: main.value,
    roots: host.roots,
    littleEndian: true,
    locate: async (key) => {
      const root = host.roots.get(key)!;
      const p = at.get(key);
      if (p === undefined)
        throw new FormatError(`${file}: storage '${key}' has no data: the file's list of storages lacks it`);
      if (p + 8 + root.nbytes > size)
        throw new FormatError(
          `${file}: storage '${key}' (${root.nbytes} bytes at offset ${p + 8}) ends past the end of the file (${size} bytes): truncated`,
        );
      const count = new Uint8Array(8);
      await readFully(fh, count, p, `${file}: storage '${key}'`);
      const n = new DataView(count.buffer).getBigInt64(0, true);
      const numel = root.nbytes / DTYPE_BYTES[root.dtype];
      if (n !== BigInt(numel))
        throw new FormatError(
          `${file}: storage '${key}' at offset ${p} says ${n} elements; the state pickle says ${numel} of ${root.dtype}`,
        );
      return p + 8;
    },
    done: () => {},
  };
}
