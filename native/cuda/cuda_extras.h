// Extras of the CUDA backend for the C++ harness (bench/harness/cuda_*.cpp) and tests: plain C++, no CUDA
// types, and stubbed in native/cuda/none/cuda_absent.cpp so a CPU-only build links too.
#pragma once
#include <cstddef>
#include <string>

#include "core/backend.h"

namespace vgg::cuda {

using Precision = CudaOptions::Precision;

using ::vgg::ParsePrecision;
using ::vgg::PrecisionName;

// The kernel conv2d runs for shape s on backend `be` (e.g. "conv2d_nchw_tf32_igemm_wmma_128x128x32
// split-K 4", "gemv_f32_x1"), computed by the same planning function that conv2d uses. Empty when `be`
// is not a CUDA backend.
std::string ConvKernelName(const Backend& be, const ConvShape& s);

// The same plan for a device with `sms` multiprocessors, without a device (planning checks on a
// GPU-less host): kernel name, split-K factor (1: none), workspace floats.
struct ConvPlanInfo {
  std::string kernel;
  int split = 1;
  size_t workspace_floats = 0;
  bool gemv = false;
  int bm = 0;
};
ConvPlanInfo PlanConvFor(const ConvShape& s, Precision p, int sms);

// Device bytes held by this backend: live alloc() buffers plus packed weights still alive. 0 when `be`
// is not a CUDA backend.
size_t DeviceBytesInUse(const Backend& be);

// Multiprocessor count and device name of a CUDA backend (0 / "" otherwise).
int DeviceSms(const Backend& be);

// Measures the tensor-core (or, for fp32, FFMA) peak of device `device` with register-only loops,
// in FLOP/s. kDevice on CUDA errors, kUnsupported without CUDA.
Status MeasurePeakFlops(int device, Precision p, double* flops);

}  // namespace vgg::cuda
