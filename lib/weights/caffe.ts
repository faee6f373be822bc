/**
 * Caffe .caffemodel weights: the authors' release (VGG_ILSVRC_16_layers.caffemodel,
 * VGG_ILSVRC_19_layers.caffemodel) and VGG-style nets saved by any Caffe.
 *
 * What the file holds: one protobuf NetParameter (caffe.proto) with the whole network, weights included, so no
 * deploy prototxt is needed: either V1 `layers` (field 2; enum types CONVOLUTION = 4, INNER_PRODUCT = 14,
 * POOLING = 17, RELU = 18, DROPOUT = 6, SOFTMAX = 20, …; the authors' files) or V2 `layer` (field 100; string
 * types "Convolution", "InnerProduct", …), each with its parameters (kernel, pad, stride, pool method) and its
 * blobs. A blob's shape is num × channels × height × width (V1) or BlobShape dims (V2); its values are float
 * `data` (packed or not) or `double_data` (used when present, as Caffe does). Layouts: conv weight
 * [K, C, R, S] OIHW as ours; InnerProduct weight [out, in] (V1: 1 × 1 × out × in; [in, out] with
 * `transpose`), FC6's input in C,H,W order as Caffe flattens pool5, so FC6 is OIHW (out, C, 7, 7) as it is.
 *
 * The network must be a VGG chain: Convolution (3×3 pad 1 or 1×1 pad 0, stride 1, no groups or dilation)
 * + ReLU, stages closed by 2×2/2 MAX pooling, InnerProduct + ReLU (+ Dropout) layers, a last InnerProduct
 * (logits; a Softmax may follow). Data, Input, Split, Flatten, Softmax, loss and accuracy layers are passed
 * over. Caffe pools with ceil rounding: for the even sizes VGG's pools see at 224 this is the same as ours.
 *
 * The authors' models take BGR input, 0–255, mean subtracted: the reader's `preprocess` is PRESETS.caffe.
 *
 * Memory: the file is walked in place (proto-walk.ts); a layer's values are read straight into its
 * Float32Array when read(i) asks for it, so the peak is the largest layer (FC6: 411 MB) plus the structure.
 */
import { FormatError, UnsupportedError } from '../errors';
import type { LayerWeights } from '../model';
import { PRESETS } from '../preprocess';
import { ConvDef, weightShapes } from '../topology';
import { BlobProto, FIELD, LayerParameter, v1TypeName, V1LayerParameter } from './caffe-proto';
import { configFromDetected, pool5FromFanIn } from './detect';
import { transposeMatrix } from './keras';
import { ProtoFile, WIRE } from './proto-walk';
import { LoadWeightsOptions, reconcile, resolveGivenArch, WeightsReader } from './types';

/** Largest non-blob part of a layer (name, parameters, learning rates): anything bigger is not a caffemodel. */
const MAX_LAYER_SKELETON_BYTES = 16 << 20;

/** Where a blob's values are: runs in file order, packed (stride 0) or one tag per value (stride 1 + width). */
interface ValueRun {
  start: number;
  end: number;
  width: 4 | 8;
  stride: number;
}

interface Blob {
  shape: number[];
  runs: ValueRun[];
  count: number;
}

interface CaffeLayer {
  name: string;
  type: string;
  bottom: string[];
  top: string[];
  // protobufjs toObject() of the layer's parameters (numbers, enums as numbers)
  convolution_param?: Record<string, unknown>;
  inner_product_param?: Record<string, unknown>;
  pooling_param?: Record<string, unknown>;
  relu_param?: Record<string, unknown>;
  blobs: Blob[];
}

/** One weighted layer of the network, in program order. */
interface Planned {
  name: string;
  weight: Blob;
  bias?: Blob;
  /** InnerProduct with transpose: weight stored [in, out]. */
  transpose?: boolean;
}

/** Opens a .caffemodel and checks it as a VGG network. Errors as loadWeights (index.ts). */
export async function openCaffeWeights(file: string, options: LoadWeightsOptions): Promise<WeightsReader> {
  const given = resolveGivenArch(options.arch);
  const pf = ProtoFile.open(file);
  try {
    const layers = readLayers(pf);
    const { planned, detected } = plan(file, layers);
    const config = reconcile(file, given, configFromDetected(detected), false);
    const shapes = weightShapes(config);
    return {
      config,
      format: 'caffe',
      source: 'caffe',
      preprocess: PRESETS.caffe,
      preprocessByConvention: true,
      batchNormFolded: false,
      read: async (i) => readLayer(pf, planned[i], shapes[i].weight),
      close: async () => pf.close(),
    };
  } catch (e) {
    pf.close();
    throw e;
  }
}

/** The NetParameter's layers (V1 or V2), their blobs located but not read. */
function readLayers(pf: ProtoFile): CaffeLayer[] {
  const layers: CaffeLayer[] = [];
  const seen = new Set<number>();
  for (const f of pf.fields(0, pf.size, 'NetParameter')) {
    if (f.wire !== WIRE.LEN || (f.field !== FIELD.NET_LAYER && f.field !== FIELD.NET_LAYERS_V1)) continue;
    seen.add(f.field);
    layers.push(readLayer1(pf, f.start, f.end, f.field === FIELD.NET_LAYERS_V1, layers.length));
  }
  if (seen.size > 1)
    throw new FormatError(`${pf.file}: both V1 'layers' and V2 'layer' messages (Caffe refuses such a net as well)`);
  if (!layers.length)
    throw new FormatError(
      `${pf.file}: a protobuf without Caffe layers (NetParameter fields 'layer' or 'layers'): not a .caffemodel`,
    );
  return layers;
}

function readLayer1(pf: ProtoFile, start: number, end: number, v1: boolean, index: number): CaffeLayer {
  const what = `layer #${index}`;
  const skeleton: Uint8Array[] = [];
  const blobs: [number, number][] = [];
  let size = 0;
  for (const f of pf.fields(start, end, what)) {
    if (f.wire === WIRE.LEN && f.field === (v1 ? FIELD.V1_BLOBS : FIELD.LAYER_BLOBS)) blobs.push([f.start, f.end]);
    else if (v1 && f.field === FIELD.V1_V0_LAYER)
      throw new UnsupportedError(
        `${pf.file}: ${what} is in Caffe's V0 format (before 2014); upgrade it with Caffe's upgrade_net_proto_binary`,
      );
    else {
      size += f.end - f.tagStart;
      if (size > MAX_LAYER_SKELETON_BYTES)
        throw new FormatError(`${pf.file}: ${what}: more than ${MAX_LAYER_SKELETON_BYTES} bytes besides its blobs`);
      skeleton.push(pf.bytes(f.tagStart, f.end));
    }
  }
  const Type = v1 ? V1LayerParameter : LayerParameter;
  const msg = decode(pf.file, what, () =>
    Type.toObject(Type.decode(joined(skeleton)), { enums: Number, arrays: true }),
  );
  const name = typeof msg.name === 'string' && msg.name ? msg.name : `#${index}`;
  const layer: CaffeLayer = {
    ...msg,
    name,
    type: v1 ? v1TypeName(msg.type as number | undefined) : String(msg.type ?? ''),
    bottom: msg.bottom as string[],
    top: msg.top as string[],
    blobs: [],
  };
  layer.blobs = blobs.map(([s, e], i) => readBlob(pf, s, e, `layer '${name}' blob ${i}`));
  return layer;
}

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** protobufjs decoding of a small message, its errors (including a stack overflow) as FormatError. */
function decode(file: string, what: string, fn: () => Record<string, unknown>): Record<string, unknown> {
  try {
    return fn();
  } catch (e) {
    throw new FormatError(`${file}: ${what}: not a valid message (${(e as Error).message})`);
  }
}

/** A BlobProto: its shape decoded, its values located. */
function readBlob(pf: ProtoFile, start: number, end: number, what: string): Blob {
  const skeleton: Uint8Array[] = [];
  const floats: ValueRun[] = [];
  const doubles: ValueRun[] = [];
  for (const f of pf.fields(start, end, what)) {
    if (f.field === FIELD.BLOB_DATA || f.field === FIELD.BLOB_DOUBLE_DATA) {
      const width = f.field === FIELD.BLOB_DATA ? 4 : 8;
      const runs = width === 4 ? floats : doubles;
      if (f.wire === WIRE.LEN) {
        if ((f.end - f.start) % width)
          throw new FormatError(
            `${pf.file}: ${what}: ${f.end - f.start} bytes of packed values, not a multiple of ${width}`,
          );
        runs.push({ start: f.start, end: f.end, width, stride: 0 });
      } else if (f.wire === (width === 4 ? WIRE.I32 : WIRE.I64)) {
        // One tag per value: take the whole run of them at once (the walk would go value by value), when
        // the tag is the usual one byte; a longer (non-minimal) tag is taken as a run of one.
        const oneByteTag = f.start - f.tagStart === 1;
        const runEnd = oneByteTag ? pf.runEnd(f.tagStart, end, f.field * 8 + f.wire, width, what) : f.end;
        runs.push({ start: f.tagStart, end: runEnd, width, stride: oneByteTag ? 1 + width : f.end - f.tagStart });
        f.end = runEnd;
      } else throw new FormatError(`${pf.file}: ${what}: field ${f.field} with wire type ${f.wire}`);
    } else if (f.field !== FIELD.BLOB_DIFF && f.field !== FIELD.BLOB_DOUBLE_DIFF)
      skeleton.push(pf.bytes(f.tagStart, f.end));
  }
  const b = decode(pf.file, what, () => BlobProto.toObject(BlobProto.decode(joined(skeleton)), { longs: Number }));
  const legacy = ['num', 'channels', 'height', 'width'].some((k) => b[k] !== undefined);
  const dims = legacy
    ? [b.num, b.channels, b.height, b.width].map((d) => (d === undefined ? 0 : Number(d)))
    : (((b.shape as { dim?: unknown[] } | undefined)?.dim ?? []) as number[]).map(Number);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw new FormatError(`${pf.file}: ${what}: shape [${dims.join(',')}] has a negative or absurd dimension`);
  const runs = doubles.length ? doubles : floats; // Caffe's Blob::FromProto: double_data when there is any
  const count = runs.reduce((n, r) => n + (r.stride ? (r.end - r.start) / r.stride : (r.end - r.start) / r.width), 0);
  const declared = dims.reduce((a, d) => a * d, 1);
  if (declared !== count)
    throw new FormatError(
      `${pf.file}: ${what}: shape [${dims.join(',')}] declares ${declared} values, the blob holds ${count}`,
    );
  return { shape: dims, runs, count };
}

const num = (v: unknown, dflt: number): number => (v === undefined || v === null ? dflt : Number(v));
/** A spatial parameter as [h, w]: `<hw>_h`/`<hw>_w` when given, else `key` (a scalar, or repeated: one value
 *  for both or h then w), else dflt (caffe.proto's ConvolutionParameter and PoolingParameter). */
function spatial(p: Record<string, unknown>, key: string, hw: string, dflt: number): [number, number] {
  const h = p[`${hw}_h`],
    w = p[`${hw}_w`];
  if (h !== undefined || w !== undefined) return [num(h, dflt), num(w, dflt)];
  const v = p[key];
  if (Array.isArray(v)) return v.length === 0 ? [dflt, dflt] : [Number(v[0]), Number(v[v.length > 1 ? 1 : 0])];
  return [num(v, dflt), num(v, dflt)];
}

/** Types without weights that do not change the chain's values (or sit outside it). */
const PASSED_OVER = new Set([
  'Input',
  'Data',
  'ImageData',
  'MemoryData',
  'DummyData',
  'HDF5Data',
  'WindowData',
  'Softmax',
  'SoftmaxWithLoss',
  'Accuracy',
  'Silence',
]);
/** Types that pass their input on unchanged at test time. */
const TRANSPARENT = new Set(['Dropout', 'Split', 'Flatten']);

/** Reads the layer list as a VGG chain: conv stages closed by max pools, then InnerProduct layers. */
function plan(file: string, layers: CaffeLayer[]) {
  const unsupported = (l: CaffeLayer, why: string) =>
    new UnsupportedError(`${file}: layer '${l.name}' (${l.type}): ${why}; not a VGG network`);
  const bad = (l: CaffeLayer, why: string) => new FormatError(`${file}: layer '${l.name}' (${l.type}): ${why}`);
  const planned: Planned[] = [];
  const relu: boolean[] = [];
  const stages: ConvDef[][] = [];
  let stage: ConvDef[] = [];
  const fc: number[] = [];
  let channels = 0,
    inChannels = 0,
    pool5 = 0;
  let current: string | undefined; // the blob the chain has reached
  const chain = (l: CaffeLayer) => {
    if (current !== undefined && l.bottom[0] !== current)
      throw unsupported(l, `reads '${l.bottom[0] ?? '(nothing)'}' where the chain is at '${current}' (a branch)`);
    current = l.top[0] ?? current;
  };
  const blobs = (l: CaffeLayer, biasTerm: boolean) => {
    if (l.blobs.length !== (biasTerm ? 2 : 1))
      throw bad(l, `expected ${biasTerm ? 2 : 1} blobs (weight${biasTerm ? ', bias' : ''}), found ${l.blobs.length}`);
    return { weight: l.blobs[0], bias: biasTerm ? l.blobs[1] : undefined };
  };
  for (const l of layers) {
    if (PASSED_OVER.has(l.type)) continue;
    if (TRANSPARENT.has(l.type)) {
      chain(l);
      continue;
    }
    if (l.type === 'ReLU') {
      const slope = num(l.relu_param?.negative_slope, 0);
      if (slope !== 0) throw unsupported(l, `negative_slope ${+slope.toPrecision(6)} (a leaky ReLU)`);
      chain(l);
      if (planned.length) relu[planned.length - 1] = true;
      continue;
    }
    if (l.type === 'Pooling') {
      const p = l.pooling_param ?? {};
      const [kh, kw] = spatial(p, 'kernel_size', 'kernel', -1);
      const [sh, sw] = spatial(p, 'stride', 'stride', 1);
      const [ph, pw] = spatial(p, 'pad', 'pad', 0);
      if (num(p.pool, 0) !== 0 || p.global_pooling || kh !== 2 || kw !== 2 || sh !== 2 || sw !== 2 || ph || pw)
        throw unsupported(
          l,
          `pool ${num(p.pool, 0) === 0 ? 'MAX' : 'AVE/STOCHASTIC'} ${kh}×${kw} stride ${sh}×${sw} pad ${ph}×${pw}${p.global_pooling ? ' global' : ''}: VGG's pools are MAX 2×2 stride 2`,
        );
      if (fc.length) throw unsupported(l, 'a pool after the InnerProduct layers');
      if (!stage.length) throw unsupported(l, 'a pool with no conv before it');
      chain(l);
      stages.push(stage);
      stage = [];
      continue;
    }
    if (l.type === 'Convolution') {
      const p = l.convolution_param ?? {};
      const [kh, kw] = spatial(p, 'kernel_size', 'kernel', 0);
      const [sh, sw] = spatial(p, 'stride', 'stride', 1);
      const [ph, pw] = spatial(p, 'pad', 'pad', 0);
      const [dh, dw] = spatial(p, 'dilation', 'dilation', 1);
      const pad = kh === 3 ? 1 : 0;
      if (
        kh !== kw ||
        (kh !== 3 && kh !== 1) ||
        sh !== 1 ||
        sw !== 1 ||
        ph !== pad ||
        pw !== pad ||
        dh !== 1 ||
        dw !== 1
      )
        throw unsupported(
          l,
          `kernel ${kh}×${kw}, stride ${sh}×${sw}, pad ${ph}×${pw}, dilation ${dh}×${dw}: VGG's convs are 3×3 pad 1 or 1×1 pad 0, stride 1`,
        );
      if (num(p.group, 1) !== 1 || num(p.axis, 1) !== 1)
        throw unsupported(l, `group ${num(p.group, 1)}, axis ${num(p.axis, 1)}`);
      if (fc.length) throw unsupported(l, 'a conv after the InnerProduct layers');
      const { weight, bias } = blobs(l, p.bias_term !== false);
      const s = weight.shape;
      const K = num(p.num_output, s[0]);
      if (s.length !== 4 || s[0] !== K || s[2] !== kh || s[3] !== kw)
        throw bad(l, `weight blob [${s.join(',')}]: expected [${K}, C, ${kh}, ${kw}]`);
      if (planned.length ? s[1] !== channels : false)
        throw bad(l, `weight blob [${s.join(',')}] takes ${s[1]} channels, the layer before gives ${channels}`);
      if (bias && bias.count !== K) throw bad(l, `bias blob [${bias.shape.join(',')}]: expected ${K} values`);
      if (!planned.length) inChannels = s[1];
      chain(l);
      stage.push({ channels: K, kernel: kh as 1 | 3 });
      planned.push({ name: l.name, weight, bias });
      relu.push(false);
      channels = K;
      continue;
    }
    if (l.type === 'InnerProduct') {
      const p = l.inner_product_param ?? {};
      if (num(p.axis, 1) !== 1) throw unsupported(l, `axis ${num(p.axis, 1)}`);
      if (!planned.length) throw unsupported(l, 'an InnerProduct before any conv');
      if (stage.length)
        throw unsupported(l, 'InnerProduct after a conv with no pool between: the last stage must end in a max pool');
      const { weight, bias } = blobs(l, p.bias_term !== false);
      const s = weight.shape;
      const matrix = s.length === 2 || (s.length === 4 && s[0] === 1 && s[1] === 1);
      const [rows, cols] = s.slice(-2);
      const [N, fanIn] = p.transpose ? [cols, rows] : [rows, cols];
      if (!matrix || N !== num(p.num_output, N))
        throw bad(
          l,
          `weight blob [${s.join(',')}]: expected [${num(p.num_output, N)}, in]${p.transpose ? ' transposed' : ''} (or 1×1×out×in)`,
        );
      if (!fc.length) pool5 = pool5FromFanIn(fanIn, channels, `${l.name} weight`, s);
      else if (fanIn !== fc[fc.length - 1])
        throw bad(l, `weight blob [${s.join(',')}] takes ${fanIn} inputs, the layer before gives ${fc[fc.length - 1]}`);
      if (bias && bias.count !== N) throw bad(l, `bias blob [${bias.shape.join(',')}]: expected ${N} values`);
      chain(l);
      fc.push(N);
      planned.push({ name: l.name, weight, bias, transpose: !!p.transpose });
      relu.push(false);
      continue;
    }
    throw unsupported(l, l.blobs.length ? `a layer with ${l.blobs.length} blobs` : 'not a VGG layer');
  }
  if (!fc.length)
    throw new UnsupportedError(
      `${file}: no InnerProduct layers after the convs: vggnet's models are classifiers (FC6–FC8 are part of the network)`,
    );
  const hidden = planned.length - 1;
  planned.forEach((p, i) => {
    if (relu[i] !== i < hidden)
      throw new UnsupportedError(
        `${file}: layer '${p.name}' is ${relu[i] ? '' : 'not '}followed by a ReLU; VGG has one after every conv and hidden FC layer and none after the last`,
      );
  });
  const numClasses = fc.pop()!;
  return { planned, detected: { inChannels, stages, fc, numClasses, pool5, batchNorm: false } };
}

/** The values of a blob as f32, read straight into the array (packed f32) or converted run by run. */
function readValues(pf: ProtoFile, blob: Blob): Float32Array {
  const out = new Float32Array(blob.count);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  let at = 0;
  for (const r of blob.runs) {
    if (!r.stride && r.width === 4 && little) {
      pf.readInto(new Uint8Array(out.buffer, at * 4, ((r.end - r.start) / 4) * 4), r.start);
      at += (r.end - r.start) / 4;
      continue;
    }
    const stride = r.stride || r.width;
    const per = Math.max(1, Math.floor((4 << 20) / stride)); // values per 4 MB chunk
    for (let pos = r.start; pos < r.end; pos += per * stride) {
      const chunk = pf.bytes(pos, Math.min(r.end, pos + per * stride));
      const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
      const skip = r.stride ? r.stride - r.width : 0; // past each value's tag
      for (let o = 0; o < chunk.length; o += stride)
        out[at++] = r.width === 4 ? dv.getFloat32(o + skip, true) : dv.getFloat64(o + skip, true);
    }
  }
  return out;
}

function readLayer(pf: ProtoFile, p: Planned, shape: number[]): LayerWeights {
  const [K, C, R, S] = shape;
  const values = readValues(pf, p.weight);
  const weight = p.transpose ? transposeMatrix(values, C * R * S, K) : values;
  return { weight, bias: p.bias ? readValues(pf, p.bias) : new Float32Array(K) };
}
