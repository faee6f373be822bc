// Plans and convolution algorithms: Model.plan() and info().convAlgorithms name each layer's algorithm and
// kernel; the convAlgorithm option picks them (in-process: no environment variables, no child processes);
// JS shape inference agrees with the native planner.
import {
  backends,
  ConvAlgorithm,
  InvalidArgumentError,
  Model,
  randomWeights,
  summary,
  Tensor,
  VggConfig,
  weightShapes,
} from '../lib';
import { fillUniform } from '../lib/random';

/** The ISA suffix of CPU kernel names for this host's kernel family ('avx2+fma' → 'avx2'). */
const isa = backends().cpu.kernelFamily.split('+')[0];

describe("vgg11 at 224 with the default ('auto') algorithm", () => {
  let model: Model;
  beforeAll(async () => {
    model = await Model.random('vgg11', 1, { device: 'cpu' });
  });
  afterAll(() => model.dispose());

  test('info().convAlgorithms: Winograd F(4×4) on every 3×3 conv with C, K ≥ 64; GEMM for conv1_1 and the FC layers', () => {
    const algos = model.info().convAlgorithms;
    expect(algos.map((a) => a.name)).toEqual([
      'conv1_1',
      'conv2_1',
      'conv3_1',
      'conv3_2',
      'conv4_1',
      'conv4_2',
      'conv5_1',
      'conv5_2',
      'fc6',
      'fc7',
      'fc8',
    ]);
    for (const a of algos)
      expect([a.name, a.algorithm]).toEqual([
        a.name,
        a.name === 'conv1_1' || a.name.startsWith('fc') ? 'gemm' : 'winograd4x4',
      ]);
  });

  test('plan([1,3,224,224]): names, kinds, kernels by symbol, outputs of every layer', () => {
    const plan = model.plan([1, 3, 224, 224]);
    const rows = summary('vgg11').layers;
    expect(plan.map((p) => p.name)).toEqual(rows.map((r) => r.name));
    plan.forEach((p, i) => {
      expect(p.layer).toBe(i);
      const [n, c, h, w] = p.output;
      expect([n, h, w, c]).toEqual([1, ...rows[i].output]); // native planner = JS shape inference
    });
    const conv = (name: string) => plan.find((p) => p.name === name)!;
    for (const name of ['conv2_1', 'conv3_1', 'conv3_2', 'conv4_1', 'conv4_2', 'conv5_1', 'conv5_2']) {
      expect(conv(name)).toMatchObject({
        kind: 'conv',
        algorithm: 'winograd4x4',
        kernel: `conv2d_nchw_f32_3x3s1_winograd4x4__${isa}`,
      });
      expect(conv(name).workspaceBytes).toBeGreaterThan(0);
    }
    expect(conv('conv1_1')).toMatchObject({
      algorithm: 'gemm',
      kernel: expect.stringMatching(new RegExp(`^gemm_f32_.*__${isa}$`)),
    });
    for (const fc of ['fc6', 'fc7', 'fc8'])
      // one output column at batch 1: matrix-vector products
      expect(conv(fc)).toMatchObject({
        algorithm: 'gemm',
        kernel: expect.stringMatching(new RegExp(`^gemv_f32_.*__${isa}$`)),
      });
    for (const p of plan.filter((q) => q.kind === 'maxpool'))
      expect(p).toMatchObject({ algorithm: '', workspaceBytes: 0 });
    expect(model.info().plansCached).toBe(1);
  });

  test("plan() checks the input as forward() does; 'dense' plans larger inputs", () => {
    expect(() => model.plan([1, 3, 256, 256])).toThrow(/mode 'fc' expects a 224×224 input .* use mode 'dense'/);
    expect(() => model.plan([1, 3, 224, 224], 'fully-conv' as 'fc')).toThrow(
      /mode: expected 'fc' \| 'dense' \| 'torchvision', got 'fully-conv'/,
    );
    expect(() => model.plan([3, 224, 224])).toThrow(/\[1,3,224,224\]/);
    const dense = model.plan([1, 3, 256, 288], 'dense');
    expect(dense.at(-1)!.output).toEqual([1, 1000, 2, 3]);
    expect(model.outputShape([1, 3, 256, 288], 'dense')).toEqual([1, 1000, 2, 3]);
  });
});

describe('the convAlgorithm option', () => {
  // conv1_1 has C = 3 (GEMM whatever is asked); conv1_2 and conv2_1 are 64→64 3×3: Winograd-eligible.
  const cfg: VggConfig = {
    name: 'wino',
    inChannels: 3,
    inputSize: 16,
    stages: [[64, 64], [64]],
    fc: [32],
    numClasses: 10,
  };
  const weights = randomWeights(cfg, 3);
  const x = new Tensor([2, 3, 24, 20], fillUniform(new Float32Array(2 * 3 * 24 * 20), -1, 1, 4));
  const algorithms: ConvAlgorithm[] = ['auto', 'gemm', 'winograd2x2', 'winograd4x4'];
  const out = new Map<ConvAlgorithm, Float32Array>();
  let ref: Float32Array;

  beforeAll(async () => {
    const r = await Model.create(cfg, weights, { device: 'reference' });
    ref = (await r.forward(x, { mode: 'dense' })).data;
    expect(r.info().convAlgorithms.every((a) => a.algorithm === 'direct')).toBe(true);
    r.dispose();
    for (const convAlgorithm of algorithms) {
      const m = await Model.create(cfg, weights, { device: 'cpu', convAlgorithm });
      out.set(convAlgorithm, (await m.forward(x, { mode: 'dense' })).data);
      m.dispose();
    }
  });

  test.each(algorithms)(
    "'%s': each layer gets the algorithm asked for where it applies, GEMM elsewhere",
    async (convAlgorithm) => {
      const m = await Model.create(cfg, weights, { device: 'cpu', convAlgorithm });
      const expected = convAlgorithm === 'auto' ? 'winograd4x4' : convAlgorithm;
      const steps = new Map(m.plan([1, 3, 16, 16]).map((p) => [p.name, p]));
      expect(m.info().convAlgorithms.map((a) => [a.name, a.algorithm])).toEqual([
        ['conv1_1', 'gemm'],
        ['conv1_2', expected],
        ['conv2_1', expected],
        ['fc6', 'gemm'],
        ['fc7', 'gemm'],
      ]);
      expect(steps.get('conv1_2')!.kernel).toBe(
        expected === 'gemm' ? steps.get('conv1_1')!.kernel : `conv2d_nchw_f32_3x3s1_${expected}__${isa}`,
      );
      m.dispose();
    },
  );

  /**
   * Bounds: the per-layer bounds recorded in test/kernels.test.ts against the double-accumulated reference,
   * max |y − ref| ≤ tol · √kdim · max(1, max|ref|) with tol = 1e-5 for GEMM, 1e-6 for F(2×2), 2.5e-6 for
   * F(4×4) (GEMM's on the layers an algorithm does not apply to), summed over the conv/FC layers: He-initialised
   * weights keep each layer's gain near 1, so the layers' errors add up. Observed errors are printed.
   */
  const bound = (algorithm: ConvAlgorithm, want: Float32Array) => {
    let m = 0;
    for (const v of want) m = Math.max(m, Math.abs(v));
    const tol = algorithm === 'winograd2x2' ? 1e-6 : algorithm === 'gemm' ? 1e-5 : 2.5e-6;
    return weightShapes(cfg).reduce((sum, { name, weight: [, C, R, S] }) => {
      const winograd = name === 'conv1_2' || name === 'conv2_1';
      return sum + (winograd ? tol : 1e-5) * Math.sqrt(C * R * S) * Math.max(1, m);
    }, 0);
  };
  const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i])), 0);

  test.each(algorithms)("'%s' matches the reference backend within its recorded bounds", (a) => {
    const got = out.get(a)!;
    expect(got).toHaveLength(2 * 10 * 3 * 2);
    const err = maxAbsDiff(got, ref);
    const rel = err / ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    console.log(
      `convAlgorithm '${a}': max |y − ref| ${err.toExponential(2)} (bound ${bound(a, ref).toExponential(2)}), relative ${rel.toExponential(2)}`,
    );
    expect(err).toBeLessThanOrEqual(bound(a, ref));
    expect(rel).toBeLessThan(1e-5); // the end-to-end bound of engine.test.ts (CPU backend vs the reference)
  });

  test("the algorithms really differ in their rounding, and 'auto' is winograd4x4 here", () => {
    expect(out.get('auto')).toEqual(out.get('winograd4x4'));
    expect(maxAbsDiff(out.get('gemm')!, out.get('winograd2x2')!)).toBeGreaterThan(0);
    expect(maxAbsDiff(out.get('gemm')!, out.get('winograd4x4')!)).toBeGreaterThan(0);
    expect(maxAbsDiff(out.get('gemm')!, out.get('winograd2x2')!)).toBeLessThanOrEqual(
      bound('gemm', ref) + bound('winograd2x2', ref),
    );
  });

  test('per layer: named layers get their own algorithm, the others the default; info() gives packed bytes', async () => {
    const mixed = await Model.create(cfg, weights, {
      device: 'cpu',
      convAlgorithm: { default: 'winograd4x4', conv2_1: 'winograd2x2' },
    });
    const info = mixed.info().convAlgorithms;
    expect(info.map((a) => [a.name, a.algorithm])).toEqual([
      ['conv1_1', 'gemm'],
      ['conv1_2', 'winograd4x4'],
      ['conv2_1', 'winograd2x2'],
      ['fc6', 'gemm'],
      ['fc7', 'gemm'],
    ]);
    // Packed bytes follow the algorithm: F(4×4) keeps 36 floats per 3×3 filter, F(2×2) 16, GEMM 9 (+ padding).
    const bytes = new Map(info.map((a) => [a.name, a.weightBytes]));
    const plain = (name: string) =>
      4 *
      weightShapes(cfg)
        .find((w) => w.name === name)!
        .weight.reduce((a, b) => a * b);
    expect(bytes.get('conv1_2')! / plain('conv1_2')).toBeCloseTo(36 / 9, 0);
    expect(bytes.get('conv2_1')! / plain('conv2_1')).toBeCloseTo(16 / 9, 0);
    expect(mixed.info().weightBytes).toBe(info.reduce((sum, a) => sum + a.weightBytes, 0));
    // Each layer's kernel is the one of its algorithm, so the output is what the single-algorithm models
    // give on their layers: within the bounds of both.
    expect(mixed.plan([1, 3, 16, 16]).find((p) => p.name === 'conv2_1')!.kernel).toBe(
      `conv2d_nchw_f32_3x3s1_winograd2x2__${isa}`,
    );
    const got = (await mixed.forward(x, { mode: 'dense' })).data;
    expect(maxAbsDiff(got, ref)).toBeLessThanOrEqual(bound('winograd4x4', ref));
    expect(maxAbsDiff(got, out.get('winograd4x4')!)).toBeGreaterThan(0);
    mixed.dispose();
  });

  test('per layer: unknown layer names and bad values are coded errors naming what is known', () => {
    expect(() => Model.createSync(cfg, weights, { device: 'cpu', convAlgorithm: { conv9_9: 'gemm' } })).toThrow(
      /options\.convAlgorithm\.conv9_9: no conv layer of that name; expected 'default' or one of conv1_1, conv1_2, conv2_1, fc6, fc7/,
    );
    expect(() => Model.createSync(cfg, weights, { convAlgorithm: { fc6: 'fft' as 'gemm' } })).toThrow(
      /options\.convAlgorithm\.fc6: expected 'auto' \| 'gemm'/,
    );
    expect(() => Model.createSync(cfg, weights, { device: 'cpu', convAlgorithm: { fc7: 'direct' } })).toThrow(
      /'direct' is the reference backend's algorithm .*\(asked for fc7\)/,
    );
    expect(() => Model.createSync(cfg, weights, { convAlgorithm: [] as unknown as 'gemm' })).toThrow(
      InvalidArgumentError,
    );
  });

  test("'direct' is the reference backend's; unknown names list the known ones", () => {
    expect(() => Model.createSync(cfg, weights, { device: 'cpu', convAlgorithm: 'direct' })).toThrow(
      /'direct' is the reference backend's algorithm/,
    );
    expect(() => Model.createSync(cfg, weights, { device: 'cpu', convAlgorithm: 'fft' as 'gemm' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => Model.createSync(cfg, weights, { convAlgorithm: 'winograd' as 'gemm' })).toThrow(
      /options\.convAlgorithm: expected 'auto' \| 'gemm' \| 'winograd2x2' \| 'winograd4x4' \| 'direct', got 'winograd'/,
    );
  });
});
