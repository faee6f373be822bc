// Portable scalar kernel family: plain C++ loops (the compiler may use the x86-64 baseline SSE2), so a
// prebuilt binary runs on any CPU. Kernels: gemm_f32_4x8__scalar, gemv_f32_4xk__scalar.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::scalar {
namespace {
#include "cpu/gemm_driver.h"

struct Traits {
  static constexpr int kMR = 4, kVL = 4, kNV = 2, kKC = 256, kNC = 256;

  template <int NV>
  static void Tile(int kc, const float* a, const float* b, float* c, size_t ldc, int flags, const float* bias) {
    constexpr int W = NV * kVL;
    float acc[kMR][W];
    for (int i = 0; i < kMR; ++i)
      for (int j = 0; j < W; ++j) acc[i][j] = (flags & kTileFirst) ? bias[i] : c[i * ldc + j];
    for (int k = 0; k < kc; ++k) {
      const float* bk = b + k * W;
      const float* ak = a + k * kMR;
      for (int i = 0; i < kMR; ++i)
        for (int j = 0; j < W; ++j) acc[i][j] += ak[i] * bk[j];
    }
    for (int i = 0; i < kMR; ++i)
      for (int j = 0; j < W; ++j) {
        float v = acc[i][j];
        if ((flags & kTileRelu) && v < 0.f) v = 0.f;  // NaN and -0 stay
        c[i * ldc + j] = v;
      }
  }

  static void GemvPanel(const float* A, int Mpad, int Kdim, int ip, const float* x, float* out) {
    GemvPanelGeneric<kMR, kKC>(A, Mpad, Kdim, ip, x, out);
  }

  static void CopyRun(float* d, const float* src, int len, int i0, int i1) { CopyRunGeneric(d, src, len, i0, i1); }
};

}  // namespace
}  // namespace vgg::cpu::scalar

namespace vgg::cpu {

const IsaKernels& ScalarKernels() {
  using T = scalar::Traits;
  static const IsaKernels k = {CpuIsa::kScalar, "gemm_f32_4x8__scalar", "gemv_f32_4xk__scalar",
                               T::kMR, T::kVL, T::kNV * T::kVL, T::kKC, T::kNC,
                               &scalar::ConvGemm<T>, &scalar::ConvGemv<T>,
                               "maxpool2d_nchw_f32_2x2s2__scalar",
                               [](const float* r0, const float* r1, float* y, int Q) { MaxPool2x2s2RowScalar(r0, r1, y, 0, Q); },
                               "conv2d_nchw_f32_3x3s1_winograd2x2__scalar", &scalar::ConvWinograd2x2<T>,
                               "conv2d_nchw_f32_3x3s1_winograd4x4__scalar", &scalar::ConvWinograd4x4<T>};
  return k;
}

}  // namespace vgg::cpu
