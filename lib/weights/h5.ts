/**
 * A read-only view of an HDF5 file through h5wasm (the HDF5 C library, 2.0, compiled to WebAssembly; its
 * Node build reads the host file system in place, so a 528 MB file is never copied whole into memory).
 *
 * Only what weights readers need, and only safely: objects are reached through hard links alone (a soft or
 * external link, which could lead out of the file or round in circles, is refused before the library
 * follows it); datasets must be IEEE floats (f32, or f64 widened) stored in the file (virtual datasets
 * refused); every HDF5 error becomes a FormatError naming the file and the library's innermost message.
 *
 * h5wasm is an ES module: it is loaded with a real dynamic import (the package is compiled to CommonJS, whose
 * `import()` would become a `require()`). That needs a plain Node realm, as the loader thread is (loadWeights,
 * streamWeights); jest's module sandbox cannot run it.
 */
import * as fs from 'fs';
import type * as H5 from 'h5wasm';
import { FormatError, UnsupportedError } from '../errors';

type H5Api = typeof H5;
let api: Promise<H5Api> | undefined;
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<H5Api>;

async function h5wasm(): Promise<H5Api> {
  api ??= importEsm('h5wasm/node').then(async (m) => {
    const module = await m.ready;
    module.activate_throwing_error_handler(); // errors thrown with their message, not printed to stderr
    return m;
  });
  return api;
}

/** The innermost frame of an HDF5 error stack ("H5F__super_read(): truncated file: eof = 1000, …"). */
function hdf5Message(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  const frames = [...text.matchAll(/ in (\w+\(\)): ([^\n]*)/g)];
  return frames.length ? `${frames[frames.length - 1][1]} ${frames[frames.length - 1][2]}` : text.split('\n')[0];
}

/** Largest ratio of a chunked (possibly compressed) dataset's declared size to the file's size. */
const MAX_COMPRESSION = 16;

/** HDF5 datatype class of IEEE floats (H5Tpublic.h H5T_FLOAT). */
const H5T_FLOAT = 1;

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
    private readonly h5: H5Api,
    private readonly f: H5.File,
  ) {}

  /** @throws FormatError when the file is not HDF5 or is damaged (the library's message) */
  static async open(file: string): Promise<H5File> {
    const h5 = await h5wasm();
    const { size } = await fs.promises.stat(file);
    try {
      return new H5File(file, size, h5, new h5.File(file, 'r'));
    } catch (e) {
      throw new FormatError(`${file}: not a readable HDF5 file (${hdf5Message(e)})`);
    }
  }

  close(): void {
    try {
      this.f.close();
    } catch {
      // already closed
    }
  }

  /** Runs a library call, turning its errors into FormatError about `what`. */
  private call<T>(what: string, fn: () => T): T {
    try {
      return fn();
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
    const M = this.h5.Module;
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    let at = '';
    let type = M.H5G_GROUP;
    for (const part of parts) {
      if (type !== M.H5G_GROUP) return null; // a dataset has no members
      at += `/${part}`;
      // The link itself first (its value, not followed): a missing one throws; soft links are refused.
      let soft: string | null;
      try {
        soft = M.get_symbolic_link(this.f.file_id, at);
      } catch {
        return null;
      }
      if (soft !== null)
        throw new FormatError(
          `${this.file}: '${at}' is a soft link (to '${soft}'); weights files hold hard links only`,
        );
      // get_type follows an external link into the other file: look at the link's value before.
      const external = this.call(`'${at}'`, () => M.get_external_link(this.f.file_id, at));
      if (external?.filename)
        throw new FormatError(
          `${this.file}: '${at}' is an external link (to '${external.filename}'); links to other files are not followed`,
        );
      type = this.call(`'${at}'`, () => M.get_type(this.f.file_id, at)); // a hard link's object
      if (type < 0) return null;
    }
    return type === M.H5G_GROUP ? 'group' : type === M.H5G_DATASET ? 'dataset' : 'other';
  }

  /** Names of an attribute's values: a string array (fixed or variable length), [] for an empty array of any
   *  type, undefined when absent. @throws FormatError when it holds something else */
  strings(path: string, name: string): string[] | undefined {
    if (this.kind(path) === null) return undefined;
    const attrs = this.call(`attributes of '${path}'`, () => (this.f.get(path) as H5.Group).attrs);
    if (!Object.prototype.hasOwnProperty.call(attrs, name)) return undefined;
    const v = this.call(`attribute '${name}' of '${path}'`, () => attrs[name].value);
    const list = Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : [v];
    if (list.length === 0) return [];
    if (!list.every((s) => typeof s === 'string'))
      throw new FormatError(`${this.file}: attribute '${name}' of '${path}': expected strings`);
    return list as string[];
  }

  /** A string attribute (a scalar or a one-element array), undefined when absent. */
  string(path: string, name: string): string | undefined {
    const v = this.strings(path, name);
    return v && v.length === 1 ? v[0] : undefined;
  }

  /** Attribute names of a group. */
  attributeNames(path: string): string[] {
    return this.call(`attributes of '${path}'`, () => Object.keys((this.f.get(path) as H5.Group).attrs));
  }

  /** Member names of a group (hard-linked or not: only listed). */
  members(path: string): string[] {
    return this.call(`members of '${path}'`, () => (this.f.get(path) as H5.Group).keys());
  }

  /** Shape and element size of a float dataset. @throws FormatError (absent, not a dataset), UnsupportedError
   *  (not f32/f64: f16, integers, compound; a virtual dataset) */
  dataset(path: string): H5DatasetInfo {
    const kind = this.kind(path);
    if (kind !== 'dataset')
      throw new FormatError(`${this.file}: '${path}': expected a dataset, found ${kind ?? 'nothing'}`);
    const m = this.call(`'${path}'`, () => (this.f.get(path) as H5.Dataset).metadata);
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
   * wasm heap (which never shrinks) and the copy out of it to the block's size.
   */
  rows(d: H5DatasetInfo, r0: number, r1: number): Float32Array {
    const ranges: [number, number][] = [[r0, r1], ...d.shape.slice(1).map((n): [number, number] => [0, n])];
    const v = this.call(`reading '${d.path}'`, () =>
      d.shape.length === 0
        ? (this.f.get(d.path) as H5.Dataset).value
        : (this.f.get(d.path) as H5.Dataset).slice(ranges),
    );
    if (v instanceof Float32Array) return v;
    if (v instanceof Float64Array) return Float32Array.from(v);
    throw new FormatError(`${this.file}: reading '${d.path}': expected float values`);
  }

  /** The whole dataset as f32. */
  read(d: H5DatasetInfo): Float32Array {
    return this.rows(d, 0, d.shape[0] ?? 1);
  }
}
