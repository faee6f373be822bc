/**
 * The CUDA backend (native/cuda) against the reference kernels and the cpu backend, on the smoke cases of
 * the shared case list (test/cases/). Runs only where a CUDA device is present; elsewhere each test is
 * reported as skipped with the reason (CI here has no GPU but always compiles the CUDA code). The full
 * suites, per precision, live in the C++ harness: `vggnet_harness cuda-check` (bench/gpu-check.sh runs it
 * on the GPU machine).
 *
 * The CUDA backend runs in the library's default precision, tf32 (tensor cores, inputs rounded to a 10-bit
 * mantissa, fp32 accumulation), so conv results are compared by relative L2 error with the tf32 bound
 * (1e-3); the other ops are fp32 and compared as tightly as the cpu kernels are.
 */
import { backends, Model, Tensor } from '../lib';
import { fillUniform } from '../lib/random';
import { convCases, lrnCases, poolCases } from './support/cases';
import { relL2 } from './support/compare';
import { Kernels, kernels as makeKernels } from './support/kernels';
import { testIf } from './support/skip';
import { tiny } from './support/configs';

const report = backends();
const devices = report.cuda.devices;
const hasDevice = devices.length > 0;
const noDevice = `no CUDA device (${report.cuda.compiled ? 'CUDA compiled in' : 'CUDA not compiled in'}: ${report.cuda.reason})`;
const onGpu = testIf(hasDevice, noDevice);

let cudaK: Kernels | undefined;
let refK: Kernels | undefined;
function kernels(): { gpu: Kernels; ref: Kernels } {
  if (!cudaK) cudaK = makeKernels({ device: 'cuda:0' });
  if (!refK) refK = makeKernels({ device: 'reference' });
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

function expectIdentical(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (exact)`);
}

describe('cuda backend vs the reference kernels', () => {
  onGpu('reports the device, precision and kernels', () => {
    const info = kernels().gpu.info();
    expect(info.name).toBe('cuda:0');
    expect(info.kernelFamily).toMatch(/^cuda tf32 /);
    expect(info.kernelFamily).toMatch(/nchw_to_nhwc_tf32 \+ conv2d_nhwc_tf32_igemm_mma_/);
  });

  onGpu.each(convCases('smoke').map((k) => [k.name, k] as const))('conv2d %s', (_n, k) => {
    const { gpu, ref } = kernels();
    const s = k.s;
    const kdim = s.C * s.R * s.S;
    const a = Math.sqrt(3 / kdim);
    const seed = 1000 + kdim + s.K;
    const x = seeded(s.N * s.C * s.H * s.W, seed);
    if (k.nonfinite) {
      x[5] = NaN;
      x[x.length >> 1] = Infinity;
      x[x.length - 1] = -Infinity;
    }
    const w = seeded(s.K * kdim, seed + 1, -a, a);
    const b = k.bias ? seeded(s.K, seed + 2, -0.5, 0.5) : null;
    expect(gpu.planConv(s).algorithm).toBe('gemm');
    const want = ref.conv2d(s, x, w, b, k.relu);
    const got = gpu.conv2d(s, x, w, b, k.relu);
    const err = relL2(got, want, `conv2d '${k.name}' (seed ${seed})`);
    const tol = convTolerance(gpu.info().kernelFamily);
    if (!(err <= tol)) throw new Error(`conv2d '${k.name}' (seed ${seed}): relative L2 error ${err} exceeds ${tol}`);
  });

  onGpu('maxpool2d is bit-identical, NaN / ±0 / ±Inf included', () => {
    const { gpu, ref } = kernels();
    for (const { s } of poolCases('pool')) {
      const x = seeded(s.N * s.C * s.H * s.W, 77 + s.W);
      const specials = [NaN, -0, 0, -Infinity, Infinity];
      for (let i = 0; i < x.length; i += 7) x[i] = specials[i % 5];
      expectIdentical(gpu.maxpool2d(s, x), ref.maxpool2d(s, x), `maxpool2d ${JSON.stringify(s)}`);
    }
  });

  onGpu('lrn within a few ulps', () => {
    const { gpu, ref } = kernels();
    for (const c of lrnCases('lrn')) {
      const x = seeded(
        c.dims.reduce((p, q) => p * q, 1),
        5,
        -3,
        3,
      );
      const lw = ref.lrn(c.dims, c.p, x),
        lg = gpu.lrn(c.dims, c.p, x);
      for (let i = 0; i < lw.length; i++) expect(Math.abs(lg[i] - lw[i])).toBeLessThanOrEqual(1e-5 * Math.abs(lw[i]));
    }
  });
});

describe("a Model on 'cuda:0' vs 'cpu'", () => {
  onGpu("'fc' and 'dense' forward agree within the tf32 bound", async () => {
    const gpu = await Model.random(tiny, 3, { device: 'cuda:0' });
    const cpu = await Model.random(tiny, 3, { device: 'cpu' });
    try {
      expect(gpu.info().backend).toBe('cuda:0');
      for (const [dims, mode] of [
        [[2, 3, 32, 32], 'fc'],
        [[1, 3, 48, 64], 'dense'],
      ] as [number[], 'fc' | 'dense'][]) {
        const x = new Tensor(
          dims,
          seeded(
            dims.reduce((p, q) => p * q, 1),
            11 + dims[3],
          ),
        );
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

describe("CUDA graphs on 'cuda:0'", () => {
  onGpu('a shape replayed as a graph gives the bits of kernel-by-kernel forwards, and info() counts it', async () => {
    const graphs = await Model.random(tiny, 3, { device: 'cuda:0' });
    const eager = await Model.random(tiny, 3, { device: 'cuda:0', cudaGraphs: false });
    try {
      expect(graphs.info().cudaGraphs.enabled).toBe(true);
      expect(eager.info().cudaGraphs).toMatchObject({ enabled: false, reason: expect.stringMatching(/cudaGraphs/) });
      for (let i = 0; i < 4; i++) {
        // kernel by kernel, recorded + replayed, replayed, replayed; a new input each time
        const x = new Tensor([1, 3, 32, 32], seeded(3 * 32 * 32, 40 + i));
        expectIdentical((await graphs.forward(x)).data, (await eager.forward(x)).data, `forward ${i}`);
      }
      expect(graphs.info().cudaGraphs).toMatchObject({ plansCaptured: 1, captures: 1, replays: 3, lastError: '' });
      expect(eager.info().cudaGraphs).toMatchObject({ captures: 0, replays: 0 });
    } finally {
      graphs.dispose();
      eager.dispose();
    }
  });
});

describe('without a CUDA device', () => {
  testIf(!hasDevice, 'a CUDA device is present')("device 'cuda:0' is ERR_VGG_UNSUPPORTED and says why", () => {
    expect(() => makeKernels({ device: 'cuda:0' })).toThrow(
      expect.objectContaining({ code: 'ERR_VGG_UNSUPPORTED', message: expect.stringContaining(report.cuda.reason) }),
    );
  });
});
