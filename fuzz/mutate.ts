/**
 * Mutations of a valid weights file, deterministic in a seed: the same (seed file, seed) always gives the
 * same bytes, so a finding is reproduced from its seed alone. Six families:
 *  - bytes: bit flips, interesting byte and integer values, truncation, chunks deleted, repeated or appended;
 *  - safetensors header: the JSON parsed, one value replaced by a hostile one (negative, huge, NaN-like,
 *    deeply nested, empty), a tensor renamed or dropped, the length field bent;
 *  - ONNX: the ModelProto decoded, a dim, a data type, an op, an edge, an attribute or an external-data
 *    location bent (cycles, negative dims, '../', absolute paths), then encoded again;
 *  - .pth (both serializations): the pickle's bytes bent in place (opcodes swapped, integer arguments made
 *    interesting, hostile snippets written over it: globals to os.system, deep MARKs, memo reads, long lengths),
 *    sizes unchanged in a zip so that the archive still opens and the unpickler is what gets exercised;
 *  - Keras HDF5: byte edits aimed at the file's structure (superblock, object headers, B-trees, heaps,
 *    attributes: everything but the datasets' values, whose places the seed's sidecar lists), 1-, 4- and
 *    8-byte values (HDF5 addresses and lengths are 8 bytes);
 *  - Caffe: the NetParameter decoded, a layer's type, parameter, blob shape or values, bottom, or the layer
 *    list bent (dropped, repeated, swapped), then encoded again.
 */
import { onnx } from 'onnx-proto';
import * as protobuf from 'protobufjs';

import { uniform } from '../lib/random';
import { CAFFE_SCHEMA } from '../lib/weights/caffe-proto';
import { kerasSeedData } from './seeds';

export type Format = 'safetensors' | 'onnx' | 'pth-zip' | 'pth-legacy' | 'keras' | 'caffe';

type Rng = () => number;
const pick = <T>(r: Rng, a: readonly T[]): T => a[Math.floor(r() * a.length)];
const int = (r: Rng, n: number) => Math.floor(r() * n);

const INTERESTING_NUMBERS = [0, -1, 1, 2, 255, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, 0.5];
const HOSTILE_JSON: unknown[] = [
  ...INTERESTING_NUMBERS,
  '',
  'F32',
  'I64',
  'x'.repeat(1 << 16),
  [],
  {},
  null,
  true,
  [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]],
  [0, 0],
  [2 ** 53, 2 ** 53 + 8],
  [-8, 0],
];
const TENSOR_NAMES = ['conv0_1.weight', 'conv1_1.weight', 'fc9.weight', 'features.0.weight', '__metadata__', 'a'];

export function mutateBytes(src: Uint8Array, r: Rng): Uint8Array {
  let b = Uint8Array.from(src);
  const rounds = 1 + int(r, 4);
  for (let k = 0; k < rounds; k++) {
    switch (int(r, 7)) {
      case 0: // bit flips
        for (let i = 1 + int(r, 8); i > 0 && b.length; i--) b[int(r, b.length)] ^= 1 << int(r, 8);
        break;
      case 1: // an interesting byte
        if (b.length) b[int(r, b.length)] = pick(r, [0, 0xff, 0x7f, 0x80, 0x01]);
        break;
      case 2: {
        // an interesting little-endian integer (often a length or an offset)
        if (b.length < 8) break;
        const at = int(r, b.length - 8);
        new DataView(b.buffer).setBigUint64(
          at,
          BigInt.asUintN(64, BigInt(Math.trunc(pick(r, INTERESTING_NUMBERS)))),
          true,
        );
        break;
      }
      case 3: // truncate
        b = b.slice(0, int(r, b.length + 1));
        break;
      case 4: {
        // delete a chunk
        const at = int(r, b.length + 1),
          n = int(r, 64);
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n)]);
        break;
      }
      case 5: {
        // repeat a chunk
        const at = int(r, b.length + 1),
          n = int(r, 64);
        const chunk = b.slice(at, at + n);
        b = Uint8Array.from([...b.subarray(0, at), ...chunk, ...b.subarray(at)]);
        break;
      }
      default: // append noise
        b = Uint8Array.from([...b, ...Array.from({ length: int(r, 32) }, () => int(r, 256))]);
    }
  }
  return b;
}

/** Every (object, key) pair of a JSON value, for picking one to bend. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(v))
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      out.push([v as Record<string, unknown>, k]);
      slots(x, out);
    }
  return out;
}

export function mutateSafetensors(src: Uint8Array, r: Rng): Uint8Array {
  const n = Number(new DataView(src.buffer, src.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(src.subarray(8, 8 + n))) as Record<string, unknown>;
  const data = src.subarray(8 + n);
  const all = slots(header);
  switch (int(r, 5)) {
    case 0:
    case 1: {
      const [o, k] = pick(r, all);
      (o as Record<string | number, unknown>)[k] = pick(r, HOSTILE_JSON);
      break;
    }
    case 2: {
      // rename or drop a tensor
      const keys = Object.keys(header).filter((k) => k !== '__metadata__');
      const k = pick(r, keys);
      if (r() < 0.5) header[pick(r, TENSOR_NAMES)] = header[k];
      delete header[k];
      break;
    }
    case 3: {
      // deep nesting somewhere
      const [o, k] = pick(r, all);
      const depth = pick(r, [100, 10000, 100000]);
      (o as Record<string | number, unknown>)[k] = JSON.parse('['.repeat(depth) + ']'.repeat(depth));
      break;
    }
    default: {
      // metadata: a config or labels that lie
      const meta = (header.__metadata__ ?? {}) as Record<string, string>;
      header.__metadata__ = meta;
      const key = pick(r, ['vggnet.config', 'vggnet.labels', 'vggnet.preprocess']);
      meta[key] = pick(r, ['{', '[]', '{"name":"x","inChannels":0}', JSON.stringify(pick(r, HOSTILE_JSON))]);
    }
  }
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  const len = r() < 0.9 ? BigInt(h.length) : BigInt.asUintN(64, BigInt(Math.trunc(pick(r, INTERESTING_NUMBERS))));
  new DataView(out.buffer).setBigUint64(0, len, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return r() < 0.2 ? mutateBytes(out, r) : out;
}

const OPS = ['Conv', 'Relu', 'MaxPool', 'AveragePool', 'Gemm', 'MatMul', 'Flatten', 'Reshape', 'LRN', 'Softmax', 'Add'];

export function mutateOnnx(src: Uint8Array, r: Rng): Uint8Array {
  const m = onnx.ModelProto.decode(src);
  const g = m.graph!;
  const nodes = g.node ?? [];
  const inits = g.initializer ?? [];
  switch (int(r, 7)) {
    case 0: {
      const t = pick(r, inits);
      if (t.dims?.length) t.dims[int(r, t.dims.length)] = pick(r, [-8, 0, 2 ** 31, 2 ** 40, 1, 7]);
      break;
    }
    case 1:
      pick(r, inits).dataType = pick(r, [0, 1, 6, 7, 10, 11, 16, 999]);
      break;
    case 2:
      pick(r, nodes).opType = pick(r, OPS);
      break;
    case 3: {
      // rewire an edge (cycles, dangling names, the graph input twice)
      const n = pick(r, nodes);
      if (n.input?.length)
        n.input[int(r, n.input.length)] = pick(r, [...nodes.flatMap((x) => x.output ?? []), 'x', 'nowhere']);
      break;
    }
    case 4: {
      const n = pick(r, nodes);
      const a = n.attribute?.length ? pick(r, n.attribute) : null;
      if (a) {
        a.i = pick(r, [-1, 0, 1, 2, 3, 7, 2 ** 31]);
        if (a.ints?.length) a.ints[int(r, a.ints.length)] = pick(r, [-1, 0, 5, 2 ** 31]);
        a.f = pick(r, [0, -1, NaN, Infinity, 1e-30]);
      }
      break;
    }
    case 5: {
      // external data pointing elsewhere
      const t = pick(r, inits);
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [
        { key: 'location', value: pick(r, ['../w.bin', '/etc/passwd', 'missing.bin', '.', '', 'a/../../b']) },
        { key: 'offset', value: pick(r, ['0', '-1', '1e30', 'x']) },
      ];
      break;
    }
    default:
      m.opsetImport = [{ domain: '', version: pick(r, [1, 7, 13, 99, -1]) }];
  }
  const out = onnx.ModelProto.encode(m).finish();
  return r() < 0.2 ? mutateBytes(out, r) : out;
}

/** Pickle opcodes (Lib/pickletools.py) to swap in, the allowed and the refused. */
const PICKLE_OPS = [
  0x28, 0x2e, 0x29, 0x74, 0x85, 0x86, 0x87, 0x5d, 0x61, 0x65, 0x7d, 0x73, 0x75, 0x4e, 0x88, 0x89, 0x4a, 0x4b, 0x4d,
  0x8a, 0x58, 0x55, 0x63, 0x52, 0x81, 0x62, 0x51, 0x68, 0x6a, 0x71, 0x72, 0x94, 0x93, 0x95, 0x30, 0x31, 0x69, 0x6f,
  0x92, 0x8b, 0x54, 0x32, 0xff,
];
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const PICKLE_SNIPPETS: number[][] = [
  ascii('cposix\nsystem\n'),
  ascii('cbuiltins\neval\n'),
  ascii('ctorch._utils\n_rebuild_tensor_v2\n'),
  ascii('ctorch\nDoubleStorage\n'),
  ascii('ccollections\nOrderedDict\n'),
  new Array<number>(300).fill(0x28),
  [0x68, 0xff],
  [0x6a, 0xff, 0xff, 0xff, 0xff],
  [0x58, 0xff, 0xff, 0xff, 0x7f],
  [0x4a, 0xff, 0xff, 0xff, 0xff],
  [0x8a, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x7f],
  [0x2e],
  [0x80, 0x05, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
];

/** Where a .pth's pickle bytes lie: a zip's first record (data.pkl, as torch.save writes it), or the first part
 *  of a legacy file (its five pickles precede the storages). */
function pickleRange(src: Uint8Array): [number, number] {
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (src.length > 30 && v.getUint32(0, true) === 0x04034b50) {
    const start = 30 + v.getUint16(26, true) + v.getUint16(28, true);
    const size = v.getUint32(18, true);
    if (size > 0 && start + size <= src.length) return [start, start + size];
  }
  return [0, Math.floor(src.length / 2)];
}

export function mutatePth(src: Uint8Array, r: Rng, zip: boolean): Uint8Array {
  const b = Uint8Array.from(src);
  const [from, to] = pickleRange(b);
  const at = () => from + int(r, Math.max(1, to - from));
  for (let k = 1 + int(r, 3); k > 0; k--) {
    switch (int(r, 4)) {
      case 0: // an opcode swapped
        b[at()] = pick(r, PICKLE_OPS);
        break;
      case 1: // a small integer argument (BININT1 K n) made interesting
        b[at()] = pick(r, [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff]);
        break;
      case 2: {
        // a hostile snippet written over the pickle
        const snip = pick(r, PICKLE_SNIPPETS);
        const p = at();
        b.set(snip.slice(0, Math.max(0, b.length - p)), p);
        break;
      }
      default: // bytes of the pickle swapped with another place's
        if (to - from > 2) {
          const [p, q] = [at(), at()];
          [b[p], b[q]] = [b[q], b[p]];
        }
    }
  }
  // A legacy file may also lose or gain bytes (its storages then move); a zip keeps its sizes.
  return !zip && r() < 0.3 ? mutateBytes(b, r) : b;
}

/**
 * Byte edits of an HDF5 file outside `data` ([offset, length] of the datasets' values): what the library
 * parses (a flipped weight is still a valid file).
 */
export function mutateHdf5(src: Uint8Array, r: Rng, data: [number, number][]): Uint8Array {
  const structure: [number, number][] = [];
  let at = 0;
  for (const [o, n] of [...data, [src.length, 0]].sort((a, b) => a[0] - b[0])) {
    if (o > at) structure.push([at, o]);
    at = Math.max(at, o + n);
  }
  const total = structure.reduce((n, [a, b]) => n + b - a, 0);
  const position = () => {
    let k = int(r, total);
    for (const [a, b] of structure) {
      if (k < b - a) return a + k;
      k -= b - a;
    }
    return 0;
  };
  const b = Uint8Array.from(src);
  const dv = new DataView(b.buffer);
  for (let k = 1 + int(r, 4); k > 0; k--) {
    const p = position();
    const v = pick(r, INTERESTING_NUMBERS);
    switch (int(r, 4)) {
      case 0:
        b[p] ^= 1 << int(r, 8);
        break;
      case 1:
        b[p] = pick(r, [0, 0xff, 0x7f, 0x80, 0x01]);
        break;
      case 2:
        if (p + 4 <= b.length) dv.setUint32(p, Number(BigInt.asUintN(32, BigInt(Math.trunc(v)))), true);
        break;
      default:
        if (p + 8 <= b.length) dv.setBigUint64(p, BigInt.asUintN(64, BigInt(Math.trunc(v))), true);
    }
  }
  return r() < 0.1 ? mutateBytes(b, r) : b;
}

/** caffe.proto's subset (the reader's) with what the reader walks in place added back, to decode a whole net. */
let caffeNet: protobuf.Type | undefined;
function caffeNetType(): protobuf.Type {
  if (caffeNet) return caffeNet;
  const root = protobuf.parse(CAFFE_SCHEMA, { keepCase: true }).root;
  const F = protobuf.Field;
  const blob = root.lookupType('caffe.BlobProto');
  blob.add(new F('data', 5, 'float', 'repeated', undefined, { packed: true }));
  blob.add(new F('double_data', 8, 'double', 'repeated', undefined, { packed: true }));
  root.lookupType('caffe.LayerParameter').add(new F('blobs', 7, 'BlobProto', 'repeated'));
  root.lookupType('caffe.V1LayerParameter').add(new F('blobs', 6, 'BlobProto', 'repeated'));
  const net = new protobuf.Type('NetParameter')
    .add(new F('name', 1, 'string'))
    .add(new F('layers', 2, 'V1LayerParameter', 'repeated'))
    .add(new F('input', 3, 'string', 'repeated'))
    .add(new F('input_dim', 4, 'int32', 'repeated'))
    .add(new F('layer', 100, 'LayerParameter', 'repeated'));
  (root.lookup('caffe') as protobuf.Namespace).add(net);
  root.resolveAll();
  return (caffeNet = net);
}

interface CaffeBlob {
  shape?: { dim?: number[] };
  num?: number;
  channels?: number;
  height?: number;
  width?: number;
  data?: number[];
  double_data?: number[];
}
interface CaffeLayerMsg {
  name?: string;
  type?: number | string;
  bottom?: string[];
  top?: string[];
  blobs?: CaffeBlob[];
  convolution_param?: Record<string, unknown>;
  pooling_param?: Record<string, unknown>;
  inner_product_param?: Record<string, unknown>;
  relu_param?: Record<string, unknown>;
}

const CAFFE_TYPES = [
  0,
  1,
  3,
  4,
  5,
  6,
  8,
  14,
  15,
  17,
  18,
  20,
  22,
  25,
  39,
  'Convolution',
  'BatchNorm',
  'Concat',
  'Scale',
];
const CAFFE_SIZES = [-1, 0, 1, 2, 3, 5, 7, 2 ** 31 - 1, 2 ** 31, 2 ** 40];

export function mutateCaffe(src: Uint8Array, r: Rng): Uint8Array {
  const Net = caffeNetType();
  const m = Net.toObject(Net.decode(src), { longs: Number }) as { layers?: CaffeLayerMsg[]; layer?: CaffeLayerMsg[] };
  const layers = m.layers ?? m.layer ?? [];
  if (!layers.length) return mutateBytes(src, r);
  const l = pick(r, layers);
  const blob = l.blobs?.length ? pick(r, l.blobs) : undefined;
  switch (int(r, 8)) {
    case 0:
      l.type = pick(
        r,
        CAFFE_TYPES.filter((t) => typeof t === (m.layers ? 'number' : 'string')),
      );
      break;
    case 1: {
      const p = (l.convolution_param ??= {});
      const key = pick(r, ['num_output', 'kernel_size', 'pad', 'stride', 'group', 'dilation', 'kernel_h']);
      p[key] =
        key === 'num_output' || key === 'group' || key === 'kernel_h' ? pick(r, CAFFE_SIZES) : [pick(r, CAFFE_SIZES)];
      break;
    }
    case 2: {
      const p = (l.pooling_param ??= {});
      p[pick(r, ['pool', 'kernel_size', 'stride', 'pad', 'global_pooling'])] = pick(r, [0, 1, 2, 3, 7]);
      break;
    }
    case 3:
      if (blob) {
        if (blob.shape?.dim?.length) blob.shape.dim[int(r, blob.shape.dim.length)] = pick(r, CAFFE_SIZES);
        else blob[pick(r, ['num', 'channels', 'height', 'width'] as const)] = pick(r, CAFFE_SIZES);
      }
      break;
    case 4:
      if (blob?.data) blob.data = blob.data.slice(0, int(r, blob.data.length + 1));
      break;
    case 5:
      l.bottom = [pick(r, [...layers.flatMap((x) => x.top ?? []), 'data', 'nowhere'])];
      break;
    case 6: {
      // the layer list: one dropped, repeated or moved
      const i = layers.indexOf(l);
      const j = int(r, layers.length);
      const k = int(r, 3);
      if (k === 0) layers.splice(i, 1);
      else if (k === 1) layers.splice(j, 0, JSON.parse(JSON.stringify(l)));
      else [layers[i], layers[j]] = [layers[j], layers[i]];
      break;
    }
    default:
      if (l.blobs?.length) l.blobs.splice(int(r, l.blobs.length), 1);
      else (l.relu_param ??= {}).negative_slope = 0.5;
  }
  const out = Net.encode(Net.fromObject(m)).finish();
  return r() < 0.2 ? mutateBytes(out, r) : out;
}

/** The `index`-th mutant of `seedFile` under `seed`: structured for the format most of the time, raw bytes otherwise. */
export function mutant(format: Format, seedFile: Uint8Array, seed: number, index: number): Uint8Array {
  const r = uniform((seed * 1_000_003 + index) >>> 0);
  if (r() < 0.3) return mutateBytes(seedFile, r);
  try {
    if (format === 'pth-zip' || format === 'pth-legacy') return mutatePth(seedFile, r, format === 'pth-zip');
    if (format === 'keras') return mutateHdf5(seedFile, r, kerasSeedData());
    if (format === 'caffe') return mutateCaffe(seedFile, r);
    return format === 'safetensors' ? mutateSafetensors(seedFile, r) : mutateOnnx(seedFile, r);
  } catch {
    return mutateBytes(seedFile, r); // a structured mutation that cannot serialise (protobuf refuses a value)
  }
}
