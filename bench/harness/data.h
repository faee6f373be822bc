// Seeded test data, the same on every host and compiler, and conv references computed by the reference
// kernels (native/core/ref: plain loops, double accumulation) on several threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cases.h"
#include "core/shapes.h"

namespace vggh {

// Uniform floats in [lo, hi) from splitmix64(seed).
void FillUniform(float* v, size_t n, uint64_t seed, float lo, float hi);

// A seed from a name (FNV-1a), so that a case's data do not depend on its position in the list.
uint64_t SeedOf(const std::string& name);

// The data of one conv case and its reference output.
struct ConvData {
  std::vector<float> x, w, b, ref;  // b empty when the case has no bias
  uint64_t seed = 0;                // printed with every result line
};
// x U(−1, 1); w U(±√(3/(C·R·S))), so pre-activations have unit variance; b U(±0.5); for a nonfinite
// case NaN, +Inf and −Inf planted in x. `ref` by the reference conv on `threads` threads (0: all).
ConvData MakeConvData(const ConvCase& c, int threads);

// Input of a max-pool case: U(−1, 1) with about 5% NaN, ±0 and ±Inf and 5% small integers (ties),
// a window of only −Inf in the top-left corner and, for 2×2 windows, one of signed zeros beside it.
std::vector<float> PoolInput(const PoolCase& c, uint64_t seed);

// ref::conv2d split over images and blocks of output channels on `threads` threads (0: all).
void RefConvParallel(const vgg::ConvShape& s, const float* x, const float* w, const float* b, bool relu, float* y,
                     int threads);

}  // namespace vggh
