/**
 * ONNX import: small VGG graphs built here with onnx-proto in the shapes exporters produce (torchvision:
 * Flatten + Gemm transB=1; ONNX zoo / Caffe2: Reshape + Gemm + Dropout + Softmax; older PyTorch:
 * Shape→Gather→Unsqueeze→Concat→Reshape; Keras/TF converters: MatMul + Add; FC-as-conv heads; BatchNormalization;
 * LRN), loaded with loadWeights and run on our model; onnxruntime-node runs the same file. Error measure over the
 * whole output: max|ours − ort| / max|ort| ≤ 1e-4. Then the unsupported and malformed cases, each named.
 *
 * The graph builder is local (not test/support/onnx-graph.ts) because it needs the variants above.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import {
  ARCHS,
  FormatError,
  ForwardMode,
  LayerWeights,
  LoadedWeights,
  loadWeights,
  LRN_PARAMS,
  Model,
  Tensor,
  UnsupportedError,
  VggConfig,
  weightShapes,
} from '../lib';
import { configFromDetected } from '../lib/weights/detect';
import { fillUniform, uniform } from '../lib/random';
import { small } from './support/configs';

// Jest gives each test file its own realm: onnxruntime-common's `instanceof Float32Array` then rejects the
// arrays ORT's addon returns (microsoft/onnxruntime#16622). Accept a Float32Array of any realm.
if (!Object.prototype.hasOwnProperty.call(Float32Array, Symbol.hasInstance)) {
  Object.defineProperty(Float32Array, Symbol.hasInstance, {
    value: (v: unknown) => ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === '[object Float32Array]',
  });
}

const TOL = 1e-4;
let dir: string;
let seq = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-onnx-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, `${++seq}-${name}`);

// ---------------------------------------------------------------------------------------------------------
// A VGG → ONNX builder with the variants exporters produce.

const A = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: A.INT, i: v });
const float = (name: string, v: number): onnx.IAttributeProto => ({ name, type: A.FLOAT, f: v });
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

interface BnParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  var: Float32Array;
}

interface BuildOptions {
  /** gemm1: Gemm transB=1 (torchvision); gemm0: Gemm transB=0 with B [in,out]; matmul: MatMul + Add; conv: FC-as-conv. */
  head?: 'gemm1' | 'gemm0' | 'matmul' | 'conv';
  /** Before FC6: Flatten(axis 1), Reshape to a constant [0,-1] / [-1, n], or a Shape→…→Concat chain. */
  flatten?: 'flatten' | 'reshape' | 'reshape-n' | 'shape-chain';
  /** raw_data or float_data. */
  data?: 'raw' | 'float';
  /** Weights as Constant nodes instead of initializers. */
  constants?: boolean;
  dropout?: boolean;
  softmax?: boolean;
  bn?: BnParams[];
  opset?: number;
  /** List initializers among graph inputs too (IR < 4 style). */
  initInInputs?: boolean;
  /** Gemm alpha/beta other than 1 (weights pre-divided so the function stays the same). */
  gemmScale?: number;
}

interface Built {
  nodes: onnx.INodeProto[];
  inits: onnx.ITensorProto[];
  model: () => onnx.ModelProto;
}

function build(config: VggConfig, w: LayerWeights[], o: BuildOptions = {}): Built {
  const head = o.head ?? 'gemm1';
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const tensor = (name: string, dims: number[], data: Float32Array): onnx.ITensorProto =>
    o.data === 'float'
      ? { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(data) }
      : {
          name,
          dims,
          dataType: onnx.TensorProto.DataType.FLOAT,
          rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
        };
  const addConst = (name: string, dims: number[], data: Float32Array) => {
    const t = tensor(name, dims, data);
    if (o.constants)
      nodes.push({
        name: `const_${name}`,
        opType: 'Constant',
        output: [name],
        attribute: [{ name: 'value', type: A.TENSOR, t }],
      });
    else inits.push(t);
  };
  const i64 = (name: string, v: number[]) =>
    inits.push({ name, dims: [v.length], dataType: onnx.TensorProto.DataType.INT64, int64Data: v });
  const shapes = weightShapes(config);
  const nConv = shapes.length - config.fc.length - 1;
  let cur = 'data';
  let l = 0;
  let n = 0;
  const next = (prefix: string) => `${prefix}_${n++}`;
  const push = (
    opType: string,
    inputs: string[],
    attribute: onnx.IAttributeProto[] = [],
    name = next(opType.toLowerCase()),
  ) => {
    const out = name;
    nodes.push({ name, opType, input: inputs, output: [out], attribute });
    cur = out;
  };
  config.stages.forEach((stage, si) => {
    stage.forEach(() => {
      const [K, C, R] = shapes[l].weight;
      const p = R === 3 ? 1 : 0;
      addConst(`conv${l}_w`, [K, C, R, R], w[l].weight);
      addConst(`conv${l}_b`, [K], w[l].bias);
      push(
        'Conv',
        [cur, `conv${l}_w`, `conv${l}_b`],
        [ints('kernel_shape', [R, R]), ints('pads', [p, p, p, p]), ints('strides', [1, 1])],
      );
      if (o.bn) {
        const b = o.bn[l];
        addConst(`bn${l}_g`, [K], b.gamma);
        addConst(`bn${l}_b`, [K], b.beta);
        addConst(`bn${l}_m`, [K], b.mean);
        addConst(`bn${l}_v`, [K], b.var);
        push('BatchNormalization', [cur, `bn${l}_g`, `bn${l}_b`, `bn${l}_m`, `bn${l}_v`], [float('epsilon', 1e-5)]);
      }
      push('Relu', [cur]);
      if (config.lrn && l === 0)
        push(
          'LRN',
          [cur],
          [
            int('size', LRN_PARAMS.size),
            float('alpha', LRN_PARAMS.alpha * LRN_PARAMS.size),
            float('beta', LRN_PARAMS.beta),
            float('bias', LRN_PARAMS.k),
          ],
        );
      l++;
    });
    push('MaxPool', [cur], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])], `pool${si + 1}`);
  });
  if (head !== 'conv') {
    const fanIn = prod(shapes[nConv].weight.slice(1));
    const f = o.flatten ?? 'flatten';
    if (f === 'flatten') push('Flatten', [cur], [int('axis', 1)]);
    else if (f === 'reshape' || f === 'reshape-n') {
      i64('flat_shape', f === 'reshape' ? [0, -1] : [-1, fanIn]);
      push('Reshape', [cur, 'flat_shape']);
    } else {
      const pool5 = cur;
      i64('zero', [0]);
      i64('minus1', [-1]);
      nodes.push({ name: 'shape', opType: 'Shape', input: [pool5], output: ['s'] });
      nodes.push({
        name: 'gather',
        opType: 'Gather',
        input: ['s', 'zero'],
        output: ['n'],
        attribute: [int('axis', 0)],
      });
      nodes.push({
        name: 'concat',
        opType: 'Concat',
        input: ['n', 'minus1'],
        output: ['target'],
        attribute: [int('axis', 0)],
      });
      push('Reshape', [pool5, 'target']);
    }
  }
  for (; l < shapes.length; l++) {
    const [K, C, R, S] = shapes[l].weight;
    const last = l === shapes.length - 1;
    if (head === 'conv') {
      addConst(`fc${l}_w`, [K, C, R, S], w[l].weight);
      addConst(`fc${l}_b`, [K], w[l].bias);
      push('Conv', [cur, `fc${l}_w`, `fc${l}_b`], [ints('kernel_shape', [R, S])]);
    } else if (head === 'gemm1' || head === 'gemm0') {
      const s = o.gemmScale ?? 1;
      const wt = w[l].weight.map((x) => x / s);
      const bt = w[l].bias.map((x) => x / s);
      const fanIn = C * R * S;
      if (head === 'gemm1') addConst(`fc${l}_w`, [K, fanIn], wt);
      else addConst(`fc${l}_w`, [fanIn, K], transpose(wt, K, fanIn));
      addConst(`fc${l}_b`, [K], bt);
      const attrs = [int('transB', head === 'gemm1' ? 1 : 0)];
      if (s !== 1) attrs.push(float('alpha', s), float('beta', s));
      push('Gemm', [cur, `fc${l}_w`, `fc${l}_b`], attrs);
    } else {
      const fanIn = C * R * S;
      addConst(`fc${l}_w`, [fanIn, K], transpose(w[l].weight, K, fanIn));
      addConst(`fc${l}_b`, [K], w[l].bias);
      push('MatMul', [cur, `fc${l}_w`]);
      push('Add', [`fc${l}_b`, cur]); // bias first: the loader must find the chain in either slot
    }
    if (!last) {
      push('Relu', [cur]);
      if (o.dropout) {
        const name = next('dropout');
        nodes.push({ name, opType: 'Dropout', input: [cur], output: [name, `${name}_mask`] });
        cur = name;
      }
    }
  }
  if (o.softmax) push('Softmax', [cur], [int('axis', 1)]);
  const outName = cur;
  const K = config.numClasses;
  const inDims =
    head === 'conv' ? ['N', config.inChannels, 'H', 'W'] : ['N', config.inChannels, config.inputSize, config.inputSize];
  const outDims = head === 'conv' ? ['N', K, 'h', 'w'] : ['N', K];
  const vi = (
    name: string,
    dims: (number | string)[],
    elemType: number = onnx.TensorProto.DataType.FLOAT,
  ): onnx.IValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  return {
    nodes,
    inits,
    model: () =>
      onnx.ModelProto.create({
        irVersion: o.initInInputs ? 3 : 7,
        producerName: 'vggnet test/weights-onnx.test.ts',
        opsetImport: [{ domain: '', version: o.opset ?? 13 }],
        graph: {
          name: config.name,
          node: nodes,
          initializer: inits,
          input: [
            vi('data', inDims),
            ...(o.initInInputs ? inits.map((t) => vi(t.name!, (t.dims as number[]) ?? [], t.dataType!)) : []),
          ],
          output: [vi(outName, outDims)],
        },
      }),
  };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

function writeModel(name: string, model: onnx.ModelProto): string {
  const file = tmp(name);
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Seeded weights ~U(−a, a) with He variance (a = sqrt(6 / fan_in)). Big tensors tile a 65 537-long random block
 * (prime: no alignment with rows or channels) with copyWithin: per-element generators are slow under jest.
 */
function seededWeights(config: VggConfig, seed: number): LayerWeights[] {
  const BLOCK = 65537;
  const fill = (n: number, a: number, s: number) => {
    const arr = new Float32Array(n);
    arr.set(fillUniform(new Float32Array(Math.min(n, BLOCK)), -a, a, s));
    for (let len = BLOCK; len < n; len *= 2) arr.copyWithin(len, 0, Math.min(len, n - len));
    return arr;
  };
  return weightShapes(config).map((s, i) => {
    const [K, C, R, S] = s.weight;
    return {
      weight: fill(K * C * R * S, Math.sqrt(6 / (C * R * S)), seed * 100 + 2 * i),
      bias: fill(K, 0.05, seed * 100 + 2 * i + 1),
    };
  });
}

function input(dims: number[], seed: number, scale = 1): Tensor {
  return new Tensor(dims, fillUniform(new Float32Array(prod(dims)), -scale, scale, seed));
}

function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return NaN;
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (Number.isNaN(e)) return NaN;
    d = Math.max(d, e);
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

function softmaxRows(y: Float32Array, k: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let r = 0; r < y.length / k; r++) {
    let m = -Infinity;
    for (let i = 0; i < k; i++) m = Math.max(m, y[r * k + i]);
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.exp(y[r * k + i] - m);
    for (let i = 0; i < k; i++) out[r * k + i] = Math.exp(y[r * k + i] - m) / s;
  }
  return out;
}

async function runOrt(file: string, x: Tensor): Promise<{ data: Float32Array; dims: number[] }> {
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 2,
  });
  try {
    const t = new ort.Tensor('float32', x.data, [...x.dims]);
    const res = await session.run({ [session.inputNames[0]]: t });
    const y = res[session.outputNames[0]];
    const out = { data: Float32Array.from(y.data as Float32Array), dims: y.dims.map(Number) };
    y.dispose();
    return out;
  } finally {
    await session.release();
  }
}

const observed: string[] = [];
afterAll(() => console.log(`weights-onnx: ours vs onnxruntime (tolerance ${TOL}):\n  ${observed.join('\n  ')}`));

/** Loads `file` with loadWeights, runs our model (cpu) and ORT on x, compares. */
async function compare(
  label: string,
  file: string,
  x: Tensor,
  opts: { mode?: ForwardMode; softmax?: boolean } = {},
): Promise<LoadedWeights> {
  const got = await loadWeights(file);
  expect(got.source).toBe('onnx');
  const model = await Model.create(got.config, got.weights, { device: 'cpu' });
  let ours: Tensor;
  try {
    ours = await model.forward(x, { mode: opts.mode ?? 'fc' });
  } finally {
    model.dispose();
  }
  const ref = await runOrt(file, x);
  expect(ref.dims).toEqual([...ours.dims]);
  const y = opts.softmax ? softmaxRows(ours.data, got.config.numClasses) : ours.data;
  const e = relErr(y, ref.data);
  observed.push(`${label}: ${e.toExponential(2)}`);
  expect(e).toBeLessThanOrEqual(TOL);
  return got;
}

const smallExpected = {
  inChannels: 3,
  inputSize: 16,
  stages: [[8], [12, { channels: 12, kernel: 1 }]],
  fc: [20, 20],
  numClasses: 5,
};

describe('ONNX graphs → our model = onnxruntime on the same file', () => {
  const w = seededWeights(small, 1);
  const x = input([2, 3, 16, 16], 5);

  test('torchvision export: Flatten + Gemm(transB=1), opset 13, raw_data', async () => {
    const got = await compare('flatten+gemm transB=1 opset 13', writeModel('tv.onnx', build(small, w).model()), x);
    expect(got.config).toMatchObject(smallExpected);
    expect(got.batchNormFolded).toBe(false);
    got.weights.forEach((l, i) => expect(Array.from(l.weight)).toEqual(Array.from(w[i].weight)));
  });

  test('ONNX zoo style: Reshape [0,-1] + Gemm + Dropout + Softmax, opset 7, float_data, initializers as inputs', async () => {
    const file = writeModel(
      'zoo.onnx',
      build(small, w, {
        flatten: 'reshape',
        dropout: true,
        softmax: true,
        opset: 7,
        data: 'float',
        initInInputs: true,
      }).model(),
    );
    await compare('reshape+gemm+dropout+softmax opset 7 float_data', file, x, { softmax: true });
  });

  test('Reshape [-1, n], Gemm transB=0 with alpha/beta, weights as Constant nodes, opset 9', async () => {
    const file = writeModel(
      'gemm0.onnx',
      build(small, w, { flatten: 'reshape-n', head: 'gemm0', constants: true, opset: 9, gemmScale: 0.5 }).model(),
    );
    await compare('reshape-n+gemm transB=0 alpha 0.5 constants opset 9', file, x);
  });

  test('older PyTorch: Shape→Gather→Concat→Reshape, MatMul + Add, opset 11', async () => {
    const file = writeModel(
      'chain.onnx',
      build(small, w, { flatten: 'shape-chain', head: 'matmul', opset: 11 }).model(),
    );
    await compare('shape chain + matmul/add opset 11', file, x);
  });

  test("FC-as-conv head (the paper's dense evaluation): dense at 24×24 = ORT score map", async () => {
    const file = writeModel('conv.onnx', build(small, w, { head: 'conv' }).model());
    const got = await compare('conv head, dense 24×24', file, input([2, 3, 24, 24], 6), { mode: 'dense' });
    expect(got.config).toMatchObject(smallExpected);
  });

  test('BatchNormalization folded (opset 9)', async () => {
    const u = uniform(31);
    const bn = weightShapes(small)
      .slice(0, 3)
      .map((s) => {
        const f = (lo: number, hi: number) => Float32Array.from({ length: s.bias[0] }, () => lo + (hi - lo) * u());
        return { gamma: f(0.5, 2), beta: f(-0.2, 0.2), mean: f(-0.1, 0.1), var: f(0.01, 0.5) };
      });
    const file = writeModel('bn.onnx', build(small, w, { bn, opset: 9 }).model());
    const got = await compare('batch norm folded opset 9', file, x);
    expect(got.batchNormFolded).toBe(true);
    expect(got.config.name).toBe('custom_bn');
  });

  test('LRN (A-LRN params; ONNX alpha = ours × size), inputs ×50 so LRN matters', async () => {
    const cfg: VggConfig = { ...small, name: 'small_lrn', lrn: true };
    const file = writeModel('lrn.onnx', build(cfg, w).model());
    const got = await compare('LRN', file, input([2, 3, 16, 16], 7, 50));
    expect(got.config.lrn).toBe(true);
  });

  test('external data: initializers in a side file beside the model (location/offset/length)', async () => {
    const b = build(small, w);
    const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
    const chunks: Uint8Array[] = [];
    let off = 0;
    for (const t of b.inits) {
      const raw = t.rawData!;
      const pad = (64 - (off % 64)) % 64; // ONNX's own writer aligns; any offset must work
      chunks.push(new Uint8Array(pad), raw);
      off += pad;
      t.externalData = [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: String(off) },
        { key: 'length', value: String(raw.length) },
      ];
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.rawData = null;
      off += raw.length;
    }
    const all = new Uint8Array(off);
    let p = 0;
    for (const c of chunks) {
      all.set(c, p);
      p += c.length;
    }
    fs.writeFileSync(path.join(sub, 'weights.bin'), all);
    const file = path.join(sub, 'model.onnx');
    fs.writeFileSync(file, onnx.ModelProto.encode(b.model()).finish());
    await compare('external data', file, x);
    // a location outside the model's folder is refused
    b.inits[0].externalData![0].value = '../weights.bin';
    fs.writeFileSync(file, onnx.ModelProto.encode(b.model()).finish());
    await expect(loadWeights(file)).rejects.toThrow(
      /external data location '\.\.\/weights\.bin' must be a relative path inside the model's folder/,
    );
    // Once (issue 11): a symlink led out of the folder, a folder gave an uncoded EISDIR, a FIFO hung.
    const outside = path.join(dir, 'outside.bin');
    fs.writeFileSync(outside, all);
    fs.symlinkSync(outside, path.join(sub, 'link.bin'));
    fs.mkdirSync(path.join(sub, 'folder.bin'));
    execFileSync('mkfifo', [path.join(sub, 'fifo.bin')]);
    for (const [loc, re] of [
      ['link.bin', /external data 'link\.bin' resolves to '.*outside\.bin', outside the model's folder/],
      ['folder.bin', /external data 'folder\.bin' is not a regular file/],
      ['fifo.bin', /external data 'fifo\.bin' is not a regular file/],
    ] as const) {
      b.inits[0].externalData![0].value = loc;
      fs.writeFileSync(file, onnx.ModelProto.encode(b.model()).finish());
      await expect(loadWeights(file)).rejects.toThrow(expect.objectContaining({ code: 'ERR_VGG_FORMAT' }));
      await expect(loadWeights(file)).rejects.toThrow(re);
    }
  }, 20000);

  // Once (issue 11): such a file loaded "OK" with inputSize 0, then failed 21 s and 1.8 GB later, uncoded.
  test('weights that describe no valid network (0×0 input, 10^9 classes) are a FormatError at load', () => {
    const d = {
      scheme: 'vggnet' as const,
      inChannels: 3,
      stages: [[{ channels: 8, kernel: 3 as const }]],
      batchNorm: false,
    };
    expect(() => configFromDetected({ ...d, fc: [], numClasses: 1e9, pool5: 0 })).toThrow(
      /^the weights describe no valid network: config\./,
    );
    expect(() => configFromDetected({ ...d, fc: [], numClasses: 1e9, pool5: 0 })).toThrow(FormatError);
    expect(configFromDetected({ ...d, fc: [], numClasses: 10, pool5: 1 }).inputSize).toBe(2);
  });

  test('negative dims are a FormatError (once an uncoded RangeError)', async () => {
    const b = build(small, w);
    b.inits[0].dims = [-8, 3, 3, 3];
    const file = writeModel('negative-dims.onnx', b.model());
    await expect(loadWeights(file)).rejects.toThrow(expect.objectContaining({ code: 'ERR_VGG_FORMAT' }));
    await expect(loadWeights(file)).rejects.toThrow(/dims \[-8,3,3,3\]; expected integers >= 0/);
  });

  test('vgg11 torchvision-style graph: detected as vgg11, = ORT at 224', async () => {
    const w11 = seededWeights(ARCHS.vgg11, 2);
    const file = writeModel('vgg11.onnx', build(ARCHS.vgg11, w11, { dropout: true }).model());
    const got = await compare('vgg11 flatten+gemm+dropout 224', file, input([1, 3, 224, 224], 8));
    fs.rmSync(file);
    expect(got.config).toEqual(ARCHS.vgg11);
  });
});

describe('unsupported and malformed graphs (each names the node or tensor)', () => {
  const w = seededWeights(small, 1);
  const U = [UnsupportedError, 'ERR_VGG_UNSUPPORTED'] as const;
  const F = [FormatError, 'ERR_VGG_FORMAT'] as const;

  async function expectError(
    file: string,
    cls: new (message: string) => Error,
    code: string,
    re: RegExp,
    arch?: string,
  ): Promise<void> {
    let err: unknown;
    try {
      await loadWeights(file, arch ? { arch } : {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(cls);
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).message).toMatch(re);
  }

  function variant(name: string, edit: (b: Built) => void, o: BuildOptions = {}): string {
    const b = build(small, w, o);
    edit(b);
    return writeModel(name, b.model());
  }
  const node = (b: Built, name: string) => b.nodes.find((n) => n.name === name)!;

  test('an AveragePool that pools (instead of MaxPool), and an op we do not know', async () => {
    const f = variant('avg.onnx', (b) => {
      node(b, 'pool1').opType = 'AveragePool';
    });
    await expectError(
      f,
      ...U,
      /AveragePool node 'pool1': kernel \[2,2\] strides \[2,2\] .*only the identity AveragePool/,
    );
    const g = variant('lp.onnx', (b) => {
      node(b, 'pool1').opType = 'LpPool';
    });
    await expectError(g, ...U, /LpPool node 'pool1': operator LpPool is not supported/);
  });

  test('conv stride 2, 5×5 conv, 3×3 max pool, LRN with other parameters', async () => {
    await expectError(
      variant('stride.onnx', (b) => {
        node(b, 'conv_0').attribute!.push(ints('strides', [2, 2]));
        node(b, 'conv_0').attribute!.splice(2, 1);
      }),
      ...U,
      /Conv node 'conv_0': .*strides \[2,2\]/,
    );
    await expectError(
      variant('pool3.onnx', (b) => {
        node(b, 'pool2').attribute![0] = ints('kernel_shape', [3, 3]);
      }),
      ...U,
      /MaxPool node 'pool2': kernel \[3,3\]/,
    );
    const five = variant('conv5.onnx', (b) => {
      const t = b.inits.find((i) => i.name === 'conv0_w')!;
      t.dims = [8, 3, 5, 5];
      t.rawData = new Uint8Array(8 * 3 * 25 * 4);
      node(b, 'conv_0').attribute = [ints('kernel_shape', [5, 5]), ints('pads', [2, 2, 2, 2])];
    });
    await expectError(
      five,
      ...U,
      /Conv node 'conv_0': kernel 5×5 pad 2 in the features; vggnet convs are 3×3 pad 1 or 1×1 pad 0/,
    );
    const cfg: VggConfig = { ...small, lrn: true };
    const b = build(cfg, w);
    const lrn = b.nodes.find((n) => n.opType === 'LRN')!;
    lrn.attribute![0] = int('size', 3);
    await expectError(
      writeModel('lrn3.onnx', b.model()),
      ...U,
      /LRN node 'lrn_\d+': size 3.*vggnet's LRN is A-LRN's: size 5/,
    );
    // ONNX alpha must be ours × size: an exporter that wrote our α (1e-4) unconverted describes another LRN
    lrn.attribute![0] = int('size', 5);
    lrn.attribute![1] = float('alpha', 1e-4);
    await expectError(
      writeModel('lrn-alpha.onnx', b.model()),
      ...U,
      /LRN node 'lrn_\d+': size 5, alpha 0\.0001 \(ours 0\.00002/,
    );
  });

  test('a weight computed by a node (Transpose) instead of an initializer', async () => {
    const f = variant('transpose.onnx', (b) => {
      const g = b.nodes.find((n) => n.opType === 'Gemm')!;
      b.nodes.unshift({ name: 'tr', opType: 'Transpose', input: [g.input![1]], output: ['wT'] });
      g.input![1] = 'wT';
    });
    await expectError(f, ...U, /Gemm node 'gemm_\d+': B \(weight\) 'wT' is not an initializer or Constant/);
  });

  test('a branch: one Relu output feeding two nodes', async () => {
    const f = variant('branch.onnx', (b) => {
      const r = b.nodes.find((n) => n.opType === 'Relu')!;
      b.nodes.push({ name: 'side', opType: 'Sigmoid', input: [r.output![0]], output: ['side_out'] });
    });
    await expectError(f, ...U, /value 'relu_\d+' feeds 2 nodes .*Sigmoid node 'side'/);
  });

  // Once a hang (the loader walked the chain forever, its memory growing): a node's output feeding back.
  test('a cycle: a Relu whose output is the graph input', async () => {
    const f = variant('cycle.onnx', (b) => {
      b.nodes.find((n) => n.opType === 'Relu')!.output = ['data'];
    });
    await expectError(f, ...F, /the graph has a cycle through Conv node 'conv_0'/);
  });

  test('two graph inputs; a DOUBLE initializer; an opset out of range', async () => {
    const two = build(small, w).model();
    two.graph!.input!.push({ name: 'extra', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } });
    await expectError(writeModel('two.onnx', onnx.ModelProto.create(two)), ...U, /2 inputs \('data', 'extra'\)/);
    const dbl = variant('double.onnx', (b) => {
      const t = b.inits.find((i) => i.name === 'conv0_b')!;
      t.dataType = onnx.TensorProto.DataType.DOUBLE;
      t.rawData = new Uint8Array(8 * 8);
    });
    await expectError(dbl, ...U, /Conv node 'conv_0' bias \('conv0_b'\): data type DOUBLE/);
    await expectError(
      writeModel('op5.onnx', build(small, w, { opset: 5 }).model()),
      ...U,
      /ONNX opset 5; supported: 7–21/,
    );
  });

  test('malformed: not protobuf, wrong raw_data size, Relu after the classifier', async () => {
    const g = tmp('garbage.onnx');
    fs.writeFileSync(g, 'definitely not a protobuf message \xff\xff\xff');
    await expectError(g, ...F, /not a valid ONNX model/); // no format's bytes: the extension names the reader
    const bad = tmp('bad.onnx'); // opens as ONNX does (ir_version's tag), then is no protobuf
    fs.writeFileSync(bad, new Uint8Array([0x08, 0x07, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    await expectError(bad, ...F, /not a valid ONNX model/);
    const short = variant('short.onnx', (b) => {
      b.inits.find((i) => i.name === 'conv1_w')!.rawData = new Uint8Array(12);
    });
    await expectError(
      short,
      ...F,
      /Conv node 'conv_\d+' weight \('conv1_w'\): dims \[12,8,3,3\] need 864 values, found 3/,
    );
    const relu = variant('relu.onnx', (b) => {
      const last = b.nodes[b.nodes.length - 1];
      b.nodes.push({ name: 'final_relu', opType: 'Relu', input: [last.output![0]], output: ['final'] });
      // the graph output must follow
    });
    const m = onnx.ModelProto.decode(new Uint8Array(fs.readFileSync(relu)));
    m.graph!.output![0].name = 'final';
    fs.writeFileSync(relu, onnx.ModelProto.encode(m).finish());
    await expectError(relu, ...U, /Gemm node 'gemm_\d+': Relu after the last FC layer/);
  });

  test('options.arch incompatible with the graph', async () => {
    const f = writeModel('arch.onnx', build(small, w).model());
    await expectError(f, ...F, /arch 'vgg11' does not match the file: the file holds custom/, 'vgg11');
    const cfg: VggConfig = { ...small, lrn: true };
    const lrnFile = writeModel('arch-lrn.onnx', build(cfg, w).model());
    const got = await loadWeights(lrnFile, { arch: cfg });
    expect(got.config.lrn).toBe(true);
    let err: unknown;
    try {
      await loadWeights(lrnFile, { arch: { ...small } });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/has no LRN layer, the graph has one/);
  });
});
