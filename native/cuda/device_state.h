// What the CUDA backend and its packed weights share about one device: the device index, the stream,
// and the count of device bytes they hold; the scope that makes the device current; and how a failed
// CUDA call becomes a Status.
//
// Every CUDA call is checked; a failure becomes kDevice naming the call, e.g.
// "cudaMalloc(1.2 GB) failed: cudaErrorMemoryAllocation: out of memory". Nothing aborts, and non-sticky
// errors are cleared so the backend keeps working after an out-of-memory.
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "core/status.h"

namespace vgg::cuda {

// "1.2 GB", "4.0 MB", "512 B".
std::string HumanBytes(size_t bytes);

// kDevice "<call> failed: <error name>: <error string>"; clears a non-sticky error so that the next call
// starts clean.
Status CudaFailure(cudaError_t e, const std::string& call);

#define VGG_CUDA_TRY(expr, what)                                                \
  do {                                                                          \
    const cudaError_t vgg_e_ = (expr);                                          \
    if (vgg_e_ != cudaSuccess) return ::vgg::cuda::CudaFailure(vgg_e_, (what)); \
  } while (0)

// The stream outlives the backend while packed weights that use it are alive (a Network destroys its
// packed weights before its backend, but another caller may not).
struct DeviceState {
  int device = 0;
  cudaStream_t stream = nullptr;
  std::atomic<size_t> bytes_in_use{0};  // device memory held by the backend and its packed weights

  ~DeviceState();
  // cudaMalloc of `bytes`, counted in bytes_in_use; `what` completes the error message (" for bias").
  Status Alloc(size_t bytes, void** p, const char* what);
  // cudaFree after the stream has finished with `p` (no kernel may still read it); uncounts `bytes`.
  void Free(void* p, size_t bytes);
};

// Makes `device` current for the calling thread and restores the previous one on scope exit (callers
// may use several GPUs).
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  cudaError_t error() const { return err_; }

 private:
  int prev_ = -1, device_ = 0;
  cudaError_t err_ = cudaSuccess;
};

// Opens a DeviceScope on `state`'s device, returning kDevice from the enclosing function if it fails.
// clang-format off
#define VGG_CUDA_DEVICE(state)                         \
  ::vgg::cuda::DeviceScope vgg_scope_((state).device); \
  if (vgg_scope_.error() != cudaSuccess)               \
    return ::vgg::cuda::CudaFailure(vgg_scope_.error(), "cudaSetDevice(" + std::to_string((state).device) + ")")
// clang-format on

}  // namespace vgg::cuda
