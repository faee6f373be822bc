// NEON (AArch64 Advanced SIMD) kernel family: compiled only for aarch64, where Advanced SIMD is part of the
// ARMv8-A base ISA (no extra flags), and used when the kernel reports asimd in its hwcaps.
// Kernels: gemm_f32_8x12__neon (8 rows × 3 q-register columns = 24 of the 32 vector registers as
//          accumulators, one FMLA by element per row and column vector; 8x8 and 8x4 for tails),
//          gemv_f32_8xk__neon and gemv_f32_8xk_n4__neon (GEMV-shaped layers, one column at a time or groups
//          of up to 4 sharing each load of the packed 8-row panels; the weights stream once per call),
//          conv2d_nchw_f32_3x3s1_winograd{2x2,4x4}__neon (the templates around this unit's microkernel;
//          their transform loops are vectorised by the compiler for NEON, as the x86 families' are).
// Its max pool is in maxpool_neon.cpp.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::neon {
namespace {
// Textual includes, in dependency order (each template uses what the ones before it define).
// clang-format off
#include "cpu/templates/gemm.h"
#include "cpu/templates/gemv.h"
#include "cpu/templates/winograd_common.h"
#include "cpu/templates/winograd2x2.h"
#include "cpu/templates/winograd4x4.h"
// clang-format on

// max(0, v) with the reference's semantics: NaN and −0 kept (FMAX would turn −0 into +0).
inline float32x4_t Relu(float32x4_t v) { return vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.f)), vdupq_n_f32(0.f), v); }

// Row I of the tile: acc[I][v] += b[v] · a[I] for every column vector v (FMLA by element: the lane must be
// a constant, hence the template).
template <int NV, int I>
inline __attribute__((always_inline)) void FmaRow(float32x4_t (&acc)[8][NV], const float32x4_t (&bv)[NV],
                                                  float32x4_t a) {
  for (int v = 0; v < NV; ++v) acc[I][v] = vfmaq_laneq_f32(acc[I][v], bv[v], a, I & 3);
}

struct Traits {
  static constexpr int kMR = 8, kVL = 4, kNV = 3, kKC = 384, kNC = 480;
  static constexpr int kPrefetchK = 64;     // A prefetch distance in k steps (2 KB ahead)
  static constexpr int kNarrowColumns = 0;  // no TileColumns: tails are padded to a vector

  template <int NV>
  static inline __attribute__((always_inline)) void Tile(int kc, const float* __restrict a, const float* __restrict b,
                                                         float* __restrict c, size_t ldc, int flags,
                                                         const float* bias) {
    constexpr int W = NV * kVL;
    float32x4_t acc[kMR][NV];
    if (flags & kTileFirst) {
      for (int i = 0; i < kMR; ++i) {
        const float32x4_t bi = vdupq_n_f32(bias[i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = bi;
      }
    } else {
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = vld1q_f32(c + i * ldc + v * kVL);
    }
    for (int k = 0; k < kc; ++k) {
      // A streams from L3/DRAM the first time a panel is used (always, for few-column FC layers).
      if ((k & 1) == 0) __builtin_prefetch(a + (k + kPrefetchK) * kMR);
      float32x4_t bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = vld1q_f32(b + k * W + v * kVL);
      const float32x4_t a0 = vld1q_f32(a + k * kMR), a1 = vld1q_f32(a + k * kMR + 4);
      FmaRow<NV, 0>(acc, bv, a0);
      FmaRow<NV, 1>(acc, bv, a0);
      FmaRow<NV, 2>(acc, bv, a0);
      FmaRow<NV, 3>(acc, bv, a0);
      FmaRow<NV, 4>(acc, bv, a1);
      FmaRow<NV, 5>(acc, bv, a1);
      FmaRow<NV, 6>(acc, bv, a1);
      FmaRow<NV, 7>(acc, bv, a1);
    }
    if (flags & kTileRelu)
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = Relu(acc[i][v]);
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < NV; ++v) vst1q_f32(c + i * ldc + v * kVL, acc[i][v]);
  }

  static void CopyRun(float* d, const float* src, int len, int i0, int i1) { CopyRunGeneric(d, src, len, i0, i1); }

  // GEMV: 3 panels × NB columns, two q registers per panel and column (the panel's 8 rows), one FMA per
  // row vector and column per k with the column's value broadcast, like Tile (b·a + acc, fused).
  // 3·NB·2 + 6 + 1 registers at NB = 4.
  static constexpr int kGemvPanels = 3, kGemvGroup = 4;

  template <int NB>
  static void GemvBlock(const GemvTile& t) {
    constexpr int PB = kGemvPanels;
    float32x4_t acc[PB][NB][2];
    const float* a[PB];
    for (int j = 0; j < PB; ++j) {
      a[j] = t.a[j];
      for (int c = 0; c < NB; ++c) {
        if (t.flags & kTileFirst) {
          acc[j][c][0] = vld1q_f32(t.bias[j]);  // bias holds Mpad floats: MR readable per panel
          acc[j][c][1] = vld1q_f32(t.bias[j] + 4);
        } else {
          alignas(16) float in[kMR] = {};
          for (int i = 0; i < t.rows[j]; ++i) in[i] = t.y[j][c * t.ldy + i];  // rows past t.rows[j]: never read
          acc[j][c][0] = vld1q_f32(in);
          acc[j][c][1] = vld1q_f32(in + 4);
        }
      }
    }
    const float* xp = t.xp;
    const int kc = t.kc;
    for (int k = 0; k < kc; ++k) {
      if ((k & 1) == 0)
        for (int j = 0; j < PB; ++j) __builtin_prefetch(a[j] + (k + kPrefetchK) * kMR);
      float32x4_t av[PB][2];
      for (int j = 0; j < PB; ++j) {
        av[j][0] = vld1q_f32(a[j] + k * kMR);
        av[j][1] = vld1q_f32(a[j] + k * kMR + 4);
      }
      for (int c = 0; c < NB; ++c) {
        const float32x4_t xb = vld1q_dup_f32(xp + k * NB + c);
        for (int j = 0; j < PB; ++j) {
          acc[j][c][0] = vfmaq_f32(acc[j][c][0], av[j][0], xb);
          acc[j][c][1] = vfmaq_f32(acc[j][c][1], av[j][1], xb);
        }
      }
    }
    for (int j = 0; j < PB; ++j)
      for (int c = 0; c < NB; ++c) {
        float32x4_t lo = acc[j][c][0], hi = acc[j][c][1];
        if (t.flags & kTileRelu) {
          lo = Relu(lo);
          hi = Relu(hi);
        }
        float* y = t.y[j] + c * t.ldy;
        if (t.rows[j] == kMR) {
          vst1q_f32(y, lo);
          vst1q_f32(y + 4, hi);
        } else {
          alignas(16) float out[kMR];
          vst1q_f32(out, lo);
          vst1q_f32(out + 4, hi);
          for (int i = 0; i < t.rows[j]; ++i) y[i] = out[i];  // rows past t.rows[j]: never written
        }
      }
  }
};

}  // namespace
}  // namespace vgg::cpu::neon

namespace vgg::cpu {

using neon::Traits;
void gemm_f32_8x12__neon(const ConvGemmArgs& g, const GemmTask& t) { neon::ConvGemm<Traits>(g, t); }
void gemv_f32_8xk__neon(const ConvGemmArgs& g, const GemmTask& t) { neon::ConvGemvCols<Traits, 1>(g, t); }
void gemv_f32_8xk_n4__neon(const ConvGemmArgs& g, const GemmTask& t) {
  neon::ConvGemvCols<Traits, Traits::kGemvGroup>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd2x2__neon(const WinogradArgs& g, const WinogradTask& t) {
  neon::ConvWinograd2x2<Traits>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd4x4__neon(const WinogradArgs& g, const WinogradTask& t) {
  neon::ConvWinograd4x4<Traits>(g, t);
}

const IsaKernels& NeonKernels() {
  static const IsaKernels k = {CpuIsa::kNeon,
                               Traits::kMR,
                               Traits::kVL,
                               Traits::kNV * Traits::kVL,
                               Traits::kKC,
                               Traits::kNC,
                               VGG_CPU_KERNEL(gemm_f32_8x12__neon),
                               Traits::kGemvPanels,
                               Traits::kGemvGroup,
                               VGG_CPU_KERNEL(gemv_f32_8xk__neon),
                               VGG_CPU_KERNEL(gemv_f32_8xk_n4__neon),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd2x2__neon),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd4x4__neon),
                               VGG_CPU_KERNEL(maxpool2d_nchw_f32_2x2s2__neon)};
  return k;
}

}  // namespace vgg::cpu
