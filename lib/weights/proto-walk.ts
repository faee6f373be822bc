/**
 * A protobuf message walked in place in a file, without reading it whole: fields are found by their tags and
 * lengths (the wire format: protobuf.dev/programming-guides/encoding), and only the small ones are read, to
 * be decoded by protobufjs; large numeric payloads (a Caffe blob's 411 MB of FC6 floats) are left where they
 * are and read later straight into their destination. protobufjs itself decodes from one buffer holding the
 * whole message, and a repeated float into a JS number array (8 bytes and more per value).
 *
 * Reads are synchronous (the weights readers run on the loader thread) through a 64 KiB window.
 */
import * as fs from 'fs';
import { FormatError } from '../errors';

/** Wire types (encoding guide, "Message Structure"). */
export const WIRE = Object.freeze({ VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 });

/** One field of a message: its number, wire type and where its bytes are (tag included from tagStart). */
export interface WireField {
  field: number;
  wire: number;
  tagStart: number;
  /** The payload: a LEN field's bytes after the length, or the VARINT/I64/I32 value's bytes. */
  start: number;
  end: number;
}

const WINDOW = 1 << 16;

export class ProtoFile {
  private readonly window = new Uint8Array(WINDOW);
  private windowStart = 0;
  private windowEnd = 0;

  private constructor(
    readonly file: string,
    private fd: number,
    readonly size: number,
  ) {}

  static open(file: string): ProtoFile {
    const fd = fs.openSync(file, 'r');
    try {
      return new ProtoFile(file, fd, fs.fstatSync(fd).size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private byte(pos: number, end: number, what: string): number {
    if (pos >= end) throw new FormatError(`${this.file}: ${what}: truncated at byte ${pos}`);
    if (pos < this.windowStart || pos >= this.windowEnd) {
      const n = fs.readSync(this.fd, this.window, 0, Math.min(WINDOW, this.size - pos), pos);
      this.windowStart = pos;
      this.windowEnd = pos + n;
      if (n <= 0) throw new FormatError(`${this.file}: ${what}: truncated at byte ${pos}`);
    }
    return this.window[pos - this.windowStart];
  }

  /** A varint at pos (at most 10 bytes, before `end`): its value (≤ 2^53) and the position after it. */
  varint(pos: number, end: number, what: string): [number, number] {
    let value = 0;
    for (let i = 0, scale = 1; i < 10; i++, scale *= 128) {
      const b = this.byte(pos + i, end, what);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER)
          throw new FormatError(`${this.file}: ${what}: varint at byte ${pos} too large`);
        return [value, pos + i + 1];
      }
    }
    throw new FormatError(`${this.file}: ${what}: varint at byte ${pos} longer than 10 bytes`);
  }

  /** The fields of the message in [start, end), in file order; the walk resumes at each yielded field's
   *  `end`. @throws FormatError (truncated, a length past the end, field number 0, group wire types, which
   *  caffe.proto does not use) */
  *fields(start: number, end: number, what: string): Generator<WireField> {
    if (end > this.size)
      throw new FormatError(`${this.file}: ${what}: ends at byte ${end}, past the file's ${this.size}`);
    let pos = start;
    while (pos < end) {
      const tagStart = pos;
      const [tag, p] = this.varint(pos, end, what);
      const field = Math.floor(tag / 8),
        wire = tag % 8;
      if (field === 0) throw new FormatError(`${this.file}: ${what}: field number 0 at byte ${tagStart}`);
      let s = p,
        e: number;
      if (wire === WIRE.VARINT) e = this.varint(p, end, what)[1];
      else if (wire === WIRE.I64) e = p + 8;
      else if (wire === WIRE.I32) e = p + 4;
      else if (wire === WIRE.LEN) {
        const [len, q] = this.varint(p, end, what);
        s = q;
        e = q + len;
      } else throw new FormatError(`${this.file}: ${what}: wire type ${wire} (field ${field}) at byte ${tagStart}`);
      if (e > end)
        throw new FormatError(
          `${this.file}: ${what}: field ${field} at byte ${tagStart} runs past the end (byte ${e} of ${end}): truncated or damaged`,
        );
      const f: WireField = { field, wire, tagStart, start: s, end: e };
      yield f;
      pos = f.end; // a consumer may move `end` on, past values it took in one go (runEnd)
    }
  }

  /**
   * The end of a run of unpacked fixed-width values that starts at `pos`: consecutive one-byte `tag`s each
   * followed by `width` value bytes (a repeated float written without packing: 5 bytes per value).
   */
  runEnd(pos: number, end: number, tag: number, width: number, what: string): number {
    const stride = 1 + width;
    while (pos + stride <= end && this.byte(pos, end, what) === tag) pos += stride;
    return pos;
  }

  /** Bytes [start, end) into a fresh buffer. */
  bytes(start: number, end: number): Uint8Array {
    const out = new Uint8Array(end - start);
    this.readInto(out, start);
    return out;
  }

  /** Fills `target` from the file at `pos`. @throws FormatError when the file ends first */
  readInto(target: Uint8Array, pos: number): void {
    for (let done = 0; done < target.length;) {
      const n = fs.readSync(this.fd, target, done, Math.min(target.length - done, 1 << 30), pos + done);
      if (n <= 0) throw new FormatError(`${this.file}: truncated at byte ${pos + done}`);
      done += n;
    }
  }
}
