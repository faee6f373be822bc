#include "cuda_extras.h"

#include <algorithm>
#include <vector>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_planner.h"
#include "cuda/device_state.h"
#include "peak.h"

namespace vgg::cuda {

size_t DeviceBytesInUse(const Backend& be) {
  const auto* cb = dynamic_cast<const CudaBackend*>(&be);
  return cb ? cb->bytes_in_use() : 0;
}

Status MeasurePeakFlops(int device, Precision p, double* flops) {
  *flops = 0;
  DeviceState ds;  // own stream, destroyed on return
  ds.device = device;
  VGG_CUDA_DEVICE(ds);
  cudaDeviceProp prop{};
  VGG_CUDA_TRY(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  VGG_CUDA_TRY(cudaStreamCreateWithFlags(&ds.stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  float* sink = nullptr;
  VGG_CUDA_TRY(cudaMalloc(&sink, kThreads * sizeof(float)), "cudaMalloc(peak sink)");
  struct Free {
    float* p;
    ~Free() {
      cudaFree(p);
      cudaGetLastError();
    }
  } free_sink{sink};
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  VGG_CUDA_TRY(cudaEventCreate(&e0), "cudaEventCreate");
  VGG_CUDA_TRY(cudaEventCreate(&e1), "cudaEventCreate");
  struct FreeEv {
    cudaEvent_t a, b;
    ~FreeEv() {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
      cudaGetLastError();
    }
  } free_ev{e0, e1};
  const int blocks = prop.multiProcessorCount * 4;
  const Math math = MathOf(p);
  long long iters = 1 << 12;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double flop = 0;
    VGG_CUDA_TRY(cudaEventRecord(e0, ds.stream), "cudaEventRecord");
    VGG_CUDA_TRY(cudaPeekAtLastError(), "a CUDA call before the launch of the peak loop");
    VGG_CUDA_TRY(LaunchPeak(math, blocks, iters, sink, &flop, ds.stream), "launch of the peak loop");
    VGG_CUDA_TRY(cudaEventRecord(e1, ds.stream), "cudaEventRecord");
    VGG_CUDA_TRY(cudaEventSynchronize(e1), "cudaEventSynchronize (peak loop)");
    float ms = 0;
    VGG_CUDA_TRY(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
    if (ms > 0) best = std::max(best, flop / (double(ms) * 1e-3));
    // Aim for ~40 ms per measurement after the first (calibration) run.
    if (rep == 0 && ms > 0) iters = std::max<long long>(iters, (long long)(double(iters) * 40.0 / double(ms)));
  }
  *flops = best;
  return {};
}

}  // namespace vgg::cuda
