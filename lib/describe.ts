/**
 * How a wrong value is named in an error message ("…, got <this>"): the same words the native binding uses
 * (native/binding/args.cpp Describe), so a message reads alike whichever side raised it.
 */
import { types } from 'util';

/** 'null', 'undefined', "number 1.5", "'text'", 'boolean true', 'Float64Array', 'Array', 'function', 'object'. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return `number ${v}`;
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (typeof v === 'function') return 'function';
  // util.types works across realms (jest's vm contexts, worker threads), unlike instanceof.
  if (types.isTypedArray(v)) return Object.prototype.toString.call(v).slice(8, -1);
  if (types.isArrayBuffer(v)) return 'ArrayBuffer';
  if (Array.isArray(v)) return 'Array';
  return typeof v;
}

/**
 * A value read from a file, shown in a message: its JSON, cut to `max` characters. Never throws: a value
 * nested too deeply for JSON.stringify (a hostile header) is described instead of overflowing the stack.
 */
export function jsonPreview(v: unknown, max = 80): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return `${describeValue(v)} (nested too deeply to show)`;
  }
  if (s === undefined) return describeValue(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
