/**
 * The one loader of the native addon. Tries, in order:
 *   1. `VGGNET_NATIVE` (an explicit path to a .node file), when set;
 *   2. the local build, `build/Release/vggnet.node` (`npm run build:native` in a checkout, or a build from
 *      source inside an installed package: `npm rebuild vggnet`, scripts/install.js);
 *   3. the per-platform packages for this platform (platformPackages(): `@vggnet/linux-x64-cuda` when the
 *      user installed it, then `@vggnet/linux-x64`; `@vggnet/linux-arm64`), optional dependencies of the
 *      published package, so npm downloads only the one whose `os`/`cpu`/`libc` fit;
 *   4. a prebuilt binary under `prebuilds/` (a checkout after `npm run build:prebuilds`; via node-gyp-build).
 * If none loads it throws one NativeLoadError listing each attempt and its failure, and the build-from-source
 * command.
 *
 * The declarations below are the whole native boundary. Policy (option names, defaults, the shapes a
 * mode accepts) is checked in TypeScript before a call crosses it; the binding re-checks only what
 * memory safety needs (types, integer ranges, buffer lengths) and reports it as InvalidArgumentError.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  DeviceError,
  DisposedError,
  FormatError,
  InvalidArgumentError,
  MemoryBudgetError,
  NativeLoadError,
  UnsupportedError,
} from './errors';

/** [N, C, H, W]: positive integers, NCHW. */
export type Dims4 = [number, number, number, number];

/** A concrete backend ('auto' and 'cuda' are resolved in lib/backends.ts before the call). */
export type NativeDevice = 'cpu' | 'reference' | `cuda:${number}`;
export type CpuIsaName = 'auto' | 'scalar' | 'avx2' | 'avx512' | 'neon';
export type PrecisionName = 'fp32' | 'tf32' | 'bf16' | 'fp16';
/**
 * How a conv layer is computed. 'auto': the backend's choice per layer. 'gemm': im2col GEMM (a GEMV for a
 * single output column). 'winograd2x2' / 'winograd4x4': Winograd F(2×2,3×3) / F(4×4,3×3) (Lavin & Gray
 * 2015) on the layers that qualify (3×3, stride 1, pad 1; on the CPU also C, K ≥ 64), GEMM elsewhere.
 * 'direct': the reference backend's plain loops.
 */
export type ConvAlgorithmName = 'auto' | 'direct' | 'gemm' | 'winograd2x2' | 'winograd4x4';

/** Everything the binding needs to make a backend; every field is required (defaults live in JS). */
export interface NativeBackendOptions {
  device: NativeDevice;
  /** CPU threads, 0: all hardware threads. */
  threads: number;
  isa: CpuIsaName;
  precision: PrecisionName;
  convAlgorithm: ConvAlgorithmName;
  /** Bytes one forward may use (activations, workspace, staging); 0: no limit. */
  memoryBudget: number;
  /** Replay each input shape's layer program as a CUDA graph (native/core/network.h NetworkOptions::graphs). */
  cudaGraphs: boolean;
}

/** Bytes a forward at one input shape needs in backend memory. */
export interface NativePlanMemory {
  /** The two activation buffers (each the largest intermediate activation). */
  activations: number;
  /** The largest conv workspace. */
  workspace: number;
  /** Input and output of a host forward, in backend memory. */
  staging: number;
  total: number;
}

/** One step of the layer program (lib/topology.ts layerProgram). */
export type NativeLayer =
  | {
      kind: 'conv';
      inChannels: number;
      outChannels: number;
      kernel: number;
      stride: number;
      pad: number;
      relu: boolean;
      /** Requested for this layer instead of NativeBackendOptions.convAlgorithm. */
      algorithm?: ConvAlgorithmName;
    }
  | { kind: 'maxpool'; window: number; stride: number }
  | { kind: 'lrn'; size: number; alpha: number; beta: number; k: number };

/** The plan of one layer for one input shape. */
export interface NativeLayerPlan {
  /** Index in the layer program. */
  layer: number;
  kind: NativeLayer['kind'];
  /** Conv layers: the algorithm chosen (never 'auto'); other layers: ''. */
  algorithm: Exclude<ConvAlgorithmName, 'auto'> | '';
  /** The kernel that runs, by its symbol name, e.g. 'conv2d_nchw_f32_3x3s1_winograd4x4__avx512'. */
  kernel: string;
  /** Scratch the layer needs, bytes. */
  workspaceBytes: number;
  /** Output of the layer, NCHW. */
  output: Dims4;
}

export interface NativeBackendsReport {
  cpu: {
    kernelFamily: string;
    reason: string;
    hardwareThreads: number;
    /**
     * x86-64: cpuid's avx2, fma, avx512 (f+bw+vl+dq), avx512bf16 (AVX512_BF16: cpuid leaf 7 subleaf 1, EAX
     * bit 5); aarch64: the hwcaps' asimd as `neon`.
     */
    features: { avx2: boolean; fma: boolean; avx512: boolean; avx512bf16: boolean; neon: boolean };
    /** The precisions a model on device 'cpu' can compute in: ['fp32'], plus 'bf16' with avx512 and avx512bf16. */
    precisions: ('fp32' | 'bf16')[];
  };
  cuda: {
    compiled: boolean;
    runtimeVersion: number;
    reason: string;
    devices: { index: number; name: string; totalMemoryBytes: number; computeCapability: string }[];
  };
}

export interface NativeNetworkInfo {
  backend: string;
  kernelFamily: string;
  weightBytes: number;
  plansCached: number;
  arenaBytes: number;
  memoryBudget: number;
  /** The arithmetic of the backend's convs: 'fp32' on the reference, 'fp32' | 'bf16' on the CPU, CUDA's precision. */
  precision: PrecisionName;
  /** The algorithm each conv layer's weights were packed for and the arithmetic it runs in, in layer-program order. */
  convAlgorithms: {
    layer: number;
    algorithm: Exclude<ConvAlgorithmName, 'auto'>;
    precision: PrecisionName;
    weightBytes: number;
  }[];
  /** native/core/network.h GraphInfo. */
  cudaGraphs: NativeGraphInfo;
}

/** Whether forwards replay recorded layer programs (CUDA graphs), and what they did so far. */
export interface NativeGraphInfo {
  /** Asked for (ModelOptions.cudaGraphs) and the backend records launches. */
  enabled: boolean;
  /** Why not when disabled (e.g. "the cpu backend runs each op when it is called"); what is replayed otherwise. */
  reason: string;
  /** Input shapes whose plan holds a recording now. */
  plansCaptured: number;
  /** Recordings made and replays run since the model was created. */
  captures: number;
  replays: number;
  /** The last recording that failed (those forwards ran kernel by kernel), or ''. */
  lastError: string;
}

/**
 * What one forward computes beyond the input (native/core/network.h RunSpec): the layers up to `last`
 * (default: all), an adaptive average pool to adaptiveSize² on the input of layer `adaptiveBefore`
 * (torchvision's AdaptiveAvgPool2d before FC6), and the layers whose outputs are copied out (`taps`; conv
 * layers' outputs before their ReLU: `preReluTaps`).
 */
export interface NativeRun {
  last?: number;
  adaptiveBefore?: number;
  adaptiveSize?: number;
  taps?: number[];
  preReluTaps?: number[];
}

export interface NativeNetwork {
  /** Per-layer plan for an input of `dims` (built and cached if new). */
  plan(dims: Dims4): NativeLayerPlan[];
  /** What a forward at `dims` (with `run`) needs (plans it, allocates nothing). */
  memory(dims: Dims4, run?: NativeRun): NativePlanMemory;
  /** Throws MemoryBudgetError when a forward at `dims` would exceed the memory budget (allocates nothing). */
  checkBudget(dims: Dims4, run?: NativeRun): void;
  /** Frees the forward memory and forgets the cached plans. */
  releasePlans(): void;
  /** x (N,C,H,W) → a new Float32Array holding the score map (N,K,h,w), off the JS thread. `x` is copied
   *  at the call, so the caller may reuse it at once. With `run`: [output of run.last, then one array per
   *  run.taps entry, then one per run.preReluTaps entry], each NCHW. */
  forward(dims: Dims4, x: NativeInput): Promise<Float32Array>;
  forward(dims: Dims4, x: NativeInput, run: NativeRun): Promise<Float32Array[]>;
  /**
   * The same with `out`: device-resident outputs, written to those buffers (the output, then one per tap; each
   * on the network's device, of its output's size) and resolved to `out`; undefined: fresh host arrays.
   */
  forward(dims: Dims4, x: NativeInput, run: NativeRun, out: NativeDeviceBuffer[] | undefined): Promise<NativeOutput[]>;
  /** Same, on the calling thread. */
  forwardSync(dims: Dims4, x: NativeInput): Float32Array;
  forwardSync(dims: Dims4, x: NativeInput, run: NativeRun): Float32Array[];
  forwardSync(dims: Dims4, x: NativeInput, run: NativeRun, out: NativeDeviceBuffer[] | undefined): NativeOutput[];
  info(): NativeNetworkInfo;
  dispose(): void;
  readonly disposed: boolean;
}

/**
 * Floats in one CUDA device's memory, owned by no model (native/binding/device_buffer.h). A forward reading or
 * writing one holds it: dispose() meanwhile frees the memory when that forward ends. Also freed when collected.
 */
export interface NativeDeviceBuffer {
  readonly device: number;
  readonly floats: number;
  readonly disposed: boolean;
  /** Host → device, synchronous; data.length must be `floats`. */
  upload(data: Float32Array): void;
  /** Device → a new host array, on the libuv pool. */
  download(): Promise<Float32Array>;
  downloadSync(): Float32Array;
  dispose(): void;
}

export interface NativeDeviceBufferConstructor {
  /** Allocates `floats` (≥ 1) floats on CUDA device `device`; contents undefined until upload or a forward. */
  new (device: number, floats: number): NativeDeviceBuffer;
}

/** A forward's input: a host array (copied at the call), or a device buffer on the network's device. */
export type NativeInput = Float32Array | NativeDeviceBuffer;
/** A forward's output, as where it was asked for. */
export type NativeOutput = Float32Array | NativeDeviceBuffer;

export interface NativeNetworkConstructor {
  /** weights[i], biases[i]: OIHW weight (K,C,R,S) and bias (K) of the i-th conv layer of `layers`. */
  new (
    options: NativeBackendOptions,
    layers: NativeLayer[],
    weights: Float32Array[],
    biases: Float32Array[],
  ): NativeNetwork;
  /** Adopts the layers `builder` packed (every conv layer, none still running); the builder is spent. */
  new (builder: NativeNetworkBuilder): NativeNetwork;
}

/**
 * A network whose conv layers are packed one by one on the libuv pool (native/binding/network_builder.h);
 * `new Network(builder)` then adopts them. Each conv layer (index in conv order) is packed once.
 */
export interface NativeNetworkBuilder {
  /** Conv layers of the program. */
  readonly convLayers: number;
  /** Staging memory for pack(i, …, false), allocated and touched off the JS thread. */
  reserve(i: number): Promise<void>;
  /**
   * Copies weight[from, to) (floats) of conv layer i into its reserved staging memory, on the calling thread;
   * chunks in order from 0. A weight staged whole is not copied again by pack(i, …, false).
   */
  stage(i: number, weight: Float32Array, from: number, to: number): void;
  /**
   * Packs conv layer i: weight (K,C,R,S) OIHW, bias (K). take = false copies both arrays at the call (the
   * caller may reuse, mutate or detach them at once). take = true reads them in place on the pool and
   * detaches them once packed (freeing their memory): only for arrays no one else can reach, since one
   * detached or resized meanwhile would be read after it was freed.
   */
  pack(i: number, weight: Float32Array, bias: Float32Array, take: boolean): Promise<void>;
  /**
   * Packs output channels [from, from + bias.length) of conv layer i: weight (rows,C,R,S) OIHW, bias (rows);
   * bands in order from 0, the layer packed once its last band is. take as for pack().
   */
  packRows(i: number, weight: Float32Array, bias: Float32Array, from: number, take: boolean): Promise<void>;
}

export interface NativeNetworkBuilderConstructor {
  new (options: NativeBackendOptions, layers: NativeLayer[]): NativeNetworkBuilder;
}

export interface NativeErrorClasses {
  InvalidArgumentError: typeof InvalidArgumentError;
  UnsupportedError: typeof UnsupportedError;
  DeviceError: typeof DeviceError;
  FormatError: typeof FormatError;
  DisposedError: typeof DisposedError;
  MemoryBudgetError: typeof MemoryBudgetError;
}

/** The shape of the native module; see native/binding/. */
export interface NativeAddon {
  readonly abiVersion: number;
  setErrorClasses(classes: NativeErrorClasses): void;
  backends(): NativeBackendsReport;
  /** Lowers the calling thread's scheduling priority for good (Linux: nice + 10): for the loader worker_thread. */
  lowerThreadPriority(): void;
  Network: NativeNetworkConstructor;
  NetworkBuilder: NativeNetworkBuilderConstructor;
  DeviceBuffer: NativeDeviceBufferConstructor;
  /** cudaMemGetInfo of CUDA device `device` now. */
  cudaMemory(device: number): { freeBytes: number; totalBytes: number };
}

/** The package root: the nearest folder above this file whose package.json is vggnet's. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'vggnet') return dir;
      } catch {
        /* keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new NativeLoadError(`vggnet: no package.json named 'vggnet' above ${__dirname}`);
    dir = up;
  }
}

/** The classes the addons raise errors with (the test-only addon registers the same). */
export const ERROR_CLASSES: NativeErrorClasses = {
  InvalidArgumentError,
  UnsupportedError,
  DeviceError,
  FormatError,
  DisposedError,
  MemoryBudgetError,
};

/**
 * The per-platform packages that may hold this platform's binary, in the order tried: sharp's naming,
 * `@vggnet/<platform>-<arch>` with `linuxmusl` for musl libc; on linux-x64 the CUDA build (`-cuda`, installed
 * by the user on GPU hosts) before the CPU-only one. scripts/platform-packages.js builds the packages.
 */
export function platformPackages(platform: string = process.platform, arch: string = process.arch): string[] {
  const musl = platform === 'linux' && !glibcRuntime();
  const base = `@vggnet/${platform === 'linux' && musl ? 'linuxmusl' : platform}-${arch}`;
  return platform === 'linux' && arch === 'x64' && !musl ? [`${base}-cuda`, base] : [base];
}

/** True when this process runs on glibc (Node's report header names its version; musl has none). */
function glibcRuntime(): boolean {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/** What to run when no binary fits: the exact build-from-source commands (README, "Building from source"). */
export const BUILD_FROM_SOURCE =
  'To build from source (needs cmake >= 3.18 and a C++17 compiler; nvcc on PATH adds CUDA): in your app, ' +
  '`npm install --save-dev cmake-js@8.0.0 node-addon-api@8.9.2 node-api-headers@1.9.0` then ' +
  '`npm rebuild vggnet` (in a checkout of vggnet: `npm run build:native`).';

let cached: NativeAddon | undefined;
let loadedFrom = '';

/** Loads (once) and returns the native addon. Throws NativeLoadError. */
export function native(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const attempts: [string, () => string][] = [];
  if (process.env.VGGNET_NATIVE) attempts.push(['VGGNET_NATIVE', () => path.resolve(process.env.VGGNET_NATIVE!)]);
  attempts.push(['local build', () => path.join(root, 'build', 'Release', 'vggnet.node')]);
  for (const pkg of platformPackages()) {
    attempts.push([
      `package ${pkg}`,
      () => {
        try {
          return require.resolve(`${pkg}/vggnet.node`, { paths: [root] });
        } catch {
          throw new Error('not installed');
        }
      },
    ]);
  }
  attempts.push(['prebuilt binary', () => require('node-gyp-build').path(root) as string]);
  const failures: string[] = [];
  for (const [what, locate] of attempts) {
    let file = '';
    try {
      file = locate();
      if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
      const addon = require(file) as NativeAddon;
      addon.setErrorClasses(ERROR_CLASSES);
      cached = addon;
      loadedFrom = file;
      return addon;
    } catch (e) {
      failures.push(`  - ${what}${file ? ` (${file})` : ''}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new NativeLoadError(
    `vggnet: could not load the native addon for ${process.platform}-${process.arch}` +
      `${process.platform === 'linux' ? (glibcRuntime() ? ' (glibc)' : ' (musl)') : ''}, Node ${process.version}.\n` +
      `Tried:\n${failures.join('\n')}\n` +
      `Prebuilt binaries exist for linux-x64 and linux-arm64 with glibc (packages ${['@vggnet/linux-x64', '@vggnet/linux-arm64'].join(', ')}); ` +
      `npm skips them with --omit=optional or --no-optional.\n${BUILD_FROM_SOURCE}`,
  );
}

/** Path of the .node file in use (after native() succeeded). */
export function nativePath(): string {
  native();
  return loadedFrom;
}
