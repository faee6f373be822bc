// Portable scalar kernel family: plain C++ loops (the compiler may use the x86-64 baseline SSE2), so a
// prebuilt binary runs on any CPU. Kernels: gemm_f32_4x8__scalar, gemv_f32_4xk__scalar, gemv_f32_4xk_n4__scalar,
// conv2d_nchw_f32_3x3s1_winograd{2x2,4x4}__scalar, maxpool2d_nchw_f32_2x2s2__scalar.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::scalar {
namespace {
// Textual includes, in dependency order (each template uses what the ones before it define).
// clang-format off
#include "cpu/templates/gemm.h"
#include "cpu/templates/gemv.h"
#include "cpu/templates/winograd_common.h"
#include "cpu/templates/winograd2x2.h"
#include "cpu/templates/winograd4x4.h"
// clang-format on

struct Traits {
  static constexpr int kMR = 4, kVL = 4, kNV = 2, kKC = 256, kNC = 256;
  static constexpr int kNarrowColumns = 0;  // no TileColumns: tails are padded to a vector

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

  static constexpr int kGemvPanels = 2, kGemvGroup = 4;
  template <int NB>
  static void GemvBlock(const GemvTile& t) {
    GemvBlockGeneric<kMR, kGemvPanels, NB>(t);
  }

  static void CopyRun(float* d, const float* src, int len, int i0, int i1) { CopyRunGeneric(d, src, len, i0, i1); }
};

}  // namespace
}  // namespace vgg::cpu::scalar

namespace vgg::cpu {

using scalar::Traits;
void gemm_f32_4x8__scalar(const ConvGemmArgs& g, const GemmTask& t) { scalar::ConvGemm<Traits>(g, t); }
void gemv_f32_4xk__scalar(const ConvGemmArgs& g, const GemmTask& t) { scalar::ConvGemvCols<Traits, 1>(g, t); }
void gemv_f32_4xk_n4__scalar(const ConvGemmArgs& g, const GemmTask& t) {
  scalar::ConvGemvCols<Traits, Traits::kGemvGroup>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd2x2__scalar(const WinogradArgs& g, const WinogradTask& t) {
  scalar::ConvWinograd2x2<Traits>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd4x4__scalar(const WinogradArgs& g, const WinogradTask& t) {
  scalar::ConvWinograd4x4<Traits>(g, t);
}
void maxpool2d_nchw_f32_2x2s2__scalar(const float* r0, const float* r1, float* y, int Q) {
  MaxPool2x2s2RowScalar(r0, r1, y, 0, Q);
}

const IsaKernels& ScalarKernels() {
  static const IsaKernels k = {CpuIsa::kScalar,
                               Traits::kMR,
                               Traits::kVL,
                               Traits::kNV * Traits::kVL,
                               Traits::kKC,
                               Traits::kNC,
                               VGG_CPU_KERNEL(gemm_f32_4x8__scalar),
                               Traits::kGemvPanels,
                               Traits::kGemvGroup,
                               VGG_CPU_KERNEL(gemv_f32_4xk__scalar),
                               VGG_CPU_KERNEL(gemv_f32_4xk_n4__scalar),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd2x2__scalar),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd4x4__scalar),
                               VGG_CPU_KERNEL(maxpool2d_nchw_f32_2x2s2__scalar)};
  return k;
}

}  // namespace vgg::cpu
