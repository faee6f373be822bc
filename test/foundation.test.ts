// Foundation: the loader, the runtime report, tensor validation (in JS), error classes and codes.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import * as lib from '../lib';
import {
  backends,
  chooseDevice,
  deviceMemory,
  DeviceError,
  DisposedError,
  FormatError,
  InvalidArgumentError,
  layerProgram,
  Model,
  Tensor,
  UnsupportedError,
  VggConfig,
  VggError,
} from '../lib';
import { nativeLayer } from '../lib/model';
import { native, NativeBackendOptions, nativePath, packageRoot, platformPackages } from '../lib/native';
import { elfSection } from './support/elf';
import { kernels } from './support/kernels';
import { testIf } from './support/skip';

const root = packageRoot();

describe('loader', () => {
  test('loads the local build and reports where from', () => {
    expect(native().abiVersion).toBe(4);
    expect(fs.existsSync(nativePath())).toBe(true);
    expect(nativePath()).toMatch(/vggnet\.node$/);
    expect(backends().binary).toBe(nativePath());
  });

  test('names the per-platform packages as sharp does: linux-x64 (CUDA build first), linux-arm64, musl apart', () => {
    expect(platformPackages('linux', 'arm64')).toEqual(['@vggnet/linux-arm64']);
    if (process.platform === 'linux' && process.arch === 'x64')
      expect(platformPackages()).toEqual(['@vggnet/linux-x64-cuda', '@vggnet/linux-x64']);
    expect(platformPackages('darwin', 'arm64')).toEqual(['@vggnet/darwin-arm64']);
  });

  test('the package does not export the loader: backends() reports the binary', () => {
    for (const name of ['native', 'nativePath', 'packageRoot']) expect(Object.keys(lib)).not.toContain(name);
  });

  test('with nothing to load it throws one NativeLoadError listing every attempt', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vggnet-loader-'));
    try {
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'vggnet' }));
      fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
      fs.cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), {
        recursive: true,
      });
      const script = `try { require('./dist/native').native(); console.log('loaded') } catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })) }`;
      const out = execFileSync(process.execPath, ['-e', script], {
        cwd: dir,
        env: { ...process.env, VGGNET_NATIVE: path.join(dir, 'missing.node') },
      }).toString();
      const err = JSON.parse(out);
      expect(err.code).toBe('ERR_VGG_NATIVE_LOAD');
      expect(err.name).toBe('NativeLoadError');
      expect(err.message).toContain('VGGNET_NATIVE');
      expect(err.message).toContain('local build');
      for (const pkg of platformPackages()) expect(err.message).toContain(`package ${pkg}: not installed`);
      expect(err.message).toContain('prebuilt binary');
      expect(err.message).toContain('`npm rebuild vggnet`');
      expect(err.message).toContain('npm run build:native');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backend report', () => {
  const r = backends();

  test('names the CPU kernel family and why', () => {
    expect(['avx512', 'avx2+fma', 'neon', 'scalar']).toContain(r.cpu.kernelFamily);
    expect(r.cpu.reason).toMatch(process.arch === 'arm64' ? /hwcaps/ : /cpuid/);
    expect(r.cpu.hardwareThreads).toBe(os.cpus().length);
    if (r.cpu.kernelFamily === 'avx512') expect(r.cpu.features.avx512).toBe(true);
    if (r.cpu.kernelFamily === 'neon') expect(r.cpu.features.neon).toBe(true);
    else if (r.cpu.kernelFamily !== 'scalar') expect(r.cpu.features.avx2 && r.cpu.features.fma).toBe(true);
  });

  test('says whether CUDA is compiled in, and the devices or why there are none', () => {
    expect(typeof r.cuda.compiled).toBe('boolean');
    if (r.cuda.devices.length === 0) {
      expect(r.cuda.reason.length).toBeGreaterThan(10);
      expect(r.auto.device).toBe('cpu');
      expect(r.auto.reason).toContain(r.cuda.reason);
    } else {
      for (const d of r.cuda.devices) expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
    }
    if (r.cuda.compiled) expect(r.cuda.runtimeVersion).toBeGreaterThanOrEqual(12000);
  });

  test("device 'auto' chooses a GPU only on a compute capability bench/gpu-check.sh has passed on", () => {
    const gpu = { index: 0, name: 'NVIDIA H200', totalMemoryBytes: 150e9, computeCapability: '9.0' };
    const report = { ...r, cuda: { compiled: true, runtimeVersion: 13000, reason: '', devices: [gpu] } };
    const h200 = { computeCapability: '9.0', gpu: 'NVIDIA H200', date: '2026-12-24' };
    expect(chooseDevice('auto', report, [h200])).toEqual({
      device: 'cuda:0',
      reason:
        'CUDA device NVIDIA H200 (compute capability 9.0): bench/gpu-check.sh passed on NVIDIA H200 on 2026-12-24',
    });
    const other = chooseDevice('auto', report, [{ ...h200, computeCapability: '8.0' }]);
    expect(other.device).toBe('cpu');
    expect(other.reason).toMatch(/has not passed bench\/gpu-check.sh on that compute capability \(validated: 8\.0\)/);
    expect(chooseDevice('auto', report).reason).toMatch(/\(validated: none yet\), pass device 'cuda' to use it/);
    expect(chooseDevice('cuda', report, [])).toEqual({ device: 'cuda:0', reason: 'requested' });
    // named as tensors name it, so that a model's device outputs can be its inputs
    expect(chooseDevice('cuda:007', report)).toEqual({ device: 'cuda:7', reason: 'requested' });
  });

  testIf(r.cuda.compiled, 'this build has no CUDA (nvcc was not found at build time)')(
    'a CUDA build carries sm_90 code in its fat binary',
    () => {
      const section = elfSection(fs.readFileSync(nativePath()), '.nv_fatbin');
      expect(section).not.toBeNull();
      expect(section!.toString('latin1').includes('sm_90')).toBe(true);
    },
  );
});

describe('Tensor validation (JS checks, no conversion)', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      return (e as VggError).message;
    }
    throw new Error('expected an InvalidArgumentError');
  };

  test('accepts float32 NCHW and NC', () => {
    const t = new Tensor([2, 3, 4, 5], new Float32Array(120));
    expect(t.dims).toEqual([2, 3, 4, 5]);
    expect(t.layout).toBe('NCHW');
    expect(t.device).toBe('cpu');
    expect(new Tensor([2, 10], new Float32Array(20)).layout).toBe('NC');
  });
  test('wrong typed array', () => {
    expect(code(() => new Tensor([1, 1, 2, 2], new Float64Array(4) as unknown as Float32Array))).toMatch(
      /expected a Float32Array, got Float64Array/,
    );
    expect(code(() => new Tensor([1, 1, 2, 2], [1, 2, 3, 4] as unknown as Float32Array))).toMatch(
      /expected a Float32Array, got Array/,
    );
  });
  test('wrong length', () => {
    expect(code(() => new Tensor([1, 1, 2, 2], new Float32Array(5)))).toMatch(/expected 4 elements, got 5/);
  });
  test('wrong rank, with the fix for a 3-D image', () => {
    expect(code(() => new Tensor([3, 2, 2], new Float32Array(12), 'NCHW'))).toMatch(/\[1,3,2,2\]/);
    expect(code(() => new Tensor([1, 2, 3, 4, 5], new Float32Array(120)))).toMatch(/expects 4 dims, got 5/);
  });
  test('negative, zero, non-integer and NaN dims', () => {
    expect(code(() => new Tensor([1, -3, 2, 2], new Float32Array(12)))).toMatch(
      /dims\[1\]: expected an integer in \[1, /,
    );
    expect(code(() => new Tensor([1, 0, 2, 2], new Float32Array(0)))).toMatch(/dims\[1\]/);
    expect(code(() => new Tensor([1, 1.5, 2, 2], new Float32Array(6)))).toMatch(
      /dims\[1\]: expected an integer, got number 1.5/,
    );
    expect(code(() => new Tensor([1, NaN, 2, 2], new Float32Array(4)))).toMatch(/dims\[1\]/);
  });
  test('null dims and unknown layouts', () => {
    expect(code(() => new Tensor(null as unknown as number[], new Float32Array(1)))).toMatch(
      /dims: expected an array, got null/,
    );
    expect(code(() => new Tensor([2, 6], new Float32Array(12), 'NHWC' as 'NC'))).toMatch(
      /layout: expected 'NCHW' \| 'NC', got 'NHWC'/,
    );
    expect(code(() => new Tensor([1, '3', 2, 2] as unknown as number[], new Float32Array(12)))).toMatch(
      /dims\[1\]: expected an integer, got '3'/,
    );
  });
  test('limits: a dim above 2^30, more than 2^32 elements (checked before the data)', () => {
    expect(code(() => new Tensor([1, 1, 1, 2 ** 30 + 1], new Float32Array(1)))).toMatch(
      /dims\[3\]: expected an integer in \[1, 1073741824\], got number 1073741825/,
    );
    expect(code(() => new Tensor([1, 1, 2 ** 16, 2 ** 16 + 1], new Float32Array(1)))).toMatch(
      /dims: more than 2\^32 elements is not supported/,
    );
    expect(code(() => new Tensor([1, 1, 2 ** 16, 2 ** 16], new Float32Array(1)))).toMatch(
      /data: expected 4294967296 elements, got 1/,
    );
    expect(code(() => Tensor.zeros([1, 1, 2 ** 16, 2 ** 16 + 1]))).toMatch(/more than 2\^32 elements/);
    expect(code(() => Tensor.zeros([1, 0, 2, 2]))).toMatch(/dims\[1\]/);
  });
  test('a Float32Array over a shared or offset buffer is taken as it is (no copy)', () => {
    const buf = new ArrayBuffer(4 * 20);
    const view = new Float32Array(buf, 16, 12);
    expect(new Tensor([1, 3, 2, 2], view).data).toBe(view);
  });
  test('constructing and checking a Tensor never loads the native addon', () => {
    let loaderRequired = false;
    jest.isolateModules(() => {
      jest.doMock('../lib/native', () => {
        loaderRequired = true;
        return jest.requireActual('../lib/native');
      });
      // Fresh copies inside the isolated registry, so the mock above sees every load of the loader.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Tensor: T } = require('../lib/tensor') as typeof import('../lib/tensor');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { InvalidArgumentError: E } = require('../lib/errors') as typeof import('../lib/errors');
      expect(new T([2, 3, 4, 5], new Float32Array(120)).reshape([2, 60]).dims).toEqual([2, 60]);
      expect(() => new T([1, 1, 2, 2], new Float64Array(4) as unknown as Float32Array)).toThrow(E);
      expect(() => new T([1, 1, 2, 2], new Float32Array(5))).toThrow(/expected 4 elements, got 5/);
      expect(() => T.zeros([1, 1, 2 ** 31, 1])).toThrow(E);
    });
    expect(loaderRequired).toBe(false);
  });
  test('reshape keeps data, checks the count', () => {
    const t = new Tensor([1, 2, 2, 3], new Float32Array(12));
    expect(t.reshape([2, 6]).data).toBe(t.data);
    code(() => t.reshape([1, 1, 1, 5]));
  });
});

describe('errors', () => {
  test('each class carries its stable code and is a VggError', () => {
    const cases: [VggError, string][] = [
      [new InvalidArgumentError('m'), 'ERR_VGG_INVALID_ARGUMENT'],
      [new UnsupportedError('m'), 'ERR_VGG_UNSUPPORTED'],
      [new DeviceError('m'), 'ERR_VGG_DEVICE'],
      [new FormatError('m'), 'ERR_VGG_FORMAT'],
      [new DisposedError('m'), 'ERR_VGG_DISPOSED'],
    ];
    for (const [e, c] of cases) {
      expect(e.code).toBe(c);
      expect(e).toBeInstanceOf(VggError);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(e.constructor.name);
    }
  });

  test('native code raises the TypeScript classes, naming parameter, expected and got (testing addon)', () => {
    const k = kernels({ device: 'reference' });
    try {
      k.maxpool2d({ N: 1, C: 1, H: 2, W: 2, window: 2, stride: 2 }, new Int32Array(4) as unknown as Float32Array);
      throw new Error('no throw');
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as VggError).code).toBe('ERR_VGG_INVALID_ARGUMENT');
      expect((e as Error).message).toBe('x: expected a Float32Array, got Int32Array');
    }
    expect(() => kernels({ device: 'tpu' as 'cpu' })).toThrow(InvalidArgumentError);
    expect(() => kernels({ device: 'cpu', isa: 'sse9' as 'auto' })).toThrow(
      /isa: expected 'auto' \| 'scalar' \| 'avx2' \| 'avx512' \| 'neon', got string 'sse9'/,
    );
  });

  describe('the shipped binding re-checks what memory safety needs, with the same classes', () => {
    const cfg: VggConfig = { name: 't', inChannels: 1, inputSize: 8, stages: [[4]], fc: [8], numClasses: 3 };
    const layers = layerProgram(cfg).map(nativeLayer);
    const weights = [new Float32Array(4 * 9), new Float32Array(8 * 4 * 4 * 4), new Float32Array(3 * 8)];
    const biases = [new Float32Array(4), new Float32Array(8), new Float32Array(3)];
    const options: NativeBackendOptions = {
      device: 'cpu',
      threads: 1,
      isa: 'auto',
      precision: 'tf32',
      convAlgorithm: 'auto',
      memoryBudget: 0,
      cudaGraphs: true,
    };
    const make = (o: object, w = weights) => new (native().Network)(o as NativeBackendOptions, layers, w, biases);

    test('every option field is required: JS owns the defaults', () => {
      const net = make(options);
      expect(net.forwardSync([1, 1, 8, 8], new Float32Array(64))).toHaveLength(3);
      net.dispose();
      const { threads: _t, ...noThreads } = options;
      expect(() => make(noThreads)).toThrow(/options\.threads: expected an integer, got undefined/);
      const { convAlgorithm: _c, ...noAlgo } = options;
      expect(() => make(noAlgo)).toThrow(InvalidArgumentError);
      const { memoryBudget: _b, ...noBudget } = options;
      expect(() => make(noBudget)).toThrow(/options\.memoryBudget: expected an integer number of bytes/);
      expect(() => make({ ...options, memoryBudget: -1 })).toThrow(InvalidArgumentError);
      expect(() => make({ ...options, memoryBudget: 2.5 })).toThrow(InvalidArgumentError);
      const { cudaGraphs: _g, ...noGraphs } = options;
      expect(() => make(noGraphs)).toThrow(/options\.cudaGraphs: expected a boolean, got undefined/);
    });
    test('buffer types and lengths are checked before any pointer is taken', () => {
      expect(() => make(options, [weights[0], new Float32Array(5), weights[2]])).toThrow(
        /weights\[1\]: expected 512 elements, got 5/,
      );
      const net = make(options);
      expect(() => net.forwardSync([1, 1, 8, 8], new Float32Array(63))).toThrow(/x: expected 64 elements, got 63/);
      net.dispose();
      expect(() => net.plan([1, 1, 8, 8])).toThrow(DisposedError);
    });
    // Once a use after free (a segfault in the CPU weight packing): the binding kept raw pointers while
    // later getters could still free the buffers behind them.
    test('a getter that detaches an already-read weight buffer is caught, not used after free', () => {
      const w0 = new Float32Array(4 * 9);
      const hostile = [w0, weights[1], weights[2]];
      Object.defineProperty(hostile, 2, {
        get: () => {
          structuredClone(w0.buffer, { transfer: [w0.buffer] }); // detaches w0
          return weights[2];
        },
      });
      expect(() => make(options, hostile)).toThrow(/weights\[0\]: expected 36 elements, got 0/);
      const w1 = new Float32Array(8 * 4 * 4 * 4);
      const detachLater = {
        ...options,
        get device() {
          structuredClone(w1.buffer, { transfer: [w1.buffer] });
          return 'cpu';
        },
      };
      expect(() => make(detachLater, [weights[0], w1, weights[2]])).toThrow(
        /weights\[1\]: expected 512 elements, got 0/,
      );
    });
  });

  testIf(backends().cuda.devices.length === 0, 'this host has a CUDA device')(
    'a CUDA device on a host without one is UnsupportedError with the reason',
    () => {
      expect(() => kernels({ device: 'cuda:0' })).toThrow(UnsupportedError);
      const cfg: VggConfig = { name: 't', inChannels: 1, inputSize: 8, stages: [[4]], fc: [8], numClasses: 3 };
      expect(() => Model.randomSync(cfg, 1, { device: 'cuda' })).toThrow(UnsupportedError);
      expect(() => new Tensor([1, 2], new Float32Array(2), 'NC', 'cuda:0')).toThrow(UnsupportedError);
      expect(() => new Tensor([1, 2], new Float32Array(2)).to('cuda')).toThrow(UnsupportedError);
      expect(() => deviceMemory('cuda:0')).toThrow(UnsupportedError);
    },
  );
});
