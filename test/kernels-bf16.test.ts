/**
 * The bf16 CPU kernels (precision 'bf16': gemm_bf16_*, gemv_bf16_* of the avx512 family, AVX512_BF16) against
 * their plain reference: the reference backend's conv (double sums) on the same data with x and w rounded to
 * bf16 as the kernels round them (round to nearest even, subnormals flushed). Only the fp32 accumulation of
 * exact bf16·bf16 products differs, so the fp32 GEMM's tolerance applies. Cases: the shared shape suites
 * (test/cases/), outputs pre-filled with NaN by the testing addon, seeded data (the seed is in each message).
 * On a CPU without AVX512_BF16 the kernel tests are skipped with that reason, and what is checked instead is
 * that asking for bf16 is a coded UnsupportedError.
 */
import { UnsupportedError } from '../lib';
import { native } from '../lib/native';
import { roundToBf16 } from './support/bf16';
import { ConvShape, convCases, outHW } from './support/cases';
import { Kernels, kernels, testing } from './support/kernels';
import { testIf } from './support/skip';

const features = native().backends().cpu.features;
const HAS_BF16 = features.avx512 && features.fma && features.avx512bf16;
const NO_BF16 = 'cpuid reports no avx512 family with AVX512_BF16';
const THREADS = 2;

// ---- data and the bf16 reference ---------------------------------------------------------------------

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

interface Data {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array | null;
  seed: number;
}
function dataFor(name: string, s: ConvShape, bias: boolean, nonfinite: boolean): Data {
  const seed = seedOf(`bf16 ${name}`);
  const kdim = s.C * s.R * s.S;
  const a = Math.sqrt(3 / kdim); // unit-variance pre-activations
  const x = uniform(s.N * s.C * s.H * s.W, seed);
  if (nonfinite) {
    x[5] = NaN;
    x[s.H * s.W * s.C + 20] = Infinity;
    x[x.length - 1] = -Infinity;
  }
  return { x, w: uniform(s.K * kdim, seed + 1, -a, a), b: bias ? uniform(s.K, seed + 2, -0.5, 0.5) : null, seed };
}

/**
 * Recorded bound: max |y − ref| ≤ 5e-7·√kdim·max(1, max|ref|), 1/20 of the fp32 GEMM's (kernels.test.ts).
 * The products of bf16 operands are exact in fp32, so only the fp32 sums round: observed (Zen 5, 2026-12-02)
 * at most 0.0027 of the fp32 GEMM's bound on these suites, i.e. ≤ 0.054 of this one. A kernel that rounded
 * by truncation instead of to nearest even, or skipped a rounding, is off by ~2⁻⁹ of |w·x| per term: two
 * orders of magnitude over this bound.
 */
function tolerance(kdim: number, ref: Float32Array): number {
  let m = 0;
  for (const v of ref) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return 5e-7 * Math.sqrt(kdim) * Math.max(1, m);
}

/** max |got − want| over finite values (non-finite ones must match), or throws naming the element. */
function maxDiff(got: Float32Array, want: Float32Array, what: string): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i],
      r = want[i];
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (!Object.is(g, r) && !(Number.isNaN(g) && Number.isNaN(r)))
        throw new Error(`${what}: element ${i} is ${g}, reference ${r}`);
      continue;
    }
    worst = Math.max(worst, Math.abs(g - r));
  }
  return worst;
}

function expectIdentical(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (exact)`);
}

const gemvShaped = (s: ConvShape) => outHW(s)[0] === 1 && outHW(s)[1] === 1;
/** The bf16 kernel the backend plans for a GEMM-algorithm layer of shape s. */
const expectedKernel = (s: ConvShape) =>
  !gemvShaped(s)
    ? 'gemm_bf16_8x48__avx512bf16'
    : s.N === 1
      ? 'gemv_bf16_8xk__avx512bf16'
      : 'gemv_bf16_8xk_n8__avx512bf16';

// ---- the kernels against the reference ----------------------------------------------------------------

const CASES = convCases('vgg16', 'tile_edges', 'geometry', 'fc');
const BF16 = testing()
  .cpuKernels()
  .filter((k) => k.precision === 'bf16');
const KERNELS = BF16.map((k) => k.name);

describe('bf16 kernels vs the reference on bf16-rounded operands', () => {
  let k: Kernels, k1: Kernels, ref: Kernels;
  beforeAll(() => {
    ref = kernels({ device: 'reference', convAlgorithm: 'auto' });
    if (!HAS_BF16) return;
    k = kernels({ precision: 'bf16', convAlgorithm: 'gemm', threads: THREADS });
    k1 = kernels({ precision: 'bf16', convAlgorithm: 'gemm', threads: 1 });
  });
  /** Worst |diff| / tolerance per kernel, printed at the end (the recorded bound's margin). */
  const worst = new Map<string, number>();
  afterAll(() => {
    if (worst.size)
      console.log(`bf16 kernels, worst max|diff| / tolerance: ${JSON.stringify(Object.fromEntries(worst))}`);
  });

  test('the kernel list holds the three bf16 kernels (x86-64), supported exactly when cpuid has AVX512_BF16', () => {
    if (process.arch !== 'x64') return expect(BF16).toEqual([]);
    expect(KERNELS).toEqual([
      'gemm_bf16_8x48__avx512bf16',
      'gemv_bf16_8xk__avx512bf16',
      'gemv_bf16_8xk_n8__avx512bf16',
    ]);
    for (const k of BF16)
      expect([k.name, k.isa, k.algorithm, k.supported]).toEqual([k.name, 'avx512', 'gemm', HAS_BF16]);
  });

  test('every bf16 kernel serves some cases of the shared list', () => {
    for (const name of KERNELS)
      expect(CASES.filter((c) => expectedKernel(c.s) === name).length).toBeGreaterThanOrEqual(3);
  });

  testIf(HAS_BF16, NO_BF16).each(CASES.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const d = dataFor(c.name, c.s, c.bias, c.nonfinite);
    const kernel = k.planConv(c.s).kernel;
    expect(kernel).toBe(expectedKernel(c.s));
    const want = ref.conv2d(c.s, roundToBf16(d.x), roundToBf16(d.w), d.b, c.relu);
    const got = k.conv2d(c.s, d.x, d.w, d.b, c.relu);
    const what = `${kernel} '${c.name}' N${c.s.N} C${c.s.C} ${c.s.H}x${c.s.W} -> K${c.s.K} ${c.s.R}x${c.s.S} (seed ${d.seed})`;
    const diff = maxDiff(got, want, what);
    const tol = tolerance(c.s.C * c.s.R * c.s.S, want);
    worst.set(kernel, Math.max(worst.get(kernel) ?? 0, diff / tol));
    if (diff > tol) throw new Error(`${what}: max |diff| ${diff.toExponential(3)} exceeds ${tol.toExponential(3)}`);
  });

  testIf(HAS_BF16, NO_BF16)(`threads=1 and threads=${THREADS} give bit-identical results`, () => {
    for (const c of CASES.filter((_, i) => i % 3 === 0)) {
      const d = dataFor(c.name, c.s, c.bias, c.nonfinite);
      expectIdentical(
        k1.conv2d(c.s, d.x, d.w, d.b, c.relu),
        k.conv2d(c.s, d.x, d.w, d.b, c.relu),
        `${expectedKernel(c.s)} '${c.name}' threads 1 vs ${THREADS}`,
      );
    }
  });

  testIf(HAS_BF16, NO_BF16)("the rounding is the kernels': one bf16 weight and input give their exact product", () => {
    // 1 + 2⁻⁸ + 2⁻¹⁰ rounds up to 1 + 2⁻⁷ (nearest even of the bf16 grid); 1 + 2⁻⁸ (a tie) rounds to 1.
    const s = { N: 1, C: 2, H: 1, W: 1, K: 1, R: 1, S: 1, stride: 1, pad: 0 };
    const y = k.conv2d(s, Float32Array.of(1 + 2 ** -8 + 2 ** -10, 1 + 2 ** -8), Float32Array.of(1, 1), null, false);
    expect(y[0]).toBe(1 + 2 ** -7 + 1);
  });
});

// ---- batch invariance (the FC paths: one column, column groups, two passes) -----------------------------

describe('bf16: an image gets the same bits alone and in any batch', () => {
  const SHAPES: [string, ConvShape][] = [
    [
      'FC 1x1 C=1030 K=203 (3 KC blocks, odd pairs)',
      { N: 1, C: 1031, H: 1, W: 1, K: 203, R: 1, S: 1, stride: 1, pad: 0 },
    ],
    ['FC6-like 7x7 valid C=16 K=53', { N: 1, C: 16, H: 7, W: 7, K: 53, R: 7, S: 7, stride: 1, pad: 0 }],
    ['3x3 pad 1 on 1x1 (gathered) C=90 K=11', { N: 1, C: 90, H: 1, W: 1, K: 11, R: 3, S: 3, stride: 1, pad: 1 }],
  ];
  testIf(HAS_BF16, NO_BF16).each(SHAPES)('%s, batches 2, 5, 8, 17', (name, s0) => {
    const k = kernels({ precision: 'bf16', threads: THREADS });
    const d = dataFor(name, { ...s0, N: 17 }, true, false);
    const img = s0.C * s0.H * s0.W,
      out = s0.K;
    const alone = Array.from({ length: 17 }, (_, n) =>
      k.conv2d({ ...s0, N: 1 }, d.x.subarray(n * img, (n + 1) * img), d.w, d.b, true),
    );
    for (const N of [2, 5, 8, 17]) {
      const y = k.conv2d({ ...s0, N }, d.x.subarray(0, N * img), d.w, d.b, true);
      for (let n = 0; n < N; n++)
        expectIdentical(y.subarray(n * out, (n + 1) * out), alone[n], `${name} batch ${N} image ${n}`);
    }
  });
});

// ---- what is refused ---------------------------------------------------------------------------------

describe('bf16 is opt-in and never a silent fp32', () => {
  testIf(!HAS_BF16, 'this CPU has AVX512_BF16')(
    'without AVX512_BF16, bf16 on the CPU is an UnsupportedError naming it',
    () => {
      expect(() => kernels({ precision: 'bf16' })).toThrow(UnsupportedError);
      expect(() => kernels({ precision: 'bf16' })).toThrow(/AVX512_BF16/);
    },
  );
  testIf(HAS_BF16 && features.avx2, NO_BF16)('with another kernel family (isa avx2) it is an UnsupportedError', () => {
    let err: unknown;
    try {
      kernels({ precision: 'bf16', isa: 'avx2' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as { code: string }).code).toBe('ERR_VGG_UNSUPPORTED');
    expect((err as Error).message).toMatch(/bf16.*avx512 kernel family.*'avx2\+fma'/);
  });
  test("'fp16' on the CPU is an UnsupportedError (no fp16 CPU kernels)", () => {
    expect(() => kernels({ precision: 'fp16' })).toThrow(UnsupportedError);
    expect(() => kernels({ precision: 'fp16' })).toThrow(/'fp16' has no CPU kernels/);
  });
  test("'tf32' and 'fp32' on the CPU run the fp32 kernels, bit for bit the same", () => {
    const s = { N: 2, C: 37, H: 9, W: 8, K: 19, R: 3, S: 3, stride: 1, pad: 1 };
    const d = dataFor('tf32', s, true, false);
    const a = kernels({ precision: 'tf32', convAlgorithm: 'gemm' });
    const b = kernels({ precision: 'fp32', convAlgorithm: 'gemm' });
    expect(a.planConv(s).kernel).toMatch(/^gemm_f32_/);
    expectIdentical(a.conv2d(s, d.x, d.w, d.b, true), b.conv2d(s, d.x, d.w, d.b, true), 'tf32 vs fp32');
  });
});
