// AVX2+FMA kernel family (compiled with -mavx2 -mfma; used only when cpuid reports both).
// Kernels: gemm_f32_6x16__avx2 (6 rows × 2 ymm columns = 12 accumulators; also 6x8 for tails),
//          gemv_f32_6xk__avx2 and gemv_f32_6xk_n3__avx2 (GEMV-shaped layers, one column at a time or groups
//          of up to 3 sharing each load of the packed 6-row panels; the weights stream once per call),
//          conv2d_nchw_f32_3x3s1_winograd{2x2,4x4}__avx2 (the templates around this unit's microkernel).
// Its max pool is in maxpool_avx2.cpp.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::avx2 {
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
  static constexpr int kMR = 6, kVL = 8, kNV = 2, kKC = 384, kNC = 480;
  static constexpr int kPrefetchK = 80;     // A prefetch distance in k steps (~2 KB ahead)
  static constexpr int kNarrowColumns = 0;  // no TileColumns: tails are padded to a vector

  template <int NV>
  static inline __attribute__((always_inline)) void Tile(int kc, const float* __restrict a, const float* __restrict b,
                                                         float* __restrict c, size_t ldc, int flags,
                                                         const float* bias) {
    constexpr int W = NV * kVL;
    __m256 acc[kMR][NV];
    if (flags & kTileFirst) {
      for (int i = 0; i < kMR; ++i) {
        const __m256 bi = _mm256_broadcast_ss(bias + i);
        for (int v = 0; v < NV; ++v) acc[i][v] = bi;
      }
    } else {
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_loadu_ps(c + i * ldc + v * kVL);
    }
    auto step = [&](int k) __attribute__((always_inline)) {
      __m256 bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + k * W + v * kVL);
      for (int i = 0; i < kMR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + k * kMR + i);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    };
    int k = 0;
#pragma GCC unroll 2
    for (; k + 2 <= kc; k += 2) {
      // A streams from L3/DRAM the first time a panel is used (always, for few-column FC layers).
      _mm_prefetch(reinterpret_cast<const char*>(a + (k + kPrefetchK) * kMR), _MM_HINT_T0);
      step(k);
      step(k + 1);
    }
    if (k < kc) step(k);
    if (flags & kTileRelu) {
      const __m256 z = _mm256_setzero_ps();
      // max(0, v) returns v when v is NaN (second operand) and keeps −0: the reference's semantics.
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_max_ps(z, acc[i][v]);
    }
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(c + i * ldc + v * kVL, acc[i][v]);
  }

  // vmaskmovps per 8 columns: masked-off lanes load as zero and are never touched.
  static inline void CopyRun(float* d, const float* src, int len, int i0, int i1) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int i = 0; i < len; i += kVL) {
      const __m256i l = _mm256_add_epi32(iota, _mm256_set1_epi32(i));
      const __m256i st = _mm256_cmpgt_epi32(_mm256_set1_epi32(len), l);
      const __m256i ld = _mm256_and_si256(_mm256_cmpgt_epi32(l, _mm256_set1_epi32(i0 - 1)),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(i1), l));
      _mm256_maskstore_ps(d + i, st, _mm256_maskload_ps(src + i, ld));
    }
  }

  // GEMV: 3 panels × NB columns, one ymm per panel and column (lanes 0-5 the panel's rows at k; lanes 6-7
  // read the next 2 floats, which PackConv pads past the end, and are never stored), one FMA per panel and
  // column per k with a broadcast of the column's value, like Tile (a·b + acc, fused). 3·NB + 3 + 1 ymm.
  static constexpr int kGemvPanels = 3, kGemvGroup = 3;

  template <int NB>
  static void GemvBlock(const GemvTile& t) {
    constexpr int PB = kGemvPanels;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 acc[PB][NB];
    __m256i mrow[PB];
    const float* a[PB];
    for (int j = 0; j < PB; ++j) {
      a[j] = t.a[j];
      mrow[j] = _mm256_cmpgt_epi32(_mm256_set1_epi32(t.rows[j]), iota);
      if (t.flags & kTileFirst) {
        const __m256 b = _mm256_maskload_ps(t.bias[j], _mm256_cmpgt_epi32(_mm256_set1_epi32(kMR), iota));
        for (int c = 0; c < NB; ++c) acc[j][c] = b;
      } else {
        for (int c = 0; c < NB; ++c) acc[j][c] = _mm256_maskload_ps(t.y[j] + c * t.ldy, mrow[j]);
      }
    }
    const float* xp = t.xp;
    auto step = [&](int k) __attribute__((always_inline)) {
      __m256 av[PB];
      for (int j = 0; j < PB; ++j) av[j] = _mm256_loadu_ps(a[j] + k * kMR);
      for (int c = 0; c < NB; ++c) {
        const __m256 xb = _mm256_broadcast_ss(xp + k * NB + c);
        for (int j = 0; j < PB; ++j) acc[j][c] = _mm256_fmadd_ps(av[j], xb, acc[j][c]);
      }
    };
    const int kc = t.kc;
    int k = 0;
    for (; k + 2 <= kc; k += 2) {
      // A streams from memory for the first column group: 48 bytes per panel per 2 k's.
      for (int j = 0; j < PB; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(a[j] + (k + kPrefetchK) * kMR), _MM_HINT_T0);
      step(k);
      step(k + 1);
    }
    if (k < kc) step(k);
    if (t.flags & kTileRelu) {
      const __m256 z = _mm256_setzero_ps();
      for (int j = 0; j < PB; ++j)
        for (int c = 0; c < NB; ++c) acc[j][c] = _mm256_max_ps(z, acc[j][c]);  // as Tile: NaN and −0 kept
    }
    for (int j = 0; j < PB; ++j)
      for (int c = 0; c < NB; ++c) _mm256_maskstore_ps(t.y[j] + c * t.ldy, mrow[j], acc[j][c]);
  }
};

}  // namespace
}  // namespace vgg::cpu::avx2

namespace vgg::cpu {

using avx2::Traits;
void gemm_f32_6x16__avx2(const ConvGemmArgs& g, const GemmTask& t) { avx2::ConvGemm<Traits>(g, t); }
void gemv_f32_6xk__avx2(const ConvGemmArgs& g, const GemmTask& t) { avx2::ConvGemvCols<Traits, 1>(g, t); }
void gemv_f32_6xk_n3__avx2(const ConvGemmArgs& g, const GemmTask& t) {
  avx2::ConvGemvCols<Traits, Traits::kGemvGroup>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd2x2__avx2(const WinogradArgs& g, const WinogradTask& t) {
  avx2::ConvWinograd2x2<Traits>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd4x4__avx2(const WinogradArgs& g, const WinogradTask& t) {
  avx2::ConvWinograd4x4<Traits>(g, t);
}

const IsaKernels& Avx2Kernels() {
  static const IsaKernels k = {CpuIsa::kAvx2,
                               Traits::kMR,
                               Traits::kVL,
                               Traits::kNV * Traits::kVL,
                               Traits::kKC,
                               Traits::kNC,
                               VGG_CPU_KERNEL(gemm_f32_6x16__avx2),
                               Traits::kGemvPanels,
                               Traits::kGemvGroup,
                               VGG_CPU_KERNEL(gemv_f32_6xk__avx2),
                               VGG_CPU_KERNEL(gemv_f32_6xk_n3__avx2),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd2x2__avx2),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd4x4__avx2),
                               VGG_CPU_KERNEL(maxpool2d_nchw_f32_2x2s2__avx2)};
  return k;
}

}  // namespace vgg::cpu
