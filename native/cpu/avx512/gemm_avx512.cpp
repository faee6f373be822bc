// AVX-512 kernel family (compiled with -mavx512f/bw/vl/dq; used only when cpuid reports them and FMA).
// Kernels: gemm_f32_8x48__avx512 (8 rows × 3 zmm columns = 24 accumulators; 8x32 and 8x16 for tails),
//          gemv_f32_8xk__avx512 and gemv_f32_8xk_n8__avx512 (GEMV-shaped layers, one column at a time or
//          groups of up to 8 sharing each load of the packed 8-row panels; the weights stream once per call),
//          conv2d_nchw_f32_3x3s1_winograd{2x2,4x4}__avx512 (the templates around this unit's microkernel).
// Its max pool is in maxpool_avx512.cpp.
// GCC 12 flags its own avx512fintrin.h helpers (_mm512_undefined_*) as uninitialized: a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_kernels.h"

namespace vgg::cpu::avx512 {
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
  static constexpr int kMR = 8, kVL = 16, kNV = 3, kKC = 384, kNC = 480;
  static constexpr int kPrefetchK = 64;  // A prefetch distance in k steps (2 KB ahead)

  template <int NV>
  static inline __attribute__((always_inline)) void Tile(int kc, const float* __restrict a, const float* __restrict b,
                                                         float* __restrict c, size_t ldc, int flags,
                                                         const float* bias) {
    constexpr int W = NV * kVL;
    __m512 acc[kMR][NV];
    if (flags & kTileFirst) {
      for (int i = 0; i < kMR; ++i) {
        const __m512 bi = _mm512_set1_ps(bias[i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = bi;
      }
    } else {
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_loadu_ps(c + i * ldc + v * kVL);
    }
    auto step = [&](int k) __attribute__((always_inline)) {
      __m512 bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + k * W + v * kVL);
      for (int i = 0; i < kMR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[k * kMR + i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
      }
    };
    // The same time ahead for every width: a narrow tile spends fewer cycles per k step.
    constexpr int kAhead = kPrefetchK * kNV / NV;
    int k = 0;
#pragma GCC unroll 2
    for (; k + 2 <= kc; k += 2) {
      // A streams from L3/DRAM the first time a panel is used (always, for few-column FC layers).
      _mm_prefetch(reinterpret_cast<const char*>(a + (k + kAhead) * kMR), _MM_HINT_T0);
      step(k);
      step(k + 1);
    }
    if (k < kc) step(k);
    if (flags & kTileRelu) {
      const __m512 z = _mm512_setzero_ps();
      // max(0, v) returns v when v is NaN (second operand) and keeps −0: the reference's semantics.
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_max_ps(z, acc[i][v]);
    }
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + v * kVL, acc[i][v]);
  }

  // The last nc <= kNarrowColumns columns of npanels row panels (a block's few tiles past its last full
  // NR panel, whose b rows are padded to ldb floats): Tile's sums, one fused multiply-add chain per output
  // in k order from zero (so equal bit for bit to a padded Tile<1> with a zero bias), but vectorised over
  // the rows of up to 16 panels at once (16 independent chains hide the FMA latency), one broadcast of b
  // per column and k: a padded Tile<1> spends 8 FMAs of 16 lanes per panel and k on them.
  static constexpr int kNarrowColumns = 8;
  template <int G>
  static inline __attribute__((always_inline)) void ColumnPanels(int kc, const float* __restrict a, size_t stride,
                                                                 const float* __restrict b, int ldb,
                                                                 float* __restrict c, size_t ldc, int flags) {
    __m256 acc[G];
    alignas(32) float col[kMR];
    for (int g = 0; g < G; ++g) {
      if (flags & kTileFirst) {
        acc[g] = _mm256_setzero_ps();
      } else {
        for (int i = 0; i < kMR; ++i) col[i] = c[(g * kMR + i) * ldc];
        acc[g] = _mm256_load_ps(col);
      }
    }
    for (int k = 0; k < kc; ++k) {
      const __m256 bk = _mm256_set1_ps(b[size_t(k) * ldb]);
      for (int g = 0; g < G; ++g) acc[g] = _mm256_fmadd_ps(_mm256_load_ps(a + g * stride + k * kMR), bk, acc[g]);
    }
    const __m256 z = _mm256_setzero_ps();
    for (int g = 0; g < G; ++g) {
      // max(0, v) returns v when v is NaN (second operand) and keeps −0: Tile's relu.
      _mm256_store_ps(col, flags & kTileRelu ? _mm256_max_ps(z, acc[g]) : acc[g]);
      for (int i = 0; i < kMR; ++i) c[(g * kMR + i) * ldc] = col[i];
    }
  }
  // c[(p·MR + i)·ldc + j] for panel p < npanels (a + p·stride), row i < MR, column j < nc.
  static void TileColumns(int nc, int kc, const float* a, size_t stride, int npanels, const float* b, int ldb, float* c,
                          size_t ldc, int flags) {
    static_assert(kMR == 8, "one ymm holds a panel's rows");
    for (int j = 0; j < nc; ++j)
      for (int p = 0; p < npanels;) {
        const float* ap = a + p * stride;
        float* cp = c + size_t(p) * kMR * ldc + j;
        const int left = npanels - p;
        const int g = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        switch (g) {
          case 16: ColumnPanels<16>(kc, ap, stride, b + j, ldb, cp, ldc, flags); break;
          case 8: ColumnPanels<8>(kc, ap, stride, b + j, ldb, cp, ldc, flags); break;
          case 4: ColumnPanels<4>(kc, ap, stride, b + j, ldb, cp, ldc, flags); break;
          case 2: ColumnPanels<2>(kc, ap, stride, b + j, ldb, cp, ldc, flags); break;
          default: ColumnPanels<1>(kc, ap, stride, b + j, ldb, cp, ldc, flags); break;
        }
        p += g;
      }
  }

  // One masked load (invalid lanes read as zero, never touched) and one masked store per 16 columns.
  static inline void CopyRun(float* d, const float* src, int len, int i0, int i1) {
    for (int i = 0; i < len; i += kVL) {
      const int n = Min(kVL, len - i), lo = Max(i0 - i, 0), hi = Min(i1 - i, kVL);
      const __mmask16 st = __mmask16((1u << n) - 1);
      const __mmask16 ld = hi > lo ? __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1)) : __mmask16(0);
      _mm512_mask_storeu_ps(d + i, st, _mm512_maskz_loadu_ps(ld, src + i));
    }
  }

  // GEMV: 6 panels as 3 zmm of 2 panels (lanes 0-7 rows of the first, 8-15 of the second) × NB columns:
  // 3·NB accumulators, one FMA per zmm and column per k, a broadcast of the column's value as the other
  // operand, like Tile (a·b + acc, fused).
  static constexpr int kGemvPanels = 6, kGemvGroup = 8;
  static inline __m512 Join(__m256 lo, __m256 hi) { return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1); }

  template <int NB>
  static void GemvBlock(const GemvTile& t) {
    constexpr int PAIRS = kGemvPanels / 2;
    __m512 acc[PAIRS][NB];
    __mmask8 mlo[PAIRS], mhi[PAIRS];
    const float* a[kGemvPanels];
    for (int j = 0; j < kGemvPanels; ++j) a[j] = t.a[j];
    for (int p = 0; p < PAIRS; ++p) {
      mlo[p] = __mmask8((1u << t.rows[2 * p]) - 1);
      mhi[p] = __mmask8((1u << t.rows[2 * p + 1]) - 1);
      if (t.flags & kTileFirst) {
        const __m512 b = Join(_mm256_loadu_ps(t.bias[2 * p]), _mm256_loadu_ps(t.bias[2 * p + 1]));
        for (int c = 0; c < NB; ++c) acc[p][c] = b;
      } else {
        for (int c = 0; c < NB; ++c)
          acc[p][c] = Join(_mm256_maskz_loadu_ps(mlo[p], t.y[2 * p] + c * t.ldy),
                           _mm256_maskz_loadu_ps(mhi[p], t.y[2 * p + 1] + c * t.ldy));
      }
    }
    const float* xp = t.xp;
    auto step = [&](int k) __attribute__((always_inline)) {
      __m512 av[PAIRS];
      for (int p = 0; p < PAIRS; ++p)
        av[p] = Join(_mm256_load_ps(a[2 * p] + k * kMR), _mm256_load_ps(a[2 * p + 1] + k * kMR));
      for (int c = 0; c < NB; ++c) {
        const __m512 xb = _mm512_set1_ps(xp[k * NB + c]);
        for (int p = 0; p < PAIRS; ++p) acc[p][c] = _mm512_fmadd_ps(av[p], xb, acc[p][c]);
      }
    };
    const int kc = t.kc;
    int k = 0;
    for (; k + 2 <= kc; k += 2) {
      // A streams from memory for the first column group: one 64-byte line per panel per 2 k's.
      for (int j = 0; j < kGemvPanels; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(a[j] + (k + kPrefetchK) * kMR), _MM_HINT_T0);
      step(k);
      step(k + 1);
    }
    if (k < kc) step(k);
    if (t.flags & kTileRelu) {
      const __m512 z = _mm512_setzero_ps();
      for (int p = 0; p < PAIRS; ++p)
        for (int c = 0; c < NB; ++c) acc[p][c] = _mm512_max_ps(z, acc[p][c]);  // as Tile: NaN and −0 kept
    }
    for (int p = 0; p < PAIRS; ++p)
      for (int c = 0; c < NB; ++c) {
        _mm256_mask_storeu_ps(t.y[2 * p] + c * t.ldy, mlo[p], _mm512_castps512_ps256(acc[p][c]));
        _mm256_mask_storeu_ps(t.y[2 * p + 1] + c * t.ldy, mhi[p], _mm512_extractf32x8_ps(acc[p][c], 1));
      }
  }
};

}  // namespace
}  // namespace vgg::cpu::avx512

namespace vgg::cpu {

using avx512::Traits;
void gemm_f32_8x48__avx512(const ConvGemmArgs& g, const GemmTask& t) { avx512::ConvGemm<Traits>(g, t); }
void gemv_f32_8xk__avx512(const ConvGemmArgs& g, const GemmTask& t) { avx512::ConvGemvCols<Traits, 1>(g, t); }
void gemv_f32_8xk_n8__avx512(const ConvGemmArgs& g, const GemmTask& t) {
  avx512::ConvGemvCols<Traits, Traits::kGemvGroup>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd2x2__avx512(const WinogradArgs& g, const WinogradTask& t) {
  avx512::ConvWinograd2x2<Traits>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd4x4__avx512(const WinogradArgs& g, const WinogradTask& t) {
  avx512::ConvWinograd4x4<Traits>(g, t);
}

const IsaKernels& Avx512Kernels() {
  static const IsaKernels k = {CpuIsa::kAvx512,
                               Traits::kMR,
                               Traits::kVL,
                               Traits::kNV * Traits::kVL,
                               Traits::kKC,
                               Traits::kNC,
                               VGG_CPU_KERNEL(gemm_f32_8x48__avx512),
                               Traits::kGemvPanels,
                               Traits::kGemvGroup,
                               VGG_CPU_KERNEL(gemv_f32_8xk__avx512),
                               VGG_CPU_KERNEL(gemv_f32_8xk_n8__avx512),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd2x2__avx512),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd4x4__avx512),
                               VGG_CPU_KERNEL(maxpool2d_nchw_f32_2x2s2__avx512)};
  return k;
}

}  // namespace vgg::cpu
