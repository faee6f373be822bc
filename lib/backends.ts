/**
 * The runtime report (what this binary can run on, and why) and the choice of backend for a model
 * (one per model, every backend serving the same ops): device 'auto' | 'cpu' | 'cuda' | 'cuda:N', or 'reference' (the plain-loop reference
 * kernels with double accumulation: the specification the fast kernels are tested against; slow).
 */
import { InvalidArgumentError } from './errors';
import { native, NativeBackendsReport, NativeDevice, nativePath } from './native';
import { parseDevice } from './options';
import { parseTensorDevice } from './tensor';
import { VALIDATED_GPUS, ValidatedGpu } from './validated-gpus';

export interface BackendsReport extends NativeBackendsReport {
  /** The .node file in use. */
  binary: string;
  /** What device 'auto' resolves to on this host, and why. */
  auto: DeviceChoice;
}

export interface DeviceChoice {
  /** A concrete backend: 'cpu', 'reference' or 'cuda:N'. */
  device: NativeDevice;
  /** 'requested', or why 'auto' chose it. */
  reason: string;
}

/** Reports the CPU kernel family and why, thread count, CUDA compiled in or not, and CUDA devices or why none. */
export function backends(): BackendsReport {
  const r = native().backends();
  return { ...r, binary: nativePath(), auto: chooseDevice('auto', r) };
}

/**
 * Resolves a requested device ('auto' | 'cpu' | 'cuda' | 'cuda:N' | 'reference', see options.ts DeviceName)
 * to a concrete one: 'cuda' is 'cuda:0'; 'auto' is decided from the backend report: GPU 0 when its compute
 * capability is among `validated` (the GPUs bench/gpu-check.sh has passed on, validated-gpus.ts), else the CPU,
 * the reason saying why. 'cuda:007' is 'cuda:7'. Whether a named CUDA device exists is checked when a model is
 * created (UnsupportedError without any, InvalidArgumentError for an index beyond them).
 * @throws InvalidArgumentError for a malformed name
 */
export function chooseDevice(
  requested: string = 'auto',
  report?: NativeBackendsReport,
  validated: readonly ValidatedGpu[] = VALIDATED_GPUS,
): DeviceChoice {
  const device = parseDevice(requested, 'device');
  if (device === 'cpu' || device === 'reference') return { device, reason: 'requested' };
  if (device === 'cuda') return { device: 'cuda:0', reason: 'requested' };
  // 'cuda:007' is GPU 7, named as tensors name it ('cuda:7'), so that its outputs can be its inputs.
  if (device !== 'auto') return { device: `cuda:${Number(device.slice('cuda:'.length))}`, reason: 'requested' };
  report ??= native().backends();
  const cu = report.cuda;
  if (!cu.compiled) return { device: 'cpu', reason: `no GPU backend: ${cu.reason}` };
  if (cu.devices.length === 0) return { device: 'cpu', reason: `CUDA compiled in, no device: ${cu.reason}` };
  const gpu = cu.devices[0];
  const check = validated.find((v) => v.computeCapability === gpu.computeCapability);
  if (check)
    return {
      device: 'cuda:0',
      reason: `CUDA device ${gpu.name} (compute capability ${gpu.computeCapability}): bench/gpu-check.sh passed on ${check.gpu} on ${check.date}`,
    };
  return {
    device: 'cpu',
    reason:
      `CUDA device ${gpu.name} found (compute capability ${gpu.computeCapability}); the CUDA backend has not passed ` +
      `bench/gpu-check.sh on that compute capability (validated: ${validated.map((v) => v.computeCapability).join(', ') || 'none yet'}), pass device 'cuda' to use it`,
  };
}

/**
 * Free and total memory of a GPU now (cudaMemGetInfo), bytes: what device-resident tensors (Tensor on 'cuda:N')
 * and models on it hold, and return on dispose(). Counts every process on the GPU.
 * @param device  'cuda' (GPU 0) or 'cuda:N'
 * @throws InvalidArgumentError (another name, or an index beyond this host's GPUs), UnsupportedError (CUDA not
 *   compiled in, no driver, no GPU)
 */
export function deviceMemory(device: 'cuda' | `cuda:${number}` = 'cuda'): { freeBytes: number; totalBytes: number } {
  const gpu = parseTensorDevice(device, 'device');
  if (gpu === null) throw new InvalidArgumentError(`device: expected 'cuda' | 'cuda:N', got 'cpu'`);
  return native().cudaMemory(gpu);
}
