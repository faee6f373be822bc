/**
 * Weights from safetensors files: torchvision, timm and vggnet names; f16/bf16 widening; batch norm folding;
 * architecture detection for every paper config; and every malformed-file case, each with its error class,
 * code and a message naming the tensor.
 *
 * Files are written here (os.tmpdir(), deleted afterwards) with names generated independently of the library:
 * tvNames() mirrors torchvision's make_layers (torchvision/models/vgg.py), and the vgg16 list is also checked
 * against the literal names of torchvision's vgg16 state_dict. Big archs are written as sparse files: the header
 * is real, the data block is made by ftruncate (zeros) instead of writing ~500 MB.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ARCHS,
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  fc6FromKerasLayout,
  FormatError,
  InvalidArgumentError,
  LayerWeights,
  loadWeights,
  Model,
  readSafetensorsHeader,
  saveWeights,
  Tensor,
  TensorToWrite,
  UnsupportedError,
  VggConfig,
  weightShapes,
  writeSafetensors,
} from '../lib';
import { fillUniform, uniform } from '../lib/random';
import { small } from './support/configs';

let dir: string;
let seq = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-weights-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, `${++seq}-${name}`);

// ---------------------------------------------------------------------------------------------------------
// Independent writers of the naming schemes.

/** torchvision's cfgs (A, B, D, E) as make_layers reads them; C written the same way with 1×1 as {c,k:1}. */
function tvCfg(config: VggConfig): (number | { c: number; k: number } | 'M')[] {
  return config.stages.flatMap((st) => [
    ...st.map((c) => (typeof c === 'number' ? c : { c: c.channels, k: c.kernel })),
    'M' as const,
  ]);
}

/** torchvision make_layers: Conv2d, [BatchNorm2d,] ReLU per conv; MaxPool2d per 'M'. Returns conv and BN indices. */
function tvFeatureIndices(config: VggConfig, bn: boolean): { conv: number; bn?: number }[] {
  const out: { conv: number; bn?: number }[] = [];
  let i = 0;
  for (const v of tvCfg(config)) {
    if (v === 'M') {
      i += 1;
      continue;
    }
    out.push(bn ? { conv: i, bn: i + 1 } : { conv: i });
    i += bn ? 3 : 2;
  }
  return out;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Fast deterministic weights: a 65 537-long random block (prime: no alignment with rows) tiled, salted per layer. */
function patternWeights(config: VggConfig, seed: number): LayerWeights[] {
  const block = fillUniform(new Float32Array(65537), -0.05, 0.05, seed);
  const fill = (n: number, salt: number) => {
    const a = new Float32Array(n);
    a.set(block.subarray(0, Math.min(n, block.length)));
    for (let len = block.length; len < n; len *= 2) a.copyWithin(len, 0, Math.min(len, n - len));
    for (let i = 0; i < Math.min(n, 64); i++) a[i] += salt; // make every tensor distinct
    return a;
  };
  return weightShapes(config).map((s, l) => ({
    weight: fill(prod(s.weight), l * 0.001),
    bias: fill(s.bias[0], 0.5 + l * 0.001),
  }));
}

interface BnParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  var: Float32Array;
}

function torchvisionTensors(
  config: VggConfig,
  w: LayerWeights[],
  opts: { dtype?: 'F32' | 'F16' | 'BF16'; bn?: BnParams[] } = {},
): Record<string, TensorToWrite> {
  const dtype = opts.dtype ?? 'F32';
  const shapes = weightShapes(config);
  const t: Record<string, TensorToWrite> = {};
  tvFeatureIndices(config, !!opts.bn).forEach((ix, l) => {
    t[`features.${ix.conv}.weight`] = { dtype, shape: shapes[l].weight, data: w[l].weight };
    t[`features.${ix.conv}.bias`] = { dtype, shape: shapes[l].bias, data: w[l].bias };
    if (opts.bn && ix.bn !== undefined) {
      const b = opts.bn[l];
      t[`features.${ix.bn}.weight`] = { dtype, shape: shapes[l].bias, data: b.gamma };
      t[`features.${ix.bn}.bias`] = { dtype, shape: shapes[l].bias, data: b.beta };
      t[`features.${ix.bn}.running_mean`] = { dtype, shape: shapes[l].bias, data: b.mean };
      t[`features.${ix.bn}.running_var`] = { dtype, shape: shapes[l].bias, data: b.var };
    }
  });
  const nConv = shapes.length - config.fc.length - 1;
  shapes.slice(nConv).forEach((s, j) => {
    const [K, C, R, S] = s.weight;
    t[`classifier.${3 * j}.weight`] = { dtype, shape: [K, C * R * S], data: w[nConv + j].weight };
    t[`classifier.${3 * j}.bias`] = { dtype, shape: [K], data: w[nConv + j].bias };
  });
  return t;
}

function timmTensors(config: VggConfig, w: LayerWeights[]): Record<string, TensorToWrite> {
  const shapes = weightShapes(config);
  const t: Record<string, TensorToWrite> = {};
  tvFeatureIndices(config, false).forEach((ix, l) => {
    t[`features.${ix.conv}.weight`] = { dtype: 'F32', shape: shapes[l].weight, data: w[l].weight };
    t[`features.${ix.conv}.bias`] = { dtype: 'F32', shape: shapes[l].bias, data: w[l].bias };
  });
  const n = shapes.length - 3;
  const head = ['pre_logits.fc1', 'pre_logits.fc2', 'head.fc'];
  head.forEach((h, j) => {
    const s = shapes[n + j];
    t[`${h}.weight`] = { dtype: 'F32', shape: j === 2 ? [s.weight[0], s.weight[1]] : s.weight, data: w[n + j].weight };
    t[`${h}.bias`] = { dtype: 'F32', shape: s.bias, data: w[n + j].bias };
  });
  return t;
}

/** A file whose header lists `entries` (F32) and whose data block is a sparse run of zeros of the right size. */
function writeSparse(
  file: string,
  entries: { name: string; shape: number[]; dtype?: string }[],
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    const bytes = prod(e.shape) * (e.dtype === 'I64' ? 8 : 4);
    header[e.name] = { dtype: e.dtype ?? 'F32', shape: e.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  writeRawHeader(file, JSON.stringify(header), off);
}

/** 8-byte length, the header text as given, then `dataBytes` of zeros (sparse). */
function writeRawHeader(file: string, json: string, dataBytes: number, lengthField?: bigint): void {
  const text = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + text.length);
  new DataView(bytes.buffer).setBigUint64(0, lengthField ?? BigInt(text.length), true);
  bytes.set(text, 8);
  fs.writeFileSync(file, bytes);
  fs.truncateSync(file, 8 + text.length + dataBytes);
}

function tvEntries(config: VggConfig, bn: boolean): { name: string; shape: number[]; dtype?: string }[] {
  const shapes = weightShapes(config);
  const out: { name: string; shape: number[]; dtype?: string }[] = [];
  tvFeatureIndices(config, bn).forEach((ix, l) => {
    out.push(
      { name: `features.${ix.conv}.weight`, shape: shapes[l].weight },
      { name: `features.${ix.conv}.bias`, shape: shapes[l].bias },
    );
    if (ix.bn !== undefined) {
      for (const r of ['weight', 'bias', 'running_mean', 'running_var'])
        out.push({ name: `features.${ix.bn}.${r}`, shape: shapes[l].bias });
      out.push({ name: `features.${ix.bn}.num_batches_tracked`, shape: [], dtype: 'I64' });
    }
  });
  const nConv = shapes.length - config.fc.length - 1;
  shapes.slice(nConv).forEach((s, j) => {
    const [K, C, R, S] = s.weight;
    out.push(
      { name: `classifier.${3 * j}.weight`, shape: [K, C * R * S] },
      { name: `classifier.${3 * j}.bias`, shape: [K] },
    );
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers for checks.

async function expectError(
  p: Promise<unknown>,
  cls: new (message: string) => Error,
  code: string,
  re: RegExp,
): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  expect((err as { code: string }).code).toBe(code);
  expect((err as Error).message).toMatch(re);
  return err as Error;
}

/** Index of the first element whose bits differ (−2 on a length mismatch), or −1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -2;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

function expectSameWeights(a: LayerWeights[], b: LayerWeights[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((w, i) => {
    expect(firstBitDifference(w.weight, b[i].weight)).toBe(-1);
    expect(firstBitDifference(w.bias, b[i].bias)).toBe(-1);
  });
}

function input(dims: number[], seed: number): Tensor {
  return new Tensor(dims, fillUniform(new Float32Array(prod(dims)), -1, 1, seed));
}

// ---------------------------------------------------------------------------------------------------------

describe('torchvision names', () => {
  test('vgg16 names are torchvision vgg16 state_dict keys', () => {
    const names = tvEntries(ARCHS.vgg16, false).map((e) => e.name);
    const conv = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
    expect(names).toEqual([
      ...conv.flatMap((i) => [`features.${i}.weight`, `features.${i}.bias`]),
      ...[0, 3, 6].flatMap((i) => [`classifier.${i}.weight`, `classifier.${i}.bias`]),
    ]);
    const bn = tvEntries(ARCHS.vgg11, true)
      .filter((e) => e.name.endsWith('.weight') && e.shape.length === 4)
      .map((e) => e.name);
    expect(bn).toEqual([0, 4, 8, 11, 15, 18, 22, 25].map((i) => `features.${i}.weight`)); // vgg11_bn
  });

  test('a small custom config: detected exactly, same model output as the weights it was written from', async () => {
    const w = patternWeights(small, 3);
    const file = tmp('small.safetensors');
    writeSafetensors(file, torchvisionTensors(small, w));
    const got = await loadWeights(file);
    expect(got.source).toBe('torchvision');
    expect(got.batchNormFolded).toBe(false);
    expect(got.config).toMatchObject({
      name: 'custom',
      inChannels: 3,
      inputSize: 16,
      stages: [[8], [12, { channels: 12, kernel: 1 }]],
      fc: [20, 20],
      numClasses: 5,
    });
    expectSameWeights(got.weights, w);
    const x = input([2, 3, 16, 16], 11);
    const a = await Model.create(small, w, { device: 'reference' });
    const b = await Model.create(got.config, got.weights, { device: 'reference' });
    try {
      expect(Array.from((await b.forward(x)).data)).toEqual(Array.from((await a.forward(x)).data));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('vgg11: round trip exact, runs on the cpu device', async () => {
    const w = patternWeights(ARCHS.vgg11, 5);
    const file = tmp('vgg11.safetensors');
    writeSafetensors(file, torchvisionTensors(ARCHS.vgg11, w));
    const got = await loadWeights(file);
    fs.rmSync(file);
    expect(got.config).toEqual(ARCHS.vgg11);
    expectSameWeights(got.weights, w);
    const a = await Model.create('vgg11', w, { device: 'cpu' });
    const b = await Model.create(got.config, got.weights, { device: 'cpu' });
    try {
      const x = input([1, 3, 224, 224], 12);
      expect(Array.from((await b.forward(x)).data)).toEqual(Array.from((await a.forward(x)).data));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('vgg16: round trip exact (528 MB written and read)', async () => {
    const w = patternWeights(ARCHS.vgg16, 6);
    const file = tmp('vgg16.safetensors');
    writeSafetensors(file, torchvisionTensors(ARCHS.vgg16, w));
    const t0 = Date.now();
    const got = await loadWeights(file);
    const ms = Date.now() - t0;
    fs.rmSync(file);
    console.log(`vgg16 torchvision safetensors load: ${ms} ms`);
    expect(got.config).toEqual(ARCHS.vgg16);
    expectSameWeights(got.weights, w);
  });

  test('nn.DataParallel "module." prefixes are accepted', async () => {
    const w = patternWeights(small, 4);
    const t = torchvisionTensors(small, w);
    const file = tmp('module.safetensors');
    writeSafetensors(file, Object.fromEntries(Object.entries(t).map(([k, v]) => [`module.${k}`, v])));
    expectSameWeights((await loadWeights(file)).weights, w);
  });
});

describe('f16 / bf16', () => {
  test('widening is exact: known bit patterns, and every f16 survives f16 → f32 → f16', () => {
    const f16 = f16ToF32(
      Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x3555]),
    );
    expect(Array.from(f16.slice(0, 6))).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14]);
    expect(f16[6]).toBe(Infinity);
    expect(f16[7]).toBe(-Infinity);
    expect(Object.is(f16[8], -0)).toBe(true);
    expect(f16[9]).toBe(0.333251953125);
    expect(Array.from(bf16ToF32(Uint16Array.from([0x3f80, 0x4049, 0xc2f7, 0x0001])))).toEqual([
      1,
      3.140625,
      -123.5,
      2 ** -133,
    ]);
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    const bf = f32ToBf16(bf16ToF32(all));
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!nan && back[h] !== h) throw new Error(`f16 ${h.toString(16)} → ${back[h].toString(16)}`);
      const bnan = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (!bnan && bf[h] !== h) throw new Error(`bf16 ${h.toString(16)} → ${bf[h].toString(16)}`);
    }
    // round to nearest even at a tie: 1 + 2^-11 is halfway between 1 and 1 + 2^-10
    expect(Array.from(f32ToF16(Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11])))).toEqual([0x3c00, 0x3c02]);
  });

  test.each(['F16', 'BF16'] as const)('a %s torchvision file loads as the exact widened values', async (dtype) => {
    const w = patternWeights(small, 8);
    const file = tmp(`${dtype}.safetensors`);
    writeSafetensors(file, torchvisionTensors(small, w, { dtype }));
    const hdr = await readSafetensorsHeader(file);
    expect(hdr.tensors.get('features.0.weight')!.dtype).toBe(dtype);
    const got = await loadWeights(file);
    const widen = (a: Float32Array) => (dtype === 'F16' ? f16ToF32(f32ToF16(a)) : bf16ToF32(f32ToBf16(a)));
    expectSameWeights(
      got.weights,
      w.map((l) => ({ weight: widen(l.weight), bias: widen(l.bias) })),
    );
  });
});

describe('timm names', () => {
  test('small config and vgg11: pre_logits.fc1 (conv), fc2 (1×1 conv), head.fc (Linear)', async () => {
    for (const cfg of [small, ARCHS.vgg11]) {
      const w = patternWeights(cfg, 9);
      const file = tmp('timm.safetensors');
      writeSafetensors(file, timmTensors(cfg, w));
      const got = await loadWeights(file);
      fs.rmSync(file);
      expect(got.source).toBe('timm');
      expect(got.config.stages).toEqual(cfg.stages);
      expect(got.config.name).toBe(cfg === small ? 'custom' : 'vgg11');
      expectSameWeights(got.weights, w);
    }
  });
});

describe('batch norm (torchvision vgg*_bn) folded at load', () => {
  /** Explicit forward in double precision: conv (+bias) → BN(γ,β,μ,σ², ε = 1e-5) → ReLU, 2×2 max pool, FC head. */
  function referenceForward(cfg: VggConfig, w: LayerWeights[], bn: BnParams[], x: Float32Array): Float64Array {
    const shapes = weightShapes(cfg);
    let C = cfg.inChannels;
    let H = cfg.inputSize;
    let a = Float64Array.from(x);
    let l = 0;
    for (const stage of cfg.stages) {
      for (let j = 0; j < stage.length; j++, l++) {
        const [K, , R] = shapes[l].weight;
        const pad = R === 3 ? 1 : 0;
        const y = new Float64Array(K * H * H);
        for (let k = 0; k < K; k++)
          for (let p = 0; p < H; p++)
            for (let q = 0; q < H; q++) {
              let s = w[l].bias[k];
              for (let c = 0; c < C; c++)
                for (let r = 0; r < R; r++)
                  for (let t = 0; t < R; t++) {
                    const ih = p + r - pad;
                    const iw = q + t - pad;
                    if (ih >= 0 && ih < H && iw >= 0 && iw < H)
                      s += a[(c * H + ih) * H + iw] * w[l].weight[((k * C + c) * R + r) * R + t];
                  }
              const b = bn[l];
              const v = ((s - b.mean[k]) / Math.sqrt(b.var[k] + 1e-5)) * b.gamma[k] + b.beta[k];
              y[(k * H + p) * H + q] = Math.max(0, v);
            }
        a = y;
        C = K;
      }
      const h2 = H / 2;
      const y = new Float64Array(C * h2 * h2);
      for (let c = 0; c < C; c++)
        for (let p = 0; p < h2; p++)
          for (let q = 0; q < h2; q++) {
            let m = -Infinity;
            for (let r = 0; r < 2; r++)
              for (let t = 0; t < 2; t++) m = Math.max(m, a[(c * H + 2 * p + r) * H + 2 * q + t]);
            y[(c * h2 + p) * h2 + q] = m;
          }
      a = y;
      H = h2;
    }
    for (; l < shapes.length; l++) {
      const [K, Cin, R, S] = shapes[l].weight;
      const n = Cin * R * S; // flattened C,H,W
      const y = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        let s = w[l].bias[k];
        for (let i = 0; i < n; i++) s += a[i] * w[l].weight[k * n + i];
        y[k] = l < shapes.length - 1 ? Math.max(0, s) : s;
      }
      a = y;
    }
    return a;
  }

  test('a small BN config matches conv → BN → ReLU computed explicitly (reference device)', async () => {
    const w = patternWeights(small, 10);
    const u = uniform(77);
    const nConv = weightShapes(small).length - 3;
    const bn: BnParams[] = weightShapes(small)
      .slice(0, nConv)
      .map((s) => {
        const K = s.bias[0];
        const f = (lo: number, hi: number) => Float32Array.from({ length: K }, () => lo + (hi - lo) * u());
        return { gamma: f(0.5, 2), beta: f(-0.2, 0.2), mean: f(-0.1, 0.1), var: f(0.01, 0.5) };
      });
    const file = tmp('small_bn.safetensors');
    writeSafetensors(file, torchvisionTensors(small, w, { bn }));
    const got = await loadWeights(file);
    expect(got.batchNormFolded).toBe(true);
    expect(got.config.name).toBe('custom_bn');
    const x = input([1, 3, 16, 16], 13);
    const m = await Model.create(got.config, got.weights, { device: 'reference' });
    try {
      const ours = (await m.forward(x)).data;
      const ref = referenceForward(small, w, bn, x.data);
      let d = 0;
      let s = 0;
      ref.forEach((r, i) => {
        d = Math.max(d, Math.abs(ours[i] - r));
        s = Math.max(s, Math.abs(r));
      });
      console.log(`BN fold: max rel err ${(d / s).toExponential(2)} over ${ref.length} logits`);
      expect(d / s).toBeLessThanOrEqual(1e-5);
    } finally {
      m.dispose();
    }
    // and the folded conv itself, element by element
    const s0 = bn[0].gamma[0] / Math.sqrt(bn[0].var[0] + 1e-5);
    expect(got.weights[0].weight[0]).toBeCloseTo(w[0].weight[0] * s0, 6);
    expect(got.weights[0].bias[0]).toBeCloseTo((w[0].bias[0] - bn[0].mean[0]) * s0 + bn[0].beta[0], 6);
  });
});

describe('architecture detection (sparse files: header + zeros)', () => {
  const cases: [string, VggConfig, boolean][] = [
    ['vgg11', ARCHS.vgg11, false],
    ['vgg13', ARCHS.vgg13, false],
    ['vgg16_c', ARCHS.vgg16_c, false],
    ['vgg16', ARCHS.vgg16, false],
    ['vgg19', ARCHS.vgg19, false],
    ['vgg11_bn', ARCHS.vgg11, true],
    ['vgg13_bn', ARCHS.vgg13, true],
    ['vgg16_bn', ARCHS.vgg16, true],
    ['vgg19_bn', ARCHS.vgg19, true],
  ];
  test.each(cases)('%s', async (name, cfg, bn) => {
    const file = tmp(`${name}.safetensors`);
    writeSparse(file, tvEntries(cfg, bn));
    const got = await loadWeights(file);
    fs.rmSync(file);
    expect(got.config.name).toBe(name);
    expect({ ...got.config, name: cfg.name }).toEqual(cfg);
    expect(got.batchNormFolded).toBe(bn);
    expect(got.weights.map((w) => w.weight.length)).toEqual(weightShapes(cfg).map((s) => prod(s.weight)));
  });

  test('vgg11_lrn only through options.arch (LRN has no weights)', async () => {
    const file = tmp('a.safetensors');
    writeSparse(file, tvEntries(ARCHS.vgg11, false));
    expect((await loadWeights(file)).config.name).toBe('vgg11');
    expect((await loadWeights(file, { arch: 'A-LRN' })).config).toEqual(ARCHS.vgg11_lrn);
    expect((await loadWeights(file, { arch: 'vgg11' })).config).toEqual(ARCHS.vgg11);
  });

  test('a fine-tuned head (10 classes) and "vggnet.config" metadata with another input size', async () => {
    const cfg: VggConfig = { ...ARCHS.vgg16, name: 'custom', numClasses: 10 };
    const file = tmp('ft.safetensors');
    writeSparse(file, tvEntries(cfg, false));
    const got = await loadWeights(file);
    expect(got.config).toEqual(cfg);
    const named: VggConfig = { ...cfg, name: 'vgg16-pets', lrn: false };
    const f2 = tmp('ft2.safetensors');
    writeSparse(f2, tvEntries(cfg, false), {
      'vggnet.config': JSON.stringify(named),
      'vggnet.labels': JSON.stringify([...'abcdefghij']),
      'vggnet.preprocess': '{"mean":[0.5,0.5,0.5]}',
    });
    const g2 = await loadWeights(f2);
    expect(g2.config).toEqual(named);
    expect(g2.labels).toEqual([...'abcdefghij']);
    expect(g2.preprocess).toEqual({ mean: [0.5, 0.5, 0.5] });
  });
});

describe('vggnet files (saveWeights)', () => {
  test('config (with LRN and input size), labels and preprocess round trip; F16 storage', async () => {
    const cfg: VggConfig = {
      name: 'tiny-lrn',
      inChannels: 1,
      inputSize: 32,
      lrn: true,
      stages: [[8], [16]],
      fc: [24],
      numClasses: 4,
    };
    const w = patternWeights(cfg, 12);
    const file = tmp('own.safetensors');
    saveWeights(file, cfg, w, { labels: ['w', 'x', 'y', 'z'], preprocess: { mean: [0.1], std: [0.3] } });
    const got = await loadWeights(file);
    expect(got).toMatchObject({
      source: 'vggnet',
      config: cfg,
      labels: ['w', 'x', 'y', 'z'],
      preprocess: { mean: [0.1], std: [0.3] },
      batchNormFolded: false,
    });
    expectSameWeights(got.weights, w);
    const hdr = await readSafetensorsHeader(file);
    expect([...hdr.tensors.keys()]).toEqual([
      'conv1_1.weight',
      'conv1_1.bias',
      'conv2_1.weight',
      'conv2_1.bias',
      'fc6.weight',
      'fc6.bias',
      'fc7.weight',
      'fc7.bias',
    ]);
    expect(hdr.tensors.get('fc6.weight')!.shape).toEqual([24, 16, 8, 8]);
    const f16 = tmp('own16.safetensors');
    saveWeights(f16, cfg, w, { dtype: 'F16' });
    expect(fs.statSync(f16).size).toBeLessThan(fs.statSync(file).size * 0.6);
    expectSameWeights(
      (await loadWeights(f16)).weights,
      w.map((l) => ({ weight: f16ToF32(f32ToF16(l.weight)), bias: f16ToF32(f32ToF16(l.bias)) })),
    );
  });
});

describe('Keras layout of FC6', () => {
  test('fc6FromKerasLayout: HWC-flattened [in, out] kernel → OIHW, same function of pool5', () => {
    const [C, H, W, U] = [5, 3, 4, 6];
    const oihw = fillUniform(new Float32Array(U * C * H * W), -1, 1, 21);
    // Keras: kernel[(h·W + w)·C + c, u] = oihw[u, c, h, w]
    const keras = new Float32Array(oihw.length);
    for (let u = 0; u < U; u++)
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) keras[((h * W + w) * C + c) * U + u] = oihw[((u * C + c) * H + h) * W + w];
    expect(Array.from(fc6FromKerasLayout(keras, C, H, W, U))).toEqual(Array.from(oihw));
    // Functionally: Keras y = flatten_hwc(x) · kernel equals ours y = W · flatten_chw(x).
    const x = fillUniform(new Float32Array(C * H * W), -1, 1, 22); // x[c,h,w]
    const ours = fc6FromKerasLayout(keras, C, H, W, U);
    for (let u = 0; u < U; u++) {
      let a = 0;
      let b = 0;
      for (let c = 0; c < C; c++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) {
            a += x[(c * H + h) * W + w] * keras[((h * W + w) * C + c) * U + u];
            b += x[(c * H + h) * W + w] * ours[((u * C + c) * H + h) * W + w];
          }
      expect(b).toBeCloseTo(a, 10);
    }
    expect(() => fc6FromKerasLayout(keras, C, H, W, U + 1)).toThrow(InvalidArgumentError);
  });
});

describe('malformed files and mismatches (every error names the tensor)', () => {
  const F = [FormatError, 'ERR_VGG_FORMAT'] as const;

  test('header length: past 100 MiB, past the end of the file, file shorter than 8 bytes', async () => {
    const a = tmp('huge.safetensors');
    writeRawHeader(a, '{}', 0, BigInt(200 * 1024 * 1024));
    await expectError(loadWeights(a), ...F, /header length 209715200 bytes exceeds/);
    const b = tmp('past.safetensors');
    writeRawHeader(b, '{"a":1}', 0, 4096n);
    await expectError(loadWeights(b), ...F, /header length 4096 bytes is past the end of the file/);
    const c = tmp('short.safetensors');
    fs.writeFileSync(c, Uint8Array.from([1, 2, 3]));
    await expectError(loadWeights(c), ...F, /3 bytes is too short/);
  });

  test('invalid JSON, non-object header, bad __metadata__', async () => {
    const a = tmp('json.safetensors');
    writeRawHeader(a, '{"features.0.weight": {', 0);
    await expectError(loadWeights(a), ...F, /not valid JSON/);
    const b = tmp('arr.safetensors');
    writeRawHeader(b, '[1,2]', 0);
    await expectError(loadWeights(b), ...F, /expected a JSON object, got an array/);
    const c = tmp('meta.safetensors');
    writeRawHeader(c, '{"__metadata__": {"k": 3}}', 0);
    await expectError(loadWeights(c), ...F, /__metadata__\["k"\]: expected a string/);
  });

  // Once (issue 11): the error message's JSON.stringify overflowed the stack (an uncoded RangeError), and
  // 'conv0_1.weight' gave a TypeError.
  test('a deeply nested header value; a conv numbered from 0', async () => {
    const a = tmp('nested.safetensors');
    writeRawHeader(a, `{"a":${'['.repeat(100000)}${']'.repeat(100000)}}`, 0);
    await expectError(loadWeights(a), ...F, /'a': expected an object .*got Array \(nested too deeply to show\)/);
    const b = tmp('conv0.safetensors');
    writeSparse(b, [{ name: 'conv0_1.weight', shape: [8, 3, 3, 3] }]);
    await expectError(loadWeights(b), ...F, /'conv0_1\.weight': convs are numbered from conv1_1/);
  });

  test.each([
    ['missing dtype', { shape: [2], data_offsets: [0, 8] }, /'t': dtype: expected a string/],
    ['missing shape', { dtype: 'F32', data_offsets: [0, 8] }, /'t': shape: expected an array/],
    ['missing data_offsets', { dtype: 'F32', shape: [2] }, /'t': data_offsets: expected \[begin, end\]/],
    ['unknown dtype', { dtype: 'Q4', shape: [2], data_offsets: [0, 8] }, /'t': unknown dtype 'Q4'/],
    [
      'negative dim',
      { dtype: 'F32', shape: [-2], data_offsets: [0, 8] },
      /'t': shape: expected an array of non-negative integers, got \[-2\]/,
    ],
    ['fractional dim', { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] }, /'t': shape: .*got \[2.5\]/],
    [
      'negative offset',
      { dtype: 'F32', shape: [2], data_offsets: [-8, 0] },
      /'t': data_offsets: .*non-negative integers, got \[-8,0\]/,
    ],
    [
      'end before begin',
      { dtype: 'F32', shape: [0], data_offsets: [8, 0] },
      /'t': data_offsets: end 0 is before begin 8/,
    ],
    [
      'size mismatch',
      { dtype: 'F32', shape: [3], data_offsets: [0, 8] },
      /'t': shape \[3\] of F32 needs 12 bytes, data_offsets \[0, 8\] hold 8/,
    ],
    [
      'past the end',
      { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
      /'t': data_offsets end 24 is past the end of the data block \(16 bytes\)/,
    ],
    ['entry not an object', 5, /'t': expected an object/],
  ])('%s', async (_, entry, re) => {
    const file = tmp('bad.safetensors');
    writeRawHeader(file, JSON.stringify({ t: entry }), 16);
    await expectError(loadWeights(file), ...F, re);
  });

  test('overlapping tensors are named', async () => {
    const file = tmp('overlap.safetensors');
    writeRawHeader(
      file,
      JSON.stringify({
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      }),
      16,
    );
    await expectError(loadWeights(file), ...F, /tensors 'a' \[0, 16\) and 'b' \[8, 16\) overlap/);
  });

  test('a truncated file names the tensor past the end', async () => {
    const w = patternWeights(small, 1);
    const file = tmp('trunc.safetensors');
    writeSafetensors(file, torchvisionTensors(small, w));
    fs.truncateSync(file, fs.statSync(file).size - 10);
    await expectError(
      loadWeights(file),
      ...F,
      /tensor 'classifier\.6\.bias': data_offsets end \d+ is past the end .*truncated/,
    );
  });

  test('F64 and integer weights: UnsupportedError naming tensor and dtype', async () => {
    for (const dtype of ['F64', 'I32']) {
      const entries = tvEntries(small, false).map((e) => (e.name === 'features.3.weight' ? { ...e, dtype } : e));
      // I32 is 4 bytes like F32; F64 needs 8: write the header by hand
      const header: Record<string, unknown> = {};
      let off = 0;
      for (const e of entries) {
        const bytes = prod(e.shape) * (e.dtype === 'F64' ? 8 : 4);
        header[e.name] = { dtype: e.dtype ?? 'F32', shape: e.shape, data_offsets: [off, off + bytes] };
        off += bytes;
      }
      const file = tmp(`${dtype}.safetensors`);
      writeRawHeader(file, JSON.stringify(header), off);
      await expectError(
        loadWeights(file),
        UnsupportedError,
        'ERR_VGG_UNSUPPORTED',
        new RegExp(`tensor 'features\\.3\\.weight' has dtype ${dtype}; weights must be F32, F16 or BF16`),
      );
    }
  });

  test('unknown / extra tensors are named', async () => {
    const w = patternWeights(small, 1);
    const t = torchvisionTensors(small, w);
    const file = tmp('extra.safetensors');
    writeSafetensors(file, {
      ...t,
      'foo.bar': { dtype: 'F32', shape: [1], data: new Float32Array(1) },
      'features.1.weight': { dtype: 'F32', shape: [8], data: new Float32Array(8) },
    });
    await expectError(loadWeights(file), ...F, /unexpected tensors 'foo\.bar', 'features\.1\.weight'/);
    const f2 = tmp('names.safetensors');
    writeSafetensors(f2, { 'encoder.layer.0.weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    await expectError(loadWeights(f2), ...F, /unrecognised tensor names \('encoder\.layer\.0\.weight'\)/);
  });

  test.each([
    ['a conv bias', 'features.3.bias', /missing tensor 'features\.3\.bias' \(conv2_1 bias, expected shape \[12\]\)/],
    ['a conv weight', 'features.3.weight', /missing tensor 'features\.3\.weight'/],
    ['FC7', 'classifier.3.weight', /missing tensor 'classifier\.3\.weight' \(FC7\)/],
    ['FC8 bias', 'classifier.6.bias', /missing tensor 'classifier\.6\.bias' \(fc8 bias/],
  ])('a missing tensor is named: %s', async (_, drop, re) => {
    const t = torchvisionTensors(small, patternWeights(small, 1));
    delete t[drop];
    const file = tmp('missing.safetensors');
    writeSafetensors(file, t);
    await expectError(loadWeights(file), ...F, re);
  });

  test('wrong shapes: expected vs found', async () => {
    const w = patternWeights(small, 1);
    const t = torchvisionTensors(small, w);
    t['features.3.weight'] = { dtype: 'F32', shape: [12, 4, 3, 3], data: new Float32Array(12 * 4 * 9) };
    const file = tmp('shape.safetensors');
    writeSafetensors(file, t);
    await expectError(
      loadWeights(file),
      ...F,
      /tensor 'features\.3\.weight' \(conv2_1 weight\): expected shape \[12,8,3,3\], found \[12,4,3,3\]/,
    );
    const t2 = torchvisionTensors(small, w);
    t2['classifier.6.weight'] = { dtype: 'F32', shape: [5, 19], data: new Float32Array(95) };
    writeSafetensors(file, t2);
    await expectError(
      loadWeights(file),
      ...F,
      /tensor 'classifier\.6\.weight' \(fc8 weight\): expected shape \[5,20\], found \[5,19\]/,
    );
    const t3 = torchvisionTensors(small, w);
    t3['features.0.weight'] = { dtype: 'F32', shape: [8, 3, 5, 5], data: new Float32Array(8 * 3 * 25) };
    writeSafetensors(file, t3);
    await expectError(loadWeights(file), ...F, /'features\.0\.weight': expected a 3×3 or 1×1 kernel/);
    const t4 = torchvisionTensors(small, w);
    t4['classifier.0.weight'] = { dtype: 'F32', shape: [20, 12 * 15], data: new Float32Array(20 * 180) };
    writeSafetensors(file, t4);
    await expectError(
      loadWeights(file),
      ...F,
      /'classifier\.0\.weight': FC6 fan-in 180 .* is not C·p·p for the last conv's C = 12/,
    );
  });

  test('options.arch incompatible with the file', async () => {
    const file = tmp('arch.safetensors');
    writeSparse(file, tvEntries(ARCHS.vgg11, false));
    await expectError(
      loadWeights(file, { arch: 'vgg16' }),
      ...F,
      /arch 'vgg16' does not match the file: the file holds vgg11 \(in 3, stages \[\[64\],\[128\],\[256,256\]/,
    );
    await expectError(
      loadWeights(file, { arch: 'vgg11_bn' }),
      ...F,
      /arch 'vgg11_bn' needs batch norm layers, the file has none/,
    );
    await expectError(loadWeights(file, { arch: { ...ARCHS.vgg11, numClasses: 10 } }), ...F, /does not match the file/);
    await expectError(
      loadWeights(file, { arch: 'vgg99' }),
      InvalidArgumentError,
      'ERR_VGG_INVALID_ARGUMENT',
      /arch: expected one of/,
    );
    const bnFile = tmp('bn.safetensors');
    writeSparse(bnFile, tvEntries(ARCHS.vgg13, true));
    expect((await loadWeights(bnFile, { arch: 'vgg13' })).config.name).toBe('vgg13_bn');
    expect((await loadWeights(bnFile, { arch: 'vgg13_bn' })).config.name).toBe('vgg13_bn');
  });

  test('labels in the metadata must match the classes; unknown formats', async () => {
    const file = tmp('labels.safetensors');
    writeSparse(file, tvEntries(small, false), { 'vggnet.labels': '["a","b"]' });
    await expectError(loadWeights(file), ...F, /"vggnet.labels" has 2 names, the model has 5 classes/);
    const g = tmp('garbage.bin2');
    fs.writeFileSync(g, 'hello world, not weights');
    await expectError(loadWeights(g), ...F, /not a weights file vggnet reads .* first bytes \(68656c6c6f20776f\)/);
    const e = tmp('empty.weights');
    fs.writeFileSync(e, '');
    await expectError(loadWeights(e), ...F, /first bytes \(empty file\)/);
    const named = tmp('empty.safetensors'); // the extension names the reader that explains
    fs.writeFileSync(named, '');
    await expectError(loadWeights(named), ...F, /0 bytes is too short for a safetensors file/);
  });
});
