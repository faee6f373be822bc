/**
 * A small assembler of Python pickles (the opcodes of CPython's Lib/pickle.py, protocol 2) and of torch.save's
 * legacy file layout (torch/serialization.py _legacy_save), for hand-built hostile .pth files: bent views,
 * wrong counts, deep nesting, memo abuse, refused opcodes. Real files come from scripts/torch/make-pth.py.
 */
export type Bytes = number[];

const le = (n: number, bytes: number): Bytes => {
  const out: Bytes = [];
  let v = BigInt(n);
  for (let i = 0; i < bytes; i++, v >>= 8n) out.push(Number(v & 0xffn));
  return out;
};
const utf8 = (s: string): Bytes => [...new TextEncoder().encode(s)];

/** Opcodes and their arguments, each as bytes. */
export const op = {
  proto: (v = 2): Bytes => [0x80, v],
  stop: [0x2e],
  mark: [0x28],
  pop: [0x30],
  none: [0x4e],
  newFalse: [0x89],
  int: (n: number): Bytes =>
    n >= 0 && n < 256 ? [0x4b, n] : n >= 0 && n < 65536 ? [0x4d, ...le(n, 2)] : [0x4a, ...le(n, 4)],
  /** LONG1: little-endian two's complement. */
  long: (v: bigint): Bytes => {
    const out: Bytes = [];
    let x = v;
    do {
      out.push(Number(x & 0xffn));
      x >>= 8n;
    } while (x !== 0n && x !== -1n);
    if ((out[out.length - 1] & 0x80) !== (v < 0n ? 0x80 : 0)) out.push(v < 0n ? 0xff : 0);
    return [0x8a, out.length, ...out];
  },
  str: (s: string): Bytes => [0x58, ...le(utf8(s).length, 4), ...utf8(s)],
  global: (module: string, name: string): Bytes => [0x63, ...utf8(module), 0x0a, ...utf8(name), 0x0a],
  emptyTuple: [0x29],
  tuple: [0x74],
  tuple1: [0x85],
  emptyList: [0x5d],
  append: [0x61],
  appends: [0x65],
  emptyDict: [0x7d],
  setitem: [0x73],
  setitems: [0x75],
  reduce: [0x52],
  build: [0x62],
  binpersid: [0x51],
  binput: (i: number): Bytes => [0x71, i],
  binget: (i: number): Bytes => [0x68, i],
  longBinput: (i: number): Bytes => [0x72, ...le(i, 4)],
  longBinget: (i: number): Bytes => [0x6a, ...le(i, 4)],
};

/** One pickle: PROTO 2, the body, STOP. */
export const pickle = (...body: Bytes[]): Bytes => [...op.proto(), ...body.flat(), ...op.stop];

/** A tensor as _rebuild_tensor_v2 pickles it, over a storage named by a legacy persistent id. */
export interface TensorSpec {
  name: string;
  /** Storage key and class ('FloatStorage', …) and its element count. */
  key: string;
  storage?: string;
  numel: number;
  offset?: number;
  size: number[];
  /** Default: row-major. */
  stride?: number[];
}

export const rowMajor = (size: number[]): number[] => size.map((_, d) => size.slice(d + 1).reduce((a, b) => a * b, 1));

/** `( …items t` */
const tupleOf = (items: Bytes[]): Bytes => [...op.mark, ...items.flat(), ...op.tuple];

/** The body of an OrderedDict of tensors (no PROTO/STOP): what torch.save(model.state_dict()) pickles. */
export function stateDictBody(tensors: TensorSpec[]): Bytes {
  const entries = tensors.map((t) => [
    ...op.str(t.name),
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    ...tupleOf([
      [
        ...tupleOf([
          op.str('storage'),
          op.global('torch', t.storage ?? 'FloatStorage'),
          op.str(t.key),
          op.str('cpu'),
          op.int(t.numel),
          op.none,
        ]),
        ...op.binpersid,
      ],
      op.int(t.offset ?? 0),
      tupleOf(t.size.map(op.int)),
      tupleOf((t.stride ?? rowMajor(t.size)).map(op.int)),
      op.newFalse,
      [...op.global('collections', 'OrderedDict'), ...op.emptyTuple, ...op.reduce],
    ]),
    ...op.reduce,
  ]);
  return [
    ...op.global('collections', 'OrderedDict'),
    ...op.emptyTuple,
    ...op.reduce,
    ...op.mark,
    ...entries.flat(),
    ...op.setitems,
  ];
}

/** Element counts as written before each storage's bytes; `count` overrides the true one (a lying file). */
export interface StorageData {
  key: string;
  data: Float32Array;
  count?: number;
}

/** A legacy torch.save file: magic, protocol, sys_info, the main pickle, the keys, then each storage. */
export function legacyFile(
  main: Bytes | Uint8Array,
  storages: StorageData[],
  keys = storages.map((s) => s.key),
): Uint8Array {
  const sysInfo = pickle(
    op.emptyDict,
    op.mark,
    op.str('protocol_version'),
    op.int(1001),
    op.str('little_endian'),
    [0x88],
    op.setitems,
  );
  const parts: Uint8Array[] = [
    Uint8Array.from(pickle(op.long(0x1950a86a20f9469cfc6cn))),
    Uint8Array.from(pickle(op.int(1001))),
    Uint8Array.from(sysInfo),
    main instanceof Uint8Array ? main : Uint8Array.from(main),
    Uint8Array.from(pickle(op.emptyList, op.mark, ...keys.map(op.str), op.appends)),
  ];
  for (const s of storages) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(s.count ?? s.data.length), true);
    parts.push(count, new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** A pickle of `n` copies of one opcode (after PROTO 2 and `before`), built without a JS array of n numbers. */
export function repeated(before: Bytes, opcode: number, n: number): Uint8Array {
  const out = new Uint8Array(2 + before.length + n + 1).fill(opcode);
  out.set([...op.proto(), ...before]);
  out[out.length - 1] = op.stop[0];
  return out;
}
