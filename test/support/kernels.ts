/**
 * The vggnet_testing addon (built beside the shipped addon, never shipped): one backend's ops called
 * directly, and the list of every CPU kernel by its symbol name. Found at VGGNET_TESTING_NATIVE when set, else
 * beside the addon VGGNET_NATIVE names (<build>/Release/vggnet.node → <build>/testing/), else at build/testing/.
 */
import * as fs from 'fs';
import * as path from 'path';

import { DEFAULT_MODEL_OPTIONS } from '../../lib/options';
import { ERROR_CLASSES, packageRoot } from '../../lib/native';
import type { ConvAlgorithmName, CpuIsaName, NativeDevice, PrecisionName } from '../../lib/native';
import type { ConvShape } from './cases';

export interface KernelsOptions {
  device: NativeDevice;
  threads: number;
  isa: CpuIsaName;
  precision: PrecisionName;
  /** A conv shape the algorithm cannot serve is an UnsupportedError (no fallback). */
  convAlgorithm: ConvAlgorithmName;
}

export interface ConvPlanReport {
  algorithm: Exclude<ConvAlgorithmName, 'auto'>;
  kernel: string;
  workspaceBytes: number;
}

export interface Kernels {
  info(): { name: string; kernelFamily: string };
  /** y (N,K,P,Q) = [relu](conv(x (N,C,H,W), w (K,C,R,S)) + b); the output buffer starts as NaN. */
  conv2d(s: ConvShape, x: Float32Array, w: Float32Array, b: Float32Array | null, relu: boolean): Float32Array;
  planConv(s: ConvShape): ConvPlanReport;
  maxpool2d(
    s: { N: number; C: number; H: number; W: number; window: number; stride: number },
    x: Float32Array,
  ): Float32Array;
  lrn(dims: number[], p: { size: number; alpha: number; beta: number; k: number }, x: Float32Array): Float32Array;
}

export interface CpuKernel {
  name: string;
  op: 'conv2d' | 'maxpool2d';
  algorithm: '' | 'gemm' | 'winograd2x2' | 'winograd4x4';
  isa: 'scalar' | 'avx2' | 'avx512' | 'neon';
  /** The arithmetic: 'bf16' for the avx512 family's bf16 kernels (precision 'bf16', test/kernels-bf16.test.ts). */
  precision: 'fp32' | 'bf16';
  /** cpuid (x86-64) or the hwcaps (aarch64) report the family's ISA (and AVX512_BF16 for the bf16 kernels). */
  supported: boolean;
}

interface TestingAddon {
  setErrorClasses(c: object): void;
  cpuKernels(): CpuKernel[];
  Kernels: new (options: KernelsOptions) => Kernels;
}

let addon: TestingAddon | undefined;

export function testing(): TestingAddon {
  if (addon) return addon;
  const shipped = process.env.VGGNET_NATIVE;
  const build = shipped ? path.dirname(path.dirname(path.resolve(shipped))) : path.join(packageRoot(), 'build');
  const file = path.resolve(process.env.VGGNET_TESTING_NATIVE ?? path.join(build, 'testing', 'vggnet_testing.node'));
  if (!fs.existsSync(file))
    throw new Error(`the vggnet_testing addon is missing (${file}): run \`npm run build:native\``);
  const a = require(file) as TestingAddon;
  a.setErrorClasses(ERROR_CLASSES);
  addon = a;
  return a;
}

const { threads, isa, precision, convAlgorithm } = DEFAULT_MODEL_OPTIONS;
const DEFAULTS: KernelsOptions = { device: 'cpu', threads, isa, precision, convAlgorithm };

/** A Kernels object; unspecified options take the library's defaults. */
export function kernels(options: Partial<KernelsOptions> = {}): Kernels {
  return new (testing().Kernels)({ ...DEFAULTS, ...options });
}
