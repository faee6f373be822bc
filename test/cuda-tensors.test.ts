/**
 * Device-resident tensors (a Tensor on 'cuda:N') and forwards that take and return them (outputLocation 'cuda').
 * Runs where a CUDA device is present: on a GPU, and in `npm test`'s emulated pass (build-emu-addon: the CUDA
 * backend compiled for the host emulator, whose 'cuda:0' is host memory counted as device memory). Elsewhere each
 * test is skipped with the reason.
 *
 * What is checked: transfers are exact and explicit; device inputs and outputs give the bits of host ones on
 * the same model (the forward runs on the same staging buffers either way); features chain into another model
 * without a host copy; disposal returns device memory (deviceMemory() back to its baseline); misuse is a coded
 * error; fp16 A-LRN stays finite where an fp16 LRN sum would overflow.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';

import { backends, deviceMemory, DisposedError, InvalidArgumentError, Model, Tensor, VggConfig } from '../lib';
import { fillUniform } from '../lib/random';
import { relL2 } from './support/compare';
import { tiny } from './support/configs';
import { testIf } from './support/skip';

const report = backends();
const hasDevice = report.cuda.devices.length > 0;
/** The host emulator's device (npm test's emulated pass): its memory counts exactly what was allocated. */
const emulated = hasDevice && /emulator/.test(report.cuda.devices[0].name);
const onGpu = testIf(
  hasDevice,
  `no CUDA device (${report.cuda.compiled ? 'CUDA compiled in' : 'CUDA not compiled in'}: ${report.cuda.reason})`,
);

function seeded(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return fillUniform(new Float32Array(n), lo, hi, seed);
}

function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

/** The device memory in use now (total − free), bytes. */
function used(): number {
  const m = deviceMemory('cuda:0');
  return m.totalBytes - m.freeBytes;
}

/**
 * Device memory back at `base`: exactly in the emulator (it counts only allocations); within 5 % on a GPU, where
 * cudaMemGetInfo also counts the CUDA context, the driver's pools and other processes (issue 14's bound).
 */
function expectBaseline(base: number): void {
  const now = used();
  if (emulated) expect(now).toBe(base);
  else expect(Math.abs(now - base)).toBeLessThanOrEqual(0.05 * base);
}

describe("tensors on 'cuda:0'", () => {
  onGpu('upload and download are exact; data is reached only by an explicit transfer', async () => {
    const host = seeded(2 * 3 * 4 * 5, 1);
    host[3] = NaN;
    host[7] = -0;
    host[11] = Infinity;
    const t = new Tensor([2, 3, 4, 5], host, 'NCHW', 'cuda:0');
    expect(t.device).toBe('cuda:0');
    expect(t.size).toBe(host.length);
    expect(() => t.data).toThrow(InvalidArgumentError);
    expect(() => t.data).toThrow(/on 'cuda:0'; copy it to the host first/);
    const back = await t.toHost();
    expect(back.device).toBe('cpu');
    expect(back.dims).toEqual([2, 3, 4, 5]);
    expectSameBits(back.data, host, 'toHost');
    expectSameBits(t.to('cpu').data, host, "to('cpu')");
    expect(t.to('cuda:0')).toBe(t);
    const viaTo = new Tensor([2, 60], host).to('cuda');
    expect(viaTo.device).toBe('cuda:0');
    expect(viaTo.layout).toBe('NC');
    expectSameBits((await viaTo.toHost()).data, host, "to('cuda')");
    t.dispose();
    viaTo.dispose();
  });

  onGpu('dispose returns the memory; a view shares it; a disposed tensor is DisposedError', async () => {
    const base = used();
    const t = new Tensor([1, 4, 64, 64], seeded(4 * 64 * 64, 2), 'NCHW', 'cuda:0');
    if (emulated) expect(used()).toBe(base + 4 * 64 * 64 * 4); // a GPU hands out memory in larger pages
    const view = t.reshape([4, 4096], 'NC');
    expect(view.device).toBe('cuda:0');
    expect(() => t.reshape([1, 4, 64, 63])).toThrow(/expected 16384 elements, got 16128/);
    expectSameBits((await view.toHost()).data, (await t.toHost()).data, 'reshape view');
    view.dispose();
    expect(t.disposed).toBe(true);
    t.dispose(); // idempotent
    expectBaseline(base);
    await expect(t.toHost()).rejects.toThrow(DisposedError);
    expect(() => t.to('cpu')).toThrow(DisposedError);
    expect(() => t.to('cuda:0')).toThrow(DisposedError); // even to where it is
  });

  onGpu(
    "a GPU that does not exist is refused as a model's device is; 'cpu' and bad names where they mean nothing",
    () => {
      const n = report.cuda.devices.length;
      expect(() => new Tensor([1, 2], new Float32Array(2), 'NC', `cuda:${n}`)).toThrow(InvalidArgumentError);
      expect(() => new Tensor([1, 2], new Float32Array(2), 'NC', `cuda:${n}`)).toThrow(
        new RegExp(`device 'cuda:${n}': expected a device index in 0\\.\\.${n - 1}`),
      );
      expect(() => new Tensor([1, 2], new Float32Array(2), 'NC', 'gpu' as 'cpu')).toThrow(
        /device: expected 'cpu' \| 'cuda' \| 'cuda:N', got 'gpu'/,
      );
      expect(() => deviceMemory('cpu' as 'cuda')).toThrow(InvalidArgumentError);
      const m = deviceMemory();
      expect(m.totalBytes).toBe(report.cuda.devices[0].totalMemoryBytes);
      expect(m.freeBytes).toBeLessThanOrEqual(m.totalBytes);
    },
  );
});

describe("Model.forward with tensors on 'cuda:0'", () => {
  let gpu: Model;
  let cpu: Model;
  beforeAll(async () => {
    if (!hasDevice) return;
    gpu = await Model.random(tiny, 5, { device: 'cuda:0' });
    cpu = await Model.random(tiny, 5, { device: 'cpu' });
  });
  afterAll(() => {
    gpu?.dispose();
    cpu?.dispose();
  });
  const x = seeded(3 * 3 * 32 * 32, 9);

  onGpu('device input, device output, or both: the bits of the host forward, for the result and features', async () => {
    const want = await gpu.forward(new Tensor([3, 3, 32, 32], x));
    const xd = new Tensor([3, 3, 32, 32], x, 'NCHW', 'cuda:0');
    const fromDevice = await gpu.forward(xd);
    expect(fromDevice.device).toBe('cpu');
    expectSameBits(fromDevice.data, want.data, 'device input');
    const both = await gpu.forward(xd, { outputLocation: 'cuda' });
    expect(both.device).toBe('cuda:0');
    expect(both.dims).toEqual([3, tiny.numClasses]);
    expectSameBits((await both.toHost()).data, want.data, 'device input and output');
    const toDevice = gpu.forwardSync(new Tensor([3, 3, 32, 32], x), { outputLocation: 'cuda' });
    expectSameBits(toDevice.to('cpu').data, want.data, 'forwardSync, device output');

    const outputs = ['conv2_1', 'pool2', 'conv3_1:pre-relu', 'fc7'];
    const hostFeatures = await gpu.forward(new Tensor([3, 3, 32, 32], x), { outputs, mode: 'dense' });
    const deviceFeatures = await gpu.forward(xd, { outputs, mode: 'dense', outputLocation: 'cuda' });
    expect(Object.keys(deviceFeatures)).toEqual(outputs);
    for (const name of outputs) {
      const d = deviceFeatures[name];
      expect(d.device).toBe('cuda:0');
      expect(d.dims).toEqual(hostFeatures[name].dims);
      expectSameBits((await d.toHost()).data, hostFeatures[name].data, name);
      d.dispose();
    }
    // and close to the cpu backend (tf32 by default on CUDA)
    const ref = await cpu.forward(new Tensor([3, 3, 32, 32], x));
    expect(relL2(want.data, ref.data, 'cuda vs cpu')).toBeLessThan(1e-2);
    for (const t of [xd, both, toDevice]) t.dispose();
  });

  onGpu("a host input with outputLocation 'cuda' is taken at the call, even when it has to wait", async () => {
    const m = await Model.random(tiny, 5, { device: 'cuda:0', maxDelayMs: 0 });
    try {
      const want = await m.forward(new Tensor([1, 3, 32, 32], x.slice(0, 3 * 32 * 32)));
      const busy = m.forward(new Tensor([3, 3, 32, 32], x));
      const buf = x.slice(0, 3 * 32 * 32);
      const queued = m.forward(new Tensor([1, 3, 32, 32], buf), { outputLocation: 'cuda' });
      buf.fill(0); // the caller reuses its buffer while the request waits
      structuredClone(buf.buffer, { transfer: [buf.buffer] }); // or even detaches it
      await busy;
      const y = await queued;
      expectSameBits((await y.toHost()).data, want.data, 'queued host input');
      y.dispose();
    } finally {
      m.dispose();
    }
  });

  onGpu('features chain into a second model on the GPU without a host round trip', async () => {
    // conv1 → pool1 of `tiny` is [N, 8, 16, 16]: the input of a model with 8 input channels at 16×16.
    const head: VggConfig = {
      name: 'head',
      inChannels: 8,
      inputSize: 16,
      stages: [[12], [12]],
      fc: [16],
      numClasses: 4,
    };
    const second = await Model.random(head, 6, { device: 'cuda:0' });
    const secondCpu = await Model.random(head, 6, { device: 'cpu' });
    try {
      const xd = new Tensor([3, 3, 32, 32], x, 'NCHW', 'cuda:0');
      const { pool1 } = await gpu.forward(xd, { outputs: ['pool1'], outputLocation: 'cuda' });
      const chained = await second.forward(pool1, { outputLocation: 'cuda' });
      const hostPool1 = (await gpu.forward(new Tensor([3, 3, 32, 32], x), { outputs: ['pool1'] })).pool1;
      const viaHost = await second.forward(hostPool1);
      expectSameBits((await chained.toHost()).data, viaHost.data, 'chained on the GPU');
      // a device tensor on a cpu model, and 'cuda' outputs there, are refused: transfers are explicit
      await expect(secondCpu.forward(pool1)).rejects.toThrow(InvalidArgumentError);
      await expect(secondCpu.forward(pool1)).rejects.toThrow(/x: on 'cuda:0', the model \(head\) runs on 'cpu'/);
      expect(() => secondCpu.forwardSync(hostPool1, { outputLocation: 'cuda' })).toThrow(
        /outputLocation: 'cuda' returns tensors on the model's GPU, and the model \(head\) runs on 'cpu'/,
      );
      await expect(second.forward(pool1, { outputLocation: 'gpu' as 'cuda' })).rejects.toThrow(
        /options\.outputLocation: expected 'cpu' \| 'cuda', got 'gpu'/,
      );
      pool1.dispose();
      await expect(second.forward(pool1)).rejects.toThrow(DisposedError);
      for (const t of [xd, chained]) t.dispose();
    } finally {
      second.dispose();
      secondCpu.dispose();
    }
  });

  onGpu('a steady shape replays its CUDA graph with device tensors in and out', async () => {
    const m = await Model.random(tiny, 7, { device: 'cuda:0' });
    try {
      const before = m.info().cudaGraphs.replays;
      for (let i = 0; i < 4; i++) {
        const xd = new Tensor([1, 3, 32, 32], x.subarray(0, 3 * 32 * 32), 'NCHW', 'cuda:0');
        (await m.forward(xd, { outputLocation: 'cuda' })).dispose();
        xd.dispose();
      }
      expect(m.info().cudaGraphs.replays - before).toBeGreaterThanOrEqual(3);
    } finally {
      m.dispose();
    }
  });

  onGpu('device memory is back at its baseline once models and tensors are disposed', async () => {
    const base = used();
    const m = await Model.random(tiny, 8, { device: 'cuda:0' });
    const xd = new Tensor([3, 3, 32, 32], x, 'NCHW', 'cuda:0');
    const ys = await Promise.all([0, 1, 2].map(() => m.forward(xd, { outputLocation: 'cuda', outputs: ['pool2'] })));
    // Only a pre-ReLU output asked for: the layer's post-ReLU output is computed too, and must not be kept.
    const pre = await m.forward(xd, { outputLocation: 'cuda', outputs: ['conv2_1:pre-relu'] });
    expect(Object.keys(pre)).toEqual(['conv2_1:pre-relu']);
    pre['conv2_1:pre-relu'].dispose();
    // disposed while a forward reads it: that forward still completes, and the memory is freed after it
    const pending = m.forward(xd, { outputLocation: 'cuda' });
    xd.dispose();
    const last = await pending;
    expect(last.device).toBe('cuda:0');
    if (emulated) expect(used()).toBeGreaterThan(base);
    for (const y of ys) y.pool2.dispose();
    last.dispose();
    m.dispose();
    expectBaseline(base);
  });

  onGpu('a forward its caller gave up on frees the device outputs nobody received', async () => {
    const m = await Model.random(tiny, 10, { device: 'cuda:0', maxDelayMs: 0 });
    try {
      const base = used();
      const ac = new AbortController();
      const running = m.forward(new Tensor([3, 3, 32, 32], x), { outputLocation: 'cuda', signal: ac.signal });
      ac.abort(new Error('no longer needed'));
      await expect(running).rejects.toThrow(/aborted/);
      await new Promise((r) => setTimeout(r, 200)); // the forward itself ends
      while (m.stats().running > 0) await new Promise((r) => setTimeout(r, 20));
      m.releasePlans();
      expectBaseline(base);
    } finally {
      m.dispose();
    }
  });
});

// The library as plain JavaScript for a child process: dist/, or lib/ itself where this suite runs compiled
// (bench/gpu-bundle.sh's .device/js).
const dist = fs.existsSync(`${__dirname}/../lib/index.js`) ? `${__dirname}/../lib` : `${__dirname}/../dist`;
testIf(hasDevice && fs.existsSync(`${dist}/index.js`), 'needs a CUDA device and dist/ (npm run build)')(
  'a worker_thread terminated while it uploads and downloads device tensors ends; the process lives on',
  () => {
    // The environment being torn down makes napi calls fail: those errors must not escape as C++ exceptions.
    const worker = `
      const { Tensor } = require(${JSON.stringify(dist)});
      const t = new Tensor([16, 3, 256, 256], new Float32Array(16 * 3 * 256 * 256), 'NCHW', 'cuda:0');
      require('worker_threads').parentPort.postMessage('ready');
      (async () => {
        for (;;) {
          await Promise.all(Array.from({ length: 8 }, () => t.toHost()));
          t.to('cpu').to('cuda').dispose();
        }
      })();`;
    const code = `
      const { Worker } = require('worker_threads');
      const w = new Worker(${JSON.stringify(worker)}, { eval: true });
      w.on('message', () => setTimeout(() => w.terminate().then(() => console.log('terminated')), 30));`;
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60000 });
      expect({ status: r.status, signal: r.signal, stdout: r.stdout.trim() }).toEqual({
        status: 0,
        signal: null,
        stdout: 'terminated',
      });
    }
  },
);

describe("precision 'fp16' on 'cuda:0'", () => {
  onGpu('A-LRN stays finite where an fp16 LRN would overflow (LRN sums squares in fp32)', async () => {
    // Pixel-range inputs and an LRN-first network: conv1's outputs reach the hundreds, so the LRN's sum of five
    // squares passes 65504 (fp16's largest finite value).
    const lrnNet: VggConfig = {
      name: 'a-lrn-small',
      inChannels: 3,
      inputSize: 32,
      lrn: true,
      stages: [[16], [16]],
      fc: [32],
      numClasses: 5,
    };
    const half = await Model.random(lrnNet, 11, { device: 'cuda:0', precision: 'fp16' });
    const cpu = await Model.random(lrnNet, 11, { device: 'cpu' });
    try {
      const input = new Tensor([2, 3, 32, 32], seeded(2 * 3 * 32 * 32, 12, 0, 255));
      const { conv1_1 } = await cpu.forward(input, { outputs: ['conv1_1'] });
      let maxSumSq = 0;
      const [, C, H, W] = conv1_1.dims;
      for (let n = 0; n < 2; n++)
        for (let p = 0; p < H * W; p++)
          for (let c = 0; c + 5 <= C; c++) {
            let s = 0;
            for (let k = 0; k < 5; k++) s += conv1_1.data[(n * C + c + k) * H * W + p] ** 2;
            maxSumSq = Math.max(maxSumSq, s);
          }
      expect(maxSumSq).toBeGreaterThan(65504); // the case is the one that matters
      const got = await half.forward(input, { outputs: ['lrn1', 'fc7'] });
      const want = await cpu.forward(input, { outputs: ['lrn1', 'fc7'] });
      for (const name of ['lrn1', 'fc7']) {
        expect(got[name].data.every(Number.isFinite)).toBe(true);
        expect(relL2(got[name].data, want[name].data, name)).toBeLessThan(5e-3);
      }
    } finally {
      half.dispose();
      cpu.dispose();
    }
  });
});
