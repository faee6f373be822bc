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

Status TimeAsGraph(Backend& be, const std::function<Status()>& forward, int runs, double* ms) {
  *ms = 0;
  auto* cb = dynamic_cast<CudaBackend*>(&be);
  if (!cb) return Unsupported("not a CUDA backend");
  VGG_RETURN_IF_ERROR(be.synchronize());
  const cudaStream_t s = cb->stream();
  VGG_CUDA_TRY(cudaPeekAtLastError(), "a CUDA call before the graph capture");
  const cudaError_t b = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (b != cudaSuccess) {
    cudaGetLastError();
    return Unsupported(std::string("cudaStreamBeginCapture: ") + cudaGetErrorName(b));
  }
  const Status fs = forward();
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(s, &graph);
  if (!fs.ok() || e != cudaSuccess) {
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    return Unsupported("capture failed: " + (fs.ok() ? std::string(cudaGetErrorName(e)) : fs.message));
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t ie = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (ie != cudaSuccess) return CudaFailure(ie, "cudaGraphInstantiate");
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  std::vector<double> t;
  cudaError_t err = cudaEventCreate(&e0);
  if (err == cudaSuccess) err = cudaEventCreate(&e1);
  for (int i = 0; err == cudaSuccess && i < runs + 2; ++i) {  // the first two are warm-ups
    err = cudaEventRecord(e0, s);
    if (err == cudaSuccess) err = cudaGraphLaunch(exec, s);
    if (err == cudaSuccess) err = cudaEventRecord(e1, s);
    if (err == cudaSuccess) err = cudaEventSynchronize(e1);
    float f = 0;
    if (err == cudaSuccess) err = cudaEventElapsedTime(&f, e0, e1);
    if (i >= 2) t.push_back(f);
  }
  cudaGraphExecDestroy(exec);
  if (e0) cudaEventDestroy(e0);
  if (e1) cudaEventDestroy(e1);
  if (err != cudaSuccess) return CudaFailure(err, "replaying the graph");
  std::sort(t.begin(), t.end());
  *ms = t.empty() ? 0 : t[t.size() / 2];
  return {};
}

}  // namespace vgg::cuda
