/**
 * A read-only view of an HDF5 file through h5wasm (the HDF5 C library, 2.0, compiled to WebAssembly; its
 * Node build reads the host file system in place, so a 528 MB file is never copied whole into memory).
 *
 * The library parses what the file says, and a damaged file can make it loop for ever, abort, corrupt its
 * heap or grow it to its 2 GB limit (all seen fuzzing). So each file gets its own worker thread running its
 * own instance of the library (h5wasm's module factory, `dist/node/hdf5_util.js`, whose C API is bound with
 * embind), called synchronously (Atomics.wait, receiveMessageOnPort) with a time limit per call: a call that
 * does not answer within H5_CALL_TIMEOUT_MS ends the thread and fails with FormatError, and close() ends it
 * too, giving its memory back at once.
 *
 * Only what weights readers need, and only safely:
 *  - objects are reached through hard links alone: a soft or external link (which could lead out of the file
 *    or round in circles) is refused before the library follows it;
 *  - datasets must be IEEE floats (f32, or f64 narrowed) whose declared size the file can hold, not virtual;
 *    attributes are read only when small (MAX_ATTRIBUTE_BYTES);
 *  - every HDF5 error becomes a FormatError naming the file and the library's innermost message.
 */
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from 'worker_threads';
import type { Metadata } from 'h5wasm/src/hdf5_util_helpers';
import { FormatError, UnsupportedError } from '../errors';

/** Longest a library call may take: a 4 MB block read, an attribute, or the first call, which also starts the
 *  thread and compiles the library (≈ 1 s on a busy 2-core host). */
export const H5_CALL_TIMEOUT_MS = 15_000;
/** Largest ratio of a chunked (possibly compressed) dataset's declared size to the file's size. */
const MAX_COMPRESSION = 16;
/** Largest attribute read (Keras's largest, model_config, is tens of KB; it splits lists past 64 KB). */
const MAX_ATTRIBUTE_BYTES = 16 << 20;
/** Longest variable-length string read from the library's heap. */
const MAX_STRING_BYTES = 1 << 20;
/** HDF5 datatype class of IEEE floats (H5Tpublic.h). */
const H5T_FLOAT = 1;

/** h5wasm's Node build of the library (the module the package's "./node" export wraps). */
function h5wasmUrl(): string {
  for (const dir of require.resolve.paths('h5wasm') ?? []) {
    const file = path.join(dir, 'h5wasm', 'dist', 'node', 'hdf5_util.js');
    if (fs.existsSync(file)) return pathToFileURL(file).href;
  }
  throw new UnsupportedError('reading Keras .h5 files needs the h5wasm package (a dependency of vggnet): not found');
}

/** The file's thread: one library instance, one call at a time, each answered on `port` then flagged. */
const THREAD = `
'use strict';
const { parentPort, workerData } = require('worker_threads');
const { port, url, maxAttributeBytes, maxStringBytes } = workerData;
const flag = new Int32Array(workerData.flag);
const H5T_STRING = 3;
let M, id;
const ready = import(url)
  .then((m) => m.default({ noInitialRun: true, print() {}, printErr() {} }))
  .then((m) => { M = m; M.activate_throwing_error_handler(); }); // errors thrown with their message
function reply(msg, transfer) {
  port.postMessage(msg, transfer);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
function raw(nbytes, fill) {
  const ptr = M._malloc(Math.max(1, nbytes));
  if (!ptr) throw new Error('cannot allocate ' + nbytes + ' bytes in the library heap');
  try {
    if (fill(ptr) < 0) throw new Error('read failed');
    return M.HEAPU8.slice(ptr, ptr + nbytes);
  } finally {
    M._free(ptr);
  }
}
const ops = {
  open(file) { id = M.open(file, M.H5F_ACC_RDONLY, false, -1, -1); },
  // The object at path through hard links only: each link's value is looked at before it is followed.
  kind(path) {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    let at = '', type = M.H5G_GROUP;
    for (const part of parts) {
      if (type !== M.H5G_GROUP) return { kind: null };
      at += '/' + part;
      let soft;
      try { soft = M.get_symbolic_link(id, at); } catch { return { kind: null }; }
      if (soft !== null) return { at, soft };
      const ext = M.get_external_link(id, at); // get_type would follow it into the other file
      if (ext && ext.filename) return { at, external: ext.filename };
      type = M.get_type(id, at);
      if (type < 0) return { kind: null };
    }
    return { kind: type === M.H5G_GROUP ? 'group' : type === M.H5G_DATASET ? 'dataset' : 'other' };
  },
  attributeNames(path) { return M.get_attribute_names(id, path); },
  members(path) { return M.get_names(id, path, false); },
  strings(path, name) {
    const m = M.get_attribute_metadata(id, path, name);
    if (!m.shape || m.total_size === 0) return { strings: [] };
    if (m.type !== H5T_STRING) return { notStrings: true };
    const nbytes = m.size * m.total_size;
    if (nbytes > maxAttributeBytes) return { tooBig: nbytes };
    const bytes = raw(nbytes, (ptr) => M.get_attribute_data(id, path, name, BigInt(ptr)));
    // Variable-length strings point into the library's heap and are left there: the thread goes at close.
    if (m.vlen)
      return { strings: Array.from(new Uint32Array(bytes.buffer, 0, m.total_size), (p) => M.UTF8ToString(p, maxStringBytes)) };
    const text = new TextDecoder();
    return { strings: Array.from({ length: m.total_size }, (_, i) => {
      const s = bytes.subarray(i * m.size, (i + 1) * m.size);
      const nul = s.indexOf(0);
      return text.decode(nul < 0 ? s : s.subarray(0, nul));
    }) };
  },
  dataset(path) { return M.get_dataset_metadata(id, path); },
  rows(path, shape, bytes, r0, r1) {
    const rest = shape.slice(1);
    const n = (r1 - r0) * rest.reduce((a, b) => a * b, 1);
    const count = shape.length ? [r1 - r0, ...rest].map(BigInt) : null;
    const offset = shape.length ? [r0, ...rest.map(() => 0)].map(BigInt) : null;
    const strides = shape.length ? shape.map(() => 1n) : null;
    const b = raw(n * bytes, (ptr) => M.get_dataset_data(id, path, count, offset, strides, BigInt(ptr)));
    return bytes === 4 ? new Float32Array(b.buffer) : Float32Array.from(new Float64Array(b.buffer));
  },
};
parentPort.on('message', async ({ op, args }) => {
  try {
    await ready;
    const value = ops[op](...args);
    reply({ value }, value instanceof Float32Array ? [value.buffer] : []);
  } catch (e) {
    reply({ error: String((e && e.message) || e) });
  }
});
`;

/** The innermost frame of an HDF5 error stack ("H5F__super_read(): truncated file: eof = 1000, …"). */
function hdf5Message(text: string): string {
  const frames = [...text.matchAll(/ in (\w+\(\)): ([^\n]*)/g)];
  return frames.length ? `${frames[frames.length - 1][1]} ${frames[frames.length - 1][2]}` : text.split('\n')[0];
}

/** A dataset's shape and element size in bytes (4: f32, 8: f64). */
export interface H5DatasetInfo {
  path: string;
  shape: number[];
  bytes: 4 | 8;
}

export class H5File {
  private worker: Worker | null;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;

  private constructor(
    readonly file: string,
    readonly size: number,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(THREAD, {
      eval: true,
      workerData: {
        port: port2,
        url: h5wasmUrl(),
        flag: this.flag.buffer,
        maxAttributeBytes: MAX_ATTRIBUTE_BYTES,
        maxStringBytes: MAX_STRING_BYTES,
      },
      transferList: [port2],
    });
    this.worker.unref();
  }

  /** @throws FormatError when the file is not HDF5 or is damaged (the library's message) */
  static async open(file: string): Promise<H5File> {
    const { size } = await fs.promises.stat(file);
    const h5 = new H5File(file, size);
    try {
      h5.call('opening', 'open', file);
    } catch (e) {
      h5.close();
      if (e instanceof FormatError)
        throw new FormatError(`${file}: not a readable HDF5 file (${e.message.replace(`${file}: opening: `, '')})`);
      throw e;
    }
    return h5;
  }

  /** Ends the file's thread (its memory goes with it). */
  close(): void {
    void this.worker?.terminate();
    this.worker = null;
    this.port.close();
  }

  /** A call on the file's thread, waited for; its errors as FormatError about `what`. */
  private call<T>(what: string, op: string, ...args: unknown[]): T {
    if (!this.worker) throw new FormatError(`${this.file}: ${what}: the file is closed`);
    Atomics.store(this.flag, 0, 0);
    this.worker.postMessage({ op, args });
    if (Atomics.wait(this.flag, 0, 0, H5_CALL_TIMEOUT_MS) === 'timed-out') {
      this.close();
      throw new FormatError(
        `${this.file}: ${what}: the HDF5 library did not answer within ${H5_CALL_TIMEOUT_MS / 1000} s (a damaged file can make it loop)`,
      );
    }
    const m = receiveMessageOnPort(this.port)?.message as { value?: T; error?: string } | undefined;
    if (!m) throw new FormatError(`${this.file}: ${what}: no answer from the HDF5 library`);
    if (m.error !== undefined) throw new FormatError(`${this.file}: ${what}: ${hdf5Message(m.error)}`);
    return m.value as T;
  }

  /**
   * The kind of object at `path` ('/a/b'), reached through hard links only; null when absent.
   * @throws FormatError for a soft or external link on the way (named)
   */
  kind(path: string): 'group' | 'dataset' | 'other' | null {
    const r = this.call<{ kind?: 'group' | 'dataset' | 'other' | null; at?: string; soft?: string; external?: string }>(
      `'${path}'`,
      'kind',
      path,
    );
    if (r.soft !== undefined)
      throw new FormatError(
        `${this.file}: '${r.at}' is a soft link (to '${r.soft}'); weights files hold hard links only`,
      );
    if (r.external !== undefined)
      throw new FormatError(
        `${this.file}: '${r.at}' is an external link (to '${r.external}'); links to other files are not followed`,
      );
    return r.kind ?? null;
  }

  /** Attribute names of an object. */
  attributeNames(path: string): string[] {
    return this.call(`attributes of '${path}'`, 'attributeNames', path);
  }

  /** Member names of a group (listed, not followed). */
  members(path: string): string[] {
    return this.call(`members of '${path}'`, 'members', path);
  }

  /**
   * An attribute's strings (fixed or variable length, scalar or array; [] for an empty array of any type),
   * undefined when absent. @throws FormatError when it holds something else or more than MAX_ATTRIBUTE_BYTES
   */
  strings(path: string, name: string): string[] | undefined {
    if (this.kind(path) === null || !this.attributeNames(path).includes(name)) return undefined;
    const what = `attribute '${name}' of '${path}'`;
    const r = this.call<{ strings?: string[]; notStrings?: true; tooBig?: number }>(what, 'strings', path, name);
    if (r.notStrings) throw new FormatError(`${this.file}: ${what}: expected strings`);
    if (r.tooBig) throw new FormatError(`${this.file}: ${what}: ${r.tooBig} bytes, more than ${MAX_ATTRIBUTE_BYTES}`);
    return r.strings!;
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
    const m = this.call<Metadata>(`'${path}'`, 'dataset', path);
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
    return this.call(`reading '${d.path}'`, 'rows', d.path, d.shape, d.bytes, r0, r1);
  }

  /** The whole dataset as f32. */
  read(d: H5DatasetInfo): Float32Array {
    return this.rows(d, 0, d.shape[0] ?? 1);
  }
}
