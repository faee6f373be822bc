/**
 * ONNX import: a VGG graph (as torchvision, the ONNX model zoo or Caffe converters export it) mapped onto our
 * topology. The graph must be one chain from its one image input:
 *
 *   features  Conv (3×3 pad 1 or 1×1 pad 0, stride 1, group 1) [BatchNormalization] Relu, an optional LRN after
 *             the first conv's Relu (config A-LRN), MaxPool 2×2 stride 2 ending each stage
 *   head      either Flatten/Reshape then Gemm (transB 0 or 1) or MatMul [+ Add] per FC layer,
 *             or FC-as-conv: Conv p×p pad 0 then 1×1 Convs (p = pool5 side, 7 for 224 inputs)
 *             with Relu after every FC layer but the last; Dropout/Identity anywhere (inference: no-ops);
 *             an optional trailing Flatten/Reshape/Squeeze and Softmax (dropped: our model returns logits).
 *
 * Weights come from initializers (raw_data or float_data/int32_data, FLOAT, FLOAT16 or BFLOAT16, inline or
 * external data beside the model) or Constant nodes. Shape-computing side chains (Shape → Gather → Unsqueeze →
 * Concat → Reshape, as older PyTorch exports of x.view(x.size(0), -1) produce) are allowed. Anything else is
 * UnsupportedError naming the node (op type and name); a malformed file is FormatError.
 *
 * Conversions: Gemm computes alpha·A·B' + beta·C, so weight = alpha·B' ([out,in]; B transposed when
 * transB = 0) and bias = beta·C; MatMul's B is [in, out] and is transposed. ONNX LRN divides alpha by size
 * (lib/topology.ts LRN_PARAMS): ours α = onnx_alpha / size, k = bias. BatchNormalization is folded into the
 * conv before it with the node's epsilon (default 1e-5).
 *
 * Memory: a file is walked in place (proto-walk.ts), never read whole; initializer payloads of 64 KiB and more
 * stay in the file until their layer is read, and a layer stored [out, in] without batch norm can be read by
 * bands of output channels (openOnnxWeights readRows), so loading vgg16 holds one band of FC6, not 553 MB.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { onnx } from 'onnx-proto';
import { FormatError, InvalidArgumentError, UnsupportedError } from '../errors';
import type { LayerWeights } from '../model';
import { ARCHS, ConvDef, LRN_PARAMS, VggConfig } from '../topology';
import { ProtoFile, WIRE } from './proto-walk';
import { BN_EPS, foldBatchNorm } from './batchnorm';
import { configFromDetected, sameWeightsLayout } from './detect';
import { transposeMatrix } from './keras';
import { f16ToF32, bf16ToF32, swapBytes } from './safetensors';
import {
  checkMetadataLabels,
  LoadedWeights,
  LoadWeightsOptions,
  parseVggMetadata,
  readLoadWeightsOptions,
  reconcile,
  resolveGivenArch,
  WeightsReader,
} from './types';

const LITTLE_ENDIAN = os.endianness() === 'LE';

type Long = { toNumber(): number };
const num = (v: number | Long | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

/** onnx-proto (with protobufjs) is loaded on the first ONNX import, not with the package (~45 ms). */
let onnxModule: typeof onnx | null = null;
function onnxProto(): typeof onnx {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (onnxModule ??= (require('onnx-proto') as typeof import('onnx-proto')).onnx);
}

/** TensorProto.DataType values used here (onnx.proto3). */
const DT = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10, BFLOAT16: 16 } as const;
const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL
const dtName = (dt: number): string =>
  Object.entries(onnxProto().TensorProto.DataType).find(([, v]) => v === dt)?.[0] ?? String(dt);

/** Opsets the mapping is written for: 7 (first with today's Gemm/Dropout/BatchNormalization) to 21. */
const MIN_OPSET = 7;
const MAX_OPSET = 21;

/** ops that may compute the target shape of a Reshape off the main chain. */
const SHAPE_OPS = new Set([
  'Shape',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Constant',
  'Cast',
  'Slice',
  'Mul',
  'Div',
  'ConstantOfShape',
]);

interface ConstTensor {
  name: string;
  dims: number[];
  proto: onnx.ITensorProto;
  /** Its raw bytes left in the model file by the lazy walk (raw_data, or packed float_data of a FLOAT). */
  at?: { pf: ProtoFile; start: number; end: number };
}

/** A layer's weights as the graph computes them, read when the layer is: `tensor` (·alpha, transposed when
 *  stored [in, out]), bias = Σ terms (beta·C, Add constants), batch norm folded between the terms added
 *  before it and those after. */
interface LayerSource {
  tensor: ConstTensor;
  what: string;
  transpose: boolean;
  alpha: number;
  terms: { c: ConstTensor; what: string; scale: number; broadcast: boolean; afterBn: boolean }[];
  bn?: { params: ConstTensor[]; what: string; eps: number };
}

type Op =
  | {
      t: 'conv';
      node: string;
      K: number;
      C: number;
      R: number;
      pad: number;
      src: LayerSource;
      relu: boolean;
      bn: boolean;
    }
  | { t: 'fc'; node: string; K: number; C: number; src: LayerSource; relu: boolean; bn?: undefined }
  | { t: 'pool'; node: string }
  | { t: 'lrn'; node: string; size: number; alpha: number; beta: number; k: number }
  | { t: 'flatten'; node: string }
  | { t: 'softmax'; node: string };

/** A float attribute (stored as f32) printed without f32 noise. */
const g = (v: number): number => Number(v.toPrecision(6));

const nodeLabel = (n: onnx.INodeProto): string => `${n.opType} node '${n.name || n.output?.[0] || '?'}'`;

function attr(n: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}
function attrInt(n: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(n, name);
  return a ? num(a.i) : dflt;
}
function attrFloat(n: onnx.INodeProto, name: string, dflt: number): number {
  const a = attr(n, name);
  return a ? (a.f ?? 0) : dflt;
}
function attrInts(n: onnx.INodeProto, name: string): number[] | undefined {
  const a = attr(n, name);
  return a ? (a.ints ?? []).map(num) : undefined;
}
function attrString(n: onnx.INodeProto, name: string, dflt: string): string {
  const a = attr(n, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : dflt;
}

/** Where a tensor's raw bytes are: in memory (raw_data decoded), in the model file, or in an external file. */
type RawBytes =
  | { kind: 'memory'; bytes: Uint8Array }
  | { kind: 'file'; pf: ProtoFile; pos: number; length: number }
  | { kind: 'external'; path: string; offset: number; length: number };

/**
 * Reads ONNX tensors (inline, left in the model file by the lazy walk, or external data) as f32 / int64.
 * check() validates a tensor without reading its values (walk time); f32() and f32Range() read them.
 */
class TensorReader {
  constructor(
    private readonly file: string,
    private readonly baseDir: string | null,
  ) {}

  /** The external data of `t` checked (location inside the model's folder, a regular file, range inside it). */
  private external(t: onnx.ITensorProto, what: string): RawBytes {
    const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const loc = kv.location;
    if (!loc) throw new FormatError(`${this.file}: ${what}: external data without a location`);
    if (!this.baseDir)
      throw new UnsupportedError(`${what}: external data ('${loc}') needs the model loaded from a file`);
    if (path.isAbsolute(loc) || loc.split(/[\\/]/).includes('..'))
      throw new FormatError(
        `${this.file}: ${what}: external data location '${loc}' must be a relative path inside the model's folder`,
      );
    const offset = Number(kv.offset ?? 0);
    const full = path.join(this.baseDir, loc);
    let fd: number;
    let real: string;
    try {
      // A symlink must not lead out of the model's folder (it once read /etc/passwd as weights).
      real = fs.realpathSync(full);
      const dir = fs.realpathSync(this.baseDir);
      if (!real.startsWith(dir + path.sep))
        throw new FormatError(
          `${this.file}: ${what}: external data '${loc}' resolves to '${real}', outside the model's folder`,
        );
      // Non-blocking: opening a FIFO would otherwise wait for a writer for ever.
      fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(`${this.file}: ${what}: cannot open external data '${full}' (${(e as Error).message})`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile())
        throw new FormatError(
          `${this.file}: ${what}: external data '${loc}' is not a regular file (a directory, FIFO or device)`,
        );
      const size = st.size;
      const length = kv.length !== undefined ? Number(kv.length) : size - offset;
      if (
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(length) ||
        offset < 0 ||
        length < 0 ||
        offset + length > size
      )
        throw new FormatError(
          `${this.file}: ${what}: external data range offset ${kv.offset} length ${kv.length} is outside '${loc}' (${size} bytes)`,
        );
      return { kind: 'external', path: real, offset, length };
    } finally {
      fs.closeSync(fd);
    }
  }

  private raw(c: ConstTensor, what: string): RawBytes | null {
    const t = c.proto;
    if (t.dataLocation === EXTERNAL) return this.external(t, what);
    if (c.at) return { kind: 'file', pf: c.at.pf, pos: c.at.start, length: c.at.end - c.at.start };
    return t.rawData && t.rawData.length ? { kind: 'memory', bytes: t.rawData } : null;
  }

  /** Bytes [from, from + length) of `r` into `dest` (or a fresh array). */
  private read(r: RawBytes, from: number, length: number, what: string, dest?: Uint8Array): Uint8Array {
    const out = dest ?? new Uint8Array(length);
    if (r.kind === 'memory') out.set(r.bytes.subarray(from, from + length));
    else if (r.kind === 'file') r.pf.readInto(out, r.pos + from);
    else {
      const fd = fs.openSync(r.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try {
        for (let done = 0; done < length;) {
          const n = fs.readSync(fd, out, done, length - done, r.offset + from + done);
          if (n === 0) throw new FormatError(`${this.file}: ${what}: external data '${r.path}' ended early`);
          done += n;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    return out;
  }

  /**
   * Checks that `c` can be read as f32 (FLOAT, FLOAT16 or BFLOAT16, as many values as its dims say) without
   * reading its values; returns its element count. Errors as f32().
   */
  check(c: ConstTensor, what: string): number {
    const t = c.proto;
    const n = c.dims.reduce((a, b) => a * b, 1);
    const dt = t.dataType ?? 0;
    const raw = this.raw(c, what);
    const bad = (found: number) =>
      new FormatError(
        `${this.file}: ${what} ('${c.name}'): dims [${c.dims.join(',')}] need ${n} values, found ${found}`,
      );
    const rawLength = raw ? (raw.kind === 'memory' ? raw.bytes.length : raw.length) : 0;
    if (dt === DT.FLOAT) {
      if (raw) {
        if (rawLength !== n * 4) throw bad(rawLength / 4);
      } else if ((t.floatData ?? []).length !== n) throw bad((t.floatData ?? []).length);
      return n;
    }
    if (dt === DT.FLOAT16 || dt === DT.BFLOAT16) {
      if (raw) {
        if (rawLength !== n * 2) throw bad(rawLength / 2);
      } else if ((t.int32Data ?? []).length !== n) throw bad((t.int32Data ?? []).length);
      return n;
    }
    throw new UnsupportedError(
      `${what} ('${c.name}'): data type ${dtName(dt)}; weights must be FLOAT, FLOAT16 or BFLOAT16`,
    );
  }

  /** The tensor's values as fresh f32 (f16/bf16 widened exactly). */
  f32(c: ConstTensor, what: string): Float32Array {
    return this.f32Range(c, 0, this.check(c, what), what);
  }

  /** Values [from, from + count) (row-major) as fresh f32, read straight from where they are. */
  f32Range(c: ConstTensor, from: number, count: number, what: string): Float32Array {
    const n = this.check(c, what);
    if (from < 0 || count < 0 || from + count > n)
      throw new FormatError(`${this.file}: ${what}: values [${from}, ${from + count}) of ${n}`);
    const t = c.proto;
    const raw = this.raw(c, what);
    if (t.dataType === DT.FLOAT) {
      const out = new Float32Array(count);
      if (raw) {
        const bytes = new Uint8Array(out.buffer);
        this.read(raw, from * 4, count * 4, what, bytes); // raw_data is little-endian; also realigns
        if (!LITTLE_ENDIAN) swapBytes(bytes, 4);
      } else out.set((t.floatData ?? []).slice(from, from + count));
      return out;
    }
    const bits = new Uint16Array(count);
    if (raw) {
      const bytes = new Uint8Array(bits.buffer);
      this.read(raw, from * 2, count * 2, what, bytes);
      if (!LITTLE_ENDIAN) swapBytes(bytes, 2);
    } else bits.set((t.int32Data ?? []).slice(from, from + count));
    return t.dataType === DT.FLOAT16 ? f16ToF32(bits) : bf16ToF32(bits);
  }

  i64(c: ConstTensor, what: string): number[] {
    const t = c.proto;
    if (t.dataType !== DT.INT64 && t.dataType !== DT.INT32)
      throw new UnsupportedError(`${what} ('${c.name}'): data type ${dtName(t.dataType ?? 0)}; expected INT64`);
    const r = this.raw(c, what);
    if (r) {
      const length = r.kind === 'memory' ? r.bytes.length : r.length;
      const raw = this.read(r, 0, length, what);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const size = t.dataType === DT.INT64 ? 8 : 4;
      return Array.from({ length: Math.floor(raw.length / size) }, (_, i) =>
        size === 8 ? Number(dv.getBigInt64(i * 8, true)) : dv.getInt32(i * 4, true),
      );
    }
    return t.dataType === DT.INT64 ? (t.int64Data ?? []).map(num) : (t.int32Data ?? []).slice();
  }
}

/** Payloads (raw_data, packed float_data) at least this long are left in the file by the lazy walk. */
const LAZY_BYTES = 1 << 16;

/**
 * Opens an ONNX file without reading it whole (see the module comment for the graphs accepted): the protobuf
 * is walked in place (proto-walk.ts), every message decoded but the large tensor payloads, which stay in the
 * file and are read when their layer is, by bands where the layer allows (readRows: weights stored [out, in]
 * without batch norm). Validation is as thorough as a whole decode's: every weight's type and size is checked
 * before this returns.
 * @throws FormatError (not ONNX, malformed graph or tensors, arch mismatch), UnsupportedError (naming the node)
 */
export async function openOnnxWeights(file: string, options: LoadWeightsOptions = {}): Promise<WeightsReader> {
  const given = resolveGivenArch(readLoadWeightsOptions(options).arch);
  const pf = ProtoFile.open(file);
  try {
    const { model, at } = decodeLazily(pf, file);
    const g = importGraph(model, given, file, path.dirname(path.resolve(file)), at);
    return {
      ...g.meta,
      read: async (i) => g.read(i),
      readRows: async (i, from, to) => g.readRows(i, from, to),
      close: async () => pf.close(),
    };
  } catch (e) {
    pf.close();
    throw e;
  }
}

/** Like openOnnxWeights, from the bytes of a serialised ModelProto (external data is then unsupported). */
export function importOnnx(bytes: Uint8Array, options: LoadWeightsOptions | null = {}, file?: string): LoadedWeights {
  const label = file ?? '<onnx bytes>';
  const given = resolveGivenArch(readLoadWeightsOptions(options).arch);
  let model: onnx.ModelProto;
  try {
    model = onnxProto().ModelProto.decode(bytes);
  } catch (e) {
    throw new FormatError(`${label}: not a valid ONNX model (protobuf decode failed: ${(e as Error).message})`);
  }
  const g = importGraph(model, given, label, file ? path.dirname(path.resolve(file)) : null, () => undefined);
  return { ...g.meta, weights: Array.from({ length: g.layers }, (_, i) => g.read(i)) };
}

/**
 * The ModelProto in `pf` with the payloads of its large initializers left in the file (located by `at`).
 * protobufjs decodes each part: the model's fields but its graph, the graph's fields but its initializers,
 * each initializer but its large payload.
 */
function decodeLazily(
  pf: ProtoFile,
  label: string,
): { model: onnx.ModelProto; at: (t: onnx.ITensorProto) => ConstTensor['at'] } {
  const P = onnxProto();
  const located = new Map<onnx.ITensorProto, ConstTensor['at']>();
  try {
    const modelParts: Uint8Array[] = [];
    const graphParts: Uint8Array[] = [];
    const inits: onnx.TensorProto[] = [];
    let hasGraph = false;
    for (const f of pf.fields(0, pf.size, 'ModelProto')) {
      if (f.field !== 7 || f.wire !== WIRE.LEN) {
        modelParts.push(pf.bytes(f.tagStart, f.end));
        continue;
      }
      hasGraph = true;
      for (const gf of pf.fields(f.start, f.end, 'GraphProto')) {
        if (gf.field !== 5 || gf.wire !== WIRE.LEN) {
          graphParts.push(pf.bytes(gf.tagStart, gf.end));
          continue;
        }
        const parts: Uint8Array[] = [];
        let big: ConstTensor['at'];
        for (const tf of pf.fields(gf.start, gf.end, 'TensorProto')) {
          const lazy = tf.wire === WIRE.LEN && (tf.field === 9 || tf.field === 4) && tf.end - tf.start >= LAZY_BYTES;
          if (lazy && !big) big = { pf, start: tf.start, end: tf.end };
          else parts.push(pf.bytes(tf.tagStart, tf.end));
        }
        const t = P.TensorProto.decode(joined(parts));
        if (big) located.set(t, big);
        inits.push(t);
      }
    }
    const model = P.ModelProto.decode(joined(modelParts));
    if (hasGraph) {
      model.graph = P.GraphProto.decode(joined(graphParts));
      model.graph.initializer = inits;
    }
    return { model, at: (t) => located.get(t) };
  } catch (e) {
    throw new FormatError(`${label}: not a valid ONNX model (protobuf decode failed: ${(e as Error).message})`);
  }
}

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** A decoded model checked and mapped: the file's description, and its layers read on demand. */
function importGraph(
  model: onnx.ModelProto,
  given: ReturnType<typeof resolveGivenArch>,
  label: string,
  baseDir: string | null,
  at: (t: onnx.ITensorProto) => ConstTensor['at'],
): {
  meta: Omit<LoadedWeights, 'weights'>;
  layers: number;
  read: (i: number) => LayerWeights;
  readRows: (i: number, from: number, to: number) => LayerWeights | null;
} {
  const graph = model.graph;
  if (!graph || !graph.node?.length) throw new FormatError(`${label}: ONNX model has no graph (or no nodes)`);
  for (const o of model.opsetImport ?? []) {
    const v = num(o.version);
    if ((o.domain ?? '') === '' || o.domain === 'ai.onnx')
      if (v < MIN_OPSET || v > MAX_OPSET)
        throw new UnsupportedError(`${label}: ONNX opset ${v}; supported: ${MIN_OPSET}–${MAX_OPSET}`);
  }
  const reader = new TensorReader(label, baseDir);
  const meta = parseVggMetadata(
    label,
    Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? ''])),
  );
  const { ops, inputDims, batchNorm } = walkGraph(graph, reader, label, at);
  const { config: found, lrn } = configFromOps(ops, inputDims, label);
  let foundCfg = found;
  if (meta.config && sameWeightsLayout(meta.config, found) && !!meta.config.lrn === lrn) foundCfg = meta.config;
  const config = reconcile(label, given, foundCfg, batchNorm);
  if (given && !!given.config.lrn !== lrn)
    throw new FormatError(
      `${label}: arch '${given.config.name}' ${given.config.lrn ? 'has an LRN layer, the graph has none' : 'has no LRN layer, the graph has one'}`,
    );
  checkMetadataLabels(label, meta.labels, config);
  const layers = ops.filter((o): o is Extract<Op, { t: 'conv' | 'fc' }> => o.t === 'conv' || o.t === 'fc');
  const layer = (i: number) => {
    if (!layers[i]) throw new InvalidArgumentError(`layer ${i}: expected 0 … ${layers.length - 1}`);
    return layers[i];
  };
  return {
    meta: {
      config,
      format: 'onnx',
      source: 'onnx',
      labels: meta.labels,
      preprocess: meta.preprocess,
      batchNormFolded: batchNorm,
    },
    layers: layers.length,
    read: (i) => readLayer(reader, layer(i).src, layer(i).K),
    readRows: (i, from, to) => readLayerRows(reader, layer(i).src, layer(i).K, from, to),
  };
}

/** Adds the bias terms added before (afterBn = false) or after batch norm; the first one sets. */
function addTerms(reader: TensorReader, src: LayerSource, bias: Float32Array, afterBn: boolean, first: boolean): void {
  for (const t of src.terms) {
    if (t.afterBn !== afterBn) continue;
    const v = reader.f32(t.c, t.what);
    for (let i = 0; i < bias.length; i++) {
      const x = (t.broadcast ? v[0] : v[i]) * t.scale;
      bias[i] = first ? x : bias[i] + x;
    }
    first = false;
  }
}

/** A layer's weight (K, C·R·S) and bias (K) as the graph computes them (LayerSource). */
function readLayer(reader: TensorReader, src: LayerSource, K: number): LayerWeights {
  let weight = reader.f32(src.tensor, src.what);
  if (src.transpose) weight = transposeMatrix(weight, weight.length / K, K);
  if (src.alpha !== 1) for (let i = 0; i < weight.length; i++) weight[i] *= src.alpha;
  const bias = new Float32Array(K);
  addTerms(reader, src, bias, false, true);
  if (src.bn) {
    const [g, b, m, v] = src.bn.params.map((c, i) => reader.f32(c, `${src.bn!.what} input ${i + 1}`));
    foldBatchNorm(weight, bias, { weight: g, bias: b, runningMean: m, runningVar: v, eps: src.bn.eps });
  }
  addTerms(reader, src, bias, true, !src.bn && !src.terms.some((t) => !t.afterBn));
  return { weight, bias };
}

/** Output channels [from, to) of readLayer's result, read by range; null for a transposed or batch-norm layer. */
function readLayerRows(
  reader: TensorReader,
  src: LayerSource,
  K: number,
  from: number,
  to: number,
): LayerWeights | null {
  if (src.transpose || src.bn) return null;
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && 0 <= from && from < to && to <= K))
    throw new InvalidArgumentError(`rows [${from}, ${to}) of ${K}`);
  const crs = reader.check(src.tensor, src.what) / K;
  const weight = reader.f32Range(src.tensor, from * crs, (to - from) * crs, src.what);
  if (src.alpha !== 1) for (let i = 0; i < weight.length; i++) weight[i] *= src.alpha;
  const bias = new Float32Array(K);
  addTerms(reader, src, bias, false, true);
  addTerms(reader, src, bias, true, !src.terms.some((t) => !t.afterBn));
  return { weight, bias: bias.slice(from, to) };
}

function walkGraph(
  graph: onnx.IGraphProto,
  reader: TensorReader,
  file: string,
  at: (t: onnx.ITensorProto) => ConstTensor['at'],
): { ops: Op[]; inputDims: (number | null)[]; batchNorm: boolean } {
  const nodes = graph.node ?? [];
  const consts = new Map<string, ConstTensor>();
  const dimsOf = (t: onnx.ITensorProto, name: string): number[] => {
    const dims = (t.dims ?? []).map(num);
    if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new FormatError(`${file}: tensor '${name}': dims [${dims.join(',')}]; expected integers >= 0`);
    return dims;
  };
  for (const t of graph.initializer ?? [])
    consts.set(t.name ?? '', { name: t.name ?? '', dims: dimsOf(t, t.name ?? ''), proto: t, at: at(t) });
  for (const n of nodes)
    if (n.opType === 'Constant') {
      const v = attr(n, 'value')?.t;
      if (v && n.output?.[0]) consts.set(n.output[0], { name: n.output[0], dims: dimsOf(v, n.output[0]), proto: v });
    }
  // torch.onnx.export stores equal initializers once and names the others through Identity nodes (random
  // or zero-initialised biases, tied weights): those Identities are aliases of constants, off the chain.
  const aliases = new Set<onnx.INodeProto>();
  for (let grew = true; grew;) {
    grew = false;
    for (const n of nodes) {
      const src = consts.get(n.input?.[0] ?? '');
      const out = n.output?.[0];
      if (n.opType !== 'Identity' || !src || !out || aliases.has(n)) continue;
      consts.set(out, { ...src, name: out });
      aliases.add(n);
      grew = true;
    }
  }
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const n of nodes) {
    if (aliases.has(n)) continue;
    if (n.domain && n.domain !== 'ai.onnx')
      throw new UnsupportedError(`${nodeLabel(n)}: operator domain '${n.domain}' (only the default ONNX domain)`);
    for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const inputs = (graph.input ?? []).filter((i) => !consts.has(i.name ?? ''));
  if (inputs.length !== 1)
    throw new UnsupportedError(
      `${file}: the graph has ${inputs.length} inputs (${inputs.map((i) => `'${i.name}'`).join(', ')}); expected one image input`,
    );
  const outputs = graph.output ?? [];
  if (outputs.length !== 1)
    throw new UnsupportedError(
      `${file}: the graph has ${outputs.length} outputs (${outputs.map((o) => `'${o.name}'`).join(', ')}); expected one`,
    );
  const outName = outputs[0].name ?? '';
  const inputDims = (inputs[0].type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue != null && !d.dimParam ? num(d.dimValue) : null,
  );

  const constOf = (n: onnx.INodeProto, idx: number, what: string): ConstTensor => {
    const name = n.input?.[idx] ?? '';
    const c = consts.get(name);
    if (!c)
      throw new UnsupportedError(
        `${nodeLabel(n)}: ${what} '${name}' is not an initializer or Constant (computed weights are not supported)`,
      );
    return c;
  };
  const unused = (n: onnx.INodeProto, from: number) => {
    for (const o of (n.output ?? []).slice(from))
      if (o && ((consumers.get(o)?.length ?? 0) > 0 || o === outName))
        throw new UnsupportedError(`${nodeLabel(n)}: its output '${o}' is used; only the first output may be`);
  };

  const ops: Op[] = [];
  const visited = new Set<onnx.INodeProto>();
  let batchNorm = false;
  let cur = inputs[0].name ?? '';
  const lastLayer = (n: onnx.INodeProto, why: string) => {
    const p = ops[ops.length - 1];
    if (!p || (p.t !== 'conv' && p.t !== 'fc') || p.relu) throw new UnsupportedError(`${nodeLabel(n)}: ${why}`);
    return p;
  };

  for (;;) {
    const next = (consumers.get(cur) ?? []).filter((n) => n.opType !== 'Shape');
    if (next.length === 0) {
      if (cur === outName) break;
      throw new FormatError(`${file}: value '${cur}' feeds no node and is not the graph output '${outName}'`);
    }
    if (next.length > 1)
      throw new UnsupportedError(
        `${file}: value '${cur}' feeds ${next.length} nodes (${next.map(nodeLabel).join(', ')}); only a chain of layers is supported`,
      );
    if (ops[ops.length - 1]?.t === 'softmax')
      throw new UnsupportedError(`${nodeLabel(next[0])}: nodes after Softmax are not supported`);
    const n = next[0];
    // A node met twice: its output leads back into the chain (hostile or corrupt files; once a hang).
    if (visited.has(n)) throw new FormatError(`${file}: the graph has a cycle through ${nodeLabel(n)}`);
    visited.add(n);
    const op = n.opType ?? '';
    if (n.input?.[0] !== cur && op !== 'Add')
      throw new UnsupportedError(
        `${nodeLabel(n)}: takes the layer chain '${cur}' as input ${n.input?.indexOf(cur)}, expected as its first input`,
      );
    switch (op) {
      case 'Conv': {
        const wc = constOf(n, 1, 'weight');
        if (wc.dims.length !== 4)
          throw new UnsupportedError(
            `${nodeLabel(n)}: weight dims [${wc.dims.join(',')}]: only 2-D convolutions (K,C,R,S)`,
          );
        const [K, C, R, S] = wc.dims;
        const ks = attrInts(n, 'kernel_shape') ?? [R, S];
        const strides = attrInts(n, 'strides') ?? [1, 1];
        const dil = attrInts(n, 'dilations') ?? [1, 1];
        const group = attrInt(n, 'group', 1);
        const autoPad = attrString(n, 'auto_pad', 'NOTSET');
        let pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
        if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') pads = Array(4).fill((R - 1) / 2);
        else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
        const desc = `kernel ${ks.join('×')} strides [${strides}] pads [${pads}] dilations [${dil}] group ${group}`;
        if (
          R !== S ||
          ks[0] !== R ||
          ks[1] !== S ||
          strides.some((s) => s !== 1) ||
          dil.some((d) => d !== 1) ||
          group !== 1 ||
          pads.some((p) => p !== pads[0])
        )
          throw new UnsupportedError(
            `${nodeLabel(n)}: ${desc}; vggnet convs are square, stride 1, dilation 1, group 1, equal pads`,
          );
        const src: LayerSource = { tensor: wc, what: `${nodeLabel(n)} weight`, transpose: false, alpha: 1, terms: [] };
        reader.check(wc, src.what);
        if (n.input?.[2]) {
          const bc = constOf(n, 2, 'bias');
          const what = `${nodeLabel(n)} bias`;
          const nb = reader.check(bc, what);
          if (nb !== K)
            throw new FormatError(`${file}: ${nodeLabel(n)}: bias has ${nb} values for ${K} output channels`);
          src.terms.push({ c: bc, what, scale: 1, broadcast: false, afterBn: false });
        }
        ops.push({ t: 'conv', node: nodeLabel(n), K, C, R, pad: pads[0], src, relu: false, bn: false });
        break;
      }
      case 'BatchNormalization': {
        const p = lastLayer(n, 'BatchNormalization must follow a Conv directly');
        if (p.t !== 'conv' || p.bn)
          throw new UnsupportedError(`${nodeLabel(n)}: BatchNormalization must follow a Conv directly`);
        const params = [1, 2, 3, 4].map((i) => constOf(n, i, ['scale', 'B', 'mean', 'var'][i - 1]));
        params.forEach((c, i) => {
          const len = reader.check(c, `${nodeLabel(n)} input ${i + 1}`);
          if (len !== p.K)
            throw new FormatError(`${file}: ${nodeLabel(n)}: parameters of ${len} channels, the conv has ${p.K}`);
        });
        p.src.bn = { params, what: nodeLabel(n), eps: attrFloat(n, 'epsilon', BN_EPS) };
        p.bn = true;
        batchNorm = true;
        unused(n, 1);
        break;
      }
      case 'Relu':
        lastLayer(n, 'Relu must follow a Conv, Gemm or MatMul (one Relu per layer)').relu = true;
        break;
      case 'MaxPool': {
        const ks = attrInts(n, 'kernel_shape') ?? [];
        const strides = attrInts(n, 'strides') ?? [1, 1];
        const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
        const dil = attrInts(n, 'dilations') ?? [1, 1];
        const autoPad = attrString(n, 'auto_pad', 'NOTSET');
        if (
          ks.join() !== '2,2' ||
          strides.join() !== '2,2' ||
          pads.some((p) => p !== 0) ||
          dil.some((d) => d !== 1) ||
          (autoPad !== 'NOTSET' && autoPad !== 'VALID')
        )
          throw new UnsupportedError(
            `${nodeLabel(n)}: kernel [${ks}] strides [${strides}] pads [${pads}] auto_pad ${autoPad}; vggnet pools are 2×2 stride 2 without padding`,
          );
        unused(n, 1);
        ops.push({ t: 'pool', node: nodeLabel(n) });
        break;
      }
      case 'LRN': {
        const size = attrInt(n, 'size', 0);
        if (size < 1) throw new FormatError(`${file}: ${nodeLabel(n)}: missing 'size'`);
        ops.push({
          t: 'lrn',
          node: nodeLabel(n),
          size,
          alpha: attrFloat(n, 'alpha', 1e-4) / size,
          beta: attrFloat(n, 'beta', 0.75),
          k: attrFloat(n, 'bias', 1),
        });
        break;
      }
      case 'Flatten':
        if (attrInt(n, 'axis', 1) !== 1)
          throw new UnsupportedError(
            `${nodeLabel(n)}: axis ${attrInt(n, 'axis', 1)}; expected 1 (keep the batch dimension)`,
          );
        ops.push({ t: 'flatten', node: nodeLabel(n) });
        break;
      case 'Reshape': {
        const shapeName = n.input?.[1] ?? '';
        const sc = consts.get(shapeName);
        if (sc) {
          const s = reader.i64(sc, `${nodeLabel(n)} shape`);
          if (s.length !== 2 || !(s[0] === 0 || s[0] === -1 || s[0] >= 1) || !(s[1] === -1 || s[1] >= 1))
            throw new UnsupportedError(
              `${nodeLabel(n)}: target shape [${s}]; only flattening to [N, features] is supported`,
            );
        }
        ops.push({ t: 'flatten', node: nodeLabel(n) });
        break;
      }
      case 'Squeeze':
        ops.push({ t: 'flatten', node: nodeLabel(n) });
        break;
      case 'Gemm': {
        if (attrInt(n, 'transA', 0) !== 0) throw new UnsupportedError(`${nodeLabel(n)}: transA = 1`);
        const bc = constOf(n, 1, 'B (weight)');
        if (bc.dims.length !== 2) throw new FormatError(`${file}: ${nodeLabel(n)}: B dims [${bc.dims}]; expected 2-D`);
        const transB = attrInt(n, 'transB', 0);
        const [K, C] = transB ? bc.dims : [bc.dims[1], bc.dims[0]];
        const alpha = attrFloat(n, 'alpha', 1);
        const beta = attrFloat(n, 'beta', 1);
        const src: LayerSource = { tensor: bc, what: `${nodeLabel(n)} B`, transpose: !transB, alpha, terms: [] };
        reader.check(bc, src.what);
        if (n.input?.[2]) {
          const cc = constOf(n, 2, 'C (bias)');
          const what = `${nodeLabel(n)} C`;
          const len = reader.check(cc, what);
          if (len !== K && len !== 1)
            throw new UnsupportedError(`${nodeLabel(n)}: C dims [${cc.dims}]; expected [${K}] or [1,${K}]`);
          src.terms.push({ c: cc, what, scale: beta, broadcast: len === 1, afterBn: false });
        }
        ops.push({ t: 'fc', node: nodeLabel(n), K, C, src, relu: false });
        break;
      }
      case 'MatMul': {
        const bc = constOf(n, 1, 'B (weight)');
        if (bc.dims.length !== 2)
          throw new UnsupportedError(`${nodeLabel(n)}: B dims [${bc.dims}]; expected a 2-D [in, out] matrix`);
        const [C, K] = bc.dims;
        const src: LayerSource = { tensor: bc, what: `${nodeLabel(n)} B`, transpose: true, alpha: 1, terms: [] };
        reader.check(bc, src.what);
        ops.push({ t: 'fc', node: nodeLabel(n), K, C, src, relu: false });
        break;
      }
      case 'Add': {
        // A bias added after MatMul (or a bias-less Conv): the other input is a constant of K values.
        const p = lastLayer(n, 'Add is supported only as the bias of the Conv/MatMul before it');
        const other = n.input?.[0] === cur ? 1 : 0;
        const c = consts.get(n.input?.[other] ?? '');
        if (!c) throw new UnsupportedError(`${nodeLabel(n)}: adds a computed value; only a constant bias is supported`);
        const okDims =
          p.t === 'fc'
            ? [[p.K], [1, p.K]]
            : [
                [p.K, 1, 1],
                [1, p.K, 1, 1],
              ];
        if (!okDims.some((d) => d.join() === c.dims.join()))
          throw new UnsupportedError(
            `${nodeLabel(n)}: bias dims [${c.dims}]; expected ${okDims.map((d) => `[${d}]`).join(' or ')}`,
          );
        const what = `${nodeLabel(n)} bias`;
        reader.check(c, what);
        p.src.terms.push({ c, what, scale: 1, broadcast: false, afterBn: !!p.bn });
        break;
      }
      case 'Dropout':
      case 'Identity':
        unused(n, 1);
        break;
      case 'AveragePool': {
        // torchvision's AdaptiveAvgPool2d(7) exported at 224: a 1×1, stride-1 AveragePool, an identity. At
        // other export sizes it pools, and vggnet's mode 'torchvision' does that for any input size instead.
        const ks = attrInts(n, 'kernel_shape') ?? [];
        const strides = attrInts(n, 'strides') ?? [1, 1];
        const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
        if (ks.some((k) => k !== 1) || strides.some((t) => t !== 1) || pads.some((p) => p !== 0))
          throw new UnsupportedError(
            `${nodeLabel(n)}: kernel [${ks}] strides [${strides}] pads [${pads}]: only the identity AveragePool that ` +
              `torch.onnx.export writes for torchvision's avgpool at 224×224; export at 224×224 and run other sizes ` +
              `with mode 'torchvision'`,
          );
        unused(n, 1);
        break;
      }
      case 'Softmax':
        ops.push({ t: 'softmax', node: nodeLabel(n) });
        break;
      default:
        throw new UnsupportedError(
          `${nodeLabel(n)}: operator ${op} is not supported in a VGG graph (supported: Conv, Relu, MaxPool, LRN, BatchNormalization, AveragePool (1×1, identity), Flatten, Reshape, Squeeze, Gemm, MatMul, Add (bias), Dropout, Identity, Softmax)`,
        );
    }
    const out = n.output?.[0];
    if (!out) throw new FormatError(`${file}: ${nodeLabel(n)} has no output`);
    cur = out;
  }
  for (const n of nodes)
    if (!visited.has(n) && !aliases.has(n) && !SHAPE_OPS.has(n.opType ?? ''))
      throw new UnsupportedError(`${nodeLabel(n)}: not on the graph's layer chain; side branches are not supported`);
  return { ops, inputDims, batchNorm };
}

/** Checks the op sequence against the VGG pattern and reads the config off it. */
function configFromOps(ops: Op[], inputDims: (number | null)[], file: string): { config: VggConfig; lrn: boolean } {
  const lastPool = ops.map((o) => o.t).lastIndexOf('pool');
  if (lastPool < 0) throw new UnsupportedError(`${file}: the graph has no MaxPool: not a VGG network`);
  const stages: ConvDef[][] = [[]];
  let lrn = false;
  let convs = 0;
  let inChannels = 0;
  let c = 0;
  for (const o of ops.slice(0, lastPool + 1)) {
    if (o.t === 'conv') {
      if (!((o.R === 3 && o.pad === 1) || (o.R === 1 && o.pad === 0)))
        throw new UnsupportedError(
          `${o.node}: kernel ${o.R}×${o.R} pad ${o.pad} in the features; vggnet convs are 3×3 pad 1 or 1×1 pad 0`,
        );
      if (!o.relu) throw new UnsupportedError(`${o.node}: a feature conv without Relu`);
      if (convs === 0) inChannels = o.C;
      else if (o.C !== c)
        throw new FormatError(`${file}: ${o.node}: weight has ${o.C} input channels, the previous layer gives ${c}`);
      c = o.K;
      convs++;
      stages[stages.length - 1].push({ channels: o.K, kernel: o.R as 1 | 3 });
    } else if (o.t === 'pool') {
      if (stages[stages.length - 1].length === 0)
        throw new UnsupportedError(`${o.node}: a stage without convs (MaxPool must follow a conv)`);
      stages.push([]);
    } else if (o.t === 'lrn') {
      if (convs !== 1 || stages.length !== 1 || stages[0].length !== 1 || lrn)
        throw new UnsupportedError(`${o.node}: LRN is supported only right after the first conv (config A-LRN)`);
      const p = LRN_PARAMS;
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.abs(b);
      if (o.size !== p.size || !close(o.alpha, p.alpha) || !close(o.beta, p.beta) || !close(o.k, p.k))
        throw new UnsupportedError(
          `${o.node}: size ${o.size}, alpha ${g(o.alpha * o.size)} (ours ${g(o.alpha)}), beta ${g(o.beta)}, bias ${g(o.k)}; vggnet's LRN is A-LRN's: size ${p.size}, ONNX alpha ${g(p.alpha * p.size)} (α ${p.alpha}), beta ${p.beta}, bias ${p.k}`,
        );
      lrn = true;
    } else throw new UnsupportedError(`${o.node}: not supported inside the conv features`);
  }
  stages.pop(); // the empty stage opened by the last pool

  const head = ops.slice(lastPool + 1);
  const layers = head.filter((o): o is Extract<Op, { t: 'conv' | 'fc' }> => o.t === 'conv' || o.t === 'fc');
  if (!layers.length) throw new UnsupportedError(`${file}: no FC layers after the last MaxPool`);
  let flat = false;
  let pool5 = 0;
  const widths: number[] = [];
  let seenLast = false;
  for (const o of head) {
    if (o.t === 'flatten') {
      flat = true;
      continue;
    }
    if (o.t === 'softmax') {
      if (!seenLast) throw new UnsupportedError(`${o.node}: Softmax before the last FC layer`);
      continue;
    }
    if (o.t === 'pool' || o.t === 'lrn') throw new UnsupportedError(`${o.node}: not supported in the FC head`);
    if (seenLast) throw new UnsupportedError(`${o.node}: a layer after the classifier`);
    const first = widths.length === 0;
    if (o.t === 'fc') {
      if (first) {
        if (!flat) throw new UnsupportedError(`${o.node}: the first FC layer needs a Flatten/Reshape before it`);
        const p = Math.round(Math.sqrt(o.C / c));
        if (p * p * c !== o.C)
          throw new FormatError(`${file}: ${o.node}: FC6 has ${o.C} inputs, not C·p·p for the last conv's C = ${c}`);
        pool5 = p;
      } else if (o.C !== widths[widths.length - 1])
        throw new FormatError(
          `${file}: ${o.node}: ${o.C} inputs, the previous FC layer gives ${widths[widths.length - 1]}`,
        );
    } else {
      if (flat) throw new UnsupportedError(`${o.node}: a Conv after Flatten`);
      if (o.pad !== 0) throw new UnsupportedError(`${o.node}: FC-as-conv with pad ${o.pad}; expected 0`);
      if (first) {
        if (o.C !== c) throw new FormatError(`${file}: ${o.node}: ${o.C} input channels, the last conv gives ${c}`);
        pool5 = o.R;
      } else if (o.R !== 1 || o.C !== widths[widths.length - 1])
        throw new UnsupportedError(
          `${o.node}: kernel ${o.R}×${o.R} with ${o.C} inputs after FC6; expected a 1×1 conv over ${widths[widths.length - 1]} channels`,
        );
    }
    widths.push(o.K);
    if (o === layers[layers.length - 1]) {
      if (o.relu) throw new UnsupportedError(`${o.node}: Relu after the last FC layer (the classifier outputs logits)`);
      seenLast = true;
    } else if (!o.relu) throw new UnsupportedError(`${o.node}: hidden FC layer without Relu`);
  }
  const base = configFromDetected({
    scheme: 'vggnet',
    inChannels,
    stages,
    fc: widths.slice(0, -1),
    numClasses: widths[widths.length - 1],
    pool5,
    batchNorm: false,
  });
  const [, ch, h, w] = inputDims;
  if (ch != null && ch !== inChannels)
    throw new FormatError(`${file}: graph input has ${ch} channels, the first conv expects ${inChannels}`);
  if (flat && h != null && w != null && (h !== base.inputSize || w !== base.inputSize))
    throw new FormatError(
      `${file}: graph input is ${h}×${w}, but FC6 needs pool5 ${pool5}×${pool5}, i.e. a ${base.inputSize}×${base.inputSize} input`,
    );
  let config = base;
  if (lrn) {
    const isA = base.name === 'vgg11' && sameWeightsLayout(base, ARCHS.vgg11);
    config = isA
      ? { ...ARCHS.vgg11_lrn, stages: ARCHS.vgg11_lrn.stages.map((s) => [...s]), fc: [...ARCHS.vgg11_lrn.fc] }
      : { ...base, lrn: true };
  }
  return { config, lrn };
}
