// __half for the host emulation (VGGNET_CUDA_EMULATION): IEEE binary16 storage with the conversions the
// kernels use, rounded to nearest even through the compiler's _Float16 (exact IEEE conversions).
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda_runtime.h"

struct __half {
  uint16_t bits;
};
struct __attribute__((aligned(4))) __half2 {
  __half x, y;
};

inline __half __float2half_rn(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  __half r;
  std::memcpy(&r.bits, &h, 2);
  return r;
}
inline float __half2float(__half h) {
  _Float16 v;
  std::memcpy(&v, &h.bits, 2);
  return static_cast<float>(v);
}
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
inline __half2 __floats2half2_rn(float a, float b) { return {__float2half_rn(a), __float2half_rn(b)}; }
