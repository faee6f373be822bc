/**
 * Every optimised CPU kernel against the reference kernels, named by its symbol (the list comes from the
 * testing addon, so a kernel added to a family's table is tested here without editing this file), over
 * the shared shape suites in test/cases/. The algorithm is chosen in-process by the `convAlgorithm`
 * option, and each case first checks that the plan names the kernel under test. Outputs are pre-filled
 * with NaN, so an element a kernel forgets to write fails the comparison. Data comes from a seeded PRNG;
 * every failure message names the case and the seed.
 */
import { ConvCase, ConvShape, convCases, lrnCases, outHW, poolCases } from './support/cases';
import { CpuKernel, Kernels, kernels, testing } from './support/kernels';
import { testIf } from './support/skip';

// ---- seeded data ------------------------------------------------------------------------------------

/** mulberry32: a small, fast, well-mixed 32-bit PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

interface ConvData {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array | null;
  seed: number;
}

const dataCache = new Map<string, ConvData>();
function dataFor(c: ConvCase): ConvData {
  let d = dataCache.get(c.name);
  if (d) return d;
  const s = c.s;
  const seed = seedOf(c.name);
  const kdim = s.C * s.R * s.S;
  // Weights ~ U(-a, a) with a = sqrt(3 / kdim): unit-variance pre-activations, outputs of order 1.
  const a = Math.sqrt(3 / kdim);
  const x = uniform(s.N * s.C * s.H * s.W, seed, -1, 1);
  if (c.nonfinite) {
    x[5] = NaN;
    x[s.H * s.W * s.C + 20] = Infinity;
    x[x.length - 1] = -Infinity;
  }
  d = { x, w: uniform(s.K * kdim, seed + 1, -a, a), b: c.bias ? uniform(s.K, seed + 2, -0.5, 0.5) : null, seed };
  dataCache.set(c.name, d);
  return d;
}

// ---- tolerances -------------------------------------------------------------------------------------

/**
 * Tolerance of a float32 conv against the double-accumulated reference: max |y − ref| ≤ 1e-5 · √kdim ·
 * max(1, max|ref|). A float32 sum of kdim products whose rounding errors (unit roundoff u ≈ 6e-8) have
 * random signs drifts like u·√kdim·|partial sums|; 1e-5 ≈ 170u leaves an order of magnitude for the
 * different summation orders (KC blocks, vector lanes, FMA vs mul+add). It still catches a single
 * missing or doubled term: with the weights above one term is ~|w·x| ≈ 0.5·√(3/kdim), which exceeds
 * the bound for every kdim below ~7,000 (all cases here).
 */
function gemmTolerance(kdim: number, ref: Float32Array): number {
  let m = 0;
  for (const v of ref) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return 1e-5 * Math.sqrt(kdim) * Math.max(1, m);
}

/**
 * Recorded bounds for Winograd (both catch a missing or doubled term, ~0.5·√(3/kdim), by 1-2 orders of
 * magnitude). Observed on the winograd suite and every VGG16 layer shape (avx512, avx2, scalar, 2026-11-29):
 *
 * F(2x2,3x3): max |y − ref| ≤ gemmTolerance / 10. Its transforms use only the coefficients 0, ±1/2, ±1
 * (exact in float32): the input transform adds at most 4 inputs, the weight transform (done in double) 9
 * weights, the output transform 9 of the 16 point GEMMs, and each point GEMM is a chain of C FMAs, not 9·C.
 * Observed: at most 0.12 of this bound (2.4e-6 for C=K=512 at 14x14), 2.5-4x *below* the direct GEMM's error.
 *
 * F(4x4,3x3): max |y − ref| ≤ gemmTolerance / 4. Its transforms carry coefficients up to 5 (input), 8
 * (output) and 1/24 (weights), so rounding errors of the 36 point GEMMs are amplified: observed 4-8x the
 * direct GEMM's error, at most 0.11 of this bound (4.8e-5 for C=K=512 at 28x28).
 */
const TOLERANCE = {
  gemm: gemmTolerance,
  winograd2x2: (kdim: number, ref: Float32Array) => gemmTolerance(kdim, ref) / 10,
  winograd4x4: (kdim: number, ref: Float32Array) => gemmTolerance(kdim, ref) / 4,
};

function describeCase(c: ConvCase, seed: number): string {
  const s = c.s;
  return (
    `'${c.name}' N${s.N} C${s.C} ${s.H}x${s.W} -> K${s.K} ${s.R}x${s.S} s${s.stride} p${s.pad} relu=${c.relu} ` +
    `bias=${c.bias} (seed ${seed})`
  );
}

/** Throws with the first offending element; finite values within tol, non-finite ones identical. */
function expectClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i],
      r = want[i];
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (!Object.is(g, r) && !(Number.isNaN(g) && Number.isNaN(r)))
        throw new Error(`${what}: element ${i} is ${g}, reference ${r}`);
      continue;
    }
    const d = Math.abs(g - r);
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  if (worst > tol)
    throw new Error(
      `${what}: max |diff| ${worst.toExponential(3)} at element ${at} (${got[at]} vs ` +
        `reference ${want[at]}) exceeds tolerance ${tol.toExponential(3)}`,
    );
}

function expectIdentical(got: Float32Array, want: Float32Array, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (exact)`);
  }
}

// ---- the reference, computed once per case and shared by every kernel ---------------------------------

const reference = kernels({ device: 'reference' });
const refCache = new Map<string, Float32Array>();
function refConv(c: ConvCase): Float32Array {
  let y = refCache.get(c.name);
  if (!y) {
    const d = dataFor(c);
    y = reference.conv2d(c.s, d.x, d.w, d.b, c.relu);
    refCache.set(c.name, y);
  }
  return y;
}

// ---- which cases each conv kernel serves ----------------------------------------------------------

const columns = (s: ConvShape) => s.N * outHW(s)[0] * outHW(s)[1];
const winogradServes = (s: ConvShape) =>
  s.R === 3 && s.S === 3 && s.stride === 1 && s.pad === 1 && s.C >= 64 && s.K >= 64;
const CPU_SUITES = ['vgg16', 'tile_edges', 'geometry', 'fc', 'winograd'];

/** The cases the kernel runs on when its algorithm is requested: GEMV kernels serve single-column convs. */
function casesFor(k: CpuKernel): ConvCase[] {
  const all = convCases(...CPU_SUITES);
  if (k.algorithm === 'gemm') return all.filter((c) => (columns(c.s) === 1) === /^gemv_/.test(k.name));
  return all.filter((c) => winogradServes(c.s));
}

function checkConv(k: Kernels, kernel: CpuKernel, c: ConvCase): void {
  const d = dataFor(c);
  expect(k.planConv(c.s).kernel).toBe(kernel.name);
  const want = refConv(c);
  const got = k.conv2d(c.s, d.x, d.w, d.b, c.relu);
  const tol = TOLERANCE[kernel.algorithm as keyof typeof TOLERANCE];
  expectClose(got, want, tol(c.s.C * c.s.R * c.s.S, want), `${kernel.name} ${describeCase(c, d.seed)}`);
}

// ---- the kernel list ------------------------------------------------------------------------------

const ALL = testing().cpuKernels();
const THREADS = 2;
const skipReason = (k: CpuKernel) => `cpuid reports no ${k.isa === 'avx2' ? 'avx2+fma' : 'avx512f+bw+vl+dq with fma'}`;

test('the kernel list names every family, op and algorithm once, by symbol', () => {
  const names = ALL.map((k) => k.name);
  expect(new Set(names).size).toBe(names.length);
  for (const isa of ['scalar', 'avx2', 'avx512']) {
    const fam = ALL.filter((k) => k.isa === isa).map((k) => k.name);
    expect(fam).toEqual([
      expect.stringMatching(new RegExp(`^gemm_f32_\\d+x\\d+__${isa}$`)),
      expect.stringMatching(new RegExp(`^gemv_f32_\\d+xk__${isa}$`)),
      `conv2d_nchw_f32_3x3s1_winograd2x2__${isa}`,
      `conv2d_nchw_f32_3x3s1_winograd4x4__${isa}`,
      `maxpool2d_nchw_f32_2x2s2__${isa}`,
    ]);
  }
  expect(ALL.find((k) => k.isa === 'scalar')!.supported).toBe(true);
});

for (const kernel of ALL.filter((k) => k.op === 'conv2d')) {
  const cases = casesFor(kernel);
  describe(`${kernel.name} vs the reference`, () => {
    let k: Kernels;
    let k1: Kernels;
    beforeAll(() => {
      if (!kernel.supported) return;
      k = kernels({ isa: kernel.isa, threads: THREADS, convAlgorithm: kernel.algorithm as 'gemm' });
      k1 = kernels({ isa: kernel.isa, threads: 1, convAlgorithm: kernel.algorithm as 'gemm' });
    });
    testIf(kernel.supported, skipReason(kernel)).each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) =>
      checkConv(k, kernel, c),
    );
    testIf(kernel.supported, skipReason(kernel))(`threads=1 and threads=${THREADS} give bit-identical results`, () => {
      // Each output is one sequential chain of FMAs in k order (gemm), a fixed lane order (gemv), or a fixed
      // transform order (winograd), never depending on how rows and columns are split over threads.
      for (const c of cases.filter((_, i) => i % 3 === 0)) {
        const d = dataFor(c);
        expectIdentical(
          k1.conv2d(c.s, d.x, d.w, d.b, c.relu),
          k.conv2d(c.s, d.x, d.w, d.b, c.relu),
          `${kernel.name} threads 1 vs ${THREADS} ${describeCase(c, d.seed)}`,
        );
      }
    });
  });
}

for (const kernel of ALL.filter((k) => k.op === 'maxpool2d')) {
  describe(`${kernel.name}: exact, NaN and signed zeros included`, () => {
    testIf(kernel.supported, skipReason(kernel)).each(poolCases('pool').map((c) => [c.name, c] as const))(
      '%s',
      (_n, c) => {
        const s = c.s;
        const seed = seedOf(`pool ${c.name}`);
        const r = rng(seed);
        const n = s.N * s.C * s.H * s.W;
        const x = new Float32Array(n);
        const specials = [NaN, -0, 0, -Infinity, Infinity];
        for (let i = 0; i < n; i++) {
          const u = r();
          x[i] =
            u < 0.05 ? specials[Math.floor(r() * specials.length)] : u < 0.1 ? Math.round(r() * 4 - 2) : r() * 2 - 1;
        }
        // A window made only of -Inf and one of only zeros of both signs.
        x[0] = x[1] = x[s.W] = x[s.W + 1] = -Infinity;
        if (s.W > 3 && s.window === 2) {
          x[2] = -0;
          x[3] = 0;
          x[s.W + 2] = -0;
          x[s.W + 3] = -0;
        }
        expectIdentical(
          kernels({ isa: kernel.isa, threads: THREADS }).maxpool2d(s, x),
          reference.maxpool2d(s, x),
          `${kernel.name} '${c.name}' (seed ${seed})`,
        );
      },
    );
  });
}

describe('cpu backend, every supported family', () => {
  const families = [...new Set(ALL.filter((k) => k.supported).map((k) => k.isa))];

  test.each(families.map((f) => [f] as const))(
    "'auto' plans Winograd F(4x4) where it serves, GEMM/GEMV elsewhere (%s)",
    (isa) => {
      const k = kernels({ isa, threads: THREADS });
      for (const c of convCases(...CPU_SUITES)) {
        const want = winogradServes(c.s)
          ? `conv2d_nchw_f32_3x3s1_winograd4x4__${isa}`
          : columns(c.s) === 1
            ? `gemv_`
            : `gemm_`;
        const plan = k.planConv(c.s);
        expect(plan.kernel.startsWith(want) && plan.kernel.endsWith(`__${isa}`)).toBe(true);
        expect(plan.algorithm).toBe(winogradServes(c.s) ? 'winograd4x4' : 'gemm');
      }
    },
  );

  test.each(families.map((f) => [f] as const))(
    'lrn: AlexNet constants, odd and even sizes, channel edges (%s)',
    (isa) => {
      const k = kernels({ isa, threads: THREADS });
      for (const c of lrnCases('lrn')) {
        const seed = seedOf(`lrn ${c.name}`);
        const x = uniform(
          c.dims.reduce((a, b) => a * b, 1),
          seed,
          -3,
          3,
        );
        const want = reference.lrn(c.dims, c.p, x);
        const got = k.lrn(c.dims, c.p, x);
        // float32 square-sum of <= size terms and one powf: a few ulps of relative error.
        let worst = 0;
        for (let i = 0; i < want.length; i++)
          worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1e-30, Math.abs(want[i])));
        if (!(worst <= 1e-5)) throw new Error(`lrn '${c.name}' (seed ${seed}): max rel diff ${worst}`);
      }
    },
  );

  test('a Winograd request on a shape it cannot serve is ERR_VGG_UNSUPPORTED (no silent fallback here)', () => {
    const k = kernels({ convAlgorithm: 'winograd4x4' });
    const [c] = convCases('geometry').filter((x) => !winogradServes(x.s));
    const d = dataFor(c);
    expect(() => k.conv2d(c.s, d.x, d.w, d.b, c.relu)).toThrow(
      expect.objectContaining({ code: 'ERR_VGG_UNSUPPORTED' }),
    );
  });

  test('the reference backend computes every conv directly', () => {
    const [c] = convCases('vgg16');
    expect(reference.planConv(c.s)).toEqual({ algorithm: 'direct', kernel: 'ref::conv2d', workspaceBytes: 0 });
    expect(() =>
      kernels({ device: 'reference', convAlgorithm: 'gemm' }).conv2d(c.s, dataFor(c).x, dataFor(c).w, null, true),
    ).toThrow(expect.objectContaining({ code: 'ERR_VGG_UNSUPPORTED' }));
  });

  // Once (issue 11): N·C·H·W of in-range dims wrapped to 0 in size_t and an empty array passed the length check.
  test('shapes whose element count would wrap are refused before any buffer is read', () => {
    const k = kernels();
    const empty = new Float32Array(0);
    const huge = { N: 1 << 16, C: 1 << 20, H: 1 << 16, W: 1 << 12, K: 1, R: 1, S: 1, stride: 1, pad: 0 };
    expect(() => k.conv2d(huge, empty, new Float32Array(1 << 20), null, false)).toThrow(
      /^shape: x would have more than 2\^32 elements$/,
    );
    expect(() => k.maxpool2d({ N: 1 << 16, C: 1 << 20, H: 1 << 16, W: 1 << 12, window: 2, stride: 2 }, empty)).toThrow(
      /^shape: x would have more than 2\^32 elements$/,
    );
  });

  test('auto picks the best family cpuid reports', () => {
    const best = ALL.filter((k) => k.supported)
      .map((k) => k.isa)
      .pop();
    expect(kernels().info().kernelFamily.startsWith(`${best} (`)).toBe(true);
  });

  const missing = [...new Set(ALL.filter((k) => !k.supported).map((k) => k.isa))];
  testIf(missing.length > 0, 'this CPU has every family').each(missing.map((i) => [i] as const))(
    "forcing isa '%s' this CPU lacks is ERR_VGG_UNSUPPORTED",
    (isa) => {
      expect(() => kernels({ isa })).toThrow(expect.objectContaining({ code: 'ERR_VGG_UNSUPPORTED' }));
    },
  );

  test('an unknown isa or algorithm is ERR_VGG_INVALID_ARGUMENT naming the choices', () => {
    expect(() => kernels({ isa: 'sse9' as 'auto' })).toThrow(
      /isa: expected 'auto' \| 'scalar' \| 'avx2' \| 'avx512', got string 'sse9'/,
    );
    expect(() => kernels({ convAlgorithm: 'fft' as 'auto' })).toThrow(
      expect.objectContaining({ code: 'ERR_VGG_INVALID_ARGUMENT', message: expect.stringContaining("'winograd4x4'") }),
    );
  });
});
