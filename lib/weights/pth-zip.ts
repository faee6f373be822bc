/**
 * The zip archive torch.save writes since PyTorch 1.6 (torch/serialization.py _save, written by
 * caffe2/serialize/inline_container.cc PyTorchStreamWriter). Every record lies under one folder whose name
 * varies (the file's stem when saved to a path, 'archive' for a buffer); PyTorchStreamReader takes it from the
 * first record, as this reader does:
 *
 *   <name>/data.pkl      the pickle: the state dict, storages named by persistent ids (torch-pickle.ts)
 *   <name>/data/<key>    each storage's raw bytes, stored (not compressed), 64-byte aligned
 *   <name>/byteorder     'little' | 'big': the storages' byte order (PyTorch ≥ 2.1 writes it; absent: little)
 *   <name>/version, .data/serialization_id, .format_version, .storage_alignment   not needed to read
 *
 * The central directory (zip64 records included) is read with yauzl; each storage is then read by its file
 * offset when a layer is read (pth.ts), never extracted or decompressed.
 */
import * as fs from 'fs';
import type { Readable } from 'stream';
import * as yauzl from 'yauzl';

import { FormatError, UnsupportedError } from '../errors';
import { MAX_PICKLE_BYTES, unpickle } from './pickle';
import { readFully } from './safetensors';
import { PthContainer, TorchPickleHost } from './torch-pickle';

/** More records than a torch.save archive of any model has (one per storage, plus five). */
export const MAX_ZIP_ENTRIES = 1 << 18;

const utf8 = new TextDecoder('utf-8');

/** yauzl's reads through our file handle; its close() leaves the handle open (pth.ts closes it). */
class HandleReader extends yauzl.RandomAccessReader {
  constructor(private readonly fh: fs.promises.FileHandle) {
    super();
  }
  _readStreamForRange(): Readable {
    throw new Error('HandleReader reads with read()');
  }
  read(buffer: Buffer, offset: number, length: number, position: number, done: (err: Error | null) => void): void {
    const callback = done as (err: Error | null, bytesRead?: number) => void;
    this.fh.read(buffer as unknown as Uint8Array, offset, length, position).then(
      (r) => callback(null, r.bytesRead),
      (e: Error) => callback(e),
    );
  }
  close(callback: (err: Error | null) => void): void {
    setImmediate(() => callback(null));
  }
}

/**
 * Reads the archive's central directory, its data.pkl and byteorder records.
 * @throws FormatError (not a readable zip, no data.pkl, a record past the end, a bad byteorder), UnsupportedError
 *   (a TorchScript archive from torch.jit.save; compressed records; what the pickle refuses)
 */
export async function readPthZip(fh: fs.promises.FileHandle, file: string, size: number): Promise<PthContainer> {
  let zip: yauzl.ZipFile | undefined;
  const entries = new Map<string, yauzl.Entry>();
  let first: string | undefined;
  try {
    const options = { autoClose: false, decodeStrings: false, validateEntrySizes: true };
    zip = await yauzl.fromRandomAccessReaderPromise(new HandleReader(fh), size, options);
    zip.on('error', () => {}); // errors arrive through the promises below
    if (zip.entryCount > MAX_ZIP_ENTRIES)
      throw new FormatError(`the zip lists ${zip.entryCount} records (at most ${MAX_ZIP_ENTRIES} are read)`);
    for await (const e of zip.eachEntry()) {
      const name = utf8.decode(e.fileName as unknown as Uint8Array);
      first ??= name;
      if (!entries.has(name)) entries.set(name, e);
    }
  } catch (e) {
    zip?.close();
    if (e instanceof FormatError) throw new FormatError(`${file}: ${e.message}`);
    throw new FormatError(`${file}: not a readable zip archive (${(e as Error).message})`);
  }
  const archive = zip;
  try {
    const slash = first?.indexOf('/') ?? -1;
    if (first === undefined || slash <= 0)
      throw new FormatError(`${file}: not a torch.save archive: records lie in no folder (first: '${first ?? ''}')`);
    const dir = first.slice(0, slash);
    if (entries.has(`${dir}/constants.pkl`) || [...entries.keys()].some((n) => n.startsWith(`${dir}/code/`)))
      throw new UnsupportedError(
        `${file}: a TorchScript archive (torch.jit.save), not a state dict: load it in Python (torch.jit.load) and ` +
          `save its weights with torch.save(model.state_dict(), path)`,
      );
    const record = async (name: string, max: number): Promise<{ pos: number; size: number } | null> => {
      const e = entries.get(name);
      if (!e) return null;
      if (e.compressionMethod !== 0)
        throw new UnsupportedError(
          `${file}: record '${name}' is compressed (method ${e.compressionMethod}); torch.save stores records ` +
            `uncompressed, and only such are read (re-save the file with torch.save)`,
        );
      if (e.uncompressedSize > max)
        throw new FormatError(`${file}: record '${name}' holds ${e.uncompressedSize} bytes, more than ${max}`);
      try {
        const { fileDataStart } = await archive.readLocalFileHeaderPromise(e, { minimal: true });
        return { pos: fileDataStart, size: e.uncompressedSize };
      } catch (err) {
        throw new FormatError(`${file}: record '${name}': ${(err as Error).message}`);
      }
    };
    const read = async (name: string, max: number): Promise<Uint8Array | null> => {
      const r = await record(name, max);
      if (!r) return null;
      const bytes = new Uint8Array(r.size);
      await readFully(fh, bytes, r.pos, `${file}: record '${name}'`);
      return bytes;
    };

    const pkl = await read(`${dir}/data.pkl`, MAX_PICKLE_BYTES);
    if (!pkl)
      throw new FormatError(
        `${file}: no record '${dir}/data.pkl': not a torch.save archive (records: ${[...entries.keys()]
          .slice(0, 6)
          .map((n) => `'${n}'`)
          .join(', ')}${entries.size > 6 ? ', …' : ''})`,
      );
    const order = await read(`${dir}/byteorder`, 16);
    const byteorder = order ? utf8.decode(order) : 'little';
    if (byteorder !== 'little' && byteorder !== 'big')
      throw new FormatError(`${file}: record '${dir}/byteorder' says '${byteorder}', expected 'little' or 'big'`);

    const where = `${file}: ${dir}/data.pkl`;
    const host = new TorchPickleHost(where);
    const { value, end } = unpickle(pkl, 0, host, where);
    if (end !== pkl.length) throw new FormatError(`${where}: ${pkl.length - end} bytes follow the pickle's STOP`);

    return {
      value,
      roots: host.roots,
      littleEndian: byteorder === 'little',
      locate: async (key) => {
        const name = `${dir}/data/${key}`;
        const root = host.roots.get(key)!;
        const r = await record(name, Number.MAX_SAFE_INTEGER);
        if (!r) throw new FormatError(`${file}: record '${name}' is missing: the archive lacks storage '${key}'`);
        if (r.size !== root.nbytes)
          throw new FormatError(
            `${file}: record '${name}' holds ${r.size} bytes; the pickle's storage '${key}' is ${root.nbytes} bytes of ${root.dtype}`,
          );
        return r.pos;
      },
      done: () => archive.close(),
    };
  } catch (e) {
    archive.close();
    throw e;
  }
}
