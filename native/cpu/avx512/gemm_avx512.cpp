// AVX-512 kernel family (compiled with -mavx512f/bw/vl/dq; used only when cpuid reports them and FMA).
// Kernels: gemm_f32_8x48__avx512 (8 rows × 3 zmm columns = 24 accumulators; 8x32 and 8x16 for tails),
//          gemv_f32_8xk__avx512 (single column, streams the packed 8-row panels at memory speed),
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
      const __m512 z = _mm512_setzero_ps();
      // max(0, v) returns v when v is NaN (second operand) and keeps −0: the reference's semantics.
      for (int i = 0; i < kMR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_max_ps(z, acc[i][v]);
    }
    for (int i = 0; i < kMR; ++i)
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + v * kVL, acc[i][v]);
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

  // 2 k's of an 8-row panel are one zmm (lane e: row e mod 8 of k e/8): x[k..k+15] is permuted into
  // [x[2v]×8, x[2v+1]×8] for zmm v of each 16-k chunk.
  static void GemvPanel(const float* A, int Mpad, int Kdim, int ip, const float* x, float* out) {
    __m512i idx[8];
    for (int v = 0; v < 8; ++v)
      idx[v] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * v)), _mm256_set1_epi32(2 * v + 1), 1);
    __m512 acc[4];
    for (int u = 0; u < 4; ++u) acc[u] = _mm512_setzero_ps();
    float tail[kMR] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int pc = 0; pc < Kdim; pc += kKC) {
      const int kc = Min(kKC, Kdim - pc);
      const float* a = A + size_t(pc) * Mpad + size_t(ip) * kMR * kc;
      const float* xb = x + pc;
      int k = 0;
      for (; k + 16 <= kc; k += 16) {
        const __m512 xv = _mm512_loadu_ps(xb + k);
        const float* ak = a + k * kMR;
        for (int v = 0; v < 8; ++v) _mm_prefetch(reinterpret_cast<const char*>(ak + 1024 + 16 * v), _MM_HINT_T0);
        for (int v = 0; v < 8; ++v)
          acc[v & 3] = _mm512_fmadd_ps(_mm512_loadu_ps(ak + 16 * v), _mm512_permutexvar_ps(idx[v], xv), acc[v & 3]);
      }
      for (; k < kc; ++k)
        for (int i = 0; i < kMR; ++i) tail[i] += a[k * kMR + i] * xb[k];
    }
    const __m512 s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    const __m256 lo = _mm512_castps512_ps256(s), hi = _mm512_extractf32x8_ps(s, 1);
    alignas(32) float r[8];
    _mm256_store_ps(r, _mm256_add_ps(lo, hi));
    for (int i = 0; i < kMR; ++i) out[i] = r[i] + tail[i];
  }
};

}  // namespace
}  // namespace vgg::cpu::avx512

namespace vgg::cpu {

using avx512::Traits;
void gemm_f32_8x48__avx512(const ConvGemmArgs& g, const GemmTask& t) { avx512::ConvGemm<Traits>(g, t); }
void gemv_f32_8xk__avx512(const ConvGemmArgs& g, int p0, int p1, const float* bcol) {
  avx512::ConvGemv<Traits>(g, p0, p1, bcol);
}
void conv2d_nchw_f32_3x3s1_winograd2x2__avx512(const WinogradArgs& g, const GemmTask& t) {
  avx512::ConvWinograd2x2<Traits>(g, t);
}
void conv2d_nchw_f32_3x3s1_winograd4x4__avx512(const WinogradArgs& g, const GemmTask& t) {
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
                               VGG_CPU_KERNEL(gemv_f32_8xk__avx512),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd2x2__avx512),
                               VGG_CPU_KERNEL(conv2d_nchw_f32_3x3s1_winograd4x4__avx512),
                               VGG_CPU_KERNEL(maxpool2d_nchw_f32_2x2s2__avx512)};
  return k;
}

}  // namespace vgg::cpu
