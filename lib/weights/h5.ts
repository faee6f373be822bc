/**
 * A read-only view of an HDF5 file through h5wasm (the HDF5 C library, 2.0, compiled to WebAssembly; its
 * Node build reads the host file system in place, so a 528 MB file is never copied whole into memory).
 *
 * Only what weights readers need, and only safely:
 *  - each file gets a fresh instance of the library, dropped (and garbage-collected) at close: a damaged
 *    file can corrupt the C library's heap or make it abort, and must not poison the next file. That is why
 *    this uses h5wasm's module factory (`dist/node/hdf5_util.js`, its C API bound with embind) and not its
 *    high-level wrapper, which holds one instance per realm for ever;
 *  - objects are reached through hard links alone: a soft or external link (which could lead out of the file
 *    or round in circles) is refused before the library follows it;
 *  - datasets must be IEEE floats (f32, or f64 narrowed) whose declared size the file can hold, not virtual;
 *    attributes are read only when small (MAX_ATTRIBUTE_BYTES);
 *  - every HDF5 error becomes a FormatError naming the file and the library's innermost message.
 *
 * h5wasm is an ES module: it is loaded with a real dynamic import (this package is compiled to CommonJS,
 * whose `import()` would become a `require()`). That needs a plain Node realm, as the loader thread is
 * (loadWeights, streamWeights); jest's module sandbox cannot run it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { H5Module, Metadata } from 'h5wasm/src/hdf5_util_helpers';
import { FormatError, UnsupportedError } from '../errors';

type Factory = (options: object) => Promise<H5Module>;
let factory: Promise<Factory> | undefined;
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<{ default: Factory }>;

/** h5wasm's Node build of the library (the module the package's "./node" export wraps). */
function h5wasmFactory(): Promise<Factory> {
  factory ??= (async () => {
    for (const dir of require.resolve.paths('h5wasm') ?? []) {
      const file = path.join(dir, 'h5wasm', 'dist', 'node', 'hdf5_util.js');
      if (fs.existsSync(file)) return (await importEsm(pathToFileURL(file).href)).default;
    }
    throw new UnsupportedError('reading Keras .h5 files needs the h5wasm package (a dependency of vggnet): not found');
  })();
  factory.catch(() => (factory = undefined));
  return factory;
}

/** The innermost frame of an HDF5 error stack ("H5F__super_read(): truncated file: eof = 1000, …"). */
function hdf5Message(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  const frames = [...text.matchAll(/ in (\w+\(\)): ([^\n]*)/g)];
  return frames.length ? `${frames[frames.length - 1][1]} ${frames[frames.length - 1][2]}` : text.split('\n')[0];
}

/** Largest ratio of a chunked (possibly compressed) dataset's declared size to the file's size. */
const MAX_COMPRESSION = 16;
/** Largest attribute read (Keras's largest, model_config, is tens of KB; it splits lists past 64 KB). */
const MAX_ATTRIBUTE_BYTES = 16 << 20;
/** Longest variable-length string read from the library's heap. */
const MAX_STRING_BYTES = 1 << 20;
/** HDF5 datatype classes (H5Tpublic.h). */
const H5T_FLOAT = 1,
  H5T_STRING = 3;

/** A dataset's shape and element size in bytes (4: f32, 8: f64). */
export interface H5DatasetInfo {
  path: string;
  shape: number[];
  bytes: 4 | 8;
}

export class H5File {
  private constructor(
    readonly file: string,
    readonly size: number,
    private M: H5Module | null,
    private readonly id: bigint,
  ) {}

  /** @throws FormatError when the file is not HDF5 or is damaged (the library's message) */
  static async open(file: string): Promise<H5File> {
    const create = await h5wasmFactory();
    const { size } = await fs.promises.stat(file);
    // print/printErr: the library's own messages ("Cannot enlarge memory", UTF-8 warnings) are not ours to print
    const M = await create({ noInitialRun: true, print: () => {}, printErr: () => {} });
    M.activate_throwing_error_handler(); // errors thrown with their message, not printed to stderr
    try {
      return new H5File(file, size, M, M.open(file, M.H5F_ACC_RDONLY, false, -1, -1));
    } catch (e) {
      throw new FormatError(`${file}: not a readable HDF5 file (${hdf5Message(e)})`);
    }
  }

  /** Closes the file and lets go of its library instance. */
  close(): void {
    try {
      this.M?.close_file(this.id);
    } catch {
      // a damaged instance: dropped all the same
    }
    this.M = null;
  }

  /** A library call, its errors (an abort included) as FormatError about `what`. */
  private call<T>(what: string, fn: (M: H5Module) => T): T {
    if (!this.M) throw new FormatError(`${this.file}: ${what}: the file is closed`);
    try {
      return fn(this.M);
    } catch (e) {
      if (e instanceof FormatError || e instanceof UnsupportedError) throw e;
      throw new FormatError(`${this.file}: ${what}: ${hdf5Message(e)}`);
    }
  }

  /**
   * The kind of object at `path` ('/a/b'), reached through hard links only; null when absent.
   * @throws FormatError for a soft or external link on the way (named)
   */
  kind(path: string): 'group' | 'dataset' | 'other' | null {
    return this.call(`'${path}'`, (M) => {
      const parts = path.split('/').filter((p) => p !== '' && p !== '.');
      let at = '';
      let type = M.H5G_GROUP;
      for (const part of parts) {
        if (type !== M.H5G_GROUP) return null; // a dataset has no members
        at += `/${part}`;
        // The link itself first (its value, not followed): a missing one throws; soft links are refused.
        let soft: string | null;
        try {
          soft = M.get_symbolic_link(this.id, at);
        } catch {
          return null;
        }
        if (soft !== null)
          throw new FormatError(
            `${this.file}: '${at}' is a soft link (to '${soft}'); weights files hold hard links only`,
          );
        // get_type follows an external link into the other file: look at the link's value before.
        const external = M.get_external_link(this.id, at);
        if (external?.filename)
          throw new FormatError(
            `${this.file}: '${at}' is an external link (to '${external.filename}'); links to other files are not followed`,
          );
        type = M.get_type(this.id, at); // a hard link's object
        if (type < 0) return null;
      }
      return type === M.H5G_GROUP ? 'group' : type === M.H5G_DATASET ? 'dataset' : 'other';
    });
  }

  /** Attribute names of an object. */
  attributeNames(path: string): string[] {
    return this.call(`attributes of '${path}'`, (M) => M.get_attribute_names(this.id, path));
  }

  /** Member names of a group (listed, not followed). */
  members(path: string): string[] {
    return this.call(`members of '${path}'`, (M) => M.get_names(this.id, path, false));
  }

  /**
   * An attribute's strings (fixed or variable length, scalar or array; [] for an empty array of any type),
   * undefined when absent. @throws FormatError when it holds something else or more than MAX_ATTRIBUTE_BYTES
   */
  strings(path: string, name: string): string[] | undefined {
    if (this.kind(path) === null || !this.attributeNames(path).includes(name)) return undefined;
    const what = `attribute '${name}' of '${path}'`;
    return this.call(what, (M) => {
      const m = M.get_attribute_metadata(this.id, path, name);
      if (!m.shape || m.total_size === 0) return [];
      if (m.type !== H5T_STRING) throw new FormatError(`${this.file}: ${what}: expected strings`);
      const nbytes = m.size * m.total_size;
      if (nbytes > MAX_ATTRIBUTE_BYTES)
        throw new FormatError(`${this.file}: ${what}: ${nbytes} bytes, more than ${MAX_ATTRIBUTE_BYTES}`);
      const bytes = this.readRaw(M, nbytes, (ptr) => M.get_attribute_data(this.id, path, name, BigInt(ptr)));
      // Variable-length strings are pointers into the library's heap, left there: the instance goes at close.
      const utf8 = M.UTF8ToString as (ptr: number, maxBytesToRead: number) => string; // Emscripten's signature
      if (m.vlen)
        return Array.from(new Uint32Array(bytes.buffer, bytes.byteOffset, m.total_size), (p) =>
          utf8(p, MAX_STRING_BYTES),
        );
      const text = new TextDecoder();
      return Array.from({ length: m.total_size }, (_, i) => {
        const s = bytes.subarray(i * m.size, (i + 1) * m.size);
        const nul = s.indexOf(0);
        return text.decode(nul < 0 ? s : s.subarray(0, nul));
      });
    });
  }

  /** A string attribute (a scalar or a one-element array), undefined when absent. */
  string(path: string, name: string): string | undefined {
    const v = this.strings(path, name);
    return v && v.length === 1 ? v[0] : undefined;
  }

  /** Shape and element size of a float dataset. @throws FormatError (absent, not a dataset, declaring more than
   *  the file holds), UnsupportedError (not f32/f64: f16, integers, compound; a virtual dataset) */
  dataset(path: string): H5DatasetInfo {
    const kind = this.kind(path);
    if (kind !== 'dataset')
      throw new FormatError(`${this.file}: '${path}': expected a dataset, found ${kind ?? 'nothing'}`);
    const m: Metadata = this.call(`'${path}'`, (M) => M.get_dataset_metadata(this.id, path));
    if (m.virtual_sources?.length)
      throw new UnsupportedError(`${this.file}: '${path}' is a virtual dataset (data in other files); not read`);
    if (m.type !== H5T_FLOAT || (m.size !== 4 && m.size !== 8))
      throw new UnsupportedError(
        `${this.file}: '${path}': expected f32 or f64 values, found ${m.type === H5T_FLOAT ? `f${m.size * 8}` : `HDF5 type class ${m.type}, ${m.size} bytes`}`,
      );
    const shape = m.shape ?? [];
    // HDF5 stores nothing for a dataset never written (reads give its fill value): a small file can declare
    // gigabytes. Keras writes every value, uncompressed; compression (a chunked dataset) gets a generous ratio.
    const declared = shape.reduce((a, d) => a * d, m.size);
    if (declared > this.size * (m.chunks ? MAX_COMPRESSION : 1))
      throw new FormatError(
        `${this.file}: '${path}' declares ${declared} bytes ([${shape.join(',')}] × ${m.size}), more than the ${this.size}-byte file can hold`,
      );
    return { path, shape, bytes: m.size };
  }

  /**
   * Rows [r0, r1) of a dataset (along its first axis) as f32, f64 narrowed. Reading in row blocks keeps the
   * library's heap (which never shrinks) and the copy out of it to the block's size.
   */
  rows(d: H5DatasetInfo, r0: number, r1: number): Float32Array {
    return this.call(`reading '${d.path}'`, (M) => {
      const rest = d.shape.slice(1);
      const n = (r1 - r0) * rest.reduce((a, b) => a * b, 1);
      const count = d.shape.length ? [r1 - r0, ...rest].map(BigInt) : null;
      const offset = d.shape.length ? [r0, ...rest.map(() => 0)].map(BigInt) : null;
      const strides = d.shape.length ? d.shape.map(() => 1n) : null;
      const bytes = this.readRaw(M, n * d.bytes, (ptr) =>
        M.get_dataset_data(this.id, d.path, count, offset, strides, BigInt(ptr)),
      );
      return d.bytes === 4 ? new Float32Array(bytes.buffer) : Float32Array.from(new Float64Array(bytes.buffer));
    });
  }

  /** The whole dataset as f32. */
  read(d: H5DatasetInfo): Float32Array {
    return this.rows(d, 0, d.shape[0] ?? 1);
  }

  /** `nbytes` filled by `fill(pointer)` in the library's heap, copied out (a fresh, aligned buffer). */
  private readRaw(M: H5Module, nbytes: number, fill: (ptr: number) => number): Uint8Array {
    const ptr = M._malloc(Math.max(1, nbytes));
    if (!ptr) throw new FormatError(`${this.file}: cannot allocate ${nbytes} bytes in the HDF5 library's heap`);
    try {
      if (fill(ptr) < 0) throw new Error('read failed');
      return M.HEAPU8.slice(ptr, ptr + nbytes);
    } finally {
      M._free(ptr);
    }
  }
}
