#include "cuda/device_state.h"

#include <cstdio>

namespace vgg::cuda {

std::string HumanBytes(size_t b) {
  char buf[64];
  if (b >= size_t(1e9)) std::snprintf(buf, sizeof buf, "%.1f GB", double(b) / 1e9);
  else if (b >= size_t(1e6)) std::snprintf(buf, sizeof buf, "%.1f MB", double(b) / 1e6);
  else if (b >= size_t(1e3)) std::snprintf(buf, sizeof buf, "%.1f KB", double(b) / 1e3);
  else std::snprintf(buf, sizeof buf, "%zu B", b);
  return buf;
}

Status CudaFailure(cudaError_t e, const std::string& call) {
  cudaGetLastError();
  return DeviceError(call + " failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

DeviceState::~DeviceState() {
  if (!stream) return;
  cudaSetDevice(device);
  cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
}

Status DeviceState::Alloc(size_t bytes, void** p, const char* what) {
  *p = nullptr;
  const cudaError_t e = cudaMalloc(p, bytes);
  if (e != cudaSuccess) {
    *p = nullptr;
    return CudaFailure(e, std::string("cudaMalloc(") + HumanBytes(bytes) + ")" + (what ? what : ""));
  }
  bytes_in_use += bytes;
  return {};
}

void DeviceState::Free(void* p, size_t bytes) {
  if (!p) return;
  DeviceScope scope(device);
  cudaStreamSynchronize(stream);
  cudaFree(p);
  cudaGetLastError();
  bytes_in_use -= bytes;
}

DeviceScope::DeviceScope(int device) : device_(device) {
  if (cudaGetDevice(&prev_) != cudaSuccess) {
    cudaGetLastError();
    prev_ = -1;
  }
  if (prev_ != device) err_ = cudaSetDevice(device);
  if (err_ != cudaSuccess) cudaGetLastError();
}

DeviceScope::~DeviceScope() {
  if (prev_ >= 0 && prev_ != device_) cudaSetDevice(prev_);
}

}  // namespace vgg::cuda
