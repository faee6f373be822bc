/**
 * A restricted reader of Python pickles (the stack machine of CPython's Lib/pickle.py, protocols 2–5), for the
 * pickles inside PyTorch .pth files. It never imports or calls anything: the few globals a state dict needs are
 * resolved by a host (torch-pickle.ts) to plain descriptions, and every call (REDUCE, NEWOBJ, BUILD, persistent
 * ids) is handed to the host, which interprets the allowed ones and refuses the rest.
 *
 * The opcodes read are those torch.load(weights_only=True) reads (torch/_weights_only_unpickler.py), plus the
 * data-only ones of protocols 3–5 that torch.save(…, pickle_protocol=4) writes (FRAME, MEMOIZE,
 * SHORT_BINUNICODE, BINUNICODE8, STACK_GLOBAL, the BINBYTES family, EMPTY_SET's ADDITEMS, POP, POP_MARK): they
 * build strings, bytes and containers only, and STACK_GLOBAL goes through the same allow-list as GLOBAL. Every
 * other opcode is refused by name (INST, OBJ, EXT*, NEWOBJ_EX, …: they can construct arbitrary objects).
 *
 * Hostile input is bounded: the loop is iterative (no recursion, whatever the nesting), MARK nesting and the
 * number of values pushed (which bounds the stack, the memo and every container) have limits, lengths are
 * checked against the bytes present before anything is allocated, and memo indices must have been stored.
 */
import { FormatError, UnsupportedError } from '../errors';

/** A Python tuple. */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}
/** A Python list. */
export class PyList {
  constructor(readonly items: unknown[] = []) {}
}
/** A Python dict (also OrderedDict and Counter): insertion-ordered; keys compared as JS Map keys. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
}
/** A Python set. */
export class PySet {
  readonly items: unknown[] = [];
}

/** What the restricted reader asks of its host: globals resolved, calls interpreted (or refused by throwing). */
export interface PickleHost {
  /** GLOBAL / STACK_GLOBAL `module.name`: a description of an allowed global; throws for any other. */
  global(module: string, name: string, at: number): unknown;
  /** REDUCE: `fn(*args)`. */
  reduce(fn: unknown, args: PyTuple, at: number): unknown;
  /** NEWOBJ: `cls.__new__(cls, *args)`. */
  newobj(cls: unknown, args: PyTuple, at: number): unknown;
  /** BUILD: `inst.__setstate__(state)`; returns what replaces inst on the stack. */
  build(inst: unknown, state: unknown, at: number): unknown;
  /** BINPERSID: the object a persistent id names (a storage, in torch.save files). */
  persistentLoad(pid: unknown, at: number): unknown;
}

export interface PickleLimits {
  /** MARK nesting: real state dicts nest 3–5 deep. */
  maxMarkDepth: number;
  /** Values pushed in all (each BINGET, string, container, …): bounds the stack, memo and containers. */
  maxPushes: number;
}

/** Real state dicts: ~10 pushes per tensor (vgg16: ~400 in all); a checkpoint with optimizer state a few times more. */
export const PICKLE_LIMITS: PickleLimits = Object.freeze({ maxMarkDepth: 256, maxPushes: 1 << 20 });

/** The most bytes of pickles read from one file (a vgg16 state dict's pickle is ~4 KiB; checkpoints with an
 *  optimizer's state stay far below). */
export const MAX_PICKLE_BYTES = 64 << 20;

/** Thrown when a pickle read from a prefix of a stream runs past the prefix: read more and parse again. */
export class PickleNeedsMore extends Error {}

/** Opcodes refused by name: they run or build what a state dict never needs (Lib/pickletools.py names). */
const REFUSED: Record<number, string> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x92: 'NEWOBJ_EX',
  0x50: 'PERSID',
  0x49: 'INT',
  0x4c: 'LONG',
  0x46: 'FLOAT',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x67: 'GET',
  0x70: 'PUT',
  0x6c: 'LIST',
  0x64: 'DICT',
  0x32: 'DUP',
  0x54: 'BINSTRING',
  0x8b: 'LONG4',
  0x91: 'FROZENSET',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one pickle from `buf` starting at `start`, up to and including its STOP.
 * @param where  names the pickle in messages ("model.pth: archive/data.pkl")
 * @param prefix  true when `buf` may be a prefix of the stream: running past its end throws PickleNeedsMore
 * @returns the value and the offset just past STOP
 * @throws FormatError (malformed, truncated, limits exceeded: byte offset named), UnsupportedError (a refused
 *   opcode; the host refuses globals and calls), PickleNeedsMore (see prefix)
 */
export function unpickle(
  buf: Uint8Array,
  start: number,
  host: PickleHost,
  where: string,
  prefix = false,
  limits: PickleLimits = PICKLE_LIMITS,
): { value: unknown; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = start;
  let at = start;
  let op = 0;
  let pushes = 0;

  const fail = (what: string) => new FormatError(`${where}: ${what} (pickle opcode 0x${hex(op)} at byte ${at})`);
  const need = (n: number) => {
    if (n <= buf.length - pos) return;
    if (prefix) throw new PickleNeedsMore();
    throw fail(`truncated: needs ${n} more bytes, ${buf.length - pos} left`);
  };
  const u8 = () => {
    need(1);
    return buf[pos++];
  };
  const u32 = () => {
    need(4);
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const u64 = () => {
    need(8);
    pos += 8;
    const v = view.getBigUint64(pos - 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`length ${v} is past the end of the data`);
    return Number(v);
  };
  const bytes = (n: number) => {
    need(n);
    pos += n;
    return buf.subarray(pos - n, pos);
  };
  const text = (n: number) => {
    const b = bytes(n);
    try {
      return utf8.decode(b);
    } catch {
      throw fail('a string is not valid UTF-8');
    }
  };
  const line = () => {
    const n = buf.subarray(pos, pos + 1025).indexOf(0x0a);
    if (n < 0 && buf.length - pos <= 1024) need(buf.length - pos + 1); // ends before its newline
    if (n < 0) throw fail('GLOBAL: a line longer than 1024 bytes (expected "module\\nname\\n")');
    const s = text(n);
    pos++;
    return s;
  };
  const push = (v: unknown) => {
    if (++pushes > limits.maxPushes)
      throw fail(`more than ${limits.maxPushes} values: not a state dict (or a hostile pickle)`);
    stack.push(v);
  };
  const floor = () => (marks.length ? marks[marks.length - 1] : 0);
  const pop = () => {
    if (stack.length <= floor()) throw fail('stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length <= floor()) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const setTop = (v: unknown) => {
    stack[stack.length - 1] = v;
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) throw fail('no MARK to pop to');
    return stack.splice(m);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw fail(`memo index ${i} was never stored`);
    return memo.get(i);
  };
  const memoPut = (i: number) => {
    if (memo.size >= limits.maxPushes) throw fail(`more than ${limits.maxPushes} memo entries`);
    memo.set(i, top());
  };

  for (;;) {
    at = pos;
    op = u8();
    switch (op) {
      case 0x80: {
        const v = u8(); // PROTO
        if (v < 2 || v > 5) throw fail(`pickle protocol ${v}: torch.save writes 2 (or 3–5 when asked)`);
        break;
      }
      case 0x95: // FRAME: a length hint; the frame's opcodes follow inline
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        if (marks.length >= limits.maxMarkDepth) throw fail(`MARKs nested more than ${limits.maxMarkDepth} deep`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        need(4);
        pos += 4;
        push(view.getInt32(pos - 4, true));
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        need(2);
        pos += 2;
        push(view.getUint16(pos - 2, true));
        break;
      case 0x8a: // LONG1: little-endian two's complement
        push(decodeLong(bytes(u8())));
        break;
      case 0x47: // BINFLOAT: big-endian float64
        need(8);
        pos += 8;
        push(view.getFloat64(pos - 8, false));
        break;
      case 0x55: // SHORT_BINSTRING: decoded as torch.load does (encoding 'utf-8')
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x42: // BINBYTES
        push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        push(bytes(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        const b = pop(); // TUPLE2
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        const c = pop(); // TUPLE3
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        push(new PyList());
        break;
      case 0x61: {
        const v = pop(); // APPEND
        asList(top(), fail).items.push(v);
        break;
      }
      case 0x65: {
        const items = popMark(); // APPENDS
        const list = asList(top(), fail);
        for (const v of items) list.items.push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x73: {
        const v = pop(); // SETITEM
        const k = pop();
        asDict(top(), fail).map.set(k, v);
        break;
      }
      case 0x75: {
        const items = popMark(); // SETITEMS
        if (items.length % 2) throw fail('SETITEMS: an odd number of keys and values');
        const d = asDict(top(), fail);
        for (let i = 0; i < items.length; i += 2) d.map.set(items[i], items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new PySet());
        break;
      case 0x90: {
        const items = popMark(); // ADDITEMS
        const s = top();
        if (!(s instanceof PySet)) throw fail(`ADDITEMS to a ${pyType(s)}, not a set`);
        for (const v of items) s.items.push(v);
        break;
      }
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x63: {
        const module = line(); // GLOBAL
        push(host.global(module, line(), at));
        break;
      }
      case 0x93: {
        const name = pop(); // STACK_GLOBAL
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw fail(`STACK_GLOBAL: expected two strings, got ${pyType(module)} and ${pyType(name)}`);
        push(host.global(module, name, at));
        break;
      }
      case 0x52: {
        const args = pop(); // REDUCE
        if (!(args instanceof PyTuple)) throw fail(`REDUCE: arguments must be a tuple, got ${pyType(args)}`);
        setTop(host.reduce(top(), args, at));
        break;
      }
      case 0x81: {
        const args = pop(); // NEWOBJ
        if (!(args instanceof PyTuple)) throw fail(`NEWOBJ: arguments must be a tuple, got ${pyType(args)}`);
        const cls = pop();
        push(host.newobj(cls, args, at));
        break;
      }
      case 0x62: {
        const state = pop(); // BUILD
        setTop(host.build(top(), state, at));
        break;
      }
      case 0x51: // BINPERSID
        push(host.persistentLoad(pop(), at));
        break;
      default:
        if (REFUSED[op])
          throw new UnsupportedError(
            `${where}: pickle opcode ${REFUSED[op]} (0x${hex(op)}) at byte ${at} is refused: only the opcodes of ` +
              `state dicts are read (as torch.load(weights_only=True) reads them), and nothing in the file is run`,
          );
        throw fail('not a pickle opcode');
    }
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** LONG1's little-endian two's complement bytes as a number (when safe) or a bigint. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function asList(v: unknown, fail: (what: string) => Error): PyList {
  if (!(v instanceof PyList)) throw fail(`APPEND to a ${pyType(v)}: only lists are appended to`);
  return v;
}

function asDict(v: unknown, fail: (what: string) => Error): PyDict {
  if (!(v instanceof PyDict)) throw fail(`SETITEM on a ${pyType(v)}: only dicts take items`);
  return v;
}

/** The Python type of a value read from a pickle, for messages (never recursive). */
export function pyType(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyList) return 'list';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return 'set';
  const name = (v as { pyType?: string } | undefined)?.pyType;
  return typeof name === 'string' ? name : typeof v;
}
