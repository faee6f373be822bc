/**
 * vggnet against the outside reference, onnxruntime-node (CPU): identical weights (seeded He init,
 * randomWeights) and seeded inputs ~U(-1,1), the same network written as an ONNX graph
 * (test/support/onnx-graph.ts): 'fc' style (Flatten + Gemm, as torchvision exports) for mode 'fc',
 * 'conv' style (FC6 a 7×7 conv, FC7/FC8 1×1 convs: the paper's dense evaluation) for mode 'dense'.
 *
 * Error measure, over the whole output:
 *     relErr(ours, ref) = max_i |ours_i − ref_i| / max_i |ref_i|
 * and every case requires relErr ≤ 1e-4 (float32 sums of up to 25088 products in both libraries, in
 * different orders: observed 3e-7 … 5e-6 with the AVX-512 kernels). NaN anywhere fails the case.
 * The same measure compares a batch's rows with single-image runs (tiling may differ with N, so not
 * necessarily bit-identical) and 'dense' at the training size with 'fc'.
 *
 * Cost: weights are generated once per arch (vgg11_lrn reuses vgg11's: LRN has none); each case builds its
 * ONNX bytes and ORT session and releases them; a Model per describe is disposed in afterAll. About 70 s
 * and 4.2 GB peak RSS on the 2-core build machine (vgg16: JS weights + ONNX bytes + ORT + packed weights).
 */
import { ForwardMode, LayerWeights, Model, randomWeights, resolveConfig, Tensor, VggConfig } from '../lib';
import { fillUniform } from '../lib/random';
import { buildOnnxBytes } from './support/onnx-graph';
import { OrtOutput, runOrt } from './support/ort';

const TOL = 1e-4;
const SLOW = 600_000; // vgg16 cases: minutes if the CPU backend is still the reference loops

/** max|a − b| / max|b|; NaN (so failing) when either holds a NaN or the lengths differ. */
function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return NaN;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > diff) diff = d;
    const m = Math.abs(b[i]);
    if (m > scale) scale = m;
  }
  return diff / scale;
}

const observed: string[] = [];
function expectClose(label: string, ours: Float32Array, ref: Float32Array, tol = TOL): number {
  const e = relErr(ours, ref);
  const line = `${label}: max rel err ${e.toExponential(2)} (max|ref| ${Math.max(...ref.map(Math.abs)).toPrecision(4)})`;
  observed.push(line);
  console.log(line);
  expect(e).toBeLessThanOrEqual(tol);
  return e;
}

/** A seeded NCHW input ~U(−scale, scale). */
function input(dims: number[], seed: number, scale = 1): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return new Tensor(dims, fillUniform(new Float32Array(n), -scale, scale, seed));
}

/** Image i of a batch as its own [1,C,H,W] tensor (a copy). */
function image(x: Tensor, i: number): Tensor {
  const [, c, h, w] = x.dims;
  const per = c * h * w;
  return new Tensor([1, c, h, w], x.data.slice(i * per, (i + 1) * per));
}

async function ours(
  arch: string | VggConfig,
  weights: LayerWeights[],
  runs: { x: Tensor; mode: ForwardMode }[],
): Promise<Tensor[]> {
  const model = await Model.create(arch, weights, { device: 'cpu' });
  try {
    const outs: Tensor[] = [];
    for (const r of runs) outs.push(await model.forward(r.x, { mode: r.mode }));
    return outs;
  } finally {
    model.dispose();
  }
}

function expectDims(t: Tensor | OrtOutput, dims: number[]): void {
  expect([...t.dims]).toEqual(dims);
}

afterAll(() => {
  console.log(`reference-ort: observed errors (tolerance ${TOL}):\n  ${observed.join('\n  ')}`);
});

describe('a small custom config (1 channel, 28×28, stages [[8],[16]], fc [32,32], 10 classes)', () => {
  const cfg: VggConfig = {
    name: 'tiny',
    inChannels: 1,
    inputSize: 28,
    stages: [[8], [16]],
    fc: [32, 32],
    numClasses: 10,
  };
  const weights = randomWeights(cfg, 7);
  const x28 = input([3, 1, 28, 28], 101);
  const x56 = input([3, 1, 56, 56], 102);

  test("'fc' mode, batch 3 = ORT fc graph", async () => {
    const [ref] = await runOrt(buildOnnxBytes(cfg, weights, { style: 'fc' }), [x28]);
    const [y] = await ours(cfg, weights, [{ x: x28, mode: 'fc' }]);
    expectDims(ref, [3, 10]);
    expectDims(y, [3, 10]);
    expectClose('tiny fc 28 batch 3', y.data, ref.data);
  });

  test("'dense' at 28 and 56, batch 3 = ORT conv graph; at 28 it equals 'fc'", async () => {
    const [ref28, ref56] = await runOrt(buildOnnxBytes(cfg, weights, { style: 'conv' }), [x28, x56]);
    const [y28, y56, yfc] = await ours(cfg, weights, [
      { x: x28, mode: 'dense' },
      { x: x56, mode: 'dense' },
      { x: x28, mode: 'fc' },
    ]);
    expectDims(ref28, [3, 10, 1, 1]);
    expectDims(y28, [3, 10, 1, 1]);
    expectDims(ref56, [3, 10, 8, 8]);
    expectDims(y56, [3, 10, 8, 8]);
    expectClose('tiny dense 28 batch 3', y28.data, ref28.data);
    expectClose('tiny dense 56 batch 3 (score map 8×8)', y56.data, ref56.data);
    expectClose("tiny dense 28 vs own 'fc'", y28.data, yfc.data);
  });

  test('with LRN: ONNX alpha = our alpha × size; the unconverted alpha would be caught', async () => {
    const lrnCfg: VggConfig = { ...cfg, name: 'tiny_lrn', lrn: true };
    const w = randomWeights(lrnCfg, 8);
    // Inputs ×50 so that α·Σx² is comparable to k = 2 (at U(−1,1) LRN is nearly x / 2^0.75). conv1_1 has
    // 8 channels: the size-5 window is clipped for channels 0, 1, 6, 7, so the edge rule is compared too.
    const x = input([3, 1, 28, 28], 103, 50);
    const [ref] = await runOrt(buildOnnxBytes(lrnCfg, w, { style: 'fc' }), [x]);
    const [y] = await ours(lrnCfg, w, [{ x, mode: 'fc' }]);
    expectClose('tiny_lrn fc 28 batch 3 (input ×50)', y.data, ref.data);
    // The graph with ONNX alpha = our α unconverted must differ well beyond the tolerance.
    const [wrong] = await runOrt(buildOnnxBytes(lrnCfg, w, { style: 'fc', lrnAlphaUnconverted: true }), [x]);
    const e = relErr(y.data, wrong.data);
    console.log(`tiny_lrn: ours vs ORT with unconverted alpha: ${e.toExponential(2)}`);
    expect(e).toBeGreaterThan(100 * TOL);
  });
});

describe('vgg11 and vgg11_lrn at 224 (one set of weights: LRN has none)', () => {
  let w: LayerWeights[] | undefined;
  let model: Model | undefined;
  beforeAll(async () => {
    w = randomWeights('vgg11', 11);
    model = await Model.create('vgg11', w, { device: 'cpu' });
  });
  afterAll(() => {
    model?.dispose();
    model = undefined;
    w = undefined;
  });

  test("vgg11 'fc', batch 1 = ORT fc graph", async () => {
    const x = input([1, 3, 224, 224], 201);
    const [ref] = await runOrt(buildOnnxBytes(resolveConfig('vgg11'), w!, { style: 'fc' }), [x]);
    const y = await model!.forward(x, { mode: 'fc' });
    expectDims(ref, [1, 1000]);
    expectDims(y, [1, 1000]);
    expectClose('vgg11 fc 224 batch 1', y.data, ref.data);
  });

  test("vgg11 'fc', batch 2: each row equals its single-image run, and the batch = ORT", async () => {
    const x = input([2, 3, 224, 224], 202);
    const [ref] = await runOrt(buildOnnxBytes(resolveConfig('vgg11'), w!, { style: 'fc' }), [x]);
    const y = await model!.forward(x, { mode: 'fc' });
    expectDims(y, [2, 1000]);
    expectClose('vgg11 fc 224 batch 2 vs ORT', y.data, ref.data);
    for (let i = 0; i < 2; i++) {
      const single = await model!.forward(image(x, i), { mode: 'fc' });
      expectClose(
        `vgg11 fc 224 batch 2, row ${i} vs its single run`,
        y.data.subarray(i * 1000, (i + 1) * 1000),
        single.data,
      );
    }
  });

  test("vgg11_lrn 'fc', batch 1 = ORT with LRN (alpha × size); unconverted alpha would be caught", async () => {
    const cfg = resolveConfig('vgg11_lrn');
    // Inputs ×50 so that α·Σx² after conv1_1 is comparable to k = 2 (the error measure is scale-free).
    const x = input([1, 3, 224, 224], 203, 50);
    const lrnModel = await Model.create(cfg, w!, { device: 'cpu' });
    let y: Tensor;
    try {
      y = await lrnModel.forward(x, { mode: 'fc' });
    } finally {
      lrnModel.dispose();
    }
    const [ref] = await runOrt(buildOnnxBytes(cfg, w!, { style: 'fc' }), [x]);
    expectClose('vgg11_lrn fc 224 batch 1 (input ×50)', y.data, ref.data);
    const [wrong] = await runOrt(buildOnnxBytes(cfg, w!, { style: 'fc', lrnAlphaUnconverted: true }), [x]);
    const e = relErr(y.data, wrong.data);
    console.log(`vgg11_lrn: ours vs ORT with unconverted alpha: ${e.toExponential(2)}`);
    expect(e).toBeGreaterThan(100 * TOL);
  });
});

describe('vgg16', () => {
  let w: LayerWeights[] | undefined;
  let model: Model | undefined;
  const x224 = input([1, 3, 224, 224], 301);
  let fc224: Promise<Tensor> | undefined; // our 'fc' run at 224, shared by two cases
  const ourFc224 = () => (fc224 ??= model!.forward(x224, { mode: 'fc' }));
  beforeAll(async () => {
    w = randomWeights('vgg16', 16);
    model = await Model.create('vgg16', w, { device: 'cpu' });
  });
  afterAll(() => {
    model?.dispose();
    model = undefined;
    w = undefined;
  });

  test(
    "vgg16 'fc', batch 1 = ORT fc graph",
    async () => {
      const [ref] = await runOrt(buildOnnxBytes(resolveConfig('vgg16'), w!, { style: 'fc' }), [x224]);
      const y = await ourFc224();
      expectDims(ref, [1, 1000]);
      expectDims(y, [1, 1000]);
      expectClose('vgg16 fc 224 batch 1', y.data, ref.data);
    },
    SLOW,
  );

  test(
    "vgg16 'dense' at 384×384 = ORT conv graph (score map [1,1000,6,6])",
    async () => {
      const x = input([1, 3, 384, 384], 302);
      const [ref] = await runOrt(buildOnnxBytes(resolveConfig('vgg16'), w!, { style: 'conv' }), [x]);
      w = undefined; // the last use of the weights: the model holds its packed copy
      const y = await model!.forward(x, { mode: 'dense' });
      expectDims(ref, [1, 1000, 6, 6]);
      expectDims(y, [1, 1000, 6, 6]);
      expectClose('vgg16 dense 384 batch 1 (score map 6×6)', y.data, ref.data);
    },
    SLOW,
  );

  test(
    "vgg16 'dense' at 224 equals 'fc' ([1,1000,1,1] vs [1,1000])",
    async () => {
      const dense = await model!.forward(x224, { mode: 'dense' });
      const fc = await ourFc224();
      expectDims(dense, [1, 1000, 1, 1]);
      expectClose("vgg16 dense 224 vs own 'fc'", dense.data, fc.data);
    },
    SLOW,
  );
});
