// Checks that run on any backend through the Backend interface (buffers in the backend's memory, so the
// same code checks the cpu backend and the CUDA backend): one conv case with a chosen algorithm, one
// max-pool case, one LRN case, each against the reference kernels.
#pragma once
#include <vector>

#include "cases.h"
#include "core/backend.h"
#include "data.h"
#include "report.h"

namespace vggh {

// A buffer in a backend's memory, released on scope exit.
struct DevBuf {
  vgg::Backend& be;
  float* p = nullptr;
  explicit DevBuf(vgg::Backend& b) : be(b) {}
  ~DevBuf() {
    if (p) be.release(p);
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  vgg::Status Alloc(size_t n) {  // a second Alloc releases the first buffer
    if (p) be.release(p);
    p = nullptr;
    return be.alloc(n, &p);
  }
  vgg::Status Upload(const std::vector<float>& h);     // Alloc(h.size()), then the data
  vgg::Status FillNaN(size_t n);                       // Alloc(n), then NaN everywhere
  vgg::Status Fetch(size_t n, std::vector<float>* h);  // synchronize, then download n floats
};

// conv2d of case c on `be` with `algorithm` (packed, planned, run): the output and the workspace (exactly
// plan->workspace_floats) NaN-filled first, so every element read must have been written. *y gets the
// output, *plan what ran.
vgg::Status RunConv(vgg::Backend& be, const ConvCase& c, const ConvData& d, vgg::ConvAlgorithm algorithm,
                    std::vector<float>* y, vgg::ConvPlan* plan);

// conv2d_maxpool with the 2×2/2 pool over case c's output, where the backend fuses it for `algorithm`:
// bit-identical to its own conv2d then maxpool2d (NaN for NaN). Records nothing where it does not fuse.
void CheckFusedPool(vgg::Backend& be, const ConvCase& c, const ConvData& d, vgg::ConvAlgorithm algorithm, Tally& t);
// maxpool2d must be bit-identical to the reference, NaN, ±0 and ±Inf included (PoolInput).
void CheckPoolCase(vgg::Backend& be, const PoolCase& c, Tally& t);
// lrn within a relative 1e-5 per element (an fp32 sum of at most `size` squares, then one pow).
void CheckLrnCase(vgg::Backend& be, const LrnCase& c, Tally& t);
// adaptive_avgpool2d bit-identical to the reference (both sum each window in double, in the same order).
void CheckAdaptivePool(vgg::Backend& be, const vgg::AdaptivePoolShape& s, Tally& t);
// relu (in place) bit-identical to the reference on PoolInput-style data: NaN, ±0 and ±Inf included.
void CheckRelu(vgg::Backend& be, size_t n, Tally& t);

}  // namespace vggh
