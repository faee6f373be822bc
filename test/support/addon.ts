/**
 * The native addon for kernel tests. Prefers the package's own loader (lib/native.ts: registers the
 * error classes, reports every failed attempt) when it is present, and otherwise loads the local build
 * directly, so kernel tests need neither lib/ nor dist/.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The part of the addon the kernel tests use (see native/binding/kernels_wrap.cpp). */
export interface KernelsLike {
  info(): { name: string; kernelFamily: string };
  conv2d(shape: object, x: Float32Array, w: Float32Array, b: Float32Array | null, relu: boolean): Float32Array;
  maxpool2d(shape: object, x: Float32Array): Float32Array;
  lrn(dims: number[], params: object, x: Float32Array): Float32Array;
  softmax(rows: number, cols: number, x: Float32Array): Float32Array;
  spatialMean(dims: number[], x: Float32Array): Float32Array;
  flipW(dims: number[], x: Float32Array): Float32Array;
}

export interface AddonLike {
  backends(): {
    cpu: { kernelFamily: string; reason: string; hardwareThreads: number; features: { avx2: boolean; fma: boolean; avx512: boolean } };
  };
  Kernels: new (options?: object) => KernelsLike;
}

function load(): AddonLike {
  const loader = path.join(__dirname, '..', '..', 'lib', 'native.ts');
  if (fs.existsSync(loader)) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require('../../lib/native') as { native?: () => AddonLike };
    if (typeof mod.native === 'function') return mod.native();
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require('../../build/Release/vggnet.node') as AddonLike;
}

export const addon: AddonLike = load();
