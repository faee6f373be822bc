// Register-only peak loops (peak.cu) for the harness's "% of measured peak".
#pragma once
#include <cuda_runtime.h>

#include "cuda/cuda_kernels.h"

namespace vgg::cuda {

// peak_fma_f32 (kSimt) or peak_mma_{tf32,bf16,f16} (mma.sync) on `blocks` blocks of kThreads threads, `iters`
// iterations each. Writes the FLOPs the launch executes to *flop; time it with events around the launch.
// Returns cudaGetLastError() after the launch (a caller checks for an error pending before it).
cudaError_t LaunchPeak(Math math, int blocks, long long iters, float* sink, double* flop, cudaStream_t stream);

}  // namespace vgg::cuda
