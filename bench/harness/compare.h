// How the harness compares an output with its reference.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/backend.h"

namespace vggh {

struct Diff {
  double rel_l2 = 0;            // ‖got − want‖₂ / ‖want‖₂ over elements where the reference is finite
  double max_abs = 0;           // max |got − want| over the same elements
  double max_abs_ref = 0;       // max |want| over the same elements
  size_t nonfinite_bad = 0;     // non-finite where the reference is finite, or NaN/±Inf that differ
  size_t first_bad = SIZE_MAX;  // first element counted in nonfinite_bad
};
Diff Compare(const float* got, const float* want, size_t n);

// Bit-identical, except that any NaN equals any NaN. Returns the first differing index or SIZE_MAX.
size_t FirstNotIdentical(const float* got, const float* want, size_t n);

// Bound on max |y − ref| of an fp32 conv with reduction length kdim = C·R·S computed with `algorithm`,
// against the double-accumulated reference, when data follow MakeConvData (the bounds the jest kernel
// tests use):
//   direct GEMM: 1e-5 · √kdim · max(1, max|ref|). Rounding errors of a float32 sum of kdim products drift
//     like u·√kdim (u ≈ 6e-8); 1e-5 ≈ 170u leaves room for other summation orders, and still catches one
//     missing or doubled term (~0.5·√(3/kdim)) for kdim below ~7,000.
//   Winograd F(2×2,3×3): a tenth of that (recorded: its point GEMMs are chains of C, not 9·C, FMAs and
//     its transforms are exact; observed at most 0.12 of this bound).
//   Winograd F(4×4,3×3): a quarter of it (recorded: transform coefficients up to 8 amplify rounding;
//     observed at most 0.11 of this bound).
double ConvTolerance(vgg::ConvAlgorithm algorithm, int64_t kdim, double max_abs_ref);

}  // namespace vggh
