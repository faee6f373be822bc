/**
 * The CUDA backend (native/cuda) against the reference kernels and the cpu backend. Runs only where a
 * CUDA device is present; elsewhere jest reports every test as skipped, the reason in its title (CI here
 * has no GPU but always compiles the CUDA code). The full suites, per precision, live in the C++ harness:
 * `vggnet_harness cuda-check` (bench/gpu-check.sh runs it on the GPU machine).
 *
 * The binding creates the CUDA backend in its default precision, tf32 (tensor cores, inputs rounded to a
 * 10-bit mantissa, fp32 accumulation), so conv results are compared by relative L2 error with the tf32
 * bound of issue 5 (1e-3); the other ops are fp32 and compared as tightly as the cpu kernels are.
 */
import { backends, Model, native, Tensor, VggConfig } from '../lib';
import { fillUniform } from '../lib/random';
import { testIf } from './support/skip';

const report = backends();
const devices = report.cuda.devices;
const skipReason = devices.length === 0 ? `no CUDA device (${report.cuda.compiled ? 'CUDA compiled in' : 'CUDA not compiled in'}: ${report.cuda.reason})` : '';
const testCuda = testIf(!skipReason, skipReason);

type Kernels = InstanceType<ReturnType<typeof native>['Kernels']>;

let cudaK: Kernels | undefined;
let refK: Kernels | undefined;
function kernels(): { gpu: Kernels; ref: Kernels } {
  if (!cudaK) cudaK = new (native().Kernels)({ device: 'cuda:0' });
  if (!refK) refK = new (native().Kernels)({ device: 'reference' });
  return { gpu: cudaK, ref: refK };
}

/** Conv tolerance (relative L2) of the precision the backend reports in its kernel family. */
function convTolerance(family: string): number {
  const prec = /^cuda (fp32|tf32|bf16|fp16)/.exec(family)?.[1] ?? 'tf32';
  return { fp32: 1e-5, tf32: 1e-3, fp16: 2e-3, bf16: 1e-2 }[prec]!;
}

function seeded(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return fillUniform(new Float32Array(n), lo, hi, seed);
}

/** ‖got − want‖ / ‖want‖ over the finite reference values; non-finite ones must match exactly. */
function relL2(got: Float32Array, want: Float32Array, what: string): number {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], r = want[i];
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (!(Number.isNaN(r) && Number.isNaN(g)) && g !== r) throw new Error(`${what}: element ${i} is ${g}, reference ${r}`);
      continue;
    }
    num += (g - r) * (g - r);
    den += r * r;
  }
  return den > 0 ? Math.sqrt(num / den) : num > 0 ? Infinity : 0;
}

function expectIdentical(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (exact)`);
}

interface ConvCase { name: string; s: { N: number; C: number; H: number; W: number; K: number; R: number; S: number; stride: number; pad: number }; relu?: boolean; bias?: boolean; nan?: boolean }
const c = (name: string, N: number, C: number, H: number, W: number, K: number, R = 3, pad = 1, extra: Partial<ConvCase> = {}): ConvCase =>
  ({ name, s: { N, C, H, W, K, R, S: R, stride: 1, pad }, ...extra });

const CONV_CASES: ConvCase[] = [
  c('VGG16 conv2_1 64->128 @14 (split-K)', 1, 64, 14, 14, 128),
  c('C=3 odd 13x11 batch 2', 2, 3, 13, 11, 64),
  c('1x1 64->32 @14 batch 2', 2, 64, 14, 14, 32, 1, 0),
  c('tile edges K=65 cols=129', 1, 7, 1, 129, 65),
  c('7x7 valid FC6-like batch 1 (GEMV)', 1, 64, 7, 7, 100, 7, 0),
  c('7x7 valid FC6-like batch 3 (GEMV)', 3, 64, 7, 7, 100, 7, 0),
  c('FC-like 1x1 on 1x1 batch 9 (GEMM)', 9, 300, 1, 1, 77, 1, 0),
  c('relu off, bias null', 2, 32, 5, 5, 40, 3, 1, { relu: false, bias: false }),
  c('NaN and Inf in the input', 2, 9, 6, 7, 20, 3, 1, { nan: true }),
];

describe('cuda backend vs the reference kernels', () => {
  testCuda('reports the device, precision and kernels', () => {
    const info = kernels().gpu.info();
    expect(info.name).toBe('cuda:0');
    expect(info.kernelFamily).toMatch(/^cuda tf32 /);
    expect(info.kernelFamily).toMatch(/igemm_wmma/);
  });

  testCuda.each(CONV_CASES.map((k) => [k.name, k] as const))('conv2d %s', (_n, k) => {
    const { gpu, ref } = kernels();
    const s = k.s;
    const kdim = s.C * s.R * s.S;
    const a = Math.sqrt(3 / kdim);
    const seed = 1000 + kdim + s.K;
    const x = seeded(s.N * s.C * s.H * s.W, seed);
    if (k.nan) { x[5] = NaN; x[x.length >> 1] = Infinity; x[x.length - 1] = -Infinity; }
    const w = seeded(s.K * kdim, seed + 1, -a, a);
    const b = k.bias === false ? null : seeded(s.K, seed + 2, -0.5, 0.5);
    const relu = k.relu !== false;
    const want = ref.conv2d(s, x, w, b, relu);
    const got = gpu.conv2d(s, x, w, b, relu);
    const err = relL2(got, want, `conv2d '${k.name}' (seed ${seed})`);
    const tol = convTolerance(gpu.info().kernelFamily);
    if (!(err <= tol)) throw new Error(`conv2d '${k.name}' (seed ${seed}): relative L2 error ${err} exceeds ${tol}`);
  });

  testCuda('maxpool2d is bit-identical, NaN / ±0 / ±Inf included', () => {
    const { gpu, ref } = kernels();
    for (const s of [{ N: 2, C: 5, H: 7, W: 9, window: 2, stride: 2 }, { N: 1, C: 4, H: 9, W: 10, window: 3, stride: 2 }]) {
      const x = seeded(s.N * s.C * s.H * s.W, 77 + s.W);
      const specials = [NaN, -0, 0, -Infinity, Infinity];
      for (let i = 0; i < x.length; i += 7) x[i] = specials[i % 5];
      expectIdentical(gpu.maxpool2d(s, x), ref.maxpool2d(s, x), `maxpool2d ${JSON.stringify(s)}`);
    }
  });

  testCuda('lrn, softmax, spatialMean and flipW', () => {
    const { gpu, ref } = kernels();
    const dims = [2, 7, 5, 5];
    const x = seeded(2 * 7 * 5 * 5, 5, -3, 3);
    const p = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
    const lw = ref.lrn(dims, p, x), lg = gpu.lrn(dims, p, x);
    for (let i = 0; i < lw.length; i++) expect(Math.abs(lg[i] - lw[i])).toBeLessThanOrEqual(1e-5 * Math.abs(lw[i]));

    const logits = seeded(4 * 1000, 6, -20, 20);
    logits[1000 + 3] = NaN;
    expect(relL2(gpu.softmax(4, 1000, logits), ref.softmax(4, 1000, logits), 'softmax')).toBeLessThan(1e-6);

    const m = [1, 64, 14, 14];
    const xm = seeded(64 * 14 * 14, 7, -2, 2);
    expect(relL2(gpu.spatialMean(m, xm), ref.spatialMean(m, xm), 'spatialMean')).toBeLessThan(1e-6);
    expectIdentical(gpu.flipW(m, xm), ref.flipW(m, xm), 'flipW');
  });
});

describe("a Model on 'cuda:0' vs 'cpu'", () => {
  const tiny: VggConfig = { name: 'tiny', inChannels: 3, inputSize: 32, stages: [[8], [8, { channels: 16, kernel: 1 }], [16]], fc: [24, 24], numClasses: 7 };

  testCuda("'fc' and 'fully-conv' forward agree within the tf32 bound", async () => {
    const gpu = Model.random(tiny, 3, { device: 'cuda:0' });
    const cpu = Model.random(tiny, 3, { device: 'cpu' });
    try {
      expect(gpu.info().backend).toBe('cuda:0');
      for (const [dims, mode] of [[[2, 3, 32, 32], 'fc'], [[1, 3, 48, 64], 'fully-conv']] as [number[], 'fc' | 'fully-conv'][]) {
        const x = new Tensor(dims, seeded(dims.reduce((p, q) => p * q, 1), 11 + dims[3]));
        const [a, b] = [await gpu.forward(x, { mode }), await cpu.forward(x, { mode })];
        expect(a.dims).toEqual(b.dims);
        const err = relL2(a.data, b.data, `Model ${mode} ${dims}`);
        if (!(err <= 1e-2)) throw new Error(`Model ${mode} [${dims}]: relative L2 error ${err} vs cpu exceeds 1e-2`);
      }
    } finally {
      gpu.dispose();
      cpu.dispose();
    }
  });
});

describe('without a CUDA device', () => {
  testIf(!!skipReason, 'a CUDA device is present')("device 'cuda:0' is ERR_VGG_UNSUPPORTED and says why", () => {
    expect(() => new (native().Kernels)({ device: 'cuda:0' })).toThrow(
      expect.objectContaining({ code: 'ERR_VGG_UNSUPPORTED', message: expect.stringContaining(report.cuda.reason) }));
  });
});
