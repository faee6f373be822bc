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

/** One output position per image (P = Q = 1): the FC layers, at any batch. */
const gemvShaped = (s: ConvShape) => outHW(s)[0] === 1 && outHW(s)[1] === 1;
const winogradServes = (s: ConvShape) =>
  s.R === 3 && s.S === 3 && s.stride === 1 && s.pad === 1 && s.C >= 64 && s.K >= 64;
const CPU_SUITES = ['vgg16', 'tile_edges', 'geometry', 'fc', 'winograd'];

/** The GEMM-algorithm kernel the cpu backend plans for s: GEMV-shaped layers take the GEMV (one column at
 *  batch 1, column groups above), every other layer the blocked GEMM. */
function gemmKernelKind(s: ConvShape): 'gemv' | 'gemv_cols' | 'gemm' {
  if (!gemvShaped(s)) return 'gemm';
  return s.N === 1 ? 'gemv' : 'gemv_cols';
}
const kindOf = (name: string) => (/^gemv_.*_n\d+__/.test(name) ? 'gemv_cols' : /^gemv_/.test(name) ? 'gemv' : 'gemm');

/** The cases the kernel runs on when its algorithm is requested. */
function casesFor(k: CpuKernel): ConvCase[] {
  const all = convCases(...CPU_SUITES);
  if (k.algorithm === 'gemm') return all.filter((c) => gemmKernelKind(c.s) === kindOf(k.name));
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

/** The fp32 kernels (the bf16 ones are test/kernels-bf16.test.ts's). */
const ALL = testing()
  .cpuKernels()
  .filter((k) => k.precision === 'fp32');
const THREADS = 2;
const skipReason = (k: CpuKernel) =>
  k.isa === 'neon'
    ? 'the hwcaps report no asimd'
    : `cpuid reports no ${k.isa === 'avx2' ? 'avx2+fma' : 'avx512f+bw+vl+dq with fma'}`;
/** The families a build holds: its architecture's (CMakeLists.txt); aarch64 runs under qemu in CI (.ci/arm64). */
const FAMILIES = process.arch === 'arm64' ? ['scalar', 'neon'] : ['scalar', 'avx2', 'avx512'];

test('the kernel list names every family, op and algorithm once, by symbol', () => {
  const names = ALL.map((k) => k.name);
  expect(new Set(names).size).toBe(names.length);
  expect([...new Set(ALL.map((k) => k.isa))]).toEqual(FAMILIES);
  for (const isa of FAMILIES) {
    const fam = ALL.filter((k) => k.isa === isa).map((k) => k.name);
    expect(fam).toEqual([
      expect.stringMatching(new RegExp(`^gemm_f32_\\d+x\\d+__${isa}$`)),
      expect.stringMatching(new RegExp(`^gemv_f32_\\d+xk__${isa}$`)),
      expect.stringMatching(new RegExp(`^gemv_f32_\\d+xk_n\\d+__${isa}$`)),
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
    test('serves some cases of the shared list', () => expect(cases.length).toBeGreaterThan(3));
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
      // Each output is one sequential chain of FMAs in k order (gemm, gemv) or a fixed transform order
      // (winograd), never depending on how rows and columns are split over threads.
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

// ---- batch invariance: an image's result never depends on the batch it runs in ---------------------------

/** Shapes with every path a batch can take: GEMV-shaped (1×1 FC with K off the panel sizes and Kdim across
 *  KC blocks, FC6 as 7×7 valid, a padded 3×3 on a 1×1 map whose columns are gathered), the blocked GEMM
 *  and Winograd. N is set per run. */
const INVARIANCE_SHAPES: [string, ConvShape][] = [
  ['FC 1x1 C=300 K=77', { N: 1, C: 300, H: 1, W: 1, K: 77, R: 1, S: 1, stride: 1, pad: 0 }],
  ['FC 1x1 C=1030 K=203 (3 KC blocks)', { N: 1, C: 1030, H: 1, W: 1, K: 203, R: 1, S: 1, stride: 1, pad: 0 }],
  ['FC6-like 7x7 valid C=16 K=53', { N: 1, C: 16, H: 7, W: 7, K: 53, R: 7, S: 7, stride: 1, pad: 0 }],
  ['3x3 pad 1 on 1x1 (gathered) C=90 K=11', { N: 1, C: 90, H: 1, W: 1, K: 11, R: 3, S: 3, stride: 1, pad: 1 }],
  ['GEMM 3x3 C=9 K=20 @6x7', { N: 1, C: 9, H: 6, W: 7, K: 20, R: 3, S: 3, stride: 1, pad: 1 }],
  ['Winograd C=64 K=64 @5x6', { N: 1, C: 64, H: 5, W: 6, K: 64, R: 3, S: 3, stride: 1, pad: 1 }],
];
const BATCHES = [2, 3, 5, 8, 17];

describe('batch invariance: each image of a batch gets the bits it gets alone (every supported family)', () => {
  const families = [...new Set(ALL.filter((k) => k.supported).map((k) => k.isa))];
  const cases = families.flatMap((isa) => INVARIANCE_SHAPES.map(([name, s]) => [isa, name, s] as const));

  test.each(cases)('%s: %s, batches 2, 3, 5, 8, 17', (isa, name, s0) => {
    const k = kernels({ isa, threads: THREADS });
    const kdim = s0.C * s0.R * s0.S;
    const img = s0.C * s0.H * s0.W;
    const seed = seedOf(`invariance ${name}`);
    const a = Math.sqrt(3 / kdim);
    const w = uniform(s0.K * kdim, seed + 1, -a, a);
    const b = uniform(s0.K, seed + 2, -0.5, 0.5);
    const nMax = Math.max(...BATCHES);
    const x = uniform(nMax * img, seed);
    x[3 * img + 1] = NaN; // image 3 carries NaN and Inf: they stay in their own image
    x[4 * img + 2] = -Infinity;
    const [P, Q] = outHW(s0);
    const out = s0.K * P * Q;
    const alone = Array.from({ length: nMax }, (_, n) =>
      k.conv2d({ ...s0, N: 1 }, x.subarray(n * img, (n + 1) * img), w, b, true),
    );
    for (const N of BATCHES) {
      const s = { ...s0, N };
      const y = k.conv2d(s, x.subarray(0, N * img), w, b, true);
      const what = `${isa} '${name}' batch ${N} [${k.planConv(s).kernel}] (seed ${seed})`;
      for (let n = 0; n < N; n++) expectIdentical(y.subarray(n * out, (n + 1) * out), alone[n], `${what} image ${n}`);
    }
  });

  test.each(families.map((f) => [f] as const))(
    '%s: 300 images (two GEMV passes of at most 256 columns) give the single-image bits',
    (isa) => {
      const k = kernels({ isa, threads: THREADS });
      const s = { N: 300, C: 40, H: 1, W: 1, K: 21, R: 1, S: 1, stride: 1, pad: 0 };
      const seed = seedOf('invariance 300');
      const x = uniform(300 * 40, seed);
      const w = uniform(21 * 40, seed + 1, -0.27, 0.27);
      const y = k.conv2d(s, x, w, null, false);
      for (const n of [0, 1, 255, 256, 299])
        expectIdentical(
          y.subarray(n * 21, (n + 1) * 21),
          k.conv2d({ ...s, N: 1 }, x.subarray(n * 40, (n + 1) * 40), w, null, false),
          `${isa} image ${n} of 300 (seed ${seed})`,
        );
    },
  );

  // The GEMV and the blocked GEMM compute each output in one order (bias, then a chain of multiply-adds in
  // k order, then ReLU): the same columns laid out so that the GEMM serves them give the same bits.
  test.each(families.map((f) => [f] as const))("%s: the GEMV gives the blocked GEMM's bits", (isa) => {
    const k = kernels({ isa, threads: THREADS });
    const seed = seedOf('gemv vs gemm');
    // FC 1x1 on N images (GEMV) vs a 1x1 conv on one 1 x N map (GEMM): x transposed (n, c) -> (c, n).
    {
      const N = 11,
        C = 700,
        K = 45;
      const x = uniform(N * C, seed);
      const w = uniform(K * C, seed + 1, -0.06, 0.06);
      const b = uniform(K, seed + 2, -0.5, 0.5);
      const fc = { N, C, H: 1, W: 1, K, R: 1, S: 1, stride: 1, pad: 0 };
      const map = { N: 1, C, H: 1, W: N, K, R: 1, S: 1, stride: 1, pad: 0 };
      expect([kindOf(k.planConv(fc).kernel), kindOf(k.planConv(map).kernel)]).toEqual(['gemv_cols', 'gemm']);
      const xt = new Float32Array(N * C);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) xt[c * N + n] = x[n * C + c];
      const yg = k.conv2d(fc, x, w, b, true); // (N, K)
      const ym = k.conv2d(map, xt, w, b, true); // (1, K, 1, N)
      const yt = new Float32Array(N * K);
      for (let n = 0; n < N; n++) for (let m = 0; m < K; m++) yt[n * K + m] = ym[m * N + n];
      expectIdentical(yg, yt, `${isa} FC 1x1 GEMV vs GEMM (seed ${seed})`);
    }
    // FC6-like 7x7 valid on N images (GEMV) vs the same 7x7 conv on the images side by side, a 7 × (7N + 6)
    // map, zeros on the right (GEMM): output column 7n sees exactly image n. Batch 1 too (the one-column GEMV).
    for (const N of [1, 4]) {
      const C = 12,
        K = 30;
      const x = uniform(N * C * 49, seed + 3);
      const w = uniform(K * C * 49, seed + 4, -0.07, 0.07);
      const b = uniform(K, seed + 5, -0.5, 0.5);
      const fc = { N, C, H: 7, W: 7, K, R: 7, S: 7, stride: 1, pad: 0 };
      const map = { N: 1, C, H: 7, W: 7 * N + 6, K, R: 7, S: 7, stride: 1, pad: 0 };
      expect(kindOf(k.planConv(map).kernel)).toBe('gemm');
      const xs = new Float32Array(C * 7 * (7 * N + 6));
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++)
          for (let h = 0; h < 7; h++)
            for (let v = 0; v < 7; v++) xs[(c * 7 + h) * (7 * N + 6) + 7 * n + v] = x[((n * C + c) * 7 + h) * 7 + v];
      const yg = k.conv2d(fc, x, w, b, true); // (N, K)
      const ym = k.conv2d(map, xs, w, b, true); // (1, K, 1, 7N)
      const Q = 7 * N;
      const yt = new Float32Array(N * K);
      for (let n = 0; n < N; n++) for (let m = 0; m < K; m++) yt[n * K + m] = ym[m * Q + 7 * n];
      expectIdentical(yg, yt, `${isa} FC6-like 7x7 batch ${N} GEMV vs GEMM (seed ${seed})`);
    }
  });
});

describe('cpu backend, every supported family', () => {
  const families = [...new Set(ALL.filter((k) => k.supported).map((k) => k.isa))];

  test.each(families.map((f) => [f] as const))(
    "'auto' plans Winograd F(4x4) where it serves, GEMM/GEMV elsewhere (%s)",
    (isa) => {
      const k = kernels({ isa, threads: THREADS });
      for (const c of convCases(...CPU_SUITES)) {
        const plan = k.planConv(c.s);
        if (winogradServes(c.s)) expect(plan.kernel).toBe(`conv2d_nchw_f32_3x3s1_winograd4x4__${isa}`);
        else expect([kindOf(plan.kernel), plan.kernel.endsWith(`__${isa}`)]).toEqual([gemmKernelKind(c.s), true]);
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

  const foreign = (['avx2', 'avx512', 'neon'] as const).filter((i) => !FAMILIES.includes(i));
  test.each(foreign.map((i) => [i] as const))(
    "forcing isa '%s' of another architecture is ERR_VGG_UNSUPPORTED naming the families compiled in",
    (isa) => {
      expect(() => kernels({ isa })).toThrow(
        expect.objectContaining({
          code: 'ERR_VGG_UNSUPPORTED',
          message: expect.stringContaining(`is not compiled into this binary (it holds ${FAMILIES.join(', ')})`),
        }),
      );
    },
  );

  test('an unknown isa or algorithm is ERR_VGG_INVALID_ARGUMENT naming the choices', () => {
    expect(() => kernels({ isa: 'sse9' as 'auto' })).toThrow(
      /isa: expected 'auto' \| 'scalar' \| 'avx2' \| 'avx512' \| 'neon', got string 'sse9'/,
    );
    expect(() => kernels({ convAlgorithm: 'fft' as 'auto' })).toThrow(
      expect.objectContaining({ code: 'ERR_VGG_INVALID_ARGUMENT', message: expect.stringContaining("'winograd4x4'") }),
    );
  });
});
