/**
 * The runtime report (what this binary can run on, and why) and the choice of backend for a model
 * (one per model, every backend serving the same ops): device 'auto' | 'cpu' | 'cuda' | 'cuda:N', or 'reference' (the plain-loop reference
 * kernels with double accumulation: the specification the fast kernels are tested against; slow).
 */
import { native, NativeBackendsReport, NativeDevice, nativePath } from './native';
import { parseDevice } from './options';

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
 * to a concrete one: 'cuda' is 'cuda:0'; 'auto' is decided from the backend report. Whether a named CUDA
 * device exists is checked when a model is created (UnsupportedError then).
 * @throws InvalidArgumentError for a malformed name
 */
export function chooseDevice(requested: string = 'auto', report?: NativeBackendsReport): DeviceChoice {
  const device = parseDevice(requested, 'device');
  if (device === 'cpu' || device === 'reference') return { device, reason: 'requested' };
  if (device === 'cuda') return { device: 'cuda:0', reason: 'requested' };
  if (device !== 'auto') return { device, reason: 'requested' };
  report ??= native().backends();
  const cu = report.cuda;
  if (!cu.compiled) return { device: 'cpu', reason: `no GPU backend: ${cu.reason}` };
  if (cu.devices.length === 0) return { device: 'cpu', reason: `CUDA compiled in, no device: ${cu.reason}` };
  // The CUDA kernels compile but have not yet passed bench/gpu-check.sh on a GPU: opt in with 'cuda'.
  return {
    device: 'cpu',
    reason: `CUDA device ${cu.devices[0].name} found; the CUDA backend is not yet validated on a GPU, pass device 'cuda' to use it`,
  };
}
