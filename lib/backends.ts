/**
 * The runtime report (what this binary can run on, and why) and the choice of backend for a model
 * (DESIGN.md habit 1): device 'auto' | 'cpu' | 'cuda' | 'cuda:N', or 'reference' (the plain-loop reference
 * kernels with double accumulation: the specification the fast kernels are tested against; slow).
 */
import { InvalidArgumentError } from './errors';
import { native, NativeBackendsReport, nativePath } from './native';

export interface BackendsReport extends NativeBackendsReport {
  /** The .node file in use. */
  binary: string;
  /** What device 'auto' resolves to on this host, and why. */
  auto: DeviceChoice;
}

export interface DeviceChoice {
  device: string;
  reason: string;
}

/** Reports the CPU kernel family and why, thread count, CUDA compiled in or not, and CUDA devices or why none. */
export function backends(): BackendsReport {
  const r = native().backends();
  return { ...r, binary: nativePath(), auto: chooseDevice('auto', r) };
}

/** Resolves a requested device to a concrete one. Throws InvalidArgumentError for malformed names. */
export function chooseDevice(requested: string = 'auto', report: NativeBackendsReport = native().backends()): DeviceChoice {
  if (requested === 'cpu' || requested === 'reference') return { device: requested, reason: 'requested' };
  if (requested === 'cuda' || /^cuda:\d{1,3}$/.test(requested)) return { device: requested === 'cuda' ? 'cuda:0' : requested, reason: 'requested' };
  if (requested !== 'auto')
    throw new InvalidArgumentError(`device: expected 'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'reference', got '${requested}'`);
  const cu = report.cuda;
  if (!cu.compiled) return { device: 'cpu', reason: `no GPU backend: ${cu.reason}` };
  if (cu.devices.length === 0) return { device: 'cpu', reason: `CUDA compiled in, no device: ${cu.reason}` };
  // The CUDA kernels compile but have not yet passed bench/gpu-check.sh on a GPU: opt in with 'cuda'.
  return { device: 'cpu', reason: `CUDA device ${cu.devices[0].name} found; the CUDA backend is not yet validated on a GPU, pass device 'cuda' to use it` };
}
