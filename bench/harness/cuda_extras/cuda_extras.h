// What the C++ harness needs from the CUDA backend beyond the Backend interface: device memory held (for
// leak checks) and a peak FLOP rate measured on the device (for "% of measured peak"). CUDA graphs are the
// runtime's own (Network with NetworkOptions::graphs). Built only into the
// harness (library vggnet_cuda_extras), never into the Node addon. Plain C++: no CUDA types.
// The kernel and workspace of a conv come from Backend::plan_conv, and plans for a device that is not
// there from cuda/cuda_planner.h.
#pragma once
#include <cstddef>

#include "core/backend.h"

namespace vgg::cuda {

// Device bytes held by backend `be`: live alloc() buffers plus packed weights still alive. 0 when `be` is
// not a CUDA backend.
size_t DeviceBytesInUse(const Backend& be);

// The tensor-core (or, for fp32, FFMA) peak of device `device` in FLOP/s, measured with register-only
// loops: the best of 5 runs, the last 4 sized to ~40 ms each. kDevice on CUDA errors.
Status MeasurePeakFlops(int device, CudaOptions::Precision p, double* flops);

}  // namespace vgg::cuda
