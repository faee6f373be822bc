/**
 * Dynamic batching's contract (issue 9): each image of a batch gets exactly the bits it gets when run alone.
 * For every CPU kernel family this host supports, whole networks (the shared tiny and small configs, and
 * vgg11 in 'fc' mode with its full-size FC layers: 25088 → 4096 → 4096 → 1000) run batches of 2, 3, 5, 8
 * and 17 images and each row is compared bit for bit with the same image's single run.
 *
 * Why it holds on the CPU: every conv and FC path (blocked GEMM, the GEMV of FC layers at any batch,
 * Winograd per tile) computes an output from that image's data alone, in an order that does not depend on
 * the batch (native/cpu/cpu_kernels.h). The reference backend sums each output in double, also per image.
 * The CUDA backend is not checked here (no GPU on the build machines).
 */
import { LayerWeights, Model, randomWeights, Tensor, VggConfig } from '../lib';
import type { CpuIsa, ModelOptions } from '../lib/options';
import { fillUniform } from '../lib/random';
import { small, tiny } from './support/configs';
import { testing } from './support/kernels';

const FAMILIES = [
  ...new Set(
    testing()
      .cpuKernels()
      .filter((k) => k.supported)
      .map((k) => k.isa),
  ),
];
const BATCHES = [2, 3, 5, 8, 17];
const N_MAX = Math.max(...BATCHES);

/** Throws at the first element whose bits differ (NaN payloads included). */
function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++)
    if (g[i] !== w[i]) throw new Error(`${what}: element ${i} is ${got[i]}, alone it is ${want[i]} (bits differ)`);
}

/**
 * Runs N_MAX images one at a time, then the first N of them as one batch for each N in BATCHES, on a model
 * of `arch` with `weights` on the CPU forced to `isa` (or on the reference backend); checks every row.
 * Returns the model's plan at batch 8.
 */
async function checkNetwork(
  arch: string | VggConfig,
  weights: LayerWeights[],
  isa: string,
  mode: 'fc' | 'dense',
  [H, W]: [number, number],
): Promise<{ name: string; kernel: string }[]> {
  const options: ModelOptions =
    isa === 'reference' ? { device: 'reference' } : { device: 'cpu', isa: isa as CpuIsa, threads: 2 };
  const model = await Model.create(arch, weights, options);
  try {
    const img = 3 * H * W;
    const x = fillUniform(new Float32Array(N_MAX * img), -1, 1, 11);
    const alone: Float32Array[] = [];
    for (let n = 0; n < N_MAX; n++)
      alone.push((await model.forward(new Tensor([1, 3, H, W], x.slice(n * img, (n + 1) * img)), { mode })).data);
    for (const N of BATCHES) {
      const y = (await model.forward(new Tensor([N, 3, H, W], x.slice(0, N * img)), { mode })).data;
      const per = y.length / N;
      for (let n = 0; n < N; n++)
        expectSameBits(y.subarray(n * per, (n + 1) * per), alone[n], `${isa} ${mode} batch ${N}, image ${n}`);
    }
    return model.plan([8, 3, H, W], mode).map((p) => ({ name: p.name, kernel: p.kernel }));
  } finally {
    model.dispose();
  }
}

const fcKernels = (plan: { name: string; kernel: string }[]) =>
  plan.filter((p) => /^fc\d$/.test(p.name)).map((p) => p.kernel);

describe.each(FAMILIES.map((f) => [f] as const))('batch of N = each image alone, bit for bit (%s)', (isa) => {
  test('tiny (32×32, 3×3 and 1×1 convs, two hidden FC layers), fc mode', async () => {
    const plan = await checkNetwork(tiny, randomWeights(tiny, 5), isa, 'fc', [32, 32]);
    // At batch 8 the FC layers run the column-grouped GEMV.
    for (const k of fcKernels(plan)) expect(k).toMatch(new RegExp(`^gemv_f32_\\d+xk_n\\d+__${isa}$`));
  });

  test('tiny, dense mode at 64×48 (FC6 as a conv over a 5×3 score map: the blocked GEMM)', async () => {
    const plan = await checkNetwork(tiny, randomWeights(tiny, 6), isa, 'dense', [64, 48]);
    expect(fcKernels(plan)[0]).toMatch(new RegExp(`^gemm_f32_\\d+x\\d+__${isa}$`));
  });

  test('small (16×16, FC6 a 4×4 kernel over 12 channels), fc mode', async () => {
    await checkNetwork(small, randomWeights(small, 7), isa, 'fc', [16, 16]);
  });
});

test('the reference backend (direct loops, double sums per output): tiny, fc mode', async () => {
  const plan = await checkNetwork(tiny, randomWeights(tiny, 8), 'reference', 'fc', [32, 32]);
  expect(fcKernels(plan)).toEqual(['ref::conv2d', 'ref::conv2d', 'ref::conv2d']);
});

describe('vgg11 (config A) at 224×224, fc mode: full-size FC layers', () => {
  let weights: LayerWeights[];
  beforeAll(() => {
    weights = randomWeights('vgg11', 3);
  }, 120_000);

  test.each(FAMILIES.map((f) => [f] as const))(
    '%s: batches 2, 3, 5, 8, 17 give each image its single-run bits',
    async (isa) => {
      const plan = await checkNetwork('vgg11', weights, isa, 'fc', [224, 224]);
      const fc = fcKernels(plan);
      expect(fc).toHaveLength(3);
      for (const k of fc) expect(k).toMatch(new RegExp(`^gemv_f32_\\d+xk_n\\d+__${isa}$`));
    },
    600_000,
  );
});
