// CUDA device discovery. libcuda is opened lazily by the static runtime at the first call, so on a host
// without a driver this returns a reason instead of failing to load.
#include <cuda_runtime.h>

#include <string>

#include "core/backend.h"

namespace vgg {

CudaInfo GetCudaInfo() {
  CudaInfo info;
  info.compiled = true;
  cudaRuntimeGetVersion(&info.runtime_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    if (err == cudaErrorInsufficientDriver) {
      int driver = 0;  // the CUDA version the driver supports, 0 without a driver
      cudaDriverGetVersion(&driver);
      cudaGetLastError();
      const auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
      info.reason = driver == 0
                        ? "no CUDA driver (libcuda.so not found; cudaGetDeviceCount: cudaErrorInsufficientDriver)"
                        : "the CUDA driver is too old: it supports CUDA " + ver(driver) + ", this build needs " +
                              ver(info.runtime_version) + " (cudaGetDeviceCount: cudaErrorInsufficientDriver)";
    } else if (err == cudaErrorNoDevice) info.reason = "no CUDA device (cudaGetDeviceCount: cudaErrorNoDevice)";
    else
      info.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
    return info;
  }
  if (count == 0) info.reason = "no CUDA device";
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    info.devices.push_back({d, prop.name, prop.totalGlobalMem, prop.major, prop.minor});
  }
  return info;
}

Status GetCudaMemory(int device, size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = *total_bytes = 0;
  const std::string dev = "device 'cuda:" + std::to_string(device) + "'";
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Unsupported(dev + ": " + GetCudaInfo().reason);
  }
  if (device < 0 || device >= count)
    return InvalidArgument(dev + ": expected a device index in 0.." + std::to_string(count - 1) + ", got " +
                           std::to_string(device));
  int prev = -1;
  cudaGetDevice(&prev);
  cudaError_t e = cudaSetDevice(device);
  if (e == cudaSuccess) e = cudaMemGetInfo(free_bytes, total_bytes);
  if (prev >= 0 && prev != device) cudaSetDevice(prev);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return DeviceError(dev + ": cudaMemGetInfo failed: " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  return {};
}

}  // namespace vgg
