/**
 * The one loader of the native addon (DESIGN.md habit 11). Tries, in order:
 *   1. `VGGNET_NATIVE` (an explicit path to a .node file), when set;
 *   2. the local build, `build/Release/vggnet.node` (made by `npm run build:native`);
 *   3. the prebuilt binary for this platform under `prebuilds/` (via node-gyp-build).
 * If none loads it throws one NativeLoadError listing each attempt and its failure.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  DeviceError,
  DisposedError,
  FormatError,
  InvalidArgumentError,
  NativeLoadError,
  UnsupportedError,
} from './errors';

/** The shape of the native module; see native/binding/. */
export interface NativeAddon {
  abiVersion: number;
  setErrorClasses(classes: object): void;
  backends(): NativeBackendsReport;
  checkTensor(dims: number[], data: unknown): void;
  Kernels: new (options?: object) => NativeKernels;
  Network: new (options: object, layers: object[], weights: Float32Array[], biases: Float32Array[]) => NativeNetwork;
}

export interface NativeBackendsReport {
  cpu: {
    kernelFamily: string;
    reason: string;
    hardwareThreads: number;
    features: { avx2: boolean; fma: boolean; avx512: boolean };
  };
  cuda: {
    compiled: boolean;
    runtimeVersion: number;
    reason: string;
    devices: { index: number; name: string; totalMemoryBytes: number; computeCapability: string }[];
  };
}

export interface NativeKernels {
  info(): { name: string; kernelFamily: string };
  conv2d(shape: object, x: Float32Array, w: Float32Array, b: Float32Array | null, relu: boolean): Float32Array;
  maxpool2d(shape: object, x: Float32Array): Float32Array;
  lrn(dims: number[], params: object, x: Float32Array): Float32Array;
  softmax(rows: number, cols: number, x: Float32Array): Float32Array;
  spatialMean(dims: number[], x: Float32Array): Float32Array;
  flipW(dims: number[], x: Float32Array): Float32Array;
}

export interface NativeNetwork {
  outputShape(dims: number[]): number[];
  forward(dims: number[], x: Float32Array): Promise<Float32Array>;
  forwardSync(dims: number[], x: Float32Array): Float32Array;
  info(): { backend: string; kernelFamily: string; weightBytes: number; plansCached: number };
  dispose(): void;
  readonly disposed: boolean;
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

let cached: NativeAddon | undefined;
let loadedFrom = '';

/** Loads (once) and returns the native addon. Throws NativeLoadError. */
export function native(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const attempts: [string, () => string][] = [];
  if (process.env.VGGNET_NATIVE) attempts.push(['VGGNET_NATIVE', () => path.resolve(process.env.VGGNET_NATIVE!)]);
  attempts.push(['local build', () => path.join(root, 'build', 'Release', 'vggnet.node')]);
  attempts.push(['prebuilt binary', () => require('node-gyp-build').path(root) as string]);
  const failures: string[] = [];
  for (const [what, locate] of attempts) {
    let file = '';
    try {
      file = locate();
      if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
      const addon = require(file) as NativeAddon;
      addon.setErrorClasses({ InvalidArgumentError, UnsupportedError, DeviceError, FormatError, DisposedError });
      cached = addon;
      loadedFrom = file;
      return addon;
    } catch (e) {
      failures.push(`  - ${what}${file ? ` (${file})` : ''}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new NativeLoadError(
    `vggnet: could not load the native addon for ${process.platform}-${process.arch}, Node ${process.version}.\n` +
      `Tried:\n${failures.join('\n')}\n` +
      'To fix: install a release that ships prebuilds for this platform, or build from source with ' +
      '`npm run build:native` (needs cmake, a C++17 compiler, and optionally nvcc for CUDA).',
  );
}

/** Path of the .node file in use (after native() succeeded). */
export function nativePath(): string {
  native();
  return loadedFrom;
}
