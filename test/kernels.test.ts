/**
 * Optimised CPU kernels (native/cpu) against the reference kernels (native/core/ref), for every ISA
 * family this CPU supports, over named shape suites (DESIGN.md habit 3). Outputs come back from the
 * binding pre-filled with NaN, so an element a kernel forgets to write fails the comparison.
 *
 * Data comes from a seeded PRNG; every failure message names the suite, the case and the seed.
 */
import { execFileSync } from 'child_process';

import { native, nativePath, NativeKernels as KernelsLike } from '../lib/native';

const addon = native();

type Isa = 'scalar' | 'avx2' | 'avx512';

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

// ---- conv cases -------------------------------------------------------------------------------------

interface ConvShape {
  N: number; C: number; H: number; W: number; K: number; R: number; S: number; stride: number; pad: number;
}
interface ConvCase {
  name: string;
  s: ConvShape;
  relu: boolean;
  bias: boolean;
}

function conv(name: string, N: number, C: number, H: number, W: number, K: number, R = 3, pad = 1, stride = 1,
  relu = true, bias = true): ConvCase {
  return { name, s: { N, C, H, W, K, R, S: R, stride, pad }, relu, bias };
}

const outHW = (s: ConvShape) => [Math.floor((s.H + 2 * s.pad - s.R) / s.stride) + 1, Math.floor((s.W + 2 * s.pad - s.S) / s.stride) + 1];

/** Every VGG16 conv layer's channels (paper Table 1, configuration D) at reduced spatial size. */
const VGG16_LAYERS: ConvCase[] = [
  conv('conv1_1 3->64 @14', 1, 3, 14, 14, 64),
  conv('conv1_2 64->64 @14', 1, 64, 14, 14, 64),
  conv('conv2_1 64->128 @14', 1, 64, 14, 14, 128),
  conv('conv2_2 128->128 @14', 1, 128, 14, 14, 128),
  conv('conv3_1 128->256 @7', 1, 128, 7, 7, 256),
  conv('conv3_2 256->256 @7', 1, 256, 7, 7, 256),
  conv('conv4_1 256->512 @7', 1, 256, 7, 7, 512),
  conv('conv4_2 512->512 @7', 1, 512, 7, 7, 512),
  conv('conv5_x 512->512 @4 batch 2', 2, 512, 4, 4, 512),
];

/**
 * Tile edges of every family at once: rows K around MR (4 scalar, 6 avx2, 8 avx512) and the primes 7,
 * 13, 31; columns N·P·Q around the vector width and NR (8/16 scalar, 8/16 avx2, 16/32/48 avx512) and
 * primes; reductions C·R·S around KC (256 scalar, 384 avx2/avx512).
 */
const TILE_EDGES: ConvCase[] = [
  conv('K=3 cols=7', 1, 5, 1, 7, 3),
  conv('K=5 cols=15', 1, 7, 3, 5, 5),
  conv('K=7 cols=17', 1, 6, 1, 17, 7),
  conv('K=9 cols=13', 1, 9, 13, 1, 9),
  conv('K=13 cols=31', 1, 11, 1, 31, 13),
  conv('K=17 cols=47', 1, 4, 1, 47, 17),
  conv('K=31 cols=49', 1, 8, 7, 7, 31),
  conv('K=47 cols=48', 1, 3, 6, 8, 47),
  conv('K=49 cols=33', 1, 10, 3, 11, 49),
  conv('K=6 cols=96+1 batch', 1, 5, 1, 97, 6),
  conv('K=8 cols=16x3 over batch 3', 3, 4, 4, 4, 8),
  conv('K=64 cols=2x49 (tiles straddle images)', 2, 16, 7, 7, 64),
  conv('Kdim=255 (1x1)', 1, 255, 5, 5, 17, 1, 0),
  conv('Kdim=257 (1x1)', 1, 257, 5, 5, 17, 1, 0),
  conv('Kdim=383 (1x1)', 1, 383, 5, 5, 17, 1, 0),
  conv('Kdim=384 (1x1)', 1, 384, 5, 5, 17, 1, 0),
  conv('Kdim=385 (1x1)', 1, 385, 5, 5, 17, 1, 0),
  conv('Kdim=769 (3x3, C=85 +4)', 1, 86, 4, 5, 19),
];

const SPECIAL: ConvCase[] = [
  conv('C=3 odd 13x11 batch 2', 2, 3, 13, 11, 64),
  conv('C=3 1x1', 1, 3, 9, 9, 10, 1, 0),
  conv('1x1 64->32 @14 batch 2', 2, 64, 14, 14, 32, 1, 0),
  conv('1x1 stride 2', 1, 16, 9, 9, 24, 1, 0, 2),
  conv('3x3 stride 2 pad 1', 1, 5, 9, 11, 7, 3, 1, 2),
  conv('5x5 pad 2', 1, 6, 8, 8, 20, 5, 2),
  conv('7x7 valid FC6-like batch 1 (GEMV)', 1, 64, 7, 7, 100, 7, 0),
  conv('7x7 valid FC6-like batch 3', 3, 64, 7, 7, 100, 7, 0),
  conv('FC-like 1x1 on 1x1 batch 1 (GEMV)', 1, 1024, 1, 1, 300, 1, 0),
  conv('FC-like 1x1 on 1x1 batch 2', 2, 1024, 1, 1, 300, 1, 0),
  conv('FC-like 1x1 on 1x1 batch 8', 8, 1024, 1, 1, 300, 1, 0),
  conv('FC-like 1x1 on 1x1 batch 17', 17, 515, 1, 1, 29, 1, 0),
  conv('3x3 pad 1 on 1x1 (GEMV, gathered column)', 1, 300, 1, 1, 13),
  conv('relu off', 1, 32, 6, 6, 40, 3, 1, 1, false),
  conv('bias null', 1, 32, 6, 6, 40, 3, 1, 1, true, false),
  conv('relu off, bias null', 2, 32, 5, 5, 40, 3, 1, 1, false, false),
];

/**
 * Winograd F(2x2,3x3) cases (3x3 stride 1 pad 1, C and K >= 64: the shapes the cpu backend sends to
 * conv2d_nchw_f32_3x3s1_winograd2x2): odd P and Q (clipped 2x2 tiles), batches whose tile blocks straddle
 * images, K not a multiple of MR, C across the KC = 384 block edge, 1x1 and 2x3 inputs (every tap padding).
 */
const WINOGRAD: ConvCase[] = [
  conv('wino C=64 K=64 @9x13 batch 3', 3, 64, 9, 13, 64),
  conv('wino C=64 K=65 @7x7', 1, 64, 7, 7, 65),
  conv('wino C=385 K=70 @5x6 batch 2', 2, 385, 5, 6, 70),
  conv('wino C=128 K=72 @2x3', 1, 128, 2, 3, 72),
  conv('wino C=64 K=64 @1x1', 1, 64, 1, 1, 64),
  conv('wino C=96 K=80 @31x29 (many tiles)', 1, 96, 31, 29, 80),
  conv('wino relu off, bias null', 1, 64, 6, 5, 64, 3, 1, 1, false, false),
];

interface ConvData {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array | null;
  seed: number;
}

function convData(c: ConvCase): ConvData {
  const s = c.s;
  const seed = seedOf(c.name);
  const kdim = s.C * s.R * s.S;
  // Weights ~ U(-a, a) with a = sqrt(3 / kdim): unit-variance pre-activations, outputs of order 1.
  const a = Math.sqrt(3 / kdim);
  return {
    x: uniform(s.N * s.C * s.H * s.W, seed, -1, 1),
    w: uniform(s.K * kdim, seed + 1, -a, a),
    b: c.bias ? uniform(s.K, seed + 2, -0.5, 0.5) : null,
    seed,
  };
}

/**
 * Tolerance of a float32 conv against the double-accumulated reference: max |y − ref| ≤ 1e-5 · √kdim ·
 * max(1, max|ref|). A float32 sum of kdim products whose rounding errors (unit roundoff u ≈ 6e-8) have
 * random signs drifts like u·√kdim·|partial sums|; 1e-5 ≈ 170u leaves an order of magnitude for the
 * different summation orders (KC blocks, vector lanes, FMA vs mul+add). It still catches a single
 * missing or doubled term: with the weights above one term is ~|w·x| ≈ 0.5·√(3/kdim), which exceeds
 * the bound for every kdim below ~7,000 (all cases here).
 */
function convTolerance(kdim: number, ref: Float32Array): number {
  let m = 0;
  for (const v of ref) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return 1e-5 * Math.sqrt(kdim) * Math.max(1, m);
}

/**
 * Recorded bounds for Winograd (both catch a missing or doubled term, ~0.5·√(3/kdim), by 1-2 orders of
 * magnitude). Observed on the WINOGRAD suite and every VGG16 layer shape (avx512, avx2, scalar, 2026-11-29):
 *
 * F(2x2,3x3): max |y − ref| ≤ convTolerance / 10 = 1e-6 · √kdim · max(1, max|ref|). Its transforms use only
 * the coefficients 0, ±1/2, ±1 (exact in float32): the input transform adds at most 4 inputs, the weight
 * transform (done in double) 9 weights, the output transform 9 of the 16 point GEMMs, and each point GEMM
 * is a chain of C FMAs, not 9·C. Observed: at most 0.12 of this bound (2.4e-6 for C=K=512 at 14x14),
 * 2.5-4x *below* the direct GEMM's error, whose single chain is 9x longer.
 *
 * F(4x4,3x3): max |y − ref| ≤ convTolerance / 4. Its transforms carry coefficients up to 5 (input), 8
 * (output) and 1/24 (weights), so rounding errors of the 36 point GEMMs are amplified: observed 4-8x the
 * direct GEMM's error, at most 0.11 of this bound (4.8e-5 for C=K=512 at 28x28).
 */
function winogradTolerance(kdim: number, ref: Float32Array): number {
  return convTolerance(kdim, ref) / 10;
}
function winograd4Tolerance(kdim: number, ref: Float32Array): number {
  return convTolerance(kdim, ref) / 4;
}

function describeCase(c: ConvCase, seed: number): string {
  const s = c.s;
  return `'${c.name}' N${s.N} C${s.C} ${s.H}x${s.W} -> K${s.K} ${s.R}x${s.S} s${s.stride} p${s.pad} relu=${c.relu} ` +
    `bias=${c.bias} (seed ${seed})`;
}

/** Throws with the first offending element; finite values within tol, non-finite ones identical. */
function expectClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], r = want[i];
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (!Object.is(g, r) && !(Number.isNaN(g) && Number.isNaN(r)))
        throw new Error(`${what}: element ${i} is ${g}, reference ${r}`);
      continue;
    }
    const d = Math.abs(g - r);
    if (d > worst) { worst = d; at = i; }
  }
  if (worst > tol) throw new Error(`${what}: max |diff| ${worst.toExponential(3)} at element ${at} (${got[at]} vs ` +
    `reference ${want[at]}) exceeds tolerance ${tol.toExponential(3)}`);
}

function expectIdentical(got: Float32Array, want: Float32Array, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (exact)`);
  }
}

// ---- the reference, computed once per case and shared by every ISA ---------------------------------

const reference = new addon.Kernels({ device: 'reference' });
const refCache = new Map<string, Float32Array>();

function refConv(c: ConvCase, d: ConvData): Float32Array {
  let y = refCache.get(c.name);
  if (!y) {
    y = reference.conv2d(c.s, d.x, d.w, d.b, c.relu);
    refCache.set(c.name, y);
  }
  return y;
}

const dataCache = new Map<string, ConvData>();
function dataFor(c: ConvCase): ConvData {
  let d = dataCache.get(c.name);
  if (!d) {
    d = convData(c);
    dataCache.set(c.name, d);
  }
  return d;
}

function checkConv(k: KernelsLike, c: ConvCase, tolerance = convTolerance): void {
  const d = dataFor(c);
  const want = refConv(c, d);
  const got = k.conv2d(c.s, d.x, d.w, d.b, c.relu);
  const [P, Q] = outHW(c.s);
  expect(got.length).toBe(c.s.N * c.s.K * P * Q);
  expectClose(got, want, tolerance(c.s.C * c.s.R * c.s.S, want), `conv2d ${describeCase(c, d.seed)}`);
}

/**
 * conv2d of each case on a cpu backend made with VGGNET_WINOGRAD=`mode` ('0': every conv on the direct
 * GEMM path; '2' / '4': Winograd F(2x2) / F(4x4) for the eligible ones). The backend reads the variable
 * from the real environment when it is made, and jest's process.env is a sandbox copy, so this runs in a
 * child Node process with the variable set; tensors travel as base64.
 */
function convWithWinogradMode(mode: '0' | '2' | '4', isa: Isa, threads: number, cases: ConvCase[]):
  { family: string; outs: Float32Array[] } {
  const b64 = (a: Float32Array | null) => (a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64') : null);
  const input = JSON.stringify({
    file: nativePath(), isa, threads,
    cases: cases.map((c) => { const d = dataFor(c); return { s: c.s, relu: c.relu, x: b64(d.x), w: b64(d.w), b: b64(d.b) }; }),
  });
  const child = `
    const req = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const f32 = (t) => { const b = Buffer.from(t, 'base64'); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
    const k = new (require(req.file).Kernels)({ device: 'cpu', isa: req.isa, threads: req.threads });
    const outs = req.cases.map((c) => { const y = k.conv2d(c.s, f32(c.x), f32(c.w), c.b ? f32(c.b) : null, c.relu);
      return Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString('base64'); });
    process.stdout.write(JSON.stringify({ family: k.info().kernelFamily, outs }));`;
  const out = execFileSync(process.execPath, ['-e', child], {
    input, env: { ...process.env, VGGNET_WINOGRAD: mode }, maxBuffer: 1 << 30,
  });
  const res = JSON.parse(out.toString()) as { family: string; outs: string[] };
  return {
    family: res.family,
    outs: res.outs.map((t) => { const b = Buffer.from(t, 'base64'); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }),
  };
}

// ---- which ISA families this CPU has -----------------------------------------------------------------

const cpu = addon.backends().cpu;
const ISAS: Isa[] = ['scalar', 'avx2', 'avx512'];
function lacks(isa: Isa): string | null {
  const f = cpu.features;
  if (isa === 'avx2' && !(f.avx2 && f.fma)) return 'cpuid reports no avx2+fma';
  if (isa === 'avx512' && !(f.avx512 && f.fma)) return 'cpuid reports no avx512f+bw+vl+dq (or no fma)';
  return null;
}

const THREADS = 2;

for (const isa of ISAS) {
  const why = lacks(isa);
  if (why) {
    // eslint-disable-next-line no-console
    console.log(`kernels.test: skipping isa '${isa}': ${why}`);
    describe.skip(`cpu kernels, isa ${isa} (${why})`, () => { test('skipped', () => undefined); });
    continue;
  }

  describe(`cpu kernels, isa ${isa}`, () => {
    let k: KernelsLike;
    let k1: KernelsLike;
    const WINO_CASES = [...VGG16_LAYERS.slice(1), ...WINOGRAD];  // conv1_1 has C=3: never Winograd
    let gemmPath: { family: string; outs: Float32Array[] };  // VGG16_LAYERS with VGGNET_WINOGRAD=0
    let wino2: { family: string; outs: Float32Array[] };     // WINO_CASES with VGGNET_WINOGRAD=2
    let wino4: { family: string; outs: Float32Array[] };     // WINO_CASES with VGGNET_WINOGRAD=4
    beforeAll(() => {
      k = new addon.Kernels({ device: 'cpu', isa, threads: THREADS });
      k1 = new addon.Kernels({ device: 'cpu', isa, threads: 1 });
      gemmPath = convWithWinogradMode('0', isa, THREADS, VGG16_LAYERS);
      wino2 = convWithWinogradMode('2', isa, THREADS, WINO_CASES);
      wino4 = convWithWinogradMode('4', isa, THREADS, WINO_CASES);
    });

    test('reports its kernel family and why', () => {
      const info = k.info();
      expect(info.name).toBe('cpu');
      expect(info.kernelFamily.startsWith(`${isa} (`)).toBe(true);
      expect(info.kernelFamily).toMatch(new RegExp(`gemm_f32_\\d+x\\d+__${isa}`));
      const names = `conv2d_nchw_f32_3x3s1_winograd2x2__${isa}, conv2d_nchw_f32_3x3s1_winograd4x4__${isa}`;
      expect(info.kernelFamily).toMatch(new RegExp(`${names} \\([24]x[24] in use for 3x3 s1 p1, C and K >= 64\\)`));
      expect(gemmPath.family).toContain(`${names} (off: VGGNET_WINOGRAD=0)`);
      expect(wino2.family).toContain(`${names} (2x2 in use for 3x3 s1 p1, C and K >= 64)`);
      expect(wino4.family).toContain(`${names} (4x4 in use for 3x3 s1 p1, C and K >= 64)`);
    });

    describe('conv2d: VGG16 layer shapes on the direct GEMM path (VGGNET_WINOGRAD=0, child process)', () => {
      test.each(VGG16_LAYERS.map((c, i) => [c.name, c, i] as const))('%s', (_n, c, i) => {
        const d = dataFor(c);
        const want = refConv(c, d);
        expect(gemmPath.outs[i].length).toBe(want.length);
        expectClose(gemmPath.outs[i], want, convTolerance(c.s.C * c.s.R * c.s.S, want), `conv2d (gemm path) ${describeCase(c, d.seed)}`);
      });
    });
    describe('conv2d: default backend on the Winograd shapes, the looser (4x4) recorded bound', () => {
      test.each(WINO_CASES.map((c) => [c.name, c] as const))('%s', (_n, c) => checkConv(k, c, winograd4Tolerance));
    });
    for (const [mode, tol] of [['2', winogradTolerance], ['4', winograd4Tolerance]] as const) {
      describe(`conv2d: winograd${mode}x${mode} (VGGNET_WINOGRAD=${mode}, child process), recorded bound`, () => {
        test.each(WINO_CASES.map((c, i) => [c.name, c, i] as const))('%s', (_n, c, i) => {
          const d = dataFor(c);
          const want = refConv(c, d);
          const got = (mode === '2' ? wino2 : wino4).outs[i];
          expectClose(got, want, tol(c.s.C * c.s.R * c.s.S, want), `conv2d (winograd${mode}x${mode}) ${describeCase(c, d.seed)}`);
        });
      });
    }

    describe('conv2d: VGG16 layer shapes', () => {
      test.each(VGG16_LAYERS.map((c) => [c.name, c] as const))('%s', (_n, c) => checkConv(k, c));
    });
    describe('conv2d: tile edges', () => {
      test.each(TILE_EDGES.map((c) => [c.name, c] as const))('%s', (_n, c) => checkConv(k, c));
    });
    describe('conv2d: C=3, 1x1, 7x7 valid, FC-like, relu/bias variants', () => {
      test.each(SPECIAL.map((c) => [c.name, c] as const))('%s', (_n, c) => checkConv(k, c));
    });

    test('conv2d: NaN and Inf in the input propagate like the reference', () => {
      const c = conv('nonfinite input', 2, 9, 6, 7, 20);
      const d = convData(c);
      d.x[5] = NaN;
      d.x[6 * 7 * 9 + 20] = Infinity;
      d.x[d.x.length - 1] = -Infinity;
      const want = reference.conv2d(c.s, d.x, d.w, d.b, c.relu);
      const got = k.conv2d(c.s, d.x, d.w, d.b, c.relu);
      let nonfinite = 0;
      for (const v of want) if (!Number.isFinite(v)) nonfinite++;
      expect(nonfinite).toBeGreaterThan(0);
      expectClose(got, want, convTolerance(9 * 9, want), `conv2d ${describeCase(c, d.seed)}`);
    });

    test(`conv2d: threads=1 and threads=${THREADS} give bit-identical results`, () => {
      // Each output is one sequential chain of FMAs in k order (gemm), or a fixed lane order (gemv), never
      // depending on how rows and columns are split over threads.
      for (const c of [VGG16_LAYERS[1], VGG16_LAYERS[8], SPECIAL[7], SPECIAL[10], TILE_EDGES[11], SPECIAL[6],
        WINOGRAD[0], WINOGRAD[2], WINOGRAD[5]]) {
        const d = dataFor(c);
        expectIdentical(k1.conv2d(c.s, d.x, d.w, d.b, c.relu), k.conv2d(c.s, d.x, d.w, d.b, c.relu),
          `conv2d threads 1 vs ${THREADS} ${describeCase(c, d.seed)}`);
      }
    });

    describe('maxpool2d: exact, NaN and signed zeros included', () => {
      const cases = [
        { name: '2x2 s2 even', N: 1, C: 3, H: 8, W: 8, window: 2, stride: 2 },
        { name: '2x2 s2 odd (floor)', N: 2, C: 5, H: 7, W: 9, window: 2, stride: 2 },
        { name: '3x3 s2', N: 1, C: 4, H: 9, W: 10, window: 3, stride: 2 },
        { name: '3x3 s1', N: 1, C: 2, H: 6, W: 5, window: 3, stride: 1 },
        { name: '1x1 s1', N: 1, C: 2, H: 3, W: 4, window: 1, stride: 1 },
        { name: 'VGG 64ch @28', N: 2, C: 64, H: 28, W: 28, window: 2, stride: 2 },
        { name: '2x2 s2 wide rows (vector body + tail)', N: 1, C: 3, H: 6, W: 75, window: 2, stride: 2 },
      ];
      test.each(cases.map((c) => [c.name, c] as const))('%s', (_n, s) => {
        const seed = seedOf(`pool ${s.name}`);
        const r = rng(seed);
        const n = s.N * s.C * s.H * s.W;
        const x = new Float32Array(n);
        const specials = [NaN, -0, 0, -Infinity, Infinity];
        for (let i = 0; i < n; i++) {
          const u = r();
          x[i] = u < 0.05 ? specials[Math.floor(r() * specials.length)] : u < 0.1 ? Math.round(r() * 4 - 2) : r() * 2 - 1;
        }
        // A window made only of -Inf and one of only zeros of both signs.
        x[0] = x[1] = x[s.W] = x[s.W + 1] = -Infinity;
        if (s.W > 3 && s.window === 2) { x[2] = -0; x[3] = 0; x[s.W + 2] = -0; x[s.W + 3] = -0; }
        const want = reference.maxpool2d(s, x);
        const got = k.maxpool2d(s, x);
        expectIdentical(got, want, `maxpool2d '${s.name}' (seed ${seed})`);
      });
    });

    test('lrn: size 5 (AlexNet constants), size 3 and even size 4, channel edges', () => {
      for (const [dims, p] of [
        [[2, 7, 5, 5], { size: 5, alpha: 1e-4, beta: 0.75, k: 2 }],
        [[1, 64, 14, 14], { size: 5, alpha: 1e-4, beta: 0.75, k: 2 }],
        [[1, 9, 3, 4], { size: 3, alpha: 0.5, beta: 0.75, k: 1 }],
        [[1, 6, 4, 4], { size: 4, alpha: 0.2, beta: 0.5, k: 1 }],
      ] as [number[], { size: number; alpha: number; beta: number; k: number }][]) {
        const seed = seedOf(`lrn ${dims} ${p.size}`);
        const x = uniform(dims.reduce((a, b) => a * b, 1), seed, -3, 3);
        const want = reference.lrn(dims, p, x);
        const got = k.lrn(dims, p, x);
        // float32 square-sum of <= size terms and one powf: a few ulps of relative error.
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1e-30, Math.abs(want[i])));
        if (!(worst <= 1e-5)) throw new Error(`lrn ${JSON.stringify(dims)} ${JSON.stringify(p)} (seed ${seed}): max rel diff ${worst}`);
      }
    });

    test('softmax: rows sum to 1, NaN/Inf rows like the reference', () => {
      const rows = 6, cols = 1000;
      const seed = seedOf('softmax');
      const x = uniform(rows * cols, seed, -20, 20);
      x[1 * cols + 17] = NaN;
      x[2 * cols + 3] = Infinity;
      for (let c = 0; c < cols; c++) x[3 * cols + c] = -Infinity;
      x[4 * cols + 999] = 80; // a large logit must not overflow
      const want = reference.softmax(rows, cols, x);
      const got = k.softmax(rows, cols, x);
      expectClose(got, want, 1e-6, `softmax (seed ${seed})`);
      let sum = 0;
      for (let c = 0; c < cols; c++) sum += got[c];
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    });

    test('spatialMean and flipW', () => {
      for (const dims of [[2, 3, 5, 7], [1, 1000, 2, 3], [1, 64, 56, 56]]) {
        const seed = seedOf(`mean ${dims}`);
        const x = uniform(dims.reduce((a, b) => a * b, 1), seed, -2, 2);
        expectClose(k.spatialMean(dims, x), reference.spatialMean(dims, x), 1e-6, `spatialMean ${dims} (seed ${seed})`);
        expectIdentical(k.flipW(dims, x), reference.flipW(dims, x), `flipW ${dims} (seed ${seed})`);
      }
    });
  });
}

describe('cpu backend options', () => {
  test('auto picks the best family cpuid reports', () => {
    const k = new addon.Kernels({ device: 'cpu' });
    expect(k.info().kernelFamily.startsWith(cpu.kernelFamily.replace('+fma', ''))).toBe(true);
  });

  const missing = ISAS.filter((i) => lacks(i) !== null);
  if (missing.length > 0) {
    test.each(missing.map((i) => [i] as const))("forcing isa '%s' this CPU lacks is ERR_VGG_UNSUPPORTED", (isa) => {
      expect(() => new addon.Kernels({ device: 'cpu', isa })).toThrow(expect.objectContaining({ code: 'ERR_VGG_UNSUPPORTED' }));
    });
  } else {
    test('this CPU has every family; an unknown isa is ERR_VGG_INVALID_ARGUMENT', () => {
      expect(() => new addon.Kernels({ device: 'cpu', isa: 'sse9' })).toThrow(
        expect.objectContaining({ code: 'ERR_VGG_INVALID_ARGUMENT' }));
    });
  }
});
