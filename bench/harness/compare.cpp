#include "compare.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vggh {

Diff Compare(const float* got, const float* want, size_t n) {
  Diff d;
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const float g = got[i], r = want[i];
    if (!std::isfinite(r)) {
      const bool same = (std::isnan(r) && std::isnan(g)) || g == r;
      if (!same) {
        if (d.first_bad == SIZE_MAX) d.first_bad = i;
        ++d.nonfinite_bad;
      }
      continue;
    }
    if (!std::isfinite(g)) {
      if (d.first_bad == SIZE_MAX) d.first_bad = i;
      ++d.nonfinite_bad;
      continue;
    }
    const double e = double(g) - double(r);
    num += e * e;
    den += double(r) * double(r);
    d.max_abs = std::max(d.max_abs, std::fabs(e));
    d.max_abs_ref = std::max(d.max_abs_ref, std::fabs(double(r)));
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
  return d;
}

size_t FirstNotIdentical(const float* got, const float* want, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) return i;
  }
  return SIZE_MAX;
}

double ConvTolerance(vgg::ConvAlgorithm algorithm, int64_t kdim, double max_abs_ref) {
  const double gemm = 1e-5 * std::sqrt(double(kdim)) * std::max(1.0, max_abs_ref);
  switch (algorithm) {
    case vgg::ConvAlgorithm::kWinograd2x2: return gemm / 10;
    case vgg::ConvAlgorithm::kWinograd4x4: return gemm / 4;
    default: return gemm;
  }
}

}  // namespace vggh
