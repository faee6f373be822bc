// Bounded property tests (fast-check) of what issue 11 asks of every input: a result or a coded VggError,
// never another error, a crash or a hang. The long runs are `npm run fuzz` (fuzz/run.ts, child processes).
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { loadWeights, Model, Tensor, VggError } from '../lib';
import { Format, mutant } from '../fuzz/mutate';
import { EXTENSION, seedFile } from '../fuzz/seeds';
import { native } from '../lib/native';
import { nativeLayer } from '../lib/model';
import { layerProgram, weightShapes } from '../lib/topology';
import { small } from './support/configs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-fuzz-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** 'ok', or the code of the VggError thrown; anything else is rethrown (a failed property). */
async function outcome(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (e instanceof VggError && typeof e.code === 'string') return e.code;
    throw e;
  }
}

// Keras files open the HDF5 library in a thread of their own each (≈ 0.5 s): fewer runs.
const RUNS: [Format, number][] = [
  ['safetensors', 300],
  ['onnx', 300],
  ['pth-zip', 300],
  ['pth-legacy', 300],
  ['keras', 20],
  ['caffe', 300],
];
describe.each(RUNS)('mutated %s files', (format, numRuns) => {
  const seed = seedFile(format);
  test('load → create → forward: a result or a coded error', async () => {
    const file = path.join(dir, `m${EXTENSION[format]}`);
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (s) => {
        fs.writeFileSync(file, mutant(format, seed, s, 0));
        const o = await outcome(async () => {
          const w = await loadWeights(file);
          const m = await Model.create(w.config, w.weights, { device: 'cpu', threads: 1 });
          try {
            const { inChannels: c, inputSize: n } = w.config;
            await m.forward(new Tensor([1, c, n, n], new Float32Array(c * n * n)));
          } finally {
            m.dispose();
          }
        });
        seen.set(o, (seen.get(o) ?? 0) + 1);
      }),
      { numRuns, seed: 11 },
    );
    // The mutations reach both sides: some files still load, most are refused with a code.
    expect(seen.get('ok')).toBeGreaterThan(0);
    expect(seen.get('ERR_VGG_FORMAT')).toBeGreaterThan(0);
  }, 120000);
});

describe('the native boundary with arbitrary arguments', () => {
  const layers = layerProgram(small).map(nativeLayer);
  const options = {
    device: 'cpu',
    threads: 1,
    isa: 'auto',
    precision: 'tf32',
    convAlgorithm: 'auto',
    memoryBudget: 0,
    cudaGraphs: true,
  };
  const arbitrary = fc.oneof(
    fc.anything(),
    fc.array(fc.integer({ min: -2, max: 1 << 20 }), { maxLength: 6 }),
    fc.float32Array({ maxLength: 64 }),
  );

  test('forward, plan, memory with arbitrary dims and data: a result or a coded error', () => {
    const shapes = weightShapes(small);
    const net = new (native().Network)(
      options as never,
      layers,
      shapes.map((s) => new Float32Array(s.weight.reduce((a, b) => a * b, 1))),
      shapes.map((s) => new Float32Array(s.bias[0])),
    );
    fc.assert(
      fc.property(arbitrary, arbitrary, (dims, x) => {
        for (const call of [
          () => net.forwardSync(dims as never, x as never),
          () => net.plan(dims as never),
          () => net.memory(dims as never),
        ])
          try {
            call();
          } catch (e) {
            if (!(e instanceof VggError)) throw e;
          }
      }),
      { numRuns: 2000, seed: 11 },
    );
    net.dispose();
  });

  test('the constructor with arbitrary options, layers, weights: a network or a coded error', () => {
    fc.assert(
      fc.property(
        fc.record({
          opts: fc.oneof(fc.constant(options), fc.anything()),
          layers: fc.oneof(fc.constant(layers), fc.anything()),
        }),
        arbitrary,
        ({ opts, layers: l }, w) => {
          try {
            new (native().Network)(opts as never, l as never, [w] as never, [w] as never).dispose();
          } catch (e) {
            if (!(e instanceof VggError)) throw e;
          }
        },
      ),
      { numRuns: 1000, seed: 11 },
    );
  });
});
