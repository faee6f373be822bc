/**
 * The GPUs the CUDA backend has been validated on: bench/gpu-check.sh passed there (every CUDA op against the
 * reference kernels in each precision, whole networks against the CPU backend, compute-sanitizer clean). Device
 * 'auto' chooses CUDA on a GPU of one of these compute capabilities, and the CPU elsewhere (device 'cuda' opts
 * in anyway). An entry is added by hand after such a run, with its output, date and GPU in bench/RESULTS.md.
 */
export interface ValidatedGpu {
  /** 'major.minor', as backends().cuda.devices[i].computeCapability reports it. */
  computeCapability: string;
  /** The GPU the check ran on, e.g. 'NVIDIA H200'. */
  gpu: string;
  /** The day of the run, YYYY-MM-DD. */
  date: string;
}

/** None yet: the CUDA backend has only run in the host emulation (issue 14 needs a lent H200). */
export const VALIDATED_GPUS: readonly ValidatedGpu[] = [];
