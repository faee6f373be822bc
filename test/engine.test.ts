// The engine: topologies as data, the paper's totals, both forward modes, batches, planning, bad input.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import {
  ARCHS,
  DisposedError,
  InvalidArgumentError,
  layerProgram,
  Model,
  randomWeights,
  resolveConfig,
  summary,
  Tensor,
  VggConfig,
} from '../lib';
import { fillUniform } from '../lib/random';
import { testIf } from './support/skip';
import { tiny } from './support/configs';
import { maxRelErr } from './support/compare';

// Table 2 of the paper gives parameters in millions; these are the exact counts (torchvision agrees for
// A, B, D, E). GMACs at 224×224: the sum over layers of P·Q·K·C·R·S.
const TOTALS: [string, number, string][] = [
  ['vgg11', 132_863_336, '7.609'],
  ['vgg11_lrn', 132_863_336, '7.609'],
  ['vgg13', 133_047_848, '11.308'],
  ['vgg16_c', 133_638_952, '11.771'],
  ['vgg16', 138_357_544, '15.470'],
  ['vgg19', 143_667_240, '19.632'],
];

function input(dims: number[], seed: number): Tensor {
  return new Tensor(dims, fillUniform(new Float32Array(dims.reduce((a, b) => a * b, 1)), -1, 1, seed));
}

describe('topologies (paper Table 1) and totals (Table 2)', () => {
  test.each(TOTALS)('%s: %d parameters, %s GMACs at 224', (arch, params, gmacs) => {
    const s = summary(arch);
    expect(s.totalParams).toBe(params);
    expect((s.totalMacs / 1e9).toFixed(3)).toBe(gmacs);
  });

  test('paper letters are aliases', () => {
    expect(resolveConfig('D')).toBe(ARCHS.vgg16);
    expect(resolveConfig('A-LRN')).toBe(ARCHS.vgg11_lrn);
    expect(resolveConfig('e')).toBe(ARCHS.vgg19);
    expect(() => resolveConfig('F')).toThrow(InvalidArgumentError);
  });

  test('C has 1×1 convs as the third conv of stages 3–5; A-LRN has LRN after conv1_1', () => {
    const c = layerProgram(ARCHS.vgg16_c).filter(
      (s) => s.kind === 'conv' && s.kernel === 1 && !s.name.startsWith('fc'),
    );
    expect(c.map((s) => s.name)).toEqual(['conv3_3', 'conv4_3', 'conv5_3']);
    const lrn = layerProgram(ARCHS.vgg11_lrn);
    expect(lrn[1]).toMatchObject({ kind: 'lrn', size: 5, alpha: 1e-4, beta: 0.75, k: 2 });
  });

  test('summary rows follow P = floor((H + 2p − k)/s) + 1; dense evaluation at 384 gives a 6×6 score map', () => {
    const s = summary('vgg16', 384);
    expect(s.layers.find((l) => l.name === 'pool5')!.output).toEqual([12, 12, 512]);
    expect(s.layers.find((l) => l.name === 'fc8')).toMatchObject({ op: 'fc-dense', output: [6, 6, 1000] });
    expect(summary('vgg16').layers.find((l) => l.name === 'fc6')).toMatchObject({
      op: 'fc',
      output: [1, 1, 4096],
      params: 102_764_544,
    });
    expect(() => summary('vgg16', 200)).toThrow(
      /input: 200×200 is too small for vgg16: fc6 needs at least 7×7, got 6×6 \(minimum input 224\)/,
    );
    expect(() => summary('vgg16', 20)).toThrow(/pool5 needs at least 2×2, got 1×1/);
  });

  test("the model's result dims (inferred in JS) are the summary's last row at every size", async () => {
    const m = await Model.random(tiny, 1, { device: 'cpu' });
    for (const [h, w] of [
      [32, 32],
      [40, 56],
      [63, 33],
      [96, 32],
    ]) {
      const [oh, ow, k] = summary(tiny, [h, w]).layers.at(-1)!.output;
      expect(m.outputShape([2, 3, h, w], 'dense')).toEqual([2, k, oh, ow]);
      expect(m.plan([2, 3, h, w], 'dense').at(-1)!.output).toEqual([2, k, oh, ow]); // the native planner agrees
    }
    expect(m.outputShape([5, 3, 32, 32])).toEqual([5, 7]);
    m.dispose();
  });

  test('custom configs are validated', () => {
    expect(() => Model.randomSync({ ...tiny, inputSize: 30 })).toThrow(/not divisible by 2\^3/);
    expect(() => Model.randomSync({ ...tiny, stages: [[8], []] })).toThrow(/stages\[1\]/);
    expect(() => Model.randomSync({ ...tiny, fc: [0] })).toThrow(/config.fc\[0\]/);
  });
});

describe('forward on the CPU', () => {
  const weights = randomWeights(tiny, 7);
  const model = Model.createSync(tiny, weights, { device: 'cpu' });
  const ref = Model.createSync(tiny, weights, { device: 'reference' });
  afterAll(() => {
    model.dispose();
    ref.dispose();
  });

  test("matches the reference backend in 'fc' and 'dense' modes", async () => {
    const x = input([2, 3, 32, 32], 1);
    expect(maxRelErr((await model.forward(x)).data, (await ref.forward(x)).data)).toBeLessThan(1e-5);
    const big = input([1, 3, 48, 64], 2);
    const [a, b] = [await model.forward(big, { mode: 'dense' }), await ref.forward(big, { mode: 'dense' })];
    expect(a.dims).toEqual([1, 7, 3, 5]);
    expect(maxRelErr(a.data, b.data)).toBeLessThan(1e-5);
  });

  test("at the training size 'dense' equals 'fc' (FC6 as a 4×4 conv is the same product)", async () => {
    const x = input([3, 3, 32, 32], 3);
    const fc = await model.forward(x);
    const conv = await model.forward(x, { mode: 'dense' });
    expect(fc.dims).toEqual([3, 7]);
    expect(conv.dims).toEqual([3, 7, 1, 1]);
    expect(maxRelErr(conv.data, fc.data)).toBeLessThan(1e-6);
  });

  test('each row of a batch equals the single-image run, bit for bit', async () => {
    const x = input([4, 3, 32, 32], 4);
    const batch = await model.forward(x);
    const n = 3 * 32 * 32;
    for (let i = 0; i < 4; i++) {
      const one = await model.forward(new Tensor([1, 3, 32, 32], x.data.slice(i * n, (i + 1) * n)));
      expect(batch.data.subarray(i * 7, (i + 1) * 7)).toEqual(one.data); // bit for bit (batch-invariant kernels)
    }
  });

  test('plans are cached per input shape', async () => {
    const m = await Model.random(tiny, 1, { device: 'cpu' });
    for (const s of [32, 40, 48, 56, 64, 32]) await m.forward(input([1, 3, s, s], s), { mode: 'dense' });
    expect(m.info().plansCached).toBe(5);
    m.dispose();
  });

  test('CUDA graphs: reported off on the cpu backend, with the reason, whatever the option', async () => {
    for (const cudaGraphs of [true, false]) {
      const m = await Model.random(tiny, 1, { device: 'cpu', cudaGraphs });
      for (let i = 0; i < 3; i++) await m.forward(input([1, 3, 32, 32], 9));
      expect(m.info().cudaGraphs).toEqual({
        enabled: false,
        reason: 'the cpu backend runs each op when it is called',
        plansCaptured: 0,
        captures: 0,
        replays: 0,
        lastError: '',
      });
      m.dispose();
    }
  });

  test('NaN and Inf in the input propagate without a crash', async () => {
    const x = input([1, 3, 32, 32], 5);
    x.data[100] = NaN;
    const y = await model.forward(x);
    expect(y.data.some(Number.isNaN)).toBe(true);
    x.data.fill(Infinity);
    const z = await model.forward(x);
    expect(z.dims).toEqual([1, 7]);
  });
});

describe('conv + max pool fused (cpu Winograd layers)', () => {
  // 64 channels, so conv1_2 and conv2_1 run Winograd and each runs fused with the pool after it.
  const cfg: VggConfig = {
    name: 'fusion',
    inChannels: 3,
    inputSize: 20,
    stages: [[64, 64], [64]],
    fc: [16],
    numClasses: 5,
  };
  const weights = randomWeights(cfg, 11);

  test('gives the unfused result bit for bit (a feature taken from the conv turns fusion off), odd sizes too', async () => {
    const model = await Model.create(cfg, weights, { device: 'cpu', convAlgorithm: 'winograd4x4' });
    const ref = await Model.create(cfg, weights, { device: 'reference' });
    for (const [h, w] of [
      [20, 20],
      [26, 30],
      [23, 21],
    ]) {
      const x = input([2, 3, h, w], h * w);
      const fused = await model.forward(x, { mode: 'dense', outputs: ['pool1', 'fc7'] });
      const split = await model.forward(x, { mode: 'dense', outputs: ['conv1_2', 'conv2_1', 'pool1', 'fc7'] });
      expect(fused.pool1.data).toEqual(split.pool1.data);
      expect(fused.fc7.data).toEqual(split.fc7.data);
      const want = await ref.forward(x, { mode: 'dense' });
      expect(fused.fc7.dims).toEqual(want.dims);
      expect(maxRelErr(fused.fc7.data, want.data)).toBeLessThan(1e-4);
    }
    model.dispose();
    ref.dispose();
  });
});

describe('bad input', () => {
  const model = Model.randomSync(tiny, 2, { device: 'cpu' });
  afterAll(() => model.dispose());
  const reject = async (x: unknown, mode: 'fc' | 'dense', re: RegExp) => {
    await expect(model.forward(x as Tensor, { mode })).rejects.toThrow(re);
    await expect(model.forward(x as Tensor, { mode })).rejects.toBeInstanceOf(InvalidArgumentError);
  };

  test('a 3-D [C,H,W] tensor is rejected, saying how to add the batch dimension', async () => {
    await reject(
      new Tensor([1, 3, 32, 32], new Float32Array(3 * 32 * 32)).reshape([3, 1024], 'NC'),
      'fc',
      /expected 4 dims/,
    );
    expect(() => new Tensor([3, 32, 32], new Float32Array(3 * 32 * 32), 'NCHW')).toThrow(/\[1,3,32,32\]/);
  });
  test('wrong channel count', () => reject(input([1, 1, 32, 32], 1), 'fc', /expected 3 channels \(dims\[1\]\), got 1/));
  test("'fc' needs exactly the training size", () =>
    reject(input([1, 3, 40, 32], 1), 'fc', /mode 'fc' expects a 32×32 input .* got 40×32; use mode 'dense'/));
  test("'dense' needs at least the training size", () =>
    reject(input([1, 3, 31, 64], 1), 'dense', /mode 'dense' needs at least 32×32 .* got 31×64/));
  test("not a Tensor; an unknown mode, 'fully-conv' (the former name of 'dense') among them", async () => {
    await reject({ dims: [1, 3, 32, 32], data: new Float32Array(3072) }, 'fc', /expected a Tensor, got object/);
    await reject(
      input([1, 3, 32, 32], 1),
      'fully-conv' as 'fc',
      /options\.mode: expected 'fc' \| 'dense' \| 'torchvision', got 'fully-conv' \('fully-conv' is now 'dense'/,
    );
    await reject(
      input([1, 3, 32, 32], 1),
      'crop' as 'fc',
      /options\.mode: expected 'fc' \| 'dense' \| 'torchvision', got 'crop'$/,
    );
    expect(() => model.forwardSync(input([1, 3, 32, 32], 1), { mode: 'fully-conv' as 'fc' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => model.outputShape([1, 3, 32, 32], 'fully-conv' as 'fc')).toThrow(/mode: expected 'fc' \| 'dense'/);
  });
  test('weights of the wrong size name the layer', () => {
    const w = randomWeights(tiny, 1);
    w[2] = { weight: new Float32Array(5), bias: w[2].bias };
    expect(() => Model.createSync(tiny, w)).toThrow(
      /weights\[2\] \(conv2_2.weight\): expected Float32Array of 128 elements \[16,8,1,1\], got Float32Array of 5/,
    );
    expect(() => Model.createSync(tiny, w.slice(0, 3))).toThrow(/has 7 conv\/FC layers, got 3/);
  });
  test('use after dispose throws DisposedError; dispose is idempotent; an in-flight forward completes', async () => {
    const m = await Model.random(tiny, 3, { device: 'cpu' });
    const pending = m.forward(input([1, 3, 32, 32], 1));
    m.dispose();
    m.dispose();
    expect(m.disposed).toBe(true);
    expect((await pending).dims).toEqual([1, 7]);
    await expect(m.forward(input([1, 3, 32, 32], 1))).rejects.toBeInstanceOf(DisposedError);
    expect(() => m.forwardSync(input([1, 3, 32, 32], 1))).toThrow(/Model.forwardSync: the model \(tiny\) was disposed/);
    expect(() => m.info()).toThrow(DisposedError);
  });
  test('an unknown device is an InvalidArgumentError', () => {
    expect(() => Model.randomSync(tiny, 1, { device: 'tpu' as 'cpu' })).toThrow(
      /options\.device: expected 'auto' \| 'cpu' \| 'cuda' \| 'cuda:N' \| 'reference', got 'tpu'/,
    );
  });
});

describe('concurrency and buffer ownership', () => {
  const model = Model.randomSync(tiny, 4, { device: 'cpu' });
  afterAll(() => model.dispose());

  // Once aborted the whole process ("terminate called after throwing an instance of 'Napi::Error'"): the
  // forward completed after its worker's environment was gone. Run in a child so an abort cannot take
  // jest down; each worker has one forward running and one queued when it is terminated.
  test('terminating a worker_thread while its forwards are pending leaves the process running', () => {
    const dist = path.resolve(__dirname, '..', 'dist');
    const script = `
      const { Worker } = require('worker_threads');
      const code = \`
        const v = require(\${JSON.stringify(${JSON.stringify(dist)})});
        const cfg = { name: 't', inChannels: 3, inputSize: 32, stages: [[64, 64], [128]], fc: [64], numClasses: 10 };
        const m = v.Model.randomSync(cfg, 1, { device: 'cpu', threads: 1 });
        const x = new v.Tensor([1, 3, 384, 384], new Float32Array(3 * 384 * 384));
        m.forward(x, { mode: 'dense' });
        m.forward(x, { mode: 'dense' });
        require('worker_threads').parentPort.postMessage('started');\`;
      let exited = 0;
      const once = () => {
        const w = new Worker(code, { eval: true });
        w.on('message', () => setTimeout(() => w.terminate(), 20));
        w.on('exit', () => (++exited < 3 ? once() : console.log('survived ' + exited)));
      };
      once();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120000 });
    expect(r.stderr).not.toMatch(/terminate called/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('survived 3');
  });

  test('parallel forwards on one model give the sequential results, in call order', async () => {
    const xs = [1, 2, 3, 4, 5].map((s) => input([1, 3, 32, 32], s));
    const sequential: Float32Array[] = [];
    for (const x of xs) sequential.push((await model.forward(x)).data);
    const parallel = await Promise.all(xs.map((x) => model.forward(x)));
    parallel.forEach((y, i) => expect(y.data).toEqual(sequential[i]));
  });

  test('the input is taken when forward() is called: refilling, resizing or detaching it later is harmless', async () => {
    const x = input([1, 3, 32, 32], 6);
    const want = (await model.forward(x)).data;
    const n = 3 * 32 * 32;
    // a resizable buffer (ES2024; the lib typings here are ES2022)
    const buf = new (ArrayBuffer as unknown as new (len: number, o: object) => ArrayBuffer)(n * 4, {
      maxByteLength: n * 4,
    });
    const own = new Tensor([1, 3, 32, 32], new Float32Array(buf, 0, n));
    own.data.set(x.data);
    const first = model.forward(own); // runs now
    const second = model.forward(own); // queued behind it
    own.data.fill(0);
    (buf as unknown as { resize(n: number): void }).resize(0);
    expect((await first).data).toEqual(want);
    expect((await second).data).toEqual(want);
  });

  test('built-in topologies are frozen; a custom config is copied at model creation', async () => {
    expect(() => {
      'use strict';
      (ARCHS.vgg11 as { numClasses: number }).numClasses = 10;
    }).toThrow(TypeError);
    expect(Object.isFrozen(ARCHS.vgg16.stages[0])).toBe(true);
    const cfg = JSON.parse(JSON.stringify(tiny)) as VggConfig;
    const m = await Model.random(cfg, 1, { device: 'cpu' });
    cfg.inputSize = 64;
    expect(m.config.inputSize).toBe(32);
    m.dispose();
    expect(() => resolveConfig('constructor')).toThrow(InvalidArgumentError);
  });

  test('null options mean defaults; absurd widths fail fast', async () => {
    const m = await Model.random(tiny, 1, null);
    expect((await m.forward(input([1, 3, 32, 32], 1), null)).dims).toEqual([1, 7]);
    m.dispose();
    expect(() => Model.randomSync({ ...tiny, stages: [[1e9]] })).toThrow(/expected an integer in \[1, 65536\]/);
    expect(() => Model.randomSync(tiny, 1, { precision: 'fp8' as 'fp32' })).toThrow(/precision/);
  });
});

describe('memory', () => {
  testIf(process.platform === 'linux', 'reads /proc/self/status (Linux only)')(
    'dispose() returns native memory to the system: RSS stays flat over load/run/dispose cycles',
    async () => {
      const rssMB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
      const w = randomWeights('vgg11', 2);
      const x = input([1, 3, 224, 224], 3);
      const after: number[] = [];
      for (let i = 0; i < 4; i++) {
        const m = await Model.create('vgg11', w, { device: 'cpu' });
        await m.forward(x);
        m.dispose();
        await new Promise((r) => setTimeout(r, 100));
        after.push(rssMB());
      }
      console.log(`RSS after each dispose (MB): ${after.map((v) => v.toFixed(0)).join(', ')}`);
      expect(after[3] - after[0]).toBeLessThan(40); // a leak or allocator retention would add ~500 MB per cycle
    },
  );

  // Once aborted the process ('terminate called after throwing std::bad_alloc'): the async forward copies
  // its input, and a 3.2 GB input under an 8 GB address-space limit cannot be copied.
  testIf(process.platform === 'linux', 'uses bash ulimit -v (Linux only)')(
    'an async forward whose input cannot be copied is a DeviceError, not an abort',
    () => {
      const script = `
        const v = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist'))});
        const m = v.Model.randomSync({ name: 't', inChannels: 3, inputSize: 8, stages: [[4]], fc: [8], numClasses: 3 }, 1,
          { device: 'cpu', threads: 1 });
        const x = new v.Tensor([1, 3, 16384, 16384], new Float32Array(3 * 16384 * 16384));
        m.forward(x, { mode: 'dense' }).then(() => console.log('resolved'), (e) => console.log(e.code));`;
      const r = spawnSync('bash', ['-c', `ulimit -v 8000000; exec "${process.execPath}" -e "$0"`, script], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('ERR_VGG_DEVICE');
    },
  );
});

describe('async forward runs off the JS thread', () => {
  test('timers keep firing during a VGG16 forward', async () => {
    const m = await Model.random('vgg16', 3, { device: 'cpu' });
    const x = input([1, 3, 224, 224], 9);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = Date.now();
    const y = await m.forward(x);
    const ms = Date.now() - t0;
    clearInterval(timer);
    m.dispose();
    expect(y.dims).toEqual([1, 1000]);
    // A blocked event loop would deliver at most one tick; an unblocked one about ms/5.
    console.log(`vgg16 forward ${ms} ms, ${ticks} timer ticks`);
    expect(ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(ms / 20)));
    expect(ms).toBeGreaterThan(50); // the forward really ran while the timer fired
  });
});
